package resync_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openresync/resync"
	"github.com/openresync/resync/memstore"
)

// A malformed change set is refused with ErrInvalidRequest before the
// store sees it, and stores nothing (see Guarantees: bad input).
func TestGateRefusesMalformedChangeSets(t *testing.T) {
	ctx := t.Context()
	s := memstore.New()
	g := resync.Gate(s)
	good := func() resync.Change {
		r := &resync.Identity{Key: "new", Status: resync.StatusActive}
		return resync.Change{Op: resync.OpAdd, Kind: resync.KindIdentity, Key: "new", Record: r, Fingerprint: resync.Fingerprint(r)}
	}
	mk := func(id string, changes ...resync.Change) *resync.ChangeSet {
		return &resync.ChangeSet{ID: id, Tenant: "t", ConnectionID: "c", RunID: "r", Changes: changes}
	}
	wrongKey, wrongKind, badOp, badKind, noKey := good(), good(), good(), good(), good()
	wrongKey.Key = "other"
	wrongKind.Kind = resync.KindAccount
	badOp.Op = "delete"
	badKind.Kind = "user"
	noKey.Key = ""
	cases := map[string]*resync.ChangeSet{
		"nil":                   nil,
		"an empty ID":           mk("", good()),
		"an empty tenant":       {ID: "m", ConnectionID: "c", Changes: []resync.Change{good()}},
		"an empty connection":   {ID: "m", Tenant: "t", Changes: []resync.Change{good()}},
		"a negative version":    {ID: "m", Tenant: "t", ConnectionID: "c", BaseVersion: -1},
		"an add without record": mk("m", resync.Change{Op: resync.OpAdd, Kind: resync.KindIdentity, Key: "k"}),
		"a nil *Identity":       mk("m", resync.Change{Op: resync.OpUpdate, Kind: resync.KindIdentity, Key: "k", Record: (*resync.Identity)(nil)}),
		"a kind and key twice":  mk("m", good(), resync.Change{Op: resync.OpRemove, Kind: resync.KindIdentity, Key: "new"}),
		"a mismatched key":      mk("m", wrongKey),
		"a mismatched kind":     mk("m", wrongKind),
		"an unknown op":         mk("m", badOp),
		"an unknown kind":       mk("m", badKind),
		"an empty key":          mk("m", noKey),
	}
	for name, cs := range cases {
		assert.ErrorIs(t, g.Apply(ctx, cs), resync.ErrInvalidRequest, "Apply of %s", name)
		assert.ErrorIs(t, g.Hold(ctx, cs), resync.ErrInvalidRequest, "Hold of %s", name)
	}
	v, err := s.Snapshot(ctx, "t", "c", func(resync.RecordKind, string, uint64, uint64) error { return nil })
	require.NoError(t, err)
	assert.Zero(t, v, "nothing was applied")
	held, err := s.HeldChangeSets(ctx, "t")
	require.NoError(t, err)
	assert.Empty(t, held, "nothing was held")
}

