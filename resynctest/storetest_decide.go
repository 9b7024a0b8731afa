package resynctest

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/openresync/resync"
	"github.com/openresync/resync/storage"
)

// The checks of the optional storage.HeldDecider capability. A store
// without it skips them.

var (
	ruleDecide  = rule{"HeldDecider.DecideHeld contract", "package storage"}
	ruleDecided = rule{"HeldDecider.DecidedChangeSets contract", "package storage"}
)

// errSkipCheck makes TestStore skip a check: the store lacks the
// capability it checks.
var errSkipCheck = errors.New("resynctest: the store lacks the capability this check is about")

func (e *storeEnv) decider() (storage.HeldDecider, error) {
	d, ok := e.s.(storage.HeldDecider)
	if !ok {
		return nil, errSkipCheck
	}
	return d, nil
}

// decision returns a decision at baseTime plus n minutes and some
// nanoseconds, which a store must keep exactly.
func decision(kind resync.ConnectionStatus, n int) resync.Decision {
	return resync.Decision{Kind: kind, At: baseTime.Add(time.Duration(n)*time.Minute + 417*time.Nanosecond),
		By:     resync.Principal{ID: "u7", Email: "grace@example.com", Name: "Grace \"Admin\" Ünal"},
		Reason: fmt.Sprintf("checked with HR (%d) — ünïcode, \"quotes\"", n)}
}

func decisionDiff(got, want resync.Decision) string {
	if got.Kind != want.Kind || got.By != want.By || !got.At.Equal(want.At) || got.Reason != want.Reason {
		return fmt.Sprintf("got %+v, want %+v", got, want)
	}
	return ""
}

// decidedDiff compares a summary with its decision against want.
func decidedDiff(got, want resync.HeldSummary) string {
	if d := decisionDiff(got.Decision, want.Decision); d != "" {
		return "decision: " + d
	}
	g, w := got, want
	g.Decision, w.Decision = resync.Decision{}, resync.Decision{}
	return summaryDiff(g, w)
}

// checkDecideReject: a decision without an apply moves the set from held
// to decided and changes nothing else.
func checkDecideReject(e *storeEnv) error {
	d, err := e.decider()
	if err != nil {
		return err
	}
	ctx, s := e.ctx, e.s
	a := e.tenant("a")
	cs := heldSet(a, "c1", "held-1", baseTime)
	if err := s.Hold(ctx, cs); err != nil {
		return ruleHold.errorf("Hold: %v", err)
	}
	before, err := e.state(a, "c1")
	if err != nil {
		return err
	}
	want := storage.Summarize(cs)
	want.Decision = decision(resync.ConnRejected, 1)
	got, err := d.DecideHeld(ctx, a, "held-1", want.Decision)
	if err != nil {
		return ruleDecide.errorf("rejecting a held change set: %v", err)
	}
	if diff := decidedDiff(got, want); diff != "" {
		return ruleDecide.errorf("DecideHeld returned a summary that is not the set's with the decision: %s", diff)
	}
	if _, err := s.GetHeld(ctx, a, "held-1"); !errors.Is(err, resync.ErrNotFound) {
		return ruleDecide.errorf("GetHeld of a decided change set returned %v, want ErrNotFound", err)
	}
	if err := s.DiscardHeld(ctx, a, "held-1"); !errors.Is(err, resync.ErrNotFound) {
		return ruleDecide.errorf("DiscardHeld of a decided change set returned %v, want ErrNotFound", err)
	}
	after, err := e.state(a, "c1")
	if err != nil {
		return err
	}
	if len(after.held) != 0 {
		return ruleDecide.errorf("HeldChangeSets still lists the decided change set")
	}
	after.held = before.held
	if diff := stateDiff(before, after); diff != "" {
		return ruleDecide.errorf("a rejection changed %s", diff)
	}
	list, err := d.DecidedChangeSets(ctx, a, 10)
	if err != nil {
		return ruleDecided.errorf("DecidedChangeSets: %v", err)
	}
	if len(list) != 1 {
		return ruleDecided.errorf("DecidedChangeSets lists %d change sets, want 1", len(list))
	}
	if diff := decidedDiff(list[0], want); diff != "" {
		return ruleDecided.errorf("the decided change set does not round-trip: %s", diff)
	}
	return nil
}

