package resynchttp_test

import (
	"context"
	"encoding/csv"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openresync/resync"
	"github.com/openresync/resync/linking"
	"github.com/openresync/resync/memstore"
	"github.com/openresync/resync/resynchttp"
	"github.com/openresync/resync/resynctest"
)

// linkEnv is env with a Linker behind the handler: t1 has an IdP in which
// Jane is deprovisioned, and AWS, where she still has an active user.
func linkEnv(t *testing.T) *env {
	t.Helper()
	e := &env{fakes: resynctest.NewFakes(), src: resynctest.NewSource()}
	for _, tenant := range []string{"t1", "t2"} {
		e.src.Add(
			resync.Connection{ID: "okta", Tenant: tenant, Type: resync.IdP, Provider: "okta", Name: "Okta"},
			resync.Connection{ID: "aws-prod", Tenant: tenant, Type: resync.Infrastructure, Provider: "aws", Name: "AWS prod"},
		)
		e.fakes.Set(tenant, "okta", resynctest.NewConnector([]resync.Record{
			&resync.Identity{Key: "00u1", Email: "jane@" + tenant + ".example", Status: resync.StatusDeprovisioned},
			&resync.Identity{Key: "00u2", Email: "joe@" + tenant + ".example", Status: resync.StatusActive},
		}, 10))
		e.fakes.Set(tenant, "aws-prod", resynctest.NewConnector([]resync.Record{
			&resync.Account{Key: "AIDA1", Username: "jane", OwnerEmail: "jane@" + tenant + ".example", Status: resync.StatusActive},
			&resync.Account{Key: "AIDA2", Username: "joe", ExternalID: "00u2", Status: resync.StatusActive},
			&resync.Account{Key: "AIDA3", Username: "temp", Status: resync.StatusActive},
		}, 10))
	}
	store := memstore.New()
	admins := resynctest.Admins{"t1": {alice}, "t2": {carol}}
	lk, err := linking.New(linking.Config{Store: store, Connections: e.src, Authorizer: admins})
	require.NoError(t, err)
	eng, err := resync.New(t.Context(), resync.Config{
		Store: store, Connections: e.src, Authorizer: admins, Directory: admins,
		Connectors: e.fakes.Factories("okta", "aws"), AfterRun: lk.AfterRun, MinReadInterval: time.Nanosecond,
	})
	require.NoError(t, err)
	e.engine = eng
	h, err := resynchttp.New(eng, resynchttp.Config{Authenticate: authenticate, Linker: lk})
	require.NoError(t, err)
	mux := http.NewServeMux()
	mux.Handle("/resync/", http.StripPrefix("/resync", h))
	e.srv = httptest.NewServer(mux)
	t.Cleanup(func() {
		e.srv.Client().CloseIdleConnections()
		e.srv.Close()
		require.NoError(t, eng.Close(context.Background()))
	})
	for _, who := range []string{"alice", "carol"} {
		var run resync.RunInfo
		status, raw := e.do(t, who, "POST", "/runs", `{"Scope":{"Kind":"personnel"}}`, &run)
		require.Equal(t, http.StatusAccepted, status, raw)
		e.wait(t, who, run.ID)
	}
	return e
}

