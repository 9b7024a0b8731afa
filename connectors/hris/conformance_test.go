package hris_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openresync/resync"
	"github.com/openresync/resync/connectors/hris"
	"github.com/openresync/resync/memstore"
	"github.com/openresync/resync/resynctest"
)

// TestConformance runs the connector contract suite over a file and over
// HTTPS, with pages small enough that every read spans several, and rows
// the reads reject along the way.
func TestConformance(t *testing.T) {
	t.Parallel()
	csv := "\ufeffid,employeeNumber,firstName,lastName,workEmail,supervisorEId,hireDate,terminationDate,status\r\n" +
		"1,E1,Ada,Lovelace,ada@acme.example,,2020-01-01,0000-00-00,Active\r\n" +
		"2,E2,Grace,Hopper,grace@acme.example,E1,2026-07-01,0000-00-00,Active\r\n" +
		"3,E3,Jane,Doe,jane@acme.example,E1,2019-01-01,2026-05-31,Inactive\r\n" +
		"4,E4,Bad,Date,bad@acme.example,E1,yesterday,,Active\r\n" +
		"5,E5,\"Ed \"\"Eddie\"\"\",Poe,ed@acme.example,E2,2021-03-01,,Active\r\n"
	path := writeFile(t, csv)
	srv, _ := server(t, func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(csv)) })
	for _, size := range []string{"2", "500"} {
		t.Run("file/page_size="+size, func(t *testing.T) {
			resynctest.TestConnector(t, func(t *testing.T) resync.Connector {
				c, err := hris.New(resync.Connection{ID: "hr", Settings: map[string]string{
					"path": path, "preset": "bamboohr", "page_size": size}}, hris.Config{Clock: resynctest.NewClock(today)})
				require.NoError(t, err)
				return c
			}, resynctest.ConnectorOptions{WantRecords: 4})
		})
		t.Run("url/page_size="+size, func(t *testing.T) {
			resynctest.TestConnector(t, func(t *testing.T) resync.Connector {
				return urlConn(t, srv, hris.Config{}, "preset", "bamboohr", "page_size", size)
			}, resynctest.ConnectorOptions{WantRecords: 4})
		})
	}
}

