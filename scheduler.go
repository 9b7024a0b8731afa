package resync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"

	"github.com/openresync/resync/internal/dueheap"
)

// SchedulerConfig configures a Scheduler. Every field is optional; the
// default is documented on it.
//
// The scheduler takes all its time (due times, its timer, retry delays,
// statuses) from its engine's Clock (Config.Clock), so schedules are
// tested in virtual time. In a testing/synctest bubble the default clock
// is virtual: create the store, the engine and the scheduler inside the
// bubble, and a time.Sleep(72 * time.Hour) there serves three days of
// slots at once, in milliseconds; stop the scheduler and close the engine
// before the bubble's function returns. A test that also waits on a real
// socket (an HTTP fixture server, PostgreSQL), which synctest cannot see,
// gives the engine a resynctest.Clock instead, and the same clock to the
// store where it takes one (memstore.Config.Clock, so that leases expire
// on it), and moves it by hand with Set or Advance.
type SchedulerConfig struct {
	// Schedule gives each tenant its schedule. Default
	// Daily(0, 0, time.UTC, 24*time.Hour): once a day, each tenant at its
	// own stable time of the UTC day. Per tenant: TenantConfig.Schedule.
	Schedule TenantSchedule
	// Scope is what a scheduled run covers. Default Scope{Kind: ScopeAll}.
	// Per tenant: TenantConfig.Scope.
	Scope Scope
	// MaxConcurrent bounds the scheduled runs in progress at once, across
	// all tenants. Tenants due while the limit is reached start in due
	// order as runs end. Default 4: half the engine's default Concurrency,
	// which leaves room for ad-hoc runs (with another Concurrency, set
	// about half of it).
	MaxConcurrent int
	// Retry is the policy for a scheduled run that failed (status failed,
	// partial or interrupted, or a start error other than those below):
	// MaxAttempts counts attempts per slot, the first included, and a
	// retry is only made if it is due before the tenant's next slot. A run
	// whose failures are all permanent (IsPermanent on Run.Err: bad
	// credentials, ...) or held change sets (ErrHeld: an admin must
	// decide) is not retried; nor is a start that failed with
	// ErrNotFound (an unknown tenant), ErrForbidden or ErrInvalidRequest (a failed slot),
	// ErrNoConnections (not a failure) or ErrClosed (the engine is closed:
	// the end of scheduling, see Scheduler). A run with a throttled
	// connection (ConnThrottled) is retried no earlier than its RetryAt,
	// when the provider said it would answer again. Defaults: 4 attempts,
	// 5 minutes doubling to at most 1 hour, 20% jitter.
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
	// Owner names this scheduler in the leases it takes; each replica's
	// must differ. Default: "scheduler-" and random hex, new at every
	// NewScheduler.
	Owner string
	// Logger receives the scheduler's logs (retries, quarantine, the end
	// of scheduling). Default: discarded; pass the engine's Config.Logger
	// to keep them.
	Logger *slog.Logger
	// MeterProvider receives the scheduler's metrics
	// (resync.scheduler.events, resync.scheduler.quarantined). Default:
	// OpenTelemetry's noop provider; pass the engine's Config.MeterProvider.
	MeterProvider metric.MeterProvider
}

