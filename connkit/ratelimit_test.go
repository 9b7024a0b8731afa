package connkit_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/openresync/resync/connkit"
)

func header(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

// TestParseRateLimit reads the fields of successful responses as the
// providers document them:
//
//   - Okta sends X-Rate-Limit-Limit, -Remaining and -Reset (UTC epoch
//     seconds) on every response
//     (https://developer.okta.com/docs/reference/rl-best-practices/).
//   - GitHub sends x-ratelimit-limit, -remaining, -used and -reset (UTC
//     epoch seconds) on every response
//     (https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api,
//     "Checking the status of your rate limit").
//   - The IETF draft's RateLimit field gives the remaining quota (r) and
//     the seconds to its reset (t) per policy, RateLimit-Policy the quota
//     (q) and window (w)
//     (https://datatracker.ietf.org/doc/html/draft-ietf-httpapi-ratelimit-headers-07,
//     §§ 3-4; https://www.ietf.org/archive/id/draft-ietf-httpapi-ratelimit-headers-10.txt);
//     its earlier drafts (-05) sent RateLimit-Limit, -Remaining and -Reset
//     (delta seconds).
func TestParseRateLimit(t *testing.T) {
	t.Parallel()
	server := time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)
	local := server.Add(7 * time.Minute) // a local clock 7 minutes fast
	date := server.Format(http.TimeFormat)
	epoch := func(d time.Duration) string { return unix(server.Add(d)) }
	cases := []struct {
		name      string
		h         http.Header
		limit     int
		remaining int
		reset     time.Duration // from local; -1: zero time
		retry     time.Duration // from local; -1: zero time
		notBefore time.Duration // from local; -1: zero time
	}{
		{"none", header(), -1, -1, -1, -1, -1},
		{"Okta 200 with quota", header("Date", date, "X-Rate-Limit-Limit", "1200", "X-Rate-Limit-Remaining", "1199", "X-Rate-Limit-Reset", epoch(time.Minute)),
			1200, 1199, time.Minute, -1, -1},
		{"Okta 200 quota spent", header("Date", date, "X-Rate-Limit-Limit", "1200", "X-Rate-Limit-Remaining", "0", "X-Rate-Limit-Reset", epoch(40*time.Second)),
			1200, 0, 40 * time.Second, -1, 40 * time.Second},
		{"GitHub 200 with quota", header("Date", date, "X-Ratelimit-Limit", "5000", "X-Ratelimit-Remaining", "4999", "X-Ratelimit-Used", "1", "X-Ratelimit-Reset", epoch(time.Hour)),
			5000, 4999, time.Hour, -1, -1},
		{"GitHub 200 quota spent", header("Date", date, "X-Ratelimit-Limit", "5000", "X-Ratelimit-Remaining", "0", "X-Ratelimit-Reset", epoch(50*time.Minute)),
			5000, 0, 50 * time.Minute, -1, 50 * time.Minute},
		{"IETF structured", header("RateLimit-Policy", `"burst";q=100;w=60, "daily";q=1000;w=86400`, "RateLimit", `"burst";r=40;t=30, "daily";r=900;t=3600`),
			100, 40, 30 * time.Second, -1, -1},
		{"IETF structured, one policy spent", header("RateLimit-Policy", `"burst";q=100;w=60, "daily";q=1000;w=86400`, "RateLimit", `"burst";r=40;t=30, "daily";r=0;t=3600`),
			1000, 0, time.Hour, -1, time.Hour},
		{"IETF structured, the quota of the policy with least remaining", header("RateLimit-Policy", `"burst";q=100;w=60, "daily";q=1000;w=86400`, "RateLimit", `"burst";r=90;t=30, "daily";r=5;t=3600`),
			1000, 5, time.Hour, -1, -1},
		{"IETF structured, two fields", header("RateLimit", `"a";r=5;t=10`, "RateLimit", `"b";r=2;t=20`),
			-1, 2, 20 * time.Second, -1, -1},
		{"IETF structured, quoted comma in name", header("RateLimit", `"a,b";r=3;t=9`), -1, 3, 9 * time.Second, -1, -1},
		{"IETF draft-05 fields", header("RateLimit-Limit", "100", "RateLimit-Remaining", "0", "RateLimit-Reset", "12"),
			100, 0, 12 * time.Second, -1, 12 * time.Second},
		{"IETF draft-03 limit with policy", header("RateLimit-Limit", "100, 100;w=60", "RateLimit-Remaining", "50"), 100, 50, -1, -1, -1},
		{"Retry-After seconds", header("Retry-After", "30"), -1, -1, -1, 30 * time.Second, 30 * time.Second},
		{"Retry-After date against Date", header("Date", date, "Retry-After", server.Add(90*time.Second).Format(http.TimeFormat)),
			-1, -1, -1, 90 * time.Second, 90 * time.Second},
		{"Retry-After wins over reset", header("Retry-After", "5", "X-Rate-Limit-Remaining", "0", "X-Rate-Limit-Reset", "60"),
			-1, 0, time.Minute, 5 * time.Second, 5 * time.Second},
		{"least remaining wins across families", header("Date", date, "X-Ratelimit-Remaining", "10", "X-Ratelimit-Reset", epoch(time.Hour), "X-Rate-Limit-Remaining", "3", "X-Rate-Limit-Reset", epoch(time.Minute)),
			-1, 3, time.Minute, -1, -1},
		{"garbage ignored", header("X-Rate-Limit-Remaining", "lots", "Retry-After", "soon", "RateLimit", `"x";r=;t=`), -1, -1, -1, -1, -1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			rl := connkit.ParseRateLimit(c.h, local)
			assert.Equal(t, c.limit, rl.Limit, "limit")
			assert.Equal(t, c.remaining, rl.Remaining, "remaining")
			at := func(d time.Duration) time.Time {
				if d < 0 {
					return time.Time{}
				}
				return local.Add(d)
			}
			assert.Equal(t, at(c.reset), rl.Reset, "reset")
			assert.Equal(t, at(c.retry), rl.RetryAfter, "retry after")
			assert.Equal(t, at(c.notBefore), rl.NotBefore(), "not before")
		})
	}
}

// FuzzParseRateLimit: no header value makes the parser panic, and every
// wait it derives is within a day of the local time, never before it.
func FuzzParseRateLimit(f *testing.F) {
	for _, s := range []string{"30", "1.5", "-1", "1e300", "Wed, 21 Oct 2015 07:28:00 GMT", `"default";r=0;t=30`, `"a";r=1, "b";q=2;w=3`,
		"100, 100;w=60", "99999999999999999999", `"\"";r=1`, ";;;=,,", ""} {
		f.Add(s, s, s)
	}
	now := time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, retryAfter, reset, structured string) {
		h := header("Retry-After", retryAfter, "X-RateLimit-Reset", reset, "X-RateLimit-Remaining", "0",
			"RateLimit", structured, "RateLimit-Policy", structured, "RateLimit-Limit", structured)
		rl := connkit.ParseRateLimit(h, now)
		for _, tm := range []time.Time{rl.Reset, rl.RetryAfter, rl.NotBefore()} {
			if tm.IsZero() {
				continue
			}
			if tm.Before(now) || tm.After(now.Add(24*time.Hour)) {
				t.Fatalf("wait to %v is outside [now, now+1d] for %q %q %q", tm, retryAfter, reset, structured)
			}
		}
		if rl.Remaining < -1 || rl.Limit < -1 {
			t.Fatalf("negative counts %d %d", rl.Limit, rl.Remaining)
		}
	})
}
