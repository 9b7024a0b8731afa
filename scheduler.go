package resync

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
)

// SchedulerConfig configures a Scheduler. Every field is optional; the
// default is documented on it.
type SchedulerConfig struct {
	// Schedule gives each tenant its schedule. Default
	// Daily(0, 0, time.UTC, 24*time.Hour): once a day, each tenant at its
	// own stable time of the UTC day. Per-tenant overrides: WithSchedule.
	Schedule TenantSchedule
	// Scope is what a scheduled run covers. Default AllScope().
	// Per-tenant overrides: WithScope.
	Scope Scope
	// MaxConcurrent bounds the scheduled runs in progress at once, across
	// all tenants. Tenants due while the limit is reached start in due
	// order as runs end. Default max(1, engine Concurrency/2), which leaves
	// room for ad-hoc runs.
	MaxConcurrent int
	// Retry is the policy for a scheduled run that failed (status failed,
	// partial or interrupted, or a start error other than those below):
	// MaxAttempts counts attempts per slot, the first included, and a
	// retry is only made if it is due before the tenant's next slot. A run
	// whose failures are all permanent (IsPermanent on Run.Err: bad
	// credentials, ...) or held change sets (ErrHeld: an admin must
	// decide) is not retried; nor is a start that failed with
	// ErrUnknownTenant, ErrForbidden or ErrInvalidRequest (a failed slot),
	// ErrNoConnections (not a failure) or ErrClosed (the engine is closed:
	// the end of scheduling, see Scheduler). Defaults: 4 attempts, 5
	// minutes doubling to at most 1 hour, 20% jitter.
	Retry RetryPolicy
	// QuarantineAfter is the number of slots in a row whose runs failed
	// (retries included) after which a tenant is quarantined: no retries,
	// and its slots are thinned out (see QuarantineBackoff) until a run
	// succeeds. Default 3; negative disables quarantine.
	QuarantineAfter int
	// QuarantineBackoff is the least time between two slots attempted by
	// a quarantined tenant (48h with a daily schedule: every other day); it doubles with each further failed slot, up to
	// QuarantineMaxBackoff. Defaults 48 hours and 7 days.
	QuarantineBackoff    time.Duration
	QuarantineMaxBackoff time.Duration
	// CatchUpWindow spreads the work of Start (and of Add while running):
	// each tenant's history is looked up at a stable offset within the
	// window (or at its slot, if that is earlier), and a tenant that
	// missed its last slot runs then. Default 10 minutes.
	CatchUpWindow time.Duration
	// LeaseTTL is the lifetime of the "schedule/<tenant>" lease taken while
	// a scheduled run is started; a replica that finds it taken tries
	// again after LeaseTTL/2. Default 1 minute.
	LeaseTTL time.Duration
	// Owner names this scheduler in leases. Default: the engine's InstanceID.
	Owner string
	// Logger receives the scheduler's logs. Default: the engine's logger.
	Logger *slog.Logger
	// MeterProvider receives the scheduler's metrics
	// (resync.scheduler.events, resync.scheduler.quarantined). Default:
	// the engine's.
	MeterProvider metric.MeterProvider
}

func (c SchedulerConfig) withDefaults(e *Engine) (SchedulerConfig, error) {
	var errs []error
	if c.Schedule == nil {
		c.Schedule = Daily(0, 0, time.UTC, 24*time.Hour)
	}
	if v, ok := c.Schedule.(interface{ validate() error }); ok {
		if err := v.validate(); err != nil {
			errs = append(errs, fmt.Errorf("Schedule: %w", err))
		}
	}
	if c.Scope.Kind == 0 {
		c.Scope = AllScope()
	}
	if _, err := c.Scope.normalize(e.cfg.PersonnelTypes); err != nil {
		errs = append(errs, fmt.Errorf("Scope: %w", err))
	}
	if c.MaxConcurrent < 0 || c.CatchUpWindow < 0 || c.LeaseTTL < 0 || c.QuarantineBackoff < 0 || c.QuarantineMaxBackoff < 0 ||
		c.Retry.MaxAttempts < 0 || c.Retry.InitialInterval < 0 || c.Retry.MaxInterval < 0 || c.Retry.Multiplier < 0 {
		errs = append(errs, errors.New("MaxConcurrent, CatchUpWindow, LeaseTTL, QuarantineBackoff, QuarantineMaxBackoff and Retry fields must not be negative"))
	}
	if len(errs) > 0 {
		return c, invalid("scheduler config", errs...)
	}
	if c.MaxConcurrent == 0 {
		c.MaxConcurrent = max(1, e.cfg.Concurrency/2)
	}
	if c.Retry.MaxAttempts == 0 {
		c.Retry.MaxAttempts = 4
	}
	if c.Retry.InitialInterval == 0 {
		c.Retry.InitialInterval = 5 * time.Minute
	}
	if c.Retry.MaxInterval == 0 {
		c.Retry.MaxInterval = time.Hour
	}
	if c.Retry.Multiplier == 0 {
		c.Retry.Multiplier = 2
	}
	if c.Retry.RandomizationFactor == 0 {
		c.Retry.RandomizationFactor = 0.2
	}
	if c.QuarantineAfter == 0 {
		c.QuarantineAfter = 3
	}
	if c.QuarantineBackoff == 0 {
		c.QuarantineBackoff = 48 * time.Hour
	}
	if c.QuarantineMaxBackoff == 0 {
		c.QuarantineMaxBackoff = 7 * 24 * time.Hour
	}
	if c.CatchUpWindow == 0 {
		c.CatchUpWindow = 10 * time.Minute
	}
	if c.LeaseTTL == 0 {
		c.LeaseTTL = time.Minute
	}
	if c.Owner == "" {
		c.Owner = e.cfg.InstanceID
	}
	if c.Logger == nil {
		c.Logger = e.log
	}
	if c.MeterProvider == nil {
		c.MeterProvider = e.cfg.MeterProvider
	}
	return c, nil
}

