package okta_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openresync/resync"
	"github.com/openresync/resync/connectors/okta"
	"github.com/openresync/resync/connkit"
	"github.com/openresync/resync/memstore"
	"github.com/openresync/resync/resynctest"
)

var statuses = []string{"STAGED", "PROVISIONED", "ACTIVE", "RECOVERY", "PASSWORD_EXPIRED", "LOCKED_OUT", "SUSPENDED", "DEPROVISIONED"}

func connect(t testing.TB, srv *oktaServer, cfg okta.Config, kv ...string) resync.Connector {
	t.Helper()
	settings := map[string]string{"url": srv.orgURL(), "token": testToken}
	for i := 0; i+1 < len(kv); i += 2 {
		settings[kv[i]] = kv[i+1]
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = srv.Client()
	}
	c, err := okta.New(resync.Connection{ID: "okta1", Type: resync.IdP, Provider: "okta", Settings: settings}, cfg)
	require.NoError(t, err)
	return c
}

// readAll reads every page, failing on a key read twice, and returns the
// records by kind and key and the number of pages.
func readAll(t testing.TB, c resync.Connector) (map[string]resync.Record, int) {
	t.Helper()
	out := map[string]resync.Record{}
	cursor, pages := "", 0
	for {
		p, err := c.ReadPage(context.Background(), cursor)
		require.NoError(t, err)
		require.Empty(t, p.Rejected)
		pages++
		for _, r := range p.Records {
			var k string
			switch r := r.(type) {
			case *resync.Identity:
				k = "identity/" + r.Key
			case *resync.Group:
				k = "group/" + r.Key
			}
			require.NotContains(t, out, k, "a record read twice")
			out[k] = r
		}
		if cursor = p.Next; cursor == "" {
			return out, pages
		}
		require.Less(t, pages, 100000)
	}
}

func uid(i int) string { return fmt.Sprintf("00u%05d", i) }

// populate adds n users, cycling through Okta's statuses, and returns
// their ids.
func populate(srv *oktaServer, n int) []string {
	var ids []string
	for i := range n {
		id := uid(i)
		srv.addUser(id, statuses[i%len(statuses)])
		ids = append(ids, id)
	}
	return ids
}

// TestConformance runs the connector contract suite with the fault checks
// against the fake org: users over several pages, then groups, a group's
// members over several pages.
func TestConformance(t *testing.T) {
	t.Parallel()
	srv := newOktaServer(t)
	ids := populate(srv, 23)
	srv.addGroup("00g1", "Engineering", ids[:9]...)
	srv.addGroup("00g2", "Everyone", ids...)
	srv.addGroup("00g3", "Empty")
	for _, mfa := range []string{"false", "true"} {
		t.Run("mfa="+mfa, func(t *testing.T) {
			resynctest.TestConnector(t, func(t *testing.T) resync.Connector {
				return connect(t, srv, okta.Config{}, "page_size", "7", "member_page_size", "4", "group_page_size", "2", "mfa", mfa)
			}, resynctest.ConnectorOptions{WantRecords: 26, Fail: srv.Fail, Requests: srv.Requests})
		})
	}
}

