package github_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openresync/resync"
	"github.com/openresync/resync/connectors/github"
	"github.com/openresync/resync/memstore"
	"github.com/openresync/resync/resynctest"
)

func settings(srv *ghServer, kv ...string) map[string]string {
	s := map[string]string{"org": srv.org, "base_url": srv.baseURL(), "token": testToken}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			delete(s, kv[i])
		} else {
			s[kv[i]] = kv[i+1]
		}
	}
	return s
}

func connect(t testing.TB, srv *ghServer, kv ...string) resync.Connector {
	t.Helper()
	c, err := github.New(resync.Connection{ID: "gh1", Type: resync.VersionControl, Provider: "github",
		Settings: settings(srv, kv...)}, github.Config{HTTPClient: srv.Client()})
	require.NoError(t, err)
	return c
}

// appKey makes an app's key pair, registers the public key with srv and
// returns the private key as GitHub hands it out (PKCS #1 PEM).
func appKey(t testing.TB, srv *ghServer) string {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	srv.edit(func(s *ghServer) { s.appKey, s.appID = &k.PublicKey, "123456" })
	return string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}))
}

func appSettings(pemKey string) []string {
	return []string{"token", "", "app_id", "123456", "installation_id", "42", "private_key", pemKey}
}

// readAll reads every page, failing on a record read twice.
func readAll(t testing.TB, c resync.Connector) map[string]resync.Record {
	t.Helper()
	out := map[string]resync.Record{}
	for cursor, n := "", 0; ; n++ {
		p, err := c.ReadPage(t.Context(), cursor)
		require.NoError(t, err)
		for _, r := range p.Records {
			k := fmt.Sprintf("%T/%s", r, key(r))
			require.NotContains(t, out, k, "read twice")
			out[k] = r
		}
		if cursor = p.Next; cursor == "" {
			return out
		}
		require.Less(t, n, 10000)
	}
}

func key(r resync.Record) string {
	switch r := r.(type) {
	case *resync.Account:
		return r.Key
	case *resync.Group:
		return r.Key
	}
	return ""
}

func id(n int64) string { return strconv.FormatInt(n, 10) }

// small is an org of 23 members, 4 outside collaborators and 3 teams.
func small(t testing.TB) *ghServer {
	srv := newGHServer(t)
	m := srv.addMembers(0, 23)
	srv.addCollaborators(4)
	srv.addTeam(1, "eng", m[:9]...)
	srv.addTeam(2, "ops", m[5:8]...)
	srv.addTeam(3, "empty")
	return srv
}

// TestConformance runs the connector contract suite, the fault checks
// included, with a token and as a GitHub App installation.
func TestConformance(t *testing.T) {
	t.Parallel()
	srv := small(t)
	pemKey := appKey(t, srv)
	srv.edit(func(s *ghServer) { s.nameIDs = map[int64]string{1001: "jdoe@idp.example", 1004: "asmith@idp.example"} })
	for name, kv := range map[string][]string{"token": nil, "app": appSettings(pemKey), "saml": {"saml", "true"}} {
		t.Run(name, func(t *testing.T) {
			resynctest.TestConnector(t, func(t *testing.T) resync.Connector {
				return connect(t, srv, append([]string{"page_size", "5"}, kv...)...)
			}, resynctest.ConnectorOptions{WantRecords: 23 + 4 + 3, Fail: srv.Fail, Requests: srv.Requests})
		})
	}
}