// TestEngine runs the connector under the engine over HTTPS: a 503 with
// Retry-After is retried and the read completes; a rejected row and a
// duplicated employee ID keep their stored versions; a 401 fails at once.
func TestEngine(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	var body atomic.Value
	var status atomic.Int64
	var fail503 atomic.Int64
	body.Store("employee_id,email,name,manager,start_date\nE1,a@x.example,Ada,,2020-01-01\nE2,b@x.example,Bob,E1,2020-01-01\nE3,c@x.example,Cy,Ada,2026-09-01\n")
	status.Store(200)
	fail503.Store(1)
	srv, n := server(t, func(w http.ResponseWriter, r *http.Request) {
		if fail503.Add(-1) >= 0 {
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		if s := int(status.Load()); s != 200 {
			w.WriteHeader(s)
			_, _ = w.Write([]byte(`{"error":"token expired"}`))
			return
		}
		_, _ = w.Write([]byte(body.Load().(string)))
	})
	src := resynctest.NewSource()
	src.Add(resync.Connection{ID: "hr", Tenant: "t1", Type: resync.HRIS, Provider: "workday",
		Settings: map[string]string{"url": srv.URL + "/export.csv", "token": "tok-live-8d7f", "page_size": "2"}})
	store := memstore.New()
	e, err := resync.New(ctx, resync.Config{Store: store, Connections: src, Authorizer: resynctest.AllowAll,
		Retry:           resync.RetryPolicy{InitialInterval: time.Millisecond, MaxInterval: time.Millisecond},
		MinReadInterval: -1, // resyncs back to back, not 30s apart
		Connectors: map[string]resync.ConnectorFactory{
			"workday": hris.NewFactory(hris.Config{Clock: resynctest.NewClock(today), HTTPClient: srv.Client()}),
		}})
	require.NoError(t, err)
	defer func() { require.NoError(t, e.Close(context.Background())) }()
	admin := resync.Principal{ID: "admin"}
	resync1 := func() resync.ConnectionResult {
		t.Helper()
		run, err := e.ResyncPersonnel(ctx, "t1", admin)
		require.NoError(t, err)
		info, err := run.Wait(ctx)
		require.NoError(t, err)
		require.Len(t, info.Connections, 1)
		return info.Connections[0]
	}
	stored := func() map[string]*resync.Identity {
		t.Helper()
		recs, err := store.Records(ctx, resync.RecordQuery{Tenant: "t1", ConnectionID: "hr"})
		require.NoError(t, err)
		out := map[string]*resync.Identity{}
		for _, r := range recs {
			id := r.Record.(*resync.Identity)
			out[id.Key] = id
		}
		return out
	}

	res := resync1()
	assert.Equal(t, resync.ConnSucceeded, res.Status, res.Error)
	assert.Equal(t, 3, res.Added)
	assert.EqualValues(t, 2, n.Load(), "the 503 was retried once, by the engine")
	ids := stored()
	assert.Equal(t, "E1", ids["E3"].Manager, "a manager by name, resolved to the key")
	assert.Equal(t, resync.StatusNotStarted, ids["E3"].Status)

	// E2's row is broken and E3 appears twice: both keep their stored
	// versions; E1's change is applied.
	body.Store("employee_id,email,name,manager,start_date\nE1,a@x.example,Ada L,,2020-01-01\nE2,b@x.example,Bob,E1,someday\nE3,c@x.example,Cy,,2026-09-01\nE3,c2@x.example,Cy,,2026-09-01\n")
	res = resync1()
	assert.Equal(t, resync.ConnSucceeded, res.Status, res.Error)
	assert.Equal(t, 3, res.Rejected)
	assert.Equal(t, 1, res.Updated)
	assert.Zero(t, res.Removed)
	ids = stored()
	require.Len(t, ids, 3)
	assert.Equal(t, "Ada L", ids["E1"].Name)
	assert.Equal(t, "c@x.example", ids["E3"].Email)
	assert.True(t, strings.Contains(strings.Join(res.RejectedSamples, "\n"), `line 3, column 23 (start_date)`), res.RejectedSamples)

	status.Store(401)
	before := n.Load()
	res = resync1()
	assert.Equal(t, resync.ConnFailed, res.Status)
	assert.EqualValues(t, 1, n.Load()-before, "a 401 is not retried")
	assert.Contains(t, res.Error, "token expired")
	assert.NotContains(t, res.Error, "tok-live-8d7f")
	assert.Len(t, stored(), 3, "a failed read removes nothing")
}

// TestConformanceFaults runs the suite's fault checks over HTTPS: a 401
// is permanent, a 429 waits for its Retry-After, a 5xx is retryable, and
// each failing ReadPage makes one request.
func TestConformanceFaults(t *testing.T) {
	t.Parallel()
	csv := "employee_id,email,name,manager,start_date\nE1,a@x.example,Ada,,2020-01-01\nE2,b@x.example,Bob,E1,2020-01-01\n"
	var mu sync.Mutex
	var faults []resynctest.ProviderFault
	srv, n := server(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if len(faults) > 0 {
			f := &faults[0]
			for k, v := range f.Header {
				w.Header()[k] = v
			}
			w.WriteHeader(f.Status)
			_, _ = w.Write([]byte(`{"error":"injected"}`))
			if f.Times--; f.Times <= 0 {
				faults = faults[1:]
			}
			return
		}
		_, _ = w.Write([]byte(csv))
	})
	resynctest.TestConnector(t, func(t *testing.T) resync.Connector {
		return urlConn(t, srv, hris.Config{}, "page_size", "1")
	}, resynctest.ConnectorOptions{WantRecords: 2,
		Fail: func(f resynctest.ProviderFault) {
			mu.Lock()
			defer mu.Unlock()
			faults = append(faults, f)
		},
		Requests: func() int { return int(n.Load()) },
	})
}
