package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openresync/resync"
	"github.com/openresync/resync/storage"
	"github.com/openresync/resync/stores/postgres"
)

// countingHandler counts log records by message.
type countingHandler struct {
	mu sync.Mutex
	n  map[string]int
}

func (h *countingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *countingHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.n == nil {
		h.n = map[string]int{}
	}
	h.n[r.Message]++
	return nil
}
func (h *countingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *countingHandler) WithGroup(string) slog.Handler      { return h }
func (h *countingHandler) count(msg string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n[msg]
}

func TestMigrateConcurrentOpens(t *testing.T) {
	dbURL := freshDB(t)
	ctx := context.Background()
	h := &countingHandler{}
	const openers = 5
	var wg sync.WaitGroup
	errs := make([]error, openers)
	stores := make([]*postgres.Store, openers)
	start := make(chan struct{})
	for i := range openers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			stores[i], errs[i] = postgres.Open(ctx, dbURL, postgres.Config{Logger: slog.New(h)})
		}()
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		require.NoError(t, err, "opener %d", i)
		defer stores[i].Close()
	}
	require.Positive(t, postgres.SchemaVersion())
	assert.Equal(t, postgres.SchemaVersion(), h.count("postgres: applied migration"),
		"each migration must be applied once across the concurrent opens")
	var rows, maxVersion int
	require.NoError(t, stores[0].Pool().QueryRow(ctx, `SELECT count(*), max(version) FROM resync.schema_version`).Scan(&rows, &maxVersion))
	assert.Equal(t, postgres.SchemaVersion(), rows)
	assert.Equal(t, postgres.SchemaVersion(), maxVersion)

	// Every store works on the migrated schema.
	for i, s := range stores {
		ok, err := s.AcquireLease(ctx, fmt.Sprintf("l%d", i), "o", 60e9)
		require.NoError(t, err)
		assert.True(t, ok)
	}

	// Opening again migrates nothing.
	s, err := postgres.Open(ctx, dbURL, postgres.Config{Logger: slog.New(h)})
	require.NoError(t, err)
	s.Close()
	assert.Equal(t, postgres.SchemaVersion(), h.count("postgres: applied migration"))
}

func TestSchemaTooNew(t *testing.T) {
	s, dbURL := openStore(t, postgres.Config{})
	ctx := context.Background()
	_, err := s.Pool().Exec(ctx, `INSERT INTO resync.schema_version (version, name) VALUES ($1, 'from the future')`, postgres.SchemaVersion()+1)
	require.NoError(t, err)
	_, err = postgres.Open(ctx, dbURL, postgres.Config{})
	require.ErrorIs(t, err, postgres.ErrSchemaTooNew)
	assert.Contains(t, err.Error(), "upgrade the code")
}