// checkDecideApply: an approval applies the set as Apply would, in the
// same transaction as the decision.
func checkDecideApply(e *storeEnv) error {
	d, err := e.decider()
	if err != nil {
		return err
	}
	ctx, s := e.ctx, e.s
	a := e.tenant("a")
	old := []resync.Record{testIdentity("keep", 1), testIdentity("upd", 1), testIdentity("gone", 1)}
	var adds []resync.Change
	for _, r := range old {
		adds = append(adds, opAdd(r))
	}
	if err := e.apply(newChangeSet(a, "c1", "seed", "run0", 0, adds...)); err != nil {
		return err
	}
	cs := newChangeSet(a, "c1", "held-1", "run1", 1,
		opAdd(testAccount("new", 1)),
		opUpdate(testIdentity("upd", 2), resync.Fingerprint(old[1])),
		opRemove(resync.KindIdentity, "gone", resync.Fingerprint(old[2])))
	cs.HoldReason = "would remove 1 of 3"
	if err := s.Hold(ctx, cs); err != nil {
		return ruleHold.errorf("Hold: %v", err)
	}
	want := storage.Summarize(cs)
	want.Decision = decision(resync.ConnApplied, 2)
	got, err := d.DecideHeld(ctx, a, "held-1", want.Decision)
	if err != nil {
		return ruleDecide.errorf("approving a held change set at the snapshot's version: %v", err)
	}
	if diff := decidedDiff(got, want); diff != "" {
		return ruleDecide.errorf("DecideHeld returned %s", diff)
	}
	st, err := e.state(a, "c1")
	if err != nil {
		return err
	}
	if st.version != 2 {
		return ruleDecide.errorf("after an approval the version is %d, want 2 (applied as Apply applies)", st.version)
	}
	if _, ok := st.live[entryKey{resync.KindIdentity, "gone"}]; ok {
		return ruleDecide.errorf("an approved removal was not applied")
	}
	if st.live[entryKey{resync.KindIdentity, "upd"}] != resync.Fingerprint(testIdentity("upd", 2)) {
		return ruleDecide.errorf("an approved update was not applied")
	}
	if _, ok := st.live[entryKey{resync.KindAccount, "new"}]; !ok {
		return ruleDecide.errorf("an approved add was not applied")
	}
	n := 0
	for _, l := range st.log {
		if l.ChangeSetID == "held-1" {
			n++
		}
	}
	if n != 3 {
		return ruleDecide.errorf("the change log has %d entries of the approved change set, want 3", n)
	}
	if len(st.held) != 0 {
		return ruleDecide.errorf("an approved change set is still held")
	}
	list, err := d.DecidedChangeSets(ctx, a, 10)
	if err != nil {
		return ruleDecided.errorf("DecidedChangeSets: %v", err)
	}
	if len(list) != 1 || list[0].Decision.Kind != resync.ConnApplied {
		return ruleDecided.errorf("DecidedChangeSets lists %+v, want the approved set", list)
	}
	return nil
}

// checkDecideStale: an approval the snapshot moved past applies nothing and
// leaves the set held.
func checkDecideStale(e *storeEnv) error {
	d, err := e.decider()
	if err != nil {
		return err
	}
	ctx, s := e.ctx, e.s
	a := e.tenant("a")
	if err := e.apply(newChangeSet(a, "c1", "seed", "run0", 0, opAdd(testIdentity("x", 1)))); err != nil {
		return err
	}
	cs := newChangeSet(a, "c1", "held-stale", "run1", 0, opRemove(resync.KindIdentity, "x", 0))
	cs.HoldReason = "test"
	if err := s.Hold(ctx, cs); err != nil {
		return ruleHold.errorf("Hold: %v", err)
	}
	before, err := e.state(a, "c1")
	if err != nil {
		return err
	}
	if _, err := d.DecideHeld(ctx, a, cs.ID, decision(resync.ConnApplied, 1)); !errors.Is(err, resync.ErrConflict) {
		return ruleDecide.errorf("approving a change set held at version 0 of a snapshot at version 1 returned %v, want ErrConflict", err)
	}
	after, err := e.state(a, "c1")
	if err != nil {
		return err
	}
	if diff := stateDiff(before, after); diff != "" {
		return ruleDecide.errorf("a refused approval changed %s; it must change nothing and leave the set held", diff)
	}
	if list, err := d.DecidedChangeSets(ctx, a, 10); err != nil || len(list) != 0 {
		return ruleDecided.errorf("after a refused approval DecidedChangeSets lists %d sets (%v), want none", len(list), err)
	}
	if _, err := d.DecideHeld(ctx, a, cs.ID, decision(resync.ConnSuperseded, 2)); err != nil {
		return ruleDecide.errorf("superseding a held change set after a refused approval: %v", err)
	}
	return nil
}

