//go:build unix

package resync

import (
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openresync/resync/internal/cputime"
)

// The diff benchmark: a connection of benchN identities whose fresh read
// has 1% changed (0.4% updated, 0.3% added, 0.3% removed), diffed exactly
// as the engine does. Snapshot entries and read pages are generated inside
// the timed loop, as a store and a connector would produce them, so the
// heap figures count what the diff keeps and not pre-built input.
const (
	benchN        = 1_000_000
	benchPageSize = 1000
)

var (
	benchNames  = poolOf(64, "Firstname Lastname ", 4)
	benchDepts  = poolOf(16, "Department ", 2)
	benchTitles = poolOf(32, "Senior Software Engineer ", 2)
	benchGroups = func() [][]string {
		out := make([][]string, 16)
		for i := range out {
			out[i] = []string{benchKey(9_000_000 + i), benchKey(9_000_100 + i), benchKey(9_000_200 + i%4)}
		}
		return out
	}()
	benchAttrs = func() []map[string]string {
		out := make([]map[string]string, 16)
		for i := range out {
			out[i] = map[string]string{"costCenter": "CC-" + benchDepts[i], "location": "Office " + benchNames[i][:9], "employeeType": "Full-time"}
		}
		return out
	}()
	benchStart = time.Date(2021, 4, 1, 0, 0, 0, 0, time.UTC)
)

func poolOf(n int, prefix string, digits int) []string {
	out := make([]string, n)
	for i := range out {
		d := strconv.Itoa(i)
		out[i] = prefix + strings.Repeat("0", max(digits-len(d), 0)) + d
	}
	return out
}

// benchKey returns an Okta-style 20-byte user ID for i.
func benchKey(i int) string {
	var b [20]byte
	benchKeyTo(b[:], i)
	return string(b[:])
}

func benchKeyTo(b []byte, i int) {
	copy(b, "00u")
	for j := 19; j >= 3; j-- {
		b[j] = byte('0' + i%10)
		i /= 10
	}
}

var benchManagers = func() []string {
	out := make([]string, 1024)
	for i := range out {
		out[i] = benchKey(7_000_000 + i)
	}
	return out
}()

const benchEmailDomain = "@example.com"

// benchIdentity is record i of the connection; version 1 differs in its
// title. Key and email share one allocation, as decoded strings often do;
// the other strings come from small pools, as repeated values do.
func benchIdentity(i, version int) *Identity {
	var b [20 + 5 + 17 + len(benchEmailDomain)]byte
	benchKeyTo(b[:20], i)
	copy(b[20:], "user.")
	copy(b[25:], b[3:20])
	copy(b[42:], benchEmailDomain)
	s := string(b[:])
	return &Identity{
		Key: s[:20], Email: s[20:], Name: benchNames[i%64], Status: StatusActive,
		Manager: benchManagers[(i/16)%1024], Department: benchDepts[i%16], Title: benchTitles[(i+version)%32],
		StartDate: benchStart.Add(time.Duration(i%1500) * 24 * time.Hour),
		Groups:    benchGroups[i%16], Attributes: benchAttrs[(i/16)%16],
	}
}

// The fresh read, by position in the snapshot: per 1000 records, 4 updated,
// 3 removed; and 3 new records added.
func benchUpdated(i int) bool { return i%1000 < 4 }
func benchRemoved(i int) bool { return i%1000 >= 4 && i%1000 < 7 }
func benchAdded(i int) bool   { return i%1000 >= 7 && i%1000 < 10 }

var (
	benchFPOnce sync.Once
	benchFPs    []uint64
)

// benchFingerprints are the stored fingerprints, computed once; a store
// keeps them, so they are input, not diff state.
func benchFingerprints() []uint64 {
	benchFPOnce.Do(func() {
		benchFPs = make([]uint64, benchN)
		for i := range benchFPs {
			benchFPs[i] = Fingerprint(benchIdentity(i, 0))
		}
	})
	return benchFPs
}

// readPages yields the fresh read page by page, as a connector would.
func readPages(fn func(page []Record)) int {
	page := make([]Record, 0, benchPageSize)
	n := 0
	flush := func() {
		fn(page)
		n += len(page)
		page = make([]Record, 0, benchPageSize) // the engine owns returned records
	}
	for i := range benchN {
		switch {
		case benchRemoved(i):
		case benchUpdated(i):
			page = append(page, benchIdentity(i, 1))
		default:
			page = append(page, benchIdentity(i, 0))
		}
		if benchAdded(i) {
			page = append(page, benchIdentity(benchN+i, 0))
		}
		if len(page) >= benchPageSize {
			flush()
		}
	}
	if len(page) > 0 {
		flush()
	}
	return n
}

// heapPeak samples the heap's object bytes until stopped and returns the peak.
type heapPeak struct {
	stop chan struct{}
	done chan uint64
}

const heapMetric = "/memory/classes/heap/objects:bytes"

