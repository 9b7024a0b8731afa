package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/openresync/resync"
	"github.com/openresync/resync/resynctest"
	"github.com/openresync/resync/storage"
	"github.com/openresync/resync/stores/sqlite"
)

func TestMain(m *testing.M) {
	if os.Getenv(crashEnv) != "" || os.Getenv(openEnv) != "" {
		// Child processes of the multi-process tests (the crash child is
		// killed): no leak check.
		os.Exit(m.Run())
	}
	goleak.VerifyTestMain(m)
}

// open opens a Store on a new file in a temporary directory and closes it
// at the end of the test.
func open(t testing.TB, cfg sqlite.Config) (*sqlite.Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "resync.db")
	s, err := sqlite.Open(context.Background(), path, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, s.Close()) })
	return s, path
}

func reopen(t testing.TB, path string, cfg sqlite.Config) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), path, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, s.Close()) })
	return s
}

// rawDB opens the file directly, for checks below the Store API.
func rawDB(t testing.TB, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, db.Close()) })
	return db
}

func schemaRows(t testing.TB, path string) int {
	t.Helper()
	var n int
	require.NoError(t, rawDB(t, path).QueryRow(`SELECT COUNT(*) FROM schema_version`).Scan(&n))
	return n
}

func identity(key, name string) *resync.Identity {
	return &resync.Identity{Key: key, Email: key + "@example.com", Name: name, Status: resync.StatusActive}
}

// addSet returns a change set adding the records.
func addSet(id, tenant, conn string, base int64, recs ...resync.Record) *resync.ChangeSet {
	cs := &resync.ChangeSet{ID: id, Tenant: tenant, ConnectionID: conn, RunID: "run-" + id, BaseVersion: base}
	for _, r := range recs {
		cs.Changes = append(cs.Changes, resync.Change{Op: resync.OpAdd, Kind: storage.KindOfRecord(r), Key: storage.KeyOf(r),
			Record: r, Fingerprint: resync.Fingerprint(r)})
	}
	return cs
}

type entry struct {
	kind resync.RecordKind
	key  string
	fp   uint64
}

func snapshot(t testing.TB, s resync.Store, tenant, conn string) (map[entry]bool, int64) {
	t.Helper()
	out := map[entry]bool{}
	v, err := s.Snapshot(context.Background(), tenant, conn, func(kind resync.RecordKind, key string, fingerprint, volatile uint64) error {
		out[entry{kind, key, fingerprint}] = true
		return nil
	})
	require.NoError(t, err)
	return out, v
}

func TestOpenMigratesOnceAndReopens(t *testing.T) {
	s, path := open(t, sqlite.Config{})
	require.NoError(t, s.Close())
	require.Equal(t, sqlite.SchemaVersion(), schemaRows(t, path))
	require.Positive(t, sqlite.SchemaVersion())

	for range 3 {
		s2, err := sqlite.Open(context.Background(), path, sqlite.Config{})
		require.NoError(t, err)
		require.NoError(t, s2.Close())
	}
	assert.Equal(t, sqlite.SchemaVersion(), schemaRows(t, path), "reopening must not apply migrations again")

	var mode string
	require.NoError(t, rawDB(t, path).QueryRow(`PRAGMA journal_mode`).Scan(&mode))
	assert.Equal(t, "wal", mode)
	s = reopen(t, path, sqlite.Config{})
	assert.Equal(t, path, s.Path())
}

