// This file is how client-go meets the connector kit: every request the
// GitLab client makes is sent by a connkit.Client (Client.Transport), its
// own rate limiter is off, and its errors are mapped to the engine's
// classification here.

package gitlab

import (
	"context"
	"errors"
	"net/url"

	gl "gitlab.com/gitlab-org/api/client-go/v2"

	"github.com/openresync/resync/connkit"
)

// noLimiter turns off client-go's own rate limiter, which would sleep
// inside a request on what it learnt from the first response's headers:
// the engine waits instead, as each page's NotBefore asks.
type noLimiter struct{}

// Wait returns at once (with the context's error, if it is done).
func (noLimiter) Wait(ctx context.Context) error { return ctx.Err() }

// classify returns the engine's classification of an error of a client-go
// call: the kit's error without net/http's *url.Error wrapper (it already
// names the method and the URL); an *gl.ErrorResponse (from a response the
// kit did not see) classified as the kit classifies its status.
func classify(err error) error {
	if err == nil {
		return nil
	}
	if ue, ok := errors.AsType[*url.Error](err); ok && ue.Err != nil {
		// Every error of the transport is the kit's, classified; net/http
		// only wrapped it.
		return ue.Err
	}
	if er, ok := errors.AsType[*gl.ErrorResponse](err); ok && er.Response != nil {
		return connkit.ClassifyHTTP(er.Response, er.Body, nil)
	}
	return err
}
