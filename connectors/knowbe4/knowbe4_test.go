package knowbe4_test

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
	"github.com/openresync/resync/connectors/knowbe4"
	"github.com/openresync/resync/memstore"
	"github.com/openresync/resync/resynctest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func connect(t *testing.T, s *kb4, kv ...string) resync.Connector {
	t.Helper()
	settings := map[string]string{"url": s.baseURL(), "token": s.token}
	for i := 0; i+1 < len(kv); i += 2 {
		settings[kv[i]] = kv[i+1]
	}
	c, err := knowbe4.New(resync.Connection{ID: "kb4", Tenant: "t1", Type: resync.SecurityTraining, Provider: "knowbe4", Settings: settings},
		knowbe4.Config{HTTPClient: s.Client()})
	require.NoError(t, err)
	return c
}

// populate adds n users (every tenth archived) in three groups, and two
// enrollments each in the "Annual 2026" campaign.
func populate(s *kb4, n int) []int64 {
	for g := int64(1); g <= 3; g++ {
		s.addGroup(g, "Group "+strconv.FormatInt(g, 10))
	}
	var ids []int64
	for i := range n {
		id := s.addUser(i, i%10 == 9, int64(i%3+1))
		ids = append(ids, id)
		status, done := "Passed", "2026-03-0"+strconv.Itoa(i%9+1)+"T12:00:00.000Z"
		switch i % 4 {
		case 1:
			status, done = "In Progress", ""
		case 2:
			status, done = "Past Due", ""
		}
		s.enroll(int64(2*i+1), id, "Annual 2026", "Phishing 101", "Passed", "2026-02-01T10:00:00.000Z")
		s.enroll(int64(2*i+2), id, "Annual 2026", "Passwords", status, done)
	}
	return ids
}

func TestConformance(t *testing.T) {
	t.Parallel()
	s := newKB4(t)
	populate(s, 23)
	resynctest.TestConnector(t, func(t *testing.T) resync.Connector {
		return connect(t, s, "page_size", "5")
	}, resynctest.ConnectorOptions{WantRecords: 23 + 3, ForwardOnlyCursors: true, Fail: s.Fail, Requests: s.Requests})
}

type harness struct {
	srv    *kb4
	engine *resync.Engine
	store  *memstore.Store
	src    *resynctest.Source
}

func newHarness(t *testing.T, s *kb4, cfg resync.Config, kv ...string) *harness {
	t.Helper()
	settings := map[string]string{"url": s.baseURL(), "token": s.token}
	for i := 0; i+1 < len(kv); i += 2 {
		settings[kv[i]] = kv[i+1]
	}
	h := &harness{srv: s, store: memstore.New(), src: resynctest.NewSource()}
	h.src.Add(resync.Connection{ID: "kb4", Tenant: "t1", Type: resync.SecurityTraining, Provider: "knowbe4", Settings: settings})
	cfg.Store, cfg.Connections, cfg.Authorizer = h.store, h.src, resynctest.AllowAll
	cfg.Connectors = map[string]resync.ConnectorFactory{"knowbe4": knowbe4.NewFactory(knowbe4.Config{HTTPClient: s.Client()})}
	if cfg.Retry.InitialInterval == 0 {
		cfg.Retry = resync.RetryPolicy{InitialInterval: time.Millisecond, MaxInterval: time.Millisecond}
	}
	cfg.MinReadInterval = time.Nanosecond
	e, err := resync.New(t.Context(), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, e.Close(context.Background())) })
	h.engine = e
	return h
}

func (h *harness) resync(t *testing.T) resync.ConnectionResult {
	t.Helper()
	return h.run(t).Connections[0]
}

func (h *harness) run(t *testing.T) resync.RunInfo {
	t.Helper()
	r, err := h.engine.ResyncPersonnel(t.Context(), "t1", resync.Principal{ID: "admin"})
	require.NoError(t, err)
	info, err := r.Wait(t.Context())
	require.NoError(t, err)
	require.Len(t, info.Connections, 1)
	return info
}

func (h *harness) accounts(t *testing.T) map[string]*resync.Account {
	t.Helper()
	recs, err := h.store.Records(t.Context(), resync.RecordQuery{Tenant: "t1", ConnectionID: "kb4"})
	require.NoError(t, err)
	out := map[string]*resync.Account{}
	for _, r := range recs {
		if a, ok := r.Record.(*resync.Account); ok {
			out[a.Key] = a
		}
	}
	return out
}

