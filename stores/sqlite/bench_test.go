package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/openresync/resync"
	"github.com/openresync/resync/internal/cputime"
	"github.com/openresync/resync/resynctest"
	"github.com/openresync/resync/storage"
	"github.com/openresync/resync/stores/sqlite"
)

// bareTable has the columns of the records table and the same primary key.
const bareTable = `CREATE TABLE bare (
	tenant TEXT NOT NULL, connection_id TEXT NOT NULL, kind INTEGER NOT NULL, key TEXT NOT NULL,
	fingerprint INTEGER NOT NULL, data BLOB NOT NULL, updated_at INTEGER NOT NULL, updated_by TEXT NOT NULL,
	removed_at INTEGER, removed_by TEXT,
	PRIMARY KEY (tenant, connection_id, kind, key))`

// bareInsert inserts the change set's records into the bare table of the
// database at path (with the pragmas of the Store's write connection): one transaction, one prepared single-row insert, the
// JSON encoded beforehand (not timed). It returns the wall and CPU time taken.
func bareInsert(b *testing.B, path string, cs *resync.ChangeSet) (time.Duration, time.Duration) {
	b.Helper()
	data := make([][]byte, len(cs.Changes))
	for i, c := range cs.Changes {
		var err error
		data[i], err = storage.EncodeRecord(c.Record)
		require.NoError(b, err)
	}
	db, err := sql.Open("sqlite", path+"?_busy_timeout=10000&_journal_mode=WAL&_synchronous=NORMAL&_pragma=cache_size(-65536)")
	require.NoError(b, err)
	defer db.Close()
	db.SetMaxOpenConns(1)
	_, err = db.Exec(bareTable)
	require.NoError(b, err)
	now := time.Now().UnixNano()

	start, cpu := time.Now(), cputime.Process()
	tx, err := db.Begin()
	require.NoError(b, err)
	st, err := tx.Prepare(`INSERT INTO bare (tenant, connection_id, kind, key, fingerprint, data, updated_at, updated_by, removed_at, removed_by)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL)`)
	require.NoError(b, err)
	for i, c := range cs.Changes {
		_, err := st.Exec(cs.Tenant, cs.ConnectionID, int64(storage.KindCode(c.Kind)), c.Key, int64(c.Fingerprint), data[i], now, cs.RunID)
		require.NoError(b, err)
	}
	require.NoError(b, st.Close())
	require.NoError(b, tx.Commit())
	return time.Since(start), cputime.Process() - cpu
}

// heapSampler records the peak of live heap objects while it runs.
type heapSampler struct {
	stop chan struct{}
	wg   sync.WaitGroup
	peak uint64
}

func sampleHeap() *heapSampler {
	h := &heapSampler{stop: make(chan struct{})}
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	read := func() {
		metrics.Read(sample)
		h.peak = max(h.peak, sample[0].Value.Uint64())
	}
	read()
	h.wg.Go(func() {
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-h.stop:
				read()
				return
			case <-t.C:
				read()
			}
		}
	})
	return h
}

func (h *heapSampler) done() uint64 {
	close(h.stop)
	h.wg.Wait()
	return h.peak
}

