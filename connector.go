package resync

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Connector reads the current state of one connection, a page at a time.
//
// The engine drives the paging: it calls ReadPage with the empty cursor for
// the first page and then with each page's Next until Next is empty. When a
// page fails with a transient error the engine calls ReadPage again with the
// same cursor, so a connector never retries by itself and a failure on page
// 37 re-reads page 37 only.
//
// Contract for implementers:
//   - ReadPage with the same cursor must be safe to repeat (it is a read).
//     Cursors are opaque to the engine; they may be URLs, tokens or offsets.
//   - Return records of the connection's current state; keys must be stable
//     and unique per kind within one full read.
//   - Report input that cannot be turned into a record (a malformed row) in
//     Page.Rejected rather than dropping it or returning a half-filled
//     record; name its kind and key with a *RecordError when it has them,
//     so that its stored version is kept (see Page.Rejected).
//   - Classify errors: wrap errors that retrying cannot fix (bad
//     credentials, 401/403, not found, a malformed configuration) with
//     Permanent; wrap throttling with RetryAfter when the provider says how
//     long to wait; anything else is treated as transient and retried with
//     backoff. ClassifyHTTP does this for HTTP APIs.
//   - Honour ctx: return promptly with ctx.Err() when it is done.
//   - A Connector is used by one goroutine at a time; the engine never calls
//     ReadPage concurrently on one Connector.
//
// Optional capabilities are separate interfaces detected by type assertion:
// HealthChecker, and io.Closer (closed after each read).
type Connector interface {
	ReadPage(ctx context.Context, cursor string) (Page, error)
}

// Page is one page of a read.
type Page struct {
	// Records of this page. The engine validates them (ValidateRecord) and
	// takes ownership: a connector must not modify them after returning.
	Records []Record
	// Next is the cursor of the following page, or "" if this was the last.
	Next string
	// Total optionally estimates the number of records of the whole read,
	// for progress reporting; 0 means unknown.
	Total int
	// Rejected reports input of this page the connector could not turn
	// into records (a malformed row), each with its reason ("hris.csv
	// line 7: bad start_date"). Each counts as a read and rejected record
	// in the run result, with the reason among its samples, and nothing
	// is stored from it. If the error is (or wraps) a *RecordError naming
	// the record's kind and key, the stored version of that record is
	// kept, as for an invalid record. Without a usable kind and key the
	// input cannot be matched to a stored record, and a stored record the
	// read does not otherwise return is removed as gone.
	Rejected []error
}

// ConnectorFactory builds the Connector for a connection. The engine calls
// it once per read, with the read's context; Config.Connectors maps provider
// names to factories. A factory error is classified like a ReadPage error.
type ConnectorFactory func(ctx context.Context, conn Connection) (Connector, error)

// HealthChecker is an optional Connector capability: a cheap check that the
// connection's credentials and reachability are good (a "test connection"
// button). Engine.CheckConnection uses it.
type HealthChecker interface {
	CheckHealth(ctx context.Context) error
}

type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent marks err as not worth retrying (bad credentials, 401/403, not
// found). The engine fails the connection at once. Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// IsPermanent reports whether err, or an error it wraps, was marked Permanent.
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}

type retryAfterError struct {
	err   error
	delay time.Duration
}

func (e *retryAfterError) Error() string {
	return fmt.Sprintf("%v (retry after %s)", e.err, e.delay)
}
func (e *retryAfterError) Unwrap() error { return e.err }

// RetryAfter marks err as throttling: the engine waits at least d before
// calling ReadPage again with the same cursor. RetryAfter(nil, d) is nil.
func RetryAfter(err error, d time.Duration) error {
	if err == nil {
		return nil
	}
	if d < 0 {
		d = 0
	}
	return &retryAfterError{err: err, delay: d}
}

// RetryDelay returns the delay of a RetryAfter error in err's chain.
func RetryDelay(err error) (time.Duration, bool) {
	var r *retryAfterError
	if errors.As(err, &r) {
		return r.delay, true
	}
	return 0, false
}

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

// maxAdvertisedDelay bounds a provider's advertised wait: an absurd value
// (Retry-After: 1e300) waits a day, not forever, nor (by overflow) not at all.
const maxAdvertisedDelay = 24 * time.Hour

func clampDelay(secs float64) time.Duration {
	if math.IsNaN(secs) || secs >= maxAdvertisedDelay.Seconds() {
		return maxAdvertisedDelay
	}
	return time.Duration(secs * float64(time.Second))
}