func (c SchedulerConfig) withDefaults() (SchedulerConfig, error) {
	var errs []error
	if c.Schedule == nil {
		c.Schedule = Daily(0, 0, time.UTC, 24*time.Hour)
	}
	if v, ok := c.Schedule.(interface{ validate() error }); ok {
		if err := v.validate(); err != nil {
			errs = append(errs, fmt.Errorf("Schedule: %w", err))
		}
	}
	if c.Scope.Kind == "" {
		c.Scope = Scope{Kind: ScopeAll}
	}
	if _, err := c.Scope.normalize(nil); err != nil {
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
		c.MaxConcurrent = 4
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
		c.Owner = "scheduler-" + randomHex(6)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.MeterProvider == nil {
		c.MeterProvider = metricnoop.NewMeterProvider()
	}
	return c, nil
}

// TenantConfig is one tenant's scheduling, for Scheduler.Add and Update.
// The zero value takes the scheduler's defaults: Add(tenant,
// TenantConfig{}) is the common case.
type TenantConfig struct {
	// Schedule gives the tenant its schedule: Schedule.For(tenant), so
	// Daily and Every spread tenants as they do in SchedulerConfig; use
	// Spread(s, 0) for a Schedule s as it is (a cron expression). Default
	// (nil): SchedulerConfig.Schedule.
	Schedule TenantSchedule
	// Scope is what the tenant's scheduled runs cover. Default (the zero
	// Scope): SchedulerConfig.Scope.
	Scope Scope
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
	// it from starting (ErrNoConnections, ErrNotFound, ErrClosed, a
	// store error).
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

// SchedulerEngine is what a Scheduler runs on: an *Engine, or a host's
// type that embeds one and overrides Start (to trace or count scheduled
// runs, say). The scheduler starts runs through Start and takes the
// engine's Store (for each tenant's scheduled runs and its
// "schedule/<tenant>" leases) and Clock from the embedded Engine.
type SchedulerEngine interface {
	// Start starts a run, as Engine.Start does. The scheduler asks for
	// scheduled runs (SystemPrincipal, TriggerScheduled) and waits for them.
	Start(ctx context.Context, req Request) (*Run, error)

	schedulerEngine() *Engine
}

func (e *Engine) schedulerEngine() *Engine { return e }

var _ SchedulerEngine = (*Engine)(nil)

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
	eng   SchedulerEngine
	store Store
	clock Clock
	cfg   SchedulerConfig
	log   *slog.Logger

	events      metric.Int64Counter
	quarantined metric.Int64UpDownCounter

	mu      sync.Mutex
	tenants map[string]*schedTenant
	ord     uint32
	h       dueheap.Heap[*schedTenant]
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

// NewScheduler returns a Scheduler starting runs on e (an *Engine). It
// does nothing until Start; add tenants before or after.
func NewScheduler(e SchedulerEngine, cfg SchedulerConfig) (*Scheduler, error) {
	if e == nil || e.schedulerEngine() == nil {
		return nil, fmt.Errorf("%w: NewScheduler needs an engine", ErrInvalidRequest)
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	s := newScheduler(cfg)
	s.eng, s.store = e, e.schedulerEngine().cfg.Store
	if c := e.schedulerEngine().cfg.Clock; c != nil {
		s.clock = c
	}
	s.log = cfg.Logger.With("component", "scheduler", "owner", cfg.Owner)
	m := cfg.MeterProvider.Meter(instrumentationName)
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
		clock:   systemClock{},
		cfg:     cfg,
		log:     slog.New(slog.DiscardHandler),
		tenants: map[string]*schedTenant{},
		wake:    make(chan struct{}, 1),
	}
	s.events, _ = m.Int64Counter("resync.scheduler.events")
	s.quarantined, _ = m.Int64UpDownCounter("resync.scheduler.quarantined")
	return s
}

// Add schedules a tenant as tc says (TenantConfig{} for the scheduler's
// defaults). While the scheduler runs, the tenant's history is looked up
// within CatchUpWindow, as at Start. An empty tenant, a bad schedule or
// scope, or a tenant already scheduled (change it with Update) is an error
// wrapping ErrInvalidRequest; ErrClosed after Stop.
func (s *Scheduler) Add(tenant string, tc TenantConfig) error {
	if tenant == "" {
		return fmt.Errorf("%w: empty tenant", ErrInvalidRequest)
	}
	t := &schedTenant{id: tenant}
	if err := s.configure(t, tc); err != nil {
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
		s.initLocked(t, s.clock.Now())
		s.signal()
	}
	return nil
}

// Update replaces a scheduled tenant's TenantConfig with tc (zero fields
// take the scheduler's defaults, as in Add). It resets the tenant's failure
// counts and quarantine, so an operator resets a failing tenant by passing
// its config unchanged, and recomputes its next slot from its history (an
// attempt in progress goes on, but its outcome no longer schedules
// anything). ErrNotFound if the tenant is not scheduled; a bad schedule or
// scope wraps ErrInvalidRequest and changes nothing.
func (s *Scheduler) Update(tenant string, tc TenantConfig) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tenants[tenant]
	if t == nil {
		return fmt.Errorf("%w: tenant %q is not scheduled", ErrNotFound, tenant)
	}
	if err := s.configure(t, tc); err != nil {
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
		s.initLocked(t, s.clock.Now())
		s.signal()
	}
	return nil
}

// configure validates tc and applies it to t (under s.mu, or before t is
// shared); on error t is unchanged.
func (s *Scheduler) configure(t *schedTenant, tc TenantConfig) error {
	ts := tc.Schedule
	if v, ok := ts.(interface{ validate() error }); ok {
		if err := v.validate(); err != nil {
			return invalid(fmt.Sprintf("tenant %q schedule", t.id), err)
		}
	}
	if ts == nil {
		ts = s.cfg.Schedule
	}
	var scope *Scope
	if tc.Scope.Kind != "" {
		if _, err := tc.Scope.normalize(nil); err != nil {
			return invalid(fmt.Sprintf("tenant %q scope", t.id), err)
		}
		scope = &tc.Scope
	}
	t.sched, t.scope = ts.For(t.id), scope
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

// Statuses returns the scheduling state of the given tenants, or of every
// scheduled tenant when none is given, sorted by tenant. Tenants that are
// not scheduled are left out: Statuses("acme") is empty if acme is not.
func (s *Scheduler) Statuses(tenants ...string) []TenantStatus {
	s.mu.Lock()
	var out []TenantStatus
	if len(tenants) == 0 {
		out = make([]TenantStatus, 0, len(s.tenants))
		for _, t := range s.tenants {
			out = append(out, s.statusLocked(t))
		}
	} else {
		for _, id := range tenants {
			if t := s.tenants[id]; t != nil {
				out = append(out, s.statusLocked(t))
			}
		}
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
	now := s.clock.Now()
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

// loop is the scheduler's one goroutine: it starts due attempts while
// fewer than MaxConcurrent are in progress, then sleeps on one timer until
// the earliest due time, a wake-up (Add, Update, an attempt's end) or Stop.
func (s *Scheduler) loop(ctx context.Context) {
	defer close(s.loopEnd)
	for {
		s.mu.Lock()
		now := s.clock.Now()
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
		var fired <-chan time.Time // nil: nothing to wait for but a wake-up
		stopTimer := func() bool { return false }
		if wait >= 0 {
			fired, stopTimer = s.clock.NewTimer(wait)
		}
		select {
		case <-s.stop:
			stopTimer()
			return
		case <-s.wake:
			stopTimer()
		case <-fired:
		}
	}
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
