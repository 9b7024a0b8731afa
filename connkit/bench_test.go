package connkit_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/openresync/resync/connkit"
	"github.com/openresync/resync/resynctest"
)

// BenchmarkGetJSON compares a page of 100 users read through the Client
// (auth, rate-limit fields, body limit, redaction bookkeeping) with the
// same request made with net/http and encoding/json alone, against the
// same loopback server in the same run.
func BenchmarkGetJSON(b *testing.B) {
	p := resynctest.NewProvider(resynctest.ProviderConfig{Token: "tok-1234", RateLimit: resynctest.RateLimitOkta, Quota: 1 << 30, PageSize: 100},
		resynctest.ProviderUsers("u", 100))
	defer p.Close()
	url := p.URL() + "/users?limit=100"
	b.Run("bare", func(b *testing.B) {
		hc := &http.Client{}
		for b.Loop() {
			req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, url, nil)
			req.Header.Set("Authorization", "Bearer tok-1234")
			resp, err := hc.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != 200 {
				b.Fatal(err, resp.StatusCode)
			}
			var users []resynctest.ProviderUser
			if err := json.Unmarshal(body, &users); err != nil || len(users) != 100 {
				b.Fatal(err)
			}
		}
	})
	b.Run("connkit", func(b *testing.B) {
		c := &connkit.Client{BaseURL: p.URL() + "/", Auth: connkit.Bearer("tok-1234"), HTTPClient: &http.Client{}}
		for b.Loop() {
			var users []resynctest.ProviderUser
			resp, err := c.GetJSON(context.Background(), "users?limit=100", nil, &users)
			if err != nil || len(users) != 100 || resp.RateLimit.Remaining < 0 {
				b.Fatal(err)
			}
		}
	})
}
