package google_test

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
	"github.com/openresync/resync/connectors/google"
	"github.com/openresync/resync/memstore"
	"github.com/openresync/resync/resynctest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func settings(d *directory, kv ...string) map[string]string {
	s := map[string]string{"credentials_json": d.credentials(), "subject": testSubject}
	for i := 0; i+1 < len(kv); i += 2 {
		s[kv[i]] = kv[i+1]
	}
	return s
}

func config(d *directory) google.Config {
	return google.Config{HTTPClient: d.Client(), Endpoint: d.URL + "/", ThrottleWait: time.Second}
}

func connect(t testing.TB, d *directory, typ resync.ConnectionType, kv ...string) resync.Connector {
	t.Helper()
	c, err := google.New(resync.Connection{ID: "gws1", Type: typ, Provider: "google", Settings: settings(d, kv...)}, config(d))
	require.NoError(t, err)
	return c
}

// readAll reads every page and returns the records by kind and key,
// failing on a key read twice.
func readAll(t testing.TB, c resync.Connector) map[string]resync.Record {
	t.Helper()
	out := map[string]resync.Record{}
	cursor := ""
	for pages := 0; ; pages++ {
		require.Less(t, pages, 100000)
		p, err := c.ReadPage(t.Context(), cursor)
		require.NoError(t, err)
		require.Empty(t, p.Rejected)
		for _, r := range p.Records {
			k := fmt.Sprintf("%T/%s", r, recordKey(r))
			require.NotContains(t, out, k, "a record read twice")
			out[k] = r
		}
		if cursor = p.Next; cursor == "" {
			return out
		}
	}
}

func recordKey(r resync.Record) string {
	switch r := r.(type) {
	case *resync.Identity:
		return r.Key
	case *resync.Account:
		return r.Key
	case *resync.Group:
		return r.Key
	}
	return ""
}

// TestConformance runs the connector contract suite with its fault
// checks (401 permanent, 429 after its Retry-After, 5xx retryable, one
// request per failing page) over small pages: users, groups, and member
// lists spanning several pages.
func TestConformance(t *testing.T) {
	t.Parallel()
	d := newDirectory(t)
	var ids []string
	for i := range 23 {
		ids = append(ids, d.addUser(i))
	}
	d.addGroup(0, ids[:9]...) // three member pages of 4
	d.addGroup(1)             // no members: no members.list request
	d.addGroup(2, ids[20:]...)
	d.addGroup(3, ids[4:8]...) // exactly one full page
	for _, typ := range []resync.ConnectionType{resync.IdP, resync.AccessReview} {
		t.Run(string(typ), func(t *testing.T) {
			resynctest.TestConnector(t, func(t *testing.T) resync.Connector {
				return connect(t, d, typ, "page_size", "5", "group_page_size", "4")
			}, resynctest.ConnectorOptions{WantRecords: 27, Fail: d.Fail, Requests: d.Requests})
		})
	}
}

