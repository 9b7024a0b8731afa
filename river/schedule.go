package river

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/openresync/resync"
	"github.com/openresync/resync/internal/dueheap"
)

// ScheduleConfig configures scheduled syncs on River (Config.Schedule).
// Every field is optional; the default is documented on it.
type ScheduleConfig struct {
	// Schedule gives each tenant its schedule, as
	// resync.SchedulerConfig.Schedule does. Default
	// resync.Daily(0, 0, time.UTC, 24*time.Hour). Per tenant:
	// resync.TenantConfig.Schedule.
	Schedule resync.TenantSchedule
	// Scope is what a scheduled run covers. Default
	// resync.Scope{Kind: resync.ScopeAll}. Per tenant:
	// resync.TenantConfig.Scope.
	Scope resync.Scope
	// Tick is the period of the periodic job that enqueues the tenants
	// due: a slot starts up to Tick after its time. At least a second
	// (River's least period). Default 1 minute.
	Tick time.Duration
}

// scheduleQueue is the River queue of the periodic job that enqueues the
// tenants due: only processes with Config.Schedule work it.
const scheduleQueue = "resync_schedule"

// periodicJobID names the periodic job among the River client's.
const periodicJobID = "resync_schedule"

// tickArgs is the periodic job: enqueue the scheduled runs of the tenants
// due since the last tick.
type tickArgs struct{}

// Kind implements river.JobArgs.
func (tickArgs) Kind() string { return "resync_schedule_tick" }

// startArgs is the job that starts one tenant's scheduled run for one
// slot. It is unique by tenant and slot in every state River keeps a job
// in (completed included), so a slot is enqueued once however many ticks
// find it due.
type startArgs struct {
	Tenant string       `json:"tenant" river:"unique"`
	Slot   time.Time    `json:"slot" river:"unique"`
	Scope  resync.Scope `json:"scope"`
}

// Kind implements river.JobArgs.
func (startArgs) Kind() string { return "resync_scheduled_run" }

// scheduler is an executor's schedule: each tenant's next due time in the
// min-heap resync.Scheduler keeps its tenants in (an event costs
// O(log n); nothing scans the tenants), advanced only by the ticks this
// process works.
type scheduler struct {
	cfg ScheduleConfig

	mu      sync.Mutex
	tenants map[string]*schedTenant
	h       dueheap.Heap[*schedTenant]
	ord     uint32
}

type schedTenant struct {
	id     string
	sched  resync.Schedule
	scope  resync.Scope
	due    int64 // UnixNano; math.MinInt64: not yet placed (due at the first tick)
	seq    uint32
	ord    uint32
	queued bool
}

// configureSchedule validates Config.Schedule and applies its defaults.
func (x *Executor) configureSchedule() error {
	c := x.cfg.Schedule
	if c == nil {
		return nil
	}
	cfg := *c
	if cfg.Tick < 0 {
		return fmt.Errorf("%w: river: Schedule.Tick must not be negative", resync.ErrInvalidRequest)
	}
	if cfg.Tick == 0 {
		cfg.Tick = time.Minute
	}
	if cfg.Tick < time.Second {
		return fmt.Errorf("%w: river: Schedule.Tick %s is under River's least period of a second", resync.ErrInvalidRequest, cfg.Tick)
	}
	if cfg.Schedule == nil {
		cfg.Schedule = resync.Daily(0, 0, time.UTC, 24*time.Hour)
	}
	if cfg.Scope.Kind == "" {
		cfg.Scope = resync.Scope{Kind: resync.ScopeAll}
	}
	x.sched = &scheduler{cfg: cfg, tenants: map[string]*schedTenant{}}
	return nil
}

// addSchedule adds the periodic job and its queue to River's config.
func (x *Executor) addSchedule(rc *river.Config) {
	if x.sched == nil || x.cfg.Workers == 0 {
		return
	}
	rc.Queues[scheduleQueue] = river.QueueConfig{MaxWorkers: 1}
	rc.PeriodicJobs = append(rc.PeriodicJobs, x.PeriodicJob())
}

// PeriodicJob returns the periodic job of scheduled syncs (nil without
// Config.Schedule), for a River client of the host's own on the same
// schema: River's leader enqueues the periodic jobs it knows, so every
// client that may be elected leader must carry it (and know the workers
// Executor.AddWorker registers).
func (x *Executor) PeriodicJob() *river.PeriodicJob {
	if x.sched == nil {
		return nil
	}
	tick := x.sched.cfg.Tick
	return river.NewPeriodicJob(river.PeriodicInterval(tick), func() (river.JobArgs, *river.InsertOpts) {
		// One tick per period, whichever leader inserts it.
		return tickArgs{}, &river.InsertOpts{Queue: scheduleQueue, MaxAttempts: 1, UniqueOpts: river.UniqueOpts{ByPeriod: tick}}
	}, &river.PeriodicJobOpts{ID: periodicJobID, RunOnStart: true})
}