// TestRecords checks the mapping: role, 2FA from the 2fa_disabled
// listings, outside collaborators, teams with their members.
func TestRecords(t *testing.T) {
	t.Parallel()
	srv := small(t)
	recs := readAll(t, connect(t, srv, "page_size", "5"))
	require.Len(t, recs, 30)
	admin := recs["*resync.Account/1000"].(*resync.Account) // i=0: admin, 2FA off (0%7)
	assert.Equal(t, "user-0", admin.Username)
	assert.Equal(t, []string{"admin"}, admin.Roles)
	assert.Equal(t, resync.MFADisabled, admin.MFA)
	assert.Equal(t, resync.StatusActive, admin.Status)
	assert.Equal(t, resync.AccountTypeHuman, admin.Type)
	assert.Equal(t, map[string]string{"login": "user-0", "node_id": "MDQ6VXNlcj1000", "type": "User",
		"org_role": "admin", "affiliation": "member", "two_factor": "disabled"}, admin.Attributes)
	m := recs["*resync.Account/1001"].(*resync.Account)
	assert.Equal(t, []string{"member"}, m.Roles)
	assert.Equal(t, resync.MFAEnabled, m.MFA)
	oc := recs["*resync.Account/900000"].(*resync.Account)
	assert.Equal(t, []string{"outside_collaborator"}, oc.Roles)
	assert.Equal(t, resync.MFADisabled, oc.MFA)
	assert.Equal(t, resync.MFAEnabled, recs["*resync.Account/900001"].(*resync.Account).MFA)
	eng := recs["*resync.Group/1"].(*resync.Group)
	assert.Equal(t, "ENG", eng.Name)
	assert.Len(t, eng.Members, 9)
	assert.Contains(t, eng.Members, "1008")
	assert.Empty(t, recs["*resync.Group/3"].(*resync.Group).Members)

	// Without the 2FA listings (a token that is not an owner's cannot use
	// the filter) the state is unknown, and those requests are not made.
	before := srv.Requests()
	recs = readAll(t, connect(t, srv, "page_size", "5", "two_factor", "false", "teams", "false", "outside_collaborators", "false"))
	assert.Len(t, recs, 23)
	assert.Equal(t, resync.MFAUnknown, recs["*resync.Account/1000"].(*resync.Account).MFA)
	assert.Equal(t, 1+4, srv.Requests()-before, "3 admins (1 page), 20 members (4 pages at 5)")
}

// engineFor builds an engine on memstore reading srv as connection gh1 of
// tenant t1.
func engineFor(t *testing.T, srv *ghServer, kv ...string) (*resync.Engine, *memstore.Store) {
	t.Helper()
	src := resynctest.NewSource()
	src.Add(resync.Connection{ID: "gh1", Tenant: "t1", Type: resync.VersionControl, Provider: "github", Settings: settings(srv, kv...)})
	store := memstore.New()
	e, err := resync.New(t.Context(), resync.Config{Store: store, Connections: src, Authorizer: resynctest.AllowAll,
		Retry:           resync.RetryPolicy{InitialInterval: time.Millisecond, MaxInterval: time.Millisecond},
		MinReadInterval: -1,
		Connectors:      map[string]resync.ConnectorFactory{"github": github.NewFactory(github.Config{HTTPClient: srv.Client()})}})
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

func pages(n, per int) int { return max((n+per-1)/per, 1) }

// TestManyMembers reads an org of 2,100 members through an engine: every
// member once, with its role and 2FA state, in the fewest requests GitHub's
// API allows for these fields.
func TestManyMembers(t *testing.T) {
	t.Parallel()
	srv := newGHServer(t)
	ids := srv.addMembers(0, 2100)
	srv.addCollaborators(150)
	for i := range 4 {
		srv.addTeam(int64(10+i), "team-"+strconv.Itoa(i), ids[i*250:i*250+250]...)
	}
	e, store := engineFor(t, srv)
	res := resyncOnce(t, e)
	require.Equal(t, resync.ConnSucceeded, res.Status, res.Error)
	assert.Equal(t, 2100+150+4, res.Added)
	recs, err := store.Records(t.Context(), resync.RecordQuery{Tenant: "t1", ConnectionID: "gh1"})
	require.NoError(t, err)
	admins, off := 0, 0
	for _, r := range recs {
		if a, ok := r.Record.(*resync.Account); ok && a.Attributes["affiliation"] == "member" {
			n, _ := strconv.Atoi(strings.TrimPrefix(a.Username, "user-"))
			assert.Equal(t, n%10 == 0, a.Roles[0] == "admin", a.Username)
			assert.Equal(t, n%7 == 0, a.MFA == resync.MFADisabled, a.Username)
			admins += map[bool]int{true: 1}[a.Roles[0] == "admin"]
			off += map[bool]int{true: 1}[a.MFA == resync.MFADisabled]
		}
	}
	assert.Equal(t, 210, admins)
	assert.Equal(t, 300, off)
	// The minimum for these fields: the 2fa_disabled listing, the admins,
	// the members, the collaborators without 2FA, the collaborators, the
	// teams, and each team's members, at 100 a page.
	minimum := pages(300, 100) + pages(210, 100) + pages(1890, 100) + pages(75, 100) + pages(150, 100) + pages(4, 100) + 4*pages(250, 100)
	assert.Equal(t, 3+3+19+1+2+1+12, minimum)
	assert.Equal(t, minimum, srv.Requests(), "requests per read")
	assert.Equal(t, minimum, res.Attempts)
}

// TestPrimaryRateLimit: GitHub refuses a page with 403 and
// x-ratelimit-remaining 0; the read waits until x-ratelimit-reset and
// finishes with every member once.
func TestPrimaryRateLimit(t *testing.T) {
	t.Parallel()
	srv := newGHServer(t)
	srv.addMembers(0, 2000)
	var hit atomic.Bool
	var resetAt atomic.Int64
	srv.setHook(func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Query().Get("role") == "member" && r.URL.Query().Get("page") == "5" && !hit.Swap(true) {
			reset := time.Now().Add(1500 * time.Millisecond)
			resetAt.Store(reset.UnixMilli())
			w.Header().Set("Date", time.Now().UTC().Format(http.TimeFormat))
			w.Header().Set("x-ratelimit-limit", "5000")
			w.Header().Set("x-ratelimit-remaining", "0")
			w.Header().Set("x-ratelimit-used", "5000")
			w.Header().Set("x-ratelimit-reset", strconv.FormatInt(reset.Unix()+1, 10))
			w.Header().Set("x-ratelimit-resource", "core")
			ghError(w, http.StatusForbidden, "API rate limit exceeded for user ID 1. If you reach out to GitHub Support for help, please include the request ID.",
				"https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-rate-limits")
			return true
		}
		return false
	})
	e, _ := engineFor(t, srv, "two_factor", "false", "teams", "false", "outside_collaborators", "false")
	start := time.Now()
	res := resyncOnce(t, e)
	require.Equal(t, resync.ConnSucceeded, res.Status, res.Error)
	require.True(t, hit.Load())
	assert.GreaterOrEqual(t, time.Since(start), time.Second, "waited for the reset")
	assert.Equal(t, 2000, res.Added, "no gap")
	assert.Equal(t, 2000, res.Read, "no duplicate")
	assert.Equal(t, 2, srv.requestsFor("/api/v3/orgs/octo-org/members?page=5&per_page=100&role=member"))
	assert.Equal(t, 1, srv.requestsFor("/api/v3/orgs/octo-org/members?page=6&per_page=100&role=member"))
}

