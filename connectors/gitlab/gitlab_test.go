package gitlab_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openresync/resync"
	"github.com/openresync/resync/connectors/gitlab"
	"github.com/openresync/resync/memstore"
	"github.com/openresync/resync/resynctest"
)

func settings(srv *glServer, kv ...string) map[string]string {
	s := map[string]string{"base_url": srv.baseURL(), "token": testToken, "group": "acme/platform"}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			delete(s, kv[i])
		} else {
			s[kv[i]] = kv[i+1]
		}
	}
	return s
}

func connect(t testing.TB, srv *glServer, kv ...string) resync.Connector {
	t.Helper()
	c, err := gitlab.New(resync.Connection{ID: "gl1", Type: resync.VersionControl, Provider: "gitlab",
		Settings: settings(srv, kv...)}, gitlab.Config{HTTPClient: srv.Client()})
	require.NoError(t, err)
	return c
}

func readAll(t testing.TB, c resync.Connector) map[string]resync.Record {
	t.Helper()
	out := map[string]resync.Record{}
	for cursor, n := "", 0; ; n++ {
		p, err := c.ReadPage(t.Context(), cursor)
		require.NoError(t, err)
		for _, r := range p.Records {
			var k string
			switch r := r.(type) {
			case *resync.Account:
				k = "account/" + r.Key
			case *resync.Group:
				k = "group/" + r.Key
			}
			require.NotContains(t, out, k, "read twice")
			out[k] = r
		}
		if cursor = p.Next; cursor == "" {
			return out
		}
		require.Less(t, n, 10000)
	}
}

func id(n int64) string { return strconv.FormatInt(n, 10) }

// TestConformance runs the connector contract suite, the fault checks
// included, on a group's members and on an instance's users.
func TestConformance(t *testing.T) {
	t.Parallel()
	srv := newGLServer(t)
	srv.addUsers(0, 23) // 12 members (every other one), 23 users
	for name, tc := range map[string]struct {
		kv   []string
		want int
	}{
		"group":       {nil, 12 + 1},
		"users":       {[]string{"group", "", "users", "true"}, 23},
		"group+users": {[]string{"users", "true"}, 23 + 1},
	} {
		t.Run(name, func(t *testing.T) {
			resynctest.TestConnector(t, func(t *testing.T) resync.Connector {
				return connect(t, srv, append([]string{"page_size", "5"}, tc.kv...)...)
			}, resynctest.ConnectorOptions{WantRecords: tc.want, Fail: srv.Fail, Requests: srv.Requests})
		})
	}
}

// TestRecords checks the mapping of members and of users.
func TestRecords(t *testing.T) {
	t.Parallel()
	srv := newGLServer(t)
	srv.addUsers(0, 12)
	srv.edit(func(s *glServer) {
		s.users[0].Admin = true
		s.users[2].State = "blocked"
		s.users[3].Bot = true
		s.users[4].State = "deactivated"
	})
	recs := readAll(t, connect(t, srv, "page_size", "4"))
	require.Len(t, recs, 6+1)
	owner := recs["account/100"].(*resync.Account)
	assert.Equal(t, "user0", owner.Username)
	assert.Equal(t, "USER0", owner.DisplayName)
	assert.Equal(t, []string{"owner"}, owner.Roles)
	assert.Equal(t, resync.StatusActive, owner.Status)
	assert.Equal(t, "saml-0", owner.ExternalID)
	assert.Equal(t, resync.MFAUnknown, owner.MFA, "members/all does not say")
	assert.Equal(t, map[string]string{"state": "active", "access_level": "50", "group_role": "owner", "saml_provider": "group_saml"}, owner.Attributes)
	blocked := recs["account/102"].(*resync.Account)
	assert.Equal(t, []string{"developer"}, blocked.Roles)
	assert.Equal(t, resync.StatusSuspended, blocked.Status)
	assert.Equal(t, "blocked", blocked.Attributes["state"])
	g := recs["group/4242"].(*resync.Group)
	assert.Equal(t, "acme/platform", g.Name)
	assert.Equal(t, []string{"100", "102", "104", "106", "108", "110"}, g.Members)

	recs = readAll(t, connect(t, srv, "page_size", "5", "users", "true"))
	require.Len(t, recs, 12+1)
	admin := recs["account/100"].(*resync.Account)
	assert.Equal(t, []string{"instance_admin", "owner"}, admin.Roles)
	assert.Equal(t, resync.MFADisabled, admin.MFA) // 0%5 == 0
	assert.Equal(t, "user0@example.com", admin.OwnerEmail)
	assert.Equal(t, time.Date(2026, 11, 19, 8, 0, 0, 0, time.UTC), admin.LastLogin.UTC())
	assert.Equal(t, map[string]time.Time{"last_activity": time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)}, admin.LastUsed)
	assert.Equal(t, "saml-0", admin.Attributes["identity:saml"])
	u1 := recs["account/101"].(*resync.Account)
	assert.Empty(t, u1.Roles, "not a member of the group")
	assert.Equal(t, resync.MFAEnabled, u1.MFA)
	assert.Equal(t, resync.AccountTypeService, recs["account/103"].(*resync.Account).Type)
	deact := recs["account/104"].(*resync.Account)
	assert.Equal(t, resync.StatusSuspended, deact.Status)
	assert.Equal(t, "deactivated", deact.Attributes["state"])
}