// Schedule schedules a tenant's syncs as tc says (resync.TenantConfig{}
// for the Config.Schedule defaults), or replaces its TenantConfig. Every
// process with Config.Schedule must schedule the same tenants the same
// way: any of them may work the next tick. The tenant's slots are counted
// from the last tick of the schedule (the first tick when there was
// none), so a tenant scheduled again after a restart catches up on one
// missed slot. Without Config.Schedule, or for an empty tenant, an error
// wrapping resync.ErrInvalidRequest. The schedule and scope are checked
// when a slot is due: a schedule whose Next is zero never runs the
// tenant, and a slot whose scope the engine rejects (or whose tenant it
// does not know) is canceled with the engine's error, which River keeps
// on the job.
func (x *Executor) Schedule(tenant string, tc resync.TenantConfig) error {
	s := x.sched
	if s == nil {
		return fmt.Errorf("%w: river: Schedule needs Config.Schedule", resync.ErrInvalidRequest)
	}
	if tenant == "" {
		return fmt.Errorf("%w: river: empty tenant", resync.ErrInvalidRequest)
	}
	ts, scope := tc.Schedule, tc.Scope
	if ts == nil {
		ts = s.cfg.Schedule
	}
	if scope.Kind == "" {
		scope = s.cfg.Scope
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tenants[tenant]
	if t == nil {
		s.ord++
		t = &schedTenant{id: tenant, ord: s.ord}
		s.tenants[tenant] = t
	}
	t.sched, t.scope = ts.For(tenant), scope
	s.pushLocked(t, math.MinInt64)
	return nil
}

// Unschedule stops scheduling a tenant's syncs; a slot already enqueued
// still runs. resync.ErrNotFound if the tenant is not scheduled.
func (x *Executor) Unschedule(tenant string) error {
	s := x.sched
	if s == nil {
		return fmt.Errorf("%w: river: Unschedule needs Config.Schedule", resync.ErrInvalidRequest)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tenants[tenant]
	if t == nil {
		return fmt.Errorf("%w: river: tenant %q is not scheduled", resync.ErrNotFound, tenant)
	}
	t.queued = false
	delete(s.tenants, tenant)
	s.compactLocked()
	return nil
}

// tickWorker works the periodic job.
type tickWorker struct {
	river.WorkerDefaults[tickArgs]
	x *Executor
}

// Work enqueues a start job for each tenant with a slot in (last tick,
// now], and moves the last tick to now, in one transaction holding the
// schedule's row lock: ticks are ordered, each instant belongs to one
// tick, and a tick that fails enqueues nothing (the next covers its
// slots). now is the database's clock, the same for every process.
func (w *tickWorker) Work(ctx context.Context, job *river.Job[tickArgs]) error {
	x := w.x
	s := x.sched
	if s == nil {
		return nil // a process without Config.Schedule: nothing to do
	}
	tx, err := x.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("river: schedule tick: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if _, err := tx.Exec(ctx, x.sql(`INSERT INTO {s}.resync_schedule (id, first_tick, last_tick)
		VALUES (1, clock_timestamp(), clock_timestamp()) ON CONFLICT (id) DO NOTHING`)); err != nil {
		return fmt.Errorf("river: schedule tick: %w", err)
	}
	var last time.Time
	if err := tx.QueryRow(ctx, x.sql(`SELECT last_tick FROM {s}.resync_schedule WHERE id = 1 FOR UPDATE`)).Scan(&last); err != nil {
		return fmt.Errorf("river: schedule tick: %w", err)
	}
	// Read after the lock is held: a tick that waited for another's
	// starts after the instant that one moved the last tick to.
	var now time.Time
	if err := tx.QueryRow(ctx, `SELECT clock_timestamp()`).Scan(&now); err != nil {
		return fmt.Errorf("river: schedule tick: %w", err)
	}
	if !now.After(last) {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	due, undo := s.popDueLocked(last, now)
	committed := false
	defer func() {
		if !committed {
			undo()
		}
	}()
	if len(due) > 0 {
		if _, err := x.client.InsertManyTx(ctx, tx, due); err != nil {
			return fmt.Errorf("river: enqueuing %d scheduled runs: %w", len(due), err)
		}
	}
	if _, err := tx.Exec(ctx, x.sql(`UPDATE {s}.resync_schedule SET last_tick = $1 WHERE id = 1`), now); err != nil {
		return fmt.Errorf("river: schedule tick: %w", err)
	}
	if _, err := river.JobCompleteTx[*riverpgxv5.Driver](ctx, tx, job); err != nil {
		return fmt.Errorf("river: schedule tick: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("river: schedule tick: %w", err)
	}
	committed = true
	if len(due) > 0 {
		x.log.Info("scheduled runs enqueued", "tenants", len(due), "after", last, "until", now)
	}
	return nil
}

// popDueLocked takes from the heap the tenants due by now and returns a
// start job for each whose slot is after last (an earlier slot was the
// business of an earlier tick, perhaps in another process). Each tenant
// goes back in the heap at its first slot after now; one that had missed
// several slots (no tick for a while) runs once, for the first it missed.
// undo puts the tenants back as they were, for a tick that failed.
func (s *scheduler) popDueLocked(last, now time.Time) (jobs []river.InsertManyParams, undo func()) {
	type was struct {
		t   *schedTenant
		due int64
	}
	var popped []was
	seen := map[*schedTenant]bool{}
	limit, lastN := now.UnixNano(), last.UnixNano()
	for {
		t := s.popLocked(limit)
		if t == nil {
			break
		}
		if !seen[t] {
			seen[t] = true
			popped = append(popped, was{t, t.due})
		}
		if t.due <= lastN {
			// Served by an earlier tick, or not placed yet: the tenant's
			// first slot after the last tick may still be due now.
			if next := t.sched.Next(last); !next.IsZero() {
				s.pushLocked(t, next.UnixNano())
			}
			continue
		}
		slot := time.Unix(0, t.due).UTC()
		jobs = append(jobs, river.InsertManyParams{
			Args:       startArgs{Tenant: t.id, Slot: slot, Scope: t.scope},
			InsertOpts: &river.InsertOpts{UniqueOpts: river.UniqueOpts{ByArgs: true}},
		})
		if next := t.sched.Next(now); !next.IsZero() {
			s.pushLocked(t, next.UnixNano())
		}
	}
	return jobs, func() {
		for _, p := range popped {
			if s.tenants[p.t.id] == p.t {
				s.pushLocked(p.t, p.due)
			}
		}
	}
}

// startWorker works a start job: it stores the tenant's scheduled run of
// the slot with its read jobs, and completes itself, in one transaction.
type startWorker struct {
	river.WorkerDefaults[startArgs]
	x *Executor
}

// scheduledRunID is the ID of a tenant's scheduled run of slot: the same
// in every process and attempt, so a slot's run is stored once.
func scheduledRunID(slot time.Time) string {
	return "sched-" + slot.UTC().Format("20060102T150405.000000000Z")
}

// Work plans the tenant's run as the engine would for a scheduled
// request, then stores it and its reads (Submit's transaction) and
// completes the job in one transaction. A run of the slot already stored
// (an attempt whose worker died after committing) completes the job
// without a second run.
func (w *startWorker) Work(ctx context.Context, job *river.Job[startArgs]) error {
	x := w.x
	e, err := x.started()
	if err != nil {
		return err
	}
	a := job.Args
	plan, err := e.Plan(ctx, resync.Request{Tenant: a.Tenant, Initiator: resync.SystemPrincipal, Scope: a.Scope, Trigger: resync.TriggerScheduled})
	switch {
	case errors.Is(err, resync.ErrNotFound), errors.Is(err, resync.ErrInvalidRequest), errors.Is(err, resync.ErrForbidden):
		return river.JobCancel(fmt.Errorf("river: scheduled run of tenant %q: %w", a.Tenant, err))
	case err != nil:
		return err
	case len(plan.Sync) == 0:
		return nil // nothing to sync for this slot
	}
	run := plan.ExecutorRun(scheduledRunID(a.Slot), resync.TriggerScheduled, resync.SystemPrincipal, time.Now())
	return pgx.BeginFunc(ctx, x.pool, func(tx pgx.Tx) error {
		var exists bool
		if err := tx.QueryRow(ctx, x.sql(`SELECT EXISTS (SELECT 1 FROM {s}.resync_runs WHERE tenant = $1 AND run_id = $2)`),
			a.Tenant, run.ID).Scan(&exists); err != nil {
			return fmt.Errorf("river: scheduled run of tenant %q: %w", a.Tenant, err)
		}
		if !exists {
			// A scheduled run has no "started" notifications.
			if err := x.submitTx(ctx, tx, run, nil); err != nil {
				return err
			}
		}
		_, err := river.JobCompleteTx[*riverpgxv5.Driver](ctx, tx, job)
		return err
	})
}

// pushLocked (re)places t at due. An earlier heap entry of t goes stale;
// it is dropped when it comes to the top.
func (s *scheduler) pushLocked(t *schedTenant, due int64) {
	t.seq++
	t.due, t.queued = due, true
	s.h.Push(dueheap.Entry[*schedTenant]{Due: due, Ord: t.ord, Seq: t.seq, Val: t})
	s.compactLocked()
}

// compactLocked drops the stale entries when they outnumber live ones, so
// that Schedule and Unschedule cost O(log n) amortized.
func (s *scheduler) compactLocked() {
	if len(s.h) <= 64 || len(s.h) <= 2*len(s.tenants) {
		return
	}
	s.h.Filter(live)
}

// popLocked removes and returns the earliest tenant if it is due at
// limit, else nil.
func (s *scheduler) popLocked(limit int64) *schedTenant {
	e, _, ok := s.h.PopDue(limit, live)
	if !ok {
		return nil
	}
	e.Val.queued = false
	return e.Val
}

// live reports whether the entry is its tenant's current one.
func live(e dueheap.Entry[*schedTenant]) bool { return e.Val.queued && e.Val.seq == e.Seq }
