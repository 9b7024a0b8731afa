package resync_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/openresync/resync"
	"github.com/openresync/resync/memstore"
	"github.com/openresync/resync/resynctest"
)

// goExecutor is the smallest Executor: one goroutine per read, calling
// back into an engine; it records results in the store under a mutex (the
// transaction a real executor has). It does not dedup: the River executor
// is tested for that on PostgreSQL.
type goExecutor struct {
	store  resync.Store
	engine func() *resync.Engine
	mu     sync.Mutex
	wg     sync.WaitGroup
	cancel map[string]context.CancelFunc
}

func (x *goExecutor) Submit(ctx context.Context, run resync.RunInfo, _ []resync.Notification) error {
	if err := x.store.CreateRun(ctx, run); err != nil {
		return err
	}
	rctx, cancel := context.WithCancel(context.Background())
	x.mu.Lock()
	x.cancel[run.ID] = cancel
	x.mu.Unlock()
	for _, c := range run.Connections {
		x.wg.Add(1)
		go func() {
			defer x.wg.Done()
			record, err := x.engine().ExecuteRead(rctx, run, c.ConnectionID, run.ID+"/"+c.ConnectionID)
			if record == nil {
				return // canceled before the read could begin
			}
			x.mu.Lock()
			defer x.mu.Unlock()
			ri, err := x.store.GetRun(context.Background(), run.Tenant, run.ID)
			if err == nil && record(&ri) {
				x.engine().EndRun(context.Background(), &ri)
				_ = x.store.UpdateRun(context.Background(), ri)
			} else if err == nil && !ri.Status.Final() {
				_ = x.store.UpdateRun(context.Background(), ri)
			}
		}()
	}
	return nil
}

func (x *goExecutor) Cancel(ctx context.Context, tenant, id string) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	ri, err := x.store.GetRun(ctx, tenant, id)
	if err != nil || ri.Status.Final() {
		return err
	}
	ri.Status, ri.FinishedAt = resync.RunCanceled, time.Now()
	for i := range ri.Connections {
		if c := &ri.Connections[i]; c.Status == resync.ConnPending || c.Status == resync.ConnRunning {
			c.Status, c.Error = resync.ConnCanceled, "canceled"
		}
	}
	x.cancel[id]()
	return x.store.UpdateRun(ctx, ri)
}

func executorHarness(t *testing.T) (*harness, *goExecutor) {
	return executorHarnessOn(t, nil)
}

// executorHarnessOn is executorHarness on wrap's Store around the
// harness's memstore (the memstore itself when wrap is nil).
func executorHarnessOn(t *testing.T, wrap func(*memstore.Store) resync.Store) (*harness, *goExecutor) {
	x := &goExecutor{cancel: map[string]context.CancelFunc{}}
	h := newHarness(t, func(c *resync.Config) {
		if wrap != nil {
			c.Store = wrap(c.Store.(*memstore.Store))
		}
		x.store = c.Store
		c.Executor = x
		c.LeasePoll = 5 * time.Millisecond
		c.Notifier, c.Directory = nil, nil
	})
	x.engine = func() *resync.Engine { return h.engine }
	t.Cleanup(x.wg.Wait)
	return h, x
}

// With an Executor the engine reads nothing itself: the run is the
// executor's, its reads go through ExecuteRead, one connection's failure
// stays its own, and the run handle follows the stored record to its end.
func TestExecutorRunsReadsThroughExecuteRead(t *testing.T) {
	h, _ := executorHarness(t)
	okta := h.conn("t1", "okta1", resync.IdP, "okta", resynctest.Identities("u", 30), 10)
	gh := h.conn("t1", "gh1", resync.VersionControl, "github", resynctest.Identities("g", 5), 10)
	gh.AddFault(resynctest.Fault{Page: 0, Err: resync.Permanent(errors.New("401"))})

	info := h.personnel(alice)
	require.Equal(t, "executor", info.Owner)
	require.Equal(t, resync.RunPartial, info.Status)
	require.Equal(t, resync.ConnSucceeded, result(t, info, "okta1").Status)
	require.Equal(t, 30, result(t, info, "okta1").Added)
	require.Equal(t, 1, result(t, info, "okta1").Reads)
	require.Equal(t, resync.ConnFailed, result(t, info, "gh1").Status)
	require.Len(t, h.live("t1", "okta1"), 30)
	require.Equal(t, 3, okta.TotalPageReads())
	stored, err := h.store.GetRun(context.Background(), "t1", info.ID)
	require.NoError(t, err)
	require.Equal(t, resync.RunPartial, stored.Status)

	// The same read ID applies once: a retried attempt finds nothing new.
	record, err := h.engine.ExecuteRead(context.Background(), info, "okta1", info.ID+"/okta1")
	require.NoError(t, err)
	require.False(t, record(&stored), "a final run is left alone")
	require.Len(t, h.changes("t1"), 30)
}