// TestSecondaryRateLimit: a secondary limit honours Retry-After, and
// without it waits at least a minute; a spent primary quota waits until
// the reset. Each is one request (no retry inside).
func TestSecondaryRateLimit(t *testing.T) {
	t.Parallel()
	srv := small(t)
	secondary := `{"message":"You have exceeded a secondary rate limit. Please wait a few minutes before you try again.","documentation_url":"https://docs.github.com/free-pro-team@latest/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits","status":"403"}`
	for _, tc := range []struct {
		name   string
		header http.Header
		least  time.Duration
		most   time.Duration
	}{
		{"retry-after", http.Header{"Retry-After": {"30"}}, 30 * time.Second, 31 * time.Second},
		{"no retry-after", nil, time.Minute, 2 * time.Minute},
	} {
		srv.Fail(resynctest.ProviderFault{Page: 1, Status: http.StatusForbidden, Header: tc.header, Body: secondary})
		before := srv.Requests()
		_, err := connect(t, srv).ReadPage(t.Context(), "")
		require.Error(t, err, tc.name)
		d, ok := resync.RetryDelay(err)
		require.True(t, ok, "%s: %v", tc.name, err)
		assert.GreaterOrEqual(t, d, tc.least, tc.name)
		assert.LessOrEqual(t, d, tc.most, tc.name)
		assert.Equal(t, 1, srv.Requests()-before, tc.name)
	}
}

