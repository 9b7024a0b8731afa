package ldap_test

import (
	"context"
	"strings"
	"testing"
	"time"

	goldap "github.com/go-ldap/ldap/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/openresync/resync"
	"github.com/openresync/resync/connectors/ldap"
	"github.com/openresync/resync/memstore"
	"github.com/openresync/resync/resynctest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newConnector(t testing.TB, settings map[string]string) *ldap.Connector {
	t.Helper()
	c, err := ldap.New(resync.Connection{ID: "dir", Settings: settings})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// readAll reads every page as the engine does, failing on any error.
func readAll(t testing.TB, c resync.Connector) (ids map[string]*resync.Identity, groups map[string]*resync.Group, pages int) {
	t.Helper()
	ids, groups = map[string]*resync.Identity{}, map[string]*resync.Group{}
	for cur := ""; ; {
		p, err := c.ReadPage(context.Background(), cur)
		require.NoError(t, err, "page %d", pages)
		require.Empty(t, p.Rejected, "page %d", pages)
		pages++
		for _, r := range p.Records {
			switch r := r.(type) {
			case *resync.Identity:
				if _, dup := ids[r.Key]; dup {
					t.Fatalf("identity %q read twice", r.Key)
				}
				ids[r.Key] = r
			case *resync.Group:
				if _, dup := groups[r.Key]; dup {
					t.Fatalf("group %q read twice", r.Key)
				}
				groups[r.Key] = r
			}
		}
		if p.Next == "" {
			return ids, groups, pages
		}
		cur = p.Next
	}
}

func TestConformance(t *testing.T) {
	s := requireServer(t)
	base := directory(t, s)
	resynctest.TestConnector(t, func(t *testing.T) resync.Connector {
		return newConnector(t, s.settings(base, "page_size", "700"))
	}, resynctest.ConnectorOptions{WantRecords: dirUsers + dirGroups, ForwardOnlyCursors: true})
}

// TestPaging reads the generated directory 100 entries a page: every user
// and group once, with the attributes and memberships it was loaded with.
func TestPaging(t *testing.T) {
	s := requireServer(t)
	base := directory(t, s)
	c := newConnector(t, s.settings(base, "page_size", "100",
		"status_attribute", "employeeType", "status_values", "disabled:suspended"))
	ids, groups, pages := readAll(t, c)
	require.Len(t, ids, dirUsers)
	require.Len(t, groups, dirGroups)
	assert.Equal(t, dirUsers/100+dirGroups/100, pages, "pages of 100 users, then of 100 groups")

	byUID := map[string]*resync.Identity{}
	for key, id := range ids {
		assert.Len(t, key, 36, "entryUUID keys")
		byUID[id.Attributes["uid"]] = id
	}
	u := byUID["u00042"]
	require.NotNil(t, u)
	assert.Equal(t, "u00042@example.com", u.Email)
	assert.Equal(t, "User Number 42", u.Name)
	assert.Equal(t, "100042", u.EmployeeID)
	assert.Equal(t, "Manager", u.Title)
	assert.Equal(t, "D02", u.Department)
	assert.Equal(t, resync.StatusActive, u.Status)
	assert.Equal(t, userDN(base, 42), u.Attributes["dn"])
	off := byUID["u00100"]
	require.NotNil(t, off)
	assert.Equal(t, resync.StatusSuspended, off.Status)
	assert.Equal(t, "disabled", off.Attributes["employeeType"], "the original status is kept")

	byName := map[string]*resync.Group{}
	for _, g := range groups {
		byName[g.Name] = g
	}
	for g := range dirGroups {
		grp := byName[groupCN(g)]
		require.NotNil(t, grp, groupCN(g))
		var want []string
		for i := range dirUsers {
			for _, gi := range groupsOf(i) {
				if gi == g {
					want = append(want, byUID[userUID(i)].Key)
				}
			}
		}
		require.ElementsMatch(t, want, grp.Members, groupCN(g))
	}
}

// TestRestartMidRead restarts slapd between two pages of a read through the
// engine: the paging cookie dies with the connection, the connector says
// so with resync.RestartRead, and the engine reads again from the first
// page and stores every user and group exactly once.
func TestRestartMidRead(t *testing.T) {
	s := requireServer(t)
	base := directory(t, s)

	var built, pages int
	var firstErr error
	factory := func(ctx context.Context, conn resync.Connection) (resync.Connector, error) {
		built++
		c, err := ldap.Factory(ctx, conn)
		if err != nil {
			return nil, err
		}
		return &restartingConnector{Connector: c.(*ldap.Connector), t: t, s: s, pages: &pages, restartAt: 3, firstErr: &firstErr}, nil
	}
	src := resynctest.NewSource()
	src.AddTenant("t1")
	src.Add(resync.Connection{ID: "dir", Tenant: "t1", Type: resync.IdP, Provider: "ldap", Name: "Directory",
		Settings: s.settings(base, "page_size", "250")})
	store := memstore.New()
	e, err := resync.New(context.Background(), resync.Config{
		Store: store, Connections: src, Authorizer: resynctest.AllowAll,
		Connectors: map[string]resync.ConnectorFactory{"ldap": factory},
		Retry:      resync.RetryPolicy{InitialInterval: 10 * time.Millisecond, MaxInterval: 100 * time.Millisecond},
	})
	require.NoError(t, err)
	defer e.Close(context.Background())

	run, err := e.ResyncPersonnel(context.Background(), "t1", resync.Principal{ID: "admin"})
	require.NoError(t, err)
	info, err := run.Wait(context.Background())
	require.NoError(t, err)
	require.Len(t, info.Connections, 1)
	res := info.Connections[0]
	require.Equal(t, resync.ConnSucceeded, res.Status, res.Error)
	assert.Equal(t, 1, res.Restarts, "one restart from the first page")
	assert.Equal(t, 2, built, "a fresh connector for the second read")
	require.Error(t, firstErr)
	assert.Contains(t, firstErr.Error(), "cursor cannot be resumed", "the page after the restart asks for a restart")
	assert.Equal(t, dirUsers+dirGroups, res.Added)

	recs, err := store.Records(context.Background(), resync.RecordQuery{Tenant: "t1", ConnectionID: "dir"})
	require.NoError(t, err)
	seen := map[string]int{}
	for _, r := range recs {
		if id, ok := r.Record.(*resync.Identity); ok {
			seen[id.Attributes["uid"]]++
		}
	}
	require.Len(t, seen, dirUsers)
	for uid, n := range seen {
		require.Equal(t, 1, n, uid)
	}
}

// restartingConnector restarts the server (or only stops it, with stop)
// before the page restartAt of the first read, and records the error that
// page returned.
type restartingConnector struct {
	*ldap.Connector
	t         *testing.T
	s         server
	pages     *int
	restartAt int
	stop      bool
	firstErr  *error
}

func (r *restartingConnector) ReadPage(ctx context.Context, cursor string) (resync.Page, error) {
	*r.pages++
	if *r.pages == r.restartAt {
		if r.stop {
			r.s.stop(r.t)
		} else {
			r.s.restart(r.t)
		}
	}
	p, err := r.Connector.ReadPage(ctx, cursor)
	if *r.pages == r.restartAt {
		*r.firstErr = err
	}
	return p, err
}

// TestRestartWithoutEngine: a cookie from before a restart is refused
// with RestartRead, and the first page of a new read works.
func TestRestartWithoutEngine(t *testing.T) {
	s := requireServer(t)
	base := directory(t, s)
	c := newConnector(t, s.settings(base, "page_size", "400"))
	p, err := c.ReadPage(context.Background(), "")
	require.NoError(t, err)
	require.NotEmpty(t, p.Next)
	s.restart(t)
	_, err = c.ReadPage(context.Background(), p.Next)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "cursor cannot be resumed")
	assert.False(t, resync.IsPermanent(err))

	fresh := newConnector(t, s.settings(base, "page_size", "400"))
	ids, _, _ := readAll(t, fresh)
	assert.Len(t, ids, dirUsers)
}

