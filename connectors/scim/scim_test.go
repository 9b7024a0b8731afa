package scim_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	scimerrors "github.com/elimity-com/scim/errors"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openresync/resync"
	"github.com/openresync/resync/connectors/scim"
	"github.com/openresync/resync/memstore"
	"github.com/openresync/resync/resynctest"
)

// connect builds a connector for srv with the settings given as pairs
// after the defaults (url, token).
func connect(t testing.TB, srv *scimServer, typ resync.ConnectionType, cfg scim.Config, kv ...string) resync.Connector {
	t.Helper()
	settings := map[string]string{"url": srv.baseURL(), "token": testToken}
	for i := 0; i+1 < len(kv); i += 2 {
		settings[kv[i]] = kv[i+1]
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = srv.Client()
	}
	c, err := scim.New(resync.Connection{ID: "scim1", Type: typ, Provider: "scim", Settings: settings}, cfg)
	require.NoError(t, err)
	return c
}

// readAll reads every page and returns the records by kind and key, failing
// on a key read twice, and the number of pages.
func readAll(t testing.TB, c resync.Connector) (map[string]resync.Record, int) {
	t.Helper()
	out := map[string]resync.Record{}
	cursor, pages := "", 0
	for {
		p, err := c.ReadPage(t.Context(), cursor)
		require.NoError(t, err)
		require.Empty(t, p.Rejected)
		pages++
		for _, r := range p.Records {
			k := fmt.Sprintf("%T/%s", r, key(r))
			require.NotContains(t, out, k, "a record read twice")
			out[k] = r
		}
		if p.Next == "" {
			return out, pages
		}
		cursor = p.Next
		require.Less(t, pages, 100000)
	}
}

