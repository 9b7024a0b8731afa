package resync

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"
)

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
	runs   map[string]*Run // live runs by ID
	byKey  map[string]*Run // live, joinable runs by request key
	// starting has a channel for each request key whose run is being
	// stored (or submitted), closed when it is: an identical request
	// waits for it and joins the run, while other keys start meanwhile.
	starting map[string]chan struct{}
	queues   map[connKey]*connQueue // per connection work queue
	// sizeHints remembers each connection's snapshot size after its last
	// read, so the next diff builds its index without growing it.
	sizeHints map[connKey]int
	// lastStart is when this engine last began a read of each connection
	// (Config.MinReadInterval).
	lastStart map[connKey]time.Time

	runWG  sync.WaitGroup // run goroutines
	readWG sync.WaitGroup // read goroutines and other helpers
	hbStop chan struct{}
	hbDone chan struct{}
	// ob is the store's outbox when it has one and a Notifier is set;
	// the dispatcher goroutine delivers from it.
	ob       outboxStore
	dispWake chan struct{}
	dispStop chan struct{}
	dispDone chan struct{}
	closeMu  sync.Mutex
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
		starting:  map[string]chan struct{}{},
		queues:    map[connKey]*connQueue{},
		sizeHints: map[connKey]int{},
		lastStart: map[connKey]time.Time{},
		hbStop:    make(chan struct{}), hbDone: make(chan struct{}),
		dispWake: make(chan struct{}, 1), dispStop: make(chan struct{}), dispDone: make(chan struct{}),
	}
	if cfg.Notifier != nil {
		e.ob = outboxOf(cfg.Store)
	}
	if err := e.recover(ctx); err != nil {
		cancel()
		return nil, err
	}
	go e.heartbeat()
	if e.ob != nil {
		go e.dispatch()
	} else {
		close(e.dispDone)
	}
	return e, nil
}

// ResyncPersonnel starts a personnel resync of the tenant: every connection
// whose type is in Config.PersonnelTypes. It returns at once with the run
// handle; see Start for the errors.
func (e *Engine) ResyncPersonnel(ctx context.Context, tenant string, by Principal) (*Run, error) {
	return e.Start(ctx, Request{Tenant: tenant, Initiator: by, Scope: PersonnelScope()})
}

// ResyncAccounts starts an accounts resync of one connection type
// (AccessReview, Infrastructure or Observability; others fail with
// ErrInvalidRequest): all its providers, or only those named. Use
// Start with an AccountsScope to select connection IDs.
func (e *Engine) ResyncAccounts(ctx context.Context, tenant string, by Principal, t ConnectionType, providers ...string) (*Run, error) {
	return e.Start(ctx, Request{Tenant: tenant, Initiator: by, Scope: AccountsScope(t, providers...)})
}

// Plan returns what req would sync and skip, without starting anything. It
// fails as Start would (ErrForbidden, ErrInvalidRequest, ...), except that
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
// ErrForbidden, ErrNotFound (an unknown tenant), ErrNoConnections, ErrClosed.
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
// not live here. With Config.Executor it cancels a live run of the
// executor whichever engine started it (see Executor).
func (e *Engine) Cancel(ctx context.Context, tenant, id string, by Principal) error {
	e.mu.Lock()
	r := e.runs[id]
	e.mu.Unlock()
	if (r == nil || r.tenant != tenant) && e.cfg.Executor != nil {
		// A run of the Executor may have been started by another engine.
		info, err := e.cfg.Store.GetRun(ctx, tenant, id)
		if err == nil && info.Owner == executorOwner {
			if err := e.authorize(ctx, tenant, by, scopeAction(info.Scope.Kind)); err != nil {
				return err
			}
			if info.Status.Final() {
				return nil
			}
			return e.cfg.Executor.Cancel(ctx, tenant, id)
		}
	}
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

// HeldChangeSets lists the tenant's change sets held by the delete guard.
func (e *Engine) HeldChangeSets(ctx context.Context, tenant string, by Principal) ([]HeldSummary, error) {
	if err := e.authorize(ctx, tenant, by, ActionViewRuns); err != nil {
		return nil, err
	}
	return e.cfg.Store.HeldChangeSets(ctx, tenant)
}

// Approve applies a held change set and records the decision: who (by),
// when (Config.Clock) and why (reason, optional). The connection's result
// moves from ConnHeld to ConnApplied, with the Decision, in every run that
// held the set, and their status is recomputed; the tenant's admins are
// notified (NotifyHeldDecided). It needs ActionReviewHeld.
//
// Errors: ErrNotFound if the tenant has no such change set; ErrConflict if
// it is no longer held (decided already, here or by another engine, or
// superseded by a later read: of two concurrent decisions exactly one
// wins), or if the connection's snapshot changed since it was held (the
// set is then superseded: resync again). Nothing is applied on an error.
func (e *Engine) Approve(ctx context.Context, tenant, heldID string, by Principal, reason string) (HeldSummary, error) {
	return e.decide(ctx, tenant, heldID, by, ConnApplied, reason)
}

// Reject discards a held change set, the snapshot staying as it was, and
// records the decision as Approve does; the connection's result moves to
// ConnRejected. It needs ActionReviewHeld. Errors: as Approve's.
func (e *Engine) Reject(ctx context.Context, tenant, heldID string, by Principal, reason string) (HeldSummary, error) {
	return e.decide(ctx, tenant, heldID, by, ConnRejected, reason)
}

// DecidedChangeSets lists the tenant's decided change sets (approved,
// rejected or superseded), newest decision first, at most limit of them
// (0 means 100). It needs ActionViewRuns. The decisions are kept by a Store
// with the storage.HeldDecider capability (memstore, stores/sqlite and
// stores/postgres have it); with another Store it fails with
// ErrInvalidRequest, and decisions are found only on the results of the
// runs that held the sets.
func (e *Engine) DecidedChangeSets(ctx context.Context, tenant string, by Principal, limit int) ([]HeldSummary, error) {
	if err := e.authorize(ctx, tenant, by, ActionViewRuns); err != nil {
		return nil, err
	}
	dec := e.decider()
	if dec == nil {
		return nil, fmt.Errorf("%w: the store keeps no decisions on held change sets (it lacks storage.HeldDecider)", ErrInvalidRequest)
	}
	return dec.DecidedChangeSets(ctx, tenant, limit)
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
		return fmt.Errorf("%w: tenant %q has no connection %q", ErrNotFound, tenant, connectionID)
	}
	conn := conns[i]
	f := e.cfg.Connectors[conn.Provider]
	if f == nil {
		return fmt.Errorf("%w: no connector registered for provider %q", ErrInvalidRequest, conn.Provider)
	}
	c, err := callFactory(e.secretsContext(ctx), f, conn)
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
	for _, r := range e.runs {
		if r.exec {
			r.cancel() // only stops following it: the Executor carries it on
		}
	}
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
	// The dispatcher ends its attempts under way (within LeaseTTL each);
	// if ctx ends first they are canceled, and their notifications are
	// delivered after their lease expires, by this store's next engine.
	close(e.dispStop)
	select {
	case <-e.dispDone:
	case <-ctx.Done():
		e.cancel()
		<-e.dispDone
	}
	rctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if rerr := e.cfg.Store.ReleaseLease(rctx, instanceLease(e.owner), e.owner); rerr != nil {
		e.log.Warn("releasing instance lease", "err", rerr)
	}
	e.cancel()
	return err
}