func TestOpenConcurrently(t *testing.T) {
	path := filepath.Join(t.TempDir(), "resync.db")
	const n = 4
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			s, err := sqlite.Open(context.Background(), path, sqlite.Config{})
			if err == nil {
				err = s.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		require.NoError(t, err, "open %d", i)
	}
	assert.Equal(t, sqlite.SchemaVersion(), schemaRows(t, path))
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()

	for _, p := range []string{"", ":memory:", filepath.Join(dir, "a?b.db")} {
		_, err := sqlite.Open(ctx, p, sqlite.Config{})
		require.ErrorIs(t, err, resync.ErrInvalidRequest, "path %q", p)
	}

	_, err := sqlite.Open(ctx, filepath.Join(dir, "missing", "dir", "x.db"), sqlite.Config{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "missing")

	garbage := filepath.Join(dir, "garbage.db")
	require.NoError(t, os.WriteFile(garbage, []byte(strings.Repeat("not a database at all ", 400)), 0o600))
	_, err = sqlite.Open(ctx, garbage, sqlite.Config{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), garbage)

	s, path := open(t, sqlite.Config{})
	require.NoError(t, s.Close())
	_, err = rawDB(t, path).Exec(`INSERT INTO schema_version (version, name, applied_at) VALUES (999, '0999_future.sql', 0)`)
	require.NoError(t, err)
	_, err = sqlite.Open(ctx, path, sqlite.Config{})
	require.ErrorIs(t, err, sqlite.ErrSchemaTooNew)
	assert.Contains(t, err.Error(), "999")
}

func TestDataSurvivesReopen(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	clock := resynctest.NewClock(now)
	s, path := open(t, sqlite.Config{Clock: clock})

	require.NoError(t, s.Apply(ctx, addSet("cs1", "t1", "c1", 0, identity("a", "A"), identity("b", "B"))))
	rm := &resync.ChangeSet{ID: "cs2", Tenant: "t1", ConnectionID: "c1", RunID: "r2", BaseVersion: 1,
		Changes: []resync.Change{{Op: resync.OpRemove, Kind: resync.KindIdentity, Key: "b"}}}
	require.NoError(t, s.Apply(ctx, rm))
	run := resync.RunInfo{ID: "r1", Tenant: "t1", Scope: resync.PersonnelScope(resync.IdP), Trigger: resync.TriggerAdhoc,
		Status: resync.RunSucceeded, Owner: "i1", CreatedAt: now, FinishedAt: now.Add(time.Minute),
		Connections: []resync.ConnectionResult{{ConnectionID: "c1", Status: resync.ConnSucceeded, Added: 2}}}
	require.NoError(t, s.CreateRun(ctx, run))
	held := addSet("h1", "t1", "c1", 2, identity("c", "C"))
	held.HoldReason = "too many"
	held.CreatedAt = now
	require.NoError(t, s.Hold(ctx, held))
	ok, err := s.AcquireLease(ctx, "l1", "o1", time.Hour)
	require.NoError(t, err)
	require.True(t, ok)
	require.NoError(t, s.Close())

	s2 := reopen(t, path, sqlite.Config{Clock: clock})
	snap, v := snapshot(t, s2, "t1", "c1")
	assert.Equal(t, int64(2), v)
	assert.Equal(t, map[entry]bool{{resync.KindIdentity, "a", resync.Fingerprint(identity("a", "A"))}: true}, snap)

	recs, err := s2.Records(ctx, resync.RecordQuery{Tenant: "t1", ConnectionID: "c1", IncludeRemoved: true})
	require.NoError(t, err)
	require.Len(t, recs, 2)
	assert.Equal(t, identity("a", "A"), recs[0].Record)
	assert.True(t, !recs[1].RemovedAt.IsZero())
	assert.Equal(t, "r2", recs[1].RemovedBy)
	assert.True(t, now.Equal(recs[1].RemovedAt))

	got, err := s2.GetRun(ctx, "t1", "r1")
	require.NoError(t, err)
	assert.Equal(t, run.Scope, got.Scope)
	assert.Equal(t, run.Connections, got.Connections)
	assert.True(t, run.FinishedAt.Equal(got.FinishedAt))

	h, err := s2.GetHeld(ctx, "t1", "h1")
	require.NoError(t, err)
	assert.Equal(t, "too many", h.HoldReason)
	assert.Equal(t, held.Changes, h.Changes)

	changes, err := s2.Changes(ctx, resync.ChangeQuery{Tenant: "t1"})
	require.NoError(t, err)
	assert.Len(t, changes, 3)

	ok, err = s2.AcquireLease(ctx, "l1", "o2", time.Hour)
	require.NoError(t, err)
	assert.False(t, ok, "the lease taken before the reopen is still held")
}

func TestOddDataRoundTrips(t *testing.T) {
	ctx := context.Background()
	s, path := open(t, sqlite.Config{})
	big := strings.Repeat("é€😀x", 8192/10)
	odd := []string{`'; DROP TABLE records; --`, `"quoted" 'single' \back\slash`, "unicode 日本語 ñ 😀", "nul\x00byte", "line\nbreak\ttab", big}
	var recs []resync.Record
	for i, v := range odd {
		recs = append(recs, &resync.Account{Key: v + string(rune('a'+i)), Username: v, DisplayName: v, Status: resync.StatusActive,
			Roles: []string{v, "r"}, Attributes: map[string]string{v: v}})
	}
	tenant, conn := `t'1"; --`, "c\u00e91 😀"
	require.NoError(t, s.Apply(ctx, addSet(`cs'1`, tenant, conn, 0, recs...)))
	run := resync.RunInfo{ID: odd[0], Tenant: tenant, Status: resync.RunRunning, Owner: odd[2],
		Initiator: resync.Principal{ID: odd[1], Name: big}, NotifyErrors: odd, CreatedAt: time.Unix(1, 0)}
	require.NoError(t, s.CreateRun(ctx, run))
	require.NoError(t, s.Close())

	s = reopen(t, path, sqlite.Config{})
	got, err := s.Records(ctx, resync.RecordQuery{Tenant: tenant, ConnectionID: conn})
	require.NoError(t, err)
	require.Len(t, got, len(recs))
	byKey := map[string]resync.Record{}
	for _, r := range got {
		byKey[r.Key] = r.Record
		assert.Equal(t, resync.Fingerprint(r.Record), r.Fingerprint)
	}
	for _, r := range recs {
		assert.Equal(t, r, byKey[storage.KeyOf(r)])
	}
	gotRun, err := s.GetRun(ctx, tenant, odd[0])
	require.NoError(t, err)
	assert.Equal(t, run.Initiator, gotRun.Initiator)
	assert.Equal(t, run.NotifyErrors, gotRun.NotifyErrors)
	// The tables are all still there.
	_, v := snapshot(t, s, tenant, conn)
	assert.Equal(t, int64(1), v)
}

func TestFingerprintsRoundTripExactly(t *testing.T) {
	ctx := context.Background()
	s, _ := open(t, sqlite.Config{})
	fps := []uint64{0, 1, 1<<63 - 1, 1 << 63, 1<<63 + 1, ^uint64(0), 0xdeadbeefcafebabe}
	cs := &resync.ChangeSet{ID: "x", Tenant: "t", ConnectionID: "c", RunID: "r"}
	for i, fp := range fps {
		k := string(rune('a' + i))
		cs.Changes = append(cs.Changes, resync.Change{Op: resync.OpAdd, Kind: resync.KindGroup, Key: k,
			Record: &resync.Group{Key: k}, Fingerprint: fp, PrevFingerprint: ^fp})
	}
	require.NoError(t, s.Apply(ctx, cs))
	snap, _ := snapshot(t, s, "t", "c")
	for i, fp := range fps {
		assert.True(t, snap[entry{resync.KindGroup, string(rune('a' + i)), fp}], "fingerprint %x", fp)
	}
	log, err := s.Changes(ctx, resync.ChangeQuery{Tenant: "t"})
	require.NoError(t, err)
	require.Len(t, log, len(fps))
	for i, e := range log {
		assert.Equal(t, fps[i], e.Fingerprint)
		assert.Equal(t, ^fps[i], e.PrevFingerprint)
	}
}

// A canceled apply stores nothing, whenever the cancellation lands.
func TestApplyCanceledIsAllOrNothing(t *testing.T) {
	s, _ := open(t, sqlite.Config{})
	bg := context.Background()
	require.NoError(t, s.Apply(bg, addSet("seed", "t", "c", 0, identity("a", "A"))))

	ctx, cancel := context.WithCancel(bg)
	cancel()
	err := s.Apply(ctx, addSet("never", "t", "c", 1, identity("b", "B")))
	require.ErrorIs(t, err, context.Canceled)

	var recs []resync.Record
	for i := range 20000 {
		recs = append(recs, identity(fmt.Sprintf("k%05d", i), "K"))
	}
	big := addSet("big", "t", "c", 1, recs...)
	ctx, cancel = context.WithCancel(bg)
	defer cancel()
	stop := time.AfterFunc(time.Duration(rand.IntN(50))*time.Millisecond, cancel)
	defer stop.Stop()
	err = s.Apply(ctx, big)
	snap, v := snapshot(t, s, "t", "c")
	log, lerr := s.Changes(bg, resync.ChangeQuery{Tenant: "t"})
	require.NoError(t, lerr)
	if err != nil {
		require.ErrorIs(t, err, context.Canceled)
		assert.Equal(t, int64(1), v)
		assert.Len(t, snap, 1)
		assert.Len(t, log, 1)
	} else {
		assert.Equal(t, int64(2), v)
		assert.Len(t, snap, 1+len(recs))
		assert.Len(t, log, 1+len(recs))
	}
	// The store is usable afterwards.
	require.NoError(t, s.Apply(bg, addSet("after", "t", "c", v, identity("z", "Z"))))
}

// Full and partial batches of every multi-row statement: adds, updates,
// removes and revivals in one change set.
func TestApplyMixedBatches(t *testing.T) {
	ctx := context.Background()
	s, _ := open(t, sqlite.Config{})
	const n = 1000
	var recs []resync.Record
	for i := range n {
		recs = append(recs, identity(fmt.Sprintf("k%04d", i), "v1"))
	}
	require.NoError(t, s.Apply(ctx, addSet("1", "t", "c", 0, recs...)))
	rm := &resync.ChangeSet{ID: "2", Tenant: "t", ConnectionID: "c", RunID: "r2", BaseVersion: 1}
	for i := range 300 {
		rm.Changes = append(rm.Changes, resync.Change{Op: resync.OpRemove, Kind: resync.KindIdentity, Key: fmt.Sprintf("k%04d", i)})
	}
	require.NoError(t, s.Apply(ctx, rm))

	cs := &resync.ChangeSet{ID: "3", Tenant: "t", ConnectionID: "c", RunID: "r3", BaseVersion: 2}
	want := map[entry]bool{}
	for i := range n + 77 {
		k := fmt.Sprintf("k%04d", i)
		switch {
		case i < 100: // revive a tombstone
			r := identity(k, "revived")
			cs.Changes = append(cs.Changes, resync.Change{Op: resync.OpAdd, Kind: resync.KindIdentity, Key: k, Record: r, Fingerprint: resync.Fingerprint(r)})
			want[entry{resync.KindIdentity, k, resync.Fingerprint(r)}] = true
		case i < 300: // stays removed
		case i < 500: // remove
			cs.Changes = append(cs.Changes, resync.Change{Op: resync.OpRemove, Kind: resync.KindIdentity, Key: k, PrevFingerprint: resync.Fingerprint(recs[i])})
		case i < 700: // update
			r := identity(k, "v2")
			cs.Changes = append(cs.Changes, resync.Change{Op: resync.OpUpdate, Kind: resync.KindIdentity, Key: k, Record: r,
				Fingerprint: resync.Fingerprint(r), PrevFingerprint: resync.Fingerprint(recs[i])})
			want[entry{resync.KindIdentity, k, resync.Fingerprint(r)}] = true
		case i < n: // unchanged
			want[entry{resync.KindIdentity, k, resync.Fingerprint(recs[i])}] = true
		default: // add
			r := identity(k, "new")
			cs.Changes = append(cs.Changes, resync.Change{Op: resync.OpAdd, Kind: resync.KindIdentity, Key: k, Record: r, Fingerprint: resync.Fingerprint(r)})
			want[entry{resync.KindIdentity, k, resync.Fingerprint(r)}] = true
		}
	}
	require.NoError(t, s.Apply(ctx, cs))
	snap, v := snapshot(t, s, "t", "c")
	assert.Equal(t, int64(3), v)
	assert.Equal(t, want, snap)

	all, err := s.Records(ctx, resync.RecordQuery{Tenant: "t", ConnectionID: "c", IncludeRemoved: true})
	require.NoError(t, err)
	assert.Len(t, all, n+77)
	for _, r := range all {
		if r.Key < "k0100" {
			assert.False(t, !r.RemovedAt.IsZero(), "revived %s", r.Key)
			assert.Equal(t, "r3", r.UpdatedBy)
		}
		if r.Key >= "k0300" && r.Key < "k0500" {
			assert.Equal(t, "r3", r.RemovedBy, "removed %s", r.Key)
		}
	}
	log, err := s.Changes(ctx, resync.ChangeQuery{Tenant: "t", RunID: "r3"})
	require.NoError(t, err)
	require.Len(t, log, len(cs.Changes))
	for i, e := range log {
		assert.Equal(t, cs.Changes[i].Key, e.Key, "change-log order")
		assert.Equal(t, cs.Changes[i].Op, e.Op)
	}
}

// Apply writes its rows in batches; each change-log row must still read
// the record as it was before its own change, also across batches.
func TestChangeLogBeforeAcrossBatches(t *testing.T) {
	ctx := context.Background()
	s, _ := open(t, sqlite.Config{})
	recs := resynctest.Identities("u", 300)
	require.NoError(t, s.Apply(ctx, addSet("load", "t", "c", 0, recs...)))
	cs := &resync.ChangeSet{ID: "upd", Tenant: "t", ConnectionID: "c", RunID: "r2", BaseVersion: 1}
	for i, r := range recs {
		old := r.(*resync.Identity)
		if i%3 == 2 {
			cs.Changes = append(cs.Changes, resync.Change{Op: resync.OpRemove, Kind: resync.KindIdentity, Key: old.Key, PrevFingerprint: resync.Fingerprint(r)})
			continue
		}
		u := *old
		u.Title = "Title " + old.Key
		cs.Changes = append(cs.Changes, resync.Change{Op: resync.OpUpdate, Kind: resync.KindIdentity, Key: u.Key, Record: &u,
			Fingerprint: resync.Fingerprint(&u), PrevFingerprint: resync.Fingerprint(r)})
	}
	require.NoError(t, s.Apply(ctx, cs))
	log, err := s.Changes(ctx, resync.ChangeQuery{Tenant: "t", RunID: "r2"})
	require.NoError(t, err)
	require.Len(t, log, len(recs))
	for _, e := range log {
		require.NotNil(t, e.Before, "%s %s", e.Op, e.Key)
		assert.Equal(t, "", e.Before.(*resync.Identity).Title, "%s %s: the record before the change", e.Op, e.Key)
		if e.Op == resync.OpUpdate {
			assert.Equal(t, "Title "+e.Key, e.After.(*resync.Identity).Title)
		} else {
			assert.Nil(t, e.After)
		}
	}
}
