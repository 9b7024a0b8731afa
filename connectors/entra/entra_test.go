package entra_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openresync/resync"
	"github.com/openresync/resync/connectors/entra"
	"github.com/openresync/resync/memstore"
	"github.com/openresync/resync/resynctest"
)

func uid(i int) string { return fmt.Sprintf("%08x-14a6-49ae-97bc-6eba6914391e", i) }

func settings(srv *graphServer, kv ...string) map[string]string {
	s := map[string]string{"tenant_id": testTenant, "client_id": testClientID, "client_secret": testSecret,
		"authority": srv.URL, "graph_url": srv.URL}
	for i := 0; i+1 < len(kv); i += 2 {
		s[kv[i]] = kv[i+1]
	}
	return s
}

func connect(t testing.TB, srv *graphServer, cfg entra.Config, kv ...string) resync.Connector {
	t.Helper()
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = srv.Client()
	}
	c, err := entra.New(resync.Connection{ID: "entra1", Type: resync.IdP, Provider: "entra", Settings: settings(srv, kv...)}, cfg)
	require.NoError(t, err)
	return c
}

// populate adds n users: every fifth disabled, every third with MFA
// registered, every seventh not in the report; and returns their ids.
func populate(srv *graphServer, n int) []string {
	var ids []string
	for i := range n {
		mfa := i%3 == 0
		u := fakeUser{ID: uid(i), Name: fmt.Sprintf("User %d", i), Mail: fmt.Sprintf("u%d@contoso.com", i),
			Enabled: i%5 != 0, MFA: &mfa, LastSignIn: time.Date(2026, 11, 30, 9, 0, i%60, 0, time.UTC)}
		if i%7 == 0 {
			u.MFA = nil
		}
		srv.addUser(u)
		ids = append(ids, u.ID)
	}
	return ids
}

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

// TestConformance runs the connector contract suite with the fault checks
// against the fake tenant: the report, users, deleted users and groups
// each over several pages.
func TestConformance(t *testing.T) {
	t.Parallel()
	srv := newGraphServer(t)
	srv.reportPage = 6
	ids := populate(srv, 23)
	srv.addUser(fakeUser{ID: uid(900), Name: "Gone", Mail: "gone@contoso.com", Deleted: true})
	srv.addGroup("g-0001", "Engineering", ids[:9]...)
	srv.addGroup("g-0002", "Everyone", append([]string{"g-0001"}, ids[9:]...)...)
	srv.addGroup("g-0003", "Empty")
	resynctest.TestConnector(t, func(t *testing.T) resync.Connector {
		return connect(t, srv, entra.Config{}, "page_size", "5")
	}, resynctest.ConnectorOptions{WantRecords: 24 + 3, Fail: srv.Fail, Requests: srv.Requests})
}

// TestMapping: accountEnabled, deletion, MFA from the report,
// signInActivity and the other fields are mapped; a group's transitive
// members are its users and its nested groups' users.
func TestMapping(t *testing.T) {
	t.Parallel()
	srv := newGraphServer(t)
	ids := populate(srv, 10)
	srv.addUser(fakeUser{ID: uid(900), Name: "Gone", Mail: "gone@contoso.com", Enabled: true, Deleted: true})
	srv.addGroup("g-1", "Inner", ids[1], ids[2])
	srv.addGroup("g-2", "Outer", ids[3], "g-1")
	recs, _ := readAll(t, connect(t, srv, entra.Config{}))
	require.Len(t, recs, 13)
	u0 := recs["identity/"+uid(0)].(*resync.Identity)
	assert.Equal(t, resync.StatusSuspended, u0.Status, "accountEnabled false")
	assert.Equal(t, "false", u0.Attributes["accountEnabled"])
	assert.Equal(t, resync.MFAUnknown, u0.MFA, "not in the report")
	u3 := recs["identity/"+uid(3)].(*resync.Identity)
	assert.Equal(t, resync.StatusActive, u3.Status)
	assert.Equal(t, resync.MFAEnabled, u3.MFA)
	assert.Equal(t, "u3@contoso.com", u3.Email)
	assert.Equal(t, "User 3", u3.Name)
	assert.Equal(t, "E"+uid(3)[:4], u3.EmployeeID)
	assert.Equal(t, "Engineer", u3.Title)
	assert.Equal(t, "R&D", u3.Department)
	assert.Equal(t, "u3@contoso.com", u3.Attributes["userPrincipalName"])
	assert.Equal(t, time.Date(2026, 11, 30, 9, 0, 3, 0, time.UTC), u3.LastLogin)
	assert.Equal(t, resync.MFADisabled, recs["identity/"+uid(4)].(*resync.Identity).MFA)
	gone := recs["identity/"+uid(900)].(*resync.Identity)
	assert.Equal(t, resync.StatusDeprovisioned, gone.Status)
	assert.Equal(t, "2026-11-20T08:00:00Z", gone.Attributes["deletedDateTime"])
	assert.ElementsMatch(t, []string{ids[1], ids[2], ids[3]}, recs["group/g-2"].(*resync.Group).Members, "nested users, not the nested group")
	assert.Equal(t, "Outer", recs["group/g-2"].(*resync.Group).Name)
}