func key(r resync.Record) string {
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

// TestConformance runs the connector contract suite against the SCIM
// server, with pages small enough that users and groups span several, as
// identities (an IdP connection) and as accounts (an application's).
func TestConformance(t *testing.T) {
	t.Parallel()
	srv := newSCIMServer(t, 100)
	var ids []string
	for i := range 23 {
		ids = append(ids, srv.addUser(t, i, i%5 != 0))
	}
	for g := range 5 {
		srv.addGroup(t, "group-"+strconv.Itoa(g), ids[g:g+4]...)
	}
	// The fault checks: the suite queues a fault (401, 429 with
	// Retry-After, 500, 503) for the next requests of the first page,
	// answered as a SCIM error message (RFC 7644 §3.12), and counts the
	// requests each failing ReadPage makes.
	var mu sync.Mutex
	var faults []resynctest.ProviderFault
	srv.setIntercept(func(w http.ResponseWriter, r *http.Request) bool {
		mu.Lock()
		defer mu.Unlock()
		if len(faults) == 0 || r.URL.Query().Get("startIndex") != "1" {
			return false
		}
		f := &faults[0]
		for k, v := range f.Header {
			w.Header()[k] = v
		}
		writeSCIMError(w, scimerrors.ScimError{Status: f.Status, Detail: "injected fault"})
		if f.Times--; f.Times <= 0 {
			faults = faults[1:]
		}
		return true
	})
	for _, typ := range []resync.ConnectionType{resync.IdP, resync.AccessReview} {
		t.Run(string(typ), func(t *testing.T) {
			resynctest.TestConnector(t, func(t *testing.T) resync.Connector {
				return connect(t, srv, typ, scim.Config{}, "page_size", "7", "group_page_size", "2")
			}, resynctest.ConnectorOptions{WantRecords: 28,
				Fail: func(f resynctest.ProviderFault) {
					mu.Lock()
					defer mu.Unlock()
					faults = append(faults, f)
				},
				Requests: func() int { return int(srv.requests.Load()) },
			})
		})
	}
}

// TestManyUsers reads 1,000 users over many pages (RFC 7644 §3.4.2.4
// pagination) and their groups: each exactly once, in about one request
// per page.
func TestManyUsers(t *testing.T) {
	t.Parallel()
	srv := newSCIMServer(t, 100)
	var ids []string
	for i := range 1000 {
		ids = append(ids, srv.addUser(t, i, true))
	}
	for g := range 10 {
		srv.addGroup(t, "g"+strconv.Itoa(g), ids[g*100:g*100+100]...)
	}
	before := srv.requests.Load()
	recs, pages := readAll(t, connect(t, srv, resync.IdP, scim.Config{}, "page_size", "50", "group_page_size", "3"))
	requests := srv.requests.Load() - before
	assert.Len(t, recs, 1010)
	for _, id := range ids {
		require.Contains(t, recs, "*resync.Identity/"+id)
	}
	g := recs["*resync.Group/g-000003"].(*resync.Group)
	assert.Equal(t, "g2", g.Name)
	assert.Len(t, g.Members, 100)
	assert.Contains(t, g.Members, ids[250])
	// 1000 users at 49 new a page (one overlapping) → 21 pages; 10 groups
	// at 2 new a page → 5 pages (each read request is one page here).
	assert.Equal(t, 21+5, pages)
	assert.EqualValues(t, pages, requests, "one request a page: no retries, no back-steps without a shift")
}

// TestServerCapsCount: the server answers at most 10 resources a request
// (its maxResults, RFC 7644 §3.4.2.4: a provider may return fewer than
// count), while the connector asks for 25: every user is still read, once.
func TestServerCapsCount(t *testing.T) {
	t.Parallel()
	srv := newSCIMServer(t, 10)
	for i := range 95 {
		srv.addUser(t, i, true)
	}
	recs, _ := readAll(t, connect(t, srv, resync.IdP, scim.Config{}, "page_size", "25", "groups", "false"))
	assert.Len(t, recs, 95)
}

// TestShiftingList changes the list between pages on the server, as
// provisioning does while a read is under way: users before the read's
// position are deleted (shifting the rest back, by more than the overlap
// once) and users are inserted before it (shifting the rest forward).
// Every user present for the whole read is read exactly once, and no key
// is read twice. Without StartIndex's overlap and back-steps a plain
// startIndex reader loses or repeats users here.
func TestShiftingList(t *testing.T) {
	t.Parallel()
	srv := newSCIMServer(t, 100)
	var ids []string
	for i := range 300 {
		ids = append(ids, srv.addUser(t, i, true))
	}
	var mu sync.Mutex
	deleted, inserted := map[string]bool{}, map[string]bool{}
	calls := 0
	srv.users.beforeList = func(startIndex int) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		order := srv.users.ids()
		switch calls {
		case 3: // delete one user already read: a shift of one, the overlap
			deleted[order[5]] = true
			require.NoError(t, srv.users.Delete(nil, order[5]))
		case 5: // delete seven users already read: a shift beyond the overlap
			for _, id := range order[10:17] {
				deleted[id] = true
				require.NoError(t, srv.users.Delete(nil, id))
			}
		case 8: // insert users at the front: a shift forward
			for j := range 4 {
				r, err := srv.users.Create(nil, map[string]any{"userName": "late-" + strconv.Itoa(j)})
				require.NoError(t, err)
				inserted[r.ID] = true
				srv.users.mu.Lock()
				srv.users.order = append([]string{r.ID}, srv.users.order[:len(srv.users.order)-1]...)
				srv.users.mu.Unlock()
			}
		case 11: // delete a user ahead of the read, and one behind it
			order := srv.users.ids()
			deleted[order[len(order)-1]], deleted[order[2]] = true, true
			require.NoError(t, srv.users.Delete(nil, order[len(order)-1]))
			require.NoError(t, srv.users.Delete(nil, order[2]))
		}
	}
	recs, _ := readAll(t, connect(t, srv, resync.IdP, scim.Config{}, "page_size", "20", "groups", "false"))
	mu.Lock()
	defer mu.Unlock()
	require.GreaterOrEqual(t, calls, 11, "the list changed while the read went on")
	for _, id := range ids {
		if !deleted[id] {
			assert.Contains(t, recs, "*resync.Identity/"+id, "a user present for the whole read was lost")
		}
	}
	for k := range recs {
		id := strings.TrimPrefix(k, "*resync.Identity/")
		assert.True(t, slices.Contains(ids, id) || inserted[id], "unknown user %s", id)
	}
}

