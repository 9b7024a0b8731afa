package resync

import (
	"container/heap"
	"time"
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
	s.h = append(s.h, heapEntry{due: due.UnixNano(), ord: t.ord, seq: t.seq, t: t})
	heap.Fix(&s.h, len(s.h)-1)
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
		live := s.h[:0]
		for _, e := range s.h {
			if e.live() {
				live = append(live, e)
			}
		}
		clear(s.h[len(live):])
		s.h = live
		s.stale = 0
		heap.Init(&s.h)
	}
}

// popDueLocked removes and returns the earliest tenant if it is due at
// now, else nil. Stale entries on the way are dropped.
func (s *Scheduler) popDueLocked(now time.Time) *schedTenant {
	limit := now.UnixNano()
	for len(s.h) > 0 && s.h[0].due <= limit {
		e := s.h[0]
		n := len(s.h) - 1
		s.h[0] = s.h[n]
		s.h[n] = heapEntry{}
		s.h = s.h[:n]
		if n > 0 {
			heap.Fix(&s.h, 0)
		}
		if !e.live() {
			s.stale--
			continue
		}
		e.t.queued = false
		return e.t
	}
	return nil
}

// nextDueLocked returns the earliest due time in the heap, or false.
// It may be a stale entry's: the loop then wakes up early and drops it.
func (s *Scheduler) nextDueLocked() (time.Time, bool) {
	if len(s.h) == 0 {
		return time.Time{}, false
	}
	return time.Unix(0, s.h[0].due), true
}

// heapEntry is one scheduled event. The key is stored inline, so that
// heap operations read only the entries' contiguous array and never the
// tenants' state (which would cost a cache miss per level at 100k tenants).
type heapEntry struct {
	due int64 // UnixNano
	ord uint32
	seq uint32
	t   *schedTenant
}

// live reports whether the entry is the tenant's current one.
func (e heapEntry) live() bool { return e.t.queued && e.t.seq == e.seq }

// tenantHeap is a min-heap of events by due time, for container/heap.
// Push and Pop are there for the interface; the scheduler appends and
// removes entries itself and calls heap.Fix, which does not box them.
type tenantHeap []heapEntry

func (h tenantHeap) Len() int { return len(h) }
func (h tenantHeap) Less(i, j int) bool {
	if h[i].due != h[j].due {
		return h[i].due < h[j].due
	}
	return h[i].ord < h[j].ord
}
func (h tenantHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *tenantHeap) Push(x any)   { *h = append(*h, x.(heapEntry)) }
func (h *tenantHeap) Pop() any {
	old := *h
	n := len(old)
	e := old[n-1]
	old[n-1] = heapEntry{}
	*h = old[:n-1]
	return e
}