// TestStatuses: users of every status are read, DEPROVISIONED included
// (Okta leaves them out of a list without a filter), each mapped and
// the original kept.
func TestStatuses(t *testing.T) {
	t.Parallel()
	srv := newOktaServer(t)
	populate(srv, len(statuses))
	recs, _ := readAll(t, connect(t, srv, okta.Config{}, "groups", "false"))
	require.Len(t, recs, len(statuses))
	want := map[string]resync.LifecycleStatus{
		"STAGED": resync.StatusSuspended, "PROVISIONED": resync.StatusSuspended, "ACTIVE": resync.StatusActive,
		"RECOVERY": resync.StatusActive, "PASSWORD_EXPIRED": resync.StatusActive, "LOCKED_OUT": resync.StatusActive,
		"SUSPENDED": resync.StatusSuspended, "DEPROVISIONED": resync.StatusDeprovisioned,
	}
	for i, st := range statuses {
		id := recs["identity/"+uid(i)].(*resync.Identity)
		assert.Equal(t, want[st], id.Status, st)
		assert.Equal(t, st, id.Attributes["status"])
	}
	id := recs["identity/"+uid(2)].(*resync.Identity)
	assert.Equal(t, uid(2)+"@acme.example", id.Email)
	assert.Equal(t, uid(2)+"@acme.example", id.Attributes["login"])
	assert.Equal(t, "First"+uid(2)+" Last", id.Name)
	assert.Equal(t, "E-"+uid(2), id.EmployeeID)
	assert.Equal(t, "R&D", id.Department)
	assert.Equal(t, "Engineer", id.Title)
	assert.Equal(t, time.Date(2026, 11, 30, 9, 12, 0, 0, time.UTC), id.LastLogin)
	assert.Equal(t, resync.MFAUnknown, id.MFA, "factors are not read unless asked for")
}

// engine builds an engine on memstore with the connector registered and
// one connection, reading srv.
func engine(t *testing.T, srv *oktaServer, settings map[string]string) (*resync.Engine, *resynctest.Source, resync.Store) {
	t.Helper()
	src := resynctest.NewSource()
	s := map[string]string{"url": srv.orgURL(), "token": testToken}
	for k, v := range settings {
		s[k] = v
	}
	src.Add(resync.Connection{ID: "okta1", Tenant: "t1", Type: resync.IdP, Provider: "okta", Settings: s})
	store := memstore.New()
	e, err := resync.New(t.Context(), resync.Config{Store: store, Connections: src, Authorizer: resynctest.AllowAll,
		Retry:           resync.RetryPolicy{InitialInterval: time.Millisecond, MaxInterval: time.Millisecond},
		MinReadInterval: -1, // two resyncs in a row read twice
		Connectors:      map[string]resync.ConnectorFactory{"okta": okta.NewFactory(okta.Config{HTTPClient: srv.Client()})}})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, e.Close(context.Background())) })
	return e, src, store
}

func resyncOnce(t *testing.T, e *resync.Engine) resync.ConnectionResult {
	t.Helper()
	r, err := e.ResyncPersonnel(t.Context(), "t1", resync.Principal{ID: "admin"})
	require.NoError(t, err)
	info, err := r.Wait(t.Context())
	require.NoError(t, err)
	require.Len(t, info.Connections, 1)
	return info.Connections[0]
}

// TestManyUsers reads 2,100 users and three groups (one of 2,100
// members, so three member pages) through the engine, in the fewest
// requests Okta's API allows: 11 users pages of 200, one groups page,
// and one members request per 1,000 members of each group (at least one).
func TestManyUsers(t *testing.T) {
	t.Parallel()
	srv := newOktaServer(t)
	ids := populate(srv, 2100)
	srv.addGroup("00gall", "Everyone", ids...)
	srv.addGroup("00geng", "Engineering", ids[100:350]...)
	srv.addGroup("00gnone", "Nobody")
	e, _, store := engine(t, srv, nil)
	res := resyncOnce(t, e)
	require.Equal(t, resync.ConnSucceeded, res.Status, res.Error)
	assert.Equal(t, 2103, res.Added)
	assert.Equal(t, 11+1+(3+1+1), srv.Requests(), "requests per read: the minimum")
	recs, err := store.Records(t.Context(), resync.RecordQuery{Tenant: "t1", ConnectionID: "okta1"})
	require.NoError(t, err)
	require.Len(t, recs, 2103)
	byKey := map[string]resync.Record{}
	for _, r := range recs {
		byKey[string(r.Kind)+"/"+r.Key] = r.Record
	}
	all := byKey[string(resync.KindGroup)+"/00gall"].(*resync.Group)
	assert.ElementsMatch(t, ids, all.Members)
	assert.Equal(t, "Everyone", all.Name)
	assert.ElementsMatch(t, ids[100:350], byKey[string(resync.KindGroup)+"/00geng"].(*resync.Group).Members)
	assert.Empty(t, byKey[string(resync.KindGroup)+"/00gnone"].(*resync.Group).Members)
	dep := byKey[string(resync.KindIdentity)+"/"+uid(7)].(*resync.Identity)
	assert.Equal(t, resync.StatusDeprovisioned, dep.Status)
}