// TenantOption sets a per-tenant override for Scheduler.Add and Update.
type TenantOption func(*tenantOptions)

type tenantOptions struct {
	sched    Schedule
	schedSet bool
	scope    Scope
	scopeSet bool
}

// WithSchedule gives the tenant s instead of SchedulerConfig.Schedule.For(tenant).
// A DailySchedule's per-tenant schedule is Daily(...).For(tenant). Nil
// restores the default.
func WithSchedule(s Schedule) TenantOption {
	return func(o *tenantOptions) { o.sched, o.schedSet = s, true }
}

// WithScope makes the tenant's scheduled runs cover scope instead of
// SchedulerConfig.Scope. A zero Scope restores the default.
func WithScope(scope Scope) TenantOption {
	return func(o *tenantOptions) { o.scope, o.scopeSet = scope, true }
}

// ScheduledResult is the outcome of a tenant's last scheduled attempt.
type ScheduledResult struct {
	// RunID and Status describe the run; both are empty when no run was
	// started (see Err) or when another instance ran the slot (Elsewhere).
	RunID  string
	Status RunStatus
	// At is when the attempt began; FinishedAt when its run ended.
	At         time.Time
	FinishedAt time.Time
	// Attempt is the attempt number within the slot, from 1.
	Attempt int
	// Elsewhere: another scheduler instance had already started a
	// scheduled run of the tenant for this slot, so this one did nothing.
	Elsewhere bool
	// Err is why the attempt failed: the run's Err, or the error that kept
	// it from starting (ErrNoConnections, ErrUnknownTenant, a store error).
	Err error
}

// TenantStatus is what an operator needs to know about a scheduled tenant.
type TenantStatus struct {
	Tenant string
	// Next is when the tenant is next due (a slot, a retry or the catch-up
	// check). Zero while a run is in progress, if its schedule ends, or
	// once the engine was found closed.
	Next time.Time
	// Running is true while an attempt is in progress.
	Running bool
	// Retry is true when Next is a retry of a failed slot.
	Retry bool
	// Scope is what the tenant's scheduled runs cover.
	Scope Scope
	// Last is the outcome of the last attempt (zero before the first).
	Last ScheduledResult
	// LastSuccess is when the tenant's last successful scheduled run was
	// created (from the Store at first, then from this scheduler's runs).
	LastSuccess time.Time
	// ConsecutiveFailures counts failed attempts since the last success;
	// FailedSlots the slots in a row whose attempts all failed.
	ConsecutiveFailures int
	FailedSlots         int
	// Quarantined: the tenant failed QuarantineAfter slots in a row; it is
	// not retried and runs at most once per quarantine backoff until a run
	// succeeds (or Update resets it).
	Quarantined bool
}

// Scheduler starts each tenant's scheduled runs on the Engine, at the
// times of the tenant's Schedule: as SystemPrincipal, with
// TriggerScheduled, through Engine.Start like any ad-hoc run (so dedup,
// the delete guard, apply and telemetry are the same).
//
// One goroutine and one timer serve all tenants: due times live in a
// min-heap, so each event costs O(log n) and nothing scans the tenants.
// Goroutines exist only for attempts in progress (at most MaxConcurrent).
//
// Several replicas may run a Scheduler over the same Store and tenants:
// before starting a tenant's run, a scheduler takes the Store lease
// "schedule/<tenant>" and skips the slot if a scheduled run of the tenant
// was created at or after the slot's due time (another replica ran it).
//
// Stop the Scheduler before closing its Engine. If the engine is closed
// first, the first attempt to find it closed (Engine.Start fails with
// ErrClosed) ends the scheduling: it is recorded in that tenant's status
// (Last.Err wraps ErrClosed), neither as a failure nor as a sync, and no
// tenant is due after it (TenantStatus.Next is zero); Stop is still needed
// to release the scheduler. Its methods are safe for concurrent use.
type Scheduler struct {
	e   *Engine
	cfg SchedulerConfig
	log *slog.Logger

	events      metric.Int64Counter
	quarantined metric.Int64UpDownCounter

	mu      sync.Mutex
	tenants map[string]*schedTenant
	ord     uint32
	h       tenantHeap
	stale   int  // heap entries of tenants since rescheduled or removed
	running int  // attempts in progress
	state   int  // schedIdle, schedRunning, schedStopped
	ended   bool // the engine was found closed: nothing is scheduled any more
	wake    chan struct{}
	stop    chan struct{}
	loopEnd chan struct{}
	cancel  context.CancelFunc // cancels attempts in progress
	wg      sync.WaitGroup     // attempts in progress
}

