// This file is the execution seam: where the reads of a run are carried
// out. Without an Executor they run on the engine's goroutines (read.go,
// dispatch.go); with one, on the host's job queue, each read calling back
// into an engine through ExecuteRead.

package resync

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Executor carries a run's reads out somewhere other than the goroutines
// of the engine that accepted the request: on a job queue shared by many
// processes (package github.com/openresync/resync/river is one, on River
// and PostgreSQL). Set it as Config.Executor; nil (the default) reads in
// process, as before.
//
// # What the engine does
//
// With an Executor the engine still authorizes, plans and validates a
// request, and joins identical concurrent requests made to it into one
// run. It then builds the run's record (status running, every connection
// pending, Owner "executor") and calls Submit; it reads nothing itself.
// The Run it returns follows the stored record: it polls Store.GetRun
// every Config.LeasePoll and is done when the record is final (or when
// the engine is closed, with the last state it saw). Engine.Cancel and
// Run.Cancel call Cancel, from any engine sharing the store. Recovery
// leaves the runs of an Executor alone: they belong to no engine. When
// the engine has a Notifier and its Store an outbox (storage.Outbox), it
// hands Submit the run's "started" notifications, to be stored with the
// run; the "completed" ones, and Config.AfterRun, come from EndRun, which
// the executor calls when the run ends. A change set held by the delete
// guard notifies the admins through the worker engine's Notifier.
//
// On the worker side, a job calls Engine.ExecuteRead on an engine built
// with the same Store, Connections and Connectors. Each call is one read
// under the engine's rules: page retries with backoff inside the call,
// the read lease (so two reads of one connection never overlap, across
// processes), Config.MinReadInterval between the starts of two reads of
// a connection, the delete guard, and an atomic apply keyed by the read's
// ID (so a read retried with the same ID after a crash applies once). A
// connector's panic or failure ends that read only: isolation holds as in
// process.
//
// # What an Executor must do
//
// Submit stores the run's record (as Store.CreateRun), its notifications
// (in the store's outbox, as storage.Outbox's CreateRunNotify; none when
// the engine has no Notifier) and schedules a read of each of its
// connections atomically: the run never exists without its reads, nor a
// read without its run. It dedups like the in-process queue:
// at most one read of a connection pending (a request finding one pending
// joins it), and a request arriving while a read of the connection is
// under way gets exactly one follow-up read that starts after it.
//
// Each read calls ExecuteRead once per attempt with a read ID that is
// the same for every attempt of that read. It may try again (a new
// attempt, same ID) when ExecuteRead returns a non-permanent error or the
// process died mid-read; then it applies the returned record function to
// the stored record of every run waiting for the read, in one transaction
// with marking the read done, so that a result is recorded exactly once
// and the last read of a run completes it exactly once. A run that record
// ends is handed to EndRun before its final record is stored, and the
// notifications EndRun returns are stored in the outbox with that record;
// call EndRun with no transaction of your own open, since AfterRun may use
// the Store. A read given up on without a record from ExecuteRead (no
// attempt got that far, or the queue discarded or canceled it) records
// FailRead's instead: a run never waits for a read that will not come.
//
// The engine that started a run follows it by polling the Store every
// Config.LeasePoll; with a Store that reads a run's status alone
// (storage.RunStatusReader: memstore, stores/sqlite and stores/postgres
// do), it polls the status and reads the whole record at most once a
// second, so a run handle's Info may lag its stored record by that much.
//
// Cancel marks the run canceled (its unfinished connections canceled)
// and cancels its reads that no other live run waits for; a read under
// way stops between pages and applies nothing. A run already final is
// left as it is. The run it cancels ends through EndRun too.
type Executor interface {
	Submit(ctx context.Context, run RunInfo, notes []Notification) error
	Cancel(ctx context.Context, tenant, runID string) error
}

// executorOwner is the Owner of runs carried out by an Executor.
const executorOwner = "executor"

// ExecutorRun returns the record of a run of p carried out by an
// Executor, as the engine stores it for the runs it submits: ID id,
// running, each connection pending, started by initiator with trigger at
// now. An Executor that starts runs of its own (scheduled ones) stores
// the same, so that every engine knows them for the Executor's.
func (p *Plan) ExecutorRun(id string, trigger Trigger, initiator Principal, now time.Time) RunInfo {
	ri := RunInfo{
		ID: id, Tenant: p.Tenant, Scope: p.Scope, Trigger: trigger,
		Initiator: initiator, Requesters: []Principal{initiator},
		Status: RunRunning, Owner: executorOwner, CreatedAt: now,
	}
	for _, c := range p.Sync {
		ri.Connections = append(ri.Connections, ConnectionResult{
			ConnectionID: c.ID, Provider: c.Provider, Type: c.Type, Name: c.Name, Status: ConnPending,
		})
	}
	return ri
}