func TestBadPassword(t *testing.T) {
	s := requireServer(t)
	base := directory(t, s)
	const wrong = "not-the-password-7f3a"
	c := newConnector(t, s.settings(base, "bind_password", wrong))
	_, err := c.ReadPage(context.Background(), "")
	require.Error(t, err)
	assert.True(t, resync.IsPermanent(err), "invalid credentials are permanent: %v", err)
	assert.Contains(t, err.Error(), "Invalid Credentials")
	assert.NotContains(t, err.Error(), wrong)

	err = c.CheckHealth(context.Background())
	require.Error(t, err)
	assert.True(t, resync.IsPermanent(err))
	assert.NotContains(t, err.Error(), wrong)
}

func TestCheckHealth(t *testing.T) {
	s := requireServer(t)
	base := directory(t, s)
	require.NoError(t, newConnector(t, s.settings(base)).CheckHealth(context.Background()))

	err := newConnector(t, s.settings(base, "user_base_dn", "ou=nowhere,"+base)).CheckHealth(context.Background())
	require.Error(t, err)
	assert.True(t, resync.IsPermanent(err))
	assert.Contains(t, err.Error(), "does not exist")

	// Nothing listens on port 1: retryable.
	err = newConnector(t, s.settings(base, "url", "ldap://127.0.0.1:1")).CheckHealth(context.Background())
	require.Error(t, err)
	assert.False(t, resync.IsPermanent(err), "%v", err)
}