const (
	schedIdle = iota
	schedRunning
	schedStopped
)

// schedTenant is one tenant's scheduling state, guarded by Scheduler.mu.
type schedTenant struct {
	id    string
	opts  *tenantOptions // nil without overrides
	sched Schedule
	scope *Scope // nil: SchedulerConfig.Scope

	due    time.Time // next event, valid while queued
	queued bool      // the heap holds a live entry for the tenant
	seq    uint32    // bumped on every push: older heap entries are stale
	ord    uint32    // tie-break among tenants due at the same instant

	loaded    bool      // history read from the Store
	firstSlot time.Time // the slot due when the tenant became known, if it has no history
	slot      time.Time // the slot being served (zero until loaded)
	checkFrom time.Time // a scheduled run created at/after this serves the slot
	attempt   int       // attempts made for slot
	retry     bool

	inflight bool
	removed  bool
	gen      uint64 // bumped by Update and Remove: results of older attempts are ignored

	last        ScheduledResult
	lastSuccess time.Time
	failures    int
	failedSlots int
	storeErrs   int // store errors in a row
	quarantined bool
}

// NewScheduler returns a Scheduler for e. It does nothing until Start; add
// tenants before or after.
func NewScheduler(e *Engine, cfg SchedulerConfig) (*Scheduler, error) {
	if e == nil {
		return nil, fmt.Errorf("%w: NewScheduler needs an engine", ErrInvalidRequest)
	}
	cfg, err := cfg.withDefaults(e)
	if err != nil {
		return nil, err
	}
	s := newScheduler(cfg)
	s.e = e
	s.log = cfg.Logger.With("component", "scheduler", "owner", cfg.Owner)
	mp := cfg.MeterProvider
	if mp == nil {
		mp = metricnoop.NewMeterProvider()
	}
	m := mp.Meter(instrumentationName)
	if s.events, err = m.Int64Counter("resync.scheduler.events",
		metric.WithDescription("Scheduled attempts by outcome: not_due, succeeded, failed, permanent_failure, no_connections, skipped (run elsewhere), busy, store_error, canceled, engine_closed.")); err != nil {
		return nil, fmt.Errorf("resync: scheduler telemetry: %w", err)
	}
	if s.quarantined, err = m.Int64UpDownCounter("resync.scheduler.quarantined",
		metric.WithDescription("Tenants whose scheduled syncs keep failing and are quarantined.")); err != nil {
		return nil, fmt.Errorf("resync: scheduler telemetry: %w", err)
	}
	return s, nil
}

func newScheduler(cfg SchedulerConfig) *Scheduler {
	m := metricnoop.NewMeterProvider().Meter(instrumentationName)
	s := &Scheduler{
		cfg:     cfg,
		log:     slog.New(slog.DiscardHandler),
		tenants: map[string]*schedTenant{},
		wake:    make(chan struct{}, 1),
	}
	s.events, _ = m.Int64Counter("resync.scheduler.events")
	s.quarantined, _ = m.Int64UpDownCounter("resync.scheduler.quarantined")
	return s
}

// Add schedules a tenant, with optional overrides of its schedule and
// scope. While the scheduler runs, the tenant's history is looked up within
// CatchUpWindow, as at Start. An empty tenant, a bad scope or a tenant
// already scheduled (change it with Update) is an error wrapping
// ErrInvalidRequest.
func (s *Scheduler) Add(tenant string, opts ...TenantOption) error {
	if tenant == "" {
		return fmt.Errorf("%w: empty tenant", ErrInvalidRequest)
	}
	var o tenantOptions
	for _, f := range opts {
		f(&o)
	}
	t := &schedTenant{id: tenant}
	if err := s.configure(t, o); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state == schedStopped {
		return ErrClosed
	}
	if _, ok := s.tenants[tenant]; ok {
		return fmt.Errorf("%w: tenant %q is already scheduled; use Update", ErrInvalidRequest, tenant)
	}
	s.ord++
	t.ord = s.ord
	s.tenants[tenant] = t
	if s.state == schedRunning {
		s.initLocked(t, time.Now())
		s.signal()
	}
	return nil
}

// Update changes a scheduled tenant's overrides: options given replace the
// earlier ones, others stay. It resets the tenant's failure counts and
// quarantine, and recomputes its next slot from its history (an attempt in
// progress goes on, but its outcome no longer schedules anything).
// ErrNotFound if the tenant is not scheduled.
func (s *Scheduler) Update(tenant string, opts ...TenantOption) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tenants[tenant]
	if t == nil {
		return fmt.Errorf("%w: tenant %q is not scheduled", ErrNotFound, tenant)
	}
	var o tenantOptions
	if t.opts != nil {
		o = *t.opts
	}
	for _, f := range opts {
		f(&o)
	}
	if err := s.configure(t, o); err != nil {
		return err
	}
	t.gen++
	if t.quarantined {
		s.quarantined.Add(context.Background(), -1)
	}
	t.failures, t.failedSlots, t.quarantined = 0, 0, false
	t.inflight = false
	if s.state == schedRunning {
		s.removeLocked(t)
		s.initLocked(t, time.Now())
		s.signal()
	}
	return nil
}

