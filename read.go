// This file is one read of one connection: queueing per connection, the read
// lease, the connector's pages, the diff against the stored snapshot and the
// apply (or hold) of the change set.

package resync

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"runtime/debug"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// connQueue is a connection's work queue (see Guarantees: dedup, in the package doc): at most one read
// in flight (cur) and one pending behind it (next).
type connQueue struct {
	cur, next *read
}

// read is one full read of a connection, shared by every run waiting for it.
type read struct {
	conn  Connection
	owner *Run // the run that asked first; its ID goes on the change set
	id    string
	prev  *read
	done  chan struct{}
	ctx   context.Context
	stop  context.CancelFunc

	// guarded by Engine.mu
	waiters   int
	started   bool
	startedAt time.Time

	nread, pages, attempts, total atomic.Int64

	// set before done is closed
	result ConnectionResult
	err    error
	// held is set (under Engine.mu) when the delete guard held the change
	// set; decision (under Engine.mu) when it was decided on before the
	// read handed its result over.
	held     *HeldSummary
	decision *Decision
	// superseded lists the earlier held change sets of the connection that
	// this read replaced.
	superseded []HeldSummary
}

// requestReadLocked returns the read that will serve a request for s.conn
// made now: the pending read if there is one, the current read if it has
// not begun reading (or, for a scheduled run, even if it has: a read in
// flight is fresh enough for a daily sync), else a new read queued behind
// the current one.
func (e *Engine) requestReadLocked(s *slot, r *Run) *read {
	key := keyOf(s.conn)
	q := e.queues[key]
	if q == nil {
		q = &connQueue{}
		e.queues[key] = q
	}
	if q.next != nil {
		q.next.waiters++
		return q.next
	}
	if q.cur != nil && (!q.cur.started || r.info.Trigger == TriggerScheduled) {
		q.cur.waiters++
		return q.cur
	}
	s.reads++
	ctx, stop := context.WithCancel(e.base)
	t := &read{
		conn: s.conn, owner: r, id: fmt.Sprintf("%s/%s/%d", r.id, s.conn.ID, s.reads),
		prev: q.cur, done: make(chan struct{}), ctx: ctx, stop: stop, waiters: 1,
	}
	if q.cur != nil {
		q.next = t
	} else {
		q.cur = t
	}
	e.readWG.Add(1)
	go e.execute(t)
	return t
}

// releaseWaiter drops a canceled run's interest in t; a read nobody waits
// for any more is canceled.
func (e *Engine) releaseWaiter(t *read) {
	if t == nil {
		return
	}
	t.waiters--
	if t.waiters > 0 {
		return
	}
	t.stop()
	if q := e.queues[keyOf(t.conn)]; q != nil && q.next == t {
		q.next = nil // nobody may join a canceled pending read
	}
}

// finishLocked removes t from its queue, promoting the pending read.
func (e *Engine) finishLocked(t *read) {
	key := keyOf(t.conn)
	q := e.queues[key]
	if q == nil {
		return
	}
	switch t {
	case q.cur:
		q.cur, q.next = q.next, nil
	case q.next:
		q.next = nil
	}
	if q.cur == nil && q.next == nil {
		delete(e.queues, key)
	}
}

// execute carries out one read: wait for the previous read of the
// connection, a concurrency slot and the read lease; read every page with
// retries; diff; hold or apply. It never panics and always closes t.done.
func (e *Engine) execute(t *read) {
	defer e.readWG.Done()
	defer t.stop()
	res := ConnectionResult{ConnectionID: t.conn.ID, Provider: t.conn.Provider, Type: t.conn.Type, Name: t.conn.Name}
	var err error
	func() {
		defer func() {
			if v := recover(); v != nil {
				err = &PanicError{Value: v, Stack: debug.Stack()}
				res.Status = ConnFailed
			}
		}()
		err = e.readAndApply(t, &res)
	}()
	if err != nil {
		if res.Error == "" {
			res.Error = err.Error()
		}
		if res.Status == "" || res.Status == ConnRunning || res.Status == ConnPending {
			res.Status = ConnFailed
		}
		if errors.Is(err, context.Canceled) && t.ctx.Err() != nil {
			res.Status = ConnCanceled
		}
	}
	if res.FinishedAt.IsZero() {
		res.FinishedAt = e.cfg.Clock.Now()
	}
	if t.held != nil && e.ob == nil {
		// Sent after the concurrency slot and the read lease are released:
		// a slow notifier must not hold up other reads.
		e.notify(t.owner, NotifyChangesHeld, t.held)
	}
	for _, h := range t.superseded {
		e.settle(t.ctx, h)
	}
	e.tel.readEnded(t.ctx, t.conn, res)
	e.mu.Lock()
	if t.decision != nil && t.held != nil {
		settleResult(&res, HeldSummary{ID: t.held.ID, Decision: *t.decision})
	}
	t.result, t.err = res, err
	e.finishLocked(t)
	e.mu.Unlock()
	close(t.done)
}