func TestNewKeepsCallersPool(t *testing.T) {
	dbURL := freshDB(t)
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, dbURL)
	require.NoError(t, err)
	defer pool.Close()
	s, err := postgres.New(ctx, pool, postgres.Config{Schema: `odd "schema"; --`})
	require.NoError(t, err)
	ok, err := s.AcquireLease(ctx, "x", "o", 60e9)
	require.NoError(t, err)
	require.True(t, ok)
	s.Close()
	var n int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM "odd ""schema""; --".leases`).Scan(&n), "the pool stays open after Close")
	assert.Equal(t, 1, n)

	_, err = postgres.New(ctx, nil, postgres.Config{})
	assert.ErrorIs(t, err, resync.ErrInvalidRequest)
	_, err = postgres.Open(ctx, "postgres://[::1", postgres.Config{})
	assert.ErrorIs(t, err, resync.ErrInvalidRequest)
}

func identity(key string, attrs map[string]string) *resync.Identity {
	return &resync.Identity{Key: key, Email: key + "@example.com", Name: "N " + key, Status: resync.StatusActive, Attributes: attrs}
}

func addChange(r resync.Record) resync.Change {
	return resync.Change{Op: resync.OpAdd, Kind: storage.KindOfRecord(r), Key: storage.KeyOf(r), Record: r, Fingerprint: resync.Fingerprint(r)}
}

func TestOddDataRoundTrips(t *testing.T) {
	ctx := context.Background()
	odd := []string{
		`it's "quoted"`,
		`'; DROP TABLE records; --`,
		`"); DELETE FROM resync.runs; --`,
		`back\slash \u0000 not a nul`,
		"ünïcødé 日本語 🙂 \u2028",
		strings.Repeat("x", 8192),
		strings.Repeat("é", 4096),
	}
	for _, copyMin := range []int{1, 1 << 30} {
		t.Run(fmt.Sprintf("copyMin=%d", copyMin), func(t *testing.T) {
			s, _ := openStore(t, postgres.Config{})
			s.SetCopyMin(copyMin)
			for i, tenant := range odd[:5] {
				conn := "conn " + odd[(i+1)%len(odd)]
				var changes []resync.Change
				want := map[string]*resync.Identity{}
				for j, v := range odd {
					key := fmt.Sprintf("%d %s", j, v[:min(len(v), 900)])
					r := identity(key, map[string]string{v[:min(len(v), 200)]: v, "plain": v})
					r.Title = v
					changes = append(changes, addChange(r))
					want[key] = r
				}
				// The first apply takes the fresh-connection path, the
				// second the configured one.
				for v := int64(0); v < 2; v++ {
					require.NoError(t, s.Apply(ctx, &resync.ChangeSet{ID: fmt.Sprintf("cs %s %d", tenant, v), Tenant: tenant,
						ConnectionID: conn, RunID: "run " + tenant, BaseVersion: v, Changes: changes}))
				}
				recs, err := s.Records(ctx, resync.RecordQuery{Tenant: tenant, ConnectionID: conn})
				require.NoError(t, err)
				require.Len(t, recs, len(odd))
				for _, r := range recs {
					assert.Equal(t, want[r.Key], r.Record, "record %q round-trips exactly", r.Key)
					assert.Equal(t, resync.Fingerprint(want[r.Key]), r.Fingerprint)
					assert.Equal(t, "run "+tenant, r.UpdatedBy)
				}
				n := 0
				version, err := s.Snapshot(ctx, tenant, conn, func(kind resync.RecordKind, key string, fingerprint, volatile uint64) error {
					n++
					assert.Equal(t, resync.Fingerprint(want[key]), fingerprint)
					return nil
				})
				require.NoError(t, err)
				assert.Equal(t, int64(2), version)
				assert.Equal(t, len(odd), n)
				log, err := s.Changes(ctx, resync.ChangeQuery{Tenant: tenant, ConnectionID: conn, RunID: "run " + tenant})
				require.NoError(t, err)
				assert.Len(t, log, 2*len(odd))

				run := resync.RunInfo{ID: "run " + tenant, Tenant: tenant, Owner: odd[1], Status: resync.RunRunning,
					Trigger: resync.TriggerAdhoc, Initiator: resync.Principal{ID: odd[0], Email: odd[4]},
					Connections: []resync.ConnectionResult{{ConnectionID: conn, Provider: odd[2], Error: odd[5]}}}
				require.NoError(t, s.CreateRun(ctx, run))
				got, err := s.GetRun(ctx, tenant, run.ID)
				require.NoError(t, err)
				assert.Equal(t, run, got)

				held := &resync.ChangeSet{ID: "held " + tenant, Tenant: tenant, ConnectionID: conn, RunID: run.ID,
					BaseVersion: 2, Changes: changes, HoldReason: odd[3]}
				require.NoError(t, s.Hold(ctx, held))
				gotHeld, err := s.GetHeld(ctx, tenant, held.ID)
				require.NoError(t, err)
				assert.Equal(t, held.Changes, gotHeld.Changes)
				assert.Equal(t, held.HoldReason, gotHeld.HoldReason)
			}
			// The tables are all still there.
			var n int
			require.NoError(t, s.Pool().QueryRow(ctx, `SELECT count(*) FROM resync.records`).Scan(&n))
			assert.Equal(t, 5*len(odd), n)
		})
	}
}

