package atlassian_test

import (
	"context"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/openresync/resync"
	"github.com/openresync/resync/connectors/atlassian"
	"github.com/openresync/resync/memstore"
	"github.com/openresync/resync/resynctest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	jsw  = "276f955c-63d7-42c8-9520-92d01dca0625" // jira-software-users
	conf = "5dd3e5a4-0c1c-4a9e-a4ae-6f6a2ab3f2c1" // confluence-users
	adm  = "9f2d1b0c-1c4e-4f7d-8a53-1d6b0b1f7a10" // site-admins
)

func team(i int) string { return "0000000" + strconv.Itoa(i) + "-team-group" }

// populate adds n users: even ones in jira-software-users, every third in
// confluence-users, every fiftieth a site admin, each in one of seven team
// groups; every 25th inactive, every 100th an app.
func populate(s *site, n int) []string {
	s.addGroup(jsw, "jira-software-users")
	s.addGroup(conf, "confluence-users")
	s.addGroup(adm, "site-admins")
	for i := range 7 {
		s.addGroup(team(i), "team-"+strconv.Itoa(i))
	}
	s.addRole("jira-software", "Jira Software", jsw, adm)
	s.addRole("jira-servicedesk", "Jira Service Management", adm)
	var ids []string
	for i := range n {
		groups := []string{team(i % 7)}
		if i%2 == 0 {
			groups = append(groups, jsw)
		}
		if i%3 == 0 {
			groups = append(groups, conf)
		}
		if i%50 == 0 {
			groups = append(groups, adm)
		}
		typ := "atlassian"
		if i%100 == 99 {
			typ = "app"
		}
		ids = append(ids, s.addUser(i, typ, i%25 != 24, groups...))
	}
	return ids
}

// minRequests is the fewest requests a read of the site needs: one for the
// roles, the group listing's pages, each group's member pages (one at
// least), and the user pages, plus the empty one that ends them.
func minRequests(s *site) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 1 + (len(s.groups)+49)/50
	for g := range s.groups {
		n += max(1, (len(s.members[g])+49)/50)
	}
	return n + len(s.users)/s.userCap + 1
}

func TestConformance(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	s.userCap = 7
	populate(s, 23)
	resynctest.TestConnector(t, func(t *testing.T) resync.Connector {
		c, err := atlassian.New(resync.Connection{ID: "jira", Tenant: "t1", Type: resync.AccessReview, Provider: "atlassian",
			Settings: map[string]string{"url": s.URL, "email": s.email, "api_token": s.apiToken}}, atlassian.Config{HTTPClient: s.Client()})
		require.NoError(t, err)
		return c
	}, resynctest.ConnectorOptions{WantRecords: 23 + 10, ForwardOnlyCursors: true, Fail: s.Fail, Requests: s.Requests})
}

type harness struct {
	srv    *site
	engine *resync.Engine
	store  *memstore.Store
	src    *resynctest.Source
}

func newHarness(t *testing.T, s *site, cfg resync.Config) *harness {
	t.Helper()
	h := &harness{srv: s, store: memstore.New(), src: resynctest.NewSource()}
	h.src.Add(resync.Connection{ID: "jira", Tenant: "t1", Type: resync.AccessReview, Provider: "atlassian",
		Settings: map[string]string{"url": s.URL, "email": s.email, "api_token": s.apiToken}})
	cfg.Store, cfg.Connections, cfg.Authorizer = h.store, h.src, resynctest.AllowAll
	cfg.Connectors = map[string]resync.ConnectorFactory{"atlassian": atlassian.NewFactory(atlassian.Config{HTTPClient: s.Client()})}
	cfg.Retry = resync.RetryPolicy{InitialInterval: time.Millisecond, MaxInterval: time.Millisecond}
	cfg.MinReadInterval = time.Nanosecond
	e, err := resync.New(t.Context(), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, e.Close(context.Background())) })
	h.engine = e
	return h
}

func (h *harness) run(t *testing.T) resync.RunInfo {
	t.Helper()
	r, err := h.engine.ResyncAccounts(t.Context(), "t1", resync.Principal{ID: "admin"}, resync.AccessReview)
	require.NoError(t, err)
	info, err := r.Wait(t.Context())
	require.NoError(t, err)
	require.Len(t, info.Connections, 1)
	return info
}

func (h *harness) accounts(t *testing.T) map[string]*resync.Account {
	t.Helper()
	recs, err := h.store.Records(t.Context(), resync.RecordQuery{Tenant: "t1", ConnectionID: "jira"})
	require.NoError(t, err)
	out := map[string]*resync.Account{}
	for _, r := range recs {
		if a, ok := r.Record.(*resync.Account); ok {
			out[a.Key] = a
		}
	}
	return out
}

