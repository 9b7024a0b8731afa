package resync

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"
)

// Trigger says why a run started.
type Trigger string

// Triggers.
const (
	TriggerAdhoc     Trigger = "adhoc"     // an admin asked for it
	TriggerScheduled Trigger = "scheduled" // the daily schedule
)

// RunStatus is the state of a run. Pending and running are live; the others
// are final: the run's reads are over and its status changes no more, with
// one exception. A run whose connections were held by the delete guard
// ends partial, and each decision on a held change set (Engine.Approve,
// Engine.Reject, or a later read that supersedes it) recomputes the status
// of the runs that held it: a run whose every connection succeeded or was
// approved becomes succeeded. Canceled and interrupted runs keep their
// status.
type RunStatus string

// Run statuses.
const (
	RunPending     RunStatus = "pending"
	RunRunning     RunStatus = "running"
	RunSucceeded   RunStatus = "succeeded"   // every connection succeeded
	RunPartial     RunStatus = "partial"     // some connections failed, were held, rejected or superseded
	RunFailed      RunStatus = "failed"      // no connection succeeded
	RunCanceled    RunStatus = "canceled"    // canceled by the caller or by Close
	RunInterrupted RunStatus = "interrupted" // its process died; see Guarantees: crash safety, in the package doc
)

// Final reports whether s is a final status.
func (s RunStatus) Final() bool { return s != RunPending && s != RunRunning && s != "" }

// ConnectionStatus is the state of one connection within a run. Pending
// and running are live. Held waits for a decision and then moves, once, to
// applied, rejected or superseded. The others (succeeded, failed,
// throttled, canceled, applied, rejected, superseded) are final.
type ConnectionStatus string

// Connection statuses.
const (
	ConnPending   ConnectionStatus = "pending"
	ConnRunning   ConnectionStatus = "running"
	ConnSucceeded ConnectionStatus = "succeeded"
	ConnFailed    ConnectionStatus = "failed"
	ConnHeld      ConnectionStatus = "held" // the delete guard held the change set
	ConnCanceled  ConnectionStatus = "canceled"
	// ConnApplied: the held change set was approved and applied. A run
	// counts it as succeeded.
	ConnApplied ConnectionStatus = "applied"
	// ConnRejected: the held change set was rejected; the snapshot kept
	// what it had.
	ConnRejected ConnectionStatus = "rejected"
	// ConnSuperseded: a later complete read of the connection replaced the
	// held change set before anyone decided on it.
	ConnSuperseded ConnectionStatus = "superseded"
	// ConnThrottled: the provider asked for a wait longer than the read
	// had left (see ErrThrottled); nothing was applied and RetryAt says
	// when the provider will answer again.
	ConnThrottled ConnectionStatus = "throttled"
)

// ConnectionResult is one connection's slot in a run: progress while it
// runs, the outcome when done.
type ConnectionResult struct {
	ConnectionID string
	Provider     string
	Type         ConnectionType
	Name         string `json:",omitempty"`
	Status       ConnectionStatus

	// Read counts records read so far (rejected ones included); Total is
	// the connector's estimate of the whole read, 0 if unknown.
	Read  int
	Total int `json:",omitempty"`

	Added     int
	Updated   int
	Removed   int
	Unchanged int
	// Rejected counts records that failed validation (see Guarantees: bad input, in the package doc);
	// RejectedSamples holds the first few reasons.
	Rejected        int
	RejectedSamples []string `json:",omitempty"`

	Pages int
	// Attempts counts page requests, retries included.
	Attempts int
	// Reads counts full reads of the connection in this run: 2 when a
	// request arrived during the first read and it was read again.
	Reads int
	// Restarts counts how often a read started over from the first page
	// because its connector returned a RestartRead error.
	Restarts int `json:",omitempty"`

	// HeldID names the held change set when Status is ConnHeld, and
	// after a decision on it (ConnApplied, ConnRejected, ConnSuperseded).
	HeldID string `json:",omitempty"`
	// Decision is the decision on the held change set, once there is one.
	Decision Decision `json:",omitzero"`
	// Error is the failure, when Status is ConnFailed, ConnHeld,
	// ConnThrottled or ConnCanceled, and what was decided when it is
	// ConnRejected or ConnSuperseded.
	Error string `json:",omitempty"`
	// RetryAt is when a throttled read's provider will answer again, when
	// Status is ConnThrottled.
	RetryAt time.Time `json:",omitzero"`

	StartedAt  time.Time `json:",omitzero"`
	FinishedAt time.Time `json:",omitzero"`
}