// TestMapping checks what a user becomes: states, 2-Step Verification,
// organization, employee ID, manager, and the group's user members.
func TestMapping(t *testing.T) {
	t.Parallel()
	d := newDirectory(t)
	active := d.addUser(0, func(u map[string]any) { u["lastLoginTime"] = "2026-11-30T08:15:00.000Z" })
	suspended := d.addUser(1, func(u map[string]any) { u["suspended"] = true; u["suspensionReason"] = "ADMIN" })
	archived := d.addUser(2, func(u map[string]any) { u["archived"] = true; u["suspended"] = true })
	g := d.addGroup(0, active, suspended)
	d.mu.Lock()
	d.groups[0].nested = []string{"0nestedgroup"}
	d.mu.Unlock()

	recs := readAll(t, connect(t, d, resync.IdP))
	require.Len(t, recs, 4)
	a := recs["*resync.Identity/"+active].(*resync.Identity)
	assert.Equal(t, resync.StatusActive, a.Status)
	assert.Equal(t, "user0@example.com", a.Email)
	assert.Equal(t, "User 0", a.Name)
	assert.Equal(t, resync.MFAEnabled, a.MFA)
	assert.Equal(t, "Engineer", a.Title)
	assert.Equal(t, "R&D", a.Department)
	assert.Equal(t, "E0", a.EmployeeID)
	assert.Equal(t, "boss@example.com", a.Manager)
	assert.Equal(t, time.Date(2026, 11, 30, 8, 15, 0, 0, time.UTC), a.LastLogin)
	assert.Equal(t, "true", a.Attributes["is_enforced_in_2sv"])
	assert.Equal(t, "/Engineering", a.Attributes["org_unit_path"])
	assert.Equal(t, "active", a.Attributes["google_state"])

	s := recs["*resync.Identity/"+suspended].(*resync.Identity)
	assert.Equal(t, resync.StatusSuspended, s.Status)
	assert.Equal(t, resync.MFADisabled, s.MFA)
	assert.Equal(t, "ADMIN", s.Attributes["suspension_reason"])
	assert.True(t, s.LastLogin.IsZero(), "the epoch means never signed in")

	ar := recs["*resync.Identity/"+archived].(*resync.Identity)
	assert.Equal(t, resync.StatusDeprovisioned, ar.Status)
	assert.Equal(t, "archived", ar.Attributes["google_state"])

	grp := recs["*resync.Group/"+g].(*resync.Group)
	assert.Equal(t, "Group 0", grp.Name)
	assert.ElementsMatch(t, []string{active, suspended}, grp.Members, "user members only, not the nested group")

	// The same users as accounts (an access review connection).
	recs = readAll(t, connect(t, d, resync.AccessReview, "groups", "false"))
	require.Len(t, recs, 3)
	acc := recs["*resync.Account/"+archived].(*resync.Account)
	assert.Equal(t, resync.StatusDeprovisioned, acc.Status)
	assert.Equal(t, "user2@example.com", acc.Username)
}

// engine returns an engine on memstore with the connection registered and
// a function running a personnel resync.
func engine(t *testing.T, d *directory, kv ...string) (*resync.Engine, *resynctest.Source, func() resync.ConnectionResult) {
	t.Helper()
	ctx := t.Context()
	src := resynctest.NewSource()
	src.Add(resync.Connection{ID: "gws1", Tenant: "t1", Type: resync.IdP, Provider: "google", Settings: settings(d, kv...)})
	e, err := resync.New(ctx, resync.Config{Store: memstore.New(), Connections: src, Authorizer: resynctest.AllowAll,
		Retry:           resync.RetryPolicy{InitialInterval: time.Millisecond, MaxInterval: time.Millisecond},
		MinReadInterval: -1,
		Connectors:      map[string]resync.ConnectorFactory{"google": google.NewFactory(config(d))}})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, e.Close(context.Background())) })
	return e, src, func() resync.ConnectionResult {
		t.Helper()
		r, err := e.ResyncPersonnel(ctx, "t1", resync.Principal{ID: "admin"})
		require.NoError(t, err)
		info, err := r.Wait(ctx)
		require.NoError(t, err)
		require.Len(t, info.Connections, 1)
		return info.Connections[0]
	}
}