// TestEnterpriseExtension maps the core User attributes and the enterprise
// extension (RFC 7643 §4.1, §4.3) to an Identity, and to an Account for a
// connection that is not an IdP; groups come from the Groups' members.
func TestEnterpriseExtension(t *testing.T) {
	t.Parallel()
	srv := newSCIMServer(t, 100)
	boss := srv.addUser(t, 1, true)
	id := srv.post(t, "Users", map[string]any{
		"schemas":     []string{"urn:ietf:params:scim:schemas:core:2.0:User", scim.EnterpriseUserSchema},
		"externalId":  "00u1abcd",
		"userName":    "ada@acme.example",
		"displayName": "Ada Lovelace",
		"name":        map[string]any{"givenName": "Ada", "familyName": "Lovelace", "formatted": "Augusta Ada King"},
		"title":       "Analyst",
		"userType":    "Employee",
		"active":      false,
		"emails": []map[string]any{
			{"value": "ada@home.example", "type": "home"},
			{"value": "ada@acme.example", "type": "work", "primary": true},
		},
		scim.EnterpriseUserSchema: map[string]any{
			"employeeNumber": "E-1815",
			"department":     "Engines",
			"costCenter":     "CC-7",
			"manager":        map[string]any{"value": boss},
		},
	})
	gid := srv.addGroup(t, "Engineers", id, boss)

	recs, _ := readAll(t, connect(t, srv, resync.IdP, scim.Config{}))
	ident := recs["*resync.Identity/"+id].(*resync.Identity)
	assert.Equal(t, &resync.Identity{
		Key: id, ExternalID: "00u1abcd", Email: "ada@acme.example", Name: "Ada Lovelace",
		Status: resync.StatusSuspended, EmployeeID: "E-1815", Manager: boss, Department: "Engines", Title: "Analyst",
		Attributes: map[string]string{"active": "false", "userName": "ada@acme.example", "userType": "Employee",
			"name.formatted": "Augusta Ada King", "name.givenName": "Ada", "name.familyName": "Lovelace", "costCenter": "CC-7"},
	}, ident)
	assert.Equal(t, resync.StatusActive, recs["*resync.Identity/"+boss].(*resync.Identity).Status)
	assert.ElementsMatch(t, []string{id, boss}, recs["*resync.Group/"+gid].(*resync.Group).Members)

	recs, _ = readAll(t, connect(t, srv, resync.AccessReview, scim.Config{}))
	acct := recs["*resync.Account/"+id].(*resync.Account)
	assert.Equal(t, "ada@acme.example", acct.Username)
	assert.Equal(t, "ada@acme.example", acct.OwnerEmail)
	assert.Equal(t, "Ada Lovelace", acct.DisplayName)
	assert.Equal(t, "E-1815", acct.EmployeeID)
	assert.Equal(t, "00u1abcd", acct.ExternalID)
	assert.Equal(t, resync.StatusSuspended, acct.Status)
	assert.Equal(t, boss, acct.Attributes["manager"])
	assert.Equal(t, "Engines", acct.Attributes["department"])
}