// RunInfo describes a run; it is what a Store keeps and what status calls return.
type RunInfo struct {
	ID        string
	Tenant    string
	Scope     Scope
	Trigger   Trigger
	Initiator Principal
	// Requesters are everyone whose request this run serves: the initiator
	// first, then those whose identical requests joined it (see Guarantees: dedup, in the package doc).
	Requesters []Principal `json:",omitempty"`
	Status     RunStatus
	// Owner is the start of the engine carrying the run out: its
	// Config.InstanceID plus a random suffix per start, so
	// that a restarted instance never takes its crashed predecessor's runs
	// for its own.
	Owner       string
	Connections []ConnectionResult
	// NotifyErrors lists notifications that could not be delivered; they
	// never fail the run. With a Store that keeps an outbox, a failure is
	// added to the stored run when its delivery is given up (see
	// Config.NotifyGiveUp), usually after the run ended.
	NotifyErrors []string `json:",omitempty"`
	// Findings counts what Config.AfterRun found the run opened, by kind
	// (a linking.Linker sets "offboarding_gap", "orphaned", "no_mfa" and
	// "unused"); nil when nothing was opened or nothing looked. It is
	// set before the run's final state is stored and its completion
	// notified, so the notice can say "2 new offboarding gaps"; an
	// approved held change set adds what its apply opened.
	Findings   map[string]int `json:",omitempty"`
	CreatedAt  time.Time
	FinishedAt time.Time `json:",omitzero"`
}

// Err joins the failures of the run's connections as *ConnectionError
// values, or returns nil when every connection succeeded (or was approved
// after a hold). The causes are
// the stored messages; a live Run's Err keeps the original errors.
func (ri RunInfo) Err() error {
	var errs []error
	for _, c := range ri.Connections {
		if c.Status == ConnSucceeded || c.Status == ConnApplied || c.Status == ConnPending || c.Status == ConnRunning {
			continue
		}
		cause := errors.New(c.Error)
		switch c.Status {
		case ConnHeld:
			cause = fmt.Errorf("%w: %s", ErrHeld, c.Error)
		case ConnThrottled:
			cause = fmt.Errorf("%w: %s", ErrThrottled, c.Error)
		}
		errs = append(errs, &ConnectionError{Tenant: ri.Tenant, ConnectionID: c.ConnectionID, Provider: c.Provider, Err: cause})
	}
	return errors.Join(errs...)
}

// Totals sums the per-connection counts.
func (ri RunInfo) Totals() ConnectionResult {
	var t ConnectionResult
	for _, c := range ri.Connections {
		t.Read += c.Read
		t.Added += c.Added
		t.Updated += c.Updated
		t.Removed += c.Removed
		t.Unchanged += c.Unchanged
		t.Rejected += c.Rejected
		t.Pages += c.Pages
		t.Attempts += c.Attempts
		t.Reads += c.Reads
		t.Restarts += c.Restarts
	}
	return t
}

// finalStatus derives a run's status from its connection results.
func finalStatus(conns []ConnectionResult, canceled bool) RunStatus {
	if canceled {
		return RunCanceled
	}
	ok, failed := 0, 0
	for _, c := range conns {
		switch c.Status {
		case ConnSucceeded, ConnApplied:
			ok++
		case ConnFailed, ConnCanceled, ConnThrottled:
			failed++
		}
	}
	switch {
	case ok == len(conns):
		return RunSucceeded
	case failed == len(conns):
		return RunFailed
	}
	return RunPartial
}

