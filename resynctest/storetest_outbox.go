package resynctest

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/openresync/resync"
	"github.com/openresync/resync/storage"
)

// The checks of the optional storage.Outbox capability. A store without
// it skips them.
//
// ClaimNotifications claims the notifications of every tenant, and
// newStore may hand out one database to every check: a check ignores (and
// leaves to their lease) the notifications of other checks' tenants, and
// settles its own before it returns.

var (
	ruleEnqueue = rule{"Outbox contract: notifications written with the state change", "package storage"}
	ruleClaim   = rule{"Outbox.ClaimNotifications contract", "package storage"}
	ruleSettle  = rule{"Outbox.SettleNotification contract", "package storage"}
	ruleObErase = rule{"Outbox contract: Prune and DeleteTenant", "package storage"}
)

func (e *storeEnv) outbox() (storage.Outbox, error) {
	o, ok := e.s.(storage.Outbox)
	if !ok {
		return nil, errSkipCheck
	}
	return o, nil
}

// note returns a notification of the tenant's run about kind, with values
// a store must keep exactly.
func note(tenant, runID, id string, kind resync.NotificationKind) resync.Notification {
	run := testRun(tenant, runID, "inst-1", resync.RunSucceeded, resync.TriggerAdhoc, baseTime)
	n := resync.Notification{ID: id, Kind: kind, Channel: resync.ChannelEmail, Tenant: tenant,
		Recipients: []resync.Principal{{ID: "u1", Email: "ada@example.com", Name: "Ada \"Admin\" Ünal"}, {ID: "u2", Email: "bob@example.com"}},
		Run:        run, At: baseTime.Add(time.Minute)}
	if kind == resync.NotifyChangesHeld || kind == resync.NotifyHeldDecided {
		n.Held = &resync.HeldSummary{ID: "held-1", Tenant: tenant, ConnectionID: "c1", RunID: runID, Removed: 3, Reason: "would remove 3 of 4", CreatedAt: baseTime}
	}
	return n
}

// noteDiff compares notifications as JSON, the form every store can keep.
func noteDiff(got, want resync.Notification) string {
	g, err1 := json.Marshal(got)
	w, err2 := json.Marshal(want)
	if err1 != nil || err2 != nil {
		return fmt.Sprintf("encoding: %v %v", err1, err2)
	}
	if string(g) != string(w) {
		return fmt.Sprintf("got %s, want %s", g, w)
	}
	return ""
}

// claimOwn claims for owner and returns the claimed notifications of the
// check's tenants, in the order returned.
func (e *storeEnv) claimOwn(o storage.Outbox, owner string, lease time.Duration, limit int) ([]resync.Notification, error) {
	ns, err := o.ClaimNotifications(e.ctx, owner, lease, limit)
	if err != nil {
		return nil, ruleClaim.errorf("ClaimNotifications: %v", err)
	}
	var own []resync.Notification
	for _, n := range ns {
		if strings.HasPrefix(n.Tenant, e.prefix) {
			own = append(own, n)
		}
	}
	return own, nil
}

func noteIDs(ns []resync.Notification) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = n.ID
	}
	return out
}

// settleAll marks the check's notifications delivered, so that they are
// left to no later check.
func (e *storeEnv) settleAll(o storage.Outbox, ns ...resync.Notification) {
	for _, n := range ns {
		_ = o.SettleNotification(e.ctx, n.Tenant, n.ID, "cleanup", 0, "")
	}
}