// 2,000 users over many pages, read through an engine in the fewest
// requests the API allows: every listing at 500 a page, the training
// enrollments in bulk rather than per user.
func TestManyUsers(t *testing.T) {
	t.Parallel()
	s := newKB4(t)
	ids := populate(s, 2000)
	h := newHarness(t, s, resync.Config{})
	res := h.resync(t)
	require.Equal(t, resync.ConnSucceeded, res.Status, res.Error)
	assert.Equal(t, 2003, res.Added)
	// 4,000 enrollments: 8 pages + 1 empty; 1,800 active users: 4 pages;
	// 200 archived: 1; 3 groups: 1. A listing whose last page is full
	// costs one empty page more, as the API gives no totals.
	assert.Equal(t, 9+4+1+1, s.Requests(), "requests per read")

	accts := h.accounts(t)
	require.Len(t, accts, 2000)
	a := accts[strconv.FormatInt(ids[0], 10)]
	assert.Equal(t, "user0@example.com", a.OwnerEmail)
	assert.Equal(t, "E00000", a.EmployeeID)
	assert.Equal(t, resync.StatusActive, a.Status)
	assert.Equal(t, knowbe4.TrainingCompleted, a.Attributes["training_status"])
	assert.Equal(t, "2026-03-01", a.Attributes["training_last_completed"])
	assert.Equal(t, "2026-03-01", a.Attributes["training.Annual 2026.completed"])
	assert.Equal(t, knowbe4.TrainingIncomplete, accts[strconv.FormatInt(ids[1], 10)].Attributes["training_status"])
	assert.Equal(t, knowbe4.TrainingPastDue, accts[strconv.FormatInt(ids[2], 10)].Attributes["training_status"])
	archived := accts[strconv.FormatInt(ids[9], 10)]
	assert.Equal(t, resync.StatusDeprovisioned, archived.Status)
	assert.Equal(t, "archived", archived.Attributes["knowbe4_status"])
	assert.Equal(t, "2026-10-01", archived.Attributes["archived_at"])

	recs, err := h.store.Records(t.Context(), resync.RecordQuery{Tenant: "t1", ConnectionID: "kb4", Kind: resync.KindGroup})
	require.NoError(t, err)
	require.Len(t, recs, 3)
	members := map[string]int{}
	for _, r := range recs {
		g := r.Record.(*resync.Group)
		members[g.Key] = len(g.Members)
	}
	assert.Equal(t, map[string]int{"1": 667, "2": 667, "3": 666}, members, "user i is in group i%3+1")
}

// A 429 mid-read waits the Retry-After asked for and finishes the read
// with every user once.
func TestThrottledMidRead(t *testing.T) {
	t.Parallel()
	s := newKB4(t)
	populate(s, 600)
	h := newHarness(t, s, resync.Config{})
	s.Fail(resynctest.ProviderFault{Page: 2, Status: http.StatusTooManyRequests, Header: http.Header{"Retry-After": {"1"}}})
	start := time.Now()
	res := h.resync(t)
	require.Equal(t, resync.ConnSucceeded, res.Status, res.Error)
	assert.GreaterOrEqual(t, time.Since(start), time.Second, "waited the advertised second")
	assert.Equal(t, 603, res.Added, "no user lost or read twice")
	assert.Equal(t, 2, s.Hits("training/enrollments?page=2"), "the throttled page asked again, once")
	assert.Len(t, h.accounts(t), 600)
}

// The daily quota spent: a wait longer than the read may last ends the read
// as throttled, with the time KnowBe4 will answer again, nothing applied.
func TestDailyQuotaSpent(t *testing.T) {
	t.Parallel()
	s := newKB4(t)
	populate(s, 600)
	h := newHarness(t, s, resync.Config{ConnectionTimeout: 5 * time.Second})
	s.Fail(resynctest.ProviderFault{Page: 2, Status: http.StatusTooManyRequests, Header: http.Header{"Retry-After": {"3600"}}})
	res := h.resync(t)
	assert.Equal(t, resync.ConnThrottled, res.Status, res.Error)
	assert.WithinDuration(t, time.Now().Add(time.Hour), res.RetryAt, time.Minute)
	assert.Zero(t, res.Added)
	assert.Empty(t, h.accounts(t))
}

// A wrong key is permanent: one request, no retry, the key never quoted.
func TestAuthFailure(t *testing.T) {
	t.Parallel()
	s := newKB4(t)
	populate(s, 10)
	h := newHarness(t, s, resync.Config{})
	h.src.Remove("t1")
	h.src.Add(resync.Connection{ID: "kb4", Tenant: "t1", Type: resync.SecurityTraining, Provider: "knowbe4",
		Settings: map[string]string{"url": s.baseURL(), "token": "revoked-kb4-key-99"}})
	res := h.resync(t)
	assert.Equal(t, resync.ConnFailed, res.Status)
	assert.Contains(t, res.Error, "401")
	assert.NotContains(t, res.Error, "revoked-kb4-key-99")
	assert.Equal(t, 1, s.Requests())
}

