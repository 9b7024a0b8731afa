// This file maps an HTTP response to the error a connector returns, so that
// throttling and server errors are retried the way the provider asks. The
// Client and connectors that make their own requests share it.

package connkit

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/openresync/resync"
)

// maxErrorBody is how much of an error response's body an HTTPError keeps.
const maxErrorBody = 1024

// HTTPError is a non-success HTTP response, as returned by ClassifyHTTP and
// Client (wrapped in resync.Permanent or resync.RetryAfter as appropriate).
type HTTPError struct {
	Method string
	// URL is the request's URL with the values of query parameters named
	// like secrets (access_token, api_key, signature, ...) and any
	// password replaced by "REDACTED".
	URL        string
	StatusCode int
	// Body is the start of the response body (at most 1 KiB): providers put
	// their error code and message there.
	Body string
	// RateLimit is what the response said about the quota.
	RateLimit RateLimit
}

// Error returns the method, URL, status and the start of the body.
func (e *HTTPError) Error() string {
	msg := fmt.Sprintf("%s %s: %d %s", e.Method, e.URL, e.StatusCode, http.StatusText(e.StatusCode))
	if e.Body != "" {
		msg += ": " + e.Body
	}
	return msg
}

// ClassifyHTTP turns a non-2xx HTTP response into an error the engine knows
// how to treat; it returns nil for 2xx. body is the (start of the) response
// body, for the message.
//
//   - 429 is throttling, and so is 403 with the quota spent (a remaining
//     field at 0: GitHub's x-ratelimit-remaining, Okta's
//     X-Rate-Limit-Remaining, the IETF RateLimit fields), with a
//     Retry-After, or with a body naming GitHub's "secondary rate limit":
//     resync.RetryAfter with the delay from Retry-After, else the reset
//     time (see RateLimit), else a transient error. GitHub asks for at
//     least a minute's wait after a secondary limit without Retry-After
//     (https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api,
//     "Exceeding the rate limit"), and gets it.
//   - 408 and 5xx are transient, with Retry-After honoured when present.
//     Reset fields do not delay them: providers such as Okta send those on
//     every response, and a reset time is not a promise that a failing
//     server will have recovered by then.
//   - Any other 4xx (401 and 403 included) is resync.Permanent.
//
// Absolute times (an HTTP date, a Unix reset time) are measured against
// the response's Date header, the server's own clock. now stands in for
// the server's clock when Date is absent or unparseable (time.Now if nil).
// Advertised waits are capped at a day.
func ClassifyHTTP(resp *http.Response, body []byte, now func() time.Time) error {
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	if now == nil {
		now = time.Now
	}
	t := now()
	return classify(resp, body, t, ParseRateLimit(resp.Header, t), nil)
}

// secondaryLimitWait is GitHub's advice for a secondary limit that names
// no time: wait at least a minute.
const secondaryLimitWait = time.Minute

// classify is ClassifyHTTP with the rate limit already read and a
// redactor for the message (nil: only the URL's secret-named parameters).
func classify(resp *http.Response, body []byte, now time.Time, rl RateLimit, r *redactor) error {
	he := &HTTPError{StatusCode: resp.StatusCode, Body: r.redact(errorBody(body)), RateLimit: rl}
	if resp.Request != nil {
		he.Method = resp.Request.Method
		if resp.Request.URL != nil {
			he.URL = r.redact(redactURL(resp.Request.URL))
		}
	}
	wait := func(t time.Time) time.Duration { return min(max(t.Sub(now), 0), maxAdvertisedDelay) }
	secondary := bytes.Contains(bytes.ToLower(body), []byte("secondary rate limit"))
	switch code := resp.StatusCode; {
	case code == http.StatusTooManyRequests ||
		(code == http.StatusForbidden && (rl.Remaining == 0 || !rl.RetryAfter.IsZero() || secondary)):
		switch {
		case !rl.RetryAfter.IsZero():
			return resync.RetryAfter(he, wait(rl.RetryAfter))
		case rl.Remaining == 0 && !rl.Reset.IsZero():
			return resync.RetryAfter(he, wait(rl.Reset))
		case secondary:
			return resync.RetryAfter(he, secondaryLimitWait)
		case code == http.StatusTooManyRequests && !rl.Reset.IsZero():
			return resync.RetryAfter(he, wait(rl.Reset))
		}
		return he
	case code == http.StatusRequestTimeout || code >= 500:
		if !rl.RetryAfter.IsZero() {
			return resync.RetryAfter(he, wait(rl.RetryAfter))
		}
		return he
	}
	return resync.Permanent(he)
}

// errorBody is the start of an error body, trimmed, at most maxErrorBody
// bytes and not split inside a character.
func errorBody(body []byte) string {
	b := strings.TrimSpace(string(body[:min(len(body), maxErrorBody+utf8.UTFMax)]))
	if len(b) > maxErrorBody {
		cut := maxErrorBody
		for cut > 0 && !utf8.RuneStart(b[cut]) {
			cut--
		}
		b = b[:cut]
	}
	return b
}