// checkDecideOnce: a second decision, a decision on an absent set and one
// across tenants fail with the right sentinel and change nothing.
func checkDecideOnce(e *storeEnv) error {
	d, err := e.decider()
	if err != nil {
		return err
	}
	ctx, s := e.ctx, e.s
	a, b := e.tenant("a"), e.tenant("b")
	if _, err := d.DecideHeld(ctx, a, "nope", decision(resync.ConnRejected, 1)); !errors.Is(err, resync.ErrNotFound) {
		return ruleDecide.errorf("deciding on an absent change set returned %v, want ErrNotFound", err)
	}
	if err := s.Hold(ctx, heldSet(a, "c1", "held-1", baseTime)); err != nil {
		return ruleHold.errorf("Hold: %v", err)
	}
	if _, err := d.DecideHeld(ctx, b, "held-1", decision(resync.ConnRejected, 1)); !errors.Is(err, resync.ErrNotFound) {
		return ruleIsolation.errorf("deciding on another tenant's held change set returned %v, want ErrNotFound", err)
	}
	first := decision(resync.ConnRejected, 1)
	if _, err := d.DecideHeld(ctx, a, "held-1", first); err != nil {
		return ruleDecide.errorf("DecideHeld: %v", err)
	}
	for _, kind := range []resync.ConnectionStatus{resync.ConnApplied, resync.ConnRejected, resync.ConnSuperseded} {
		if _, err := d.DecideHeld(ctx, a, "held-1", decision(kind, 2)); !errors.Is(err, resync.ErrConflict) {
			return ruleDecide.errorf("a second decision (%s) on a decided change set returned %v, want ErrConflict", kind, err)
		}
	}
	list, err := d.DecidedChangeSets(ctx, a, 10)
	if err != nil || len(list) != 1 {
		return ruleDecided.errorf("DecidedChangeSets lists %d sets (%v), want 1", len(list), err)
	}
	if diff := decisionDiff(list[0].Decision, first); diff != "" {
		return ruleDecide.errorf("a refused second decision changed the first: %s", diff)
	}
	if list, err := d.DecidedChangeSets(ctx, b, 10); err != nil || len(list) != 0 {
		return ruleIsolation.errorf("DecidedChangeSets of another tenant lists %d sets (%v), want none", len(list), err)
	}
	// Later holds and applies on the connection leave the decided set alone.
	if err := s.Hold(ctx, heldSet(a, "c1", "held-2", baseTime.Add(time.Minute))); err != nil {
		return ruleHold.errorf("Hold after a decision: %v", err)
	}
	if err := e.apply(newChangeSet(a, "c1", "cs1", "run2", 0, opAdd(testIdentity("y", 1)))); err != nil {
		return err
	}
	if list, err := d.DecidedChangeSets(ctx, a, 10); err != nil || len(list) != 1 || list[0].ID != "held-1" {
		return ruleDecided.errorf("after a Hold and an Apply on the connection DecidedChangeSets lists %d sets (%v), want held-1 still", len(list), err)
	}
	return nil
}

