package bamboohr_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/openresync/resync"
	"github.com/openresync/resync/connectors/bamboohr"
	"github.com/openresync/resync/connectors/hris"
	"github.com/openresync/resync/memstore"
	"github.com/openresync/resync/resynctest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// today is the clock's date in every test: 2026-06-15.
var today = time.Date(2026, 6, 15, 13, 0, 0, 0, time.UTC)

func settings(c *company, kv ...string) map[string]string {
	s := map[string]string{"company_domain": testDomain, "api_key": testKey, "base_url": c.baseURL()}
	for i := 0; i+1 < len(kv); i += 2 {
		s[kv[i]] = kv[i+1]
	}
	return s
}

func connect(t *testing.T, c *company, kv ...string) resync.Connector {
	t.Helper()
	conn, err := bamboohr.New(resync.Connection{ID: "bhr", Type: resync.HRIS, Provider: "bamboohr", Settings: settings(c, kv...)},
		bamboohr.Config{Clock: resynctest.NewClock(today), HTTPClient: c.Client()})
	require.NoError(t, err)
	return conn
}

// engine runs one BambooHR connection behind an engine with a memstore.
type engine struct {
	*resync.Engine
	store *memstore.Store
}

func newEngine(t *testing.T, c *company, kv ...string) *engine {
	t.Helper()
	src := resynctest.NewSource()
	src.Add(resync.Connection{ID: "bhr", Tenant: "t1", Type: resync.HRIS, Provider: "bamboohr", Settings: settings(c, kv...)})
	store := memstore.New()
	e, err := resync.New(t.Context(), resync.Config{Store: store, Connections: src, Authorizer: resynctest.AllowAll,
		Retry:           resync.RetryPolicy{InitialInterval: time.Millisecond, MaxInterval: time.Millisecond},
		MinReadInterval: -1, // resyncs back to back
		Connectors: map[string]resync.ConnectorFactory{
			"bamboohr": bamboohr.NewFactory(bamboohr.Config{Clock: resynctest.NewClock(today), HTTPClient: c.Client()}),
		}})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, e.Close(context.Background())) })
	return &engine{Engine: e, store: store}
}

func (e *engine) resync(t *testing.T) resync.ConnectionResult {
	t.Helper()
	run, err := e.ResyncPersonnel(t.Context(), "t1", resync.Principal{ID: "admin"})
	require.NoError(t, err)
	info, err := run.Wait(t.Context())
	require.NoError(t, err)
	require.Len(t, info.Connections, 1)
	return info.Connections[0]
}

func (e *engine) stored(t *testing.T) map[string]*resync.Identity {
	t.Helper()
	recs, err := e.store.Records(t.Context(), resync.RecordQuery{Tenant: "t1", ConnectionID: "bhr"})
	require.NoError(t, err)
	out := map[string]*resync.Identity{}
	for _, r := range recs {
		id := r.Record.(*resync.Identity)
		out[id.Key] = id
	}
	return out
}

// 1. The connector contract, with the fault checks: 401 permanent, 429 and
// 503 with Retry-After waited for, 500 retryable, one request each.
func TestConformance(t *testing.T) {
	t.Parallel()
	c := newCompany(t)
	c.set(staff(40)...)
	resynctest.TestConnector(t, func(t *testing.T) resync.Connector {
		return connect(t, c, "page_size", "7")
	}, resynctest.ConnectorOptions{WantRecords: 40, Fail: c.fail, Requests: func() int { return int(c.requests.Load()) }})
}