// 2,000 users over pages the server caps below what is asked, groups with
// members over many pages, and each account's application roles derived
// from its groups without a request per user.
func TestManyUsers(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	ids := populate(s, 2000)
	h := newHarness(t, s, resync.Config{})
	res := h.run(t).Connections[0]
	require.Equal(t, resync.ConnSucceeded, res.Status, res.Error)
	assert.Equal(t, 2010, res.Added)
	assert.Equal(t, minRequests(s), s.Requests(), "requests per read: the minimum")
	t.Logf("requests per read: %d (the minimum for 2,000 users in 10 groups)", s.Requests())

	accts := h.accounts(t)
	require.Len(t, accts, 2000)
	admin := accts[ids[0]] // even, every third, every fiftieth
	assert.Equal(t, []string{"jira-servicedesk", "jira-software"}, admin.Roles)
	assert.Equal(t, "confluence-users,jira-software-users,site-admins,team-0", admin.Attributes["groups"])
	assert.Equal(t, resync.AccountTypeHuman, admin.Type)
	assert.Equal(t, "user0@example.com", admin.OwnerEmail)
	assert.Empty(t, accts[ids[1]].Roles, "odd users hold no application role")
	assert.Equal(t, resync.StatusSuspended, accts[ids[24]].Status)
	assert.Equal(t, "false", accts[ids[24]].Attributes["active"])
	assert.Equal(t, resync.AccountTypeService, accts[ids[99]].Type)

	recs, err := h.store.Records(t.Context(), resync.RecordQuery{Tenant: "t1", ConnectionID: "jira", Kind: resync.KindGroup})
	require.NoError(t, err)
	sizes := map[string]int{}
	for _, r := range recs {
		g := r.Record.(*resync.Group)
		sizes[g.Name] = len(g.Members)
	}
	assert.Equal(t, 1000, sizes["jira-software-users"], "inactive members included")
	assert.Equal(t, 667, sizes["confluence-users"])
	assert.Equal(t, 40, sizes["site-admins"])
}

// A 429 mid-read waits the Retry-After asked for and finishes with every
// user once; the error of the throttled attempt names the limit hit.
func TestThrottledMidRead(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	populate(s, 300)
	h := newHarness(t, s, resync.Config{})
	s.Fail(resynctest.ProviderFault{Page: 3, Status: http.StatusTooManyRequests, Header: http.Header{"Retry-After": {"1"}}})
	start := time.Now()
	res := h.run(t).Connections[0]
	require.Equal(t, resync.ConnSucceeded, res.Status, res.Error)
	assert.GreaterOrEqual(t, time.Since(start), time.Second, "waited the advertised second")
	assert.Equal(t, 310, res.Added, "no user lost or read twice")
	assert.Equal(t, minRequests(s)+1, s.Requests(), "the throttled page asked again, once")
	assert.Len(t, h.accounts(t), 300)
}

// The reason Jira gives for a 429 is in the error.
func TestThrottleReason(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	populate(s, 5)
	c, err := atlassian.New(resync.Connection{ID: "jira", Settings: map[string]string{"url": s.URL, "email": s.email, "api_token": s.apiToken}},
		atlassian.Config{HTTPClient: s.Client()})
	require.NoError(t, err)
	s.Fail(resynctest.ProviderFault{Page: 1, Status: http.StatusTooManyRequests, Header: http.Header{"Retry-After": {"7"}}})
	_, err = c.ReadPage(t.Context(), "")
	require.Error(t, err)
	d, ok := resync.RetryDelay(err)
	require.True(t, ok, "%v", err)
	assert.Equal(t, 7*time.Second, d)
	assert.Contains(t, err.Error(), "RateLimit-Reason: jira-quota-tenant-based")
}

// Wrong credentials are permanent: one request, the token never quoted.
func TestAuthFailure(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	populate(s, 10)
	h := newHarness(t, s, resync.Config{})
	h.src.Remove("t1")
	h.src.Add(resync.Connection{ID: "jira", Tenant: "t1", Type: resync.AccessReview, Provider: "atlassian",
		Settings: map[string]string{"url": s.URL, "email": s.email, "api_token": "ATATT-revoked-99"}})
	res := h.run(t).Connections[0]
	assert.Equal(t, resync.ConnFailed, res.Status)
	assert.Contains(t, res.Error, "401")
	assert.NotContains(t, res.Error, "ATATT-revoked-99")
	assert.Equal(t, 1, s.Requests())
}

