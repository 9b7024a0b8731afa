package resync

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/openresync/resync/internal/retry"
)

// Config configures an Engine. Store, Connections, Connectors and
// Authorizer are required; every other field has the default documented on it.
type Config struct {
	// Store keeps runs, snapshots, the change log, held change sets and
	// leases. Required. memstore.New() is the in-memory one.
	Store Store
	// Connections tells the engine each tenant's connections. Required.
	Connections ConnectionSource
	// Connectors maps a provider name to the factory of its connector.
	// Required, at least one. Connections of other providers are planned as
	// skipped.
	Connectors map[string]ConnectorFactory
	// Authorizer decides who may resync. Required. Scheduled runs of
	// SystemPrincipal (Request.Trigger == TriggerScheduled) do not consult it.
	Authorizer Authorizer
	// Directory lists a tenant's admins: the recipients of a personnel
	// resync's completion email and of delete-guard alerts. Required when
	// Notifier is set, so that those emails are never dropped silently; a
	// host that wants none passes a Directory that lists no one.
	Directory Directory
	// Notifier delivers notifications. Default: none (nothing is sent).
	Notifier Notifier
	// ScheduledNotify says whom scheduled runs notify. Default ScheduledNotifyNone.
	ScheduledNotify ScheduledNotify

	// PersonnelTypes is the default personnel scope. Default
	// DefaultPersonnelTypes(); AllConnectionTypes() is the classic preset.
	PersonnelTypes []ConnectionType
	// Concurrency bounds the connections read at once, across all runs of
	// the engine. Default 8.
	Concurrency int
	// ConnectionTimeout bounds one read of one connection, retries
	// included. Default 30 minutes.
	ConnectionTimeout time.Duration
	// Retry is the per-page retry policy. Defaults: 5 attempts, 1s initial
	// backoff doubling to at most 1m, 50% jitter.
	Retry RetryPolicy
	// DeleteGuard sets when change sets are held. Defaults: see DeleteGuard.
	DeleteGuard DeleteGuard
	// Limits bound record fields. Defaults: see Limits.
	Limits Limits

	// InstanceID names this engine instance (a host or pod name) in logs;
	// runs and leases use it plus a random suffix per start (Engine.Owner).
	// Default: random.
	InstanceID string
	// LeaseTTL is the lifetime of the instance and read leases; they are
	// renewed at a third of it. Default 30s.
	LeaseTTL time.Duration
	// LeasePoll is how often a read waits for another instance's read lease
	// on the same connection. Default 1s.
	LeasePoll time.Duration

	// TracerProvider and MeterProvider receive spans and metrics. Default:
	// OpenTelemetry's noop providers.
	TracerProvider trace.TracerProvider
	MeterProvider  metric.MeterProvider
	// Logger receives the engine's logs. Default: discarded.
	Logger *slog.Logger
	// Clock is the time source of the engine: timestamps, retry backoff,
	// lease renewal and polling. A Scheduler on the engine uses it too.
	// Default: the system clock.
	Clock Clock
	// NewID returns run IDs, unique across instances. Default: time-ordered
	// random hex.
	NewID func() string
}

// RetryPolicy configures page retries (and notifier retries). Zero fields
// take the defaults given on Config.Retry.
type RetryPolicy struct {
	MaxAttempts         int
	InitialInterval     time.Duration
	MaxInterval         time.Duration
	Multiplier          float64
	RandomizationFactor float64 // negative: no jitter
}

func (p RetryPolicy) internal() retry.Policy { return retry.Policy(p) }