// 2. 2,500 employees through the engine in pages of 200: one request, every
// record mapped.
func TestEngineFullRead(t *testing.T) {
	t.Parallel()
	c := newCompany(t)
	c.set(staff(2500)...)
	e := newEngine(t, c, "page_size", "200")
	res := e.resync(t)
	require.Equal(t, resync.ConnSucceeded, res.Status, res.Error)
	assert.Equal(t, 2500, res.Added)
	assert.EqualValues(t, 1, c.requests.Load(), "one request per read, the minimum: the report has every employee")
	assert.ElementsMatch(t, []string{"id", "employeeNumber", "firstName", "lastName", "displayName", "workEmail",
		"supervisorEId", "department", "jobTitle", "hireDate", "terminationDate", "status", "employmentHistoryStatus", "location"},
		c.lastFields())

	ids := e.stored(t)
	require.Len(t, ids, 2500)
	one := ids["1001"]
	assert.Equal(t, "E-1", one.EmployeeID)
	assert.Equal(t, "user1@acme.example", one.Email)
	assert.Equal(t, "First1 Last1", one.Name)
	assert.Equal(t, "Dept 1", one.Department)
	assert.Equal(t, "Engineer", one.Title)
	assert.Equal(t, resync.StatusActive, one.Status)
	assert.True(t, one.EndDate.IsZero(), "0000-00-00 is no date")
	assert.Equal(t, "Remote", one.Attributes["location"])
	assert.Equal(t, "1015", ids["1025"].Manager, "supervisorEId resolved to the supervisor's key")
	assert.Equal(t, resync.StatusDeprovisioned, ids["1013"].Status)
	assert.Equal(t, "Inactive", ids["1013"].Attributes["status"], "BambooHR's word kept")
	assert.Equal(t, time.Date(2026, 5, 29, 0, 0, 0, 0, time.UTC), ids["1013"].EndDate)
	assert.Equal(t, resync.StatusNotStarted, ids["1019"].Status, "hired for August")
	assert.Equal(t, "Leave of Absence", ids["1007"].Attributes["employmentHistoryStatus"])
	for k, id := range ids {
		require.Equal(t, k, id.Key)
		require.NotEmpty(t, id.Email, k)
	}
}

// 3. Over its limit BambooHR answers 503 with Retry-After: the read waits
// the advertised second, then completes, every employee once.
func TestThrottled(t *testing.T) {
	t.Parallel()
	c := newCompany(t)
	c.set(staff(2100)...)
	e := newEngine(t, c, "page_size", "300")
	c.fail(resynctest.ProviderFault{Status: http.StatusServiceUnavailable, Header: http.Header{"Retry-After": {"1"}}})
	start := time.Now()
	res := e.resync(t)
	require.Equal(t, resync.ConnSucceeded, res.Status, res.Error)
	assert.GreaterOrEqual(t, time.Since(start), time.Second, "the read waited for Retry-After")
	assert.Equal(t, 2100, res.Added)
	assert.Zero(t, res.Rejected)
	assert.Len(t, e.stored(t), 2100, "no gap")
	assert.EqualValues(t, 2, c.requests.Load(), "the throttled request, then one more")
}

