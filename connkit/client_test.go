package connkit_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openresync/resync"
	"github.com/openresync/resync/connkit"
	"github.com/openresync/resync/resynctest"
)

// tokens is a token source returning its tokens in turn, the last one
// from then on.
type tokens struct {
	mu    sync.Mutex
	list  []string
	calls int
}

func (s *tokens) Token() (connkit.BearerToken, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	return connkit.BearerToken(s.list[min(s.calls, len(s.list))-1]), nil
}

// oauthToken has the method set of golang.org/x/oauth2's *oauth2.Token
// that the kit uses; oauthSource is an oauth2.TokenSource's.
type oauthToken struct{ AccessToken string }

func (t *oauthToken) SetAuthHeader(r *http.Request) {
	r.Header.Set("Authorization", "Bearer "+t.AccessToken)
}

type oauthSource interface{ Token() (*oauthToken, error) }

type oauthFunc func() (*oauthToken, error)

func (f oauthFunc) Token() (*oauthToken, error) { return f() }

func TestClientBearer(t *testing.T) {
	p := newProvider(t, resynctest.ProviderConfig{Token: "tok-good-1234"}, resynctest.ProviderUsers("u", 3))
	c := &connkit.Client{BaseURL: p.URL() + "/", Auth: connkit.Bearer("tok-good-1234")}
	var users []resynctest.ProviderUser
	resp, err := c.GetJSON(context.Background(), "users", nil, &users)
	require.NoError(t, err)
	assert.Len(t, users, 3)
	assert.Equal(t, 200, resp.StatusCode)

	bad := &connkit.Client{BaseURL: p.URL() + "/", Auth: connkit.Bearer("tok-bad-5678")}
	_, err = bad.Get(context.Background(), "users", nil)
	require.Error(t, err)
	assert.True(t, resync.IsPermanent(err), "a 401 with a static token is permanent")
	var he *connkit.HTTPError
	require.ErrorAs(t, err, &he)
	assert.Equal(t, 401, he.StatusCode)
	assert.Equal(t, `{"error":"invalid_token"}`, he.Body, "the start of the error body is kept")
	assert.NotContains(t, err.Error(), "tok-bad-5678")
}

// A 401 after the token expired gets one more try with a fresh token; a
// second 401, or the same token again, is permanent.
func TestClientOAuth2RefreshOnce(t *testing.T) {
	p := newProvider(t, resynctest.ProviderConfig{Token: "fresh-token"}, resynctest.ProviderUsers("u", 3))

	src := &tokens{list: []string{"expired-token", "fresh-token"}}
	c := &connkit.Client{BaseURL: p.URL(), Auth: connkit.OAuth2[connkit.BearerToken](src)}
	_, err := c.Get(context.Background(), "/users", nil)
	require.NoError(t, err)
	assert.Equal(t, 2, p.Requests(), "one request, one retry with the fresh token")
	_, err = c.Get(context.Background(), "/users", nil)
	require.NoError(t, err)
	assert.Equal(t, 3, p.Requests(), "the fresh token is used from then on")

	before := p.Requests()
	same := &tokens{list: []string{"revoked-token"}}
	c = &connkit.Client{BaseURL: p.URL(), Auth: connkit.OAuth2[connkit.BearerToken](same)}
	_, err = c.Get(context.Background(), "/users", nil)
	require.Error(t, err)
	assert.True(t, resync.IsPermanent(err))
	assert.Equal(t, before+1, p.Requests(), "the same token was sent again")
	assert.NotContains(t, err.Error(), "revoked-token")

	before = p.Requests()
	never := &tokens{list: []string{"bad-one", "bad-two", "bad-three"}}
	c = &connkit.Client{BaseURL: p.URL(), Auth: connkit.OAuth2[connkit.BearerToken](never)}
	_, err = c.Get(context.Background(), "/users", nil)
	require.Error(t, err)
	assert.True(t, resync.IsPermanent(err))
	assert.Equal(t, before+2, p.Requests(), "refreshed more than once")

	// An x/oauth2-shaped source: the token type is inferred from its
	// Token method, as with oauth2.TokenSource and *oauth2.Token.
	var os oauthSource = oauthFunc(func() (*oauthToken, error) { return &oauthToken{AccessToken: "fresh-token"}, nil })
	c = &connkit.Client{BaseURL: p.URL(), Auth: connkit.OAuth2(os)}
	_, err = c.Get(context.Background(), "/users", nil)
	require.NoError(t, err)

	// A token source's failure is the request's, its secrets scrubbed.
	failing := oauthFunc(func() (*oauthToken, error) { return nil, errors.New("token endpoint down") })
	c = &connkit.Client{BaseURL: p.URL(), Auth: connkit.OAuth2[*oauthToken](failing)}
	_, err = c.Get(context.Background(), "/users", nil)
	require.ErrorContains(t, err, "token endpoint down")
	assert.False(t, resync.IsPermanent(err), "a token endpoint that is down may come back")
}