// TestThrottleMidRead: Okta answers the fourth users page with 429
// (E0000047) and X-Rate-Limit-Reset a second or two ahead; the engine
// waits until then, asks for that page again, and the read ends with
// every user once.
func TestThrottleMidRead(t *testing.T) {
	t.Parallel()
	srv := newOktaServer(t)
	ids := populate(srv, 1000)
	after := ids[599] // the fourth page of 200 starts after the 600th user
	reset := time.Now().Add(1500 * time.Millisecond)
	srv.addFault(&fault{match: func(r *http.Request) bool {
		return r.URL.Path == "/api/v1/users" && r.URL.Query().Get("after") == after
	}, times: 1, status: http.StatusTooManyRequests, body: oktaError(http.StatusTooManyRequests),
		header: http.Header{"X-Rate-Limit-Remaining": {"0"}, "X-Rate-Limit-Reset": {strconv.FormatInt(reset.Unix()+1, 10)}}})
	e, _, store := engine(t, srv, map[string]string{"groups": "false"})
	start := time.Now()
	res := resyncOnce(t, e)
	require.Equal(t, resync.ConnSucceeded, res.Status, res.Error)
	assert.False(t, time.Now().Before(reset), "the read waited for the reset")
	assert.Greater(t, time.Since(start), time.Second)
	assert.Equal(t, 1000, res.Added)
	assert.Equal(t, 2, srv.requestsFor("/api/v1/users", after), "the throttled page, asked again")
	assert.Equal(t, 1, srv.requestsFor("/api/v1/users", ids[399]))
	assert.Equal(t, 1, srv.requestsFor("/api/v1/users", ids[799]))
	recs, err := store.Records(t.Context(), resync.RecordQuery{Tenant: "t1", ConnectionID: "okta1"})
	require.NoError(t, err)
	assert.Len(t, recs, 1000, "no gap, no duplicate")
}

// TestPacing: a page whose response says no more than a tenth of the
// window's quota remains asks the engine to wait for the reset
// (Page.NotBefore), before Okta would answer 429.
func TestPacing(t *testing.T) {
	t.Parallel()
	srv := newOktaServer(t)
	populate(srv, 30)
	srv.mu.Lock()
	srv.limit = 20 // 1 used: 19 remain, more than the reserve of 2
	srv.mu.Unlock()
	c := connect(t, srv, okta.Config{}, "page_size", "10", "groups", "false")
	p, err := c.ReadPage(t.Context(), "")
	require.NoError(t, err)
	assert.True(t, p.NotBefore.IsZero(), "plenty left: no wait")
	srv.mu.Lock()
	srv.used = 17 // the next request leaves 2
	end := srv.windowEnd
	srv.mu.Unlock()
	p, err = c.ReadPage(t.Context(), p.Next)
	require.NoError(t, err)
	require.Len(t, p.Records, 10)
	assert.WithinDuration(t, end, p.NotBefore, 2*time.Second, "waits for the reset")
	assert.True(t, p.NotBefore.After(time.Now()))
}