func engineFor(t *testing.T, srv *glServer, kv ...string) (*resync.Engine, *memstore.Store) {
	t.Helper()
	src := resynctest.NewSource()
	src.Add(resync.Connection{ID: "gl1", Tenant: "t1", Type: resync.VersionControl, Provider: "gitlab", Settings: settings(srv, kv...)})
	store := memstore.New()
	e, err := resync.New(t.Context(), resync.Config{Store: store, Connections: src, Authorizer: resynctest.AllowAll,
		Retry:           resync.RetryPolicy{InitialInterval: time.Millisecond, MaxInterval: time.Millisecond},
		MinReadInterval: -1,
		Connectors:      map[string]resync.ConnectorFactory{"gitlab": gitlab.NewFactory(gitlab.Config{HTTPClient: srv.Client()})}})
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

// TestManyUsers reads an instance of 2,100 users and a group of 1,050
// members through an engine: every user once, with state, 2FA and the
// group role, in the fewest requests GitLab's API allows for these fields.
func TestManyUsers(t *testing.T) {
	t.Parallel()
	srv := newGLServer(t)
	srv.addUsers(0, 2100)
	e, store := engineFor(t, srv, "users", "true")
	res := resyncOnce(t, e)
	require.Equal(t, resync.ConnSucceeded, res.Status, res.Error)
	assert.Equal(t, 2100+1, res.Added)
	recs, err := store.Records(t.Context(), resync.RecordQuery{Tenant: "t1", ConnectionID: "gl1"})
	require.NoError(t, err)
	owners, off := 0, 0
	for _, r := range recs {
		if a, ok := r.Record.(*resync.Account); ok {
			n, _ := strconv.Atoi(a.Key)
			n -= 100
			assert.Equal(t, n%5 == 0, a.MFA == resync.MFADisabled, a.Key)
			if slices.Contains(a.Roles, "owner") {
				owners++
			}
			if a.MFA == resync.MFADisabled {
				off++
			}
		}
	}
	assert.Equal(t, 210, owners)
	assert.Equal(t, 420, off)
	// The minimum: the group (its id and name), its 1,050 members at 100 a
	// page, the 2,100 users at 100 a page.
	assert.Equal(t, 1+11+21, srv.Requests(), "requests per read")
	assert.Equal(t, 1+11+21, res.Attempts)
}

// TestThrottle: GitLab answers a page 429 with Retry-After and its
// RateLimit-* fields; the read waits the advertised time and finishes with
// every user once.
func TestThrottle(t *testing.T) {
	t.Parallel()
	srv := newGLServer(t)
	srv.addUsers(0, 2000)
	var hit atomic.Bool
	srv.setHook(func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path == "/api/v4/users" && r.URL.Query().Get("cursor") == "" {
			return false
		}
		if r.URL.Path == "/api/v4/users" && parseKeyset(r.URL.Query().Get("cursor")) == 100+699 && !hit.Swap(true) {
			rateHeaders(w.Header(), 2000, 2000, time.Now().Add(2*time.Second))
			w.Header().Set("Retry-After", "1")
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(http.StatusTooManyRequests)
			fmt.Fprint(w, "Retry later\n")
			return true
		}
		return false
	})
	e, _ := engineFor(t, srv, "group", "", "users", "true")
	start := time.Now()
	res := resyncOnce(t, e)
	require.Equal(t, resync.ConnSucceeded, res.Status, res.Error)
	require.True(t, hit.Load())
	assert.GreaterOrEqual(t, time.Since(start), time.Second, "waited for Retry-After")
	assert.Equal(t, 2000, res.Added, "no gap")
	assert.Equal(t, 2000, res.Read, "no duplicate")
	assert.Equal(t, 20+1, srv.Requests(), "the throttled page once more")
}