func (c Config) withDefaults() (Config, error) {
	var errs []error
	if c.Store == nil {
		errs = append(errs, errors.New("field Store is required"))
	}
	if c.Connections == nil {
		errs = append(errs, errors.New("field Connections is required"))
	}
	if len(c.Connectors) == 0 {
		errs = append(errs, errors.New("field Connectors needs at least one provider"))
	}
	for p, f := range c.Connectors {
		if p == "" || f == nil {
			errs = append(errs, fmt.Errorf("field Connectors[%q] is empty", p))
		}
	}
	if c.Authorizer == nil {
		errs = append(errs, errors.New("field Authorizer is required (resynctest.AllowAll for tests)"))
	}
	if c.Notifier != nil && c.Directory == nil {
		errs = append(errs, errors.New("field Directory is required with a Notifier: personnel completion emails and held-change alerts go to the tenant's admins (a Directory that lists no one sends none)"))
	}
	if c.Concurrency < 0 || c.ConnectionTimeout < 0 || c.LeaseTTL < 0 || c.LeasePoll < 0 {
		errs = append(errs, errors.New("fields Concurrency, ConnectionTimeout, LeaseTTL and LeasePoll must not be negative"))
	}
	if c.DeleteGuard.MaxFraction > 1 {
		errs = append(errs, fmt.Errorf("field DeleteGuard.MaxFraction %v is above 1", c.DeleteGuard.MaxFraction))
	}
	for _, t := range c.PersonnelTypes {
		if !t.Valid() {
			errs = append(errs, fmt.Errorf("field PersonnelTypes has invalid type %d", uint8(t)))
		}
	}
	if len(errs) > 0 {
		return c, fmt.Errorf("%w: config: %w", ErrInvalidRequest, errors.Join(errs...))
	}
	if len(c.PersonnelTypes) == 0 {
		c.PersonnelTypes = DefaultPersonnelTypes()
	}
	if c.Concurrency == 0 {
		c.Concurrency = 8
	}
	if c.ConnectionTimeout == 0 {
		c.ConnectionTimeout = 30 * time.Minute
	}
	c.DeleteGuard = c.DeleteGuard.withDefaults()
	c.Limits = c.Limits.withDefaults()
	if c.LeaseTTL == 0 {
		c.LeaseTTL = 30 * time.Second
	}
	if c.LeasePoll == 0 {
		c.LeasePoll = time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Clock == nil {
		c.Clock = systemClock{}
	}
	if c.NewID == nil {
		clk := c.Clock
		c.NewID = func() string { return newID(clk.Now()) }
	}
	if c.InstanceID == "" {
		c.InstanceID = "engine-" + randomHex(6)
	}
	return c, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func newID(now time.Time) string {
	return fmt.Sprintf("%016x%s", now.UnixNano(), randomHex(4))
}

// Request asks for a run. ResyncPersonnel and ResyncAccounts build one;
// Start takes one directly (the scheduler uses Start).
type Request struct {
	Tenant    string
	Initiator Principal
	Scope     Scope
	// Trigger defaults to TriggerAdhoc.
	Trigger Trigger
}

// Engine carries out resync runs for the host. It is safe for concurrent
// use; create one per process with New and Close it on shutdown.
type Engine struct {
	cfg    Config
	owner  string // InstanceID plus a nonce: this start of the engine
	tel    *telemetry
	log    *slog.Logger
	base   context.Context
	cancel context.CancelFunc
	sem    *prioSem

	mu     sync.Mutex
	closed bool
	runs   map[string]*Run        // live runs by ID
	byKey  map[string]*Run        // live, joinable runs by request key
	queues map[connKey]*connQueue // per connection work queue
	// sizeHints remembers each connection's snapshot size after its last
	// read, so the next diff builds its index without growing it.
	sizeHints map[connKey]int

	runWG   sync.WaitGroup // run goroutines
	readWG  sync.WaitGroup // read goroutines and other helpers
	hbStop  chan struct{}
	hbDone  chan struct{}
	closeMu sync.Mutex
}

// New validates cfg, fills its defaults, takes the instance lease and marks
// runs left running by dead instances as interrupted (see Guarantees: crash safety, in the package doc).
func New(ctx context.Context, cfg Config) (*Engine, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	// Every call of the engine (and of its Scheduler) goes through the gate.
	cfg.Store = storeGate{cfg.Store}
	tel, err := newTelemetry(cfg.TracerProvider, cfg.MeterProvider)
	if err != nil {
		return nil, fmt.Errorf("resync: telemetry: %w", err)
	}
	// Each start of an engine is its own owner, so that a restarted
	// instance with the same InstanceID never mistakes the runs of its
	// crashed predecessor for its own live ones.
	owner := cfg.InstanceID + "#" + randomHex(4)
	ok, err := cfg.Store.AcquireLease(ctx, instanceLease(owner), owner, cfg.LeaseTTL)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("resync: instance lease %s is held by another owner", instanceLease(owner))
	}
	base, cancel := context.WithCancel(context.Background())
	e := &Engine{
		cfg: cfg, tel: tel, log: cfg.Logger.With("instance", owner), owner: owner,
		base: base, cancel: cancel,
		sem:       newPrioSem(cfg.Concurrency),
		runs:      map[string]*Run{},
		byKey:     map[string]*Run{},
		queues:    map[connKey]*connQueue{},
		sizeHints: map[connKey]int{},
		hbStop:    make(chan struct{}), hbDone: make(chan struct{}),
	}
	if err := e.recover(ctx); err != nil {
		cancel()
		return nil, err
	}
	go e.heartbeat()
	return e, nil
}

// recover marks the runs of dead instances interrupted (see Guarantees:
// crash safety, in the package doc) and logs them.
func (e *Engine) recover(ctx context.Context) error {
	recovered, err := e.recoverRuns(ctx)
	for _, r := range recovered {
		e.log.Warn("run interrupted by the end of its engine instance", "tenant", r.Tenant, "run", r.ID, "owner", r.Owner)
	}
	if err != nil {
		return fmt.Errorf("resync: recovering interrupted runs: %w", err)
	}
	return nil
}

// InstanceID returns the engine's instance ID.
func (e *Engine) InstanceID() string { return e.cfg.InstanceID }

// Owner returns the owner name of this start of the engine: the InstanceID
// plus a random suffix. Runs record it, and leases are taken in its name.
func (e *Engine) Owner() string { return e.owner }

// Store returns the engine's Store (Config.Store).
func (e *Engine) Store() Store { return e.cfg.Store }

// Clock returns the engine's time source: Config.Clock, or the system
// clock.
func (e *Engine) Clock() Clock { return e.cfg.Clock }

func (e *Engine) heartbeat() {
	defer close(e.hbDone)
	beats := 0
	for {
		if !sleep(e.cfg.Clock, e.cfg.LeaseTTL/3, e.hbStop) {
			return
		}
		ctx, cancel := context.WithTimeout(e.base, e.cfg.LeaseTTL/3)
		ok, err := e.cfg.Store.AcquireLease(ctx, instanceLease(e.owner), e.owner, e.cfg.LeaseTTL)
		if err != nil || !ok {
			e.log.Error("renewing instance lease failed", "err", err, "held", ok)
		}
		// Runs of instances that died since are interrupted once their
		// lease has expired: another replica's crash is noticed here
		// without a restart.
		if beats++; beats%3 == 0 {
			if err := e.recover(ctx); err != nil {
				e.log.Error("recovering runs", "err", err)
			}
		}
		cancel()
	}
}

// ResyncPersonnel starts a personnel resync of the tenant: every connection
// whose type is in Config.PersonnelTypes. It returns at once with the run
// handle; see Start for the errors.
func (e *Engine) ResyncPersonnel(ctx context.Context, tenant string, by Principal) (*Run, error) {
	return e.Start(ctx, Request{Tenant: tenant, Initiator: by, Scope: PersonnelScope()})
}

// ResyncAccounts starts an accounts resync of one connection type
// (AccessReview, Infrastructure or Observability; others fail with
// ErrAccountsTypeNotAllowed): all its providers, or only those named. Use
// Start with an AccountsScope to select connection IDs.
func (e *Engine) ResyncAccounts(ctx context.Context, tenant string, by Principal, t ConnectionType, providers ...string) (*Run, error) {
	return e.Start(ctx, Request{Tenant: tenant, Initiator: by, Scope: AccountsScope(t, providers...)})
}

// Plan returns what req would sync and skip, without starting anything. It
// fails as Start would (ErrForbidden, ErrUnknownProvider, ...), except that
// an empty plan is not an error.
func (e *Engine) Plan(ctx context.Context, req Request) (*Plan, error) {
	_, p, err := e.prepare(ctx, &req)
	return p, err
}

// Start validates and authorizes req, plans it and starts the run,
// returning its handle at once. If an identical request (same tenant, scope
// and trigger) is in progress, the caller joins it and gets that run back;
// connections it had already begun reading are read once more (see Guarantees: dedup, in the package doc).
//
// Errors, all before anything is started or recorded: ErrInvalidRequest,
// ErrForbidden, ErrUnknownTenant, ErrUnknownProvider, ErrUnknownConnection,
// ErrAccountsTypeNotAllowed, ErrNoConnections, ErrClosed.
func (e *Engine) Start(ctx context.Context, req Request) (*Run, error) {
	key, plan, err := e.prepare(ctx, &req)
	if err != nil {
		return nil, err
	}
	if len(plan.Sync) == 0 {
		return nil, fmt.Errorf("%w: tenant %q, scope %s (%d connections skipped)", ErrNoConnections, req.Tenant, req.Scope, len(plan.Skip))
	}
	return e.startOrJoin(ctx, key, req, plan)
}

// prepare validates, authorizes and plans a request, normalizing it in place.
func (e *Engine) prepare(ctx context.Context, req *Request) (string, *Plan, error) {
	if e.isClosed() {
		return "", nil, ErrClosed
	}
	if req.Tenant == "" {
		return "", nil, fmt.Errorf("%w: empty tenant", ErrInvalidRequest)
	}
	if req.Trigger == "" {
		req.Trigger = TriggerAdhoc
	}
	if req.Trigger != TriggerAdhoc && req.Trigger != TriggerScheduled {
		return "", nil, fmt.Errorf("%w: unknown trigger %q", ErrInvalidRequest, req.Trigger)
	}
	if req.Initiator.ID == "" && req.Initiator.Email == "" {
		return "", nil, fmt.Errorf("%w: the initiator needs an ID or an email", ErrInvalidRequest)
	}
	scope, err := req.Scope.normalize(e.cfg.PersonnelTypes)
	if err != nil {
		return "", nil, err
	}
	req.Scope = scope
	action := scopeAction(scope.Kind)
	trustedSystem := req.Initiator.System && req.Trigger == TriggerScheduled
	if !trustedSystem {
		if req.Initiator.System {
			return "", nil, fmt.Errorf("%w: the system principal starts scheduled runs only", ErrForbidden)
		}
		if err := e.authorize(ctx, req.Tenant, req.Initiator, action); err != nil {
			return "", nil, err
		}
	}
	conns, err := e.cfg.Connections.Connections(ctx, req.Tenant)
	if err != nil {
		return "", nil, fmt.Errorf("resync: listing connections of tenant %q: %w", req.Tenant, err)
	}
	plan, err := planScope(req.Tenant, scope, conns, func(p string) bool { return e.cfg.Connectors[p] != nil })
	if err != nil {
		return "", nil, err
	}
	key := joinKey("request", req.Tenant, string(req.Trigger), scope.key())
	return key, plan, nil
}

func (e *Engine) authorize(ctx context.Context, tenant string, p Principal, a Action) error {
	ok, err := e.cfg.Authorizer.Authorize(ctx, tenant, p, a)
	if err != nil {
		return fmt.Errorf("resync: authorizing %s for %s on tenant %q: %w", a, p, tenant, err)
	}
	if !ok {
		return fmt.Errorf("%w: %s may not %s on tenant %q", ErrForbidden, p, a, tenant)
	}
	return nil
}

func (e *Engine) isClosed() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.closed
}