// TestSlowDown: while little of the quota is left, pages ask the engine to
// wait (Page.NotBefore), sharing the time to the reset among the requests
// left; with plenty left they do not.
func TestSlowDown(t *testing.T) {
	t.Parallel()
	srv := small(t)
	c := connect(t, srv)
	p, err := c.ReadPage(t.Context(), "")
	require.NoError(t, err)
	assert.True(t, p.NotBefore.IsZero())
	srv.edit(func(s *ghServer) { s.used = s.limit - 10; s.reset = time.Now().Add(100 * time.Second) })
	p, err = c.ReadPage(t.Context(), p.Next)
	require.NoError(t, err)
	wait := time.Until(p.NotBefore)
	assert.Greater(t, wait, 5*time.Second, "100 s over 9 left + 1")
	assert.Less(t, wait, 12*time.Second)
}

// TestAuthFailure: a revoked token fails the read permanently after one
// request, and the error does not carry the token; so does an app whose
// key GitHub does not know.
func TestAuthFailure(t *testing.T) {
	t.Parallel()
	srv := small(t)
	const revoked = "ghp_revokedrevokedrevokedrevoked0000"
	before := srv.Requests()
	_, err := connect(t, srv, "token", revoked).ReadPage(t.Context(), "")
	require.Error(t, err)
	assert.True(t, resync.IsPermanent(err), err)
	assert.Contains(t, err.Error(), "401")
	assert.Contains(t, err.Error(), "Bad credentials")
	assert.NotContains(t, err.Error(), revoked)
	assert.Equal(t, 1, srv.Requests()-before)

	pemKey := appKey(t, srv)
	srv.edit(func(s *ghServer) { s.appID = "999" }) // GitHub knows the app by another id
	before = srv.Requests()
	_, err = connect(t, srv, appSettings(pemKey)...).ReadPage(t.Context(), "")
	require.Error(t, err)
	assert.True(t, resync.IsPermanent(err), err)
	assert.Contains(t, err.Error(), "installation access token")
	assert.NotContains(t, err.Error(), "PRIVATE KEY")
	assert.Equal(t, 0, srv.Requests()-before, "no API request")
	srv.edit(func(s *ghServer) { assert.Equal(t, 1, s.tokenRequests, "the token endpoint, once") })

	// Through an engine: one attempt, nothing stored.
	e, store := engineFor(t, srv, "token", revoked)
	res := resyncOnce(t, e)
	assert.Equal(t, resync.ConnFailed, res.Status)
	assert.Equal(t, 1, res.Attempts)
	assert.NotContains(t, res.Error, revoked)
	recs, err := store.Records(t.Context(), resync.RecordQuery{Tenant: "t1", ConnectionID: "gh1"})
	require.NoError(t, err)
	assert.Empty(t, recs)
}

// TestAppToken: an app's installation token is fetched once for a read and
// used for every page.
func TestAppToken(t *testing.T) {
	t.Parallel()
	srv := small(t)
	pemKey := appKey(t, srv)
	recs := readAll(t, connect(t, srv, appSettings(pemKey)...))
	assert.Len(t, recs, 30)
	srv.edit(func(s *ghServer) { assert.Equal(t, 1, s.issued) })

	// A token GitHub revokes mid-read is replaced once, on its 401, and the
	// read goes on.
	c := connect(t, srv, appSettings(pemKey)...)
	p, err := c.ReadPage(t.Context(), "")
	require.NoError(t, err)
	srv.edit(func(s *ghServer) { clear(s.tokens); s.tokens[testToken] = true })
	before := srv.Requests()
	_, err = c.ReadPage(t.Context(), p.Next)
	require.NoError(t, err)
	assert.Equal(t, 2, srv.Requests()-before, "the 401, then the page with the new token")
	srv.edit(func(s *ghServer) { assert.Equal(t, 3, s.issued) })

	// A token within five minutes of its expiry is replaced before it is
	// sent.
	srv.edit(func(s *ghServer) { s.tokenTTL = 4 * time.Minute; s.issued = 0 })
	c = connect(t, srv, appSettings(pemKey)...)
	for cur, n := "", 0; n < 3; n++ {
		p, err := c.ReadPage(t.Context(), cur)
		require.NoError(t, err)
		cur = p.Next
	}
	srv.edit(func(s *ghServer) { assert.Equal(t, 3, s.issued, "one token per request") })
}