func (e *Engine) readAndApply(t *read, res *ConnectionResult) error {
	if t.prev != nil {
		select {
		case <-t.prev.done:
		case <-t.ctx.Done():
			return fmt.Errorf("canceled before the read began: %w", t.ctx.Err())
		}
	}
	if err := e.waitReadInterval(t); err != nil {
		return err
	}
	prio := prioAdhoc
	if t.owner.info.Trigger == TriggerScheduled {
		prio = prioScheduled
	}
	if err := e.sem.acquire(t.ctx, prio); err != nil {
		return fmt.Errorf("canceled before the read began: %w", err)
	}
	defer e.sem.release()

	lease := readLease(t.conn.Tenant, t.conn.ID)
	if err := e.acquireReadLease(t.ctx, lease); err != nil {
		return err
	}
	now := e.cfg.Clock.Now()
	e.mu.Lock()
	t.started, t.startedAt = true, now
	e.lastStart[keyOf(t.conn)] = now
	e.mu.Unlock()
	res.StartedAt = now

	// The lease is renewed for as long as the read lasts, a slow page or
	// apply included; losing it stops the read.
	lctx, lost := context.WithCancelCause(t.ctx)
	stopRenewing := e.keepReadLease(lctx, lost, lease)
	defer func() {
		stopRenewing()
		lost(nil)
		e.releaseReadLease(t, lease, now)
	}()

	parent := t.owner.spanContext()
	ctx, span := e.tel.tracer.Start(trace.ContextWithSpanContext(lctx, parent), "resync.connection",
		trace.WithAttributes(attribute.String("resync.tenant", t.conn.Tenant), attribute.String("resync.connection", t.conn.ID),
			attribute.String("resync.provider", t.conn.Provider), attribute.String("resync.type", string(t.conn.Type))))
	defer span.End()
	ctx, cancel := context.WithTimeout(ctx, e.cfg.ConnectionTimeout)
	defer cancel()

	err := e.readDiffApply(ctx, t, res, span)
	for err != nil && isRestart(err) && !IsPermanent(err) && res.Restarts < maxRestarts && ctx.Err() == nil {
		res.Restarts++
		span.AddEvent("restart", trace.WithAttributes(attribute.Int("resync.restart", res.Restarts), attribute.String("error", err.Error())))
		e.log.Info("cursor cannot be resumed, reading again from the first page", "connection", t.conn.ID, "restart", res.Restarts, "err", err)
		t.nread.Store(0)
		err = e.readDiffApply(ctx, t, res, span)
	}
	if cause := context.Cause(lctx); err != nil && errors.Is(cause, errReadLeaseLost) {
		err = fmt.Errorf("%w (%w)", cause, err)
	}
	if te := (*throttledError)(nil); errors.As(err, &te) {
		res.Status, res.RetryAt, res.Error = ConnThrottled, te.until, err.Error()
	}
	if err != nil && isRestart(err) && res.Restarts == maxRestarts {
		err = fmt.Errorf("after %d restarts from the first page: %w", maxRestarts, err)
	}
	res.Read = int(t.nread.Load())
	res.Pages = int(t.pages.Load())
	res.Attempts = int(t.attempts.Load())
	res.Total = int(t.total.Load())
	res.FinishedAt = e.cfg.Clock.Now()
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.SetAttributes(attribute.String("resync.status", string(res.Status)),
		attribute.Int("resync.read", res.Read), attribute.Int("resync.added", res.Added),
		attribute.Int("resync.updated", res.Updated), attribute.Int("resync.removed", res.Removed))
	e.log.Info("connection read", "tenant", t.conn.Tenant, "connection", t.conn.ID, "provider", t.conn.Provider,
		"status", res.Status, "read", res.Read, "added", res.Added, "updated", res.Updated, "removed", res.Removed,
		"rejected", res.Rejected, "attempts", res.Attempts, "err", err)
	return err
}

