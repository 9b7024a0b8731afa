package github

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	gh "github.com/google/go-github/v93/github"

	"github.com/openresync/resync"
)

// go-github's own rate-limit errors (which it builds from responses the kit
// did not classify, or from its bookkeeping) map onto the engine's
// classification as the kit maps the responses: a primary limit waits
// until its reset, a secondary limit for Retry-After or a minute; a 404
// is permanent.
func TestClassifyGoGitHubErrors(t *testing.T) {
	resp := func(status int, h map[string]string, body string) error {
		r := &http.Response{StatusCode: status, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(body)),
			Request: &http.Request{Method: "GET"}}
		for k, v := range h {
			r.Header.Set(k, v)
		}
		return gh.CheckResponse(r)
	}
	reset := time.Now().Add(90 * time.Second)
	primary := resp(403, map[string]string{"x-ratelimit-remaining": "0", "x-ratelimit-reset": strconv.FormatInt(reset.Unix(), 10)},
		`{"message":"API rate limit exceeded"}`)
	if _, ok := primary.(*gh.RateLimitError); !ok {
		t.Fatalf("go-github returned %T", primary)
	}
	d, ok := resync.RetryDelay(classify(primary))
	if !ok || d < 80*time.Second || d > 91*time.Second {
		t.Errorf("primary: RetryDelay = %v, %v; want about 90s", d, ok)
	}
	const doc = `"documentation_url":"https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"`
	for _, tc := range []struct {
		retryAfter string
		want       time.Duration
	}{{"17", 17 * time.Second}, {"", time.Minute}} {
		h := map[string]string{}
		if tc.retryAfter != "" {
			h["Retry-After"] = tc.retryAfter
		}
		err := resp(403, h, `{"message":"slow down",`+doc+`}`)
		if _, ok := err.(*gh.AbuseRateLimitError); !ok {
			t.Fatalf("go-github returned %T", err)
		}
		if d, ok := resync.RetryDelay(classify(err)); !ok || d != tc.want {
			t.Errorf("secondary, Retry-After %q: RetryDelay = %v, %v; want %v", tc.retryAfter, d, ok, tc.want)
		}
	}
	if err := classify(resp(404, nil, `{"message":"Not Found"}`)); !resync.IsPermanent(err) {
		t.Errorf("404: %v is not permanent", err)
	}
	if err := classify(resp(502, nil, `{"message":"Server Error"}`)); resync.IsPermanent(err) {
		t.Errorf("502: %v is permanent", err)
	}
}