// TestServerError: a 500 on page 3 of the members is retried by the
// engine, and only that page is requested again.
func TestServerError(t *testing.T) {
	t.Parallel()
	srv := newGHServer(t)
	srv.addMembers(0, 1000)
	var hit atomic.Int32
	srv.setHook(func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Query().Get("role") == "member" && r.URL.Query().Get("page") == "3" && hit.Add(1) <= 2 {
			ghError(w, http.StatusBadGateway, "Server Error", "https://docs.github.com/rest")
			return true
		}
		return false
	})
	e, _ := engineFor(t, srv, "teams", "false", "outside_collaborators", "false")
	res := resyncOnce(t, e)
	require.Equal(t, resync.ConnSucceeded, res.Status, res.Error)
	assert.Equal(t, 1000, res.Added)
	const q = "/api/v3/orgs/octo-org/members?page=%d&per_page=100&role=member"
	for p := 1; p <= 9; p++ {
		want := 1
		if p == 3 {
			want = 3
		}
		assert.Equal(t, want, srv.requestsFor(fmt.Sprintf(q, p)), "page %d", p)
	}
	assert.Equal(t, 1, srv.requestsFor("/api/v3/orgs/octo-org/members?filter=2fa_disabled&page=1&per_page=100&role=all"))
}

// TestChanges: between two resyncs one member leaves the org, one joins,
// one is demoted from owner and loses 2FA, and one outside collaborator
// leaves: exactly those changes reach the change log.
func TestChanges(t *testing.T) {
	t.Parallel()
	srv := newGHServer(t)
	ids := srv.addMembers(0, 250)
	oc := srv.addCollaborators(3)
	srv.addTeam(7, "eng", ids[:50]...)
	e, _ := engineFor(t, srv)
	res := resyncOnce(t, e)
	require.Equal(t, resync.ConnSucceeded, res.Status, res.Error)
	require.Equal(t, 250+3+1, res.Added)

	gone, changed := ids[3], ids[10] // ids[10]: user-10, an admin with 2FA
	srv.edit(func(s *ghServer) {
		s.users = slices.DeleteFunc(s.users, func(u *ghUser) bool { return u.ID == gone || u.ID == oc[1] })
		u := s.user(changed)
		u.Admin, u.TwoFAOff = false, true
		s.users = append(s.users, &ghUser{ID: 5555, Login: "newcomer"})
		s.teams[0].Members = slices.DeleteFunc(s.teams[0].Members, func(m int64) bool { return m == gone })
	})
	res = resyncOnce(t, e)
	require.Equal(t, resync.ConnSucceeded, res.Status, res.Error)
	changes, err := e.Changes(t.Context(), "t1", resync.Principal{ID: "admin"}, resync.ChangeQuery{RunID: "", ConnectionID: "gh1", AfterSeq: 254})
	require.NoError(t, err)
	got := map[string]resync.ChangeLogEntry{}
	for _, c := range changes {
		got[string(c.Op)+" "+string(c.Kind)+" "+c.Key] = c
	}
	want := []string{"remove account " + id(gone), "remove account " + id(oc[1]), "add account 5555",
		"update account " + id(changed), "update group 7"}
	assert.ElementsMatch(t, want, keys(got))
	upd := got["update account "+id(changed)]
	assert.Equal(t, []string{"admin"}, upd.Before.(*resync.Account).Roles)
	assert.Equal(t, []string{"member"}, upd.After.(*resync.Account).Roles)
	assert.Equal(t, resync.MFADisabled, upd.After.(*resync.Account).MFA)
	assert.Equal(t, resync.StatusActive, got["add account 5555"].After.(*resync.Account).Status)
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestSettings: bad settings are permanent errors naming the setting,
// never quoting a credential.
func TestSettings(t *testing.T) {
	t.Parallel()
	for name, s := range map[string]map[string]string{
		"no org":        {"token": "secret-tok"},
		"no auth":       {"org": "o"},
		"both":          {"org": "o", "token": "secret-tok", "app_id": "1"},
		"partial app":   {"org": "o", "app_id": "1", "private_key": "secret-tok"},
		"bad key":       {"org": "o", "app_id": "1", "installation_id": "2", "private_key": "secret-tok"},
		"bad inst":      {"org": "o", "app_id": "1", "installation_id": "x", "private_key": "secret-tok"},
		"http":          {"org": "o", "token": "secret-tok", "base_url": "http://ghe.example.com/api/v3/"},
		"page size":     {"org": "o", "token": "secret-tok", "page_size": "101"},
		"unknown":       {"org": "o", "token": "secret-tok", "tokne": "x"},
		"bad bool":      {"org": "o", "token": "secret-tok", "teams": "maybe"},
		"org with path": {"org": "o/../x", "token": "secret-tok"},
	} {
		_, err := github.New(resync.Connection{ID: "gh1", Settings: s}, github.Config{})
		require.Error(t, err, name)
		assert.ErrorIs(t, err, resync.ErrInvalidRequest, name)
		assert.True(t, resync.IsPermanent(err), name)
		assert.NotContains(t, err.Error(), "secret-tok", name)
	}
}

// TestSAML: with "saml", the SAML NameIDs of the org's external identities
// (GraphQL, paged) become the members' ExternalID; an org without SSO
// costs one GraphQL request; a token that may not read them fails the read
// permanently, saying how to read without them.
func TestSAML(t *testing.T) {
	t.Parallel()
	srv := newGHServer(t)
	ids := srv.addMembers(0, 300)
	srv.edit(func(s *ghServer) {
		s.nameIDs = map[int64]string{}
		for i, id := range ids[:250] {
			s.nameIDs[id] = fmt.Sprintf("person%d@idp.example", i)
		}
	})
	recs := readAll(t, connect(t, srv, "saml", "true", "teams", "false", "outside_collaborators", "false"))
	require.Len(t, recs, 300)
	assert.Equal(t, "person7@idp.example", recs["*resync.Account/"+id(ids[7])].(*resync.Account).ExternalID)
	assert.Empty(t, recs["*resync.Account/"+id(ids[280])].(*resync.Account).ExternalID)
	// 3 pages of identities, 1 of 2FA, 1 of owners, 3 of members.
	assert.Equal(t, 3+1+1+3, srv.Requests())

	srv.edit(func(s *ghServer) { s.nameIDs = nil })
	before := srv.Requests()
	recs = readAll(t, connect(t, srv, "saml", "true", "teams", "false", "outside_collaborators", "false"))
	assert.Empty(t, recs["*resync.Account/"+id(ids[7])].(*resync.Account).ExternalID)
	assert.Equal(t, 1+1+1+3, srv.Requests()-before, "no SSO: one GraphQL request")

	srv.edit(func(s *ghServer) { s.samlErr = "FORBIDDEN" })
	before = srv.Requests()
	_, err := connect(t, srv, "saml", "true").ReadPage(t.Context(), "")
	require.Error(t, err)
	assert.True(t, resync.IsPermanent(err), err)
	assert.Contains(t, err.Error(), "FORBIDDEN")
	assert.Contains(t, err.Error(), `set "saml" to "false"`)
	assert.Equal(t, 1, srv.Requests()-before)

	// GraphQL answers a spent point quota with 200 and RATE_LIMITED: wait
	// until x-ratelimit-reset.
	srv.edit(func(s *ghServer) { s.samlErr = "RATE_LIMITED"; s.reset = time.Now().Add(40 * time.Second) })
	_, err = connect(t, srv, "saml", "true").ReadPage(t.Context(), "")
	require.Error(t, err)
	d, ok := resync.RetryDelay(err)
	require.True(t, ok, err)
	assert.InDelta(t, 40, d.Seconds(), 2)
}

// TestCheckHealth: one request checks the credentials and the org.
func TestCheckHealth(t *testing.T) {
	t.Parallel()
	srv := small(t)
	for _, tc := range []struct {
		kv        []string
		permanent bool
	}{{nil, false}, {[]string{"token", "ghp_wrongwrongwrong"}, true}, {[]string{"org", "other-org"}, true}} {
		before := srv.Requests()
		err := connect(t, srv, tc.kv...).(resync.HealthChecker).CheckHealth(t.Context())
		if !tc.permanent {
			assert.NoError(t, err)
		} else {
			require.Error(t, err, tc.kv)
			assert.True(t, resync.IsPermanent(err), err)
		}
		assert.Equal(t, 1, srv.Requests()-before, tc.kv)
	}
}