// configure applies options to t (under s.mu or before t is shared).
func (s *Scheduler) configure(t *schedTenant, o tenantOptions) error {
	if !o.schedSet || o.sched == nil {
		o.sched, o.schedSet = nil, false
	}
	if !o.scopeSet || o.scope.Kind == 0 {
		o.scope, o.scopeSet = Scope{}, false
	}
	sched := o.sched
	if v, ok := sched.(interface{ validate() error }); ok {
		if err := v.validate(); err != nil {
			return invalid(fmt.Sprintf("tenant %q schedule", t.id), err)
		}
	}
	if sched == nil {
		sched = s.cfg.Schedule.For(t.id)
	}
	var scope *Scope
	if o.scopeSet {
		scope = &o.scope
		var personnel []ConnectionType
		if s.e != nil {
			personnel = s.e.cfg.PersonnelTypes
		}
		if _, err := scope.normalize(personnel); err != nil {
			return invalid(fmt.Sprintf("tenant %q scope", t.id), err)
		}
	}
	t.opts, t.sched, t.scope = nil, sched, scope
	if o.schedSet || o.scopeSet {
		t.opts = &o
	}
	return nil
}

// Remove unschedules a tenant. An attempt in progress goes on, but
// nothing follows it. ErrNotFound if the tenant is not scheduled.
func (s *Scheduler) Remove(tenant string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tenants[tenant]
	if t == nil {
		return fmt.Errorf("%w: tenant %q is not scheduled", ErrNotFound, tenant)
	}
	s.removeLocked(t)
	t.removed = true
	t.gen++
	if t.quarantined {
		s.quarantined.Add(context.Background(), -1)
	}
	delete(s.tenants, tenant)
	s.signal()
	return nil
}

// Status returns a tenant's scheduling state; ErrNotFound if it is not scheduled.
func (s *Scheduler) Status(tenant string) (TenantStatus, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tenants[tenant]
	if t == nil {
		return TenantStatus{}, fmt.Errorf("%w: tenant %q is not scheduled", ErrNotFound, tenant)
	}
	return s.statusLocked(t), nil
}

// Statuses returns every scheduled tenant's state, sorted by tenant.
func (s *Scheduler) Statuses() []TenantStatus {
	s.mu.Lock()
	out := make([]TenantStatus, 0, len(s.tenants))
	for _, t := range s.tenants {
		out = append(out, s.statusLocked(t))
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b TenantStatus) int { return strings.Compare(a.Tenant, b.Tenant) })
	return out
}

func (s *Scheduler) scopeOf(t *schedTenant) Scope {
	if t.scope != nil {
		return *t.scope
	}
	return s.cfg.Scope
}

func (s *Scheduler) statusLocked(t *schedTenant) TenantStatus {
	st := TenantStatus{
		Tenant: t.id, Running: t.inflight, Retry: t.retry && !t.inflight, Scope: s.scopeOf(t),
		Last: t.last, LastSuccess: t.lastSuccess,
		ConsecutiveFailures: t.failures, FailedSlots: t.failedSlots, Quarantined: t.quarantined,
	}
	if t.queued {
		st.Next = t.due
	}
	return st
}

// Start starts scheduling in the background and returns. Each tenant's
// history is read from the Store within CatchUpWindow: a tenant whose
// last successful scheduled run is older than its last slot runs then
// (catch-up); one synced since waits for its next slot; one with no
// scheduled run in the Store yet waits for its first slot. ErrClosed after
// Stop; calling Start twice is an error wrapping ErrInvalidRequest. ctx
// only bounds Start itself: Stop ends the scheduler.
func (s *Scheduler) Start(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch s.state {
	case schedStopped:
		return ErrClosed
	case schedRunning:
		return fmt.Errorf("%w: scheduler already started", ErrInvalidRequest)
	}
	s.state = schedRunning
	now := time.Now()
	for _, t := range s.tenants {
		s.initLocked(t, now)
	}
	var actx context.Context
	actx, s.cancel = context.WithCancel(context.Background())
	s.stop = make(chan struct{})
	s.loopEnd = make(chan struct{})
	go s.loop(actx)
	s.log.Info("scheduler started", "tenants", len(s.tenants), "max_concurrent", s.cfg.MaxConcurrent)
	return nil
}