func TestFingerprintBitPattern(t *testing.T) {
	s, _ := openStore(t, postgres.Config{})
	ctx := context.Background()
	fps := []uint64{0, 1, 1<<63 - 1, 1 << 63, 1<<64 - 1, 0xdeadbeefcafebabe}
	var changes []resync.Change
	for i, fp := range fps {
		r := identity(fmt.Sprint("k", i), nil)
		changes = append(changes, resync.Change{Op: resync.OpAdd, Kind: resync.KindIdentity, Key: r.Key, Record: r,
			Fingerprint: fp, PrevFingerprint: ^fp})
	}
	require.NoError(t, s.Apply(ctx, &resync.ChangeSet{ID: "cs", Tenant: "t", ConnectionID: "c", Changes: changes}))
	got := map[string]uint64{}
	_, err := s.Snapshot(ctx, "t", "c", func(kind resync.RecordKind, key string, fingerprint, volatile uint64) error {
		got[key] = fingerprint
		return nil
	})
	require.NoError(t, err)
	log, err := s.Changes(ctx, resync.ChangeQuery{Tenant: "t"})
	require.NoError(t, err)
	require.Len(t, log, len(fps))
	for i, fp := range fps {
		assert.Equal(t, fp, got[fmt.Sprint("k", i)])
		assert.Equal(t, fp, log[i].Fingerprint)
		assert.Equal(t, ^fp, log[i].PrevFingerprint)
	}
}

func TestNULIsRefusedAndStoresNothing(t *testing.T) {
	ctx := context.Background()
	for _, copyMin := range []int{1, 1 << 30} {
		t.Run(fmt.Sprintf("copyMin=%d", copyMin), func(t *testing.T) {
			s, _ := openStore(t, postgres.Config{})
			s.SetCopyMin(copyMin)
			base := []resync.Change{addChange(identity("a", nil)), addChange(identity("b", nil))}
			require.NoError(t, s.Apply(ctx, &resync.ChangeSet{ID: "cs0", Tenant: "t", ConnectionID: "c", Changes: base}))

			many := func(bad resync.Change) []resync.Change {
				var cs []resync.Change
				for i := range 100 {
					cs = append(cs, addChange(identity(fmt.Sprint("new", i), nil)))
				}
				return append(cs, bad) // the bad record comes last, after rows were sent
			}
			cases := map[string]*resync.ChangeSet{
				"attribute value": {ID: "cs1", Tenant: "t", ConnectionID: "c", BaseVersion: 1,
					Changes: many(addChange(identity("x", map[string]string{"k": "nul\x00here"})))},
				"attribute name": {ID: "cs2", Tenant: "t", ConnectionID: "c", BaseVersion: 1,
					Changes: many(addChange(identity("x", map[string]string{"nul\x00": "v"})))},
				"key": {ID: "cs3", Tenant: "t", ConnectionID: "c", BaseVersion: 1,
					Changes: many(addChange(identity("x\x00", nil)))},
				"invalid UTF-8": {ID: "cs4", Tenant: "t", ConnectionID: "c", BaseVersion: 1,
					Changes: many(addChange(identity("x", map[string]string{"k": "bad \xff"})))},
				"change set ID": {ID: "cs\x00", Tenant: "t", ConnectionID: "c", BaseVersion: 1, Changes: many(addChange(identity("x", nil)))},
				"tenant":        {ID: "cs5", Tenant: "t\x00", ConnectionID: "c", Changes: many(addChange(identity("x", nil)))},
				"fresh connection": {ID: "cs6", Tenant: "t", ConnectionID: "fresh",
					Changes: many(addChange(identity("x", map[string]string{"k": "\x00"})))},
			}
			for name, cs := range cases {
				err := s.Apply(ctx, cs)
				require.ErrorIs(t, err, resync.ErrInvalidRequest, name)
				if name != "invalid UTF-8" {
					assert.Contains(t, err.Error(), "NUL", name)
				}
				err = s.Hold(ctx, cs)
				assert.ErrorIs(t, err, resync.ErrInvalidRequest, name)
			}
			for _, conn := range []string{"c", "fresh"} {
				recs, err := s.Records(ctx, resync.RecordQuery{Tenant: "t", ConnectionID: conn, IncludeRemoved: true})
				require.NoError(t, err)
				v, err := s.Snapshot(ctx, "t", conn, func(resync.RecordKind, string, uint64, uint64) error { return nil })
				require.NoError(t, err)
				if conn == "c" {
					assert.Len(t, recs, 2, "nothing of a refused change set is stored")
					assert.Equal(t, int64(1), v)
				} else {
					assert.Empty(t, recs)
					assert.Zero(t, v)
				}
			}
			log, err := s.Changes(ctx, resync.ChangeQuery{Tenant: "t"})
			require.NoError(t, err)
			assert.Len(t, log, 2)
			held, err := s.HeldChangeSets(ctx, "t")
			require.NoError(t, err)
			assert.Empty(t, held)

			err = s.CreateRun(ctx, resync.RunInfo{ID: "r", Tenant: "t", Connections: []resync.ConnectionResult{{Error: "a\x00b"}}})
			assert.ErrorIs(t, err, resync.ErrInvalidRequest)
			err = s.CreateRun(ctx, resync.RunInfo{ID: "r\x00", Tenant: "t"})
			assert.ErrorIs(t, err, resync.ErrInvalidRequest)
			_, err = s.GetRun(ctx, "t", "r")
			assert.ErrorIs(t, err, resync.ErrNotFound)
			_, err = s.AcquireLease(ctx, "l\x00", "o", 60e9)
			assert.ErrorIs(t, err, resync.ErrInvalidRequest)
		})
	}
}

