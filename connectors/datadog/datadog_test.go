package datadog_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/openresync/resync"
	"github.com/openresync/resync/connectors/datadog"
	"github.com/openresync/resync/memstore"
	"github.com/openresync/resync/resynctest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func settings(kv ...string) map[string]string {
	s := map[string]string{"api_key": testAPIKey, "application_key": testAppKey, "site": "datadoghq.eu"}
	for i := 0; i+1 < len(kv); i += 2 {
		s[kv[i]] = kv[i+1]
	}
	return s
}

func config(s *ddServer) datadog.Config {
	return datadog.Config{HTTPClient: s.Client(), BaseURL: s.URL + "/"}
}

func connect(t testing.TB, s *ddServer, kv ...string) resync.Connector {
	t.Helper()
	c, err := datadog.New(resync.Connection{ID: "dd1", Type: resync.Observability, Provider: "datadog", Settings: settings(kv...)}, config(s))
	require.NoError(t, err)
	return c
}

func readAll(t testing.TB, c resync.Connector) map[string]*resync.Account {
	t.Helper()
	out := map[string]*resync.Account{}
	cursor := ""
	for pages := 0; ; pages++ {
		require.Less(t, pages, 10000)
		p, err := c.ReadPage(t.Context(), cursor)
		require.NoError(t, err)
		require.Empty(t, p.Rejected)
		for _, r := range p.Records {
			a := r.(*resync.Account)
			require.NotContains(t, out, a.Key, "a user read twice")
			out[a.Key] = a
		}
		if cursor = p.Next; cursor == "" {
			return out
		}
	}
}

// TestConformance runs the connector contract suite with its fault checks
// (401 permanent, 429 after its Retry-After, 5xx retryable, one request per
// failing page).
func TestConformance(t *testing.T) {
	t.Parallel()
	s := newDDServer(t)
	for i := range 23 {
		s.addUser(i)
	}
	resynctest.TestConnector(t, func(t *testing.T) resync.Connector {
		return connect(t, s, "page_size", "5")
	}, resynctest.ConnectorOptions{WantRecords: 23, Fail: s.Fail, Requests: s.Requests})
}

// TestMapping: statuses (Active, Pending, Disabled), roles from the
// included roles, MFA, service accounts.
func TestMapping(t *testing.T) {
	t.Parallel()
	s := newDDServer(t)
	active := s.addUser(0)
	pending := s.addUser(1, func(u map[string]any) {
		attrs(u)["status"], attrs(u)["verified"] = "Pending", false
		delete(attrs(u), "mfa_enabled") // a site that does not expose it
	})
	disabled := s.addUser(2, func(u map[string]any) { attrs(u)["status"], attrs(u)["disabled"] = "Disabled", true })
	svc := s.addUser(3, func(u map[string]any) {
		attrs(u)["service_account"] = true
		attrs(u)["title"] = "CI bot"
		u["relationships"].(map[string]any)["roles"].(map[string]any)["data"] = []any{
			map[string]any{"type": "roles", "id": "a1b2c3d4-0000-11ee-8000-000000000001"},
			map[string]any{"type": "roles", "id": "custom-role-not-included"},
		}
	})
	recs := readAll(t, connect(t, s))
	require.Len(t, recs, 4)

	a := recs[active]
	assert.Equal(t, resync.StatusActive, a.Status)
	assert.Equal(t, "user0@example.com", a.OwnerEmail)
	assert.Equal(t, "user0@example.com", a.Username)
	assert.Equal(t, "User 0", a.DisplayName)
	assert.Equal(t, resync.MFAEnabled, a.MFA)
	assert.Equal(t, []string{"Datadog Admin Role"}, a.Roles)
	assert.Equal(t, resync.AccountTypeHuman, a.Type)
	assert.Equal(t, "Active", a.Attributes["datadog_status"])
	assert.Equal(t, "2025-01-15T09:30:00Z", a.Attributes["created_at"])

	p := recs[pending]
	assert.Equal(t, resync.StatusActive, p.Status, "an invitation grants the access")
	assert.Equal(t, "Pending", p.Attributes["datadog_status"])
	assert.Equal(t, resync.MFAUnknown, p.MFA, "not exposed: unknown")
	assert.Equal(t, []string{"Datadog Standard Role"}, p.Roles)

	assert.Equal(t, resync.StatusDeprovisioned, recs[disabled].Status)
	assert.Equal(t, resync.MFAEnabled, recs[disabled].MFA)
	assert.Equal(t, resync.MFADisabled, recs[svc].MFA)

	sa := recs[svc]
	assert.Equal(t, resync.AccountTypeService, sa.Type)
	assert.ElementsMatch(t, []string{"Datadog Admin Role", "custom-role-not-included"}, sa.Roles)
	assert.Equal(t, "CI bot", sa.Attributes["title"])
	assert.Equal(t, 1, s.Requests(), "one request: roles come with the users")
}

