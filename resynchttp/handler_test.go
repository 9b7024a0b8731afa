package resynchttp_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/openresync/resync"
	"github.com/openresync/resync/memstore"
	"github.com/openresync/resync/resynchttp"
	"github.com/openresync/resync/resynctest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var (
	alice = resync.Principal{ID: "alice", Email: "alice@t1.example", Name: "Alice"} // admin of t1
	bob   = resync.Principal{ID: "bob", Email: "bob@t1.example"}                    // member of t1, no rights
	carol = resync.Principal{ID: "carol", Email: "carol@t2.example"}                // admin of t2
)

// env is an engine with two tenants behind the handler, served over HTTP.
type env struct {
	srv    *httptest.Server
	engine *resync.Engine
	fakes  *resynctest.Fakes
	src    *resynctest.Source
}

// users authenticates with "Authorization: Bearer <principal id>"; the
// tenant is the principal's.
var users = map[string]struct {
	tenant string
	p      resync.Principal
}{"alice": {"t1", alice}, "bob": {"t1", bob}, "carol": {"t2", carol}}

func authenticate(r *http.Request) (string, resync.Principal, error) {
	u, ok := users[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")]
	if !ok {
		return "", resync.Principal{}, errors.New("no session")
	}
	return u.tenant, u.p, nil
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{fakes: resynctest.NewFakes(), src: resynctest.NewSource()}
	for _, tenant := range []string{"t1", "t2"} {
		e.src.Add(
			resync.Connection{ID: "okta", Tenant: tenant, Type: resync.IdP, Provider: "okta", Name: "Okta",
				Settings: map[string]string{"token": "secret:vault/okta-" + tenant}},
			resync.Connection{ID: "aws-prod", Tenant: tenant, Type: resync.Infrastructure, Provider: "aws", Name: "AWS prod"},
			resync.Connection{ID: "aws-dev", Tenant: tenant, Type: resync.Infrastructure, Provider: "aws", Name: "AWS dev"},
		)
		e.fakes.Set(tenant, "okta", resynctest.NewConnector(append(resynctest.Identities(tenant+"-u", 150),
			&resync.Identity{Key: tenant + "-ada", Email: "ada@" + tenant + ".example", Status: resync.StatusActive}), 50))
		e.fakes.Set(tenant, "aws-prod", resynctest.NewConnector([]resync.Record{
			&resync.Account{Key: "AIDA" + tenant + "ADA", OwnerEmail: "ada@" + tenant + ".example", Status: resync.StatusActive}}, 10))
		e.fakes.Set(tenant, "aws-dev", resynctest.NewConnector(nil, 10))
	}
	admins := resynctest.Admins{"t1": {alice}, "t2": {carol}}
	eng, err := resync.New(t.Context(), resync.Config{
		Store: memstore.New(), Connections: e.src, Authorizer: admins, Directory: admins, Notifier: &resynctest.Notifier{},
		Connectors:      e.fakes.Factories("okta", "aws"),
		MinReadInterval: time.Nanosecond,
		Retry:           resync.RetryPolicy{InitialInterval: time.Millisecond, MaxInterval: time.Millisecond, MaxAttempts: 2},
	})
	require.NoError(t, err)
	e.engine = eng
	h, err := resynchttp.New(eng, resynchttp.Config{Authenticate: authenticate})
	require.NoError(t, err)
	mux := http.NewServeMux()
	mux.Handle("/resync/", http.StripPrefix("/resync", h))
	e.srv = httptest.NewServer(mux)
	t.Cleanup(func() {
		e.srv.Client().CloseIdleConnections()
		e.srv.Close()
		require.NoError(t, eng.Close(context.Background()))
	})
	return e
}

// do sends a request as who ("" for none) and decodes a JSON answer into
// out (when not nil), returning the status and the raw body.
func (e *env) do(t *testing.T, who, method, path, body string, out any) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, e.srv.URL+"/resync"+path, rd)
	require.NoError(t, err)
	if who != "" {
		req.Header.Set("Authorization", "Bearer "+who)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := e.srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	if out != nil && resp.StatusCode < 300 {
		require.NoError(t, json.Unmarshal(raw, out), string(raw))
	}
	if resp.StatusCode >= 400 {
		assert.Equal(t, "application/problem+json", resp.Header.Get("Content-Type"), string(raw))
		var p resynchttp.Problem
		require.NoError(t, json.Unmarshal(raw, &p), string(raw))
		assert.Equal(t, resp.StatusCode, p.Status)
	}
	return resp.StatusCode, string(raw)
}