// startOnExecutor is startOrJoin with an Executor: it builds the run's
// record and hands it over. Called with e.mu held; it unlocks it, and
// holds it not while the Executor stores the run.
func (e *Engine) startOnExecutor(ctx context.Context, key string, req Request, plan *Plan) (*Run, error) {
	now := e.cfg.Clock.Now()
	id := e.cfg.NewID()
	rctx, cancel := context.WithCancel(e.base)
	r := &Run{e: e, id: id, tenant: req.Tenant, key: key, ctx: rctx, cancel: cancel, done: make(chan struct{}), ackTurn: make(chan struct{}, 1), exec: true}
	r.info = plan.ExecutorRun(id, req.Trigger, req.Initiator, now)
	info := r.infoLocked()
	err := e.storeStart(key, func() error {
		if err := validateRun(info); err != nil {
			return err
		}
		var notes []Notification
		if e.ob != nil {
			notes = e.notes(NotifyRunStarted, info, nil, nil)
		}
		return e.cfg.Executor.Submit(ctx, info, notes)
	})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("resync: submitting run to the executor: %w", err)
	}
	if e.closed {
		r.cancel() // only stops following it: the Executor carries it on
	}
	e.runs[id] = r
	e.byKey[key] = r
	e.mu.Unlock()
	e.log.Info("run submitted", "tenant", req.Tenant, "run", id, "scope", req.Scope.String(), "trigger", req.Trigger,
		"by", req.Initiator.label(), "connections", len(plan.Sync))
	go e.followRun(r)
	return r, nil
}

// runStatusReader is the method set of storage.RunStatusReader, which
// documents it.
type runStatusReader interface {
	RunStatus(ctx context.Context, tenant, id string) (RunStatus, error)
}

// followReadEvery is how often followRun reads a run's whole record when
// the Store can read its status alone (runStatusReader); it polls the
// status every Config.LeasePoll.
const followReadEvery = time.Second

// followRun keeps an Executor's run handle in step with its stored record
// until the record is final or the engine closes.
func (e *Engine) followRun(r *Run) {
	defer e.runWG.Done()
	defer close(r.done)
	defer func() {
		e.mu.Lock()
		delete(e.runs, r.id)
		if e.byKey[r.key] == r {
			delete(e.byKey, r.key)
		}
		e.mu.Unlock()
		r.cancel()
	}()
	statuses, _ := ungated(e.cfg.Store).(runStatusReader)
	var lastRead time.Time
	for {
		if !sleep(e.cfg.Clock, e.cfg.LeasePoll, r.ctx.Done()) {
			return
		}
		if statuses != nil && !lastRead.IsZero() && e.cfg.Clock.Now().Sub(lastRead) < followReadEvery {
			// Between two reads of the record, its status says whether
			// the run ended; an error is the next read's to report.
			if st, err := statuses.RunStatus(r.ctx, r.tenant, r.id); err == nil && !st.Final() {
				continue
			}
		}
		lastRead = e.cfg.Clock.Now()
		ri, err := e.cfg.Store.GetRun(r.ctx, r.tenant, r.id)
		if err != nil {
			if r.ctx.Err() == nil {
				e.log.Warn("following run", "tenant", r.tenant, "run", r.id, "err", err)
			}
			continue
		}
		e.mu.Lock()
		r.info = ri
		if ri.Status.Final() {
			r.finishing = true
			if e.byKey[r.key] == r {
				delete(e.byKey, r.key)
			}
		}
		e.mu.Unlock()
		if ri.Status.Final() {
			return
		}
	}
}