// Who holds what, over HTTP: the offboarding gap, the orphan, a person's
// access, an admin's decision that closes the orphan, and the CSV.
func TestLinkingRoutes(t *testing.T) {
	e := linkEnv(t)

	var findings struct{ Findings []linking.Finding }
	status, raw := e.do(t, "alice", "GET", "/findings?open=true&kind=offboarding_gap", "", &findings)
	require.Equal(t, 200, status, raw)
	require.Len(t, findings.Findings, 1)
	assert.Equal(t, "AIDA1", findings.Findings[0].AccountKey)

	var links struct {
		Links []linking.Link
		Next  string
	}
	status, raw = e.do(t, "alice", "GET", "/links?situation=unlinked", "", &links)
	require.Equal(t, 200, status, raw)
	require.Len(t, links.Links, 1)
	assert.Equal(t, "AIDA3", links.Links[0].AccountKey)

	var access struct {
		Person   struct{ Offboarded bool }
		Accounts []struct {
			Link    linking.Link
			Account storedRecord
		}
	}
	status, raw = e.do(t, "alice", "GET", "/people/"+url.PathEscape("jane@t1.example")+"/access", "", &access)
	require.Equal(t, 200, status, raw)
	assert.True(t, access.Person.Offboarded)
	require.Len(t, access.Accounts, 1)
	assert.Equal(t, "AIDA1", access.Accounts[0].Account.Key)
	assert.Equal(t, linking.OffboardingGap, access.Accounts[0].Link.Situation)

	var d linking.Decision
	status, raw = e.do(t, "alice", "POST", "/decisions", `{"ConnectionID":"aws-prod","AccountKey":"AIDA3","Kind":"service","Reason":"the nightly export job"}`, &d)
	require.Equal(t, http.StatusCreated, status, raw)
	assert.Equal(t, "alice", d.By.ID)
	var ds []linking.Decision
	status, _ = e.do(t, "alice", "GET", "/decisions?current=true", "", &ds)
	require.Equal(t, 200, status)
	require.Len(t, ds, 1)
	assert.Equal(t, "the nightly export job", ds[0].Reason)

	status, raw = e.do(t, "alice", "GET", "/accounts.csv", "", nil)
	require.Equal(t, 200, status, raw)
	rows, err := csv.NewReader(strings.NewReader(raw)).ReadAll()
	require.NoError(t, err, raw)
	assert.Len(t, rows, 4, "a header and the three accounts")
	assert.Contains(t, raw, "offboarding_gap")
}

// A run says how many findings it opened, and the findings route lists
// them by that run: the link a completion email gives.
func TestRunFindingsRoute(t *testing.T) {
	e := linkEnv(t)
	var runs []resync.RunInfo
	status, raw := e.do(t, "alice", "GET", "/runs", "", &runs)
	require.Equal(t, 200, status, raw)
	require.Len(t, runs, 1)
	var run resync.RunInfo
	status, raw = e.do(t, "alice", "GET", "/runs/"+url.PathEscape(runs[0].ID), "", &run)
	require.Equal(t, 200, status, raw)
	assert.Equal(t, map[string]int{"offboarding_gap": 1, "orphaned": 1}, run.Findings, raw)

	var findings struct{ Findings []linking.Finding }
	status, raw = e.do(t, "alice", "GET", "/findings?kind=offboarding_gap&run="+url.QueryEscape(run.ID), "", &findings)
	require.Equal(t, 200, status, raw)
	require.Len(t, findings.Findings, run.Findings["offboarding_gap"])
	assert.Equal(t, "AIDA1", findings.Findings[0].AccountKey)
	status, raw = e.do(t, "alice", "GET", "/findings?kind=offboarding_gap&run=another-run", "", &findings)
	require.Equal(t, 200, status, raw)
	assert.Empty(t, findings.Findings)
}

// Each linking route refuses a principal without the right and shows
// nothing of another tenant; a decision without a reason is refused.
func TestLinkingRoutesRefused(t *testing.T) {
	e := linkEnv(t)
	for _, rt := range []struct{ method, path, body string }{
		{"GET", "/people/jane@t1.example/access", ""},
		{"GET", "/links", ""},
		{"GET", "/findings", ""},
		{"GET", "/decisions", ""},
		{"POST", "/decisions", `{"ConnectionID":"aws-prod","AccountKey":"AIDA3","Kind":"service","Reason":"x"}`},
		{"GET", "/accounts.csv", ""},
	} {
		status, raw := e.do(t, "bob", rt.method, rt.path, rt.body, nil)
		assert.Equal(t, http.StatusForbidden, status, "%s %s: %s", rt.method, rt.path, raw)
	}
	var findings struct{ Findings []linking.Finding }
	status, _ := e.do(t, "carol", "GET", "/findings?person=jane@t1.example", "", &findings)
	require.Equal(t, 200, status)
	for _, f := range findings.Findings {
		assert.Equal(t, "t2", f.Tenant)
	}
	status, raw := e.do(t, "alice", "POST", "/decisions", `{"ConnectionID":"aws-prod","AccountKey":"AIDA3","Kind":"service"}`, nil)
	assert.Equal(t, http.StatusUnprocessableEntity, status, raw)
	status, raw = e.do(t, "alice", "GET", "/findings?open=perhaps", "", nil)
	assert.Equal(t, http.StatusBadRequest, status, raw)

	// Without a Linker the routes are not there.
	plain := newEnv(t)
	status, raw = plain.do(t, "alice", "GET", "/findings", "", nil)
	assert.Equal(t, http.StatusNotFound, status, raw)
}