func engine(t *testing.T, s *ddServer, kv ...string) (*resync.Engine, func() resync.ConnectionResult) {
	t.Helper()
	ctx := t.Context()
	src := resynctest.NewSource()
	src.Add(resync.Connection{ID: "dd1", Tenant: "t1", Type: resync.Observability, Provider: "datadog", Settings: settings(kv...)})
	e, err := resync.New(ctx, resync.Config{Store: memstore.New(), Connections: src, Authorizer: resynctest.AllowAll,
		Retry:           resync.RetryPolicy{InitialInterval: time.Millisecond, MaxInterval: time.Millisecond},
		MinReadInterval: -1,
		Connectors:      map[string]resync.ConnectorFactory{"datadog": datadog.NewFactory(config(s))}})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, e.Close(context.Background())) })
	return e, func() resync.ConnectionResult {
		t.Helper()
		r, err := e.ResyncAccounts(ctx, "t1", resync.Principal{ID: "admin"}, resync.Observability)
		require.NoError(t, err)
		info, err := r.Wait(ctx)
		require.NoError(t, err)
		require.Len(t, info.Connections, 1)
		return info.Connections[0]
	}
}

// TestManyUsers reads 2,050 users through an engine at Datadog's largest
// page (100): every user once, with its status, in ceil(2050/100) = 21
// requests, the minimum (meta.page.total_count ends the read without an
// empty page).
func TestManyUsers(t *testing.T) {
	t.Parallel()
	s := newDDServer(t)
	var ids []string
	for i := range 2050 {
		ids = append(ids, s.addUser(i, func(u map[string]any) {
			if i%9 == 0 {
				attrs(u)["status"], attrs(u)["disabled"] = "Disabled", true
			}
		}))
	}
	e, run := engine(t, s)
	res := run()
	require.Equal(t, resync.ConnSucceeded, res.Status, res.Error)
	assert.Equal(t, 2050, res.Added)
	assert.Equal(t, 21, s.Requests(), "requests per read: the minimum")
	assert.Equal(t, 2050, res.Total)

	got := map[string]resync.LifecycleStatus{}
	for q := (resync.RecordQuery{ConnectionID: "dd1", Limit: 1000}); ; {
		recs, next, err := e.Records(t.Context(), "t1", resync.Principal{ID: "admin"}, q)
		require.NoError(t, err)
		for _, r := range recs {
			got[r.Key] = r.Record.(*resync.Account).Status
		}
		if q.Cursor = next; next == "" {
			break
		}
	}
	require.Len(t, got, 2050)
	for i, id := range ids {
		want := resync.StatusActive
		if i%9 == 0 {
			want = resync.StatusDeprovisioned
		}
		require.Equal(t, want, got[id], id)
	}
}

// TestThrottleMidRead: page 3 answers 429 with X-RateLimit-Reset: 1 (no
// Retry-After, as Datadog sends it); the read waits that second, asks for
// page 3 once more, and ends with every user once.
func TestThrottleMidRead(t *testing.T) {
	t.Parallel()
	s := newDDServer(t)
	for i := range 50 {
		s.addUser(i)
	}
	s.Fail(resynctest.ProviderFault{Page: 3, Status: http.StatusTooManyRequests,
		Header: http.Header{"X-Ratelimit-Remaining": {"0"}, "X-Ratelimit-Reset": {"1"}}})
	_, run := engine(t, s, "page_size", "10")
	start := time.Now()
	res := run()
	elapsed := time.Since(start)
	require.Equal(t, resync.ConnSucceeded, res.Status, res.Error)
	assert.Equal(t, 50, res.Added)
	assert.GreaterOrEqual(t, elapsed, 900*time.Millisecond, "waited the advertised reset")
	s.mu.Lock()
	defer s.mu.Unlock()
	assert.Equal(t, 2, s.perPage[2], "page 3 asked for twice")
	assert.Equal(t, 1, s.perPage[1])
	assert.Equal(t, 5+1, s.requests)
}

// TestRemainingPacesTheRead: with a quota of 3 requests a second, the
// X-RateLimit-Remaining and -Reset of each response pace the read
// (Page.NotBefore) so that no request is refused.
func TestRemainingPacesTheRead(t *testing.T) {
	t.Parallel()
	s := newDDServer(t)
	for i := range 40 {
		s.addUser(i)
	}
	s.mu.Lock()
	s.limit, s.period = 3, time.Second
	s.mu.Unlock()
	_, run := engine(t, s, "page_size", "10")
	start := time.Now()
	res := run()
	require.Equal(t, resync.ConnSucceeded, res.Status, res.Error)
	assert.Equal(t, 40, res.Added)
	assert.GreaterOrEqual(t, time.Since(start), 900*time.Millisecond, "waited for the quota once")
	s.mu.Lock()
	defer s.mu.Unlock()
	assert.Zero(t, s.throttled, "no 429: the advertised limit was kept")
	assert.Equal(t, 4, s.requests)
}