// TestSlowDown: with little of the quota left, a page asks the engine to
// wait, sharing the time to the reset among the requests left.
func TestSlowDown(t *testing.T) {
	t.Parallel()
	srv := newGLServer(t)
	srv.addUsers(0, 30)
	c := connect(t, srv, "page_size", "5")
	p, err := c.ReadPage(t.Context(), "")
	require.NoError(t, err)
	assert.True(t, p.NotBefore.IsZero())
	srv.edit(func(s *glServer) { s.observed = s.limit - 10; s.reset = time.Now().Add(50 * time.Second) })
	p, err = c.ReadPage(t.Context(), p.Next)
	require.NoError(t, err)
	wait := time.Until(p.NotBefore)
	assert.Greater(t, wait, 2*time.Second, "50 s over 9 left + 1")
	assert.Less(t, wait, 7*time.Second)
}

// TestAuthFailure: a revoked token fails the read permanently after one
// request, and its error does not carry the token.
func TestAuthFailure(t *testing.T) {
	t.Parallel()
	srv := newGLServer(t)
	srv.addUsers(0, 5)
	const revoked = "glpat-revokedrevokedrevoked"
	before := srv.Requests()
	_, err := connect(t, srv, "token", revoked).ReadPage(t.Context(), "")
	require.Error(t, err)
	assert.True(t, resync.IsPermanent(err), err)
	assert.Contains(t, err.Error(), "401 Unauthorized")
	assert.NotContains(t, err.Error(), revoked)
	assert.Equal(t, 1, srv.Requests()-before)

	e, store := engineFor(t, srv, "token", revoked)
	res := resyncOnce(t, e)
	assert.Equal(t, resync.ConnFailed, res.Status)
	assert.Equal(t, 1, res.Attempts)
	assert.NotContains(t, res.Error, revoked)
	recs, err := store.Records(t.Context(), resync.RecordQuery{Tenant: "t1", ConnectionID: "gl1"})
	require.NoError(t, err)
	assert.Empty(t, recs)

	// An unknown group is permanent too.
	_, err = connect(t, srv, "group", "acme/nope").ReadPage(t.Context(), "")
	require.Error(t, err)
	assert.True(t, resync.IsPermanent(err), err)
	assert.Contains(t, err.Error(), "404 Group Not Found")
}

// TestServerError: a 500 on page 4 of the members is retried by the
// engine, and only that page is requested again.
func TestServerError(t *testing.T) {
	t.Parallel()
	srv := newGLServer(t)
	srv.addUsers(0, 1000)
	var hit atomic.Int32
	srv.setHook(func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Query().Get("page") == "4" && hit.Add(1) <= 2 {
			glError(w, http.StatusInternalServerError, "500 Internal Server Error")
			return true
		}
		return false
	})
	e, _ := engineFor(t, srv)
	res := resyncOnce(t, e)
	require.Equal(t, resync.ConnSucceeded, res.Status, res.Error)
	assert.Equal(t, 500+1, res.Added)
	for p := 1; p <= 5; p++ {
		want := 1
		if p == 4 {
			want = 3
		}
		assert.Equal(t, want, srv.requestsFor(fmt.Sprintf("/api/v4/groups/4242/members/all?page=%d&per_page=100", p)), "page %d", p)
	}
	assert.Equal(t, 1, srv.requestsFor("/api/v4/groups/acme%2Fplatform?with_projects=false"))
}

// TestChanges: between two resyncs an administrator deactivates one user,
// deletes one and creates one, and one member leaves the group: exactly
// those changes reach the change log, with the statuses mapped.
func TestChanges(t *testing.T) {
	t.Parallel()
	srv := newGLServer(t)
	ids := srv.addUsers(0, 300)
	e, _ := engineFor(t, srv, "users", "true")
	res := resyncOnce(t, e)
	require.Equal(t, resync.ConnSucceeded, res.Status, res.Error)
	require.Equal(t, 300+1, res.Added)

	deactivated, deleted, left := ids[7], ids[9], ids[22]
	srv.edit(func(s *glServer) {
		s.user(deactivated).State = "deactivated"
		s.users = slices.DeleteFunc(s.users, func(u *glUser) bool { return u.ID == deleted })
		s.users = append(s.users, &glUser{ID: 9000, Username: "newcomer", State: "active", TwoFA: true})
		delete(s.members, left)
	})
	res = resyncOnce(t, e)
	require.Equal(t, resync.ConnSucceeded, res.Status, res.Error)
	changes, err := e.Changes(t.Context(), "t1", resync.Principal{ID: "admin"}, resync.ChangeQuery{ConnectionID: "gl1", AfterSeq: 301})
	require.NoError(t, err)
	got := map[string]resync.ChangeLogEntry{}
	for _, c := range changes {
		got[string(c.Op)+" "+string(c.Kind)+" "+c.Key] = c
	}
	var keys []string
	for k := range got {
		keys = append(keys, k)
	}
	assert.ElementsMatch(t, []string{"update account " + id(deactivated), "remove account " + id(deleted),
		"add account 9000", "update account " + id(left), "update group 4242"}, keys)
	d := got["update account "+id(deactivated)]
	assert.Equal(t, resync.StatusActive, d.Before.(*resync.Account).Status)
	assert.Equal(t, resync.StatusSuspended, d.After.(*resync.Account).Status)
	assert.Equal(t, "deactivated", d.After.(*resync.Account).Attributes["state"])
	l := got["update account "+id(left)]
	assert.Equal(t, []string{"developer"}, l.Before.(*resync.Account).Roles)
	assert.Empty(t, l.After.(*resync.Account).Roles)
}