// ExecuteRead carries out one read of a connection of run for an Executor
// (see Executor: What the engine does). readID names the read: the same
// for every attempt of one read, unique across reads; the change set it
// applies bears it.
//
// It returns record, which writes the read's result into a stored run
// record waiting for it (the connection's result, and the run's final
// status when that was its last unfinished connection; it reports
// whether the run became final by it, and leaves a final run alone), and
// the read's error: nil when it succeeded, permanent (IsPermanent) when
// trying again cannot help, ErrHeld when the delete guard held the change
// set. A canceled ctx stops the read between pages; it then applies
// nothing. A connection the tenant no longer has, or whose provider has
// no connector, is a permanent error, recorded as the connection's
// failure. record is nil only when nothing could be tried: bad
// arguments, a closed engine, or an error listing the tenant's
// connections (which a later attempt may not have).
func (e *Engine) ExecuteRead(ctx context.Context, run RunInfo, connectionID, readID string) (record func(*RunInfo) (final bool), err error) {
	if e.isClosed() {
		return nil, ErrClosed
	}
	if run.Tenant == "" || run.ID == "" || connectionID == "" || readID == "" {
		return nil, Permanent(invalidArg("ExecuteRead needs a run with a tenant and an ID, a connection ID and a read ID"))
	}
	conns, err := e.cfg.Connections.Connections(ctx, run.Tenant)
	if err != nil {
		return nil, fmt.Errorf("resync: listing connections of tenant %q: %w", run.Tenant, err)
	}
	var res ConnectionResult
	var rerr error
	i := slices.IndexFunc(conns, func(c Connection) bool { return c.ID == connectionID })
	_, known := e.cfg.Connectors[connProvider(conns, i)]
	switch {
	case i < 0:
		rerr = Permanent(fmt.Errorf("%w: tenant %q has no connection %q", ErrNotFound, run.Tenant, connectionID))
	case !known:
		rerr = Permanent(fmt.Errorf("%w: no connector for provider %q", ErrNotFound, conns[i].Provider))
	default:
		owner := &Run{e: e, id: run.ID, tenant: run.Tenant, info: run, ctx: ctx, traceCtx: ctx, done: make(chan struct{})}
		rctx, stop := context.WithCancel(ctx)
		t := &read{conn: conns[i], owner: owner, id: readID, done: make(chan struct{}), ctx: rctx, stop: stop, waiters: 1}
		e.readWG.Add(1)
		e.execute(t)
		res, rerr = t.result, t.err
	}
	if i < 0 || !known {
		// Nothing was read: the run records the connection failed.
		res = ConnectionResult{ConnectionID: connectionID, Status: ConnFailed, Error: rerr.Error(), FinishedAt: e.cfg.Clock.Now()}
		if i >= 0 {
			c := conns[i]
			res.Provider, res.Type, res.Name = c.Provider, c.Type, c.Name
		}
	}
	return e.recorder(run.ID, connectionID, res), rerr
}

// FailRead returns the record of a read that an Executor gave up on
// without a result from ExecuteRead: its job was discarded by the queue
// after its last attempt, or canceled or deleted there by an operator.
// Like the record ExecuteRead returns, it writes the connection's
// failure (cause) into a stored run record waiting for the read, and the
// run's final status when that was its last unfinished connection, and
// reports whether the run became final by it.
func (e *Engine) FailRead(connectionID string, cause error) func(*RunInfo) (final bool) {
	if cause == nil {
		cause = errors.New("resync: the read was given up")
	}
	res := ConnectionResult{ConnectionID: connectionID, Status: ConnFailed, Error: cause.Error(), FinishedAt: e.cfg.Clock.Now()}
	return e.recorder("", connectionID, res)
}

// recorder returns a function that records res, the result of a read of
// connectionID owned by run ownerID, in a stored run record (see
// ExecuteRead).
func (e *Engine) recorder(ownerID, connectionID string, res ConnectionResult) func(*RunInfo) bool {
	return func(ri *RunInfo) bool {
		if ri.Status.Final() {
			return false
		}
		j := slices.IndexFunc(ri.Connections, func(c ConnectionResult) bool { return c.ConnectionID == connectionID })
		if j < 0 {
			return false
		}
		c := &ri.Connections[j]
		reads := c.Reads
		*c = res
		c.Reads = reads + 1
		if ri.ID != ownerID && res.Status == ConnHeld {
			c.Error = fmt.Sprintf("%s (held by run %s)", c.Error, ownerID)
		}
		for _, c := range ri.Connections {
			if c.Status == ConnPending || c.Status == ConnRunning {
				return false
			}
		}
		ri.Status = finalStatus(ri.Connections, false)
		ri.FinishedAt = e.cfg.Clock.Now()
		return true
	}
}

// EndRun ends a run of an Executor (see Executor: What an Executor must
// do): call it with a run's final record (its last read recorded, or the
// run canceled) before storing that record, with no transaction of your
// own open (AfterRun may use the Store). It calls Config.AfterRun with
// run, as the engine does for its own runs (run.Findings is what it
// set: store it with the record), and returns the run's
// "completed" notifications, to be stored in the store's outbox in the
// transaction that stores the record; none when the engine has no
// Notifier or run is not final. A failure listing the
// tenant's admins is appended to run.NotifyErrors. The notifications'
// IDs depend only on the run, so storing them again (a transaction
// retried after its worker died) stores nothing new; AfterRun is then
// called again, and must bear it, as it does after an approval.
func (e *Engine) EndRun(ctx context.Context, run *RunInfo) []Notification {
	if run == nil || !run.Status.Final() {
		return nil
	}
	run.Findings = e.afterRun(context.WithoutCancel(ctx), *run)
	if e.ob == nil {
		return nil
	}
	admins, err := e.adminsFor(ctx, run.Tenant, NotifyRunCompleted)
	if err != nil {
		e.log.Warn("notification failed", "tenant", run.Tenant, "run", run.ID, "err", err)
		run.NotifyErrors = append(run.NotifyErrors, err.Error())
	}
	return e.notes(NotifyRunCompleted, *run, admins, nil)
}

// connProvider is the provider of conns[i], or "" when i is out of range.
func connProvider(conns []Connection, i int) string {
	if i < 0 {
		return ""
	}
	return conns[i].Provider
}