// TestManyUsers reads 2,100 users at Google's largest page (500) and 3
// groups through an engine: every record once, in the fewest requests the
// API allows — one per users page, one per groups page, one per page of
// each non-empty group's members, none for an empty group — and one token
// request.
func TestManyUsers(t *testing.T) {
	t.Parallel()
	d := newDirectory(t)
	var ids []string
	for i := range 2100 {
		ids = append(ids, d.addUser(i, func(u map[string]any) { u["suspended"] = i%7 == 0 }))
	}
	big := d.addGroup(0, ids[:450]...)
	small := d.addGroup(1, ids[1000:1010]...)
	d.addGroup(2)
	e, _, run := engine(t, d)
	res := run()
	require.Equal(t, resync.ConnSucceeded, res.Status, res.Error)
	assert.Equal(t, 2103, res.Added)
	assert.Zero(t, res.Rejected)

	// users: ceil(2100/500) = 5; groups: 1; members: ceil(450/200) = 3 + 1.
	const minimum = 5 + 1 + 3 + 1
	assert.Equal(t, minimum, d.Requests(), "requests per read: the minimum")
	assert.Equal(t, 1, d.tokenRequests(), "one access token for the read")

	byKey := map[string]resync.Record{}
	for q := (resync.RecordQuery{ConnectionID: "gws1", Limit: 1000}); ; {
		recs, next, err := e.Records(t.Context(), "t1", resync.Principal{ID: "admin"}, q)
		require.NoError(t, err)
		for _, r := range recs {
			byKey[recordKey(r.Record)] = r.Record
		}
		if q.Cursor = next; next == "" {
			break
		}
	}
	require.Len(t, byKey, 2103)
	for i, id := range ids {
		rec, ok := byKey[id].(*resync.Identity)
		require.True(t, ok, "user %s stored", id)
		want := resync.StatusActive
		if i%7 == 0 {
			want = resync.StatusSuspended
		}
		require.Equal(t, want, rec.Status, id)
	}
	assert.Len(t, byKey[big].(*resync.Group).Members, 450)
	assert.ElementsMatch(t, ids[1000:1010], byKey[small].(*resync.Group).Members)
}

// TestThrottleMidRead: the second users page answers 403
// userRateLimitExceeded (Google's throttle shape) with Retry-After: 1; the
// read waits that second, asks for that page once more, and ends with
// every user once.
func TestThrottleMidRead(t *testing.T) {
	t.Parallel()
	d := newDirectory(t)
	for i := range 30 {
		d.addUser(i)
	}
	second := ""
	d.fail(fault{match: func(r *http.Request) bool {
		second = r.URL.Query().Get("pageToken")
		return r.URL.Path == pathPrefix+"users" && second != ""
	}, status: http.StatusForbidden, reason: "userRateLimitExceeded",
		header: http.Header{"Retry-After": {"1"}}})
	_, _, run := engine(t, d, "page_size", "10", "groups", "false")
	start := time.Now()
	res := run()
	elapsed := time.Since(start)
	d.mu.Lock()
	defer d.mu.Unlock()
	require.Equal(t, resync.ConnSucceeded, res.Status, res.Error)
	assert.Equal(t, 30, res.Added)
	assert.GreaterOrEqual(t, elapsed, time.Second, "waited the advertised second")
	assert.Equal(t, 2, d.perPage[pathPrefix+"users?"+second], "the throttled page was asked for twice")
	assert.Equal(t, 4, d.api, "3 pages and one retry")
	assert.Equal(t, 3+1, res.Attempts)
}

// TestThrottleReasons: 403 with a rate-limit reason and 429 wait (the
// configured wait when Google sends no Retry-After); other 403s and the
// 401 are permanent.
func TestThrottleReasons(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		status    int
		reason    string
		throttled bool
	}{
		{403, "userRateLimitExceeded", true},
		{403, "rateLimitExceeded", true},
		{403, "quotaExceeded", true},
		{429, "rateLimitExceeded", true},
		{403, "forbidden", false},
		{403, "domainCannotUseApis", false},
		{401, "authError", false},
		{404, "notFound", false},
	} {
		t.Run(fmt.Sprint(tc.status, tc.reason), func(t *testing.T) {
			t.Parallel()
			d := newDirectory(t)
			d.addUser(0)
			d.fail(fault{match: func(*http.Request) bool { return true }, status: tc.status, reason: tc.reason})
			_, err := connect(t, d, resync.IdP).ReadPage(t.Context(), "")
			require.Error(t, err)
			var ge *google.Error
			require.ErrorAs(t, err, &ge)
			assert.Equal(t, tc.reason, ge.Reason)
			assert.Equal(t, "users.list", ge.Op)
			delay, ok := resync.RetryDelay(err)
			assert.Equal(t, tc.throttled, ok, err)
			if tc.throttled {
				assert.Equal(t, time.Second, delay, "Config.ThrottleWait without a Retry-After")
			} else {
				assert.True(t, resync.IsPermanent(err), err)
			}
			assert.Equal(t, 1, d.Requests())
		})
	}
}