// checkDecideConcurrent: of concurrent decisions on one set, exactly one
// wins, and an approval among the losers applies nothing.
func checkDecideConcurrent(e *storeEnv) error {
	d, err := e.decider()
	if err != nil {
		return err
	}
	a := e.tenant("a")
	const rounds, deciders = 5, 4
	for round := range rounds {
		conn := fmt.Sprintf("c%d", round)
		if err := e.apply(newChangeSet(a, conn, "seed", "run0", 0, opAdd(testIdentity("x", 1)))); err != nil {
			return err
		}
		heldID := fmt.Sprintf("held-%d", round)
		cs := newChangeSet(a, conn, heldID, "run1", 1, opRemove(resync.KindIdentity, "x", 0), opAdd(testGroup("g", 1)))
		cs.HoldReason = "test"
		if err := e.s.Hold(e.ctx, cs); err != nil {
			return ruleHold.errorf("Hold: %v", err)
		}
		errs := make([]error, deciders)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range deciders {
			kind := resync.ConnApplied
			if i%2 == 1 {
				kind = resync.ConnRejected
			}
			wg.Go(func() {
				<-start
				_, errs[i] = d.DecideHeld(e.ctx, a, heldID, decision(kind, i))
			})
		}
		close(start)
		wg.Wait()
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil && winner < 0:
				winner = i
			case err == nil:
				return ruleConcurrency.errorf("two concurrent decisions on one held change set both succeeded; exactly one must")
			case !errors.Is(err, resync.ErrConflict):
				return ruleConcurrency.errorf("a concurrent decision returned %v, want nil or an error wrapping ErrConflict", err)
			}
		}
		if winner < 0 {
			return ruleConcurrency.errorf("%d concurrent decisions on one held change set all failed (%v); exactly one must succeed", deciders, errs)
		}
		st, err := e.state(a, conn)
		if err != nil {
			return err
		}
		wantVersion := int64(1)
		if winner%2 == 0 {
			wantVersion = 2
		}
		if st.version != wantVersion {
			return ruleConcurrency.errorf("after concurrent decisions won by decider %d the version is %d, want %d", winner, st.version, wantVersion)
		}
		list, err := d.DecidedChangeSets(e.ctx, a, 100)
		if err != nil {
			return ruleDecided.errorf("DecidedChangeSets: %v", err)
		}
		found := 0
		for _, h := range list {
			if h.ConnectionID == conn {
				found++
				if diff := decisionDiff(h.Decision, decision(h.Decision.Kind, winner)); diff != "" {
					return ruleConcurrency.errorf("the stored decision is not the winner's: %s", diff)
				}
			}
		}
		if found != 1 {
			return ruleConcurrency.errorf("DecidedChangeSets lists the set of connection %q %d times, want once", conn, found)
		}
	}
	return nil
}

// checkDecidedOrder: newest decision first, ties by ID descending, at most
// limit.
func checkDecidedOrder(e *storeEnv) error {
	d, err := e.decider()
	if err != nil {
		return err
	}
	a := e.tenant("a")
	// Decided at minutes 3, 1, 2, 2 (a tie broken by ID).
	for i, sp := range []struct {
		id  string
		min int
	}{{"h-a", 3}, {"h-b", 1}, {"h-c", 2}, {"h-d", 2}} {
		if err := e.s.Hold(e.ctx, heldSet(a, fmt.Sprintf("c%d", i), sp.id, baseTime)); err != nil {
			return ruleHold.errorf("Hold: %v", err)
		}
		if _, err := d.DecideHeld(e.ctx, a, sp.id, decision(resync.ConnRejected, sp.min)); err != nil {
			return ruleDecide.errorf("DecideHeld(%q): %v", sp.id, err)
		}
	}
	list, err := d.DecidedChangeSets(e.ctx, a, 3)
	if err != nil {
		return ruleDecided.errorf("DecidedChangeSets: %v", err)
	}
	var ids []string
	for _, h := range list {
		ids = append(ids, h.ID)
	}
	if fmt.Sprint(ids) != "[h-a h-d h-c]" {
		return ruleDecided.errorf("DecidedChangeSets(limit 3) lists %v, want [h-a h-d h-c] (newest decision first, then ID descending)", ids)
	}
	return nil
}