// TestAuthFailure: rejected keys are permanent after exactly one request,
// remove nothing, and the keys are not in the error.
func TestAuthFailure(t *testing.T) {
	t.Parallel()
	s := newDDServer(t)
	for i := range 5 {
		s.addUser(i)
	}
	_, run := engine(t, s)
	require.Equal(t, resync.ConnSucceeded, run().Status)
	before := s.Requests()
	s.mu.Lock()
	s.appKey = "rotated"
	s.mu.Unlock()
	res := run()
	assert.Equal(t, resync.ConnFailed, res.Status)
	assert.Contains(t, res.Error, "403")
	assert.Contains(t, res.Error, "Forbidden")
	assert.Equal(t, 1, s.Requests()-before, "exactly one request")
	assert.Equal(t, 1, res.Attempts)
	assert.Zero(t, res.Removed)
	assert.NotContains(t, res.Error, testAPIKey)
	assert.NotContains(t, res.Error, testAppKey)
}

// TestEchoedKeys: an error body that quotes the keys has them redacted.
func TestEchoedKeys(t *testing.T) {
	t.Parallel()
	s := newDDServer(t)
	s.Fail(resynctest.ProviderFault{Page: 1, Status: http.StatusBadRequest,
		Body: fmt.Sprintf(`{"errors":["bad request with DD-API-KEY %s and DD-APPLICATION-KEY %s"]}`, testAPIKey, testAppKey)})
	_, err := connect(t, s).ReadPage(t.Context(), "")
	require.Error(t, err)
	assert.True(t, resync.IsPermanent(err))
	assert.NotContains(t, err.Error(), testAPIKey)
	assert.NotContains(t, err.Error(), testAppKey)
	assert.Contains(t, err.Error(), "REDACTED")
}

// TestServerErrorRetriesOnePage: a 500 on page 4 re-reads page 4 only.
func TestServerErrorRetriesOnePage(t *testing.T) {
	t.Parallel()
	s := newDDServer(t)
	for i := range 60 {
		s.addUser(i)
	}
	s.Fail(resynctest.ProviderFault{Page: 4, Status: http.StatusInternalServerError})
	_, run := engine(t, s, "page_size", "10")
	res := run()
	require.Equal(t, resync.ConnSucceeded, res.Status, res.Error)
	assert.Equal(t, 60, res.Added)
	s.mu.Lock()
	defer s.mu.Unlock()
	for n := range 6 {
		want := 1
		if n == 3 {
			want = 2
		}
		assert.Equal(t, want, s.perPage[n], "page %d", n)
	}
	assert.Equal(t, 7, s.requests)
}

// TestChangesBetweenResyncs: between two resyncs one user is disabled, one
// removed from the organization and one invited: exactly those changes are
// in the change log.
func TestChangesBetweenResyncs(t *testing.T) {
	t.Parallel()
	s := newDDServer(t)
	var ids []string
	for i := range 30 {
		ids = append(ids, s.addUser(i))
	}
	e, run := engine(t, s, "page_size", "7")
	require.Equal(t, resync.ConnSucceeded, run().Status)
	ctx := t.Context()
	admin := resync.Principal{ID: "admin"}
	first, err := e.Changes(ctx, "t1", admin, resync.ChangeQuery{Limit: 1000})
	require.NoError(t, err)
	require.Len(t, first, 30)

	s.setUser(ids[7], func(u map[string]any) { attrs(u)["status"], attrs(u)["disabled"] = "Disabled", true })
	s.removeUser(ids[12])
	invited := s.addUser(500, func(u map[string]any) { attrs(u)["status"] = "Pending" })
	res := run()
	require.Equal(t, resync.ConnSucceeded, res.Status, res.Error)
	changes, err := e.Changes(ctx, "t1", admin, resync.ChangeQuery{AfterSeq: first[len(first)-1].Seq, Limit: 1000})
	require.NoError(t, err)
	got := map[string]resync.ChangeOp{}
	for _, c := range changes {
		got[c.Key] = c.Op
		if c.Key == ids[7] {
			assert.Equal(t, resync.StatusActive, c.Before.(*resync.Account).Status)
			assert.Equal(t, resync.StatusDeprovisioned, c.After.(*resync.Account).Status)
			assert.Equal(t, "Disabled", c.After.(*resync.Account).Attributes["datadog_status"])
		}
	}
	assert.Equal(t, map[string]resync.ChangeOp{ids[7]: resync.OpUpdate, ids[12]: resync.OpRemove, invited: resync.OpAdd}, got)
}