// A 500 re-reads that page only.
func TestServerErrorRereadsOnePage(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	populate(s, 500)
	h := newHarness(t, s, resync.Config{})
	// Page 4 of a listing: the fourth page of jira-software-users'
	// members (250 of them) is the first (groups are read in ID order,
	// the seven teams, of about 72 members each, first).
	s.Fail(resynctest.ProviderFault{Page: 4, Status: http.StatusServiceUnavailable, Times: 2})
	res := h.run(t).Connections[0]
	require.Equal(t, resync.ConnSucceeded, res.Status, res.Error)
	assert.Equal(t, 510, res.Added)
	assert.Equal(t, minRequests(s)+2, s.Requests(), "one page failed twice, nothing else read again")
	assert.Equal(t, 3, s.Hits("group/member?groupId="+jsw+"@150"), "the failed page: twice failed, once served")
	assert.Equal(t, 1, s.Hits("group/member?groupId="+jsw+"@100"))
}

// Between two resyncs a user is deactivated, one deleted, one added, and
// one joins jira-software-users: exactly those changes are logged.
func TestChangesBetweenResyncs(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	ids := populate(s, 400)
	h := newHarness(t, s, resync.Config{})
	require.Equal(t, resync.ConnSucceeded, h.run(t).Connections[0].Status)

	s.mu.Lock()
	s.users[ids[10]]["active"] = false
	delete(s.users, ids[20]) // team 6, jira-software-users
	s.members[jsw] = append(s.members[jsw], ids[1])
	s.mu.Unlock()
	added := s.addUser(9000, "atlassian", true, team(1))

	info := h.run(t)
	require.Equal(t, resync.ConnSucceeded, info.Connections[0].Status, info.Connections[0].Error)
	entries, err := h.engine.Changes(t.Context(), "t1", resync.Principal{ID: "admin"}, resync.ChangeQuery{RunID: info.ID, Limit: 1000})
	require.NoError(t, err)
	got := map[string]resync.ChangeOp{}
	for _, e := range entries {
		got[string(e.Kind)+"/"+e.Key] = e.Op
	}
	assert.Equal(t, map[string]resync.ChangeOp{
		"account/" + ids[10]: resync.OpUpdate,
		"account/" + ids[20]: resync.OpRemove,
		"account/" + added:   resync.OpAdd,
		"account/" + ids[1]:  resync.OpUpdate, // now holds jira-software
		"group/" + jsw:       resync.OpUpdate, // lost 20, gained 1
		"group/" + team(6):   resync.OpUpdate, // lost 20
		"group/" + team(1):   resync.OpUpdate, // gained 9000
	}, got)
	accts := h.accounts(t)
	assert.Equal(t, resync.StatusSuspended, accts[ids[10]].Status)
	assert.Equal(t, []string{"jira-software"}, accts[ids[1]].Roles)
}

// Settings are checked before any request, and never quote a credential.
func TestBadSettings(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		settings map[string]string
		want     string
	}{
		"no url":     {map[string]string{"email": "a@b", "api_token": "k"}, `set "url"`},
		"http":       {map[string]string{"url": "http://x.atlassian.net", "email": "a@b", "api_token": "k"}, `"url" is not an https URL`},
		"no creds":   {map[string]string{"url": "https://x.atlassian.net"}, `set "email" and "api_token"`},
		"half":       {map[string]string{"url": "https://x.atlassian.net", "email": "a@b"}, `"email" and "api_token" go together`},
		"both":       {map[string]string{"url": "https://x.atlassian.net", "email": "a@b", "api_token": "k", "token": "t"}, `not both`},
		"groups":     {map[string]string{"url": "https://x.atlassian.net", "token": "t", "groups": "some"}, `"groups" is "some"`},
		"misspelled": {map[string]string{"url": "https://x.atlassian.net", "token": "t", "api_tokn": "x"}, `unknown setting "api_tokn"`},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := atlassian.New(resync.Connection{ID: "c", Settings: tc.settings}, atlassian.Config{})
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.ErrorIs(t, err, resync.ErrInvalidRequest)
			assert.True(t, resync.IsPermanent(err))
		})
	}
}

// Without groups the read is the user listing alone.
func TestWithoutGroups(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	populate(s, 250)
	c, err := atlassian.New(resync.Connection{ID: "jira", Settings: map[string]string{"url": s.URL, "email": s.email, "api_token": s.apiToken, "groups": "false"}},
		atlassian.Config{HTTPClient: s.Client()})
	require.NoError(t, err)
	n := 0
	for cursor := ""; ; {
		p, err := c.ReadPage(t.Context(), cursor)
		require.NoError(t, err)
		for _, r := range p.Records {
			a := r.(*resync.Account)
			assert.Empty(t, a.Roles)
			n++
		}
		if cursor = p.Next; cursor == "" {
			break
		}
	}
	assert.Equal(t, 250, n)
	assert.Equal(t, 3+1, s.Requests())
}