// checkOutboxEnqueue: each write with notifications stores them in its
// transaction, once per ID; a write that fails stores none.
func checkOutboxEnqueue(e *storeEnv) error {
	o, err := e.outbox()
	if err != nil {
		return err
	}
	ctx := e.ctx
	a := e.tenant("a")
	run := testRun(a, "run-1", "inst-1", resync.RunRunning, resync.TriggerAdhoc, baseTime)
	n1 := note(a, "run-1", "n1", resync.NotifyRunStarted)
	n1.Channel = resync.ChannelInApp
	if err := o.CreateRunNotify(ctx, run, []resync.Notification{n1}); err != nil {
		return ruleEnqueue.errorf("CreateRunNotify of a new run: %v", err)
	}
	if got, err := e.s.GetRun(ctx, a, "run-1"); err != nil || runDiff(got, run) != "" {
		return ruleEnqueue.errorf("CreateRunNotify stored the run as %+v (%v), want %+v", got, err, run)
	}
	n2 := note(a, "run-1", "n2", resync.NotifyRunStarted)
	if err := o.CreateRunNotify(ctx, run, []resync.Notification{n2}); !errors.Is(err, resync.ErrConflict) {
		return ruleEnqueue.errorf("CreateRunNotify of an existing run returned %v, want ErrConflict", err)
	}
	done := run
	done.Status, done.FinishedAt = resync.RunSucceeded, baseTime.Add(time.Minute)
	n3 := note(a, "run-1", "n3", resync.NotifyRunCompleted)
	if err := o.UpdateRunNotify(ctx, done, []resync.Notification{n1, n3}); err != nil {
		return ruleEnqueue.errorf("UpdateRunNotify: %v", err)
	}
	if got, err := e.s.GetRun(ctx, a, "run-1"); err != nil || runDiff(got, done) != "" {
		return ruleEnqueue.errorf("UpdateRunNotify stored the run as %+v (%v), want %+v", got, err, done)
	}
	ghost := testRun(a, "ghost", "inst-1", resync.RunSucceeded, resync.TriggerAdhoc, baseTime)
	n4 := note(a, "ghost", "n4", resync.NotifyRunCompleted)
	if err := o.UpdateRunNotify(ctx, ghost, []resync.Notification{n4}); !errors.Is(err, resync.ErrNotFound) {
		return ruleEnqueue.errorf("UpdateRunNotify of an unknown run returned %v, want ErrNotFound", err)
	}
	cs := heldSet(a, "c1", "held-1", baseTime)
	n5 := note(a, "run-1", "n5", resync.NotifyChangesHeld)
	if err := o.HoldNotify(ctx, cs, []resync.Notification{n5}); err != nil {
		return ruleEnqueue.errorf("HoldNotify: %v", err)
	}
	if _, err := e.s.GetHeld(ctx, a, "held-1"); err != nil {
		return ruleEnqueue.errorf("HoldNotify did not hold the change set: %v", err)
	}
	d := decision(resync.ConnRejected, 1)
	calls := 0
	var seen resync.HeldSummary
	n6 := note(a, "run-1", "n6", resync.NotifyHeldDecided)
	h, err := o.DecideHeldNotify(ctx, a, "held-1", d, func(h resync.HeldSummary) []resync.Notification {
		calls++
		seen = h
		return []resync.Notification{n6}
	})
	if err != nil {
		return ruleEnqueue.errorf("DecideHeldNotify: %v", err)
	}
	if calls != 1 || decidedDiff(seen, h) != "" || decisionDiff(h.Decision, d) != "" {
		return ruleEnqueue.errorf("DecideHeldNotify called ns %d times with %+v and returned %+v; want once, with the decided summary", calls, seen, h)
	}
	calls = 0
	n7 := note(a, "run-1", "n7", resync.NotifyHeldDecided)
	_, err = o.DecideHeldNotify(ctx, a, "held-1", d, func(resync.HeldSummary) []resync.Notification {
		calls++
		return []resync.Notification{n7}
	})
	if !errors.Is(err, resync.ErrConflict) || calls != 0 {
		return ruleEnqueue.errorf("DecideHeldNotify of a decided set returned %v and called ns %d times; want ErrConflict, no call", err, calls)
	}

	got, err := e.claimOwn(o, "A", time.Hour, 1000)
	if err != nil {
		return err
	}
	defer e.settleAll(o, got...)
	want := []resync.Notification{n1, n3, n5, n6}
	if !slices.Equal(noteIDs(got), noteIDs(want)) {
		return ruleEnqueue.errorf("claimed %v, want %v: each write's notifications, once each, oldest first, none of a failed write", noteIDs(got), noteIDs(want))
	}
	for i := range got {
		if got[i].Attempt != 1 {
			return ruleClaim.errorf("the first claim of %q gave Attempt %d, want 1", got[i].ID, got[i].Attempt)
		}
		got[i].Attempt = 0
		if diff := noteDiff(got[i], want[i]); diff != "" {
			return ruleEnqueue.errorf("notification %q does not round-trip: %s", want[i].ID, diff)
		}
	}
	return nil
}

// enqueueN stores a run of the tenant with n notifications and returns them.
func (e *storeEnv) enqueueN(o storage.Outbox, tenant string, n int) ([]resync.Notification, error) {
	run := testRun(tenant, "run-1", "inst-1", resync.RunSucceeded, resync.TriggerAdhoc, baseTime)
	var ns []resync.Notification
	for i := range n {
		ns = append(ns, note(tenant, "run-1", fmt.Sprintf("n%02d", i), resync.NotifyRunCompleted))
	}
	if err := o.CreateRunNotify(e.ctx, run, ns); err != nil {
		return nil, ruleEnqueue.errorf("CreateRunNotify: %v", err)
	}
	return ns, nil
}

