// This file reads a provider's rate-limit fields from any response, a
// success included, so that a connector can pace its next request instead
// of waiting for a 429.

package connkit

import (
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// maxAdvertisedDelay bounds a provider's advertised wait: an absurd value
// (Retry-After: 1e300) waits a day, not forever, nor (by overflow) not at all.
const maxAdvertisedDelay = 24 * time.Hour

// RateLimit is what a response says about the client's quota. Times are on
// the local clock: a reset the server gives as an absolute time is measured
// against the response's Date header (the server's own clock) and then
// added to the local time the response was read, so a skewed local clock
// neither skips nor stretches a wait.
//
// The fields read, in the spellings providers use:
//
//   - Retry-After (RFC 9110 §10.2.3): delay-seconds or an HTTP-date.
//   - The IETF fields of draft-ietf-httpapi-ratelimit-headers
//     (https://datatracker.ietf.org/doc/html/draft-ietf-httpapi-ratelimit-headers-07
//     and later): RateLimit: "name";r=remaining;t=seconds-to-reset, and
//     RateLimit-Policy: "name";q=quota;w=window. Of several policies the
//     one with the least remaining counts.
//   - The earlier IETF drafts' RateLimit-Limit, RateLimit-Remaining and
//     RateLimit-Reset (seconds to reset), as GitLab sends them.
//   - GitHub's x-ratelimit-limit, x-ratelimit-remaining and
//     x-ratelimit-reset (UTC epoch seconds), sent on every response
//     (https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api).
//   - Okta's X-Rate-Limit-Limit, X-Rate-Limit-Remaining and
//     X-Rate-Limit-Reset (UTC epoch seconds), sent on every response
//     (https://developer.okta.com/docs/reference/rl-best-practices/).
//
// A reset value below 10⁸ (three years in seconds) is taken as seconds
// from now (the IETF style), a larger one as a Unix time (GitHub, Okta);
// the line is low enough that the virtual clock of testing/synctest, which
// starts in 2000, gives Unix times above it. Waits are capped at a day.
type RateLimit struct {
	// Limit is the quota of the current window; -1 when no field says.
	Limit int
	// Remaining is what is left of the quota; -1 when no field says.
	Remaining int
	// Reset is when the quota is restored; zero when no field says.
	Reset time.Time
	// RetryAfter is the time Retry-After asks the client to wait until;
	// zero when the response has none.
	RetryAfter time.Time
}

// NotBefore is the earliest time the next request should be sent: the
// Retry-After time if the response has one, else the reset time once the
// quota is spent, else the zero time (no need to wait).
func (r RateLimit) NotBefore() time.Time {
	if !r.RetryAfter.IsZero() {
		return r.RetryAfter
	}
	if r.Remaining == 0 {
		return r.Reset
	}
	return time.Time{}
}

// ParseRateLimit reads the rate-limit fields of a response's header; now
// is the local time the response was read (time.Now() outside tests).
// Fields it cannot parse are ignored, as if absent.
func ParseRateLimit(h http.Header, now time.Time) RateLimit {
	server := now
	if t, err := http.ParseTime(strings.TrimSpace(h.Get("Date"))); err == nil {
		server = t
	}
	// local turns a wait measured on the server's clock into a local time.
	local := func(d time.Duration) time.Time { return now.Add(d) }

	rl := RateLimit{Limit: -1, Remaining: -1}
	if d, ok := retryAfter(h.Get("Retry-After"), server); ok {
		rl.RetryAfter = local(d)
	}
	// Each family gives (limit, remaining, reset); the most restrictive
	// wins: the one with the least remaining, else the first that says
	// anything.
	type family struct {
		limit, remaining int
		reset            time.Duration
		hasReset         bool
	}
	var fams []family
	if name, rem, reset, hasReset, ok := structuredRateLimit(h.Values("RateLimit")); ok {
		fams = append(fams, family{policyQuota(h.Values("RateLimit-Policy"), name), rem, reset, hasReset})
	}
	for _, f := range [...]struct{ limit, remaining, reset string }{
		{"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"},
		{"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"},
		{"X-Rate-Limit-Limit", "X-Rate-Limit-Remaining", "X-Rate-Limit-Reset"},
	} {
		reset, hasReset := resetValue(h.Get(f.reset), server)
		if fam := (family{leadingInt(h.Get(f.limit)), leadingInt(h.Get(f.remaining)), reset, hasReset}); fam.limit >= 0 || fam.remaining >= 0 || hasReset {
			fams = append(fams, fam)
		}
	}
	pick := -1
	for i, f := range fams {
		if pick < 0 || (f.remaining >= 0 && (fams[pick].remaining < 0 || f.remaining < fams[pick].remaining)) {
			pick = i
		}
	}
	if pick >= 0 {
		f := fams[pick]
		rl.Limit, rl.Remaining = f.limit, f.remaining
		if f.hasReset {
			rl.Reset = local(f.reset)
		}
	}
	return rl
}

// retryAfter reads Retry-After: delay-seconds, or an HTTP-date measured
// against the server's clock.
func retryAfter(v string, server time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil && secs >= 0 {
		return clampDelay(secs), true
	}
	if t, err := http.ParseTime(v); err == nil {
		return untilClamped(t, server), true
	}
	return 0, false
}

// resetValue reads a reset field: seconds from now if small, else Unix
// seconds measured against the server's clock.
func resetValue(v string, server time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if errors.Is(err, strconv.ErrRange) && n > 0 {
		return maxAdvertisedDelay, true // digits past int64: absurd, not absent
	}
	if err != nil || n < 0 {
		return 0, false
	}
	if n < 100_000_000 {
		return clampDelay(float64(n)), true
	}
	return untilClamped(time.Unix(n, 0), server), true
}

// leadingInt reads a non-negative count at the start of v ("100",
// "100, 100;w=60" as early IETF drafts wrote the limit); -1 if none.
func leadingInt(v string) int {
	v = strings.TrimSpace(v)
	end := 0
	for end < len(v) && v[end] >= '0' && v[end] <= '9' {
		end++
	}
	if end == 0 {
		return -1
	}
	n, err := strconv.Atoi(v[:end])
	if err != nil {
		return math.MaxInt // too many digits: plenty left
	}
	return n
}

// structuredRateLimit reads the IETF RateLimit field, a list of
// `"policy";r=remaining;t=reset-seconds` items. It returns the item with
// the least remaining, and its policy's name.
func structuredRateLimit(values []string) (name string, remaining int, reset time.Duration, hasReset, ok bool) {
	remaining = -1
	for _, item := range listItems(values) {
		params := itemParams(item)
		r := leadingInt(params["r"])
		if r < 0 || (ok && r >= remaining) {
			continue
		}
		name, remaining, ok, reset, hasReset = itemName(item), r, true, 0, false
		if t := leadingInt(params["t"]); t >= 0 {
			reset, hasReset = clampDelay(float64(t)), true
		}
	}
	return name, remaining, reset, hasReset, ok
}

// policyQuota reads the q= of the RateLimit-Policy item named name, else
// the smallest q of any; -1 if none.
func policyQuota(values []string, name string) int {
	q := -1
	for _, item := range listItems(values) {
		n := leadingInt(itemParams(item)["q"])
		if n < 0 {
			continue
		}
		if itemName(item) == name {
			return n
		}
		if q < 0 || n < q {
			q = n
		}
	}
	return q
}

// itemName is a list member's name: its quoted string or token before
// any parameter.
func itemName(item string) string {
	n, _, _ := strings.Cut(item, ";")
	return strings.Trim(strings.TrimSpace(n), `"`)
}

// listItems splits structured-field list members on commas outside quotes.
func listItems(values []string) []string {
	var items []string
	for _, v := range values {
		start, quoted := 0, false
		for i := 0; i < len(v); i++ {
			switch v[i] {
			case '\\':
				if quoted {
					i++
				}
			case '"':
				quoted = !quoted
			case ',':
				if !quoted {
					items = append(items, v[start:i])
					start = i + 1
				}
			}
		}
		items = append(items, v[start:])
	}
	return items
}

// itemParams returns the ;key=value parameters of one list member, the
// member's own (quoted) name skipped.
func itemParams(item string) map[string]string {
	params := map[string]string{}
	parts := strings.Split(item, ";")
	for _, p := range parts[1:] {
		k, v, _ := strings.Cut(p, "=")
		params[strings.ToLower(strings.TrimSpace(k))] = strings.Trim(strings.TrimSpace(v), `"`)
	}
	return params
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