// TestSizeLimit: cn=reader binds under slapd's default size limit of 500,
// which also caps paged searches; the read stops with a permanent
// ErrSizeLimit instead of ending short as if the rest had gone.
func TestSizeLimit(t *testing.T) {
	s := requireServer(t)
	base := directory(t, s)
	c := newConnector(t, s.settings(base, "bind_dn", "cn=reader,"+s.base, "bind_password", "reader", "page_size", "200"))
	var err error
	for cur, n := "", 0; n < 100; n++ {
		var p resync.Page
		p, err = c.ReadPage(context.Background(), cur)
		if err != nil || p.Next == "" || strings.HasPrefix(p.Next, "g") {
			break
		}
		cur = p.Next
	}
	require.Error(t, err, "a read of 5,000 users under a limit of 500 must fail")
	assert.ErrorIs(t, err, ldap.ErrSizeLimit)
	assert.True(t, resync.IsPermanent(err))
}

func TestCanceledMidPage(t *testing.T) {
	s := requireServer(t)
	base := directory(t, s)
	c := newConnector(t, s.settings(base, "page_size", "5000"))
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	_, err := c.ReadPage(ctx, "")
	require.Error(t, err)
	assert.ErrorIs(t, err, context.DeadlineExceeded, "%v", err)
}

// TestResync runs an engine over a small directory, then removes a user,
// disables one and moves one between groups: the next resync reports
// exactly those changes.
func TestResync(t *testing.T) {
	s := requireServer(t)
	admin := s.connect(t)
	base := "ou=resync-" + strings.ReplaceAll(time.Now().Format("150405.000000"), ".", "") + "," + s.base
	for _, dn := range []string{base, "ou=people," + base, "ou=groups," + base} {
		ou, _, _ := strings.Cut(strings.TrimPrefix(dn, "ou="), ",")
		require.NoError(t, addIgnoreExists(admin, dn, map[string][]string{"objectClass": {"organizationalUnit"}, "ou": {ou}}))
	}
	for i := 1; i <= 10; i++ {
		require.NoError(t, addIgnoreExists(admin, userDN(base, i), userAttrs(i)))
	}
	for g, ms := range map[int][]int{0: {1, 2, 3}, 1: {4, 5, 6}} {
		var dns []string
		for _, i := range ms {
			dns = append(dns, userDN(base, i))
		}
		require.NoError(t, addIgnoreExists(admin, groupDN(base, g), map[string][]string{"objectClass": {"groupOfNames"}, "cn": {groupCN(g)}, "member": dns}))
	}

	src := resynctest.NewSource()
	src.AddTenant("t1")
	src.Add(resync.Connection{ID: "dir", Tenant: "t1", Type: resync.IdP, Provider: "ldap", Name: "Directory",
		Settings: s.settings(base, "page_size", "3", "status_attribute", "employeeType", "status_values", "disabled:suspended")})
	store := memstore.New()
	e, err := resync.New(context.Background(), resync.Config{
		Store: store, Connections: src, Authorizer: resynctest.AllowAll,
		Connectors: map[string]resync.ConnectorFactory{"ldap": ldap.Factory},
		// Removing 1 of 12 records is not a mass deletion.
		Retry:           resync.RetryPolicy{InitialInterval: 10 * time.Millisecond},
		MinReadInterval: -1, // resyncs back to back, not 30s apart
	})
	require.NoError(t, err)
	defer e.Close(context.Background())
	resync1 := func() resync.ConnectionResult {
		run, err := e.ResyncPersonnel(context.Background(), "t1", resync.Principal{ID: "admin"})
		require.NoError(t, err)
		info, err := run.Wait(context.Background())
		require.NoError(t, err)
		require.Len(t, info.Connections, 1)
		require.Equal(t, resync.ConnSucceeded, info.Connections[0].Status, info.Connections[0].Error)
		return info.Connections[0]
	}
	first := resync1()
	assert.Equal(t, 12, first.Added)

	require.NoError(t, admin.Del(goldap.NewDelRequest(userDN(base, 10), nil)))
	mod := goldap.NewModifyRequest(userDN(base, 9), nil)
	mod.Replace("employeeType", []string{"disabled"})
	require.NoError(t, admin.Modify(mod))
	g0 := goldap.NewModifyRequest(groupDN(base, 0), nil)
	g0.Delete("member", []string{userDN(base, 3)})
	require.NoError(t, admin.Modify(g0))
	g1 := goldap.NewModifyRequest(groupDN(base, 1), nil)
	g1.Add("member", []string{userDN(base, 3)})
	require.NoError(t, admin.Modify(g1))

	second := resync1()
	assert.Equal(t, 0, second.Added)
	assert.Equal(t, 1, second.Removed, "the deleted user")
	assert.Equal(t, 3, second.Updated, "the disabled user and both groups")

	recs, err := store.Records(context.Background(), resync.RecordQuery{Tenant: "t1", ConnectionID: "dir"})
	require.NoError(t, err)
	byUID := map[string]*resync.Identity{}
	groups := map[string]*resync.Group{}
	for _, r := range recs {
		switch v := r.Record.(type) {
		case *resync.Identity:
			byUID[v.Attributes["uid"]] = v
		case *resync.Group:
			groups[v.Name] = v
		}
	}
	assert.NotContains(t, byUID, userUID(10), "removed")
	assert.Equal(t, resync.StatusSuspended, byUID[userUID(9)].Status)
	moved := byUID[userUID(3)].Key
	assert.NotContains(t, groups[groupCN(0)].Members, moved)
	assert.Contains(t, groups[groupCN(1)].Members, moved)
}