// storedRecord is resync.StoredRecord as a client reads it: the record's
// fields as a JSON object, its kind in Kind.
type storedRecord struct {
	ConnectionID string
	Kind         resync.RecordKind
	Key          string
	Record       map[string]any
	Active       bool
}

func result(info resync.RunInfo, id string) resync.ConnectionResult {
	for _, c := range info.Connections {
		if c.ConnectionID == id {
			return c
		}
	}
	return resync.ConnectionResult{}
}

func (e *env) wait(t *testing.T, who, id string) resync.RunInfo {
	t.Helper()
	var info resync.RunInfo
	require.Eventually(t, func() bool {
		status, _ := e.do(t, who, "GET", "/runs/"+id, "", &info)
		return status == 200 && info.FinishedAt.After(info.CreatedAt)
	}, 10*time.Second, 5*time.Millisecond)
	return info
}

// The seed's flow over HTTP: plan (the confirmation), start, follow the
// run to completion, list runs, then find the person everywhere.
func TestPersonnelResync(t *testing.T) {
	e := newEnv(t)
	var plan struct {
		Sync []struct{ ID, Provider, Name string }
		Skip []struct {
			Connection struct{ ID string }
			Reason     string
		}
	}
	status, raw := e.do(t, "alice", "POST", "/plan", `{"Scope":{"Kind":"personnel"}}`, &plan)
	require.Equal(t, 200, status, raw)
	require.Len(t, plan.Sync, 3, "a personnel resync reads the IdP and the infrastructure")
	assert.Equal(t, "Okta", plan.Sync[0].Name)
	assert.Empty(t, plan.Skip)
	assert.NotContains(t, raw, "vault/okta", "connection settings are never sent")

	var started resync.RunInfo
	status, raw = e.do(t, "alice", "POST", "/runs", `{"Scope":{"Kind":"personnel"}}`, &started)
	require.Equal(t, http.StatusAccepted, status, raw)
	require.NotEmpty(t, started.ID)
	info := e.wait(t, "alice", started.ID)
	assert.Equal(t, resync.RunSucceeded, info.Status)
	require.Len(t, info.Connections, 3)
	assert.Equal(t, 152, info.Totals().Added)

	var runs []resync.RunInfo
	status, _ = e.do(t, "alice", "GET", "/runs?limit=10", "", &runs)
	require.Equal(t, 200, status)
	require.Len(t, runs, 1)
	assert.Equal(t, started.ID, runs[0].ID)

	// An accounts resync of one selected connection.
	status, raw = e.do(t, "alice", "POST", "/runs", `{"Scope":{"Kind":"accounts","Types":["infrastructure"],"ConnectionIDs":["aws-prod"]}}`, &started)
	require.Equal(t, http.StatusAccepted, status, raw)
	info = e.wait(t, "alice", started.ID)
	require.Len(t, info.Connections, 1)
	assert.Equal(t, "aws-prod", info.Connections[0].ConnectionID)

	var person []storedRecord
	status, raw = e.do(t, "alice", "GET", "/people/ada@t1.example", "", &person)
	require.Equal(t, 200, status, raw)
	assert.Len(t, person, 2, "Ada's identity at Okta and her AWS account")
	assert.NotContains(t, raw, "vault/okta")
	for _, r := range person {
		assert.True(t, r.Active)
	}

	var page struct {
		Records []storedRecord
		Next    string
	}
	status, raw = e.do(t, "alice", "GET", "/records?kind=identity&limit=100", "", &page)
	require.Equal(t, 200, status, raw)
	assert.Len(t, page.Records, 100)
	require.NotEmpty(t, page.Next)
	next := page.Next
	page.Next = ""
	status, raw = e.do(t, "alice", "GET", "/records?kind=identity&limit=100&cursor="+next, "", &page)
	require.Equal(t, 200, status, raw)
	assert.Len(t, page.Records, 51)
	assert.Empty(t, page.Next)

	var changes struct {
		Entries []struct{ Seq int64 }
		Next    int64
	}
	status, raw = e.do(t, "alice", "GET", "/changes?op=add&limit=100", "", &changes)
	require.Equal(t, 200, status, raw)
	assert.Len(t, changes.Entries, 100)
	require.NotZero(t, changes.Next)
	status, _ = e.do(t, "alice", "GET", fmt.Sprintf("/changes?op=add&limit=100&after=%d", changes.Next), "", &changes)
	require.Equal(t, 200, status)
	assert.Len(t, changes.Entries, 52, "151 identities and one account added; the accounts resync changed nothing")
}

