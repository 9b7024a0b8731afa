package resync

import (
	"container/heap"
	"fmt"
	"math"
	"runtime"
	"testing"
	"time"
)

// benchScheduler returns a scheduler (not started, no engine) holding n
// tenants on the default daily schedule, each in the heap at its first
// slot, and the bytes of heap it takes per tenant.
func benchScheduler(tb testing.TB, n int, now time.Time) (*Scheduler, float64) {
	tb.Helper()
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("tenant-%07d", i)
	}
	cfg := SchedulerConfig{Schedule: Daily(0, 0, time.UTC, 24*time.Hour), Scope: Scope{Kind: ScopeAll}, MaxConcurrent: 1, CatchUpWindow: time.Minute}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	s := newScheduler(cfg)
	for _, id := range ids {
		if err := s.Add(id, TenantConfig{}); err != nil {
			tb.Fatal(err)
		}
	}
	s.mu.Lock()
	for _, t := range s.tenants {
		// History known: the tenant waits for its slot, as after its
		// first catch-up check.
		t.firstSlot = t.sched.Next(now)
		t.loaded, t.slot, t.checkFrom = true, t.firstSlot, t.firstSlot
		s.pushLocked(t, t.firstSlot)
	}
	s.mu.Unlock()
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(s)
	return s, float64(after.HeapAlloc-before.HeapAlloc) / float64(n)
}

// BenchmarkSchedulerEvent measures the scheduler's own bookkeeping per
// scheduled event, without running a sync: take the earliest due tenant
// off the heap, record a successful attempt, compute its next slot and put
// it back (popDueLocked, jobLocked, completeLocked: the code the loop and
// an attempt's end run). It reports ns/op, allocs/op, ns per log2(n) (flat
// if the cost grows as log n) and bytes of heap per tenant.
func BenchmarkSchedulerEvent(b *testing.B) {
	for _, n := range []int{1_000, 10_000, 100_000} {
		b.Run(fmt.Sprintf("tenants=%d", n), func(b *testing.B) {
			start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			s, perTenant := benchScheduler(b, n, start)
			s.mu.Lock()
			defer s.mu.Unlock()
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				now, _ := s.nextDueLocked()
				t := s.popDueLocked(now)
				j := s.jobLocked(t, now)
				t.inflight = false
				s.completeLocked(t, j, attemptResult{out: outSucceeded, result: ScheduledResult{At: now, Attempt: 1}}, now)
			}
			b.StopTimer()
			if len(s.h) != n {
				b.Fatalf("heap holds %d tenants, want %d", len(s.h), n)
			}
			nsPerOp := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
			b.ReportMetric(nsPerOp/math.Log2(float64(n)), "ns/log2n")
			b.ReportMetric(perTenant, "B/tenant")
			b.ReportMetric(nsPerOp/bareHeapNs(n, b.N), "x-bare-heap")
		})
	}
}

// int64Heap is the bare baseline: a container/heap of n int64 keys.
type int64Heap []int64

func (h int64Heap) Len() int           { return len(h) }
func (h int64Heap) Less(i, j int) bool { return h[i] < h[j] }
func (h int64Heap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *int64Heap) Push(x any)        { *h = append(*h, x.(int64)) }
func (h *int64Heap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// bareHeapNs returns the ns per event of the least a heap scheduler does:
// replace the minimum of n int64 keys by a key one day later and restore
// the heap (heap.Fix at the root), iters times.
func bareHeapNs(n, iters int) float64 {
	h := make(int64Heap, n)
	for i := range h {
		h[i] = int64(i) * int64(24*time.Hour) / int64(n)
	}
	heap.Init(&h)
	start := time.Now()
	for range iters {
		h[0] += int64(24 * time.Hour)
		heap.Fix(&h, 0)
	}
	return float64(time.Since(start).Nanoseconds()) / float64(iters)
}

// TestSchedulerEventKeepsOrder checks what the benchmark relies on: events
// come off the heap in due order, and each tenant is back in the heap one
// day later.
func TestSchedulerEventKeepsOrder(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s, _ := benchScheduler(t, 500, start)
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := map[string]time.Time{}
	var prev time.Time
	for range 1500 {
		now, _ := s.nextDueLocked()
		if now.Before(prev) {
			t.Fatalf("event at %v after one at %v", now, prev)
		}
		prev = now
		tt := s.popDueLocked(now)
		if last, ok := seen[tt.id]; ok && now.Sub(last) != 24*time.Hour {
			t.Fatalf("tenant %s due %v after its last event, want 24h", tt.id, now.Sub(last))
		}
		seen[tt.id] = now
		j := s.jobLocked(tt, now)
		tt.inflight = false
		s.completeLocked(tt, j, attemptResult{out: outSucceeded, result: ScheduledResult{At: now, Attempt: 1}}, now)
	}
	if len(seen) != 500 || len(s.h) != 500 {
		t.Fatalf("saw %d tenants, heap holds %d; want 500", len(seen), len(s.h))
	}
}