func (e *Engine) acquireReadLease(ctx context.Context, lease string) error {
	for {
		ok, err := e.cfg.Store.AcquireLease(ctx, lease, e.owner, e.cfg.LeaseTTL)
		if err != nil {
			return fmt.Errorf("taking read lease: %w", err)
		}
		if ok {
			return nil
		}
		// Another instance is reading the connection: our read follows it.
		if !sleep(e.cfg.Clock, e.cfg.LeasePoll, ctx.Done()) {
			return fmt.Errorf("waiting for another instance's read: %w", ctx.Err())
		}
	}
}

// errReadLeaseLost is the cause of a read stopped because its read lease
// was taken by another engine or could not be renewed in time.
var errReadLeaseLost = errors.New("read lease lost")

// waitReadInterval waits until Config.MinReadInterval has passed since
// this engine last began a read of t's connection. t has not started
// meanwhile, so requests arriving during the wait join it.
func (e *Engine) waitReadInterval(t *read) error {
	if e.cfg.MinReadInterval <= 0 {
		return nil
	}
	e.mu.Lock()
	last, ok := e.lastStart[keyOf(t.conn)]
	e.mu.Unlock()
	if !ok {
		return nil
	}
	if d := last.Add(e.cfg.MinReadInterval).Sub(e.cfg.Clock.Now()); d > 0 && !sleep(e.cfg.Clock, d, t.ctx.Done()) {
		return fmt.Errorf("canceled before the read began: %w", t.ctx.Err())
	}
	return nil
}

// keepReadLease renews the read lease every LeaseTTL/3 until the returned
// stop is called, which waits for the renewing goroutine to end. If another
// engine holds the lease, or it could not be renewed for a whole TTL, the
// read is canceled with errReadLeaseLost: another engine may be reading
// the connection.
func (e *Engine) keepReadLease(ctx context.Context, lost context.CancelCauseFunc, lease string) (stop func()) {
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		renewed := e.cfg.Clock.Now()
		for sleep(e.cfg.Clock, e.cfg.LeaseTTL/3, quit) {
			ok, err := e.cfg.Store.AcquireLease(ctx, lease, e.owner, e.cfg.LeaseTTL)
			switch {
			case ctx.Err() != nil:
				return // the read is ending
			case err == nil && ok:
				renewed = e.cfg.Clock.Now()
			case err == nil:
				lost(fmt.Errorf("%w: another engine holds it", errReadLeaseLost))
				return
			case e.cfg.Clock.Now().Sub(renewed) >= e.cfg.LeaseTTL:
				lost(fmt.Errorf("%w: not renewed within its TTL: %w", errReadLeaseLost, err))
				return
			default:
				e.log.Warn("renewing read lease, will retry", "lease", lease, "err", err)
			}
		}
	}()
	return func() {
		close(quit)
		<-done
	}
}

// releaseReadLease releases the read lease of a read that began at
// started; while Config.MinReadInterval since then is not over, it keeps
// the lease until it is instead, so that no other engine sharing the
// store begins a read of the connection sooner.
func (e *Engine) releaseReadLease(t *read, lease string, started time.Time) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(t.ctx), 5*time.Second)
	defer cancel()
	if rest := started.Add(e.cfg.MinReadInterval).Sub(e.cfg.Clock.Now()); rest > 0 {
		ok, err := e.cfg.Store.AcquireLease(ctx, lease, e.owner, rest)
		if err == nil && ok {
			return
		}
	}
	if err := e.cfg.Store.ReleaseLease(ctx, lease, e.owner); err != nil {
		e.log.Warn("releasing read lease", "lease", lease, "err", err)
	}
}