// A 500 on one page re-reads that page only.
func TestServerErrorRereadsOnePage(t *testing.T) {
	t.Parallel()
	s := newKB4(t)
	populate(s, 1200)
	h := newHarness(t, s, resync.Config{})
	s.Fail(resynctest.ProviderFault{Page: 3, Status: http.StatusInternalServerError, Times: 2})
	res := h.resync(t)
	require.Equal(t, resync.ConnSucceeded, res.Status, res.Error)
	assert.Equal(t, 1203, res.Added)
	assert.Equal(t, 3, s.Hits("training/enrollments?page=3"), "failed twice, then served")
	for _, p := range []string{"training/enrollments?page=1", "training/enrollments?page=2", "training/enrollments?page=4",
		"users?status=active&page=1", "users?status=active&page=2", "users?status=active&page=3", "groups?page=1"} {
		assert.Equal(t, 1, s.Hits(p), p)
	}
}

// Between two resyncs a user is archived, one removed, one added and one
// completes their training: the change log holds exactly those changes.
func TestChangesBetweenResyncs(t *testing.T) {
	t.Parallel()
	s := newKB4(t)
	ids := populate(s, 1000)
	h := newHarness(t, s, resync.Config{})
	require.Equal(t, resync.ConnSucceeded, h.resync(t).Status)

	s.update(ids[10], func(u map[string]any) { u["status"], u["archived_at"] = "archived", "2026-12-01T09:00:00.000Z" })
	s.remove(ids[20])
	added := s.addUser(5000, false, 1)
	s.mu.Lock() // user 1 passes the module in progress
	s.enrollments[int64(2*1+2)]["status"] = "Passed"
	s.enrollments[int64(2*1+2)]["completion_date"] = "2026-12-02T10:00:00.000Z"
	s.mu.Unlock()

	info := h.run(t)
	res := info.Connections[0]
	require.Equal(t, resync.ConnSucceeded, res.Status, res.Error)
	// Archived users stay members of their groups; user 20 (group 3) is
	// gone and user 5000 joined group 1.
	all, err := h.engine.Changes(t.Context(), "t1", resync.Principal{ID: "admin"}, resync.ChangeQuery{RunID: info.ID, Limit: 1000})
	require.NoError(t, err)
	got := map[string]resync.ChangeOp{}
	for _, e := range all {
		got[string(e.Kind)+"/"+e.Key] = e.Op
	}
	key := func(id int64) string { return strconv.FormatInt(id, 10) }
	assert.Equal(t, map[string]resync.ChangeOp{
		"account/" + key(ids[10]): resync.OpUpdate,
		"account/" + key(ids[20]): resync.OpRemove,
		"account/" + key(added):   resync.OpAdd,
		"account/" + key(ids[1]):  resync.OpUpdate,
		"group/1":                 resync.OpUpdate,
		"group/3":                 resync.OpUpdate,
	}, got)
	accts := h.accounts(t)
	assert.Equal(t, resync.StatusDeprovisioned, accts[key(ids[10])].Status)
	assert.Equal(t, knowbe4.TrainingCompleted, accts[key(ids[1])].Attributes["training_status"])
	assert.Equal(t, "2026-12-02", accts[key(ids[1])].Attributes["training_last_completed"])
}

// Settings are checked before any request, and never quote the token.
func TestBadSettings(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		settings map[string]string
		want     string
	}{
		"no token":      {map[string]string{}, `set "token"`},
		"bad region":    {map[string]string{"token": "k", "region": "mars"}, `"region" is "mars", want one of ca, de, eu, uk, us`},
		"http url":      {map[string]string{"token": "k", "url": "http://x/v1/"}, `"url" is not an https base URL`},
		"both":          {map[string]string{"token": "k", "url": "https://x/v1/", "region": "eu"}, `"region" or "url", not both`},
		"page size":     {map[string]string{"token": "k", "page_size": "501"}, `"page_size" is "501"`},
		"unknown":       {map[string]string{"token": "k", "tokne": "x"}, `unknown setting "tokne"`},
		"training flag": {map[string]string{"token": "k", "training": "maybe"}, `"training" is "maybe"`},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := knowbe4.New(resync.Connection{ID: "c", Settings: tc.settings}, knowbe4.Config{})
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.ErrorIs(t, err, resync.ErrInvalidRequest)
			assert.True(t, resync.IsPermanent(err))
		})
	}
}