// TestUnlicensed: a tenant without Entra ID P1/P2 refuses signInActivity
// and the registration report with 403
// Authentication_RequestFromNonPremiumTenantOrB2CTenant. With the
// default "auto" the read goes on without them (one request more each);
// with "true" the read fails permanently, saying why.
func TestUnlicensed(t *testing.T) {
	t.Parallel()
	srv := newGraphServer(t)
	populate(srv, 30)
	srv.licensed = false
	before := srv.Requests()
	recs, _ := readAll(t, connect(t, srv, entra.Config{}, "groups", "false", "deleted_users", "false"))
	require.Len(t, recs, 30)
	for _, r := range recs {
		id := r.(*resync.Identity)
		assert.Equal(t, resync.MFAUnknown, id.MFA)
		assert.True(t, id.LastLogin.IsZero())
	}
	assert.Equal(t, 1+1+1, srv.Requests()-before, "report refused, users refused, users without signInActivity")

	for _, setting := range []string{"mfa", "sign_in_activity"} {
		c := connect(t, srv, entra.Config{}, setting, "true", "groups", "false")
		_, err := readAll2(c)
		require.Error(t, err, setting)
		assert.True(t, resync.IsPermanent(err), setting)
		var ge *entra.Error
		require.ErrorAs(t, err, &ge, setting)
		assert.Equal(t, "Authentication_RequestFromNonPremiumTenantOrB2CTenant", ge.Code)
		assert.Contains(t, err.Error(), "premium license")
	}
}

// readAll2 reads every page and returns the first error.
func readAll2(c resync.Connector) (int, error) {
	n := 0
	for cursor := ""; ; {
		p, err := c.ReadPage(context.Background(), cursor)
		if err != nil {
			return n, err
		}
		n += len(p.Records)
		if cursor = p.Next; cursor == "" {
			return n, nil
		}
	}
}

func engine(t *testing.T, srv *graphServer, kv ...string) (*resync.Engine, resync.Store) {
	t.Helper()
	src := resynctest.NewSource()
	src.Add(resync.Connection{ID: "entra1", Tenant: "t1", Type: resync.IdP, Provider: "entra", Settings: settings(srv, kv...)})
	store := memstore.New()
	e, err := resync.New(t.Context(), resync.Config{Store: store, Connections: src, Authorizer: resynctest.AllowAll,
		Retry:           resync.RetryPolicy{InitialInterval: time.Millisecond, MaxInterval: time.Millisecond},
		MinReadInterval: -1, // two resyncs in a row read twice
		Connectors:      map[string]resync.ConnectorFactory{"entra": entra.NewFactory(entra.Config{HTTPClient: srv.Client()})}})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, e.Close(context.Background())) })
	return e, store
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