// TestSettings: bad settings are permanent errors naming the setting,
// never quoting the token.
func TestSettings(t *testing.T) {
	t.Parallel()
	for name, s := range map[string]map[string]string{
		"no token":    {"group": "g"},
		"nothing":     {"token": "secret-tok"},
		"http":        {"group": "g", "token": "secret-tok", "base_url": "http://gitlab.example.com/api/v4/"},
		"page size":   {"group": "g", "token": "secret-tok", "page_size": "0"},
		"unknown":     {"group": "g", "token": "secret-tok", "admin": "true"},
		"bad users":   {"group": "g", "token": "secret-tok", "users": "yes please"},
		"bad group":   {"group": "g?x=1", "token": "secret-tok"},
		"dotdot path": {"group": "a/../b", "token": "secret-tok"},
	} {
		_, err := gitlab.New(resync.Connection{ID: "gl1", Settings: s}, gitlab.Config{})
		require.Error(t, err, name)
		assert.ErrorIs(t, err, resync.ErrInvalidRequest, name)
		assert.True(t, resync.IsPermanent(err), name)
		assert.NotContains(t, err.Error(), "secret-tok", name)
	}
}

// TestCheckHealth: the group, and for "users" an administrator's token,
// each checked with one request.
func TestCheckHealth(t *testing.T) {
	t.Parallel()
	srv := newGLServer(t)
	srv.addUsers(0, 3)
	check := func(kv ...string) error {
		return connect(t, srv, kv...).(resync.HealthChecker).CheckHealth(t.Context())
	}
	before := srv.Requests()
	require.NoError(t, check())
	assert.Equal(t, 1, srv.Requests()-before)
	err := check("group", "acme/nope")
	require.Error(t, err)
	assert.True(t, resync.IsPermanent(err), err)

	err = check("group", "", "users", "true")
	require.Error(t, err)
	assert.True(t, resync.IsPermanent(err), err)
	assert.Contains(t, err.Error(), "not an administrator")
	srv.edit(func(s *glServer) { s.tokenAdmin = true })
	before = srv.Requests()
	require.NoError(t, check("users", "true"))
	assert.Equal(t, 2, srv.Requests()-before, "the group and the user")
}

// TestUsersNeedAdmin: GET /users answered with the public fields only (a
// token that is not an administrator's) fails the read permanently rather
// than report every user without 2FA.
func TestUsersNeedAdmin(t *testing.T) {
	t.Parallel()
	srv := newGLServer(t)
	srv.addUsers(0, 5)
	srv.edit(func(s *glServer) { s.publicView = true })
	_, err := connect(t, srv, "group", "", "users", "true").ReadPage(t.Context(), "")
	require.Error(t, err)
	assert.True(t, resync.IsPermanent(err), err)
	assert.Contains(t, err.Error(), "administrator")
}

// TestRateLimitReset: a 429 without Retry-After waits until
// RateLimit-Reset (a Unix time, measured against the response's Date).
func TestRateLimitReset(t *testing.T) {
	t.Parallel()
	srv := newGLServer(t)
	srv.addUsers(0, 5)
	h := http.Header{}
	rateHeaders(h, 2000, 2000, time.Now().Add(30*time.Second))
	srv.Fail(resynctest.ProviderFault{Page: 1, Status: http.StatusTooManyRequests, Header: h})
	before := srv.Requests()
	_, err := connect(t, srv).ReadPage(t.Context(), "")
	require.Error(t, err)
	d, ok := resync.RetryDelay(err)
	require.True(t, ok, err)
	assert.InDelta(t, 30, d.Seconds(), 2)
	assert.Equal(t, 1, srv.Requests()-before)
}
