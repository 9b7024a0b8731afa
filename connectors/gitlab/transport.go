// This file puts the connector kit under client-go: every request the
// GitLab client makes is sent by a connkit.Client, which authenticates,
// bounds the body, reads the rate-limit fields and classifies failures for
// the engine. client-go builds the requests and decodes the pages.

package gitlab

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"

	gl "gitlab.com/gitlab-org/api/client-go/v2"

	"github.com/openresync/resync/connkit"
)

// kitTransport is an http.RoundTripper that sends each request through a
// connkit.Client. A 2xx comes back as an http.Response with the body the
// kit read; anything else comes back as the kit's classified error
// (resync.Permanent, resync.RetryAfter or transient), which net/http wraps
// in a *url.Error and client-go returns as it is (its retries are off).
type kitTransport struct{ kit *connkit.Client }

// RoundTrip sends req through the kit.
func (t kitTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		defer req.Body.Close()
	}
	resp, err := t.kit.Do(req)
	if err != nil {
		return nil, err
	}
	return &http.Response{
		Status:        http.StatusText(resp.StatusCode),
		StatusCode:    resp.StatusCode,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        resp.Header,
		Body:          io.NopCloser(bytes.NewReader(resp.Body)),
		ContentLength: int64(len(resp.Body)),
		Request:       req,
	}, nil
}

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