// TestManyUsers reads 2,100 users, the registration report and three
// groups (one of 2,100 members) through the engine, in the fewest
// requests Graph allows for the fields read: one token; the report at its
// own page size (500: 1,800 entries, as a seventh of the users are not
// in it, in 4 pages); users at 120 a page with signInActivity
// (18 pages); one page of deleted users; one groups page; members at 999
// a page (3 + 1 + 1).
func TestManyUsers(t *testing.T) {
	t.Parallel()
	srv := newGraphServer(t)
	ids := populate(srv, 2100)
	srv.addGroup("g-all", "Everyone", ids...)
	srv.addGroup("g-eng", "Engineering", ids[100:350]...)
	srv.addGroup("g-none", "Nobody")
	e, store := engine(t, srv)
	res := resyncOnce(t, e)
	require.Equal(t, resync.ConnSucceeded, res.Status, res.Error)
	assert.Equal(t, 2103, res.Added)
	assert.Equal(t, 4+18+1+1+(3+1+1), srv.Requests(), "requests per read: the minimum")
	assert.Equal(t, 1, srv.tokenCount(), "one token for the read")
	recs, err := store.Records(t.Context(), resync.RecordQuery{Tenant: "t1", ConnectionID: "entra1"})
	require.NoError(t, err)
	require.Len(t, recs, 2103)
	byKey := map[string]resync.Record{}
	for _, r := range recs {
		byKey[string(r.Kind)+"/"+r.Key] = r.Record
	}
	assert.ElementsMatch(t, ids, byKey[string(resync.KindGroup)+"/g-all"].(*resync.Group).Members)
	assert.ElementsMatch(t, ids[100:350], byKey[string(resync.KindGroup)+"/g-eng"].(*resync.Group).Members)
	assert.Equal(t, resync.MFAEnabled, byKey[string(resync.KindIdentity)+"/"+uid(2001)].(*resync.Identity).MFA)

	// Without signInActivity the users come 999 a page: 3 pages.
	srv.mu.Lock()
	srv.graphRequests = 0
	srv.mu.Unlock()
	n, err := readAll2(connect(t, srv, entra.Config{}, "sign_in_activity", "false"))
	require.NoError(t, err)
	assert.Equal(t, 2103, n)
	assert.Equal(t, 4+3+1+1+(3+1+1), srv.Requests())
}

// TestThrottleMidRead: Graph answers the third users page with 429 and
// Retry-After: 1; the engine waits that long, asks for the page again,
// and the read ends with every user once.
func TestThrottleMidRead(t *testing.T) {
	t.Parallel()
	srv := newGraphServer(t)
	ids := populate(srv, 600)
	skip := "" // the third page of 120 starts after the 240th user
	{
		_, next := pageOfIDs(ids, 240)
		skip = next
	}
	srv.addFault(&fault{match: func(r *http.Request) bool {
		return r.URL.Path == "/v1.0/users" && r.URL.Query().Get("$skiptoken") == skip
	}, times: 1, status: http.StatusTooManyRequests, header: http.Header{"Retry-After": {"1"}}, body: graphError(429, "")})
	e, store := engine(t, srv, "groups", "false", "deleted_users", "false")
	start := time.Now()
	res := resyncOnce(t, e)
	require.Equal(t, resync.ConnSucceeded, res.Status, res.Error)
	assert.GreaterOrEqual(t, time.Since(start), time.Second, "waited for Retry-After")
	assert.Equal(t, 600, res.Added)
	assert.Equal(t, 2, srv.requestsFor("/v1.0/users", skip), "the throttled page, asked again")
	assert.Equal(t, 1, srv.requestsFor("/v1.0/users", ""))
	recs, err := store.Records(t.Context(), resync.RecordQuery{Tenant: "t1", ConnectionID: "entra1"})
	require.NoError(t, err)
	assert.Len(t, recs, 600, "no gap, no duplicate")
}

// pageOfIDs is the skiptoken of the page after the first n ids.
func pageOfIDs(ids []string, n int) ([]string, string) {
	return pageOf(append([]string(nil), ids...), "", n)
}

// TestServerErrorRereadsOnePage: a 503 with Retry-After on the second
// report page and a 500 on the second users page make the engine read
// those pages again, and only those.
func TestServerErrorRereadsOnePage(t *testing.T) {
	t.Parallel()
	srv := newGraphServer(t)
	srv.reportPage = 10
	ids := populate(srv, 40)
	_, skip10 := pageOfIDs(ids, 10)
	srv.addFault(&fault{match: func(r *http.Request) bool {
		return r.URL.Path == "/v1.0/users" && r.URL.Query().Get("$skiptoken") == skip10
	}, times: 1, status: http.StatusInternalServerError, body: graphError(500, "")})
	var inReport []string
	for i, id := range ids {
		if i%7 != 0 {
			inReport = append(inReport, id)
		}
	}
	_, rskip := pageOfIDs(inReport, 10)
	srv.addFault(&fault{match: func(r *http.Request) bool {
		return r.URL.Path == "/v1.0/reports/authenticationMethods/userRegistrationDetails" && r.URL.Query().Get("$skiptoken") == rskip
	}, times: 1, status: http.StatusServiceUnavailable, header: http.Header{"Retry-After": {"0"}}, body: graphError(503, "")})
	e, _ := engine(t, srv, "page_size", "10", "groups", "false", "deleted_users", "false")
	res := resyncOnce(t, e)
	require.Equal(t, resync.ConnSucceeded, res.Status, res.Error)
	assert.Equal(t, 40, res.Added)
	assert.Equal(t, 2, srv.requestsFor("/v1.0/users", skip10))
	assert.Equal(t, 2, srv.requestsFor("/v1.0/reports/authenticationMethods/userRegistrationDetails", rskip))
	// The report: 34 entries, 4 pages of 10; users: 4 pages of 10; one retry each.
	assert.Equal(t, 4+4+2, srv.Requests())
}