// TestAuthFailure: a rejected API token is permanent after exactly one
// request, and neither the error nor the log has the token.
func TestAuthFailure(t *testing.T) {
	t.Parallel()
	srv := newOktaServer(t)
	populate(srv, 3)
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	wrong := "00wrong-token-8d1f2a"
	for _, setting := range []string{"token", "access_token"} {
		logs.Reset()
		c, err := okta.New(resync.Connection{ID: "c", Type: resync.IdP, Settings: map[string]string{
			"url": srv.orgURL(), setting: wrong}}, okta.Config{HTTPClient: srv.Client(), Logger: logger})
		require.NoError(t, err)
		before := srv.Requests()
		_, err = c.ReadPage(t.Context(), "")
		require.Error(t, err)
		assert.True(t, resync.IsPermanent(err))
		assert.Equal(t, 1, srv.Requests()-before, "%s: one request", setting)
		var oe *okta.Error
		require.ErrorAs(t, err, &oe)
		assert.Equal(t, "E0000011", oe.Code)
		assert.Equal(t, http.StatusUnauthorized, oe.Status)
		assert.Contains(t, err.Error(), "Invalid token provided")
		assert.NotContains(t, err.Error(), wrong)
		require.NotEmpty(t, logs.String())
		assert.NotContains(t, logs.String(), wrong)
		assert.Error(t, c.(resync.HealthChecker).CheckHealth(t.Context()))
	}
	// The OAuth 2.0 bearer token is accepted as well, as a setting or
	// from the host's token source.
	recs, _ := readAll(t, connect(t, srv, okta.Config{}, "token", "", "access_token", testAccess, "groups", "false"))
	assert.Len(t, recs, 3)
	src := tokenSource{testAccess}
	recs, _ = readAll(t, connect(t, srv, okta.Config{Auth: connkit.OAuth2(src)}, "token", "", "groups", "false"))
	assert.Len(t, recs, 3)
	_, err := okta.New(resync.Connection{Settings: map[string]string{"url": srv.orgURL(), "token": "x"}},
		okta.Config{Auth: connkit.OAuth2(src)})
	assert.ErrorIs(t, err, resync.ErrInvalidRequest, "Config.Auth and a token setting")
}

type tokenSource struct{ tok string }

func (s tokenSource) Token() (connkit.BearerToken, error) { return connkit.BearerToken(s.tok), nil }

// TestServerErrorRereadsOnePage: a 500 on the third users page, and one
// on a group's second members page, make the engine read those pages
// again, and only those.
func TestServerErrorRereadsOnePage(t *testing.T) {
	t.Parallel()
	srv := newOktaServer(t)
	ids := populate(srv, 50)
	srv.addGroup("00g1", "All", ids...)
	srv.addFault(&fault{match: func(r *http.Request) bool {
		return r.URL.Path == "/api/v1/users" && r.URL.Query().Get("after") == ids[19]
	}, times: 1, status: http.StatusInternalServerError, body: oktaError(500)})
	srv.addFault(&fault{match: func(r *http.Request) bool {
		return r.URL.Path == "/api/v1/groups/00g1/users" && r.URL.Query().Get("after") == ids[9]
	}, times: 1, status: http.StatusInternalServerError, body: oktaError(500)})
	e, _, _ := engine(t, srv, map[string]string{"page_size": "10", "member_page_size": "10"})
	res := resyncOnce(t, e)
	require.Equal(t, resync.ConnSucceeded, res.Status, res.Error)
	assert.Equal(t, 51, res.Added)
	for i := 9; i < 49; i += 10 {
		want := 1
		if i == 19 {
			want = 2
		}
		assert.Equal(t, want, srv.requestsFor("/api/v1/users", ids[i]), "users page after %s", ids[i])
		want = 1
		if i == 9 {
			want = 2
		}
		assert.Equal(t, want, srv.requestsFor("/api/v1/groups/00g1/users", ids[i]), "members page after %s", ids[i])
	}
	assert.Equal(t, 1, srv.requestsFor("/api/v1/users", ""))
	assert.Equal(t, 1, srv.requestsFor("/api/v1/groups", ""))
	assert.Equal(t, 5+1+5+2, srv.Requests())
}

