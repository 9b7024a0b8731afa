package hris_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openresync/resync"
	"github.com/openresync/resync/connectors/hris"
	"github.com/openresync/resync/resynctest"
)

// server serves an export over TLS through handler, counting requests.
func server(t *testing.T, handler http.HandlerFunc) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		handler(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func urlConn(t *testing.T, srv *httptest.Server, cfg hris.Config, kv ...string) resync.Connector {
	t.Helper()
	s := map[string]string{"url": srv.URL + "/ccx/service/customreport2/acme/isu/Workers?format=csv&sig=QUERYSECRET"}
	for i := 0; i+1 < len(kv); i += 2 {
		s[kv[i]] = kv[i+1]
	}
	cfg.HTTPClient = srv.Client()
	if cfg.Clock == nil {
		cfg.Clock = resynctest.NewClock(today)
	}
	c, err := hris.New(resync.Connection{ID: "wd", Settings: s}, cfg)
	require.NoError(t, err)
	return c
}

const workdayCSV = "Employee_ID,Worker,Email_-_Primary_Work,Business_Title,Supervisory_Organization,Manager_ID,Hire_Date,Termination_Date,Active\r\n" +
	"21001,Logan McNeil,LMcNeil@workday.example,Chief Human Resources Officer,Human Resources,,2000-01-01-08:00,,1\r\n" +
	"21002,Oliver Reynolds,oreynolds@workday.example,Payroll Manager,Payroll,21001,2015-05-01-07:00,,1\r\n" +
	"21003,Teresa Serrano,tserrano@workday.example,HR Partner,Human Resources,21001,2026-07-06-07:00,,1\r\n" +
	"21004,Jim Kiefer,jkiefer@workday.example,Analyst,Finance,21002,2018-02-01-08:00,2026-03-31-07:00,0\r\n"

func TestURLBearer(t *testing.T) {
	t.Parallel()
	srv, n := server(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok-123" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		assert.Equal(t, "csv", r.URL.Query().Get("format"))
		w.Header().Set("Content-Type", "text/csv")
		_, _ = w.Write([]byte(workdayCSV))
	})
	c := urlConn(t, srv, hris.Config{}, "preset", "workday", "token", "tok-123", "page_size", "3")
	ids, bad := readAll(t, c)
	require.Empty(t, bad)
	require.Len(t, ids, 4)
	assert.EqualValues(t, 1, n.Load(), "one GET per full read")
	assert.Equal(t, "Oliver Reynolds", ids["21002"].Name)
	assert.Equal(t, "lmcneil@workday.example", ids["21001"].Email)
	assert.Equal(t, "Payroll", ids["21002"].Department)
	assert.Equal(t, "21001", ids["21002"].Manager)
	assert.Equal(t, day("2015-05-01"), ids["21002"].StartDate, "the date as written, not moved by its offset")
	assert.Equal(t, resync.StatusActive, ids["21002"].Status)
	assert.Equal(t, resync.StatusNotStarted, ids["21003"].Status)
	assert.Equal(t, resync.StatusDeprovisioned, ids["21004"].Status)
	assert.Equal(t, "1", ids["21001"].Attributes["Active"])
}

func TestURLBasic(t *testing.T) {
	t.Parallel()
	srv, _ := server(t, func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		if !ok || u != "ISU_resync" || p != "pa55-w0rd" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		_, _ = w.Write([]byte(workdayCSV))
	})
	ids, _ := readAll(t, urlConn(t, srv, hris.Config{}, "preset", "workday", "username", "ISU_resync", "password", "pa55-w0rd"))
	assert.Len(t, ids, 4)

	_, err := urlConn(t, srv, hris.Config{}, "preset", "workday", "username", "ISU_resync", "password", "wrong-pa55").ReadPage(t.Context(), "")
	require.Error(t, err)
	assert.True(t, resync.IsPermanent(err))
	assert.NotContains(t, err.Error(), "wrong-pa55")
}

func TestURLErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		status    int
		header    map[string]string
		body      string
		permanent bool
		delay     time.Duration // 0: no RetryAfter
	}{
		{"401", 401, nil, `{"error":"invalid token tok-123"}`, true, 0},
		{"403", 403, nil, "forbidden", true, 0},
		{"404", 404, nil, "no such report", true, 0},
		{"429 seconds", 429, map[string]string{"Retry-After": "30"}, "slow down", false, 30 * time.Second},
		{"503 date", 503, map[string]string{"Retry-After": "Mon, 15 Jun 2026 13:02:00 GMT", "Date": "Mon, 15 Jun 2026 13:00:00 GMT"}, "maintenance", false, 2 * time.Minute},
		{"429 absurd", 429, map[string]string{"Retry-After": "1e300"}, "", false, 24 * time.Hour},
		{"429 bare", 429, nil, "", false, 0},
		{"500", 500, nil, "boom", false, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv, n := server(t, func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tc.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(tc.body))
			})
			c := urlConn(t, srv, hris.Config{}, "token", "tok-123")
			_, err := c.ReadPage(t.Context(), "")
			require.Error(t, err)
			assert.EqualValues(t, 1, n.Load(), "the connector never retries by itself")
			assert.Equal(t, tc.permanent, resync.IsPermanent(err), "%v", err)
			d, ok := resync.RetryDelay(err)
			assert.Equal(t, tc.delay != 0, ok, "%v", err)
			assert.Equal(t, tc.delay, d)
			msg := err.Error()
			assert.Contains(t, msg, http.StatusText(tc.status))
			assert.Contains(t, msg, "/ccx/service/customreport2/acme/isu/Workers")
			assert.NotContains(t, msg, "tok-123", "credentials never in an error")
			assert.NotContains(t, msg, "QUERYSECRET", "the query never in an error")
			if tc.body != "" && tc.name != "401" {
				assert.Contains(t, msg, tc.body, "the start of the body is kept")
			}
			if tc.name == "401" {
				assert.Contains(t, msg, `invalid token REDACTED`)
			}
		})
	}
}

func TestURLLongErrorBodyIsCut(t *testing.T) {
	t.Parallel()
	srv, _ := server(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(400)
		_, _ = w.Write([]byte("start-" + strings.Repeat("x", 100_000)))
	})
	_, err := urlConn(t, srv, hris.Config{}).ReadPage(t.Context(), "")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "start-xxx")
	assert.Less(t, len(err.Error()), 1300, "the start of the body, not all of it")
}

func TestURLSizeLimit(t *testing.T) {
	t.Parallel()
	srv, _ := server(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(workdayCSV))
	})
	_, err := urlConn(t, srv, hris.Config{}, "preset", "workday", "max_bytes", "100").ReadPage(t.Context(), "")
	require.Error(t, err)
	assert.True(t, resync.IsPermanent(err), "asking again will not shrink it")
	assert.Contains(t, err.Error(), "larger than 100 bytes")
}

// An unreachable server is a transient error, without credentials.
func TestURLNetworkError(t *testing.T) {
	t.Parallel()
	srv, _ := server(t, func(http.ResponseWriter, *http.Request) {})
	c := urlConn(t, srv, hris.Config{}, "token", "tok-123")
	srv.Close()
	_, err := c.ReadPage(t.Context(), "")
	require.Error(t, err)
	assert.False(t, resync.IsPermanent(err))
	assert.NotContains(t, err.Error(), "tok-123")
	assert.NotContains(t, err.Error(), "QUERYSECRET")
}