// checkOutboxClaimLease: a claim leases due notifications, oldest first,
// to one owner; they are claimed again only once the lease expires.
func checkOutboxClaimLease(e *storeEnv) error {
	o, err := e.outbox()
	if err != nil {
		return err
	}
	a := e.tenant("a")
	ns, err := e.enqueueN(o, a, 3)
	if err != nil {
		return err
	}
	defer e.settleAll(o, ns...)
	first, err := e.claimOwn(o, "A", expiryTTL, 2)
	if err != nil {
		return err
	}
	if !slices.Equal(noteIDs(first), []string{"n00", "n01"}) {
		return ruleClaim.errorf("a claim of at most 2 returned %v, want [n00 n01] (oldest first)", noteIDs(first))
	}
	// Other checks' notifications may fill a small limit: claim wide.
	second, err := e.claimOwn(o, "B", time.Hour, 1000)
	if err != nil {
		return err
	}
	if !slices.Equal(noteIDs(second), []string{"n02"}) {
		return ruleClaim.errorf("another owner's claim returned %v, want [n02]: leased notifications are not claimed again", noteIDs(second))
	}
	var again []resync.Notification
	ok, err := eventually(e.ctx, func() (bool, error) {
		got, err := e.claimOwn(o, "B", time.Hour, 1000)
		again = append(again, got...)
		return len(again) >= 2, err
	})
	if err != nil {
		return err
	}
	if !ok || !slices.Equal(noteIDs(again), []string{"n00", "n01"}) {
		return ruleClaim.errorf("after A's lease of %s expired, B claimed %v within %s; want [n00 n01]", expiryTTL, noteIDs(again), expiryWait)
	}
	for _, n := range again {
		if n.Attempt != 2 {
			return ruleClaim.errorf("the second claim of %q gave Attempt %d, want 2", n.ID, n.Attempt)
		}
	}
	return nil
}

// checkOutboxSettle: delivered and given up notifications are claimed no
// more; a failed attempt makes one due again after retryAfter; a give-up
// is recorded on the run; only the lease holder records a failure.
func checkOutboxSettle(e *storeEnv) error {
	o, err := e.outbox()
	if err != nil {
		return err
	}
	ctx := e.ctx
	a := e.tenant("a")
	ns, err := e.enqueueN(o, a, 4)
	if err != nil {
		return err
	}
	defer e.settleAll(o, ns...)
	got, err := e.claimOwn(o, "A", expiryTTL, 1000)
	if err != nil {
		return err
	}
	if len(got) != 4 {
		return ruleClaim.errorf("claimed %v, want the 4 enqueued", noteIDs(got))
	}
	// n00 delivered (by another owner: delivery counts whoever reports it),
	// n01 failed for a while, n02 failed by an owner without the lease
	// (ignored), n03 given up.
	if err := o.SettleNotification(ctx, a, "n00", "Z", 0, ""); err != nil {
		return ruleSettle.errorf("settling a delivery: %v", err)
	}
	if err := o.SettleNotification(ctx, a, "n01", "A", time.Hour, "smtp: 451 later"); err != nil {
		return ruleSettle.errorf("settling a failed attempt: %v", err)
	}
	if err := o.SettleNotification(ctx, a, "n02", "Z", time.Hour, "not mine"); err != nil {
		return ruleSettle.errorf("settling another owner's notification: %v", err)
	}
	if err := o.SettleNotification(ctx, a, "n03", "A", 0, "smtp: 550 no such user"); err != nil {
		return ruleSettle.errorf("giving up: %v", err)
	}
	if err := o.SettleNotification(ctx, a, "nope", "A", 0, ""); !errors.Is(err, resync.ErrNotFound) {
		return ruleSettle.errorf("settling an unknown notification returned %v, want ErrNotFound", err)
	}
	run, err := e.s.GetRun(ctx, a, "run-1")
	if err != nil {
		return ruleSettle.errorf("GetRun: %v", err)
	}
	if !slices.Equal(run.NotifyErrors, []string{"smtp: 550 no such user"}) {
		return ruleSettle.errorf("after a give-up the run's NotifyErrors are %q, want the last error only", run.NotifyErrors)
	}
	// Once A's lease is over only n02 is due: n00 and n03 are settled,
	// n01 waits an hour.
	var later []resync.Notification
	ok, err := eventually(ctx, func() (bool, error) {
		got, err := e.claimOwn(o, "B", time.Hour, 1000)
		later = append(later, got...)
		return len(later) > 0, err
	})
	if err != nil {
		return err
	}
	if !ok || !slices.Equal(noteIDs(later), []string{"n02"}) {
		return ruleSettle.errorf("after the lease expired, claimed %v; want [n02] (n00 delivered, n01 not due, n03 given up)", noteIDs(later))
	}
	if err := o.SettleNotification(ctx, a, "n02", "B", expiryTTL, "timeout"); err != nil {
		return ruleSettle.errorf("settling a failed attempt: %v", err)
	}
	var retried []resync.Notification
	ok, err = eventually(ctx, func() (bool, error) {
		got, err := e.claimOwn(o, "C", time.Hour, 1000)
		retried = append(retried, got...)
		return len(retried) > 0, err
	})
	if err != nil {
		return err
	}
	if !ok || !slices.Equal(noteIDs(retried), []string{"n02"}) || retried[0].Attempt != 3 {
		return ruleSettle.errorf("a failed attempt due again after %s: claimed %v (attempt %d) within %s, want n02 at attempt 3",
			expiryTTL, noteIDs(retried), attemptOf(retried), expiryWait)
	}
	if err := o.SettleNotification(ctx, a, "n03", "A", 0, ""); err != nil {
		return ruleSettle.errorf("settling a given-up notification again: %v", err)
	}
	if run, err := e.s.GetRun(ctx, a, "run-1"); err != nil || len(run.NotifyErrors) != 1 {
		return ruleSettle.errorf("settling a settled notification changed the run: %q, %v", run.NotifyErrors, err)
	}
	return nil
}

