package resync

import (
	"time"

	"github.com/openresync/resync/internal/dueheap"
)

// initLocked puts a tenant in the heap for its first event: the catch-up
// check at its offset within CatchUpWindow, or its first slot if earlier.
func (s *Scheduler) initLocked(t *schedTenant, now time.Time) {
	t.loaded, t.attempt, t.retry = false, 0, false
	t.slot, t.checkFrom = time.Time{}, time.Time{}
	t.firstSlot = t.sched.Next(now)
	due := now.Add(tenantOffset(t.id, s.cfg.CatchUpWindow))
	if !t.firstSlot.IsZero() && t.firstSlot.Before(due) {
		due = t.firstSlot
	}
	s.pushLocked(t, due)
}

// pushLocked (re)schedules t at due: O(log n). An earlier entry of t in
// the heap becomes stale; it is dropped when it comes to the top.
func (s *Scheduler) pushLocked(t *schedTenant, due time.Time) {
	s.removeLocked(t)
	if s.ended {
		return
	}
	t.seq++
	t.due, t.queued = due, true
	s.h.Push(heapEntry{Due: due.UnixNano(), Ord: t.ord, Seq: t.seq, Val: t})
}

// removeLocked takes t out of the schedule. Its heap entry goes stale;
// when stale entries outnumber live ones the heap is rebuilt, so
// Update and Remove cost O(log n) amortized.
func (s *Scheduler) removeLocked(t *schedTenant) {
	if !t.queued {
		return
	}
	t.queued = false
	s.stale++
	if s.stale > 64 && s.stale > len(s.h)/2 {
		s.h.Filter(liveEntry)
		s.stale = 0
	}
}

// popDueLocked removes and returns the earliest tenant if it is due at
// now, else nil. Stale entries on the way are dropped.
func (s *Scheduler) popDueLocked(now time.Time) *schedTenant {
	e, dropped, ok := s.h.PopDue(now.UnixNano(), liveEntry)
	s.stale -= dropped
	if !ok {
		return nil
	}
	e.Val.queued = false
	return e.Val
}

// nextDueLocked returns the earliest due time in the heap, or false.
// It may be a stale entry's: the loop then wakes up early and drops it.
func (s *Scheduler) nextDueLocked() (time.Time, bool) {
	e, ok := s.h.Top()
	if !ok {
		return time.Time{}, false
	}
	return time.Unix(0, e.Due), true
}

// heapEntry is one scheduled event of a tenant (see package dueheap: the
// key is inline, so that heap operations never read the tenants' state,
// which would cost a cache miss per level at 100k tenants).
type heapEntry = dueheap.Entry[*schedTenant]

// liveEntry reports whether the entry is its tenant's current one.
func liveEntry(e heapEntry) bool { return e.Val.queued && e.Val.seq == e.Seq }