// TestChangesBetweenResyncs: between two resyncs one user is deactivated,
// one deleted and one created; the change log of the second has exactly
// those three changes, the status mapped.
func TestChangesBetweenResyncs(t *testing.T) {
	t.Parallel()
	srv := newOktaServer(t)
	for i := range 40 {
		srv.addUser(uid(i), "ACTIVE")
	}
	srv.addGroup("00g1", "Ops", uid(1), uid(2))
	e, _, _ := engine(t, srv, map[string]string{"page_size": "15"})
	res := resyncOnce(t, e)
	require.Equal(t, resync.ConnSucceeded, res.Status, res.Error)
	require.Equal(t, 41, res.Added)
	entries, err := e.Changes(t.Context(), "t1", resync.Principal{ID: "admin"}, resync.ChangeQuery{Limit: 1000})
	require.NoError(t, err)
	after := entries[len(entries)-1].Seq

	srv.setStatus(uid(10), "DEPROVISIONED")
	srv.deleteUser(uid(20))
	srv.addUser("00u99999", "STAGED")
	res = resyncOnce(t, e)
	require.Equal(t, resync.ConnSucceeded, res.Status, res.Error)
	assert.Equal(t, [3]int{1, 1, 1}, [3]int{res.Added, res.Updated, res.Removed})
	entries, err = e.Changes(t.Context(), "t1", resync.Principal{ID: "admin"}, resync.ChangeQuery{AfterSeq: after})
	require.NoError(t, err)
	got := map[string]resync.ChangeLogEntry{}
	for _, en := range entries {
		got[string(en.Op)+" "+en.Key] = en
	}
	require.Len(t, got, 3, "%v", got)
	upd, ok := got[string(resync.OpUpdate)+" "+uid(10)]
	require.True(t, ok, "%v", got)
	assert.Equal(t, resync.StatusActive, upd.Before.(*resync.Identity).Status)
	assert.Equal(t, resync.StatusDeprovisioned, upd.After.(*resync.Identity).Status)
	assert.Equal(t, "DEPROVISIONED", upd.After.(*resync.Identity).Attributes["status"])
	_, ok = got[string(resync.OpRemove)+" "+uid(20)]
	assert.True(t, ok, "%v", got)
	add, ok := got[string(resync.OpAdd)+" 00u99999"]
	require.True(t, ok, "%v", got)
	assert.Equal(t, resync.StatusSuspended, add.After.(*resync.Identity).Status)
}

// TestMFA: with "mfa" on, each user's factors are read (one request per
// user: Okta has no bulk read of them), DefaultMFAPageSize users a
// page; a user with an ACTIVE factor has MFA enabled, one with none or
// only a pending one disabled. A failed factors request makes the engine
// read that page again, and the factors already read are not asked for
// again.
func TestMFA(t *testing.T) {
	t.Parallel()
	srv := newOktaServer(t)
	for i := range 60 {
		var fs []string
		switch i % 3 {
		case 1:
			fs = []string{"ACTIVE"}
		case 2:
			fs = []string{"PENDING_ACTIVATION"}
		}
		srv.addUser(uid(i), "ACTIVE", fs...)
	}
	srv.addFault(&fault{match: func(r *http.Request) bool {
		return r.URL.Path == "/api/v1/users/"+uid(40)+"/factors"
	}, times: 1, status: http.StatusServiceUnavailable, body: oktaError(503)})
	e, _, store := engine(t, srv, map[string]string{"mfa": "true", "groups": "false"})
	res := resyncOnce(t, e)
	require.Equal(t, resync.ConnSucceeded, res.Status, res.Error)
	assert.Equal(t, 60, res.Added)
	// Three users pages, 60 factors requests, and the page with the
	// failed one again: its users request, and that user's factors.
	assert.Equal(t, 3+60+2, srv.Requests())
	assert.Equal(t, 3+1, res.Attempts, "pages of 25, 25 and 10 users, one retried")
	for i := range 60 {
		want := 1
		if i == 40 {
			want = 2
		}
		assert.Equal(t, want, srv.requestsFor("/api/v1/users/"+uid(i)+"/factors", ""), uid(i))
	}
	recs, err := store.Records(t.Context(), resync.RecordQuery{Tenant: "t1", ConnectionID: "okta1"})
	require.NoError(t, err)
	for _, r := range recs {
		id := r.Record.(*resync.Identity)
		n, _ := strconv.Atoi(id.Key[3:])
		want := resync.MFADisabled
		if n%3 == 1 {
			want = resync.MFAEnabled
		}
		assert.Equal(t, want, id.MFA, id.Key)
	}
}