// Stop stops starting runs and waits for the scheduled runs in progress to
// end. If ctx ends first, it cancels them (their reads stop between pages
// and apply nothing), waits for them to wind down and returns ctx's error.
// No goroutine of the scheduler outlives Stop. A stopped scheduler cannot
// be started again; Stop is idempotent.
func (s *Scheduler) Stop(ctx context.Context) error {
	s.mu.Lock()
	prev := s.state
	s.state = schedStopped
	s.mu.Unlock()
	if prev != schedRunning {
		return nil
	}
	close(s.stop)
	<-s.loopEnd
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("resync: scheduler stop: canceled scheduled runs in progress: %w", ctx.Err())
		s.cancel()
		<-done
	}
	s.cancel()
	s.log.Info("scheduler stopped")
	return err
}

func (s *Scheduler) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// initLocked puts a tenant in the heap for its first event: the catch-up
// check at its offset within CatchUpWindow, or its first slot if earlier.
func (s *Scheduler) initLocked(t *schedTenant, now time.Time) {
	t.loaded, t.attempt, t.retry = false, 0, false
	t.slot, t.checkFrom = time.Time{}, time.Time{}
	t.firstSlot = t.sched.Next(now)
	due := now.Add(TenantOffset(t.id, s.cfg.CatchUpWindow))
	if !t.firstSlot.IsZero() && t.firstSlot.Before(due) {
		due = t.firstSlot
	}
	s.pushLocked(t, due)
}

// pushLocked (re)schedules t at due: O(log n). An earlier entry of t in
// the heap becomes stale; it is dropped when it comes to the top.
func (s *Scheduler) pushLocked(t *schedTenant, due time.Time) {
	s.removeLocked(t)
	if s.ended {
		return
	}
	t.seq++
	t.due, t.queued = due, true
	s.h = append(s.h, heapEntry{due: due.UnixNano(), ord: t.ord, seq: t.seq, t: t})
	heap.Fix(&s.h, len(s.h)-1)
}

// removeLocked takes t out of the schedule. Its heap entry goes stale;
// when stale entries outnumber live ones the heap is rebuilt, so
// Update and Remove cost O(log n) amortized.
func (s *Scheduler) removeLocked(t *schedTenant) {
	if !t.queued {
		return
	}
	t.queued = false
	s.stale++
	if s.stale > 64 && s.stale > len(s.h)/2 {
		live := s.h[:0]
		for _, e := range s.h {
			if e.live() {
				live = append(live, e)
			}
		}
		clear(s.h[len(live):])
		s.h = live
		s.stale = 0
		heap.Init(&s.h)
	}
}

// popDueLocked removes and returns the earliest tenant if it is due at
// now, else nil. Stale entries on the way are dropped.
func (s *Scheduler) popDueLocked(now time.Time) *schedTenant {
	limit := now.UnixNano()
	for len(s.h) > 0 && s.h[0].due <= limit {
		e := s.h[0]
		n := len(s.h) - 1
		s.h[0] = s.h[n]
		s.h[n] = heapEntry{}
		s.h = s.h[:n]
		if n > 0 {
			heap.Fix(&s.h, 0)
		}
		if !e.live() {
			s.stale--
			continue
		}
		e.t.queued = false
		return e.t
	}
	return nil
}

// nextDueLocked returns the earliest due time in the heap, or false.
// It may be a stale entry's: the loop then wakes up early and drops it.
func (s *Scheduler) nextDueLocked() (time.Time, bool) {
	if len(s.h) == 0 {
		return time.Time{}, false
	}
	return time.Unix(0, s.h[0].due), true
}

// loop is the scheduler's one goroutine: it starts due attempts while
// fewer than MaxConcurrent are in progress, then sleeps on one timer until
// the earliest due time, a wake-up (Add, Update, an attempt's end) or Stop.
func (s *Scheduler) loop(ctx context.Context) {
	defer close(s.loopEnd)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		s.mu.Lock()
		now := time.Now()
		for !s.ended && s.running < s.cfg.MaxConcurrent {
			t := s.popDueLocked(now)
			if t == nil {
				break
			}
			j := s.jobLocked(t, now)
			s.running++
			s.wg.Add(1)
			go s.attempt(ctx, t, j)
		}
		wait := time.Duration(-1)
		if due, ok := s.nextDueLocked(); ok && !s.ended && s.running < s.cfg.MaxConcurrent {
			wait = max(due.Sub(now), 0)
		}
		s.mu.Unlock()
		if wait >= 0 {
			timer.Reset(wait)
		} else {
			timer.Stop()
		}
		select {
		case <-s.stop:
			return
		case <-s.wake:
		case <-timer.C:
		}
	}
}

// job is what an attempt needs, copied from the tenant under s.mu.
type job struct {
	gen       uint64
	due       time.Time
	sched     Schedule
	scope     Scope
	loaded    bool
	firstSlot time.Time
	slot      time.Time
	checkFrom time.Time
	attempt   int
}

func (s *Scheduler) jobLocked(t *schedTenant, now time.Time) job {
	t.inflight = true
	return job{gen: t.gen, due: t.due, sched: t.sched, scope: s.scopeOf(t), loaded: t.loaded, firstSlot: t.firstSlot,
		slot: t.slot, checkFrom: t.checkFrom, attempt: t.attempt + 1}
}