// EndRun calls Config.AfterRun with the ended run, before the executor
// stores it; a run not final is not ended.
func TestExecutorEndRunCallsAfterRun(t *testing.T) {
	var mu sync.Mutex
	var after []resync.RunInfo
	x := &goExecutor{cancel: map[string]context.CancelFunc{}}
	h := newHarness(t, func(c *resync.Config) {
		x.store = c.Store
		c.Executor = x
		c.LeasePoll = 5 * time.Millisecond
		c.Notifier, c.Directory = nil, nil
		c.AfterRun = func(ctx context.Context, run *resync.RunInfo) error {
			mu.Lock()
			defer mu.Unlock()
			after = append(after, *run)
			run.Findings = map[string]int{"orphan": 2}
			return nil
		}
	})
	x.engine = func() *resync.Engine { return h.engine }
	t.Cleanup(x.wg.Wait)
	h.conn("t1", "okta1", resync.IdP, "okta", resynctest.Identities("u", 30), 10)
	h.conn("t1", "gh1", resync.VersionControl, "github", resynctest.Identities("g", 5), 10)

	info := h.personnel(alice)
	require.Equal(t, resync.RunSucceeded, info.Status)
	mu.Lock()
	require.Len(t, after, 1, "AfterRun once per run")
	require.Equal(t, info.ID, after[0].ID)
	require.Equal(t, resync.RunSucceeded, after[0].Status)
	mu.Unlock()
	require.Equal(t, map[string]int{"orphan": 2}, info.Findings, "what AfterRun found is stored with the run")

	running := info
	running.Status = resync.RunRunning
	require.Nil(t, h.engine.EndRun(context.Background(), &running))
	mu.Lock()
	require.Len(t, after, 1, "a run still running is not ended")
	mu.Unlock()
}

// Cancel reaches the executor from the engine, and the handle ends
// canceled; the blocked read applies nothing.
func TestExecutorCancel(t *testing.T) {
	h, _ := executorHarness(t)
	c := h.conn("t1", "okta1", resync.IdP, "okta", resynctest.Identities("u", 30), 10)
	c.Block()
	r, err := h.engine.ResyncPersonnel(context.Background(), "t1", alice)
	require.NoError(t, err)
	require.NoError(t, h.engine.Cancel(context.Background(), "t1", r.ID(), alice))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	info, err := r.Wait(ctx)
	require.NoError(t, err)
	require.Equal(t, resync.RunCanceled, info.Status)
	require.Empty(t, h.live("t1", "okta1"))
	c.Unblock()
}

// Unknown connections and bad arguments are permanent errors of
// ExecuteRead, with nothing read.
func TestExecuteReadBadInput(t *testing.T) {
	h, _ := executorHarness(t)
	run := resync.RunInfo{Tenant: "t1", ID: "r1", Status: resync.RunRunning, Connections: []resync.ConnectionResult{{ConnectionID: "nope", Status: resync.ConnPending}}}
	record, err := h.engine.ExecuteRead(context.Background(), run, "nope", "r1/nope")
	require.ErrorIs(t, err, resync.ErrNotFound)
	require.True(t, resync.IsPermanent(err))
	require.True(t, record(&run), "the run's last connection ends it")
	require.Equal(t, resync.RunFailed, run.Status)
	require.Equal(t, resync.ConnFailed, run.Connections[0].Status)
	_, err = h.engine.ExecuteRead(context.Background(), resync.RunInfo{Tenant: "t1"}, "okta1", "x")
	require.ErrorIs(t, err, resync.ErrInvalidRequest)
}

// countingStore counts the reads of whole run records and of statuses.
type countingStore struct {
	*memstore.Store
	records, statuses atomic.Int64
}

func (s *countingStore) GetRun(ctx context.Context, tenant, id string) (resync.RunInfo, error) {
	s.records.Add(1)
	return s.Store.GetRun(ctx, tenant, id)
}

func (s *countingStore) RunStatus(ctx context.Context, tenant, id string) (resync.RunStatus, error) {
	s.statuses.Add(1)
	return s.Store.RunStatus(ctx, tenant, id)
}

