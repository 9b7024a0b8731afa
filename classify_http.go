// This file maps an HTTP response to the error a connector returns, so that
// throttling and server errors are retried the way the provider asks.

package resync

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// HTTPError is a non-success HTTP response, as returned by ClassifyHTTP
// (wrapped in Permanent or RetryAfter as appropriate).
type HTTPError struct {
	Method     string
	URL        string
	StatusCode int
	// Body is the start of the response body (at most 1 KiB): providers put
	// their error code and message there.
	Body string
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
//   - 429 is throttling, and so is 403 with the quota spent
//     (X-RateLimit-Remaining: 0 as GitHub sends it, X-Rate-Limit-Remaining: 0
//     as Okta does, or RateLimit-Remaining: 0) or with a Retry-After (GitHub's
//     secondary limits): RetryAfter with the delay
//     from Retry-After (seconds or an HTTP date), else X-RateLimit-Reset,
//     X-Rate-Limit-Reset or RateLimit-Reset (Unix seconds, or seconds from
//     now if small), else a transient error.
//   - 408 and 5xx are transient, with Retry-After honoured when present.
//     Reset headers do not delay them: providers such as Okta send those on
//     every response, and a reset time is not a promise that a failing
//     server will have recovered by then.
//   - Any other 4xx (401 and 403 included) is Permanent.
//
// Absolute times (an HTTP date, a Unix reset time) are measured against the
// response's Date header, the server's own clock, so a skewed local clock
// neither skips nor stretches the wait. now stands in for the server's
// clock when Date is absent or unparseable (time.Now if nil). Advertised
// waits are capped at a day.
func ClassifyHTTP(resp *http.Response, body []byte, now func() time.Time) error {
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	b := strings.TrimSpace(string(body))
	if len(b) > 1024 {
		cut := 1024
		for cut > 0 && !utf8.RuneStart(b[cut]) {
			cut-- // do not split a character
		}
		b = b[:cut]
	}
	he := &HTTPError{StatusCode: resp.StatusCode, Body: b}
	if resp.Request != nil {
		he.Method = resp.Request.Method
		if resp.Request.URL != nil {
			u := *resp.Request.URL
			u.RawQuery = "" // queries may carry tokens
			he.URL = u.String()
		}
	}
	h := resp.Header
	switch {
	case resp.StatusCode == http.StatusTooManyRequests ||
		(resp.StatusCode == http.StatusForbidden && (quotaSpent(h) || h.Get("Retry-After") != "")):
		if d, ok := retryAfterDelay(h, now); ok {
			return RetryAfter(he, d)
		}
		if d, ok := resetDelay(h, now); ok {
			return RetryAfter(he, d)
		}
		return he
	case resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode >= 500:
		if d, ok := retryAfterDelay(h, now); ok {
			return RetryAfter(he, d)
		}
		return he
	}
	return Permanent(he)
}

// quotaSpent reports whether a remaining-quota header says 0, in any of
// the spellings providers use.
func quotaSpent(h http.Header) bool {
	for _, name := range []string{"X-RateLimit-Remaining", "X-Rate-Limit-Remaining", "RateLimit-Remaining"} {
		if strings.TrimSpace(h.Get(name)) == "0" {
			return true
		}
	}
	return false
}

// serverNow is the server's clock at the time of the response: its Date
// header, else now(), else time.Now.
func serverNow(h http.Header, now func() time.Time) time.Time {
	if t, err := http.ParseTime(strings.TrimSpace(h.Get("Date"))); err == nil {
		return t
	}
	if now == nil {
		return time.Now()
	}
	return now()
}

// retryAfterDelay reads Retry-After: delay-seconds, or an HTTP date
// measured against the server's clock.
func retryAfterDelay(h http.Header, now func() time.Time) (time.Duration, bool) {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil && secs >= 0 {
		return clampDelay(secs), true
	}
	if t, err := http.ParseTime(v); err == nil {
		return untilClamped(t, serverNow(h, now)), true
	}
	return 0, false
}

// resetDelay reads X-RateLimit-Reset (GitHub), X-Rate-Limit-Reset (Okta)
// or RateLimit-Reset (IETF draft).
func resetDelay(h http.Header, now func() time.Time) (time.Duration, bool) {
	for _, name := range []string{"X-RateLimit-Reset", "X-Rate-Limit-Reset", "RateLimit-Reset"} {
		v := strings.TrimSpace(h.Get(name))
		if v == "" {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if errors.Is(err, strconv.ErrRange) && n > 0 {
			return maxAdvertisedDelay, true // digits past int64: absurd, not absent
		}
		if err != nil || n < 0 {
			continue
		}
		// Small values are deltas (IETF RateLimit fields); large ones are
		// Unix times (GitHub, Okta).
		if n < 1_000_000_000 {
			return clampDelay(float64(n)), true
		}
		return untilClamped(time.Unix(n, 0), serverNow(h, now)), true
	}
	return 0, false
}

// untilClamped is the wait from now until t, within [0, maxAdvertisedDelay].
func untilClamped(t, now time.Time) time.Duration {
	return min(max(t.Sub(now), 0), maxAdvertisedDelay)
}

func clampDelay(secs float64) time.Duration {
	if math.IsNaN(secs) || secs >= maxAdvertisedDelay.Seconds() {
		return maxAdvertisedDelay
	}
	return time.Duration(secs * float64(time.Second))
}
