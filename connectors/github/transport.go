// This file puts the connector kit under go-github: every request the
// go-github client makes is sent by a connkit.Client, which authenticates,
// bounds the body, reads the rate-limit fields and classifies failures for
// the engine. go-github builds the requests and decodes the pages.

package github

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/url"
	"time"

	gh "github.com/google/go-github/v93/github"

	"github.com/openresync/resync"
	"github.com/openresync/resync/connkit"
)

// kitTransport is an http.RoundTripper that sends each request through a
// connkit.Client. A 2xx comes back as an http.Response with the body the
// kit read; anything else comes back as the kit's classified error
// (resync.Permanent, resync.RetryAfter or transient), which net/http wraps
// in a *url.Error and go-github returns as it is. go-github's own rate-limit
// errors are therefore never built from a live response: the kit has
// already classified it, once, and nothing retries but the engine.
type kitTransport struct{ kit *connkit.Client }

// RoundTrip sends req through the kit.
func (t kitTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		// The kit resends a request once after a 401 answered with a
		// renewed token: it needs GetBody for that, which go-github's
		// requests have. The RoundTripper contract says to close the body.
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

// secondaryWait is the least wait after a secondary rate limit without
// Retry-After: GitHub asks for at least a minute
// (https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api#exceeding-the-rate-limit).
const secondaryWait = 60 * time.Second

// classify returns the engine's classification of an error of a go-github
// call. The kit's errors reach go-github wrapped in a *url.Error by
// net/http: the kit's error is returned without that wrapper (it already
// names the method and the URL). go-github's own rate-limit errors, which it
// builds only from its own bookkeeping (turned off here, see newClient) or
// from a response the kit did not see, are mapped as the kit maps the
// responses they stand for: a primary limit waits until its reset, a
// secondary limit for its Retry-After or at least a minute.
func classify(err error) error {
	if err == nil {
		return nil
	}
	if ue, ok := errors.AsType[*url.Error](err); ok && ue.Err != nil {
		// Every error of the transport is the kit's, classified; net/http
		// only wrapped it.
		return ue.Err
	}
	if rl, ok := errors.AsType[*gh.RateLimitError](err); ok {
		return resync.RetryAfter(err, max(time.Until(rl.Rate.Reset.Time), time.Second))
	}
	if ab, ok := errors.AsType[*gh.AbuseRateLimitError](err); ok {
		d := secondaryWait
		if ab.RetryAfter != nil && *ab.RetryAfter > 0 {
			d = *ab.RetryAfter
		}
		return resync.RetryAfter(err, d)
	}
	if er, ok := errors.AsType[*gh.ErrorResponse](err); ok && er.Response != nil {
		return connkit.ClassifyHTTP(er.Response, []byte(er.Message), nil)
	}
	return err
}