// TestShiftDuringRead: a user invited while the read is under way and
// sorted before the read's position moves every later user forward by
// one; the user pushed onto the next page is yielded once, not twice.
func TestShiftDuringRead(t *testing.T) {
	t.Parallel()
	s := newDDServer(t)
	for i := range 25 {
		s.addUser(i)
	}
	s.mu.Lock()
	s.onPage = func(n int) {
		if n == 1 && len(s.users) == 25 {
			late := map[string]any{"type": "users", "id": "00000000-late-0000-0000-000000000000",
				"attributes":    map[string]any{"email": "late@example.com", "status": "Pending"},
				"relationships": map[string]any{"roles": map[string]any{"data": []any{}}}}
			s.users = append([]map[string]any{late}, s.users...)
		}
	}
	s.mu.Unlock()
	recs := readAll(t, connect(t, s, "page_size", "10"))
	assert.Len(t, recs, 25, "the 25 users present for the whole read, each once (the late one sorted before the position is for the next read)")
}

// TestSettings: sites map to their API hosts; bad settings fail before any
// request without quoting a key.
func TestSettings(t *testing.T) {
	t.Parallel()
	for name, kv := range map[string][]string{
		"unknown setting": {"colour", "blue"},
		`"site"`:          {"site", "datadoghq.example"},
		"application_key": {"application_key", ""},
		`"page_size"`:     {"page_size", "101"},
		`"api_key" and`:   {"api_key", " "},
	} {
		_, err := datadog.New(resync.Connection{ID: "dd1", Settings: settings(kv...)}, datadog.Config{})
		require.Error(t, err, name)
		assert.ErrorIs(t, err, resync.ErrInvalidRequest, name)
		assert.Contains(t, err.Error(), name)
		assert.NotContains(t, err.Error(), testAppKey)
	}
	for site, host := range map[string]string{"": "api.datadoghq.com", "US1": "api.datadoghq.com", "datadoghq.eu": "api.datadoghq.eu",
		"us3.datadoghq.com": "api.us3.datadoghq.com", "us5": "api.us5.datadoghq.com", "ap1.datadoghq.com": "api.ap1.datadoghq.com",
		"ddog-gov.com": "api.ddog-gov.com", "US1-FED": "api.ddog-gov.com"} {
		var asked string
		hc := &http.Client{Transport: roundTrip(func(r *http.Request) (*http.Response, error) {
			asked = r.URL.Host + " " + r.URL.Path
			return nil, fmt.Errorf("no network in tests")
		})}
		c, err := datadog.New(resync.Connection{ID: "dd1", Settings: settings("site", site)}, datadog.Config{HTTPClient: hc})
		require.NoError(t, err, site)
		_, err = c.ReadPage(t.Context(), "")
		require.Error(t, err)
		assert.False(t, resync.IsPermanent(err), "a network error is retried")
		assert.Equal(t, host+" /api/v2/users", asked, site)
		assert.NotContains(t, err.Error(), testAPIKey)
	}
}

type roundTrip func(*http.Request) (*http.Response, error)

func (f roundTrip) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestMalformed: a body that is not the users list is a permanent error;
// one user of a wrong shape is rejected, naming its id, and the rest read.
func TestMalformed(t *testing.T) {
	t.Parallel()
	s := newDDServer(t)
	s.Fail(resynctest.ProviderFault{Page: 1, Status: http.StatusOK, Body: `<html>maintenance</html>`})
	_, err := connect(t, s).ReadPage(t.Context(), "")
	require.ErrorIs(t, err, datadog.ErrMalformed)
	assert.True(t, resync.IsPermanent(err))

	s.Fail(resynctest.ProviderFault{Page: 1, Status: http.StatusOK, Body: `{"data":[
		{"type":"users","id":"u1","attributes":{"email":"a@x","status":"Active"}},
		{"type":"users","id":"u2","attributes":{"email":7}},
		{"type":"users","id":"u3","attributes":{"status":"Frozen"}}],"meta":{"page":{"total_count":3}}}`})
	p, err := connect(t, s).ReadPage(t.Context(), "")
	require.NoError(t, err)
	require.Len(t, p.Records, 1)
	require.Len(t, p.Rejected, 2)
	var keys []string
	for _, r := range p.Rejected {
		var re *resync.RecordError
		require.ErrorAs(t, r, &re)
		keys = append(keys, re.Key)
	}
	assert.Equal(t, []string{"u2", "u3"}, keys)
	assert.True(t, strings.Contains(p.Rejected[1].Error(), "Frozen"))
	assert.Empty(t, p.Next)
}