// Every route refuses a principal without the right (403), and another
// tenant's ids are not found (404): nothing of t1 is visible to t2's admin.
func TestEveryRouteForbiddenAndIsolated(t *testing.T) {
	e := newEnv(t)
	var started resync.RunInfo
	status, raw := e.do(t, "alice", "POST", "/runs", `{"Scope":{"Kind":"personnel"}}`, &started)
	require.Equal(t, http.StatusAccepted, status, raw)
	e.wait(t, "alice", started.ID)
	id := started.ID

	routes := []struct{ method, path, body string }{
		{"POST", "/plan", `{"Scope":{"Kind":"personnel"}}`},
		{"POST", "/runs", `{"Scope":{"Kind":"personnel"}}`},
		{"GET", "/runs", ""},
		{"GET", "/runs/" + id, ""},
		{"POST", "/runs/" + id + "/cancel", ""},
		{"GET", "/held", ""},
		{"GET", "/held/decided", ""},
		{"POST", "/held/h1/approve", `{"Reason":"ok"}`},
		{"POST", "/held/h1/reject", `{"Reason":"no"}`},
		{"POST", "/connections/okta/check", ""},
		{"GET", "/records", ""},
		{"GET", "/people/ada@t1.example", ""},
		{"GET", "/changes", ""},
	}
	for _, rt := range routes {
		t.Run(rt.method+rt.path, func(t *testing.T) {
			status, raw := e.do(t, "bob", rt.method, rt.path, rt.body, nil)
			assert.Equal(t, http.StatusForbidden, status, "a member without rights: %s", raw)
			status, raw = e.do(t, "", rt.method, rt.path, rt.body, nil)
			assert.Equal(t, http.StatusUnauthorized, status, "no session: %s", raw)
		})
	}

	// carol, t2's admin, asks for t1's run: not found, not forbidden, and
	// the answer says nothing of t1.
	for _, rt := range []struct{ method, path, body string }{
		{"GET", "/runs/" + id, ""},
		{"POST", "/runs/" + id + "/cancel", ""},
	} {
		status, raw := e.do(t, "carol", rt.method, rt.path, rt.body, nil)
		assert.Equal(t, http.StatusNotFound, status, raw)
		assert.NotContains(t, raw, `"t1"`)
	}
	var runs []resync.RunInfo
	status, _ = e.do(t, "carol", "GET", "/runs", "", &runs)
	require.Equal(t, 200, status)
	assert.Empty(t, runs)
	var person []storedRecord
	status, _ = e.do(t, "carol", "GET", "/people/ada@t1.example", "", &person)
	require.Equal(t, 200, status)
	assert.Empty(t, person, "t1's person is not t2's")
	var changes struct{ Entries []struct{ Seq int64 } }
	status, _ = e.do(t, "carol", "GET", "/changes?run="+id, "", &changes)
	require.Equal(t, 200, status)
	assert.Empty(t, changes.Entries)
}