// 4. A wrong key: permanent, one request, the key in no message.
func TestAuthFailure(t *testing.T) {
	t.Parallel()
	c := newCompany(t)
	c.set(staff(3)...)
	var logs bytes.Buffer
	conn, err := bamboohr.New(resync.Connection{ID: "bhr", Settings: settings(c, "api_key", "revoked-key-77aa")},
		bamboohr.Config{Clock: resynctest.NewClock(today), HTTPClient: c.Client(),
			Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	require.NoError(t, err)
	_, err = conn.ReadPage(t.Context(), "")
	require.Error(t, err)
	assert.True(t, resync.IsPermanent(err))
	assert.Contains(t, err.Error(), "401")
	assert.NotContains(t, err.Error(), "revoked-key-77aa")
	assert.EqualValues(t, 1, c.requests.Load())
	require.Contains(t, logs.String(), "401", "the request was logged")
	basic := base64.StdEncoding.EncodeToString([]byte("revoked-key-77aa:x"))
	for _, secret := range []string{"revoked-key-77aa", basic} {
		assert.NotContains(t, logs.String(), secret)
		assert.NotContains(t, err.Error(), secret)
	}

	// Through the engine: failed at once, nothing removed.
	e := newEngine(t, c, "api_key", "revoked-key-77aa")
	before := c.requests.Load()
	res := e.resync(t)
	assert.Equal(t, resync.ConnFailed, res.Status)
	assert.EqualValues(t, 1, c.requests.Load()-before, "a 401 is not retried")
	assert.NotContains(t, res.Error, "revoked-key-77aa")
}

// 5. A 5xx is retried by re-reading only the failed page. The report is
// one request, made by the first page; the later pages are cut from it and
// make none, so a retry costs one request, and the read completes.
func TestServerError(t *testing.T) {
	t.Parallel()
	c := newCompany(t)
	c.set(staff(50)...)
	conn := connect(t, c, "page_size", "10")
	c.fail(resynctest.ProviderFault{Status: http.StatusInternalServerError})
	_, err := conn.ReadPage(t.Context(), "")
	require.Error(t, err)
	assert.False(t, resync.IsPermanent(err))
	assert.EqualValues(t, 1, c.requests.Load())
	p, err := conn.ReadPage(t.Context(), "")
	require.NoError(t, err)
	assert.EqualValues(t, 2, c.requests.Load(), "the failed page re-read: one request")
	seen := len(p.Records)
	for p.Next != "" {
		again, err := conn.ReadPage(t.Context(), p.Next) // and each later page twice, as after a retry
		require.NoError(t, err)
		p, err = conn.ReadPage(t.Context(), p.Next)
		require.NoError(t, err)
		assert.Equal(t, again, p)
		seen += len(p.Records)
	}
	assert.Equal(t, 50, seen)
	assert.EqualValues(t, 2, c.requests.Load(), "later pages, re-read or not, make no request")

	e := newEngine(t, c, "page_size", "10")
	c.fail(resynctest.ProviderFault{Status: http.StatusBadGateway})
	before := c.requests.Load()
	res := e.resync(t)
	require.Equal(t, resync.ConnSucceeded, res.Status, res.Error)
	assert.Equal(t, 50, res.Added)
	assert.EqualValues(t, 2, c.requests.Load()-before)
}

// 6. Between two resyncs one employee is terminated, one deleted and one
// hired: exactly those changes are in the change log.
func TestChangesBetweenResyncs(t *testing.T) {
	t.Parallel()
	c := newCompany(t)
	emps := staff(30)
	c.set(emps...)
	e := newEngine(t, c, "page_size", "8")
	res := e.resync(t)
	require.Equal(t, resync.ConnSucceeded, res.Status, res.Error)
	first, err := e.Changes(t.Context(), "t1", resync.Principal{ID: "admin"}, resync.ChangeQuery{ConnectionID: "bhr", Limit: 1000})
	require.NoError(t, err)
	require.Len(t, first, 30)
	last := first[len(first)-1].Seq

	emps[4]["status"], emps[4]["terminationDate"], emps[4]["employmentHistoryStatus"] = "Inactive", "2026-06-12", "Terminated" // 1005
	emps = append(emps[:24], emps[25:]...)                                                                                     // 1025 (no reports) deleted
	emps = append(emps, employee{"id": "2001", "employeeNumber": "E-2001", "firstName": "New", "lastName": "Hire",
		"workEmail": "new@acme.example", "hireDate": "2026-06-15", "terminationDate": "0000-00-00", "status": "Active", "supervisorEId": "1001"})
	c.set(emps...)
	res = e.resync(t)
	require.Equal(t, resync.ConnSucceeded, res.Status, res.Error)
	changes, err := e.Changes(t.Context(), "t1", resync.Principal{ID: "admin"}, resync.ChangeQuery{ConnectionID: "bhr", AfterSeq: last})
	require.NoError(t, err)
	got := map[string]resync.ChangeOp{}
	for _, ch := range changes {
		got[ch.Key] = ch.Op
	}
	assert.Equal(t, map[string]resync.ChangeOp{"1005": resync.OpUpdate, "1025": resync.OpRemove, "2001": resync.OpAdd}, got)
	for _, ch := range changes {
		switch ch.Key {
		case "1005":
			assert.Equal(t, resync.StatusActive, ch.Before.(*resync.Identity).Status)
			assert.Equal(t, resync.StatusDeprovisioned, ch.After.(*resync.Identity).Status)
		case "2001":
			assert.Equal(t, resync.StatusActive, ch.After.(*resync.Identity).Status, "starts today")
			assert.Equal(t, "1001", ch.After.(*resync.Identity).Manager)
		}
	}
}

// A column.<field> setting maps a field and adds it to the report.
func TestColumnSetting(t *testing.T) {
	t.Parallel()
	c := newCompany(t)
	emps := staff(2)
	emps[0]["customTeam"], emps[1]["customTeam"] = "Platform", "Payments"
	c.set(emps...)
	ids := map[string]*resync.Identity{}
	p, err := connect(t, c, "column.department", "customTeam").ReadPage(t.Context(), "")
	require.NoError(t, err)
	for _, r := range p.Records {
		ids[r.(*resync.Identity).Key] = r.(*resync.Identity)
	}
	assert.Contains(t, c.lastFields(), "customTeam")
	assert.Equal(t, "Payments", ids["1002"].Department)
}

// A report that is not the JSON expected fails the read, naming the entry
// and field.
func TestMalformedReport(t *testing.T) {
	t.Parallel()
	c := newCompany(t)
	c.set(employee{"id": "1", "workEmail": []string{"a@x.example"}})
	_, err := connect(t, c).ReadPage(t.Context(), "")
	require.Error(t, err)
	assert.True(t, resync.IsPermanent(err))
	assert.ErrorIs(t, err, hris.ErrMalformed)
	assert.Contains(t, err.Error(), `BambooHR report entry 1 (field "workEmail")`)
}

func TestBadSettings(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		kv   []string
		want string
	}{
		{[]string{"company_domain", "acme.bamboohr.com"}, `"company_domain"`},
		{[]string{"api_key", ""}, `"api_key" is required`},
		{[]string{"base_url", "http://api.example/"}, `"base_url" is not an https URL`},
		{[]string{"fields", "x"}, `unknown setting "fields"`},
		{[]string{"page_size", "0"}, `"page_size"`},
	} {
		s := map[string]string{"company_domain": testDomain, "api_key": "k-123"}
		for i := 0; i+1 < len(tc.kv); i += 2 {
			s[tc.kv[i]] = tc.kv[i+1]
		}
		_, err := bamboohr.New(resync.Connection{ID: "bhr", Settings: s}, bamboohr.Config{})
		require.Error(t, err, tc.kv)
		assert.ErrorIs(t, err, resync.ErrInvalidRequest)
		assert.True(t, resync.IsPermanent(err))
		assert.Contains(t, err.Error(), tc.want)
		assert.NotContains(t, err.Error(), "k-123")
	}
}

// The API key may be a secret reference, resolved through the engine's
// Config.Secrets; an unknown reference fails without a request.
func TestSecretReference(t *testing.T) {
	t.Parallel()
	c := newCompany(t)
	c.set(staff(3)...)
	secrets := func(_ context.Context, ref string) (string, error) {
		if ref == "vault/bamboohr" {
			return testKey, nil
		}
		return "", fmt.Errorf("vault: no key %q: %w", ref, resync.ErrNotFound)
	}
	run := func(ref string) resync.ConnectionResult {
		src := resynctest.NewSource()
		src.Add(resync.Connection{ID: "bhr", Tenant: "t1", Type: resync.HRIS, Provider: "bamboohr",
			Settings: settings(c, "api_key", ref)})
		e, err := resync.New(t.Context(), resync.Config{Store: memstore.New(), Connections: src, Authorizer: resynctest.AllowAll,
			Secrets: secrets, MinReadInterval: -1,
			Connectors: map[string]resync.ConnectorFactory{"bamboohr": bamboohr.NewFactory(bamboohr.Config{Clock: resynctest.NewClock(today), HTTPClient: c.Client()})}})
		require.NoError(t, err)
		defer func() { require.NoError(t, e.Close(context.Background())) }()
		r, err := e.ResyncPersonnel(t.Context(), "t1", resync.Principal{ID: "admin"})
		require.NoError(t, err)
		info, err := r.Wait(t.Context())
		require.NoError(t, err)
		return info.Connections[0]
	}
	res := run("secret:vault/bamboohr")
	require.Equal(t, resync.ConnSucceeded, res.Status, res.Error)
	assert.Equal(t, 3, res.Added)
	before := c.requests.Load()
	res = run("secret:vault/missing")
	assert.Equal(t, resync.ConnFailed, res.Status)
	assert.Contains(t, res.Error, "vault/missing")
	assert.Equal(t, before, c.requests.Load())
	assert.NotContains(t, res.Error, testKey)
}