// GetRun returns a run of the tenant: live state if this engine is carrying
// it out, else the stored one. ErrNotFound if there is none.
func (e *Engine) GetRun(ctx context.Context, tenant, id string, by Principal) (RunInfo, error) {
	if err := e.authorize(ctx, tenant, by, ActionViewRuns); err != nil {
		return RunInfo{}, err
	}
	e.mu.Lock()
	r := e.runs[id]
	e.mu.Unlock()
	if r != nil && r.tenant == tenant {
		return r.Info(), nil
	}
	return e.cfg.Store.GetRun(ctx, tenant, id)
}

// Runs lists the tenant's runs matching q (q.Tenant is set from tenant),
// newest first, with live state for runs in progress here.
func (e *Engine) Runs(ctx context.Context, tenant string, by Principal, q RunQuery) ([]RunInfo, error) {
	if err := e.authorize(ctx, tenant, by, ActionViewRuns); err != nil {
		return nil, err
	}
	q.Tenant = tenant
	list, err := e.cfg.Store.ListRuns(ctx, q)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	live := make(map[string]*Run)
	for _, ri := range list {
		if r := e.runs[ri.ID]; r != nil && r.tenant == tenant {
			live[ri.ID] = r
		}
	}
	e.mu.Unlock()
	for i, ri := range list {
		if r := live[ri.ID]; r != nil {
			list[i] = r.Info()
		}
	}
	return list, nil
}