// TestFilter passes the "filter" setting through to the server, which
// applies it (RFC 7644 §3.4.2.2).
func TestFilter(t *testing.T) {
	t.Parallel()
	srv := newSCIMServer(t, 100)
	for i := range 12 {
		srv.addUser(t, i, true)
	}
	var mu sync.Mutex
	var queries []string
	srv.setIntercept(func(w http.ResponseWriter, r *http.Request) bool {
		mu.Lock()
		defer mu.Unlock()
		queries = append(queries, r.URL.Path+"?"+r.URL.RawQuery)
		return false
	})
	c := connect(t, srv, resync.IdP, scim.Config{}, "filter", `userName sw "user-1"`, "groups", "false")
	recs, _ := readAll(t, c)
	assert.Len(t, recs, 3) // user-1, user-10, user-11
	require.NoError(t, c.(resync.HealthChecker).CheckHealth(t.Context()))
	mu.Lock()
	for _, q := range queries {
		assert.Contains(t, q, "filter=userName+sw+%22user-1%22")
		assert.NotContains(t, q, "excludedAttributes", "without groups read, the users' groups are wanted")
	}
	queries = nil
	mu.Unlock()

	// Reading groups: users are asked for without their groups attribute.
	readAll(t, connect(t, srv, resync.IdP, scim.Config{}))
	mu.Lock()
	assert.Contains(t, queries[0], "/scim/v2/Users?")
	assert.Contains(t, queries[0], "excludedAttributes=groups")
	assert.Contains(t, queries[len(queries)-1], "/scim/v2/Groups?")
	mu.Unlock()
}

// TestUserGroups: with "groups" false, an identity's groups come from the
// user's groups attribute (RFC 7643 §4.1.2, read-only, so set at the
// server's store).
func TestUserGroups(t *testing.T) {
	t.Parallel()
	srv := newSCIMServer(t, 100)
	id := srv.addUser(t, 1, true)
	srv.users.mu.Lock()
	srv.users.res[id].Attributes["groups"] = []map[string]any{{"value": "g-2", "display": "Ops"}, {"value": "g-1"}, {"value": "g-2"}}
	srv.users.mu.Unlock()
	recs, _ := readAll(t, connect(t, srv, resync.IdP, scim.Config{}, "groups", "false"))
	assert.Equal(t, []string{"g-1", "g-2"}, recs["*resync.Identity/"+id].(*resync.Identity).Groups)
	recs, _ = readAll(t, connect(t, srv, resync.IdP, scim.Config{}))
	assert.Empty(t, recs["*resync.Identity/"+id].(*resync.Identity).Groups, "the groups' members are authoritative")
}

// TestNotBefore: a successful page that says the quota is spent until a
// reset time puts that time in Page.NotBefore.
func TestNotBefore(t *testing.T) {
	t.Parallel()
	srv := newSCIMServer(t, 100)
	srv.addUser(t, 1, true)
	reset := time.Now().Add(30 * time.Second)
	srv.setIntercept(func(w http.ResponseWriter, r *http.Request) bool {
		w.Header().Set("X-RateLimit-Limit", "100")
		w.Header().Set("X-RateLimit-Remaining", "0")
		w.Header().Set("X-RateLimit-Reset", strconv.FormatInt(reset.Unix(), 10))
		return false
	})
	p, err := connect(t, srv, resync.IdP, scim.Config{}).ReadPage(t.Context(), "")
	require.NoError(t, err)
	require.Len(t, p.Records, 1)
	assert.WithinDuration(t, reset, p.NotBefore, 2*time.Second)
}

// TestSCIMError: a filter the server refuses answers 400 with a SCIM error
// message (RFC 7644 §3.12); the error says its scimType and detail, and is
// permanent.
func TestSCIMError(t *testing.T) {
	t.Parallel()
	srv := newSCIMServer(t, 100)
	srv.addUser(t, 1, true)
	c := connect(t, srv, resync.IdP, scim.Config{}, "filter", `userName zz "x"`)
	_, err := c.ReadPage(t.Context(), "")
	require.Error(t, err)
	assert.True(t, resync.IsPermanent(err))
	var se *scim.Error
	require.ErrorAs(t, err, &se)
	assert.Equal(t, http.StatusBadRequest, se.Status)
	assert.Equal(t, "invalidFilter", se.ScimType)
	assert.Contains(t, err.Error(), "invalidFilter")
	assert.Contains(t, err.Error(), "The specified filter syntax was invalid")
	assert.Contains(t, err.Error(), "/scim/v2/Users")
}

