package resynctest

import (
	"slices"
	"time"

	"github.com/openresync/resync/storage"
)

var ruleNoteLog = rule{"NotificationLog.Notifications contract", "package storage"}

// checkNotificationLog: a tenant's notifications are listed in enqueue
// order with increasing Seq, delivered or not, paged by afterSeq, the
// last ones by a negative afterSeq, exactly as enqueued, and no other
// tenant's.
func checkNotificationLog(e *storeEnv) error {
	o, err := e.outbox()
	if err != nil {
		return err
	}
	log, ok := e.s.(storage.NotificationLog)
	if !ok {
		return errSkipCheck
	}
	a, b := e.tenant("a"), e.tenant("b")
	want, err := e.enqueueN(o, a, 5)
	if err != nil {
		return err
	}
	others, err := e.enqueueN(o, b, 2)
	if err != nil {
		return err
	}
	// Deliver some of a's and b's: the log keeps them.
	got, err := e.claimOwn(o, "L", time.Hour, 1000)
	if err != nil {
		return err
	}
	e.settleAll(o, got...)
	defer e.settleAll(o, others...)

	all, err := log.Notifications(e.ctx, a, 0, 100)
	if err != nil {
		return ruleNoteLog.errorf("Notifications(%q, 0, 100): %v", a, err)
	}
	if !slices.Equal(noteIDs(all), noteIDs(want)) {
		return ruleNoteLog.errorf("listed %v, want %v: the tenant's notifications, delivered ones too, in enqueue order, no other tenant's", noteIDs(all), noteIDs(want))
	}
	for i, n := range all {
		if n.Seq <= 0 || i > 0 && n.Seq <= all[i-1].Seq {
			return ruleNoteLog.errorf("Seq of %q is %d after %d: want positive and increasing", n.ID, n.Seq, all[max(i-1, 0)].Seq)
		}
		n.Seq = 0
		if diff := noteDiff(n, want[i]); diff != "" {
			return ruleNoteLog.errorf("notification %q does not round-trip: %s", n.ID, diff)
		}
	}
	page, err := log.Notifications(e.ctx, a, all[1].Seq, 2)
	if err != nil {
		return ruleNoteLog.errorf("Notifications after Seq %d: %v", all[1].Seq, err)
	}
	if !slices.Equal(noteIDs(page), noteIDs(want[2:4])) {
		return ruleNoteLog.errorf("after the second, two: listed %v, want %v", noteIDs(page), noteIDs(want[2:4]))
	}
	last, err := log.Notifications(e.ctx, a, -1, 2)
	if err != nil {
		return ruleNoteLog.errorf("Notifications(-1, 2): %v", err)
	}
	if !slices.Equal(noteIDs(last), noteIDs(want[3:])) || last[1].Seq != all[4].Seq {
		return ruleNoteLog.errorf("the last two: listed %v, want %v, oldest first", noteIDs(last), noteIDs(want[3:]))
	}
	none, err := log.Notifications(e.ctx, a, all[4].Seq, 10)
	if err != nil || len(none) != 0 {
		return ruleNoteLog.errorf("after the last: listed %v (%v), want none", noteIDs(none), err)
	}
	if er, ok := e.s.(storage.Eraser); ok {
		if err := er.DeleteTenant(e.ctx, a); err != nil {
			return ruleNoteLog.errorf("DeleteTenant: %v", err)
		}
		gone, err := log.Notifications(e.ctx, a, 0, 10)
		if err != nil || len(gone) != 0 {
			return ruleNoteLog.errorf("after DeleteTenant: listed %v (%v), want none", noteIDs(gone), err)
		}
		kept, err := log.Notifications(e.ctx, b, 0, 10)
		if err != nil || !slices.Equal(noteIDs(kept), noteIDs(others)) {
			return ruleNoteLog.errorf("another tenant after DeleteTenant(%q): listed %v (%v), want %v", a, noteIDs(kept), err, noteIDs(others))
		}
	}
	return nil
}