// TestMFAPacing: a page whose last factors response leaves less than the
// next page needs (a users request and one per user) above the reserve
// asks the engine to wait for the reset.
func TestMFAPacing(t *testing.T) {
	t.Parallel()
	srv := newOktaServer(t)
	populate(srv, 10)
	c := connect(t, srv, okta.Config{}, "mfa", "true", "groups", "false", "page_size", "5")
	p, err := c.ReadPage(t.Context(), "")
	require.NoError(t, err)
	require.Len(t, p.Records, 5)
	assert.True(t, p.NotBefore.IsZero(), "plenty left")
	srv.mu.Lock()
	srv.limit, srv.used = 40, 28 // the reserve is 40/10 = 4
	end := srv.windowEnd
	srv.mu.Unlock()
	// The users request leaves 11, the factors ones 10 down to 6: the
	// next page's 6 requests would eat into the reserve.
	p, err = c.ReadPage(t.Context(), p.Next)
	require.NoError(t, err)
	require.Len(t, p.Records, 5)
	assert.WithinDuration(t, end, p.NotBefore, 2*time.Second)
	assert.True(t, p.NotBefore.After(time.Now()))
}

// TestSettings: bad settings are permanent invalid-request errors that
// never quote a credential.
func TestSettings(t *testing.T) {
	t.Parallel()
	for name, s := range map[string]map[string]string{
		"no url":      {"token": "t"},
		"http":        {"url": "http://acme.okta.com", "token": "t"},
		"path":        {"url": "https://acme.okta.com/api/v1", "token": "t"},
		"creds":       {"url": "https://u:secret-pw@acme.okta.com", "token": "t"},
		"no token":    {"url": "https://acme.okta.com"},
		"both tokens": {"url": "https://acme.okta.com", "token": "secret-pw", "access_token": "secret-pw"},
		"unknown":     {"url": "https://acme.okta.com", "token": "t", "limit": "3"},
		"page size":   {"url": "https://acme.okta.com", "token": "t", "page_size": "201"},
		"members":     {"url": "https://acme.okta.com", "token": "t", "member_page_size": "0"},
		"mfa":         {"url": "https://acme.okta.com", "token": "t", "mfa": "sometimes"},
	} {
		_, err := okta.New(resync.Connection{ID: "c", Settings: s}, okta.Config{})
		require.Error(t, err, name)
		assert.ErrorIs(t, err, resync.ErrInvalidRequest, name)
		assert.True(t, resync.IsPermanent(err), name)
		assert.NotContains(t, err.Error(), "secret-pw", name)
	}
}

// TestSecretReference: the token may be a secret reference, resolved
// through the engine's Config.Secrets.
func TestSecretReference(t *testing.T) {
	t.Parallel()
	srv := newOktaServer(t)
	populate(srv, 2)
	src := resynctest.NewSource()
	src.Add(resync.Connection{ID: "okta1", Tenant: "t1", Type: resync.IdP, Provider: "okta",
		Settings: map[string]string{"url": srv.orgURL(), "token": "secret:vault/okta", "groups": "false"}})
	e, err := resync.New(t.Context(), resync.Config{Store: memstore.New(), Connections: src, Authorizer: resynctest.AllowAll,
		Secrets: func(_ context.Context, ref string) (string, error) {
			if ref == "vault/okta" {
				return testToken, nil
			}
			return "", resync.ErrNotFound
		},
		Connectors: map[string]resync.ConnectorFactory{"okta": okta.NewFactory(okta.Config{HTTPClient: srv.Client()})}})
	require.NoError(t, err)
	defer func() { require.NoError(t, e.Close(context.Background())) }()
	res := resyncOnce(t, e)
	require.Equal(t, resync.ConnSucceeded, res.Status, res.Error)
	assert.Equal(t, 2, res.Added)
}