// TestUnauthorized: a 401 is permanent, and neither the error nor the
// log names the token.
func TestUnauthorized(t *testing.T) {
	t.Parallel()
	srv := newSCIMServer(t, 100)
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	wrong := "wrong-token-b5e21d"
	c, err := scim.New(resync.Connection{ID: "c", Type: resync.IdP, Settings: map[string]string{
		"url": srv.baseURL(), "token": wrong}}, scim.Config{HTTPClient: srv.Client(), Logger: logger})
	require.NoError(t, err)
	before := srv.requests.Load()
	_, err = c.ReadPage(t.Context(), "")
	require.Error(t, err)
	assert.True(t, resync.IsPermanent(err))
	assert.EqualValues(t, 1, srv.requests.Load()-before, "a static token is not retried")
	var se *scim.Error
	require.ErrorAs(t, err, &se)
	assert.Equal(t, http.StatusUnauthorized, se.Status)
	assert.Contains(t, err.Error(), "Authorization failure")
	assert.NotContains(t, err.Error(), wrong)
	require.NotEmpty(t, logs.String())
	assert.NotContains(t, logs.String(), wrong)
	assert.Error(t, c.(resync.HealthChecker).CheckHealth(t.Context()))

	// Basic auth: the password is not in the error either.
	c, err = scim.New(resync.Connection{ID: "c", Type: resync.IdP, Settings: map[string]string{
		"url": srv.baseURL(), "username": "admin", "password": "pa55-9d8c"}}, scim.Config{HTTPClient: srv.Client(), Logger: logger})
	require.NoError(t, err)
	_, err = c.ReadPage(t.Context(), "")
	require.Error(t, err)
	assert.True(t, resync.IsPermanent(err))
	assert.NotContains(t, err.Error(), "pa55-9d8c")
	assert.NotContains(t, logs.String(), "pa55-9d8c")
}

// TestEchoedCredential: an error body echoing the token has it redacted.
func TestEchoedCredential(t *testing.T) {
	t.Parallel()
	srv := newSCIMServer(t, 100)
	srv.setIntercept(func(w http.ResponseWriter, r *http.Request) bool {
		writeSCIMError(w, scimerrors.ScimError{Status: http.StatusForbidden, Detail: "token " + testToken + " lacks scope users:read"})
		return true
	})
	_, err := connect(t, srv, resync.IdP, scim.Config{}).ReadPage(t.Context(), "")
	require.Error(t, err)
	assert.True(t, resync.IsPermanent(err))
	assert.Contains(t, err.Error(), "lacks scope users:read")
	assert.NotContains(t, err.Error(), testToken)
}

// TestRetryAfter: a 429 with Retry-After is a resync.RetryAfter error with
// the wait asked for, and a 503 with Retry-After likewise.
func TestRetryAfter(t *testing.T) {
	t.Parallel()
	srv := newSCIMServer(t, 100)
	srv.addUser(t, 1, true)
	for _, status := range []int{http.StatusTooManyRequests, http.StatusServiceUnavailable} {
		srv.setIntercept(func(w http.ResponseWriter, r *http.Request) bool {
			w.Header().Set("Retry-After", "7")
			writeSCIMError(w, scimerrors.ScimError{Status: status, Detail: "Too many requests"})
			return true
		})
		_, err := connect(t, srv, resync.IdP, scim.Config{}).ReadPage(t.Context(), "")
		require.Error(t, err)
		assert.False(t, resync.IsPermanent(err))
		d, ok := resync.RetryDelay(err)
		require.True(t, ok, "status %d: %v", status, err)
		assert.InDelta(t, 7*time.Second, d, float64(time.Second))
		var se *scim.Error
		require.ErrorAs(t, err, &se)
		assert.Contains(t, err.Error(), "Too many requests")
	}
}