// outcome is how an attempt ended.
type outcome int

const (
	outNotDue        outcome = iota // history read: the next slot is in the future
	outSucceeded                    // the run succeeded
	outFailed                       // the run failed, or it could not start: may retry
	outPermanent                    // failed with permanent errors only: no retry this slot
	outNoConnections                // nothing to sync: wait for the next slot
	outElsewhere                    // another instance ran the slot
	outBusy                         // another instance holds the lease: look again soon
	outStoreError                   // reading history failed: look again soon
	outCanceled                     // the run was canceled (Stop, or an admin)
	outClosed                       // the engine is closed: the end of scheduling
)

var outcomeNames = [...]string{"not_due", "succeeded", "failed", "permanent_failure", "no_connections", "skipped", "busy", "store_error", "canceled", "engine_closed"}

// outcomeAttrs holds the metric options of each outcome, built once so
// that counting an event allocates nothing.
var outcomeAttrs = func() (out [len(outcomeNames)][]metric.AddOption) {
	for i, n := range outcomeNames {
		out[i] = []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(attribute.String("outcome", n)))}
	}
	return out
}()

type attemptResult struct {
	out         outcome
	result      ScheduledResult
	lastSuccess time.Time // from the Store, when it was read
	slot        time.Time // the slot served (set once loaded)
	checkFrom   time.Time
}

// attempt serves one due event of a tenant in its own goroutine and
// reports back under s.mu.
func (s *Scheduler) attempt(ctx context.Context, t *schedTenant, j job) {
	defer s.wg.Done()
	res := s.serve(ctx, t.id, j)
	s.mu.Lock()
	s.running--
	if t.gen == j.gen && !t.removed {
		t.inflight = false
		s.completeLocked(t, j, res, time.Now())
	}
	s.mu.Unlock()
	s.signal()
}

// serve carries out one due event: read the history if not yet known,
// take the lease, skip the slot if another instance ran it, start the run
// and wait for it.
func (s *Scheduler) serve(ctx context.Context, tenant string, j job) attemptResult {
	now := time.Now()
	ar := attemptResult{slot: j.slot, checkFrom: j.checkFrom, result: ScheduledResult{At: now, Attempt: j.attempt}}
	store := s.e.cfg.Store
	if !j.loaded {
		runs, err := store.ListRuns(ctx, RunQuery{Tenant: tenant, Trigger: TriggerScheduled, Status: RunSucceeded, Limit: 1})
		if err != nil {
			ar.out, ar.result.Err = outStoreError, fmt.Errorf("resync: reading scheduled runs of tenant %q: %w", tenant, err)
			return ar
		}
		slot := j.firstSlot
		if len(runs) > 0 {
			ar.lastSuccess = runs[0].CreatedAt
			slot = j.sched.Next(ar.lastSuccess)
		}
		ar.slot, ar.checkFrom = slot, slot
		if slot.IsZero() || slot.After(now) {
			ar.out = outNotDue
			return ar
		}
	}
	lease := "schedule/" + tenant
	ok, err := store.AcquireLease(ctx, lease, s.cfg.Owner, s.cfg.LeaseTTL)
	if err != nil {
		// Durable stores name the lease, and so the tenant, in their errors.
		if !strings.Contains(err.Error(), lease) {
			err = fmt.Errorf("lease %q: %w", lease, err)
		}
		ar.out, ar.result.Err = outStoreError, fmt.Errorf("resync: taking the schedule lease: %w", err)
		return ar
	}
	if !ok {
		ar.out = outBusy
		return ar
	}
	run := s.startLeased(ctx, tenant, j, &ar)
	if rerr := store.ReleaseLease(context.WithoutCancel(ctx), lease, s.cfg.Owner); rerr != nil {
		s.log.Warn("releasing schedule lease", "tenant", tenant, "err", rerr)
	}
	if run == nil {
		return ar
	}
	ar.result.RunID = run.ID()
	info, werr := run.Wait(ctx)
	if werr != nil { // Stop gave up waiting
		run.Cancel()
		<-run.Done()
		info = run.Info()
	}
	ar.result.Status, ar.result.FinishedAt = info.Status, info.FinishedAt
	ar.result.Err = run.Err()
	switch {
	case info.Status == RunSucceeded:
		ar.out = outSucceeded
	case info.Status == RunCanceled:
		ar.out = outCanceled
	case allPermanent(ar.result.Err):
		ar.out = outPermanent
	default:
		ar.out = outFailed
	}
	return ar
}