// TestRejectedEntries keys users by an attribute only some of them have:
// the others come back in Page.Rejected with their DN, not as records and
// not dropped silently.
func TestRejectedEntries(t *testing.T) {
	s := requireServer(t)
	base := directory(t, s)
	c := newConnector(t, s.settings(base, "attr.key", "employeeType", "groups", "false", "page_size", "1000"))
	var recs, rejected int
	for cur := ""; ; {
		p, err := c.ReadPage(context.Background(), cur)
		require.NoError(t, err)
		recs += len(p.Records)
		for _, r := range p.Rejected {
			rejected++
			var re *resync.RecordError
			require.ErrorAs(t, r, &re)
			assert.Equal(t, resync.KindIdentity, re.Kind)
			assert.Contains(t, re.Reason, ",ou=people,"+base)
			assert.Contains(t, re.Reason, "no employeeType")
		}
		if p.Next == "" {
			break
		}
		cur = p.Next
	}
	assert.Equal(t, dirUsers/100, recs, "every 100th user has an employeeType")
	assert.Equal(t, dirUsers-dirUsers/100, rejected)
}

// TestStoppedMidRead stops slapd between two pages and leaves it down: the
// read fails after its retries with nothing applied, and once the server
// is back the next resync stores the whole directory.
func TestStoppedMidRead(t *testing.T) {
	s := requireServer(t)
	base := directory(t, s)
	var pages int
	var firstErr error
	stopped := false
	factory := func(ctx context.Context, conn resync.Connection) (resync.Connector, error) {
		c, err := ldap.Factory(ctx, conn)
		if err != nil {
			return nil, err
		}
		if stopped {
			return c, nil
		}
		stopped = true
		return &restartingConnector{Connector: c.(*ldap.Connector), t: t, s: s, pages: &pages, restartAt: 4, stop: true, firstErr: &firstErr}, nil
	}
	t.Cleanup(func() {
		// Leave the server running for the other tests, whatever happened.
		if c, err := goldap.DialURL(s.url); err == nil {
			c.Close()
			return
		}
		s.startAgain(t)
	})
	src := resynctest.NewSource()
	src.AddTenant("t1")
	src.Add(resync.Connection{ID: "dir", Tenant: "t1", Type: resync.IdP, Provider: "ldap", Name: "Directory",
		Settings: s.settings(base, "page_size", "500")})
	store := memstore.New()
	e, err := resync.New(context.Background(), resync.Config{
		Store: store, Connections: src, Authorizer: resynctest.AllowAll,
		Connectors:      map[string]resync.ConnectorFactory{"ldap": factory},
		Retry:           resync.RetryPolicy{MaxAttempts: 3, InitialInterval: 10 * time.Millisecond, MaxInterval: 50 * time.Millisecond},
		MinReadInterval: -1, // resyncs back to back, not 30s apart
	})
	require.NoError(t, err)
	defer e.Close(context.Background())
	resync1 := func() resync.ConnectionResult {
		run, err := e.ResyncPersonnel(context.Background(), "t1", resync.Principal{ID: "admin"})
		require.NoError(t, err)
		info, err := run.Wait(context.Background())
		require.NoError(t, err)
		require.Len(t, info.Connections, 1)
		return info.Connections[0]
	}

	failed := resync1()
	require.Equal(t, resync.ConnFailed, failed.Status)
	assert.Contains(t, firstErr.Error(), "cursor cannot be resumed")
	assert.Contains(t, failed.Error, "connection refused", "the server is down")
	assert.Equal(t, 0, failed.Added)
	recs, err := store.Records(context.Background(), resync.RecordQuery{Tenant: "t1", ConnectionID: "dir"})
	require.NoError(t, err)
	assert.Empty(t, recs, "nothing applied from a read that did not finish")

	s.startAgain(t)
	ok := resync1()
	require.Equal(t, resync.ConnSucceeded, ok.Status, ok.Error)
	assert.Equal(t, dirUsers+dirGroups, ok.Added)
}

