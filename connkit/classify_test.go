package connkit_test

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openresync/resync"
	"github.com/openresync/resync/connkit"
)

var classifyNow = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func fixedNow() time.Time { return classifyNow }

func httpResp(code int, hdr ...string) *http.Response {
	u, _ := url.Parse("https://api.example.com/v1/users?limit=200&access_token=s3cret")
	h := http.Header{}
	for i := 0; i+1 < len(hdr); i += 2 {
		h.Set(hdr[i], hdr[i+1])
	}
	return &http.Response{StatusCode: code, Header: h, Request: &http.Request{Method: http.MethodGet, URL: u}}
}

func TestClassifyHTTP(t *testing.T) {
	t.Parallel()
	type want struct {
		nilErr    bool
		permanent bool
		delay     time.Duration
		hasDelay  bool
	}
	cases := []struct {
		name string
		resp *http.Response
		want want
	}{
		{"200", httpResp(200), want{nilErr: true}},
		{"204", httpResp(204), want{nilErr: true}},
		{"299", httpResp(299), want{nilErr: true}},
		{"401", httpResp(401), want{permanent: true}},
		{"403", httpResp(403), want{permanent: true}},
		{"404", httpResp(404), want{permanent: true}},
		{"400", httpResp(400), want{permanent: true}},
		{"401 with Retry-After stays permanent", httpResp(401, "Retry-After", "1"), want{permanent: true}},
		{"500", httpResp(500), want{}},
		{"502", httpResp(502), want{}},
		{"503", httpResp(503), want{}},
		{"408", httpResp(408), want{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := connkit.ClassifyHTTP(c.resp, []byte(`{"error":"x"}`), fixedNow)
			if c.want.nilErr {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Equal(t, c.want.permanent, resync.IsPermanent(err), "permanent")
			d, ok := resync.RetryDelay(err)
			assert.Equal(t, c.want.hasDelay, ok, "has delay")
			assert.Equal(t, c.want.delay, d, "delay")
			var he *connkit.HTTPError
			require.ErrorAs(t, err, &he)
			assert.Equal(t, c.resp.StatusCode, he.StatusCode)
			assert.Equal(t, http.MethodGet, he.Method)
			assert.Equal(t, `{"error":"x"}`, he.Body)
		})
	}
}

// unix is t as the Unix seconds a reset header carries.
func unix(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }

// TestClassifyHTTPRateLimitHeaders checks which responses are throttling
// and how long each says to wait, against the providers' documentation:
//
//   - Okta, "Rate limit best practices"
//     (https://developer.okta.com/docs/reference/rl-best-practices/): every
//     response, 200 included, carries X-Rate-Limit-Limit,
//     X-Rate-Limit-Remaining and X-Rate-Limit-Reset (UTC epoch seconds), so
//     a reset header alone says nothing about being throttled.
//   - GitHub, "Rate limits for the REST API"
//     (https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api),
//     "Exceeding the rate limit": a primary limit is a 403 or 429 with
//     x-ratelimit-remaining 0, retry after x-ratelimit-reset (UTC epoch
//     seconds); a secondary limit may carry retry-after (seconds).
//   - IETF "RateLimit Fields for HTTP"
//     (https://datatracker.ietf.org/doc/draft-ietf-httpapi-ratelimit-headers/05/):
//     RateLimit-Reset is the number of seconds until the quota resets.
//   - RFC 9110 §10.2.3: Retry-After is delay-seconds or an HTTP-date, and
//     may come with 503 as well as 429.
//
// Absolute times are measured against the response's Date (the server's
// clock), not the local one.
func TestClassifyHTTPRateLimitHeaders(t *testing.T) {
	t.Parallel()
	server := classifyNow // the provider's clock, sent in Date
	cases := []struct {
		name      string
		resp      *http.Response
		localNow  time.Time // zero: the same as the server's
		permanent bool
		delay     time.Duration
		hasDelay  bool
	}{
		// 429 with each header family.
		{name: "429 Retry-After seconds", resp: httpResp(429, "Retry-After", "3"), delay: 3 * time.Second, hasDelay: true},
		{name: "429 Retry-After zero", resp: httpResp(429, "Retry-After", "0"), delay: 0, hasDelay: true},
		{name: "429 Retry-After fractional", resp: httpResp(429, "Retry-After", "1.5"), delay: 1500 * time.Millisecond, hasDelay: true},
		{name: "429 Retry-After HTTP-date", resp: httpResp(429, "Retry-After", server.Add(90*time.Second).Format(http.TimeFormat)), delay: 90 * time.Second, hasDelay: true},
		{name: "429 Retry-After HTTP-date in the past", resp: httpResp(429, "Retry-After", server.Add(-time.Hour).Format(http.TimeFormat)), delay: 0, hasDelay: true},
		{name: "429 x-ratelimit-reset (GitHub)", resp: httpResp(429, "X-RateLimit-Remaining", "0", "X-RateLimit-Reset", unix(server.Add(42*time.Second))), delay: 42 * time.Second, hasDelay: true},
		{name: "429 X-Rate-Limit-Reset (Okta)", resp: httpResp(429, "X-Rate-Limit-Limit", "600", "X-Rate-Limit-Remaining", "0", "X-Rate-Limit-Reset", unix(server.Add(7*time.Second))), delay: 7 * time.Second, hasDelay: true},
		{name: "429 RateLimit-Reset delta (IETF)", resp: httpResp(429, "RateLimit-Reset", "12"), delay: 12 * time.Second, hasDelay: true},
		{name: "429 reset in the past", resp: httpResp(429, "X-Rate-Limit-Reset", unix(server.Add(-time.Minute))), delay: 0, hasDelay: true},
		{name: "429 Retry-After wins over reset", resp: httpResp(429, "Retry-After", "5", "X-RateLimit-Reset", "60"), delay: 5 * time.Second, hasDelay: true},
		{name: "429 garbage Retry-After", resp: httpResp(429, "Retry-After", "soon")},
		{name: "429 negative Retry-After", resp: httpResp(429, "Retry-After", "-5")},
		{name: "429 no header", resp: httpResp(429)},

		// 403 is throttling only with the quota spent.
		{name: "403 x-ratelimit-remaining 0 (GitHub)", resp: httpResp(403, "X-RateLimit-Remaining", "0", "X-RateLimit-Reset", unix(server.Add(30*time.Minute))),
			delay: 30 * time.Minute, hasDelay: true},
		{name: "403 X-Rate-Limit-Remaining 0 (Okta)", resp: httpResp(403, "X-Rate-Limit-Remaining", "0", "X-Rate-Limit-Reset", unix(server.Add(45*time.Second))),
			delay: 45 * time.Second, hasDelay: true},
		{name: "403 remaining 0, Retry-After (GitHub secondary)", resp: httpResp(403, "X-RateLimit-Remaining", "0", "Retry-After", "60"), delay: time.Minute, hasDelay: true},
		{name: "403 remaining 0, no reset", resp: httpResp(403, "X-RateLimit-Remaining", "0")},
		{name: "403 with quota left (GitHub)", resp: httpResp(403, "X-RateLimit-Remaining", "10", "X-RateLimit-Reset", unix(server.Add(time.Hour))), permanent: true},
		{name: "403 with quota left (Okta)", resp: httpResp(403, "X-Rate-Limit-Remaining", "599", "X-Rate-Limit-Reset", unix(server.Add(time.Minute))), permanent: true},
		{name: "403 without rate-limit headers", resp: httpResp(403), permanent: true},
		// GitHub's secondary limits may answer 403 with only retry-after.
		{name: "403 Retry-After without remaining 0 (GitHub secondary)", resp: httpResp(403, "Retry-After", "5"), delay: 5 * time.Second, hasDelay: true},

		// 5xx and 408 honour Retry-After only: Okta sends its reset on
		// every response, and a failure is not a throttle.
		{name: "500 X-Rate-Limit-Reset only (Okta)", resp: httpResp(500, "X-Rate-Limit-Limit", "600", "X-Rate-Limit-Remaining", "598", "X-Rate-Limit-Reset", unix(server.Add(55*time.Second)))},
		{name: "500 X-Rate-Limit-Remaining 0 and reset", resp: httpResp(500, "X-Rate-Limit-Remaining", "0", "X-Rate-Limit-Reset", unix(server.Add(55*time.Second)))},
		{name: "502 x-ratelimit-reset only (GitHub)", resp: httpResp(502, "X-RateLimit-Reset", unix(server.Add(time.Hour)))},
		{name: "503 RateLimit-Reset only", resp: httpResp(503, "RateLimit-Reset", "30")},
		{name: "408 X-Rate-Limit-Reset only", resp: httpResp(408, "X-Rate-Limit-Reset", unix(server.Add(time.Minute)))},
		{name: "503 Retry-After seconds", resp: httpResp(503, "Retry-After", "120", "X-Rate-Limit-Reset", unix(server.Add(time.Minute))), delay: 2 * time.Minute, hasDelay: true},
		{name: "503 Retry-After HTTP-date", resp: httpResp(503, "Retry-After", server.Add(20*time.Second).Format(http.TimeFormat)), delay: 20 * time.Second, hasDelay: true},
		{name: "408 Retry-After", resp: httpResp(408, "Retry-After", "2"), delay: 2 * time.Second, hasDelay: true},

		// Absolute times against the server's Date, whatever the local clock.
		{name: "reset with the local clock 10m ahead", resp: httpResp(429, "Date", server.Format(http.TimeFormat), "X-Rate-Limit-Reset", unix(server.Add(30*time.Second))),
			localNow: server.Add(10 * time.Minute), delay: 30 * time.Second, hasDelay: true},
		{name: "reset with the local clock 1h behind", resp: httpResp(403, "Date", server.Format(http.TimeFormat), "X-RateLimit-Remaining", "0", "X-RateLimit-Reset", unix(server.Add(30*time.Second))),
			localNow: server.Add(-time.Hour), delay: 30 * time.Second, hasDelay: true},
		{name: "Retry-After date with the local clock 5m ahead", resp: httpResp(503, "Date", server.Format(http.TimeFormat), "Retry-After", server.Add(90*time.Second).Format(http.TimeFormat)),
			localNow: server.Add(5 * time.Minute), delay: 90 * time.Second, hasDelay: true},
		{name: "Retry-After seconds ignore the clocks", resp: httpResp(429, "Date", server.Format(http.TimeFormat), "Retry-After", "8"),
			localNow: server.Add(time.Hour), delay: 8 * time.Second, hasDelay: true},
		{name: "unparseable Date falls back to the local clock", resp: httpResp(429, "Date", "yesterday", "X-Rate-Limit-Reset", unix(server.Add(40*time.Second))),
			localNow: server.Add(10 * time.Second), delay: 30 * time.Second, hasDelay: true},

		// Absurd values wait a day, not forever and not (by overflow) not at all.
		{name: "Retry-After 1e300", resp: httpResp(429, "Retry-After", "1e300"), delay: 24 * time.Hour, hasDelay: true},
		{name: "Retry-After a year", resp: httpResp(503, "Retry-After", "31536000"), delay: 24 * time.Hour, hasDelay: true},
		{name: "Retry-After date in 2300", resp: httpResp(429, "Retry-After", time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC).Format(http.TimeFormat)), delay: 24 * time.Hour, hasDelay: true},
		{name: "reset far in the future", resp: httpResp(429, "X-RateLimit-Reset", "9000000000000000000"), delay: 24 * time.Hour, hasDelay: true},
		{name: "reset beyond int64", resp: httpResp(429, "X-Rate-Limit-Reset", "99999999999999999999"), delay: 24 * time.Hour, hasDelay: true},
		{name: "RateLimit-Reset delta of a year", resp: httpResp(429, "RateLimit-Reset", "31536000"), delay: 24 * time.Hour, hasDelay: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			local := c.localNow
			if local.IsZero() {
				local = server
			}
			err := connkit.ClassifyHTTP(c.resp, nil, func() time.Time { return local })
			require.Error(t, err)
			assert.Equal(t, c.permanent, resync.IsPermanent(err), "permanent")
			d, ok := resync.RetryDelay(err)
			assert.Equal(t, c.hasDelay, ok, "has delay")
			assert.Equal(t, c.delay, d, "delay")
			var he *connkit.HTTPError
			require.ErrorAs(t, err, &he)
			assert.Equal(t, c.resp.StatusCode, he.StatusCode)
		})
	}
}