// startLeased checks for a run of the slot by another instance and starts
// the run, holding the lease. It returns nil and sets ar when no run was
// started.
func (s *Scheduler) startLeased(ctx context.Context, tenant string, j job, ar *attemptResult) *Run {
	runs, err := s.e.cfg.Store.ListRuns(ctx, RunQuery{Tenant: tenant, Trigger: TriggerScheduled, Limit: 1})
	if err != nil {
		ar.out, ar.result.Err = outStoreError, fmt.Errorf("resync: reading scheduled runs of tenant %q: %w", tenant, err)
		return nil
	}
	if len(runs) > 0 && !runs[0].CreatedAt.Before(ar.checkFrom) {
		ar.out, ar.result.Elsewhere, ar.result.RunID, ar.result.Status = outElsewhere, true, runs[0].ID, runs[0].Status
		if runs[0].Status == RunSucceeded {
			ar.lastSuccess = runs[0].CreatedAt
		}
		return nil
	}
	run, err := s.e.Start(ctx, Request{Tenant: tenant, Initiator: SystemPrincipal, Scope: j.scope, Trigger: TriggerScheduled})
	if err != nil {
		ar.result.Err = err
		switch {
		case errors.Is(err, ErrClosed):
			ar.out = outClosed
		case errors.Is(err, ErrNoConnections):
			ar.out = outNoConnections
		case errors.Is(err, ErrUnknownTenant), errors.Is(err, ErrInvalidRequest), errors.Is(err, ErrForbidden),
			errors.Is(err, ErrUnknownProvider), errors.Is(err, ErrUnknownConnection), errors.Is(err, ErrAccountsTypeNotAllowed):
			ar.out = outPermanent
		default:
			ar.out = outFailed
		}
		return nil
	}
	return run
}

// allPermanent reports whether err is non-nil and every failure joined in
// it is permanent (marked with Permanent) or a held change set, so that a
// retry cannot help.
func allPermanent(err error) bool {
	if err == nil {
		return false
	}
	if _, ok := err.(*permanentError); ok || err == ErrHeld {
		return true
	}
	switch x := err.(type) {
	case interface{ Unwrap() []error }:
		errs := x.Unwrap()
		for _, e := range errs {
			if !allPermanent(e) {
				return false
			}
		}
		return len(errs) > 0
	case interface{ Unwrap() error }:
		return allPermanent(x.Unwrap())
	}
	return false
}

// completeLocked records an attempt's outcome and schedules the tenant's
// next event.
func (s *Scheduler) completeLocked(t *schedTenant, j job, ar attemptResult, now time.Time) {
	ctx := context.Background()
	s.events.Add(ctx, 1, outcomeAttrs[ar.out]...)
	if !ar.lastSuccess.IsZero() && ar.lastSuccess.After(t.lastSuccess) {
		t.lastSuccess = ar.lastSuccess
	}
	if !j.loaded && ar.out != outStoreError {
		t.loaded, t.slot, t.checkFrom = true, ar.slot, ar.checkFrom
	}
	switch ar.out {
	case outNotDue:
		t.attempt, t.retry, t.storeErrs = 0, false, 0
		if !t.slot.IsZero() {
			s.pushLocked(t, t.slot)
		}
		return
	case outBusy:
		// Another instance is starting this slot: look again soon, and
		// then (most likely) find its run.
		s.pushLocked(t, now.Add(jitter(s.cfg.LeaseTTL/2, 0.2)))
		return
	case outStoreError:
		t.last = ar.result
		t.storeErrs++
		s.log.Warn("scheduled attempt could not use the store", "tenant", t.id, "errors_in_a_row", t.storeErrs, "err", ar.result.Err)
		s.pushLocked(t, now.Add(s.backoff(min(t.storeErrs, 32))))
		return
	}
	t.storeErrs = 0
	t.last = ar.result
	t.attempt = j.attempt
	switch ar.out {
	case outSucceeded:
		run := ar.result.At
		if run.After(t.lastSuccess) {
			t.lastSuccess = run
		}
		if t.quarantined {
			s.quarantined.Add(ctx, -1)
			s.log.Info("tenant leaves quarantine", "tenant", t.id)
		}
		t.failures, t.failedSlots, t.quarantined = 0, 0, false
		s.nextSlotLocked(t, now, run)
		return
	case outElsewhere, outNoConnections, outCanceled:
		s.nextSlotLocked(t, now, time.Time{})
		return
	case outClosed:
		s.endLocked()
		return
	}
	// Failed.
	t.failures++
	next := t.sched.Next(t.slot)
	if ar.out == outFailed && !t.quarantined && j.attempt < s.cfg.Retry.MaxAttempts {
		at := now.Add(s.backoff(j.attempt))
		if next.IsZero() || at.Before(next) {
			t.retry, t.checkFrom = true, at
			s.log.Warn("scheduled run failed; retrying", "tenant", t.id, "run", ar.result.RunID, "attempt", j.attempt, "retry_at", at, "err", ar.result.Err)
			s.pushLocked(t, at)
			return
		}
	}
	t.failedSlots++
	s.log.Warn("scheduled run failed; waiting for the next slot", "tenant", t.id, "run", ar.result.RunID, "attempts", j.attempt,
		"permanent", ar.out == outPermanent, "failed_slots", t.failedSlots, "err", ar.result.Err)
	if s.cfg.QuarantineAfter > 0 && t.failedSlots >= s.cfg.QuarantineAfter {
		if !t.quarantined {
			t.quarantined = true
			s.quarantined.Add(ctx, 1)
			s.log.Error("tenant quarantined: its scheduled syncs keep failing", "tenant", t.id, "failed_slots", t.failedSlots, "err", ar.result.Err)
		}
		k := t.failedSlots - s.cfg.QuarantineAfter
		gap := s.cfg.QuarantineMaxBackoff
		if k < 30 {
			gap = min(s.cfg.QuarantineBackoff<<k, s.cfg.QuarantineMaxBackoff)
		}
		from := t.slot.Add(gap)
		if from.Before(now) {
			from = now
		}
		s.advanceLocked(t, t.sched.Next(from.Add(-time.Nanosecond)))
		return
	}
	s.nextSlotLocked(t, now, time.Time{})
}

