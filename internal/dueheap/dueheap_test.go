package dueheap

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// Entries come out in (Due, Ord) order whatever order they went in, with
// Filter in between.
func TestOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var h Heap[int]
	var want []Entry[int]
	for i := range 2000 {
		e := Entry[int]{Due: rng.Int64N(500), Ord: uint32(i), Val: i}
		h.Push(e)
		want = append(want, e)
		if i == 1000 {
			h.Filter(func(e Entry[int]) bool { return e.Val%3 != 0 })
			want = slices.DeleteFunc(want, func(e Entry[int]) bool { return e.Val%3 == 0 })
		}
	}
	slices.SortFunc(want, func(a, b Entry[int]) int {
		if a.Due != b.Due {
			return int(a.Due - b.Due)
		}
		return int(a.Ord) - int(b.Ord)
	})
	var got []Entry[int]
	for len(h) > 0 {
		top, ok := h.Top()
		if !ok {
			t.Fatal("Top on a non-empty heap")
		}
		e := h.Pop()
		if e != top {
			t.Fatalf("Pop %v, Top said %v", e, top)
		}
		got = append(got, e)
	}
	if !slices.Equal(want, got) {
		t.Fatalf("popped out of order")
	}
	if _, ok := h.Top(); ok {
		t.Fatal("Top on an empty heap")
	}
}

// Pushing and popping allocates nothing once the array has grown.
func TestNoAllocs(t *testing.T) {
	var h Heap[*int]
	v := new(int)
	for i := range 64 {
		h.Push(Entry[*int]{Due: int64(i), Val: v})
	}
	allocs := testing.AllocsPerRun(100, func() {
		e := h.Pop()
		e.Due += 64
		h.Push(e)
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per pop and push", allocs)
	}
}

// PopDue returns the earliest live entry due, dropping the stale ones
// before it, and nothing not yet due.
func TestPopDue(t *testing.T) {
	var h Heap[string]
	for i, v := range []string{"stale-a", "live-b", "stale-c", "live-d"} {
		h.Push(Entry[string]{Due: int64(i + 1), Val: v})
	}
	live := func(e Entry[string]) bool { return e.Val[:4] == "live" }
	e, dropped, ok := h.PopDue(10, live)
	if !ok || e.Val != "live-b" || dropped != 1 {
		t.Fatalf("PopDue = %q, %d dropped, %v; want live-b, 1, true", e.Val, dropped, ok)
	}
	if _, dropped, ok := h.PopDue(3, live); ok || dropped != 1 {
		t.Fatalf("PopDue(3) = %d dropped, %v; want stale-c dropped and live-d not due", dropped, ok)
	}
	if e, _, ok := h.PopDue(4, live); !ok || e.Val != "live-d" {
		t.Fatalf("PopDue(4) = %q, %v; want live-d", e.Val, ok)
	}
	if _, _, ok := h.PopDue(100, live); ok || len(h) != 0 {
		t.Fatal("an empty heap pops nothing")
	}
}