func TestClientBasicAuthAndRedaction(t *testing.T) {
	const password = "hunter2-very-secret"
	const apiKey = "key-abcdef123456"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, ok := r.BasicAuth()
		if !ok || user != "svc" || pass != password {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		// A provider that echoes what it was sent in its error body.
		w.WriteHeader(http.StatusBadGateway)
		_, _ = w.Write([]byte("upstream refused " + r.Header.Get("Authorization") + " with api_key=" + r.URL.Query().Get("api_key") + " pass " + pass))
	}))
	defer srv.Close()
	var logs bytes.Buffer
	c := &connkit.Client{
		BaseURL: srv.URL,
		Auth:    connkit.Basic("svc", password),
		Header:  http.Header{"X-Api-Key": {"hdr-secret-999"}},
		Logger:  slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	_, err := c.Get(context.Background(), "/users?api_key="+apiKey+"&limit=5", nil)
	require.Error(t, err)
	assert.False(t, resync.IsPermanent(err), "a 502 is transient")
	var he *connkit.HTTPError
	require.ErrorAs(t, err, &he)
	assert.Contains(t, he.Body, "upstream refused")
	assert.Contains(t, he.URL, "limit=5", "parameters that are no secret stay")

	// The transport fails: its error names the URL, with the key.
	srv.Close()
	_, terr := c.Get(context.Background(), "/users?api_key="+apiKey, nil)
	require.Error(t, terr)
	assert.False(t, resync.IsPermanent(terr))

	for what, text := range map[string]string{"error": err.Error(), "transport error": terr.Error(), "log": logs.String()} {
		for _, secret := range []string{password, apiKey, "hdr-secret-999", "c3ZjOmh1bnRlcjItdmVyeS1zZWNyZXQ="} {
			assert.NotContains(t, text, secret, "%s leaks a secret", what)
		}
		assert.Contains(t, text, "REDACTED", what)
	}
	assert.Contains(t, logs.String(), "status=502")
}

func TestClientLimitsAndRefusals(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write(bytes.Repeat([]byte("x"), 5000))
	}))
	defer srv.Close()
	c := &connkit.Client{BaseURL: srv.URL, MaxBodyBytes: 4096}
	_, err := c.Get(context.Background(), "/big", nil)
	require.ErrorContains(t, err, "larger than 4096 bytes")
	assert.True(t, resync.IsPermanent(err))
	c.MaxBodyBytes = 5000
	resp, err := c.Get(context.Background(), "/big", nil)
	require.NoError(t, err)
	assert.Len(t, resp.Body, 5000, "a body of exactly the limit is read")

	// Credentials go only to BaseURL's host, whatever a Link header says.
	var hits int
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits++ }))
	defer other.Close()
	ac := &connkit.Client{BaseURL: srv.URL, Auth: connkit.Bearer("tok-1234")}
	_, err = ac.Get(context.Background(), other.URL+"/users?page=2", nil)
	require.ErrorContains(t, err, "refusing to send credentials")
	assert.True(t, resync.IsPermanent(err))
	assert.Zero(t, hits)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = c.Get(ctx, "/big", nil)
	assert.ErrorIs(t, err, context.Canceled)

	_, err = (&connkit.Client{}).Get(context.Background(), "/relative", nil)
	assert.True(t, resync.IsPermanent(err), "a relative URL without BaseURL")
}

// The rate limit is read on successful responses: a response that spends
// the quota says when the next request may go.
func TestClientRateLimitOnSuccess(t *testing.T) {
	for _, style := range []resynctest.RateLimitStyle{resynctest.RateLimitOkta, resynctest.RateLimitGitHub, resynctest.RateLimitIETF} {
		t.Run(string(style), func(t *testing.T) {
			t.Parallel()
			now := time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)
			p := newProvider(t, resynctest.ProviderConfig{RateLimit: style, Quota: 2, Window: time.Minute, Now: func() time.Time { return now }},
				resynctest.ProviderUsers("u", 10))
			local := now.Add(-3 * time.Minute) // a local clock 3 minutes slow
			c := &connkit.Client{BaseURL: p.URL(), Now: func() time.Time { return local }}
			resp, err := c.Get(context.Background(), "/users", nil)
			require.NoError(t, err)
			assert.Equal(t, 1, resp.RateLimit.Remaining)
			assert.True(t, resp.NotBefore().IsZero(), "quota left: no wait")
			resp, err = c.Get(context.Background(), "/users", nil)
			require.NoError(t, err)
			assert.Equal(t, 0, resp.RateLimit.Remaining)
			assert.Equal(t, local.Add(time.Minute), resp.NotBefore(), "wait for the reset, measured on the server's clock")
			_, err = c.Get(context.Background(), "/users", nil)
			d, ok := resync.RetryDelay(err)
			require.True(t, ok, "a request past the quota is throttling: %v", err)
			assert.Equal(t, time.Minute, d)
		})
	}
}

func newProvider(t *testing.T, cfg resynctest.ProviderConfig, users []resynctest.ProviderUser) *resynctest.Provider {
	p := resynctest.NewProvider(cfg, users)
	t.Cleanup(p.Close)
	return p
}

// A provider that signs every page's URL gives a new secret a page; the
// client remembers a bounded number, and still redacts the current ones.
func TestClientRedactsAfterManySecrets(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("fail") != "" {
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = w.Write([]byte("bad " + r.Header.Get("Authorization") + " sig=" + r.URL.Query().Get("signature")))
		}
	}))
	defer srv.Close()
	c := &connkit.Client{BaseURL: srv.URL, Auth: connkit.Bearer("bearer-token-abc")}
	for i := range 600 {
		_, err := c.Get(context.Background(), fmt.Sprintf("/p?signature=sig-%06d", i), nil)
		require.NoError(t, err)
	}
	_, err := c.Get(context.Background(), "/p?signature=sig-last-one&fail=1", nil)
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "bearer-token-abc")
	assert.NotContains(t, err.Error(), "sig-last-one")
	assert.Contains(t, err.Error(), "bad REDACTED sig=REDACTED")
}