func TestClassifyHTTPMessage(t *testing.T) {
	t.Parallel()
	body := strings.Repeat("e", 5000)
	err := connkit.ClassifyHTTP(httpResp(500), []byte(body), fixedNow)
	require.Error(t, err)
	var he *connkit.HTTPError
	require.ErrorAs(t, err, &he)
	assert.Len(t, he.Body, 1024, "body truncated to 1 KiB")
	// Query parameters named like secrets are redacted; the others stay,
	// for they say which page failed.
	assert.Equal(t, "https://api.example.com/v1/users?access_token=REDACTED&limit=200", he.URL)
	assert.NotContains(t, err.Error(), "s3cret", "query strings may carry tokens")
	assert.Contains(t, err.Error(), "GET https://api.example.com/v1/users?access_token=REDACTED&limit=200: 500 Internal Server Error")

	// No request attached: still a useful error, no panic.
	err = connkit.ClassifyHTTP(&http.Response{StatusCode: 404, Header: http.Header{}}, nil, nil)
	require.Error(t, err)
	assert.True(t, resync.IsPermanent(err))
	assert.Contains(t, err.Error(), "404 Not Found")
}

func TestClassifyHTTPDefaultClock(t *testing.T) {
	t.Parallel()
	reset := time.Now().Add(time.Hour).Unix()
	err := connkit.ClassifyHTTP(httpResp(429, "X-RateLimit-Reset", strconv.FormatInt(reset, 10)), nil, nil)
	d, ok := resync.RetryDelay(err)
	require.True(t, ok)
	assert.InDelta(t, time.Hour.Seconds(), d.Seconds(), 5)
}