// TestAuthFailure: a rejected key (the token endpoint's invalid_grant) and
// a subject without domain-wide delegation (unauthorized_client) fail the
// read permanently after exactly one token request and no API request; a
// 401 from the API fails it after exactly one API request. Nothing stored
// is removed, and the errors never quote the key or a token.
func TestAuthFailure(t *testing.T) {
	t.Parallel()
	t.Run("invalid_grant", func(t *testing.T) {
		t.Parallel()
		d := newDirectory(t)
		d.addUser(0)
		d.mu.Lock()
		d.revoked = true
		d.mu.Unlock()
		_, _, run := engine(t, d)
		res := run()
		assert.Equal(t, resync.ConnFailed, res.Status)
		assert.Contains(t, res.Error, "invalid_grant")
		assert.Equal(t, 1, d.tokenRequests())
		assert.Zero(t, d.Requests())
		assert.Equal(t, 1, res.Attempts, "not retried")
		assert.NotContains(t, res.Error, "PRIVATE KEY")
	})
	t.Run("unauthorized_client", func(t *testing.T) {
		t.Parallel()
		d := newDirectory(t)
		d.mu.Lock()
		d.subject = "someone-else@example.com"
		d.mu.Unlock()
		_, _, run := engine(t, d)
		res := run()
		assert.Equal(t, resync.ConnFailed, res.Status)
		assert.Contains(t, res.Error, "unauthorized_client")
		assert.Equal(t, 1, d.tokenRequests())
		assert.Zero(t, d.Requests())
	})
	t.Run("api 401", func(t *testing.T) {
		t.Parallel()
		d := newDirectory(t)
		d.addUser(0)
		// The API rejects the token, echoing it as some servers do.
		echo := &echoFault{d: d}
		d.fail(fault{match: echo.match, status: 401, reason: "authError"})
		_, _, run := engine(t, d)
		res := run()
		assert.Equal(t, resync.ConnFailed, res.Status)
		assert.Contains(t, res.Error, "401")
		assert.Equal(t, 1, d.Requests(), "exactly one request")
		d.mu.Lock()
		token := echo.token
		d.mu.Unlock()
		require.NotEmpty(t, token)
		assert.Contains(t, res.Error, "REDACTED")
		assert.NotContains(t, res.Error, token)
	})
}

// echoFault makes the failing response quote the request's access token
// in its message. Its match runs with the directory's lock held.
type echoFault struct {
	d     *directory
	token string
}

func (e *echoFault) match(r *http.Request) bool {
	e.token = strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	e.d.faults[0].reason = "authError"
	e.d.faults[0].body = fmt.Sprintf(`{"error":{"code":401,"message":"Invalid Credentials: %s","errors":[{"message":"Invalid Credentials","domain":"global","reason":"authError","location":"Authorization","locationType":"header"}],"status":"UNAUTHENTICATED"}}`, e.token)
	return true
}