// Queries and calls that name no tenant, run, connection or lease are
// refused with ErrInvalidRequest.
func TestGateRefusesMissingArguments(t *testing.T) {
	ctx := t.Context()
	g := resync.Gate(memstore.New())
	assert.ErrorIs(t, g.CreateRun(ctx, resync.RunInfo{ID: "r"}), resync.ErrInvalidRequest)
	assert.ErrorIs(t, g.UpdateRun(ctx, resync.RunInfo{Tenant: "t"}), resync.ErrInvalidRequest)
	_, err := g.GetRun(ctx, "", "r")
	assert.ErrorIs(t, err, resync.ErrInvalidRequest)
	_, err = g.ListRuns(ctx, resync.RunQuery{})
	assert.ErrorIs(t, err, resync.ErrInvalidRequest, "ListRuns needs a tenant")
	_, err = g.Records(ctx, resync.RecordQuery{Tenant: "t"})
	assert.ErrorIs(t, err, resync.ErrInvalidRequest, "Records needs a connection")
	_, err = g.Changes(ctx, resync.ChangeQuery{})
	assert.ErrorIs(t, err, resync.ErrInvalidRequest, "Changes needs a tenant")
	_, err = g.Snapshot(ctx, "t", "", func(resync.RecordKind, string, uint64, uint64) error { return nil })
	assert.ErrorIs(t, err, resync.ErrInvalidRequest)
	_, err = g.HeldChangeSets(ctx, "")
	assert.ErrorIs(t, err, resync.ErrInvalidRequest)
	_, err = g.GetHeld(ctx, "t", "")
	assert.ErrorIs(t, err, resync.ErrInvalidRequest)
	assert.ErrorIs(t, g.DiscardHeld(ctx, "", "h"), resync.ErrInvalidRequest)
	for _, args := range []struct {
		name, owner string
		ttl         time.Duration
	}{{"", "o", time.Second}, {"l", "", time.Second}, {"l", "o", 0}} {
		_, err := g.AcquireLease(ctx, args.name, args.owner, args.ttl)
		assert.ErrorIs(t, err, resync.ErrInvalidRequest, "%+v", args)
	}
	assert.ErrorIs(t, g.ReleaseLease(ctx, "", "o"), resync.ErrInvalidRequest)
}

// A context canceled before the call stops it before the store: nothing is
// stored, and the error wraps the context's.
func TestGateChecksContextFirst(t *testing.T) {
	s := memstore.New()
	g := resync.Gate(s)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	r := &resync.Group{Key: "g"}
	cs := &resync.ChangeSet{ID: "cs", Tenant: "t", ConnectionID: "c", Changes: []resync.Change{
		{Op: resync.OpAdd, Kind: resync.KindGroup, Key: "g", Record: r, Fingerprint: resync.Fingerprint(r)}}}
	run := resync.RunInfo{ID: "r", Tenant: "t", Status: resync.RunRunning}
	calls := map[string]error{
		"CreateRun":   g.CreateRun(ctx, run),
		"UpdateRun":   g.UpdateRun(ctx, run),
		"Apply":       g.Apply(ctx, cs),
		"Hold":        g.Hold(ctx, cs),
		"DiscardHeld": g.DiscardHeld(ctx, "t", "cs"),
		"Release":     g.ReleaseLease(ctx, "l", "o"),
	}
	_, calls["GetRun"] = g.GetRun(ctx, "t", "r")
	_, calls["ListRuns"] = g.ListRuns(ctx, resync.RunQuery{Tenant: "t"})
	_, calls["LiveRuns"] = g.LiveRuns(ctx)
	_, calls["Snapshot"] = g.Snapshot(ctx, "t", "c", func(resync.RecordKind, string, uint64, uint64) error { return nil })
	_, calls["Records"] = g.Records(ctx, resync.RecordQuery{Tenant: "t", ConnectionID: "c"})
	_, calls["Changes"] = g.Changes(ctx, resync.ChangeQuery{Tenant: "t"})
	_, calls["HeldChangeSets"] = g.HeldChangeSets(ctx, "t")
	_, calls["GetHeld"] = g.GetHeld(ctx, "t", "cs")
	_, calls["AcquireLease"] = g.AcquireLease(ctx, "l", "o", time.Second)
	for name, err := range calls {
		assert.ErrorIs(t, err, context.Canceled, name)
	}
	live := t.Context()
	v, err := s.Snapshot(live, "t", "c", func(resync.RecordKind, string, uint64, uint64) error { return nil })
	require.NoError(t, err)
	assert.Zero(t, v, "nothing was applied")
	_, err = s.GetRun(live, "t", "r")
	assert.ErrorIs(t, err, resync.ErrNotFound, "no run was created")
	ok, err := s.AcquireLease(live, "l", "other", time.Second)
	require.NoError(t, err)
	assert.True(t, ok, "no lease was taken")
}