// Run is the handle of a run in progress (or just finished) in this engine.
// Its methods are safe for concurrent use.
type Run struct {
	e      *Engine
	id     string
	tenant string
	key    string
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}

	persistMu   sync.Mutex // serializes Store.UpdateRun for this run
	persistedAt time.Time  // guarded by persistMu
	traceCtx    context.Context
	span        trace.Span

	// guarded by e.mu
	info      RunInfo
	slots     []*slot
	finishing bool
	canceled  bool
	exec      bool // carried out by Config.Executor: info follows the store

	// Acknowledgements: requesters [0, acked) have had their "started"
	// notice; acks counts the deliveries under way, which the completion
	// notice waits for.
	// ackTurn (a one-slot channel, not a mutex: a goroutine waiting for
	// its turn while a slow Notifier delivers is blocked in a way
	// testing/synctest can see) serializes the deliveries.
	ackTurn chan struct{}
	acked   int // guarded by e.mu
	acks    sync.WaitGroup
}

func (r *Run) spanContext() trace.SpanContext { return trace.SpanContextFromContext(r.traceCtx) }

// ID returns the run's ID.
func (r *Run) ID() string { return r.id }

// Done is closed when the run has reached a final status and been stored.
func (r *Run) Done() <-chan struct{} { return r.done }

// Wait blocks until the run ends or ctx is done, and returns the run's
// state. The error is ctx's, if it ended the wait; a run's own failures are
// in RunInfo (Status, Connections, Err).
func (r *Run) Wait(ctx context.Context) (RunInfo, error) {
	select {
	case <-r.done:
		return r.Info(), nil
	case <-ctx.Done():
		return r.Info(), ctx.Err()
	}
}

// Cancel cancels the run: its reads stop between pages and apply nothing;
// reads shared with other runs go on for them. Cancel returns at once.
func (r *Run) Cancel() {
	e := r.e
	if r.exec {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.ctx), 30*time.Second)
		defer cancel()
		if err := e.cfg.Executor.Cancel(ctx, r.tenant, r.id); err != nil {
			e.log.Error("canceling run on the executor", "tenant", r.tenant, "run", r.id, "err", err)
		}
		return
	}
	e.mu.Lock()
	if r.finishing || r.canceled {
		e.mu.Unlock()
		return
	}
	r.canceled = true
	for _, s := range r.slots {
		e.releaseWaiter(s.ticket)
	}
	e.mu.Unlock()
	r.cancel()
}

// Err joins the run's connection failures as *ConnectionError values that
// wrap the original errors; nil if none (so far).
func (r *Run) Err() error {
	r.e.mu.Lock()
	defer r.e.mu.Unlock()
	var errs []error
	for _, s := range r.slots {
		if s.err != nil {
			errs = append(errs, &ConnectionError{Tenant: r.tenant, ConnectionID: s.conn.ID, Provider: s.conn.Provider, Err: s.err})
		}
	}
	return errors.Join(errs...)
}

// Info returns the run's current state, with per-connection progress
// (records read so far) for connections being read.
func (r *Run) Info() RunInfo {
	r.e.mu.Lock()
	defer r.e.mu.Unlock()
	return r.infoLocked()
}

func (r *Run) infoLocked() RunInfo {
	ri := r.info
	ri.Requesters = slices.Clone(ri.Requesters)
	ri.NotifyErrors = slices.Clone(ri.NotifyErrors)
	ri.Findings = maps.Clone(ri.Findings)
	ri.Connections = slices.Clone(ri.Connections)
	for i, s := range r.slots {
		c := &ri.Connections[i]
		if c.Status == ConnPending || c.Status == ConnRunning {
			if t := s.ticket; t != nil && t.started {
				c.Status = ConnRunning
				c.Read = int(t.nread.Load())
				c.Pages = int(t.pages.Load())
				c.Attempts = int(t.attempts.Load())
				c.Total = int(t.total.Load())
				c.StartedAt = t.startedAt
			}
		}
	}
	return ri
}