// A held removal is approved over HTTP with a reason; a second decision on
// it is a conflict (409).
func TestHeldApproveAndConflict(t *testing.T) {
	e := newEnv(t)
	var started resync.RunInfo
	status, raw := e.do(t, "alice", "POST", "/runs", `{"Scope":{"Kind":"personnel"}}`, &started)
	require.Equal(t, http.StatusAccepted, status, raw)
	e.wait(t, "alice", started.ID)

	e.fakes.Get("t1", "okta").SetRecords(resynctest.Identities("t1-u", 10), 50) // 141 of 151 gone
	status, raw = e.do(t, "alice", "POST", "/runs", `{"Scope":{"Kind":"personnel"}}`, &started)
	require.Equal(t, http.StatusAccepted, status, raw)
	info := e.wait(t, "alice", started.ID)
	require.Equal(t, resync.ConnHeld, result(info, "okta").Status)

	var held []resync.HeldSummary
	status, _ = e.do(t, "alice", "GET", "/held", "", &held)
	require.Equal(t, 200, status)
	require.Len(t, held, 1)
	assert.Equal(t, 141, held[0].Removed)

	var sum resync.HeldSummary
	status, raw = e.do(t, "alice", "POST", "/held/"+url.PathEscape(held[0].ID)+"/approve", `{"Reason":"offboarding of the Berlin office"}`, &sum)
	require.Equal(t, 200, status, raw)
	assert.Equal(t, resync.ConnApplied, sum.Decision.Kind)
	assert.Equal(t, "offboarding of the Berlin office", sum.Decision.Reason)

	status, raw = e.do(t, "alice", "POST", "/held/"+url.PathEscape(held[0].ID)+"/reject", "", nil)
	assert.Contains(t, []int{http.StatusConflict, http.StatusNotFound}, status, raw)
	status, raw = e.do(t, "carol", "POST", "/held/"+url.PathEscape(held[0].ID)+"/reject", "", nil)
	assert.Equal(t, http.StatusNotFound, status, "another tenant's held set: %s", raw)

	var decided []resync.HeldSummary
	status, _ = e.do(t, "alice", "GET", "/held/decided", "", &decided)
	require.Equal(t, 200, status)
	require.Len(t, decided, 1)
	assert.Equal(t, "alice", decided[0].Decision.By.ID)
}

// Bad input gets a clear problem and starts nothing.
func TestBadRequests(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name, method, path, body, ctype string
		status                          int
		detail                          string
	}{
		{"unknown field", "POST", "/runs", `{"Scope":{"Kind":"personnel"},"Force":true}`, "application/json", 400, `unknown field "Force"`},
		{"not json", "POST", "/runs", `{"Scope":`, "application/json", 400, "malformed JSON body"},
		{"two objects", "POST", "/runs", `{"Scope":{"Kind":"personnel"}}{}`, "application/json", 400, "found more"},
		{"wrong type", "POST", "/runs", `{"Scope":{"Kind":7}}`, "application/json", 400, `field "Scope.Kind"`},
		{"form post", "POST", "/runs", `Scope=personnel`, "application/x-www-form-urlencoded", 415, "application/json"},
		{"bad scope", "POST", "/runs", `{"Scope":{"Kind":"everything"}}`, "application/json", 422, "invalid request"},
		{"accounts without type", "POST", "/runs", `{"Scope":{"Kind":"accounts"}}`, "application/json", 422, "invalid request"},
		{"too large", "POST", "/runs", `{"Scope":{"Kind":"personnel","Providers":["` + strings.Repeat("x", 70<<10) + `"]}}`, "application/json", 413, "at most"},
		{"bad limit", "GET", "/runs?limit=-1", "", "", 400, "limit"},
		{"unknown param", "GET", "/changes?sicne=2026-01-01T00:00:00Z", "", "", 400, `"sicne"`},
		{"bad time", "GET", "/changes?since=yesterday", "", "", 400, "RFC 3339"},
		{"body on cancel", "POST", "/runs/x/cancel", `{}`, "application/json", 400, "takes no body"},
		{"unknown route", "GET", "/nothing", "", "", 404, "no such route"},
		{"wrong method", "DELETE", "/runs", "", "", 405, "use GET or POST"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), tc.method, e.srv.URL+"/resync"+tc.path, strings.NewReader(tc.body))
			require.NoError(t, err)
			req.Header.Set("Authorization", "Bearer alice")
			if tc.ctype != "" {
				req.Header.Set("Content-Type", tc.ctype)
			}
			resp, err := e.srv.Client().Do(req)
			require.NoError(t, err)
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			assert.Equal(t, tc.status, resp.StatusCode, string(raw))
			var p resynchttp.Problem
			require.NoError(t, json.Unmarshal(raw, &p), string(raw))
			assert.Contains(t, p.Title+": "+p.Detail, tc.detail)
			assert.NotContains(t, string(raw), "goroutine", "never a stack")
		})
	}
	var runs []resync.RunInfo
	e.do(t, "alice", "GET", "/runs", "", &runs)
	assert.Empty(t, runs, "no bad request started a run")
}

