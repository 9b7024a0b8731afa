// This file takes an accepted request to its reads: a run starts or is
// joined, each of its connections is served by a slot, and the run's state is
// persisted as its connections finish. What one read does is in read.go.

package resync

import (
	"context"
	"fmt"
	"slices"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/sync/errgroup"
)

// slot is one connection of a run.
type slot struct {
	idx      int
	conn     Connection
	ticket   *read // the read whose result the slot waits for
	recorded *read // the read whose result the slot holds
	running  bool  // a goroutine is serving the slot
	needs    bool  // the slot must be (re)served
	reads    int   // reads requested for this slot
	err      error // live error of the last result
}

// storeStart stores the run of request key with store, called with e.mu
// held, which it releases while store runs: identical requests wait for
// it (e.starting), other ones go on. It returns with e.mu held when store
// succeeded, the run counted in e.runWG (a Close meanwhile waits for it,
// as for any run under way), and released when it failed.
func (e *Engine) storeStart(key string, store func() error) error {
	stored := make(chan struct{})
	e.starting[key] = stored
	e.runWG.Add(1)
	e.mu.Unlock()
	err := store()
	e.mu.Lock()
	delete(e.starting, key)
	close(stored)
	if err != nil {
		e.runWG.Done()
		e.mu.Unlock()
	}
	return err
}