// TestRepeatAfterChange reads an earlier page again after the directory
// changed before it: the pages before it no longer hold what they held,
// so the connector asks for a restart rather than serve a page whose
// neighbours moved.
func TestRepeatAfterChange(t *testing.T) {
	s := requireServer(t)
	admin := s.connect(t)
	base := "ou=repeat-" + strings.ReplaceAll(time.Now().Format("150405.000000"), ".", "") + "," + s.base
	for _, dn := range []string{base, "ou=people," + base} {
		ou, _, _ := strings.Cut(strings.TrimPrefix(dn, "ou="), ",")
		require.NoError(t, addIgnoreExists(admin, dn, map[string][]string{"objectClass": {"organizationalUnit"}, "ou": {ou}}))
	}
	for i := 1; i <= 9; i++ {
		require.NoError(t, addIgnoreExists(admin, userDN(base, i), userAttrs(i)))
	}
	c := newConnector(t, s.settings(base, "page_size", "3", "groups", "false"))
	var cursors []string
	for cur := ""; ; {
		cursors = append(cursors, cur)
		p, err := c.ReadPage(context.Background(), cur)
		require.NoError(t, err)
		if p.Next == "" {
			break
		}
		cur = p.Next
	}
	require.Len(t, cursors, 3)

	// Unchanged: page 2 read again holds the same users.
	p, err := c.ReadPage(context.Background(), cursors[1])
	require.NoError(t, err)
	require.Len(t, p.Records, 3)
	assert.Equal(t, userUID(4), p.Records[0].(*resync.Identity).Attributes["uid"])

	require.NoError(t, admin.Del(goldap.NewDelRequest(userDN(base, 2), nil)))
	_, err = c.ReadPage(context.Background(), cursors[1])
	require.Error(t, err)
	assert.Contains(t, err.Error(), "cursor cannot be resumed")
	assert.Contains(t, err.Error(), "page 0 holds other entries")
}

// TestTLS reads over LDAPS and over StartTLS, verifying the server's
// certificate against the CA of .ci/slapd.sh; a certificate from an
// unknown CA is a permanent error.
func TestTLS(t *testing.T) {
	s := requireServer(t)
	if s.ldapsURL == "" || s.caFile == "" {
		t.Fatal("RESYNC_LDAPS_URL and RESYNC_LDAP_CA_FILE are not set: .ci/slapd.sh prints them")
	}
	base := directory(t, s)
	for name, kv := range map[string][]string{
		"ldaps":     {"url", s.ldapsURL, "tls_ca_file", s.caFile},
		"start_tls": {"start_tls", "true", "tls_ca_file", s.caFile},
	} {
		t.Run(name, func(t *testing.T) {
			c := newConnector(t, s.settings(base, append(kv, "page_size", "2000")...))
			require.NoError(t, c.CheckHealth(context.Background()))
			ids, groups, _ := readAll(t, c)
			assert.Len(t, ids, dirUsers)
			assert.Len(t, groups, dirGroups)
		})
	}
	for name, kv := range map[string][]string{
		"ldaps":     {"url", s.ldapsURL},
		"start_tls": {"start_tls", "true"},
	} {
		t.Run(name+" untrusted", func(t *testing.T) {
			err := newConnector(t, s.settings(base, kv...)).CheckHealth(context.Background())
			require.Error(t, err)
			assert.True(t, resync.IsPermanent(err), "%v", err)
			assert.Contains(t, err.Error(), "certificate")
		})
	}
}