// TestMalformedListResponse: a body that is not a ListResponse is a
// permanent error wrapping ErrMalformed; a single resource of the wrong
// shape is rejected on its own, keyed by its id.
func TestMalformedListResponse(t *testing.T) {
	t.Parallel()
	srv := newSCIMServer(t, 100)
	srv.addUser(t, 1, true)
	for _, body := range []string{`<html>oops</html>`, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:ListResponse"],"totalResults":"many"}`,
		`{"schemas":["urn:ietf:params:scim:api:messages:2.0:ListResponse"],"Resources":{"id":"x"}}`, `[]`} {
		srv.setIntercept(func(w http.ResponseWriter, r *http.Request) bool {
			_, _ = w.Write([]byte(body))
			return true
		})
		_, err := connect(t, srv, resync.IdP, scim.Config{}).ReadPage(t.Context(), "")
		require.Error(t, err, body)
		assert.True(t, resync.IsPermanent(err), body)
		assert.ErrorIs(t, err, scim.ErrMalformed, body)
	}
	srv.setIntercept(func(w http.ResponseWriter, r *http.Request) bool {
		_, _ = w.Write([]byte(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:ListResponse"],"totalResults":3,"Resources":[
			{"id":"a","userName":"a"},{"id":"b","userName":["not","a","string"]},{"userName":"no id"}]}`))
		return true
	})
	p, err := connect(t, srv, resync.IdP, scim.Config{}, "groups", "false").ReadPage(t.Context(), "")
	require.NoError(t, err)
	require.Len(t, p.Records, 1)
	require.Len(t, p.Rejected, 2)
	var re *resync.RecordError
	require.ErrorAs(t, p.Rejected[0], &re)
	assert.Equal(t, "b", re.Key)
	assert.Equal(t, resync.KindIdentity, re.Kind)
	require.ErrorAs(t, p.Rejected[1], &re)
	assert.Empty(t, re.Key)
	assert.Contains(t, re.Reason, "position 3")
	assert.Equal(t, 3, p.Total)
}

// TestSettings: bad settings are permanent invalid-request errors that
// name the setting and never quote a credential.
func TestSettings(t *testing.T) {
	t.Parallel()
	for name, s := range map[string]map[string]string{
		"no url":         {"token": "t"},
		"http":           {"url": "http://x.example/scim", "token": "t"},
		"creds in url":   {"url": "https://u:secret-pw@x.example/scim", "token": "t"},
		"no creds":       {"url": "https://x.example/scim"},
		"both creds":     {"url": "https://x.example/scim", "token": "t", "username": "u", "password": "p"},
		"half basic":     {"url": "https://x.example/scim", "username": "u"},
		"unknown":        {"url": "https://x.example/scim", "token": "t", "pagesize": "3"},
		"page size":      {"url": "https://x.example/scim", "token": "t", "page_size": "1"},
		"groups":         {"url": "https://x.example/scim", "token": "t", "groups": "maybe"},
		"group filter":   {"url": "https://x.example/scim", "token": "t", "groups": "false", "group_filter": `displayName eq "x"`},
		"group page big": {"url": "https://x.example/scim", "token": "t", "group_page_size": "5000"},
	} {
		_, err := scim.New(resync.Connection{ID: "c", Settings: s}, scim.Config{})
		require.Error(t, err, name)
		assert.ErrorIs(t, err, resync.ErrInvalidRequest, name)
		assert.True(t, resync.IsPermanent(err), name)
		assert.NotContains(t, err.Error(), "secret-pw", name)
	}
}

// TestEngine runs the connector under the engine: a 429 with Retry-After
// on the second page is retried and the read completes; a user deleted and
// one deactivated at the provider are removed and suspended on the next
// resync; a 401 fails at once and removes nothing.
func TestEngine(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	srv := newSCIMServer(t, 100)
	var ids []string
	for i := range 30 {
		ids = append(ids, srv.addUser(t, i, true))
	}
	srv.addGroup(t, "all", ids...)
	var throttled sync.Once
	var fired atomic.Bool
	srv.setIntercept(func(w http.ResponseWriter, r *http.Request) bool {
		hit := false
		if r.URL.Query().Get("startIndex") != "1" && r.URL.Path == "/scim/v2/Users" {
			throttled.Do(func() {
				hit = true
				fired.Store(true)
				w.Header().Set("Retry-After", "0")
				writeSCIMError(w, scimerrors.ScimError{Status: http.StatusTooManyRequests, Detail: "slow down"})
			})
		}
		return hit
	})
	src := resynctest.NewSource()
	src.Add(resync.Connection{ID: "scim1", Tenant: "t1", Type: resync.IdP, Provider: "scim",
		Settings: map[string]string{"url": srv.baseURL(), "token": testToken, "page_size": "10"}})
	store := memstore.New()
	e, err := resync.New(ctx, resync.Config{Store: store, Connections: src, Authorizer: resynctest.AllowAll,
		Retry:           resync.RetryPolicy{InitialInterval: time.Millisecond, MaxInterval: time.Millisecond},
		MinReadInterval: -1, // resyncs back to back, not 30s apart
		Connectors:      map[string]resync.ConnectorFactory{"scim": scim.NewFactory(scim.Config{HTTPClient: srv.Client()})}})
	require.NoError(t, err)
	defer func() { require.NoError(t, e.Close(context.Background())) }()
	run := func() resync.ConnectionResult {
		t.Helper()
		r, err := e.ResyncPersonnel(ctx, "t1", resync.Principal{ID: "admin"})
		require.NoError(t, err)
		info, err := r.Wait(ctx)
		require.NoError(t, err)
		require.Len(t, info.Connections, 1)
		return info.Connections[0]
	}
	res := run()
	require.Equal(t, resync.ConnSucceeded, res.Status, res.Error)
	assert.Equal(t, 31, res.Added)
	require.True(t, fired.Load(), "the second page was throttled")
	// Users at 10 a page, overlapping by one: startIndex 1, 10, 19, 28;
	// then one page of groups; and the throttled page once more.
	assert.Equal(t, 4+1+1, res.Attempts, "the 429 was retried, once")

	require.NoError(t, srv.users.Delete(nil, ids[3]))
	srv.users.mu.Lock()
	r := srv.users.res[ids[4]]
	r.Attributes["active"] = false
	srv.users.mu.Unlock()
	res = run()
	require.Equal(t, resync.ConnSucceeded, res.Status, res.Error)
	assert.Equal(t, 1, res.Removed)
	assert.Equal(t, 1, res.Updated)
	recs, err := store.Records(ctx, resync.RecordQuery{Tenant: "t1", ConnectionID: "scim1"})
	require.NoError(t, err)
	for _, rec := range recs {
		if id, ok := rec.Record.(*resync.Identity); ok && id.Key == ids[4] {
			assert.Equal(t, resync.StatusSuspended, id.Status)
		}
	}

	src.Remove("t1")
	src.Add(resync.Connection{ID: "scim1", Tenant: "t1", Type: resync.IdP, Provider: "scim",
		Settings: map[string]string{"url": srv.baseURL(), "token": "revoked-token-11aa"}})
	res = run()
	assert.Equal(t, resync.ConnFailed, res.Status)
	assert.Contains(t, res.Error, "401")
	assert.NotContains(t, res.Error, "revoked-token-11aa")
	assert.Zero(t, res.Removed)
}

// TestPagingWithoutTotal: a provider that caps count and sends no
// totalResults is read to its first empty answer; one that ignores
// startIndex (every answer from the first user) fails rather than end the
// read after one page.
func TestPagingWithoutTotal(t *testing.T) {
	t.Parallel()
	srv := newSCIMServer(t, 100)
	list := func(ignoreStart bool) func(w http.ResponseWriter, r *http.Request) bool {
		return func(w http.ResponseWriter, r *http.Request) bool {
			start, _ := strconv.Atoi(r.URL.Query().Get("startIndex"))
			count, _ := strconv.Atoi(r.URL.Query().Get("count"))
			if ignoreStart {
				start = 1
			}
			var res []string
			for i := start; i < start+min(count, 4) && i <= 23; i++ {
				res = append(res, fmt.Sprintf(`{"id":"x%d","userName":"x%d"}`, i, i))
			}
			fmt.Fprintf(w, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:ListResponse"],"startIndex":%d,"Resources":[%s]}`,
				start, strings.Join(res, ","))
			return true
		}
	}
	srv.setIntercept(list(false))
	recs, _ := readAll(t, connect(t, srv, resync.IdP, scim.Config{}, "page_size", "10", "groups", "false"))
	assert.Len(t, recs, 23)

	srv.setIntercept(list(true))
	c := connect(t, srv, resync.IdP, scim.Config{}, "page_size", "4", "groups", "false")
	p, err := c.ReadPage(t.Context(), "")
	require.NoError(t, err)
	require.NotEmpty(t, p.Next)
	_, err = c.ReadPage(t.Context(), p.Next)
	require.Error(t, err)
	assert.ErrorIs(t, err, scim.ErrMalformed)
	assert.True(t, resync.IsPermanent(err))
	assert.Contains(t, err.Error(), "answered startIndex 1")
}