// TestServerErrorRetriesOnePage: a 503 on the third users page re-reads
// that page only.
func TestServerErrorRetriesOnePage(t *testing.T) {
	t.Parallel()
	d := newDirectory(t)
	for i := range 50 {
		d.addUser(i)
	}
	failed := ""
	seen := 0
	d.fail(fault{match: func(r *http.Request) bool {
		if r.URL.Path != pathPrefix+"users" {
			return false
		}
		if seen++; seen == 3 {
			failed = r.URL.Query().Get("pageToken")
			return true
		}
		return false
	}, status: http.StatusServiceUnavailable, reason: "backendError"})
	_, _, run := engine(t, d, "page_size", "10", "groups", "false")
	res := run()
	require.Equal(t, resync.ConnSucceeded, res.Status, res.Error)
	assert.Equal(t, 50, res.Added)
	d.mu.Lock()
	defer d.mu.Unlock()
	require.NotEmpty(t, failed)
	assert.Equal(t, 2, d.perPage[pathPrefix+"users?"+failed], "the failed page twice")
	assert.Equal(t, 1, d.perPage[pathPrefix+"users?"], "the first page once")
	assert.Equal(t, 5+1, d.api, "5 pages, one retry")
}

// TestChangesBetweenResyncs: between two resyncs one user is suspended,
// one archived, one deleted and one added; the change log holds exactly
// those changes (and the group's membership of the deleted user).
func TestChangesBetweenResyncs(t *testing.T) {
	t.Parallel()
	d := newDirectory(t)
	var ids []string
	for i := range 20 {
		ids = append(ids, d.addUser(i))
	}
	e, _, run := engine(t, d, "groups", "false")
	res := run()
	require.Equal(t, resync.ConnSucceeded, res.Status, res.Error)
	require.Equal(t, 20, res.Added)
	ctx := t.Context()
	admin := resync.Principal{ID: "admin"}
	first, err := e.Changes(ctx, "t1", admin, resync.ChangeQuery{Limit: 1000})
	require.NoError(t, err)
	require.Len(t, first, 20)
	after := first[len(first)-1].Seq

	d.setUser(ids[3], func(u map[string]any) { u["suspended"] = true })
	d.setUser(ids[4], func(u map[string]any) { u["archived"] = true })
	d.removeUser(ids[5])
	added := d.addUser(100)
	res = run()
	require.Equal(t, resync.ConnSucceeded, res.Status, res.Error)
	changes, err := e.Changes(ctx, "t1", admin, resync.ChangeQuery{AfterSeq: after, Limit: 1000})
	require.NoError(t, err)
	got := map[string]resync.ChangeOp{}
	for _, c := range changes {
		got[c.Key] = c.Op
	}
	assert.Equal(t, map[string]resync.ChangeOp{ids[3]: resync.OpUpdate, ids[4]: resync.OpUpdate,
		ids[5]: resync.OpRemove, added: resync.OpAdd}, got)
	for _, c := range changes {
		switch c.Key {
		case ids[3]:
			assert.Equal(t, resync.StatusActive, c.Before.(*resync.Identity).Status)
			assert.Equal(t, resync.StatusSuspended, c.After.(*resync.Identity).Status)
		case ids[4]:
			assert.Equal(t, resync.StatusDeprovisioned, c.After.(*resync.Identity).Status)
			assert.Equal(t, "archived", c.After.(*resync.Identity).Attributes["google_state"])
		}
	}
}

// TestSettings: bad settings fail before any request, naming the setting
// and never quoting the key.
func TestSettings(t *testing.T) {
	t.Parallel()
	d := newDirectory(t)
	for name, kv := range map[string][]string{
		"unknown setting":  {"colour", "blue"},
		"credentials_json": {"credentials_json", "not json -----BEGIN PRIVATE KEY-----"},
		"subject":          {"subject", ""},
		"not both":         {"domain", "example.com", "customer", "C01"},
		"page_size":        {"page_size", "501"},
		"group_page_size":  {"group_page_size", "0"},
		`"groups"`:         {"groups", "maybe"},
	} {
		_, err := google.New(resync.Connection{ID: "gws1", Type: resync.IdP, Settings: settings(d, kv...)}, config(d))
		require.Error(t, err, name)
		assert.ErrorIs(t, err, resync.ErrInvalidRequest, name)
		assert.True(t, resync.IsPermanent(err), name)
		assert.Contains(t, err.Error(), name)
		assert.NotContains(t, err.Error(), "PRIVATE KEY", name)
	}
	assert.Zero(t, d.Requests()+d.tokenRequests())
}