// The gate fills RunQuery.Limit (0 means 100) and names the run in a
// store's bare error.
func TestGateFillsDefaultsAndContext(t *testing.T) {
	ctx := t.Context()
	g := resync.Gate(memstore.New())
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 105 {
		require.NoError(t, g.CreateRun(ctx, resync.RunInfo{ID: fmt.Sprintf("run-%03d", i), Tenant: "t", Status: resync.RunSucceeded,
			CreatedAt: base.Add(time.Duration(i) * time.Second)}))
	}
	runs, err := g.ListRuns(ctx, resync.RunQuery{Tenant: "t"})
	require.NoError(t, err)
	require.Len(t, runs, 100)
	assert.Equal(t, "run-104", runs[0].ID)
	_, err = g.GetRun(ctx, "t", "missing")
	require.ErrorIs(t, err, resync.ErrNotFound)
	assert.Contains(t, err.Error(), `run "missing" of tenant "t"`)
}

// Recovery marks exactly the live runs of owners without a live instance
// lease, whatever the tenant, and leaves finished runs and live owners'
// runs alone (see Guarantees: crash safety).
func TestRecoveryMarksOnlyDeadOwnersRuns(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	s := h.store
	run := func(tenant, id, owner string, st resync.RunStatus) resync.RunInfo {
		return resync.RunInfo{ID: id, Tenant: tenant, Status: st, Owner: owner, Trigger: resync.TriggerAdhoc, CreatedAt: time.Now(),
			Connections: []resync.ConnectionResult{
				{ConnectionID: "a", Status: resync.ConnSucceeded},
				{ConnectionID: "b", Status: resync.ConnRunning},
				{ConnectionID: "c", Status: resync.ConnPending},
			}}
	}
	ok, err := s.AcquireLease(ctx, resync.InstanceLease("live"), "live", time.Hour)
	require.NoError(t, err)
	require.True(t, ok)
	ok, err = s.AcquireLease(ctx, resync.InstanceLease("released"), "released", time.Hour)
	require.NoError(t, err)
	require.True(t, ok)
	require.NoError(t, s.ReleaseLease(ctx, resync.InstanceLease("released"), "released"))
	ok, err = s.AcquireLease(ctx, "read/x", "reader", time.Hour) // not an instance lease
	require.NoError(t, err)
	require.True(t, ok)
	runs := []resync.RunInfo{
		run("t1", "live-running", "live", resync.RunRunning),
		run("t2", "live-pending", "live", resync.RunPending),
		run("t1", "dead-running", "dead", resync.RunRunning),
		run("t2", "dead-pending", "dead", resync.RunPending),
		run("t1", "dead-done", "dead", resync.RunSucceeded),
		run("t2", "released-running", "released", resync.RunRunning),
		run("t1", "reader-running", "reader", resync.RunRunning),
	}
	for _, r := range runs {
		require.NoError(t, s.CreateRun(ctx, r))
	}
	marked, err := h.engine.RecoverRuns(ctx)
	require.NoError(t, err)
	var ids []string
	for _, r := range marked {
		ids = append(ids, r.ID)
	}
	assert.ElementsMatch(t, []string{"dead-running", "dead-pending", "released-running", "reader-running"}, ids)
	for _, r := range runs {
		got, err := s.GetRun(ctx, r.Tenant, r.ID)
		require.NoError(t, err)
		if !slices.Contains(ids, r.ID) {
			assert.Equal(t, r.Status, got.Status, "%s was left alone", r.ID)
			continue
		}
		assert.Equal(t, resync.RunInterrupted, got.Status, r.ID)
		assert.False(t, got.FinishedAt.IsZero(), r.ID)
		assert.Equal(t, resync.ConnSucceeded, got.Connections[0].Status, "%s: a finished connection keeps its result", r.ID)
		for _, c := range got.Connections[1:] {
			assert.Equal(t, resync.ConnFailed, c.Status, r.ID)
			assert.Contains(t, c.Error, "interrupted", r.ID)
		}
	}
	// The probe released the dead owners' leases, and a second pass marks
	// nothing.
	again, err := h.engine.RecoverRuns(ctx)
	require.NoError(t, err)
	assert.Empty(t, again)
	ok, err = s.AcquireLease(ctx, resync.InstanceLease("dead"), "someone", time.Second)
	require.NoError(t, err)
	assert.True(t, ok, "recovery released the dead owner's lease it took")
}
