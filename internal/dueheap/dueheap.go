// Package dueheap is the min-heap of due times that resync's schedulers
// keep their tenants in (the in-process Scheduler and the River
// executor's schedule): each event costs O(log n), and nothing scans the
// tenants.
//
// An entry carries its key inline (due time, tie-break), so that sifting
// reads only the entries' contiguous array, never the tenants' state. An
// owner that moves or removes a tenant does not search the heap: it bumps
// the tenant's sequence number, and the older entry, now stale, is dropped
// when it comes to the top (PopDue, with the owner's test of a live
// entry) or when the owner compacts the heap with Filter.
package dueheap

// Entry is one scheduled event of Val.
type Entry[T any] struct {
	Due int64  // when, in UnixNano
	Ord uint32 // tie-break among entries due at the same instant
	Seq uint32 // the owner's count of pushes for Val when this was pushed
	Val T
}

// Heap is a min-heap of entries by Due, then Ord. The zero Heap is empty
// and ready to use.
type Heap[T any] []Entry[T]

func (h Heap[T]) less(i, j int) bool {
	if h[i].Due != h[j].Due {
		return h[i].Due < h[j].Due
	}
	return h[i].Ord < h[j].Ord
}

// Push adds e: O(log n).
func (h *Heap[T]) Push(e Entry[T]) {
	*h = append(*h, e)
	h.up(len(*h) - 1)
}

// Top returns the earliest entry; ok is false when the heap is empty.
func (h Heap[T]) Top() (e Entry[T], ok bool) {
	if len(h) == 0 {
		return e, false
	}
	return h[0], true
}

// Pop removes and returns the earliest entry: O(log n). The heap must not
// be empty.
func (h *Heap[T]) Pop() Entry[T] {
	old := *h
	n := len(old) - 1
	e := old[0]
	old[0] = old[n]
	old[n] = Entry[T]{} // drop the reference to Val
	*h = old[:n]
	if n > 0 {
		h.down(0)
	}
	return e
}

// PopDue removes and returns the earliest live entry due at limit (Due
// <= limit), dropping the stale entries (live false) before it; ok is
// false when none is due. dropped counts the stale entries dropped.
func (h *Heap[T]) PopDue(limit int64, live func(Entry[T]) bool) (e Entry[T], dropped int, ok bool) {
	for len(*h) > 0 && (*h)[0].Due <= limit {
		e := h.Pop()
		if live(e) {
			return e, dropped, true
		}
		dropped++
	}
	return Entry[T]{}, dropped, false
}

// Filter keeps the entries for which keep is true, and restores the heap:
// O(n). Owners call it when stale entries outnumber live ones.
func (h *Heap[T]) Filter(keep func(Entry[T]) bool) {
	old := *h
	live := old[:0]
	for _, e := range old {
		if keep(e) {
			live = append(live, e)
		}
	}
	clear(old[len(live):])
	*h = live
	for i := len(live)/2 - 1; i >= 0; i-- {
		h.down(i)
	}
}

func (h Heap[T]) up(j int) {
	for j > 0 {
		i := (j - 1) / 2
		if !h.less(j, i) {
			return
		}
		h[i], h[j] = h[j], h[i]
		j = i
	}
}

func (h Heap[T]) down(i int) {
	n := len(h)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		j := l
		if r := l + 1; r < n && h.less(r, l) {
			j = r
		}
		if !h.less(j, i) {
			return
		}
		h[i], h[j] = h[j], h[i]
		i = j
	}
}