func attemptOf(ns []resync.Notification) int {
	if len(ns) == 0 {
		return 0
	}
	return ns[0].Attempt
}

// checkOutboxConcurrentClaims: owners claiming at once each get other
// notifications.
func checkOutboxConcurrentClaims(e *storeEnv) error {
	o, err := e.outbox()
	if err != nil {
		return err
	}
	a := e.tenant("a")
	ns, err := e.enqueueN(o, a, 24)
	if err != nil {
		return err
	}
	defer e.settleAll(o, ns...)
	var mu sync.Mutex
	claimed := map[string][]string{}
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for w := range 4 {
		wg.Go(func() {
			owner := fmt.Sprintf("W%d", w)
			for range 20 {
				got, err := e.claimOwn(o, owner, time.Hour, 3)
				if err != nil {
					errs[w] = err
					return
				}
				mu.Lock()
				for _, n := range got {
					claimed[n.ID] = append(claimed[n.ID], owner)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	for _, n := range ns {
		if len(claimed[n.ID]) > 1 {
			return ruleClaim.errorf("notification %q was claimed by %v at once: each must go to one owner", n.ID, claimed[n.ID])
		}
	}
	return nil
}

// checkOutboxErase: Prune removes settled notifications settled before
// its cut-off and keeps pending ones; DeleteTenant removes every one.
func checkOutboxErase(e *storeEnv) error {
	o, err := e.outbox()
	if err != nil {
		return err
	}
	er, ok := e.s.(storage.Eraser)
	if !ok {
		return errSkipCheck
	}
	ctx := e.ctx
	a, b := e.tenant("a"), e.tenant("b")
	nsA, err := e.enqueueN(o, a, 2)
	if err != nil {
		return err
	}
	nsB, err := e.enqueueN(o, b, 1)
	if err != nil {
		return err
	}
	defer e.settleAll(o, append(nsA, nsB...)...)
	if err := o.SettleNotification(ctx, a, "n00", "A", 0, ""); err != nil {
		return ruleSettle.errorf("settling a delivery: %v", err)
	}
	if err := er.Prune(ctx, a, time.Now().Add(time.Hour)); err != nil {
		return ruleObErase.errorf("Prune: %v", err)
	}
	if err := o.SettleNotification(ctx, a, "n00", "A", 0, ""); !errors.Is(err, resync.ErrNotFound) {
		return ruleObErase.errorf("after Prune past its settling, settling a delivered notification returned %v, want ErrNotFound: Prune removes it", err)
	}
	if err := o.SettleNotification(ctx, a, "n01", "nobody", time.Hour, "probe"); err != nil {
		return ruleObErase.errorf("after Prune, a pending notification is gone (settling it returned %v): Prune keeps pending ones", err)
	}
	if err := er.DeleteTenant(ctx, a); err != nil {
		return ruleObErase.errorf("DeleteTenant: %v", err)
	}
	got, err := e.claimOwn(o, "A", time.Hour, 1000)
	if err != nil {
		return err
	}
	if !slices.Equal(noteIDs(got), []string{"n00"}) || got[0].Tenant != b {
		return ruleObErase.errorf("after Prune and DeleteTenant of %q claimed %v; want only the other tenant's n00 (a pending notification survives Prune, not DeleteTenant)", a, noteIDs(got))
	}
	return nil
}