// TestAuthFailure: a wrong client secret fails permanently after exactly
// one request, to the token endpoint, none to Graph; neither the error
// nor the log has the secret. A token Graph refuses is renewed once, then
// the 401 is permanent.
func TestAuthFailure(t *testing.T) {
	t.Parallel()
	srv := newGraphServer(t)
	populate(srv, 3)
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	wrong := "wrong~client-secret-8d1f2a"
	c := connect(t, srv, entra.Config{Logger: logger}, "client_secret", wrong)
	_, err := c.ReadPage(t.Context(), "")
	require.Error(t, err)
	assert.True(t, resync.IsPermanent(err))
	assert.Equal(t, 1, srv.tokenCount())
	assert.Equal(t, 0, srv.Requests())
	var ge *entra.Error
	require.ErrorAs(t, err, &ge)
	assert.Equal(t, "invalid_client", ge.Code)
	assert.Contains(t, err.Error(), "AADSTS7000215")
	assert.NotContains(t, err.Error(), wrong)
	require.NotEmpty(t, logs.String())
	assert.NotContains(t, logs.String(), wrong)
	assert.Error(t, c.(resync.HealthChecker).CheckHealth(t.Context()))

	// Graph refuses every token: one renewal, then permanent.
	srv.addFault(&fault{match: func(r *http.Request) bool { return true }, times: 2, status: http.StatusUnauthorized,
		body: graphError(401, "")})
	tokens, graphReqs := srv.tokenCount(), srv.Requests()
	_, err = connect(t, srv, entra.Config{}).ReadPage(t.Context(), "")
	require.Error(t, err)
	assert.True(t, resync.IsPermanent(err))
	require.ErrorAs(t, err, &ge)
	assert.Equal(t, "InvalidAuthenticationToken", ge.Code)
	assert.Equal(t, 2, srv.tokenCount()-tokens, "a token, and one renewal")
	assert.Equal(t, 2, srv.Requests()-graphReqs)
}

// TestChangesBetweenResyncs: between two resyncs one user is disabled,
// one deleted for good and one created; the change log of the second
// has exactly those three changes, the status mapped.
func TestChangesBetweenResyncs(t *testing.T) {
	t.Parallel()
	srv := newGraphServer(t)
	for i := range 40 {
		srv.addUser(fakeUser{ID: uid(i), Name: fmt.Sprint(i), Mail: fmt.Sprintf("u%d@contoso.com", i), Enabled: true})
	}
	srv.addGroup("g-1", "Ops", uid(1), uid(2))
	e, _ := engine(t, srv, "page_size", "15")
	res := resyncOnce(t, e)
	require.Equal(t, resync.ConnSucceeded, res.Status, res.Error)
	require.Equal(t, 41, res.Added)
	entries, err := e.Changes(t.Context(), "t1", resync.Principal{ID: "admin"}, resync.ChangeQuery{Limit: 1000})
	require.NoError(t, err)
	after := entries[len(entries)-1].Seq

	srv.update(uid(10), func(u *fakeUser) { u.Enabled = false })
	srv.mu.Lock()
	delete(srv.users, uid(20))
	srv.mu.Unlock()
	srv.addUser(fakeUser{ID: uid(99), Name: "New", Mail: "new@contoso.com", Enabled: true})
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
	assert.Equal(t, resync.StatusSuspended, upd.After.(*resync.Identity).Status)
	_, ok = got[string(resync.OpRemove)+" "+uid(20)]
	assert.True(t, ok, "%v", got)
	_, ok = got[string(resync.OpAdd)+" "+uid(99)]
	assert.True(t, ok, "%v", got)

	// Soft-deleting a user (to deletedItems) deprovisions it: an update.
	srv.update(uid(11), func(u *fakeUser) { u.Deleted = true })
	res = resyncOnce(t, e)
	require.Equal(t, resync.ConnSucceeded, res.Status, res.Error)
	assert.Equal(t, [3]int{0, 1, 0}, [3]int{res.Added, res.Updated, res.Removed})
}

