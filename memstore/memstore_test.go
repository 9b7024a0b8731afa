package memstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/openresync/resync"
	"github.com/openresync/resync/memstore"
	"github.com/openresync/resync/resynctest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestConformance(t *testing.T) {
	resynctest.TestStore(t, func(*testing.T) resync.Store { return memstore.New() })
}

// A store shared by every check passes too: the suite keeps its tenants and
// leases apart.
func TestConformanceShared(t *testing.T) {
	s := memstore.New()
	resynctest.TestStore(t, func(*testing.T) resync.Store { return s })
}

// WithClock drives lease expiry and timestamps, so hosts can test expiry
// without waiting.
func TestWithClock(t *testing.T) {
	ctx := t.Context()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := memstore.New(memstore.WithClock(func() time.Time { return now }))

	ok, err := s.AcquireLease(ctx, "l", "a", time.Minute)
	require.NoError(t, err)
	require.True(t, ok)
	now = now.Add(59 * time.Second)
	ok, err = s.AcquireLease(ctx, "l", "b", time.Minute)
	require.NoError(t, err)
	assert.False(t, ok, "lease still live one second before expiry")
	now = now.Add(time.Second)
	ok, err = s.AcquireLease(ctx, "l", "b", time.Minute)
	require.NoError(t, err)
	assert.True(t, ok, "lease free at its expiry")

	cs := &resync.ChangeSet{ID: "cs", Tenant: "t", ConnectionID: "c", RunID: "r", Changes: []resync.Change{{
		Op: resync.OpAdd, Kind: resync.KindGroup, Key: "g", Record: &resync.Group{Key: "g"},
	}}}
	require.NoError(t, s.Apply(ctx, cs))
	recs, err := s.Records(ctx, resync.RecordQuery{Tenant: "t", ConnectionID: "c"})
	require.NoError(t, err)
	require.Len(t, recs, 1)
	assert.Equal(t, now, recs[0].UpdatedAt)
}

// Every method honours an already-canceled context.
func TestCanceledContext(t *testing.T) {
	s := memstore.New()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	cs := &resync.ChangeSet{ID: "cs", Tenant: "t", ConnectionID: "c"}
	calls := map[string]error{
		"CreateRun": s.CreateRun(ctx, resync.RunInfo{ID: "r", Tenant: "t"}),
		"UpdateRun": s.UpdateRun(ctx, resync.RunInfo{ID: "r", Tenant: "t"}),
		"Apply":     s.Apply(ctx, cs),
		"Hold":      s.Hold(ctx, cs),
		"Discard":   s.DiscardHeld(ctx, "t", "cs"),
		"Release":   s.ReleaseLease(ctx, "l", "o"),
	}
	_, calls["GetRun"] = s.GetRun(ctx, "t", "r")
	_, calls["ListRuns"] = s.ListRuns(ctx, resync.RunQuery{Tenant: "t"})
	_, calls["RecoverRuns"] = s.RecoverRuns(ctx)
	_, calls["Snapshot"] = s.Snapshot(ctx, "t", "c", func(resync.SnapshotEntry) error { return nil })
	_, calls["Records"] = s.Records(ctx, resync.RecordQuery{Tenant: "t", ConnectionID: "c"})
	_, calls["Changes"] = s.Changes(ctx, resync.ChangeQuery{Tenant: "t"})
	_, calls["HeldChangeSets"] = s.HeldChangeSets(ctx, "t")
	_, calls["GetHeld"] = s.GetHeld(ctx, "t", "cs")
	_, calls["AcquireLease"] = s.AcquireLease(ctx, "l", "o", time.Second)
	for name, err := range calls {
		assert.ErrorIs(t, err, context.Canceled, name)
	}
	v, err := memstore.New().Snapshot(t.Context(), "t", "c", func(resync.SnapshotEntry) error { return nil })
	require.NoError(t, err)
	assert.Zero(t, v, "nothing was applied through the canceled context")
}

// Bad arguments the contract leaves to the store are refused with
// ErrInvalidRequest.
func TestInvalidArguments(t *testing.T) {
	ctx := t.Context()
	s := memstore.New()
	assert.ErrorIs(t, s.CreateRun(ctx, resync.RunInfo{ID: "r"}), resync.ErrInvalidRequest)
	assert.ErrorIs(t, s.UpdateRun(ctx, resync.RunInfo{Tenant: "t"}), resync.ErrInvalidRequest)
	_, err := s.ListRuns(ctx, resync.RunQuery{})
	assert.ErrorIs(t, err, resync.ErrInvalidRequest)
	_, err = s.Records(ctx, resync.RecordQuery{Tenant: "t"})
	assert.ErrorIs(t, err, resync.ErrInvalidRequest)
	_, err = s.Changes(ctx, resync.ChangeQuery{})
	assert.ErrorIs(t, err, resync.ErrInvalidRequest)
	assert.ErrorIs(t, s.Hold(ctx, &resync.ChangeSet{ID: "x"}), resync.ErrInvalidRequest)
	for _, args := range []struct {
		name, owner string
		ttl         time.Duration
	}{{"", "o", time.Second}, {"l", "", time.Second}, {"l", "o", 0}} {
		_, err := s.AcquireLease(ctx, args.name, args.owner, args.ttl)
		assert.ErrorIs(t, err, resync.ErrInvalidRequest, "%+v", args)
	}
}