// An engine following an Executor's run polls its status, and reads the
// whole record (which grows with the run's connections) once a second at
// most, and when the run ends.
func TestExecutorRunFollowedByStatus(t *testing.T) {
	var cs *countingStore
	h, _ := executorHarnessOn(t, func(m *memstore.Store) resync.Store {
		cs = &countingStore{Store: m}
		return cs
	})
	okta := h.conn("t1", "okta1", resync.IdP, "okta", resynctest.Identities("u", 30), 10)
	okta.SetLatency(100 * time.Millisecond) // three pages: the run lasts 300 ms or more

	before := cs.records.Load()
	info := h.personnel(alice)
	require.Equal(t, resync.RunSucceeded, info.Status)
	require.Equal(t, 30, result(t, info, "okta1").Added)
	// The executor reads the record once per read; the rest is the
	// engine following the run.
	followed := cs.records.Load() - before - 1
	require.GreaterOrEqual(t, cs.statuses.Load(), int64(10), "the status polled every LeasePoll")
	require.LessOrEqual(t, followed, int64(3), "the whole record read on the first poll, once a second and at the end")
}

// FailRead records a read given up on as the connection's failure: the
// run stays running while another connection is unfinished, and the last
// one settles its final status; a final run is left alone.
func TestFailRead(t *testing.T) {
	h, _ := executorHarness(t)
	ri := resync.RunInfo{ID: "r1", Tenant: "t1", Status: resync.RunRunning, Connections: []resync.ConnectionResult{
		{ConnectionID: "okta1", Status: resync.ConnPending}, {ConnectionID: "gh1", Status: resync.ConnPending}}}
	lost := h.engine.FailRead("okta1", errors.New("its job was deleted"))
	require.False(t, lost(&ri), "gh1 is unfinished")
	require.Equal(t, resync.RunRunning, ri.Status)
	require.Equal(t, resync.ConnFailed, ri.Connections[0].Status)
	require.Equal(t, "its job was deleted", ri.Connections[0].Error)
	require.Equal(t, 1, ri.Connections[0].Reads)
	require.True(t, h.engine.FailRead("gh1", errors.New("canceled"))(&ri))
	require.Equal(t, resync.RunFailed, ri.Status)
	require.False(t, ri.FinishedAt.IsZero())
	require.False(t, h.engine.FailRead("gh1", errors.New("again"))(&ri), "a final run is left alone")
	require.Equal(t, "canceled", ri.Connections[1].Error)

	ri = resync.RunInfo{ID: "r2", Tenant: "t1", Status: resync.RunRunning, Connections: []resync.ConnectionResult{
		{ConnectionID: "okta1", Status: resync.ConnSucceeded}, {ConnectionID: "gh1", Status: resync.ConnPending}}}
	require.True(t, h.engine.FailRead("gh1", errors.New("discarded"))(&ri))
	require.Equal(t, resync.RunPartial, ri.Status)

	ri = resync.RunInfo{ID: "r3", Tenant: "t1", Status: resync.RunRunning, Connections: []resync.ConnectionResult{{ConnectionID: "gh1", Status: resync.ConnPending}}}
	require.True(t, h.engine.FailRead("gh1", nil)(&ri), "no cause: failed all the same")
	require.Equal(t, "resync: the read was given up", ri.Connections[0].Error)
}

// An in-process run shows its end only once AfterRun is done: AfterRun
// is handed the final state, while the run, read meanwhile, is still
// running; once it shows the end, it shows what AfterRun found.
func TestRunShowsItsEndAfterAfterRun(t *testing.T) {
	var h *harness
	type seen struct{ given, shown resync.RunStatus }
	var mu sync.Mutex
	var during []seen
	h = newHarness(t, func(c *resync.Config) {
		c.AfterRun = func(ctx context.Context, run *resync.RunInfo) error {
			shown, err := h.engine.GetRun(ctx, run.Tenant, run.ID, alice)
			if err != nil {
				return err
			}
			mu.Lock()
			during = append(during, seen{run.Status, shown.Status})
			mu.Unlock()
			run.Findings = map[string]int{"offboarding_gap": 1}
			return nil
		}
	})
	h.conn("t1", "okta1", resync.IdP, "okta", resynctest.Identities("u", 3), 10)
	info := h.personnel(alice)
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, []seen{{resync.RunSucceeded, resync.RunRunning}}, during)
	require.Equal(t, map[string]int{"offboarding_gap": 1}, info.Findings)
}
