package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openresync/resync"
	"github.com/openresync/resync/examples/internal/sampleorg"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// call serves one API request as Ada and decodes a JSON answer into out.
func call(t *testing.T, h http.Handler, method, path, body string, out any) int {
	t.Helper()
	req := httptest.NewRequest(method, "/api"+path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if out != nil && rec.Code < 300 {
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), out), rec.Body.String())
	}
	return rec.Code
}

type findingsPage struct {
	Findings []struct {
		Kind, ConnectionID, AccountKey, PersonID, OpenedRun string
	}
}

// The example's wiring without a browser: the sample organisation's
// first personnel resync opens Jane Doe's offboarding gap, the run says
// so, the API lists it by run, and a decision with a reason (and none
// without) closes the orphaned CI account's finding.
func TestSampleOffboardingGap(t *testing.T) {
	a, err := newApp(t.Context(), t.Output(), t.TempDir(), filepath.Join(t.TempDir(), "resync.db"))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, a.close()) })

	run, err := a.engine.ResyncPersonnel(t.Context(), sampleorg.Tenant, sampleorg.Admin)
	require.NoError(t, err)
	info, err := run.Wait(t.Context())
	require.NoError(t, err)
	require.Equal(t, resync.RunSucceeded, info.Status)
	assert.Equal(t, map[string]int{"offboarding_gap": 1, "orphaned": 1, "no_mfa": 1}, info.Findings)

	var gaps findingsPage
	require.Equal(t, http.StatusOK, call(t, a.handler, "GET", "/findings?kind=offboarding_gap&run="+info.ID, "", &gaps))
	require.Len(t, gaps.Findings, 1)
	g := gaps.Findings[0]
	assert.Equal(t, "aws-prod", g.ConnectionID)
	assert.Equal(t, "AIDA0000000000000004", g.AccountKey)
	assert.Equal(t, "hris:E003", g.PersonID)
	assert.Equal(t, info.ID, g.OpenedRun)

	const bot = "AIDA0000000000000006"
	blank := `{"ConnectionID":"aws-prod","AccountKey":"` + bot + `","Kind":"service","Reason":"  "}`
	assert.Equal(t, http.StatusUnprocessableEntity, call(t, a.handler, "POST", "/decisions", blank, nil))
	var ds []json.RawMessage
	require.Equal(t, http.StatusOK, call(t, a.handler, "GET", "/decisions", "", &ds))
	assert.Empty(t, ds, "a refused decision stores nothing")

	var orphans findingsPage
	require.Equal(t, http.StatusOK, call(t, a.handler, "GET", "/findings?kind=orphaned&open=true", "", &orphans))
	require.Len(t, orphans.Findings, 1)
	assert.Equal(t, bot, orphans.Findings[0].AccountKey)
	ok := `{"ConnectionID":"aws-prod","AccountKey":"` + bot + `","Kind":"service","Reason":"CI deploy bot"}`
	require.Equal(t, http.StatusCreated, call(t, a.handler, "POST", "/decisions", ok, nil))
	require.Equal(t, http.StatusOK, call(t, a.handler, "GET", "/findings?kind=orphaned&open=true", "", &orphans))
	assert.Empty(t, orphans.Findings, "the service account is no orphan")
	require.Equal(t, http.StatusOK, call(t, a.handler, "GET", "/findings?kind=offboarding_gap&open=true", "", &gaps))
	assert.Len(t, gaps.Findings, 1, "Jane's gap stays open")
}