// BenchmarkApply applies n added records to a new connection of a fresh
// file and, in the same run, inserts the same rows into a bare table of
// another fresh file. Metrics: records/s of Apply, the ratio of Apply's
// throughput to the bare insert's (target >= 0.5), and the heap: peak
// live heap during the apply, and the part of it above the heap before
// the apply (the change set itself is already in memory then; garbage not
// yet collected counts), bytes allocated per record and the heap still in
// use after the apply and a GC. The same
// figures per CPU second (process user+system time) are given too, as the
// wall time depends on what else the machine runs.
func BenchmarkApply(b *testing.B) {
	if n, err := strconv.Atoi(os.Getenv("RESYNC_SQLITE_BATCH")); err == nil {
		sqlite.SetBatch(n)
	}
	for _, n := range []int{100_000, 1_000_000} {
		b.Run(fmt.Sprintf("records=%d", n), func(b *testing.B) {
			ctx := context.Background()
			cs := addSet("bench", "tenant-1", "connection-1", 0, resynctest.Identities("user-", n)...)
			var applyTime, bareTime, applyCPU, bareCPU time.Duration
			var peak, extra, allocated, retained uint64
			for i := 0; b.Loop(); i++ {
				b.StopTimer()
				dir := b.TempDir()
				wall, cpu := bareInsert(b, filepath.Join(dir, "bare.db"), cs)
				bareTime, bareCPU = bareTime+wall, bareCPU+cpu
				s, err := sqlite.Open(ctx, filepath.Join(dir, "resync.db"), sqlite.Config{})
				require.NoError(b, err)
				runtime.GC()
				var before runtime.MemStats
				runtime.ReadMemStats(&before)
				h := sampleHeap()
				start, cpu := time.Now(), cputime.Process()
				b.StartTimer()
				require.NoError(b, s.Apply(ctx, cs))
				b.StopTimer()
				applyTime += time.Since(start)
				applyCPU += cputime.Process() - cpu
				p := h.done()
				peak = max(peak, p)
				if p > before.HeapAlloc {
					extra = max(extra, p-before.HeapAlloc)
				}
				runtime.GC()
				var after runtime.MemStats
				runtime.ReadMemStats(&after)
				allocated += after.TotalAlloc - before.TotalAlloc
				if after.HeapAlloc > before.HeapAlloc {
					retained = max(retained, after.HeapAlloc-before.HeapAlloc)
				}
				require.NoError(b, s.Close())
				b.StartTimer()
			}
			b.ReportMetric(float64(n*b.N)/applyTime.Seconds(), "records/s")
			b.ReportMetric(float64(n*b.N)/bareTime.Seconds(), "bare-records/s")
			b.ReportMetric(bareTime.Seconds()/applyTime.Seconds(), "ratio-to-bare")
			b.ReportMetric(float64(n*b.N)/applyCPU.Seconds(), "records/cpu-s")
			b.ReportMetric(bareCPU.Seconds()/applyCPU.Seconds(), "cpu-ratio-to-bare")
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
			b.ReportMetric(float64(extra)/(1<<20), "apply-heap-MiB")
			b.ReportMetric(float64(allocated)/float64(n*b.N), "alloc-B/record")
			b.ReportMetric(float64(retained)/(1<<20), "retained-heap-MiB")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// BenchmarkApplyRefresh applies a change set where only every record's last
// login moved (all refreshes, no change-log rows) to a connection of n
// stored records: what keeping volatile fields current costs per read.
func BenchmarkApplyRefresh(b *testing.B) {
	const n = 100_000
	ctx := context.Background()
	recs := resynctest.Identities("user-", n)
	load := addSet("load", "tenant-1", "connection-1", 0, recs...)
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		s, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "resync.db"), sqlite.Config{})
		require.NoError(b, err)
		require.NoError(b, s.Apply(ctx, load))
		cs := &resync.ChangeSet{ID: "refresh", Tenant: "tenant-1", ConnectionID: "connection-1", RunID: "r", BaseVersion: 1}
		for j, r := range recs {
			l := *r.(*resync.Identity)
			l.LastLogin = time.Date(2026, 1, 2, 8, 0, j%60, 0, time.UTC)
			cs.Changes = append(cs.Changes, resync.Change{Op: resync.OpRefresh, Kind: resync.KindIdentity, Key: l.Key, Record: &l,
				Fingerprint: resync.Fingerprint(&l), PrevFingerprint: resync.Fingerprint(r), Volatile: uint64(j + 1)})
		}
		b.StartTimer()
		require.NoError(b, s.Apply(ctx, cs))
		b.StopTimer()
		require.NoError(b, s.Close())
		b.StartTimer()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/record")
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkApplyUpdate applies a change set that updates every one of a
// connection's n records (its title changed), the case where the change
// log keeps each record's version before the change.
func BenchmarkApplyUpdate(b *testing.B) {
	const n = 100_000
	ctx := context.Background()
	recs := resynctest.Identities("user-", n)
	load := addSet("load", "tenant-1", "connection-1", 0, recs...)
	cs := &resync.ChangeSet{ID: "update", Tenant: "tenant-1", ConnectionID: "connection-1", RunID: "r", BaseVersion: 1}
	for _, r := range recs {
		u := *r.(*resync.Identity)
		u.Title = "Engineer"
		cs.Changes = append(cs.Changes, resync.Change{Op: resync.OpUpdate, Kind: resync.KindIdentity, Key: u.Key, Record: &u,
			Fingerprint: resync.Fingerprint(&u), PrevFingerprint: resync.Fingerprint(r)})
	}
	for b.Loop() {
		b.StopTimer()
		s, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "resync.db"), sqlite.Config{})
		require.NoError(b, err)
		require.NoError(b, s.Apply(ctx, load))
		b.StartTimer()
		require.NoError(b, s.Apply(ctx, cs))
		b.StopTimer()
		require.NoError(b, s.Close())
		b.StartTimer()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/record")
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "records/s")
}