// TestSettings: bad settings are permanent invalid-request errors that
// never quote a credential.
func TestSettings(t *testing.T) {
	t.Parallel()
	base := map[string]string{"tenant_id": testTenant, "client_id": testClientID, "client_secret": "secret-pw"}
	for name, kv := range map[string][]string{
		"no tenant":  {"tenant_id", ""},
		"bad tenant": {"tenant_id", "a/b"},
		"no id":      {"client_id", ""},
		"no secret":  {"client_secret", ""},
		"http graph": {"graph_url", "http://graph.microsoft.com"},
		"graph path": {"graph_url", "https://graph.microsoft.com/v1.0"},
		"authority":  {"authority", "https://u:secret-pw@login.microsoftonline.com"},
		"unknown":    {"top", "3"},
		"page":       {"page_size", "1000"},
		"mfa":        {"mfa", "sometimes"},
		"groups":     {"groups", "maybe"},
	} {
		s := map[string]string{}
		for k, v := range base {
			s[k] = v
		}
		s[kv[0]] = kv[1]
		_, err := entra.New(resync.Connection{ID: "c", Settings: s}, entra.Config{})
		require.Error(t, err, name)
		assert.ErrorIs(t, err, resync.ErrInvalidRequest, name)
		assert.True(t, resync.IsPermanent(err), name)
		assert.NotContains(t, err.Error(), "secret-pw", name)
	}
}

// TestSecretReference: the client secret may be a secret reference.
func TestSecretReference(t *testing.T) {
	t.Parallel()
	srv := newGraphServer(t)
	populate(srv, 2)
	src := resynctest.NewSource()
	src.Add(resync.Connection{ID: "entra1", Tenant: "t1", Type: resync.IdP, Provider: "entra",
		Settings: settings(srv, "client_secret", "secret:vault/entra", "groups", "false")})
	e, err := resync.New(t.Context(), resync.Config{Store: memstore.New(), Connections: src, Authorizer: resynctest.AllowAll,
		Secrets: func(_ context.Context, ref string) (string, error) {
			if ref == "vault/entra" {
				return testSecret, nil
			}
			return "", resync.ErrNotFound
		},
		Connectors: map[string]resync.ConnectorFactory{"entra": entra.NewFactory(entra.Config{HTTPClient: srv.Client()})}})
	require.NoError(t, err)
	defer func() { require.NoError(t, e.Close(context.Background())) }()
	res := resyncOnce(t, e)
	require.Equal(t, resync.ConnSucceeded, res.Status, res.Error)
	assert.Equal(t, 2, res.Added)
}

// TestTokenReuse: one token serves every request of a read until a minute
// before its expires_in (3599 s), on the clock of Config.Now; then a new
// one is asked for.
func TestTokenReuse(t *testing.T) {
	t.Parallel()
	srv := newGraphServer(t)
	populate(srv, 30)
	var mu sync.Mutex
	now := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	clock := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return now
	}
	c := connect(t, srv, entra.Config{Now: clock}, "page_size", "5", "groups", "false")
	p, err := c.ReadPage(t.Context(), "")
	require.NoError(t, err)
	for range 3 {
		p, err = c.ReadPage(t.Context(), p.Next)
		require.NoError(t, err)
	}
	assert.Equal(t, 1, srv.tokenCount())
	mu.Lock()
	now = now.Add(3599*time.Second - time.Minute - time.Second)
	mu.Unlock()
	p, err = c.ReadPage(t.Context(), p.Next)
	require.NoError(t, err)
	assert.Equal(t, 1, srv.tokenCount(), "still valid for over a minute")
	mu.Lock()
	now = now.Add(2 * time.Second)
	mu.Unlock()
	_, err = c.ReadPage(t.Context(), p.Next)
	require.NoError(t, err)
	assert.Equal(t, 2, srv.tokenCount(), "renewed a minute before expiry")
}