func (e *Engine) startOrJoin(ctx context.Context, key string, req Request, plan *Plan) (*Run, error) {
	e.mu.Lock()
	for {
		if e.closed {
			e.mu.Unlock()
			return nil, ErrClosed
		}
		if r := e.byKey[key]; r != nil && !r.finishing && !r.canceled {
			e.joinLocked(r, req.Initiator)
			e.mu.Unlock()
			e.log.Info("request joined run in progress", "tenant", req.Tenant, "run", r.id, "by", req.Initiator.label())
			return r, nil
		}
		stored := e.starting[key]
		if stored == nil {
			break
		}
		// An identical request's run is being stored: wait, then join
		// it (or start one, should storing it have failed).
		e.mu.Unlock()
		select {
		case <-stored:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		e.mu.Lock()
	}
	if e.cfg.Executor != nil {
		return e.startOnExecutor(ctx, key, req, plan)
	}
	now := e.cfg.Clock.Now()
	id := e.cfg.NewID()
	rctx, cancel := context.WithCancel(e.base)
	r := &Run{e: e, id: id, tenant: req.Tenant, key: key, ctx: rctx, cancel: cancel, done: make(chan struct{}), ackTurn: make(chan struct{}, 1)}
	r.info = RunInfo{
		ID: id, Tenant: req.Tenant, Scope: req.Scope, Trigger: req.Trigger,
		Initiator: req.Initiator, Requesters: []Principal{req.Initiator},
		Status: RunRunning, Owner: e.owner, CreatedAt: now,
	}
	for i, c := range plan.Sync {
		r.info.Connections = append(r.info.Connections, ConnectionResult{
			ConnectionID: c.ID, Provider: c.Provider, Type: c.Type, Name: c.Name, Status: ConnPending,
		})
		s := &slot{idx: i, conn: c, needs: true}
		r.slots = append(r.slots, s)
	}
	// Store the run before any read can start, so that a crash leaves a
	// record to mark interrupted. It is stored without e.mu held, so that
	// runs of other requests start meanwhile; identical requests wait
	// for it and join (e.starting).
	// With an outbox the initiator's "started" notice is stored with the
	// run.
	info := r.infoLocked()
	if e.ob != nil {
		r.acked = len(info.Requesters)
	}
	err := e.storeStart(key, func() error {
		if e.ob == nil {
			return e.cfg.Store.CreateRun(ctx, info)
		}
		if err := validateRun(info); err != nil {
			return err
		}
		return wrap(e.ob.CreateRunNotify(ctx, info, e.notes(NotifyRunStarted, info, nil, nil)), "creating run %q of tenant %q", info.ID, info.Tenant)
	})
	if err != nil {
		cancel()
		return nil, err
	}
	// The run's span is a child of the caller's span, but the run outlives
	// the caller's context: only its span context is carried over.
	r.traceCtx, r.span = e.tel.tracer.Start(trace.ContextWithSpanContext(rctx, trace.SpanContextFromContext(ctx)), "resync.run",
		trace.WithAttributes(attribute.String("resync.tenant", r.tenant), attribute.String("resync.run", r.id),
			attribute.String("resync.scope", req.Scope.String()), attribute.String("resync.trigger", string(req.Trigger))))
	for _, s := range r.slots {
		s.ticket = e.requestReadLocked(s, r)
	}
	e.runs[id] = r
	e.byKey[key] = r
	e.mu.Unlock()
	if e.ob != nil {
		e.wake()
	}
	e.tel.inflight.Add(context.WithoutCancel(ctx), 1)
	e.log.Info("run started", "tenant", req.Tenant, "run", id, "scope", req.Scope.String(), "trigger", req.Trigger,
		"by", req.Initiator.label(), "connections", len(plan.Sync))
	go e.runLoop(r)
	return r, nil
}

// joinLocked adds a requester to a run in progress. Connections whose read
// has already begun are read once more after it (their read may predate
// the change the requester just made); the others are not read yet, so the
// coming read serves the new requester too.
//
// The requester gets its own in-product acknowledgement, sent before the
// run's completion notice.
func (e *Engine) joinLocked(r *Run, p Principal) {
	if r.exec {
		return // the Executor's run: its record is the executor's to write
	}
	if !slices.ContainsFunc(r.info.Requesters, func(q Principal) bool { return q.ID == p.ID && q.Email == p.Email }) {
		r.info.Requesters = append(r.info.Requesters, p)
		r.acks.Add(1)
		go func() {
			defer r.acks.Done()
			e.acknowledge(r)
		}()
	}
	if r.info.Trigger == TriggerScheduled {
		return // reads in flight are fresh enough for a scheduled sync
	}
	for _, s := range r.slots {
		if !s.ticket.started {
			continue
		}
		t := e.requestReadLocked(s, r)
		if t == s.ticket {
			continue
		}
		// The replaced read goes on to the end and is applied: it is a
		// read of the connection made for this run, and counts (unless
		// its result was recorded already, which counted it).
		s.ticket.waiters-- // the run now waits for the newer read only
		if s.ticket != s.recorded {
			r.info.Connections[s.idx].Reads++
		}
		s.ticket = t
		if !s.running {
			s.needs = true
			r.info.Connections[s.idx].Status = ConnPending
		}
	}
}

// acknowledge sends the in-product "started" notice to the requesters not
// yet acknowledged. Acknowledgements of one run are sent one at a time, in
// the order the requests were accepted.
func (e *Engine) acknowledge(r *Run) {
	r.ackTurn <- struct{}{}
	defer func() { <-r.ackTurn }()
	e.mu.Lock()
	pending := r.info.Requesters[r.acked:]
	r.acked = len(r.info.Requesters)
	info := r.infoLocked()
	e.mu.Unlock()
	if len(pending) == 0 {
		return
	}
	if e.ob != nil {
		// Stored with the run's state, which names the new requesters.
		_ = e.persistNotify(r, func(cur RunInfo) []Notification {
			cur.Requesters = pending
			return e.notes(NotifyRunStarted, cur, nil, nil)
		})
		return
	}
	info.Requesters = pending
	e.deliver(r, NotifyRunStarted, info, nil)
}

// runLoop serves the run's slots until none needs serving, then finishes
// the run.
//
// The fan-out is an errgroup.Group with one goroutine per connection of the
// run, each serving its slot until no request is left for it (serveSlot).
// The zero Group is used on purpose: it cancels nothing when one slot ends
// badly, since one connection's failure must never stop the others, and it
// sets no limit, since slot goroutines only wait: reads, which do the work,
// are bounded across all runs of the engine by its semaphore
// (Config.Concurrency). No slot goroutine returns an error: each
// connection's outcome, failure included, is recorded in its own result.
func (e *Engine) runLoop(r *Run) {
	defer e.runWG.Done()
	ctx, span := r.traceCtx, r.span
	start := e.cfg.Clock.Now()
	e.acknowledge(r)

	var g errgroup.Group
	for {
		e.mu.Lock()
		var todo []*slot
		for _, s := range r.slots {
			if s.needs && !s.running {
				s.needs, s.running = false, true
				todo = append(todo, s)
			}
		}
		if len(todo) == 0 {
			r.finishing = true
			if e.byKey[r.key] == r {
				delete(e.byKey, r.key)
			}
			e.mu.Unlock()
			break
		}
		e.mu.Unlock()
		for _, s := range todo {
			g.Go(func() error {
				e.serveSlot(r, s)
				return nil
			})
		}
		_ = g.Wait()
	}

	// AfterRun sees the run's final state; the run shows it (Info, the
	// HTTP handler) only once AfterRun is done, with what it found, so
	// that a caller seeing the run ended finds what AfterRun stored.
	e.mu.Lock()
	final := r.infoLocked()
	final.Status = finalStatus(final.Connections, r.canceled || r.ctx.Err() != nil)
	e.mu.Unlock()
	final.FinishedAt = e.cfg.Clock.Now()
	// What the run applied stays applied when it was canceled: it is
	// followed up all the same.
	found := e.afterRun(context.WithoutCancel(r.ctx), final)
	e.mu.Lock()
	r.info.Status, r.info.FinishedAt, r.info.Findings = final.Status, final.FinishedAt, found
	e.mu.Unlock()
	if e.ob != nil {
		// The final state and its notifications in one transaction.
		admins, aerr := e.adminsFor(ctx, r.tenant, NotifyRunCompleted)
		if aerr != nil {
			e.recordNotifyError(r, aerr)
		}
		r.acks.Wait() // every requester's "started" is stored before the end
		if err := e.persistNotify(r, func(info RunInfo) []Notification {
			return e.notes(NotifyRunCompleted, info, admins, nil)
		}); err != nil {
			e.persist(r) // the state at least
		}
	} else {
		e.persist(r)
		r.acks.Wait() // every requester is acknowledged before it hears of the end
		e.notify(r, NotifyRunCompleted, nil)
		e.persist(r) // with any notification errors
	}
	info := r.Info()
	e.tel.runEnded(ctx, info, e.cfg.Clock.Now().Sub(start))
	e.tel.inflight.Add(context.WithoutCancel(ctx), -1)
	span.SetAttributes(attribute.String("resync.status", string(info.Status)))
	span.End()
	e.log.Info("run finished", "tenant", r.tenant, "run", r.id, "status", info.Status)

	e.mu.Lock()
	delete(e.runs, r.id)
	e.mu.Unlock()
	r.cancel()
	close(r.done)
}

// serveSlot waits for the slot's read (following it when a newer read
// replaces it) and records the result, and does so again while requests
// that joined the run ask for a further read of the connection.
func (e *Engine) serveSlot(r *Run, s *slot) {
	for {
		e.mu.Lock()
		t := s.ticket
		e.mu.Unlock()
		canceled := false
		select {
		case <-t.done:
		case <-r.ctx.Done():
			canceled = true
		}
		e.mu.Lock()
		if !canceled && s.ticket != t {
			e.mu.Unlock()
			continue // a request joined: wait for the follow-up read
		}
		res := &r.info.Connections[s.idx]
		if canceled {
			select {
			case <-t.done: // finished meanwhile: its result stands
				canceled = false
			default:
			}
		}
		if canceled {
			res.Status = ConnCanceled
			res.Error = "canceled"
			res.FinishedAt = e.cfg.Clock.Now()
			s.err = context.Canceled
		} else {
			reads := res.Reads
			*res = t.result
			res.Reads = reads + 1
			s.recorded = t
			s.err = t.err
			if t.owner != r && t.result.Status == ConnHeld {
				res.Error = fmt.Sprintf("%s (held by run %s)", res.Error, t.owner.id)
			}
		}
		again := s.needs && !canceled
		s.needs = false
		if !again {
			s.running = false
		}
		e.mu.Unlock()
		e.persistProgress(r)
		if !again {
			return
		}
	}
}

// progressInterval bounds how often a run's progress is written while it
// runs: each write stores every connection's result, so writing on every
// connection's completion would cost O(connections²) per run.
const progressInterval = time.Second

// persistProgress writes the run's state unless it was written less than
// progressInterval ago; the final state is always written by persist.
func (e *Engine) persistProgress(r *Run) {
	r.persistMu.Lock()
	recent := !r.persistedAt.IsZero() && e.cfg.Clock.Now().Sub(r.persistedAt) < progressInterval
	r.persistMu.Unlock()
	if !recent {
		e.persist(r)
	}
}

// persist writes the run's current state to the store. Errors are logged:
// the run goes on, and its final state is written again at the end.
func (e *Engine) persist(r *Run) {
	r.persistMu.Lock()
	defer r.persistMu.Unlock()
	r.persistedAt = e.cfg.Clock.Now()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.ctx), 30*time.Second)
	defer cancel()
	if err := e.cfg.Store.UpdateRun(ctx, r.Info()); err != nil {
		e.log.Error("storing run state", "tenant", r.tenant, "run", r.id, "err", err)
	}
}