func (e *Engine) readDiffApply(ctx context.Context, t *read, res *ConnectionResult, span trace.Span) error {
	factory := e.cfg.Connectors[t.conn.Provider]
	// A factory error is classified and retried like a page's: a secret
	// store that is briefly down must not fail the connection.
	var conn Connector
	_, err := e.retryDo(ctx, e.cfg.Retry, func(int) error {
		var ferr error
		conn, ferr = callFactory(e.secretsContext(ctx), factory, t.conn)
		if d, ok := RetryDelay(ferr); ok && !IsPermanent(ferr) {
			if terr := e.throttleIfTooLong(ctx, d, ferr); terr != nil {
				return terr
			}
		}
		return ferr
	}, func(attempt int, delay time.Duration, ferr error) {
		e.log.Debug("opening connector failed, retrying", "connection", t.conn.ID, "attempt", attempt, "delay", delay, "err", ferr)
	})
	if err != nil {
		return fmt.Errorf("opening connector: %w", err)
	}
	defer closeConnector(conn)

	e.mu.Lock()
	hint := e.sizeHints[keyOf(t.conn)]
	e.mu.Unlock()
	d := newDiffer(e.cfg.Limits, hint)
	version, err := e.cfg.Store.Snapshot(ctx, t.conn.Tenant, t.conn.ID, d.addSnapshot)
	if err != nil {
		return fmt.Errorf("loading snapshot: %w", err)
	}
	if err := d.refingerprint(ctx, e.cfg.Store, t.conn.Tenant, t.conn.ID); err != nil {
		return fmt.Errorf("recomputing fingerprints stored by an older release: %w", err)
	}
	prior, err := e.heldOf(ctx, t)
	if err != nil {
		return err
	}
	cursor := ""
	for page := 1; ; page++ {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("stopped before page %d: %w", page, err)
		}
		var pg Page
		_, err := e.retryDo(ctx, e.cfg.Retry, func(attempt int) error {
			t.attempts.Add(1)
			var rerr error
			pg, rerr = safeReadPage(ctx, conn, cursor)
			if d, ok := RetryDelay(rerr); ok && !IsPermanent(rerr) {
				if terr := e.throttleIfTooLong(ctx, d, rerr); terr != nil {
					return terr
				}
			}
			return rerr
		}, func(attempt int, delay time.Duration, rerr error) {
			span.AddEvent("retry", trace.WithAttributes(attribute.Int("resync.page", page),
				attribute.Int("resync.attempt", attempt), attribute.String("resync.delay", delay.String()),
				attribute.String("error", rerr.Error())))
			e.log.Debug("page failed, retrying", "connection", t.conn.ID, "page", page, "attempt", attempt, "delay", delay, "err", rerr)
		})
		if err != nil {
			return fmt.Errorf("page %d: %w", page, err)
		}
		if page == 1 && pg.Total > 0 {
			d.expect(pg.Total)
		}
		for _, rec := range pg.Records {
			d.observe(rec)
		}
		for _, rerr := range pg.Rejected {
			d.rejectInput(rerr)
		}
		t.nread.Store(int64(d.read))
		t.pages.Add(1)
		if pg.Total > 0 {
			t.total.Store(int64(pg.Total))
		}
		if pg.Next == "" {
			break
		}
		if pg.Next == cursor {
			return Permanent(fmt.Errorf("page %d: connector returned its own cursor %q as the next one; stopping an endless read", page, truncate(cursor, 80)))
		}
		cursor = pg.Next
		if wait := pg.NotBefore.Sub(e.cfg.Clock.Now()); !pg.NotBefore.IsZero() && wait > 0 {
			// The provider's pace: wait without spending a retry (the read
			// lease is renewed meanwhile), or end the read throttled if the
			// wait would use up the read's time.
			if terr := e.throttleIfTooLong(ctx, wait, fmt.Errorf("the provider asked for no request before %s", pg.NotBefore.UTC().Format(time.RFC3339))); terr != nil {
				return fmt.Errorf("before page %d: %w", page+1, terr)
			}
			span.AddEvent("wait", trace.WithAttributes(attribute.Int("resync.page", page+1), attribute.String("resync.delay", wait.String())))
			if !sleep(e.cfg.Clock, wait, ctx.Done()) {
				return fmt.Errorf("stopped before page %d: %w", page+1, ctx.Err())
			}
		}
	}

	dr := d.finish()
	e.mu.Lock()
	e.sizeHints[keyOf(t.conn)] = dr.snapSize + dr.added - dr.removed
	e.mu.Unlock()
	res.Added, res.Updated, res.Removed = dr.added, dr.updated, dr.removed
	res.Unchanged, res.Rejected, res.RejectedSamples = dr.unchanged, dr.rejected, dr.samples
	cs := &ChangeSet{
		ID: t.id, Tenant: t.conn.Tenant, ConnectionID: t.conn.ID, RunID: t.owner.id,
		BaseVersion: version, Changes: dr.changes, CreatedAt: e.cfg.Clock.Now(),
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("stopped before applying: %w", err)
	}
	// The read is complete: an earlier held change set of the connection
	// no longer says what the provider holds, whatever this one does.
	t.superseded, err = e.supersedeHeld(ctx, t, prior, cs.ID)
	if err != nil {
		return err
	}
	if reason := e.cfg.DeleteGuard.check(dr); reason != "" {
		cs.HoldReason = reason
		if err := e.hold(ctx, t, cs); err != nil {
			return fmt.Errorf("holding change set: %w", err)
		}
		res.Status, res.HeldID = ConnHeld, cs.ID
		res.Error = "held for review: " + reason
		sum := summarize(cs)
		e.mu.Lock()
		t.held = &sum
		e.mu.Unlock()
		return fmt.Errorf("%w: %s", ErrHeld, reason)
	}
	if len(cs.Changes) > 0 {
		apply := e.cfg.Store.Apply
		if g, ok := e.cfg.Store.(storeGate); ok {
			apply = g.applyDiffed
		}
		if err := apply(ctx, cs); err != nil {
			return fmt.Errorf("applying %d changes: %w", len(cs.Changes), err)
		}
	}
	res.Status = ConnSucceeded
	return nil
}

