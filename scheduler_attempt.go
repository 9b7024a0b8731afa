package resync

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/openresync/resync/internal/retry"
)

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
	// retryAt is the latest RetryAt of the run's throttled connections:
	// a retry before it would be throttled again.
	retryAt time.Time
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
		s.completeLocked(t, j, res, s.clock.Now())
	}
	s.mu.Unlock()
	s.signal()
}

// serve carries out one due event: read the history if not yet known,
// take the lease, skip the slot if another instance ran it, start the run
// and wait for it.
func (s *Scheduler) serve(ctx context.Context, tenant string, j job) attemptResult {
	now := s.clock.Now()
	ar := attemptResult{slot: j.slot, checkFrom: j.checkFrom, result: ScheduledResult{At: now, Attempt: j.attempt}}
	store := s.store
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
	for _, c := range info.Connections {
		if c.Status == ConnThrottled && c.RetryAt.After(ar.retryAt) {
			ar.retryAt = c.RetryAt
		}
	}
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
	runs, err := s.store.ListRuns(ctx, RunQuery{Tenant: tenant, Trigger: TriggerScheduled, Limit: 1})
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
	run, err := s.eng.Start(ctx, Request{Tenant: tenant, Initiator: SystemPrincipal, Scope: j.scope, Trigger: TriggerScheduled})
	if err != nil {
		ar.result.Err = err
		switch {
		case errors.Is(err, ErrClosed):
			ar.out = outClosed
		case errors.Is(err, ErrNoConnections):
			ar.out = outNoConnections
		case errors.Is(err, ErrNotFound), errors.Is(err, ErrInvalidRequest), errors.Is(err, ErrForbidden):
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
		s.pushLocked(t, now.Add(retry.Jitter(s.cfg.LeaseTTL/2, 0.2)))
		return
	case outStoreError:
		t.last = ar.result
		t.storeErrs++
		s.log.Warn("scheduled attempt could not use the store", "tenant", t.id, "errors_in_a_row", t.storeErrs, "err", ar.result.Err)
		s.pushLocked(t, now.Add(s.cfg.Retry.internal().Delay(min(t.storeErrs, 32))))
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
		at := now.Add(s.cfg.Retry.internal().Delay(j.attempt))
		if ar.retryAt.After(at) {
			at = ar.retryAt // the provider said when it answers again
		}
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
		e.Val.queued = false
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