// TestApplyConcurrentDistinctIDs races applies of different change sets
// at one base version across separate pools: exactly one wins, the others
// get ErrConflict, and the log holds only the winner's changes.
func TestApplyConcurrentDistinctIDs(t *testing.T) {
	s, dbURL := openStore(t, postgres.Config{})
	ctx := context.Background()
	const racers = 8
	stores := []*postgres.Store{s}
	for range 2 {
		o, err := postgres.Open(ctx, dbURL, postgres.Config{})
		require.NoError(t, err)
		defer o.Close()
		stores = append(stores, o)
	}
	var wins atomic.Int32
	var wg sync.WaitGroup
	for i := range racers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var changes []resync.Change
			for j := range 200 {
				changes = append(changes, addChange(identity(fmt.Sprintf("r%d-%d", i, j), nil)))
			}
			err := stores[i%len(stores)].Apply(ctx, &resync.ChangeSet{ID: fmt.Sprint("cs", i), Tenant: "t", ConnectionID: "c", Changes: changes})
			if err == nil {
				wins.Add(1)
				return
			}
			assert.ErrorIs(t, err, resync.ErrConflict)
		}()
	}
	wg.Wait()
	assert.Equal(t, int32(1), wins.Load())
	log, err := s.Changes(ctx, resync.ChangeQuery{Tenant: "t"})
	require.NoError(t, err)
	require.Len(t, log, 200)
	for _, e := range log {
		assert.Equal(t, log[0].ChangeSetID, e.ChangeSetID)
	}
	var tables int
	require.NoError(t, s.Pool().QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE tablename = 'resync_stage'`).Scan(&tables))
	assert.Zero(t, tables, "the staging table is dropped at commit or rollback")
	if errors.Is(err, pgx.ErrNoRows) {
		t.Fatal("unreachable")
	}
}

// TestLargeMixedApply drives the staged path with a large change set of
// adds, updates, removes and revivals on a connection that already has
// many records, then checks every record's state and the log's order.
func TestLargeMixedApply(t *testing.T) {
	s, _ := openStore(t, postgres.Config{})
	ctx := context.Background()
	const n = 20_000
	var load []resync.Change
	for i := range n {
		load = append(load, addChange(identity(fmt.Sprint("k", i), nil)))
	}
	require.NoError(t, s.Apply(ctx, &resync.ChangeSet{ID: "load", Tenant: "t", ConnectionID: "c", RunID: "r0", Changes: load}))
	// Remove the first quarter.
	var rm []resync.Change
	for i := range n / 4 {
		c := load[i]
		rm = append(rm, resync.Change{Op: resync.OpRemove, Kind: c.Kind, Key: c.Key, PrevFingerprint: c.Fingerprint})
	}
	require.NoError(t, s.Apply(ctx, &resync.ChangeSet{ID: "rm", Tenant: "t", ConnectionID: "c", RunID: "r1", BaseVersion: 1, Changes: rm}))
	// Revive the first eighth, update the second half, remove the last
	// quarter, add new keys.
	var mixed []resync.Change
	for i := range n / 8 {
		mixed = append(mixed, load[i])
	}
	for i := n / 4; i < n/2; i++ {
		r := identity(fmt.Sprint("k", i), map[string]string{"v": "2"})
		mixed = append(mixed, resync.Change{Op: resync.OpUpdate, Kind: storage.KindOfRecord(r), Key: r.Key, Record: r,
			Fingerprint: resync.Fingerprint(r), PrevFingerprint: load[i].Fingerprint})
	}
	for i := 3 * n / 4; i < n; i++ {
		mixed = append(mixed, resync.Change{Op: resync.OpRemove, Kind: resync.KindIdentity, Key: load[i].Key, PrevFingerprint: load[i].Fingerprint})
	}
	for i := range n / 4 {
		mixed = append(mixed, addChange(identity(fmt.Sprint("new", i), nil)))
	}
	require.NoError(t, s.Apply(ctx, &resync.ChangeSet{ID: "mixed", Tenant: "t", ConnectionID: "c", RunID: "r2", BaseVersion: 2, Changes: mixed}))

	recs, err := s.Records(ctx, resync.RecordQuery{Tenant: "t", ConnectionID: "c", IncludeRemoved: true})
	require.NoError(t, err)
	require.Len(t, recs, n+n/4)
	byKey := map[string]resync.StoredRecord{}
	for _, r := range recs {
		byKey[r.Key] = r
	}
	for i := range n {
		r := byKey[fmt.Sprint("k", i)]
		switch {
		case i < n/8:
			assert.False(t, !r.RemovedAt.IsZero(), "k%d revived", i)
			assert.Equal(t, "r2", r.UpdatedBy)
		case i < n/4:
			assert.True(t, !r.RemovedAt.IsZero(), "k%d removed", i)
			assert.Equal(t, "r1", r.RemovedBy)
		case i < n/2:
			assert.Equal(t, "2", r.Record.(*resync.Identity).Attributes["v"], "k%d updated", i)
		case i < 3*n/4:
			assert.Equal(t, "r0", r.UpdatedBy, "k%d untouched", i)
		default:
			assert.True(t, !r.RemovedAt.IsZero(), "k%d removed", i)
			assert.Equal(t, "r2", r.RemovedBy)
		}
	}
	live, version := liveCount(t, s, "t", "c")
	assert.Equal(t, int64(3), version)
	assert.Equal(t, n/8+n/4+n/4+n/4, live)
	log, err := s.Changes(ctx, resync.ChangeQuery{Tenant: "t", RunID: "r2"})
	require.NoError(t, err)
	require.Len(t, log, len(mixed))
	for i, e := range log {
		require.Equal(t, mixed[i].Key, e.Key, "the log keeps the change order")
		require.Equal(t, mixed[i].Op, e.Op)
	}
	assertCleanLog(t, s, "t")
}
