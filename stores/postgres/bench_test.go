package postgres_test

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/openresync/resync"
	"github.com/openresync/resync/internal/heapsample"
	"github.com/openresync/resync/resynctest"
	"github.com/openresync/resync/storage"
	"github.com/openresync/resync/stores/postgres"
)

// BenchmarkApply measures Apply of large change sets (adds into a new
// connection: the first sync; updates of every record of a connection)
// and, in the same run and database, two bare COPYs of the same record
// rows: into a plain table without keys or indexes (the raw ideal), and
// into a table with the records table's primary key (what storing keyed
// records costs at the least, without versioning, idempotence or change
// log). It reports changed records/s, the ratio to each, and the peak live
// heap during the apply beyond the change set.
func BenchmarkApply(b *testing.B) {
	for _, bc := range []struct {
		op string
		n  int
	}{
		{"add", 100_000}, {"update", 100_000}, {"refresh", 100_000}, {"add", 1_000_000}, {"update", 1_000_000},
	} {
		b.Run(fmt.Sprintf("%s/%dk", bc.op, bc.n/1000), func(b *testing.B) { benchApply(b, bc.op, bc.n) })
	}
}

func benchApply(b *testing.B, op string, n int) {
	b.ReportAllocs()
	s, dbURL := openStore(b, postgres.Config{})
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	require.NoError(b, err)
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, `CREATE TABLE bare (tenant text, connection_id text, kind smallint, key text,
		fingerprint bigint, data jsonb, updated_at timestamptz, updated_by text)`)
	require.NoError(b, err)
	_, err = conn.Exec(ctx, `CREATE TABLE bare_keyed (tenant text COLLATE "C", connection_id text COLLATE "C", kind smallint,
		key text COLLATE "C", fingerprint bigint, data jsonb, updated_at timestamptz, updated_by text,
		PRIMARY KEY (tenant, connection_id, kind, key))`)
	require.NoError(b, err)

	recs := resynctest.Identities("user-", n)
	adds := make([]resync.Change, n)
	updates := make([]resync.Change, n)
	refreshes := make([]resync.Change, n) // only the last login moved
	for i, r := range recs {
		l := *r.(*resync.Identity)
		l.LastLogin = time.Date(2026, 1, 2, 8, 0, i%60, 0, time.UTC)
		refreshes[i] = resync.Change{Op: resync.OpRefresh, Kind: resync.KindIdentity, Key: l.Key, Record: &l,
			Fingerprint: resync.Fingerprint(&l), PrevFingerprint: resync.Fingerprint(r), Volatile: uint64(i + 1)}
		fp := resync.Fingerprint(r)
		adds[i] = resync.Change{Op: resync.OpAdd, Kind: storage.KindOfRecord(r), Key: storage.KeyOf(r), Record: r, Fingerprint: fp}
		u := *r.(*resync.Identity)
		u.Title = "Engineer"
		updates[i] = resync.Change{Op: resync.OpUpdate, Kind: resync.KindIdentity, Key: u.Key, Record: &u,
			Fingerprint: resync.Fingerprint(&u), PrevFingerprint: fp}
	}
	changes := adds
	switch op {
	case "update":
		changes = updates
	case "refresh":
		changes = refreshes
	}

	var applyTime, bareTime, keyedTime time.Duration
	var peak uint64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		connID := fmt.Sprintf("conn-%d", i)
		base := int64(0)
		if op != "add" {
			require.NoError(b, s.Apply(ctx, &resync.ChangeSet{ID: connID + "/load", Tenant: "t", ConnectionID: connID, RunID: "load", Changes: adds}))
			base = 1
		}
		cs := &resync.ChangeSet{ID: connID + "/bench", Tenant: "t", ConnectionID: connID, RunID: "bench", BaseVersion: base, Changes: changes}
		runtime.GC()
		stop := heapsample.Start()
		b.StartTimer()
		start := time.Now()
		require.NoError(b, s.Apply(ctx, cs))
		applyTime += time.Since(start)
		b.StopTimer()
		peak = max(peak, stop())

		_, err := conn.Exec(ctx, "TRUNCATE bare")
		require.NoError(b, err)
		start = time.Now()
		copied, err := conn.CopyFrom(ctx, pgx.Identifier{"bare"},
			[]string{"tenant", "connection_id", "kind", "key", "fingerprint", "data", "updated_at", "updated_by"},
			&bareRows{changes: changes, now: time.Now()})
		bareTime += time.Since(start)
		require.NoError(b, err)
		require.EqualValues(b, n, copied)

		_, err = conn.Exec(ctx, "TRUNCATE bare_keyed")
		require.NoError(b, err)
		start = time.Now()
		copied, err = conn.CopyFrom(ctx, pgx.Identifier{"bare_keyed"},
			[]string{"tenant", "connection_id", "kind", "key", "fingerprint", "data", "updated_at", "updated_by"},
			&bareRows{changes: changes, now: time.Now()})
		keyedTime += time.Since(start)
		require.NoError(b, err)
		require.EqualValues(b, n, copied)
		b.StartTimer()
	}
	b.StopTimer()
	rate := float64(n*b.N) / applyTime.Seconds()
	bareRate := float64(n*b.N) / bareTime.Seconds()
	b.ReportMetric(rate, "records/s")
	b.ReportMetric(bareRate, "bare-copy-records/s")
	b.ReportMetric(rate/bareRate, "ratio-to-bare-copy")
	b.ReportMetric(rate/(float64(n*b.N)/keyedTime.Seconds()), "ratio-to-keyed-copy")
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
	b.ReportMetric(float64(peak)/float64(n), "peak-heap-B/record")
}

// bareRows is the COPY source of the baseline: the same record rows Apply
// writes, JSON encoded as they are sent.
type bareRows struct {
	changes []resync.Change
	i       int
	now     time.Time
	vals    []any
}

func (r *bareRows) Next() bool { r.i++; return r.i <= len(r.changes) }

func (r *bareRows) Values() ([]any, error) {
	c := &r.changes[r.i-1]
	data, err := json.Marshal(c.Record)
	if err != nil {
		return nil, err
	}
	r.vals = append(r.vals[:0], "t", "bare", int16(storage.KindCode(c.Kind)), c.Key, int64(c.Fingerprint), data, r.now, "bench")
	return r.vals, nil
}

func (r *bareRows) Err() error { return nil }