// Cancel cancels a run this engine is carrying out; the principal needs
// the right to start a run of the same scope. ErrNotFound if the run is
// not live here.
func (e *Engine) Cancel(ctx context.Context, tenant, id string, by Principal) error {
	e.mu.Lock()
	r := e.runs[id]
	e.mu.Unlock()
	if r == nil || r.tenant != tenant {
		if err := e.authorize(ctx, tenant, by, ActionViewRuns); err != nil {
			return err
		}
		return fmt.Errorf("%w: no run %q in progress for tenant %q", ErrNotFound, id, tenant)
	}
	if err := e.authorize(ctx, tenant, by, scopeAction(r.info.Scope.Kind)); err != nil {
		return err
	}
	r.Cancel()
	return nil
}

func scopeAction(k ScopeKind) Action {
	switch k {
	case ScopePersonnel:
		return ActionResyncPersonnel
	case ScopeAccounts:
		return ActionResyncAccounts
	}
	return ActionResyncAll
}

// HeldChangeSets lists the tenant's change sets held by the delete guard.
func (e *Engine) HeldChangeSets(ctx context.Context, tenant string, by Principal) ([]HeldSummary, error) {
	if err := e.authorize(ctx, tenant, by, ActionViewRuns); err != nil {
		return nil, err
	}
	return e.cfg.Store.HeldChangeSets(ctx, tenant)
}

