package resync_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/openresync/resync"
	"github.com/openresync/resync/memstore"
	"github.com/openresync/resync/resynctest"
	"github.com/openresync/resync/storage"
)

// Principals of the test tenants: alice and bob administer t1, dave t2;
// carol is a member of t1 who is not an admin.
var (
	alice = resync.Principal{ID: "alice", Email: "alice@t1.example", Name: "Alice"}
	bob   = resync.Principal{ID: "bob", Email: "bob@t1.example", Name: "Bob"}
	carol = resync.Principal{ID: "carol", Email: "carol@t1.example", Name: "Carol"}
	dave  = resync.Principal{ID: "dave", Email: "dave@t2.example", Name: "Dave"}
)

// harness wires an engine to in-memory fakes.
type harness struct {
	t        testing.TB
	src      *resynctest.Source
	fakes    *resynctest.Fakes
	store    *memstore.Store
	notifier *resynctest.Notifier
	admins   resynctest.Admins
	engine   *resync.Engine
	cfg      resync.Config
}

// providers the harness registers connectors for.
var harnessProviders = []string{"okta", "bamboohr", "aws", "github", "datadog", "knowbe4", "uar", "kandji"}

func newHarness(t testing.TB, mod func(*resync.Config)) *harness {
	t.Helper()
	h := &harness{
		t:        t,
		src:      resynctest.NewSource(),
		fakes:    resynctest.NewFakes(),
		store:    memstore.New(),
		notifier: &resynctest.Notifier{},
		admins:   resynctest.Admins{"t1": {alice, bob}, "t2": {dave}},
	}
	h.src.AddTenant("t1")
	h.src.AddTenant("t2")
	h.cfg = resync.Config{
		Store:       h.store,
		Connections: h.src,
		Connectors:  h.fakes.Factories(harnessProviders...),
		Authorizer:  h.admins,
		Directory:   h.admins,
		Notifier:    h.notifier,
		Retry:       resync.RetryPolicy{InitialInterval: 10 * time.Millisecond, MaxInterval: time.Second},
		// Most tests read a connection again at once to see what changed;
		// the tests of the interval set it.
		MinReadInterval: -1,
	}
	if mod != nil {
		mod(&h.cfg)
	}
	h.start()
	return h
}

func (h *harness) start() {
	h.t.Helper()
	e, err := resync.New(context.Background(), h.cfg)
	require.NoError(h.t, err)
	h.engine = e
	h.t.Cleanup(func() { _ = e.Close(context.Background()) })
}

// conn adds a connection served by a fake connector with the records in
// pages of pageSize.
func (h *harness) conn(tenant, id string, typ resync.ConnectionType, provider string, recs []resync.Record, pageSize int) *resynctest.Connector {
	h.t.Helper()
	c := resynctest.NewConnector(recs, pageSize)
	h.fakes.Set(tenant, id, c)
	h.src.Add(resync.Connection{ID: id, Tenant: tenant, Type: typ, Provider: provider, Name: provider + " " + id})
	return c
}

// waitNotes waits until n notifications were delivered (since the last
// Reset), for 5 seconds at most, and returns them: the engine delivers
// from the outbox after a run's state is stored.
func (h *harness) waitNotes(n int) []resync.Notification {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ns, err := h.notifier.WaitFor(ctx, n)
	require.NoError(h.t, err, "waiting for %d notifications, got %d", n, len(ns))
	return ns
}

// withoutOutbox hides a store's storage.Outbox capability (and keeps its
// HeldDecider), so that the engine delivers notifications directly.
func withoutOutbox(s resync.Store) resync.Store {
	return struct {
		resync.Store
		storage.HeldDecider
	}{s, s.(storage.HeldDecider)}
}

func (h *harness) personnel(by resync.Principal) resync.RunInfo {
	h.t.Helper()
	r, err := h.engine.ResyncPersonnel(context.Background(), "t1", by)
	require.NoError(h.t, err)
	info, err := r.Wait(context.Background())
	require.NoError(h.t, err)
	return info
}

// live returns the live records of a connection by key.
func (h *harness) live(tenant, conn string) map[string]resync.StoredRecord {
	h.t.Helper()
	recs, err := h.store.Records(context.Background(), resync.RecordQuery{Tenant: tenant, ConnectionID: conn})
	require.NoError(h.t, err)
	out := make(map[string]resync.StoredRecord, len(recs))
	for _, r := range recs {
		out[r.Key] = r
	}
	return out
}

func (h *harness) all(tenant, conn string) []resync.StoredRecord {
	h.t.Helper()
	recs, err := h.store.Records(context.Background(), resync.RecordQuery{Tenant: tenant, ConnectionID: conn, IncludeRemoved: true})
	require.NoError(h.t, err)
	return recs
}

func (h *harness) changes(tenant string) []resync.ChangeLogEntry {
	h.t.Helper()
	ch, err := h.store.Changes(context.Background(), resync.ChangeQuery{Tenant: tenant})
	require.NoError(h.t, err)
	return ch
}

func (h *harness) runs(tenant string) []resync.RunInfo {
	h.t.Helper()
	runs, err := h.store.ListRuns(context.Background(), resync.RunQuery{Tenant: tenant, Limit: 100})
	require.NoError(h.t, err)
	return runs
}

func result(t testing.TB, info resync.RunInfo, conn string) resync.ConnectionResult {
	t.Helper()
	i := slices.IndexFunc(info.Connections, func(c resync.ConnectionResult) bool { return c.ConnectionID == conn })
	require.GreaterOrEqual(t, i, 0, "run %s has no result for connection %s", info.ID, conn)
	r := info.Connections[i]
	return r
}
