package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openresync/resync"
	"github.com/openresync/resync/resynctest"
	"github.com/openresync/resync/stores/postgres"
)

// Two replicas decide on the same held change set at once: exactly one
// decision wins, the other gets ErrConflict, and what is stored (the
// snapshot, the decided set, the run) is the winner's. The held set is the
// 50-person HRIS that returned 20.
func TestTwoEnginesDecideOnce(t *testing.T) {
	s0, dbURL := openStore(t, postgres.Config{})
	ctx := context.Background()
	s1, err := postgres.Open(ctx, dbURL, postgres.Config{}) // another replica's pool
	require.NoError(t, err)
	t.Cleanup(s1.Close)

	src := resynctest.NewSource()
	src.Add(resync.Connection{ID: "hris", Tenant: "acme", Provider: "fake", Type: resync.HRIS, Name: "HRIS"})
	fakes := resynctest.NewFakes()
	staff := staffRecords(50, 0)
	c := resynctest.NewConnector(staff, 0)
	fakes.Set("acme", "hris", c)
	engines := []*resync.Engine{
		newEngine(t, s0, src, fakes.Factory(), "replica-0", 10*time.Second),
		newEngine(t, s1, src, fakes.Factory(), "replica-1", 10*time.Second),
	}
	require.Equal(t, resync.RunSucceeded, resyncAndWait(t, engines[0], "acme").Status)

	const rounds = 8
	wins := map[resync.ConnectionStatus]int{}
	for round := range rounds {
		c.SetRecords(staff, 0)
		require.Equal(t, resync.RunSucceeded, resyncAndWait(t, engines[round%2], "acme").Status)
		c.SetRecords(staff[:20], 0)
		held := resyncAndWait(t, engines[round%2], "acme")
		res := onlyResult(t, held)
		require.Equal(t, resync.ConnHeld, res.Status, "30 of 50 people removed must be held")

		// Engine i approves when i+round is even, else rejects.
		kinds := make([]resync.ConnectionStatus, 2)
		errs := make([]error, 2)
		sums := make([]resync.HeldSummary, 2)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i, e := range engines {
			wg.Go(func() {
				<-start
				who := resync.Principal{ID: fmt.Sprint("admin-", i), Email: fmt.Sprintf("admin%d@example.com", i)}
				if (i+round)%2 == 0 {
					kinds[i] = resync.ConnApplied
					sums[i], errs[i] = e.Approve(ctx, "acme", res.HeldID, who, fmt.Sprint("round ", round))
				} else {
					kinds[i] = resync.ConnRejected
					sums[i], errs[i] = e.Reject(ctx, "acme", res.HeldID, who, fmt.Sprint("round ", round))
				}
			})
		}
		close(start)
		wg.Wait()
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil:
				require.Equal(t, -1, winner, "round %d: both decisions succeeded", round)
				winner = i
			default:
				require.True(t, errors.Is(err, resync.ErrConflict), "round %d: the losing decision returned %v, want ErrConflict", round, err)
			}
		}
		require.NotEqual(t, -1, winner, "round %d: no decision succeeded: %v", round, errs)
		kind := kinds[winner]
		wins[kind]++

		n, _ := liveCount(t, s0, "acme", "hris")
		if kind == resync.ConnApplied {
			assert.Equal(t, 20, n, "round %d: the approval was applied", round)
		} else {
			assert.Equal(t, 50, n, "round %d: the rejection applied nothing", round)
		}
		decided, err := engines[1-winner].DecidedChangeSets(ctx, "acme", admin, 1)
		require.NoError(t, err)
		require.Len(t, decided, 1)
		assert.Equal(t, res.HeldID, decided[0].ID)
		assert.Equal(t, sums[winner].Decision.By, decided[0].Decision.By)
		assert.True(t, sums[winner].Decision.At.Equal(decided[0].Decision.At))
		assert.Equal(t, kind, decided[0].Decision.Kind)

		run, err := engines[1-winner].GetRun(ctx, "acme", held.ID, admin)
		require.NoError(t, err)
		r := onlyResult(t, run)
		assert.Equal(t, kind, r.Status, "round %d: the run records the winning decision", round)
		assert.Equal(t, sums[winner].Decision.By, r.Decision.By)
		if kind == resync.ConnApplied {
			assert.Equal(t, resync.RunSucceeded, run.Status)
		} else {
			assert.Equal(t, resync.RunPartial, run.Status)
		}
	}
	t.Logf("winning decisions: %v", wins)
	assertCleanLog(t, s0, "acme")
}

