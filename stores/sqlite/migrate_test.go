package sqlite_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openresync/resync"
	"github.com/openresync/resync/resynctest"
	"github.com/openresync/resync/storage"
	"github.com/openresync/resync/stores/sqlite"
)

// TestMigrateFromVersion1 builds a database with the first schema, as the
// previous release left it (fingerprints without a version, no volatile
// digests), opens it with this release and checks that every record is
// kept and that the next read reports no change: the fingerprints of the
// old definition are recomputed, not taken for updates.
func TestMigrateFromVersion1(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "v1.db")
	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	v1, err := os.ReadFile("migrations/0001_init.sql")
	require.NoError(t, err)
	_, err = db.Exec(string(v1))
	require.NoError(t, err)
	_, err = db.Exec(`CREATE TABLE schema_version (version INTEGER NOT NULL PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL);
		INSERT INTO schema_version VALUES (1, '0001_init.sql', 0);
		INSERT INTO connections VALUES ('acme', 'okta-1', 1)`)
	require.NoError(t, err)

	records := resynctest.Identities("u", 300)
	for i, r := range records {
		id := r.(*resync.Identity)
		id.LastLogin = time.Date(2026, 1, 1, 0, 0, i, 0, time.UTC) // was part of the fingerprint then
		data, err := storage.EncodeRecord(r)
		require.NoError(t, err)
		// A fingerprint of the old definition: any 64-bit value, top byte included.
		oldFP := int64(uint64(i+1)*0x9e3779b97f4a7c15 | 1<<56)
		_, err = db.Exec(`INSERT INTO records (tenant, connection_id, kind, key, fingerprint, data, updated_at, updated_by)
			VALUES ('acme', 'okta-1', ?, ?, ?, ?, 1, 'old-run')`, storage.KindCode(storage.KindOfRecord(r)), storage.KeyOf(r), oldFP, data)
		require.NoError(t, err)
	}
	tomb, _ := storage.EncodeRecord(&resync.Identity{Key: "gone", Status: resync.StatusActive})
	_, err = db.Exec(`INSERT INTO records VALUES ('acme', 'okta-1', 1, 'gone', 42, ?, 1, 'old-run', 2, 'old-run')`, tomb)
	require.NoError(t, err)
	// On another connection, an account whose email has non-ASCII
	// letters: the migration must fold it as storage.FoldEmail does.
	odd, _ := storage.EncodeRecord(&resync.Account{Key: "zoe", OwnerEmail: "Zoë.ÅSE@Example.COM", ExternalID: "u7", Status: resync.StatusSuspended})
	_, err = db.Exec(`INSERT INTO records VALUES ('acme', 'other-1', 2, 'zoe', 42, ?, 1, 'old-run', NULL, NULL)`, odd)
	require.NoError(t, err)
	_, err = db.Exec(`INSERT INTO change_log (tenant, connection_id, run_id, change_set_id, op, kind, key, fingerprint, prev_fingerprint, at)
		VALUES ('acme', 'okta-1', 'old-run', 'cs', 1, 1, 'u0', 7, 0, 1)`)
	require.NoError(t, err)
	require.NoError(t, db.Close())

	s := reopen(t, path, sqlite.Config{})
	require.Equal(t, sqlite.SchemaVersion(), schemaRows(t, path))
	all, err := s.Records(ctx, resync.RecordQuery{Tenant: "acme", ConnectionID: "okta-1", IncludeRemoved: true})
	require.NoError(t, err)
	require.Len(t, all, len(records)+1, "every record, tombstones included, survives the migration")
	for _, r := range all {
		if !!r.RemovedAt.IsZero() {
			assert.Zero(t, r.Fingerprint>>56, "%s: marked as of the unversioned definition", r.Key)
			assert.Zero(t, r.Volatile)
		}
	}
	// Every record stored before version 4 is found by the columns the
	// migration extracted: by email (in another case), key and status.
	for i, r := range records {
		email := strings.ToUpper(r.(*resync.Identity).Email)
		found, err := s.SearchRecords(ctx, resync.RecordQuery{Tenant: "acme", Email: storage.FoldEmail(email), Limit: 10}, resync.StoredRecord{})
		require.NoError(t, err)
		require.Len(t, found, 1, "record %d by email %s", i, email)
		assert.Equal(t, storage.KeyOf(r), found[0].Key)
		assert.Equal(t, "okta-1", found[0].ConnectionID)
	}
	byKey, err := s.SearchRecords(ctx, resync.RecordQuery{Tenant: "acme", IdentityKey: "gone", IncludeRemoved: true, Limit: 10}, resync.StoredRecord{})
	require.NoError(t, err)
	require.Len(t, byKey, 1, "the tombstone, by identity key")
	active, err := s.SearchRecords(ctx, resync.RecordQuery{Tenant: "acme", Status: resync.StatusActive, IncludeRemoved: true, Limit: 1000}, resync.StoredRecord{})
	require.NoError(t, err)
	assert.Len(t, active, len(records)+1, "every identity by status")
	zoe, err := s.SearchRecords(ctx, resync.RecordQuery{Tenant: "acme", Email: storage.FoldEmail("ZOë.ÅSE@EXAMPLE.COM"), Limit: 10}, resync.StoredRecord{})
	require.NoError(t, err)
	require.Len(t, zoe, 1, "an email with non-ASCII letters, folded alike by the migration and by FoldEmail")
	assert.Equal(t, "other-1", zoe[0].ConnectionID)
	for _, q := range []resync.RecordQuery{{IdentityKey: "u7"}, {Status: resync.StatusSuspended}} {
		q.Tenant, q.Limit = "acme", 10
		got, err := s.SearchRecords(ctx, q, resync.StoredRecord{})
		require.NoError(t, err)
		assert.Equal(t, []string{"zoe"}, []string{got[len(got)-1].Key}, "%+v", q)
	}

	// The next read of the same people, one of whom logged in again.
	next := resynctest.Identities("u", 300)
	for i, r := range next {
		r.(*resync.Identity).LastLogin = time.Date(2026, 1, 1, 0, 0, i, 0, time.UTC)
	}
	next[5].(*resync.Identity).LastLogin = time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	src, fakes := engineSetup(next)
	e := newEngine(t, s, src, fakes)
	defer closeEngine(t, e)
	run, err := e.ResyncPersonnel(ctx, engTenant, resync.Principal{ID: "admin"})
	require.NoError(t, err)
	info, err := run.Wait(ctx)
	require.NoError(t, err)
	require.Equal(t, resync.RunSucceeded, info.Status, "%v", info.Err())
	res := connResult(t, info, engConn)
	assert.Equal(t, []int{0, 0, 0, 300}, []int{res.Added, res.Updated, res.Removed, res.Unchanged}, "added, updated, removed, unchanged")
	log, err := s.Changes(ctx, resync.ChangeQuery{Tenant: "acme"})
	require.NoError(t, err)
	assert.Len(t, log, 1, "the upgrade writes no change-log entry")

	live, err := s.Records(ctx, resync.RecordQuery{Tenant: "acme", ConnectionID: "okta-1"})
	require.NoError(t, err)
	require.Len(t, live, 300)
	for _, r := range live {
		assert.Equal(t, resync.Fingerprint(r.Record), r.Fingerprint, r.Key)
		assert.NotZero(t, r.Volatile, "%s: the digest of its last login, computed by the upgrade", r.Key)
	}
	assert.Equal(t, 9, sqlite.SchemaVersion())
}