// afterRun calls Config.AfterRun with info, logging its error, and
// returns the Findings it set (info's own when it set none, or there is
// no AfterRun).
func (e *Engine) afterRun(ctx context.Context, info RunInfo) map[string]int {
	if e.cfg.AfterRun == nil {
		return info.Findings
	}
	info.Findings = maps.Clone(info.Findings)
	if err := e.cfg.AfterRun(ctx, &info); err != nil {
		e.log.Warn("after run", "tenant", info.Tenant, "run", info.ID, "err", err)
	}
	for k, n := range info.Findings {
		if n <= 0 {
			delete(info.Findings, k)
		}
	}
	if len(info.Findings) == 0 {
		return nil
	}
	return info.Findings
}

func callFactory(ctx context.Context, f ConnectorFactory, c Connection) (conn Connector, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = Permanent(&PanicError{Value: v, Stack: debug.Stack()})
		}
	}()
	conn, err = f(ctx, c)
	if err == nil && conn == nil {
		err = Permanent(fmt.Errorf("connector factory for provider %q returned no connector", c.Provider))
	}
	return conn, err
}

func closeConnector(c Connector) {
	if cl, ok := c.(io.Closer); ok {
		_ = cl.Close()
	}
}

// safeReadPage calls ReadPage, turning a panic into a permanent error.
func safeReadPage(ctx context.Context, c Connector, cursor string) (p Page, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = Permanent(&PanicError{Value: v, Stack: debug.Stack()})
		}
	}()
	return c.ReadPage(ctx, cursor)
}

// hold stores cs as the connection's held change set; with an outbox, the
// admins' NotifyChangesHeld notifications are stored with it.
func (e *Engine) hold(ctx context.Context, t *read, cs *ChangeSet) error {
	if e.ob == nil {
		return e.cfg.Store.Hold(ctx, cs)
	}
	admins, err := e.adminsFor(ctx, cs.Tenant, NotifyChangesHeld)
	if err != nil {
		e.recordNotifyError(t.owner, err)
	}
	sum := summarize(cs)
	ns := e.notes(NotifyChangesHeld, t.owner.Info(), admins, &sum)
	if err := e.ob.HoldNotify(ctx, cs, ns); err != nil {
		return wrap(err, "holding change set %q of connection %q", cs.ID, cs.ConnectionID)
	}
	e.wake()
	return nil
}