func heapObjects() uint64 {
	s := []metrics.Sample{{Name: heapMetric}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

func startHeapPeak() *heapPeak {
	h := &heapPeak{stop: make(chan struct{}), done: make(chan uint64, 1)}
	go func() {
		s := []metrics.Sample{{Name: heapMetric}}
		var peak uint64
		t := time.NewTicker(200 * time.Microsecond)
		defer t.Stop()
		for {
			metrics.Read(s)
			peak = max(peak, s[0].Value.Uint64())
			select {
			case <-h.stop:
				h.done <- peak
				return
			case <-t.C:
			}
		}
	}()
	return h
}

func (h *heapPeak) end() uint64 {
	close(h.stop)
	return <-h.done
}

var benchBaselineNsPerOp, benchBaselineCPUPerOp, benchGenerateCPUPerOp float64

func BenchmarkDiff(b *testing.B) {
	fps := benchFingerprints()

	// measure runs body b.N times, each after a GC, and reports records/s
	// and heap per snapshot record above the pre-run heap: peak-B/record is
	// the highest sampled during the run (garbage not yet collected
	// included, as a real resync has it), live-B/record what body's result
	// still holds after a GC.
	measure := func(b *testing.B, body func() any) (cpuPerOp float64) {
		var peakSum, liveSum, cpuSum float64
		var keep any
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			b.StopTimer()
			keep = nil
			runtime.GC()
			base := heapObjects()
			hp := startHeapPeak()
			cpu0 := cputime.Process()
			b.StartTimer()
			keep = body()
			b.StopTimer()
			cpuSum += (cputime.Process() - cpu0).Seconds()
			peak := hp.end()
			runtime.GC()
			live := heapObjects()
			runtime.KeepAlive(keep)
			peakSum += float64(peak) - float64(base)
			liveSum += float64(live) - float64(base)
			b.StartTimer()
		}
		b.ReportMetric(float64(benchN)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
		b.ReportMetric(float64(benchN)*float64(b.N)/cpuSum, "records/cpu-s")
		b.ReportMetric(peakSum/float64(b.N)/benchN, "peak-B/record")
		b.ReportMetric(liveSum/float64(b.N)/benchN, "live-B/record")
		return cpuSum / float64(b.N)
	}

	b.Run("generate", func(b *testing.B) {
		// Only what the other two share: making the snapshot keys and the
		// read's pages, so that their difference isolates the diff itself.
		benchGenerateCPUPerOp = measure(b, func() any {
			keys := 0
			for i := range benchN {
				keys += len(benchKey(i))
			}
			n := readPages(func([]Record) {})
			if n != benchN || keys != 20*benchN {
				b.Fatalf("read %d", n)
			}
			return nil
		})
	})

	b.Run("baseline", func(b *testing.B) {
		// A plain map of key to fingerprint, built and probed with the same
		// generated snapshot keys and read pages.
		cpu := measure(b, func() any {
			m := make(map[string]uint64)
			for i := range benchN {
				m[benchKey(i)] = fps[i]
			}
			hits := 0
			readPages(func(page []Record) {
				for _, r := range page {
					if _, ok := m[r.recordKey()]; ok {
						hits++
					}
				}
			})
			if hits != benchN-3*benchN/1000 {
				b.Fatalf("hits %d", hits)
			}
			return m
		})
		benchBaselineNsPerOp = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
		benchBaselineCPUPerOp = cpu
	})

	for _, warm := range []bool{false, true} {
		name := "differ"
		hint := 0
		if warm {
			// A steady-state engine knows the connection's size from its
			// previous read and builds the snapshot index without growing.
			name, hint = "differ-warm", benchN
		}
		b.Run(name, func(b *testing.B) {
			cpu := measure(b, func() any {
				d := newDiffer(Limits{}, hint)
				for i := range benchN {
					if err := d.addSnapshot(KindIdentity, benchKey(i), fps[i], 0); err != nil {
						b.Fatal(err)
					}
				}
				read := readPages(func(page []Record) {
					for _, r := range page {
						d.observe(r)
					}
				})
				res := d.finish()
				if res.added != 3*benchN/1000 || res.updated != 4*benchN/1000 || res.removed != 3*benchN/1000 || res.rejected != 0 || read != benchN {
					b.Fatalf("diff: +%d ~%d -%d rejected %d, read %d", res.added, res.updated, res.removed, res.rejected, read)
				}
				return []any{d, res} // keep the differ's state for the live figure
			})
			if benchBaselineNsPerOp > 0 {
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/benchBaselineNsPerOp, "x-baseline")
				b.ReportMetric(cpu/benchBaselineCPUPerOp, "cpu-x-baseline")
			}
			if benchGenerateCPUPerOp > 0 && cpu > benchGenerateCPUPerOp {
				b.ReportMetric(benchN/(cpu-benchGenerateCPUPerOp), "diff-only-records/cpu-s")
			}
		})
	}
}