// TestDomain: with "domain" set the listings ask for that domain instead
// of the customer.
func TestDomain(t *testing.T) {
	t.Parallel()
	d := newDirectory(t)
	d.addUser(0)
	var asked []string
	d.fail(fault{match: func(r *http.Request) bool {
		asked = append(asked, r.URL.Query().Get("domain")+"|"+r.URL.Query().Get("customer"))
		return false
	}, times: 100})
	readAll(t, connect(t, d, resync.IdP, "domain", "example.com"))
	d.mu.Lock()
	assert.Equal(t, []string{"example.com|", "example.com|"}, asked)
	asked = nil
	d.mu.Unlock()
	readAll(t, connect(t, d, resync.IdP))
	d.mu.Lock()
	assert.Equal(t, []string{"|my_customer", "|my_customer"}, asked)
	d.mu.Unlock()
}

// TestCheckHealth asks for one user; a rejected key fails it permanently.
func TestCheckHealth(t *testing.T) {
	t.Parallel()
	d := newDirectory(t)
	d.addUser(0)
	c := connect(t, d, resync.IdP)
	require.NoError(t, c.(resync.HealthChecker).CheckHealth(t.Context()))
	d.mu.Lock()
	d.revoked, d.issued = true, map[string]bool{}
	d.mu.Unlock()
	err := connect(t, d, resync.IdP).(resync.HealthChecker).CheckHealth(t.Context())
	require.Error(t, err)
	assert.True(t, resync.IsPermanent(err))
}

// TestMemberPageRetry: a 500 on the second page of a group's members
// re-reads that page only, and the group is yielded once with every
// member; a member cursor handed to a connector that has not read the
// earlier pages (another process) restarts the read.
func TestMemberPageRetry(t *testing.T) {
	t.Parallel()
	d := newDirectory(t)
	var ids []string
	for i := range 12 {
		ids = append(ids, d.addUser(i))
	}
	g := d.addGroup(0, ids...)
	failed := ""
	d.fail(fault{match: func(r *http.Request) bool {
		tok := r.URL.Query().Get("pageToken")
		if strings.HasSuffix(r.URL.Path, "/members") && tok != "" && failed == "" {
			failed = tok
			return true
		}
		return false
	}, status: http.StatusInternalServerError, reason: "backendError"})
	_, _, run := engine(t, d, "page_size", "5", "group_page_size", "5")
	res := run()
	require.Equal(t, resync.ConnSucceeded, res.Status, res.Error)
	assert.Equal(t, 13, res.Added)
	d.mu.Lock()
	require.NotEmpty(t, failed)
	assert.Equal(t, 2, d.perPage[pathPrefix+"groups/"+g+"/members?"+failed], "the failed member page twice")
	assert.Equal(t, 1, d.perPage[pathPrefix+"groups/"+g+"/members?"])
	// users 3 pages, groups 1, members 3 (12 at 5 a page), one retry.
	assert.Equal(t, 3+1+3+1, d.api)
	d.mu.Unlock()

	// Read up to the group's second member page, then hand that cursor to
	// a fresh connector.
	c := connect(t, d, resync.IdP, "page_size", "5", "group_page_size", "5")
	cursor := ""
	for !strings.HasPrefix(cursor, "m?") || !strings.Contains(cursor, "t=") {
		p, err := c.ReadPage(t.Context(), cursor)
		require.NoError(t, err)
		require.NotEmpty(t, p.Next)
		cursor = p.Next
	}
	_, err := connect(t, d, resync.IdP, "page_size", "5", "group_page_size", "5").ReadPage(t.Context(), cursor)
	require.Error(t, err)
	assert.ErrorContains(t, err, "cursor cannot be resumed")
}