// GitHub: "If you exceed a secondary rate limit, you will receive a 403 or
// 429 response and an error message that indicates that you exceeded a
// secondary rate limit. If the retry-after response header is present,
// you should not retry your request until after that many seconds has
// elapsed. [...] Otherwise, wait for at least one minute before retrying."
// (https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api,
// "Exceeding the rate limit"). The primary limit's fields on the same
// response, with quota left, say nothing about the secondary one.
func TestClassifyHTTPGitHubSecondaryLimit(t *testing.T) {
	t.Parallel()
	body := []byte(`{"message":"You have exceeded a secondary rate limit. Please wait a few minutes before you try again.","documentation_url":"https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"}`)
	primary := []string{"X-RateLimit-Remaining", "4000", "X-RateLimit-Reset", unix(classifyNow.Add(50 * time.Minute)), "Date", classifyNow.Format(http.TimeFormat)}
	for _, code := range []int{403, 429} {
		err := connkit.ClassifyHTTP(httpResp(code, primary...), body, fixedNow)
		require.Error(t, err)
		assert.False(t, resync.IsPermanent(err), "%d secondary limit is not permanent", code)
		d, ok := resync.RetryDelay(err)
		assert.True(t, ok)
		assert.Equal(t, time.Minute, d, "%d secondary limit without retry-after waits a minute, not the primary reset", code)

		withRetry := append([]string{"Retry-After", "90"}, primary...)
		d, _ = resync.RetryDelay(connkit.ClassifyHTTP(httpResp(code, withRetry...), body, fixedNow))
		assert.Equal(t, 90*time.Second, d, "retry-after wins")
	}
	// A 403 that is no limit at all stays permanent.
	err := connkit.ClassifyHTTP(httpResp(403, primary...), []byte(`{"message":"Resource not accessible by integration"}`), fixedNow)
	assert.True(t, resync.IsPermanent(err))
}