// A state-changing request from another site is refused before it reaches
// the engine; a trusted origin is let through.
func TestCrossSiteRequests(t *testing.T) {
	e := newEnv(t)
	send := func(h http.Header) int {
		req, err := http.NewRequestWithContext(t.Context(), "POST", e.srv.URL+"/resync/runs", strings.NewReader(`{"Scope":{"Kind":"personnel"}}`))
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer alice")
		req.Header.Set("Content-Type", "application/json")
		for k, v := range h {
			req.Header[k] = v
		}
		resp, err := e.srv.Client().Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	assert.Equal(t, http.StatusForbidden, send(http.Header{"Sec-Fetch-Site": {"cross-site"}}))
	assert.Equal(t, http.StatusForbidden, send(http.Header{"Origin": {"https://evil.example"}}))
	var runs []resync.RunInfo
	e.do(t, "alice", "GET", "/runs", "", &runs)
	assert.Empty(t, runs, "a cross-site request started nothing")
	assert.Equal(t, http.StatusAccepted, send(http.Header{"Sec-Fetch-Site": {"same-origin"}}))

	// A GET is never refused for its origin (it changes nothing).
	req, _ := http.NewRequestWithContext(t.Context(), "GET", e.srv.URL+"/resync/runs", nil)
	req.Header.Set("Authorization", "Bearer alice")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	resp, err := e.srv.Client().Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 200, resp.StatusCode)

	h, err := resynchttp.New(e.engine, resynchttp.Config{Authenticate: authenticate, TrustedOrigins: []string{"https://admin.example"}})
	require.NoError(t, err)
	rec := httptest.NewRecorder()
	r := httptest.NewRequest("POST", "/plan", strings.NewReader(`{"Scope":{"Kind":"personnel"}}`))
	r.Header.Set("Authorization", "Bearer alice")
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Origin", "https://admin.example")
	r.Header.Set("Sec-Fetch-Site", "cross-site")
	h.ServeHTTP(rec, r)
	assert.Equal(t, 200, rec.Code, rec.Body.String())

	_, err = resynchttp.New(e.engine, resynchttp.Config{Authenticate: authenticate, TrustedOrigins: []string{"admin.example/path"}})
	assert.ErrorIs(t, err, resync.ErrInvalidRequest)
	_, err = resynchttp.New(e.engine, resynchttp.Config{})
	assert.ErrorIs(t, err, resync.ErrInvalidRequest)
}

// Testing a connection reports the connector's failure as the check's
// result, not as a failed request.
func TestCheckConnection(t *testing.T) {
	e := newEnv(t)
	var res struct {
		OK        bool
		Error     string
		Permanent bool
	}
	status, raw := e.do(t, "alice", "POST", "/connections/okta/check", "", &res)
	require.Equal(t, 200, status, raw)
	assert.True(t, res.OK)

	e.fakes.Get("t1", "okta").AddFault(resynctest.Fault{Page: 0, Err: resync.Permanent(errors.New("401 invalid token")), Times: 10})
	status, raw = e.do(t, "alice", "POST", "/connections/okta/check", "", &res)
	require.Equal(t, 200, status, raw)
	assert.False(t, res.OK)
	assert.Contains(t, res.Error, "401 invalid token")
	assert.True(t, res.Permanent)

	status, raw = e.do(t, "alice", "POST", "/connections/nope/check", "", nil)
	assert.Equal(t, 404, status, raw)
	status, raw = e.do(t, "carol", "POST", "/connections/aws-prod/check", "", &res)
	assert.Equal(t, 200, status, "t2 has its own aws-prod: %s", raw)
}

// Cancel stops a run in progress.
func TestCancel(t *testing.T) {
	e := newEnv(t)
	e.fakes.Get("t1", "okta").Block()
	var started resync.RunInfo
	status, raw := e.do(t, "alice", "POST", "/runs", `{"Scope":{"Kind":"personnel"}}`, &started)
	require.Equal(t, http.StatusAccepted, status, raw)
	status, raw = e.do(t, "alice", "POST", "/runs/"+started.ID+"/cancel", "", nil)
	require.Equal(t, http.StatusNoContent, status, raw)
	e.fakes.Get("t1", "okta").Unblock()
	info := e.wait(t, "alice", started.ID)
	assert.Equal(t, resync.RunCanceled, info.Status)
}