// The token may be a secret reference: the factory resolves it through the
// engine's Config.Secrets; an unknown reference fails the read permanently,
// naming the reference and never a secret.
func TestSecretReference(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	srv := newSCIMServer(t, 100)
	srv.addUser(t, 0, true)
	src := resynctest.NewSource()
	src.Add(resync.Connection{ID: "good", Tenant: "t1", Type: resync.IdP, Provider: "scim",
		Settings: map[string]string{"url": srv.baseURL(), "token": "secret:vault/scim"}})
	src.Add(resync.Connection{ID: "bad", Tenant: "t2", Type: resync.IdP, Provider: "scim",
		Settings: map[string]string{"url": srv.baseURL(), "token": "secret:vault/missing"}})
	secrets := func(_ context.Context, ref string) (string, error) {
		if ref == "vault/scim" {
			return testToken, nil
		}
		return "", fmt.Errorf("%w: %s", resync.ErrNotFound, ref)
	}
	e, err := resync.New(ctx, resync.Config{Store: memstore.New(), Connections: src, Authorizer: resynctest.AllowAll,
		Secrets:    secrets,
		Connectors: map[string]resync.ConnectorFactory{"scim": scim.NewFactory(scim.Config{HTTPClient: srv.Client()})}})
	require.NoError(t, err)
	defer func() { require.NoError(t, e.Close(context.Background())) }()
	for tenant, want := range map[string]resync.ConnectionStatus{"t1": resync.ConnSucceeded, "t2": resync.ConnFailed} {
		r, err := e.ResyncPersonnel(ctx, tenant, resync.Principal{ID: "admin"})
		require.NoError(t, err)
		info, err := r.Wait(ctx)
		require.NoError(t, err)
		require.Len(t, info.Connections, 1)
		res := info.Connections[0]
		assert.Equal(t, want, res.Status, "%s: %s", tenant, res.Error)
		if tenant == "t2" {
			assert.Contains(t, res.Error, `secret reference "vault/missing" not found`)
			assert.True(t, resync.IsPermanent(r.Err()), "an unknown reference is not retried: %v", r.Err())
			assert.NotContains(t, res.Error, testToken)
		}
	}
}