// A later read on one replica supersedes a hold made on another, and the
// hold can then no longer be approved.
func TestSupersededAcrossEngines(t *testing.T) {
	s0, dbURL := openStore(t, postgres.Config{})
	ctx := context.Background()
	s1, err := postgres.Open(ctx, dbURL, postgres.Config{})
	require.NoError(t, err)
	t.Cleanup(s1.Close)
	src := resynctest.NewSource()
	src.Add(resync.Connection{ID: "hris", Tenant: "acme", Provider: "fake", Type: resync.HRIS})
	fakes := resynctest.NewFakes()
	staff := staffRecords(50, 0)
	c := resynctest.NewConnector(staff, 0)
	fakes.Set("acme", "hris", c)
	e0 := newEngine(t, s0, src, fakes.Factory(), "replica-0", 10*time.Second)
	e1 := newEngine(t, s1, src, fakes.Factory(), "replica-1", 10*time.Second)

	resyncAndWait(t, e0, "acme")
	c.SetRecords(staff[:20], 0)
	held := resyncAndWait(t, e0, "acme")
	res := onlyResult(t, held)
	require.Equal(t, resync.ConnHeld, res.Status)
	c.SetRecords(staff, 0)
	require.Equal(t, resync.RunSucceeded, resyncAndWait(t, e1, "acme").Status)

	run, err := e0.GetRun(ctx, "acme", held.ID, admin)
	require.NoError(t, err)
	r := onlyResult(t, run)
	assert.Equal(t, resync.ConnSuperseded, r.Status)
	_, err = e0.Approve(ctx, "acme", res.HeldID, admin, "")
	require.ErrorIs(t, err, resync.ErrConflict)
	n, _ := liveCount(t, s0, "acme", "hris")
	assert.Equal(t, 50, n)
	decided, err := e0.DecidedChangeSets(ctx, "acme", admin, 0)
	require.NoError(t, err)
	require.Len(t, decided, 1)
	assert.Equal(t, resync.ConnSuperseded, decided[0].Decision.Kind)
}

// onlyResult returns the result of a run of one connection.
func onlyResult(t *testing.T, info resync.RunInfo) resync.ConnectionResult {
	t.Helper()
	require.Len(t, info.Connections, 1)
	return info.Connections[0]
}

// A read's Apply (which discards the connection's held sets) races an
// approval of the held set, on two pools: each round, one of them wins, the
// other gets ErrConflict or ErrNotFound, and neither fails with a deadlock.
func TestApplyRacesApprovalWithoutDeadlock(t *testing.T) {
	s0, dbURL := openStore(t, postgres.Config{})
	ctx := context.Background()
	s1, err := postgres.Open(ctx, dbURL, postgres.Config{})
	require.NoError(t, err)
	t.Cleanup(s1.Close)

	const tenant, conn = "acme", "hris"
	version := int64(0)
	apply := func(s *postgres.Store, id string, changes ...resync.Change) error {
		return s.Apply(ctx, &resync.ChangeSet{ID: id, Tenant: tenant, ConnectionID: conn, RunID: "run-" + id, BaseVersion: version, Changes: changes})
	}
	require.NoError(t, apply(s0, "seed", addChange(identity("a", nil)), addChange(identity("b", nil))))
	version++
	for round := range 20 {
		held := &resync.ChangeSet{ID: fmt.Sprintf("held-%d", round), Tenant: tenant, ConnectionID: conn, RunID: "run-held",
			BaseVersion: version, HoldReason: "test",
			Changes: []resync.Change{{Op: resync.OpRemove, Kind: resync.KindIdentity, Key: "b", PrevFingerprint: resync.Fingerprint(identity("b", nil))}}}
		require.NoError(t, s0.Hold(ctx, held))
		c := identity("c", map[string]string{"round": fmt.Sprint(round)})
		var applyErr, decideErr error
		start := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() { <-start; applyErr = apply(s0, fmt.Sprintf("read-%d", round), addChange(c)) })
		wg.Go(func() {
			<-start
			_, decideErr = s1.DecideHeld(ctx, tenant, held.ID, resync.Decision{Kind: resync.ConnApplied, By: resync.Principal{ID: "alice"}, At: time.Now()})
		})
		close(start)
		wg.Wait()
		for _, err := range []error{applyErr, decideErr} {
			if err != nil {
				require.Falsef(t, !errors.Is(err, resync.ErrConflict) && !errors.Is(err, resync.ErrNotFound),
					"round %d: apply %v, decide %v: only a lost race is an error", round, applyErr, decideErr)
			}
		}
		require.False(t, applyErr != nil && decideErr != nil, "round %d: one of them wins (apply %v, decide %v)", round, applyErr, decideErr)
		version++
		// Put b back so the next round can hold its removal again.
		if decideErr == nil {
			require.NoError(t, apply(s0, fmt.Sprintf("restore-%d", round), addChange(identity("b", nil))))
			version++
		}
		if applyErr == nil && decideErr == nil {
			t.Fatalf("round %d: both the read and the approval applied", round)
		}
	}
}
