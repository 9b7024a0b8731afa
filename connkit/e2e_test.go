package connkit_test

import (
	"context"
	"net/http"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openresync/resync"
	"github.com/openresync/resync/connkit"
	"github.com/openresync/resync/memstore"
	"github.com/openresync/resync/resynctest"
)

// e2e runs the acme connector of the package example behind an engine,
// against p through its in-process transport, and returns the
// connection's result and the store.
func e2e(t *testing.T, p *resynctest.Provider, timeout time.Duration) (resync.ConnectionResult, *memstore.Store) {
	t.Helper()
	store := memstore.New()
	src := resynctest.NewSource()
	src.Add(resync.Connection{ID: "acme-1", Tenant: "t1", Type: resync.IdP, Provider: "acme", Name: "Acme"})
	factory := func(context.Context, resync.Connection) (resync.Connector, error) {
		return &acme{client: &connkit.Client{BaseURL: "https://acme.test/api/", Auth: connkit.Bearer("tok-1234"),
			HTTPClient: &http.Client{Transport: p.Transport()}}}, nil
	}
	engine, err := resync.New(context.Background(), resync.Config{
		Store: store, Connections: src, Authorizer: resynctest.AllowAll,
		Connectors:        map[string]resync.ConnectorFactory{"acme": factory},
		Retry:             resync.RetryPolicy{InitialInterval: time.Second, MaxAttempts: 4},
		ConnectionTimeout: timeout,
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = engine.Close(context.Background()) })
	run, err := engine.ResyncPersonnel(context.Background(), "t1", resync.Principal{ID: "admin"})
	require.NoError(t, err)
	info, err := run.Wait(context.Background())
	require.NoError(t, err)
	require.Len(t, info.Connections, 1)
	return info.Connections[0], store
}

func live(t *testing.T, s *memstore.Store) int {
	recs, err := s.Records(context.Background(), resync.RecordQuery{Tenant: "t1", ConnectionID: "acme-1"})
	require.NoError(t, err)
	return len(recs)
}

// A provider that advertises its limit on every response is never asked
// past it: the connector passes the reset on as Page.NotBefore, and the
// engine waits without spending retries.
func TestEndToEndPacedByRateLimit(t *testing.T) {
	for _, style := range []resynctest.RateLimitStyle{resynctest.RateLimitOkta, resynctest.RateLimitGitHub, resynctest.RateLimitIETF} {
		t.Run(string(style), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p := resynctest.NewProvider(resynctest.ProviderConfig{Token: "tok-1234", RateLimit: style, Quota: 3, Window: time.Minute},
					resynctest.ProviderUsers("u", 20))
				defer p.Close()
				start := time.Now()
				res, store := e2e(t, p, 10*time.Minute)
				require.Equal(t, resync.ConnSucceeded, res.Status, res.Error)
				assert.Equal(t, 10, res.Pages)
				assert.Equal(t, 10, res.Attempts, "a wait for the quota spent a retry")
				assert.Zero(t, p.Throttled(), "asked past an advertised limit")
				assert.Equal(t, 20, live(t, store))
				assert.GreaterOrEqual(t, time.Since(start), 3*time.Minute, "10 requests at 3 a minute")
			})
		})
	}
}

// Faults at given pages: a 429 with Retry-After and a 500 retry that page
// only; a 401 stops the read, nothing applied.
func TestEndToEndFaults(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := resynctest.NewProvider(resynctest.ProviderConfig{Token: "tok-1234"}, resynctest.ProviderUsers("u", 10))
		defer p.Close()
		p.Fail(resynctest.ProviderFault{Page: 2, Status: 429, Header: http.Header{"Retry-After": {"30"}}})
		p.Fail(resynctest.ProviderFault{Page: 3, Status: 500, Times: 2})
		start := time.Now()
		res, store := e2e(t, p, 10*time.Minute)
		require.Equal(t, resync.ConnSucceeded, res.Status, res.Error)
		assert.Equal(t, 1, p.RequestsFor(0), "page 1")
		assert.Equal(t, 2, p.RequestsFor(2), "page 2: the 429, then its retry")
		assert.Equal(t, 3, p.RequestsFor(4), "page 3: two 500s, then its retry")
		assert.Equal(t, 1, p.RequestsFor(6), "page 4")
		assert.GreaterOrEqual(t, time.Since(start), 30*time.Second, "Retry-After honoured")
		assert.Equal(t, 10, live(t, store))
	})
	synctest.Test(t, func(t *testing.T) {
		p := resynctest.NewProvider(resynctest.ProviderConfig{Token: "tok-1234"}, resynctest.ProviderUsers("u", 10))
		defer p.Close()
		p.Fail(resynctest.ProviderFault{Page: 4, Status: 401, Times: 10, Body: `{"errorCode":"E0000011","errorSummary":"Invalid token provided"}`})
		res, store := e2e(t, p, 10*time.Minute)
		assert.Equal(t, resync.ConnFailed, res.Status)
		assert.Contains(t, res.Error, "Invalid token provided", "the start of the error body")
		assert.NotContains(t, res.Error, "tok-1234")
		assert.Equal(t, 1, p.RequestsFor(6), "a 401 was retried")
		assert.Zero(t, live(t, store), "a failed read applied records")
	})
}

// GitHub's primary limit spent with its reset an hour away, on a read
// with ten minutes: the read ends throttled at once, with the reset time,
// nothing applied.
func TestEndToEndThrottled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := resynctest.NewProvider(resynctest.ProviderConfig{Token: "tok-1234", RateLimit: resynctest.RateLimitGitHub, Quota: 2, Window: time.Hour},
			resynctest.ProviderUsers("u", 10))
		defer p.Close()
		start := time.Now()
		res, store := e2e(t, p, 10*time.Minute)
		assert.Equal(t, resync.ConnThrottled, res.Status, res.Error)
		assert.WithinDuration(t, start.Add(time.Hour), res.RetryAt, 2*time.Second)
		assert.Less(t, time.Since(start), time.Minute, "waited instead of ending")
		assert.Zero(t, live(t, store))
		assert.Zero(t, p.Throttled(), "asked past the advertised limit")
	})
}

// The example connector passes the conformance suite against the fake
// provider.
func TestAcmeConformance(t *testing.T) {
	p := resynctest.NewProvider(resynctest.ProviderConfig{Token: "tok-1234", RateLimit: resynctest.RateLimitOkta}, resynctest.ProviderUsers("u", 9))
	t.Cleanup(p.Close)
	resynctest.TestConnector(t, func(t *testing.T) resync.Connector {
		return &acme{client: &connkit.Client{BaseURL: p.URL() + "/", Auth: connkit.Bearer("tok-1234")}}
	}, resynctest.ConnectorOptions{WantRecords: 9})
}