// nextSlotLocked schedules the slot after the one served. Missed slots
// are not made up one by one: the next is the first slot after now. A run
// made late (a catch-up or a retry) that is closer to the next slot than
// half a period serves that slot too, so a tenant is not synced twice
// within a few hours.
func (s *Scheduler) nextSlotLocked(t *schedTenant, now, ranAt time.Time) {
	next := t.sched.Next(t.slot)
	if next.IsZero() {
		s.advanceLocked(t, next)
		return
	}
	period := next.Sub(t.slot)
	if !next.After(now) {
		next = t.sched.Next(now)
		if next.IsZero() {
			s.advanceLocked(t, next)
			return
		}
		period = t.sched.Next(next).Sub(next)
	}
	if !ranAt.IsZero() && next.Sub(ranAt) < period/2 {
		next = t.sched.Next(next)
	}
	s.advanceLocked(t, next)
}

// endLocked stops all scheduling for good: the engine is closed, so no
// run can start again. Every tenant leaves the heap; attempts in progress
// end as they will, and Stop is still needed.
func (s *Scheduler) endLocked() {
	if s.ended {
		return
	}
	s.ended = true
	for _, e := range s.h {
		e.t.queued = false
	}
	clear(s.h)
	s.h, s.stale = s.h[:0], 0
	s.log.Warn("the engine is closed: the scheduler starts no more runs")
}

func (s *Scheduler) advanceLocked(t *schedTenant, slot time.Time) {
	t.slot, t.checkFrom, t.attempt, t.retry = slot, slot, 0, false
	if slot.IsZero() {
		return // the schedule has ended
	}
	s.pushLocked(t, slot)
}

// backoff returns the delay before retry number n (from 1).
func (s *Scheduler) backoff(n int) time.Duration {
	p := s.cfg.Retry
	d := float64(p.InitialInterval) * math.Pow(p.Multiplier, float64(n-1))
	d = min(d, float64(p.MaxInterval))
	return jitter(time.Duration(d), p.RandomizationFactor)
}

// jitter spreads d uniformly over d±f·d (no jitter for f <= 0).
func jitter(d time.Duration, f float64) time.Duration {
	if f <= 0 || d <= 0 {
		return d
	}
	f = min(f, 1)
	return time.Duration(float64(d) * (1 - f + 2*f*rand.Float64()))
}

// heapEntry is one scheduled event. The key is stored inline, so that
// heap operations read only the entries' contiguous array and never the
// tenants' state (which would cost a cache miss per level at 100k tenants).
type heapEntry struct {
	due int64 // UnixNano
	ord uint32
	seq uint32
	t   *schedTenant
}

// live reports whether the entry is the tenant's current one.
func (e heapEntry) live() bool { return e.t.queued && e.t.seq == e.seq }

// tenantHeap is a min-heap of events by due time, for container/heap.
// Push and Pop are there for the interface; the scheduler appends and
// removes entries itself and calls heap.Fix, which does not box them.
type tenantHeap []heapEntry

func (h tenantHeap) Len() int { return len(h) }
func (h tenantHeap) Less(i, j int) bool {
	if h[i].due != h[j].due {
		return h[i].due < h[j].due
	}
	return h[i].ord < h[j].ord
}
func (h tenantHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *tenantHeap) Push(x any)   { *h = append(*h, x.(heapEntry)) }
func (h *tenantHeap) Pop() any {
	old := *h
	n := len(old)
	e := old[n-1]
	old[n-1] = heapEntry{}
	*h = old[:n-1]
	return e
}

// invalidError is a validation error of the scheduler's configuration.
// Its message gives ErrInvalidRequest once, then the context, then the
// causes' reasons without their own "resync: invalid request: " prefix
// (a bad Scope already wraps ErrInvalidRequest); it unwraps to
// ErrInvalidRequest and to every cause.
type invalidError struct {
	msg  string
	errs []error
}

func (e *invalidError) Error() string   { return e.msg }
func (e *invalidError) Unwrap() []error { return e.errs }

func invalid(context string, causes ...error) error {
	reasons := make([]string, len(causes))
	for i, c := range causes {
		r := strings.ReplaceAll(c.Error(), ErrInvalidRequest.Error()+": ", "")
		reasons[i] = strings.ReplaceAll(r, "resync: ", "")
	}
	return &invalidError{
		msg:  ErrInvalidRequest.Error() + ": " + context + ": " + strings.Join(reasons, "; "),
		errs: append([]error{ErrInvalidRequest}, causes...),
	}
}
