package resync_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openresync/resync"
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
		{"429 Retry-After seconds", httpResp(429, "Retry-After", "3"), want{delay: 3 * time.Second, hasDelay: true}},
		{"429 Retry-After zero", httpResp(429, "Retry-After", "0"), want{delay: 0, hasDelay: true}},
		{"429 Retry-After date", httpResp(429, "Retry-After", classifyNow.Add(90*time.Second).Format(http.TimeFormat)), want{delay: 90 * time.Second, hasDelay: true}},
		{"429 Retry-After date in the past", httpResp(429, "Retry-After", classifyNow.Add(-time.Hour).Format(http.TimeFormat)), want{delay: 0, hasDelay: true}},
		{"429 X-RateLimit-Reset unix", httpResp(429, "X-RateLimit-Reset", strconv.FormatInt(classifyNow.Add(42*time.Second).Unix(), 10)), want{delay: 42 * time.Second, hasDelay: true}},
		{"429 X-Rate-Limit-Reset unix (Okta)", httpResp(429, "X-Rate-Limit-Reset", strconv.FormatInt(classifyNow.Add(7*time.Second).Unix(), 10)), want{delay: 7 * time.Second, hasDelay: true}},
		{"429 RateLimit-Reset delta", httpResp(429, "RateLimit-Reset", "12"), want{delay: 12 * time.Second, hasDelay: true}},
		{"429 Retry-After wins over reset", httpResp(429, "Retry-After", "5", "X-RateLimit-Reset", "60"), want{delay: 5 * time.Second, hasDelay: true}},
		{"429 garbage header", httpResp(429, "Retry-After", "soon"), want{}},
		{"429 no header", httpResp(429), want{}},
		{"403 rate limit exhausted (GitHub)", httpResp(403, "X-RateLimit-Remaining", "0", "X-RateLimit-Reset", strconv.FormatInt(classifyNow.Add(30*time.Minute).Unix(), 10)),
			want{delay: 30 * time.Minute, hasDelay: true}},
		{"403 rate limit exhausted, no reset", httpResp(403, "X-RateLimit-Remaining", "0"), want{}},
		{"403 with remaining quota", httpResp(403, "X-RateLimit-Remaining", "10"), want{permanent: true}},
		{"401", httpResp(401), want{permanent: true}},
		{"403", httpResp(403), want{permanent: true}},
		{"404", httpResp(404), want{permanent: true}},
		{"400", httpResp(400), want{permanent: true}},
		{"401 with Retry-After stays permanent", httpResp(401, "Retry-After", "1"), want{permanent: true}},
		{"500", httpResp(500), want{}},
		{"502", httpResp(502), want{}},
		{"503", httpResp(503), want{}},
		{"503 Retry-After", httpResp(503, "Retry-After", "120"), want{delay: 2 * time.Minute, hasDelay: true}},
		{"408", httpResp(408), want{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := resync.ClassifyHTTP(c.resp, []byte(`{"error":"x"}`), fixedNow)
			if c.want.nilErr {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Equal(t, c.want.permanent, resync.IsPermanent(err), "permanent")
			d, ok := resync.RetryDelay(err)
			assert.Equal(t, c.want.hasDelay, ok, "has delay")
			assert.Equal(t, c.want.delay, d, "delay")
			var he *resync.HTTPError
			require.ErrorAs(t, err, &he)
			assert.Equal(t, c.resp.StatusCode, he.StatusCode)
			assert.Equal(t, http.MethodGet, he.Method)
			assert.Equal(t, `{"error":"x"}`, he.Body)
		})
	}
}

func TestClassifyHTTPMessage(t *testing.T) {
	t.Parallel()
	body := strings.Repeat("e", 5000)
	err := resync.ClassifyHTTP(httpResp(500), []byte(body), fixedNow)
	require.Error(t, err)
	var he *resync.HTTPError
	require.ErrorAs(t, err, &he)
	assert.Len(t, he.Body, 1024, "body truncated to 1 KiB")
	assert.Equal(t, "https://api.example.com/v1/users", he.URL)
	assert.NotContains(t, err.Error(), "s3cret", "query strings may carry tokens")
	assert.NotContains(t, err.Error(), "limit=200")
	assert.Contains(t, err.Error(), "GET https://api.example.com/v1/users: 500 Internal Server Error")

	// No request attached: still a useful error, no panic.
	err = resync.ClassifyHTTP(&http.Response{StatusCode: 404, Header: http.Header{}}, nil, nil)
	require.Error(t, err)
	assert.True(t, resync.IsPermanent(err))
	assert.Contains(t, err.Error(), "404 Not Found")
}

func TestClassifyHTTPDefaultClock(t *testing.T) {
	t.Parallel()
	reset := time.Now().Add(time.Hour).Unix()
	err := resync.ClassifyHTTP(httpResp(429, "X-RateLimit-Reset", strconv.FormatInt(reset, 10)), nil, nil)
	d, ok := resync.RetryDelay(err)
	require.True(t, ok)
	assert.InDelta(t, time.Hour.Seconds(), d.Seconds(), 5)
}

func TestPermanentAndRetryAfter(t *testing.T) {
	t.Parallel()
	assert.NoError(t, resync.Permanent(nil))
	assert.NoError(t, resync.RetryAfter(nil, time.Second))
	assert.False(t, resync.IsPermanent(nil))
	_, ok := resync.RetryDelay(nil)
	assert.False(t, ok)

	base := errors.New("bad token")
	p := resync.Permanent(base)
	wrapped := fmt.Errorf("page 3: %w", p)
	assert.True(t, resync.IsPermanent(wrapped))
	assert.ErrorIs(t, wrapped, base)
	assert.Equal(t, "page 3: bad token", wrapped.Error())
	assert.False(t, resync.IsPermanent(base))
	assert.False(t, resync.IsPermanent(fmt.Errorf("page 3: %v", p)), "%%v does not wrap")

	r := resync.RetryAfter(base, 3*time.Second)
	wrapped = fmt.Errorf("page 4: %w", fmt.Errorf("get: %w", r))
	d, ok := resync.RetryDelay(wrapped)
	assert.True(t, ok)
	assert.Equal(t, 3*time.Second, d)
	assert.ErrorIs(t, wrapped, base)
	assert.False(t, resync.IsPermanent(wrapped))
	assert.Contains(t, r.Error(), "retry after 3s")

	d, ok = resync.RetryDelay(resync.RetryAfter(base, -time.Second))
	assert.True(t, ok)
	assert.Equal(t, time.Duration(0), d, "negative delays become zero")

	// Both marks on one chain are both visible.
	both := resync.Permanent(resync.RetryAfter(base, time.Minute))
	assert.True(t, resync.IsPermanent(both))
	d, ok = resync.RetryDelay(both)
	assert.True(t, ok)
	assert.Equal(t, time.Minute, d)

	// In a joined error as well.
	j := errors.Join(errors.New("other"), p)
	assert.True(t, resync.IsPermanent(j))
}
