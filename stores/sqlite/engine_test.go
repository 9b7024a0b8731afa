package sqlite_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openresync/resync"
	"github.com/openresync/resync/resynctest"
	"github.com/openresync/resync/storage"
	"github.com/openresync/resync/stores/sqlite"
)

const (
	engTenant = "acme"
	engConn   = "okta-1"
)

// engineSetup returns a source with one IdP connection and fakes serving
// records from it.
func engineSetup(records []resync.Record) (*resynctest.Source, *resynctest.Fakes) {
	src := resynctest.NewSource()
	src.Add(resync.Connection{ID: engConn, Tenant: engTenant, Type: resync.IdP, Provider: "okta", Name: "Okta"})
	fakes := resynctest.NewFakes()
	fakes.Set(engTenant, engConn, resynctest.NewConnector(records, 500))
	return src, fakes
}

func newEngine(t testing.TB, store resync.Store, src *resynctest.Source, fakes *resynctest.Fakes) *resync.Engine {
	t.Helper()
	e, err := resync.New(context.Background(), resync.Config{
		Store: store, Connections: src, Connectors: fakes.Factories("okta"), Authorizer: resynctest.AllowAll,
		// These tests read a connection again at once to see what changed.
		MinReadInterval: -1,
	})
	require.NoError(t, err)
	return e
}

func closeEngine(t testing.TB, e *resync.Engine) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, e.Close(ctx))
}

func TestEnginePersonnelResyncSurvivesReopen(t *testing.T) {
	ctx := context.Background()
	s, path := open(t, sqlite.Config{})
	records := resynctest.Identities("u", 1500)
	src, fakes := engineSetup(records)
	e := newEngine(t, s, src, fakes)
	run, err := e.ResyncPersonnel(ctx, engTenant, resync.Principal{ID: "admin"})
	require.NoError(t, err)
	info, err := run.Wait(ctx)
	require.NoError(t, err)
	require.Equal(t, resync.RunSucceeded, info.Status, "run error: %v", info.Err())
	closeEngine(t, e)
	require.NoError(t, s.Close())

	s2 := reopen(t, path, sqlite.Config{})
	snap, version := snapshot(t, s2, engTenant, engConn)
	assert.Equal(t, int64(1), version)
	require.Len(t, snap, len(records))
	for _, r := range records {
		assert.True(t, snap[entry{resync.KindIdentity, storage.KeyOf(r), resync.Fingerprint(r)}], "record %s", storage.KeyOf(r))
	}
	got, err := s2.GetRun(ctx, engTenant, run.ID())
	require.NoError(t, err)
	assert.Equal(t, resync.RunSucceeded, got.Status)
	c := connResult(t, got, engConn)
	assert.Equal(t, len(records), c.Added)
	runs, err := s2.ListRuns(ctx, resync.RunQuery{Tenant: engTenant, Limit: 100})
	require.NoError(t, err)
	assert.Len(t, runs, 1)
	log, err := s2.Changes(ctx, resync.ChangeQuery{Tenant: engTenant, RunID: run.ID(), Limit: 10})
	require.NoError(t, err)
	assert.Len(t, log, 10)

	// A second engine on the reopened file sees nothing to change.
	e2 := newEngine(t, s2, src, fakes)
	defer closeEngine(t, e2)
	run2, err := e2.ResyncPersonnel(ctx, engTenant, resync.Principal{ID: "admin"})
	require.NoError(t, err)
	info2, err := run2.Wait(ctx)
	require.NoError(t, err)
	require.Equal(t, resync.RunSucceeded, info2.Status)
	assert.Equal(t, len(records), info2.Totals().Unchanged)
	tot := info2.Totals()
	assert.Zero(t, tot.Added+tot.Updated+tot.Removed)
}

func TestConfigClockDrivesLeases(t *testing.T) {
	ctx := context.Background()
	clock := resynctest.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	s, _ := open(t, sqlite.Config{Clock: clock})
	ok, err := s.AcquireLease(ctx, "l", "a", time.Minute)
	require.NoError(t, err)
	require.True(t, ok)
	clock.Advance(59 * time.Second)
	ok, err = s.AcquireLease(ctx, "l", "b", time.Minute)
	require.NoError(t, err)
	assert.False(t, ok, "live one second before expiry")
	clock.Advance(time.Second)
	ok, err = s.AcquireLease(ctx, "l", "b", time.Minute)
	require.NoError(t, err)
	assert.True(t, ok, "free at the expiry instant")
}

// Two Stores on one file behave like two processes: the second apply on
// the same base version conflicts, whichever Store it goes through.
func TestTwoStoresOneFile(t *testing.T) {
	ctx := context.Background()
	a, path := open(t, sqlite.Config{})
	b := reopen(t, path, sqlite.Config{})
	require.NoError(t, a.Apply(ctx, addSet("1", "t", "c", 0, identity("x", "X"))))
	err := b.Apply(ctx, addSet("2", "t", "c", 0, identity("y", "Y")))
	require.ErrorIs(t, err, resync.ErrConflict)
	require.NoError(t, b.Apply(ctx, addSet("1", "t", "c", 0, identity("x", "X"))), "re-applying through another Store is a no-op")
	snap, v := snapshot(t, b, "t", "c")
	assert.Equal(t, int64(1), v)
	assert.Len(t, snap, 1)
}

// connResult returns the run's result for a connection.
func connResult(t testing.TB, info resync.RunInfo, id string) resync.ConnectionResult {
	t.Helper()
	i := slices.IndexFunc(info.Connections, func(c resync.ConnectionResult) bool { return c.ConnectionID == id })
	require.GreaterOrEqual(t, i, 0, "run %s has no result for connection %s", info.ID, id)
	return info.Connections[i]
}