// Approve applies a held change set. If the connection's snapshot changed
// since it was held, the set is discarded and ErrStaleHold returned: resync
// again. ErrNotFound if there is no such held set.
func (e *Engine) Approve(ctx context.Context, tenant, heldID string, by Principal) (HeldSummary, error) {
	if err := e.authorize(ctx, tenant, by, ActionReviewHeld); err != nil {
		return HeldSummary{}, err
	}
	cs, err := e.cfg.Store.GetHeld(ctx, tenant, heldID)
	if err != nil {
		return HeldSummary{}, err
	}
	sum := summarize(cs)
	if err := e.cfg.Store.Apply(ctx, cs); err != nil {
		if errors.Is(err, ErrConflict) {
			if derr := e.cfg.Store.DiscardHeld(ctx, tenant, heldID); derr != nil && !errors.Is(derr, ErrNotFound) {
				return sum, derr
			}
			return sum, fmt.Errorf("%w: connection %q changed after change set %q was held; it was discarded, resync again", ErrStaleHold, cs.ConnectionID, heldID)
		}
		return sum, err
	}
	e.log.Info("held change set approved", "tenant", tenant, "held", heldID, "connection", cs.ConnectionID, "by", by.String(),
		"added", sum.Added, "updated", sum.Updated, "removed", sum.Removed)
	return sum, nil
}

// Reject discards a held change set; the snapshot stays as it was.
func (e *Engine) Reject(ctx context.Context, tenant, heldID string, by Principal) error {
	if err := e.authorize(ctx, tenant, by, ActionReviewHeld); err != nil {
		return err
	}
	if err := e.cfg.Store.DiscardHeld(ctx, tenant, heldID); err != nil {
		return err
	}
	e.log.Info("held change set rejected", "tenant", tenant, "held", heldID, "by", by.String())
	return nil
}

// CheckConnection tests one connection: its connector's CheckHealth if it
// has the HealthChecker capability, else a read of the first page. It
// reaches the provider, so it needs ActionCheckConnection.
func (e *Engine) CheckConnection(ctx context.Context, tenant, connectionID string, by Principal) error {
	if err := e.authorize(ctx, tenant, by, ActionCheckConnection); err != nil {
		return err
	}
	conns, err := e.cfg.Connections.Connections(ctx, tenant)
	if err != nil {
		return fmt.Errorf("resync: listing connections of tenant %q: %w", tenant, err)
	}
	i := slices.IndexFunc(conns, func(c Connection) bool { return c.ID == connectionID && c.Tenant == tenant })
	if i < 0 {
		return fmt.Errorf("%w: tenant %q has no connection %q", ErrUnknownConnection, tenant, connectionID)
	}
	conn := conns[i]
	f := e.cfg.Connectors[conn.Provider]
	if f == nil {
		return fmt.Errorf("%w: no connector registered for provider %q", ErrUnknownProvider, conn.Provider)
	}
	c, err := callFactory(ctx, f, conn)
	if err != nil {
		return &ConnectionError{Tenant: tenant, ConnectionID: conn.ID, Provider: conn.Provider, Err: err}
	}
	defer closeConnector(c)
	if hc, ok := c.(HealthChecker); ok {
		err = hc.CheckHealth(ctx)
	} else {
		_, err = safeReadPage(ctx, c, "")
	}
	if err != nil {
		return &ConnectionError{Tenant: tenant, ConnectionID: conn.ID, Provider: conn.Provider, Err: err}
	}
	return nil
}

// Close stops accepting requests and waits for runs in progress to finish.
// If ctx ends first, it cancels them (reads stop between pages and apply
// nothing) and waits for them to wind down, then returns ctx's error. No
// goroutine of the engine outlives Close. Close is idempotent.
func (e *Engine) Close(ctx context.Context) error {
	e.closeMu.Lock()
	defer e.closeMu.Unlock()
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	e.mu.Unlock()

	drained := make(chan struct{})
	go func() {
		e.runWG.Wait()
		e.readWG.Wait()
		close(drained)
	}()
	var err error
	select {
	case <-drained:
	case <-ctx.Done():
		err = fmt.Errorf("resync: close: canceled runs still in progress: %w", ctx.Err())
		e.cancel()
		<-drained
	}
	close(e.hbStop)
	<-e.hbDone
	rctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if rerr := e.cfg.Store.ReleaseLease(rctx, instanceLease(e.owner), e.owner); rerr != nil {
		e.log.Warn("releasing instance lease", "err", rerr)
	}
	e.cancel()
	return err
}
