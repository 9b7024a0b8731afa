package sqlite_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openresync/resync"
	"github.com/openresync/resync/resynctest"
	"github.com/openresync/resync/storage"
	"github.com/openresync/resync/stores/sqlite"
)

// v2Run is a run as the release with schema version 2 stored it: the
// RunInfo as JSON, its scope kind and connection types by name.
const v2Run = `{"ID":"run-1","Tenant":"acme","Scope":{"Kind":"personnel","Types":["idp","hris"]},"Trigger":"adhoc",
	"Initiator":{"ID":"u1","Email":"ada@example.com","Name":"Ada Admin"},"Requesters":[{"ID":"u1","Email":"ada@example.com","Name":"Ada Admin"}],
	"Status":"succeeded","Owner":"engine-1#0a1b",
	"Connections":[{"ConnectionID":"okta-1","Provider":"okta","Type":"idp","Name":"Okta","Status":"succeeded","Read":3,"Added":3,
		"Updated":0,"Removed":0,"Unchanged":0,"Rejected":0,"Pages":1,"Attempts":1,"Reads":1,
		"StartedAt":"2026-03-14T09:00:00Z","FinishedAt":"2026-03-14T09:00:01Z"}],
	"CreatedAt":"2026-03-14T09:00:00Z","FinishedAt":"2026-03-14T09:01:00Z"}`

// v2Held is a held change set's changes as that release stored them.
const v2Held = `[{"Op":"remove","Kind":"identity","Key":"u1","PrevFingerprint":11}
,{"Op":"add","Kind":"identity","Key":"u9","Record":{"Key":"u9","Email":"u9@example.com","Status":"active"},"Fingerprint":99,"Volatile":5}
]`

// buildV2 writes a populated database at schema version 2 (migrations
// 0001 and 0002 only), with rows as the release of that schema wrote
// them: two runs, a connection at version 2 with live records (volatile
// digests, versioned fingerprints), a tombstone, its change log, the
// applied change-set IDs and a held change set. It returns the records.
func buildV2(t *testing.T, path string) []resync.Record {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	defer db.Close()
	for _, f := range []string{"0001_init.sql", "0002_volatile.sql"} {
		m, err := os.ReadFile(filepath.Join("migrations", f))
		require.NoError(t, err)
		_, err = db.Exec(string(m))
		require.NoError(t, err, f)
	}
	_, err = db.Exec(`CREATE TABLE schema_version (version INTEGER NOT NULL PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL);
		INSERT INTO schema_version VALUES (1, '0001_init.sql', 0), (2, '0002_volatile.sql', 0);
		INSERT INTO connections VALUES ('acme', 'okta-1', 2)`)
	require.NoError(t, err)
	created := time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)
	_, err = db.Exec(`INSERT INTO runs (tenant, id, trigger, status, owner, created_at, info) VALUES
		('acme', 'run-1', 'adhoc', 'succeeded', 'engine-1#0a1b', ?, ?),
		('acme', 'run-2', 'adhoc', 'succeeded', 'engine-1#0a1b', ?, ?)`,
		created.UnixNano(), []byte(v2Run), created.Add(time.Hour).UnixNano(),
		[]byte(`{"ID":"run-2","Tenant":"acme","Scope":{"Kind":"personnel","Types":["idp"]},"Trigger":"adhoc","Initiator":{"ID":"u1"},"Status":"succeeded","Owner":"engine-1#0a1b","Connections":null,"CreatedAt":"2026-03-14T10:00:00Z"}`))
	require.NoError(t, err)
	recs := resynctest.Identities("u", 3)
	for i, r := range recs {
		data, err := storage.EncodeRecord(r)
		require.NoError(t, err)
		_, err = db.Exec(`INSERT INTO records (tenant, connection_id, kind, key, fingerprint, data, updated_at, updated_by, volatile)
			VALUES ('acme', 'okta-1', 1, ?, ?, ?, ?, 'run-1', ?)`, r.(*resync.Identity).Key, int64(resync.Fingerprint(r)), data,
			created.Add(time.Duration(i)*time.Second).UnixNano(), int64(i+1))
		require.NoError(t, err)
	}
	tomb, err := storage.EncodeRecord(&resync.Identity{Key: "gone", Email: "gone@example.com", Status: resync.StatusActive})
	require.NoError(t, err)
	_, err = db.Exec(`INSERT INTO records (tenant, connection_id, kind, key, fingerprint, data, updated_at, updated_by, removed_at, removed_by, volatile)
		VALUES ('acme', 'okta-1', 1, 'gone', 42, ?, ?, 'run-1', ?, 'run-2', 0)`, tomb, created.UnixNano(), created.Add(time.Hour).UnixNano())
	require.NoError(t, err)
	for i, e := range []struct {
		run, key string
		op       int
		at       time.Time
	}{
		{"run-1", "u0", 1, created}, {"run-1", "u1", 1, created}, {"run-1", "u2", 1, created}, {"run-1", "gone", 1, created},
		{"run-2", "gone", 3, created.Add(time.Hour)},
	} {
		_, err = db.Exec(`INSERT INTO change_log (tenant, connection_id, run_id, change_set_id, op, kind, key, fingerprint, prev_fingerprint, at)
			VALUES ('acme', 'okta-1', ?, ?, ?, 1, ?, ?, 0, ?)`, e.run, "cs-"+e.run, e.op, e.key, i+1, e.at.UnixNano())
		require.NoError(t, err)
	}
	_, err = db.Exec(`INSERT INTO applied_change_sets VALUES ('acme', 'okta-1', 'cs-run-1', ?), ('acme', 'okta-1', 'cs-run-2', ?)`,
		created.UnixNano(), created.Add(time.Hour).UnixNano())
	require.NoError(t, err)
	_, err = db.Exec(`INSERT INTO held_change_sets (tenant, id, connection_id, run_id, base_version, added, updated, removed, reason, created_at, changes)
		VALUES ('acme', 'held-1', 'okta-1', 'run-3', 2, 1, 0, 1, 'removes 1 of 3', ?, ?)`, created.Add(2*time.Hour).UnixNano(), []byte(v2Held))
	require.NoError(t, err)
	return recs
}

// TestUpgradeFromVersion2KeepsData opens a populated database of schema
// version 2 with this release: every run, record, tombstone, change-log
// entry and held change set is still there and queryable (entries written
// before have no Before or After), and the store goes on working: the
// next change records what it replaced, and an erasure finds the old
// rows.
func TestUpgradeFromVersion2KeepsData(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v2.db")
	recs := buildV2(t, path)
	s := reopen(t, path, sqlite.Config{})
	require.Equal(t, sqlite.SchemaVersion(), schemaRows(t, path))
	checkUpgraded(t, s, recs)
}

// checkUpgraded checks what buildV2 wrote through the Store API of this
// release.
func checkUpgraded(t *testing.T, s interface {
	resync.Store
	storage.Eraser
}, recs []resync.Record) {
	ctx := context.Background()
	created := time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)

	run, err := s.GetRun(ctx, "acme", "run-1")
	require.NoError(t, err)
	assert.Equal(t, resync.ScopePersonnel, run.Scope.Kind)
	assert.Equal(t, []resync.ConnectionType{resync.IdP, resync.HRIS}, run.Scope.Types)
	assert.Equal(t, "ada@example.com", run.Initiator.Email)
	assert.Equal(t, resync.RunSucceeded, run.Status)
	require.Len(t, run.Connections, 1)
	assert.Equal(t, resync.IdP, run.Connections[0].Type)
	assert.Equal(t, 3, run.Connections[0].Added)
	assert.True(t, run.CreatedAt.Equal(created))
	runs, err := s.ListRuns(ctx, resync.RunQuery{Tenant: "acme", Limit: 10})
	require.NoError(t, err)
	require.Len(t, runs, 2)
	assert.Equal(t, "run-2", runs[0].ID, "newest first")

	all, err := s.Records(ctx, resync.RecordQuery{Tenant: "acme", ConnectionID: "okta-1", IncludeRemoved: true})
	require.NoError(t, err)
	require.Len(t, all, len(recs)+1)
	for i, r := range recs {
		assert.Equal(t, r.(*resync.Identity).Key, all[i+1].Key)
		assert.Equal(t, resync.Fingerprint(r), all[i+1].Fingerprint)
		assert.Equal(t, uint64(i+1), all[i+1].Volatile)
		assert.Equal(t, r.(*resync.Identity).Email, all[i+1].Record.(*resync.Identity).Email)
	}
	assert.Equal(t, "gone", all[0].Key)
	assert.True(t, !all[0].RemovedAt.IsZero())
	assert.Equal(t, "run-2", all[0].RemovedBy)
	var version int64
	version, err = s.Snapshot(ctx, "acme", "okta-1", func(resync.RecordKind, string, uint64, uint64) error { return nil })
	require.NoError(t, err)
	assert.EqualValues(t, 2, version)

	log, err := s.Changes(ctx, resync.ChangeQuery{Tenant: "acme"})
	require.NoError(t, err)
	require.Len(t, log, 5)
	for _, e := range log {
		assert.Nil(t, e.Before, "entries written before the upgrade have no record before")
		assert.Nil(t, e.After)
	}
	for _, q := range []struct {
		q    resync.ChangeQuery
		want int
	}{
		{resync.ChangeQuery{ConnectionID: "okta-1"}, 5},
		{resync.ChangeQuery{RunID: "run-2"}, 1},
		{resync.ChangeQuery{Key: "gone"}, 2},
		{resync.ChangeQuery{Op: resync.OpRemove}, 1},
		{resync.ChangeQuery{Kind: resync.KindIdentity}, 5},
		{resync.ChangeQuery{Since: created.Add(time.Minute)}, 1},
		{resync.ChangeQuery{Until: created.Add(time.Minute)}, 4},
		{resync.ChangeQuery{AfterSeq: log[1].Seq, Limit: 2}, 2},
	} {
		q.q.Tenant = "acme"
		got, err := s.Changes(ctx, q.q)
		require.NoError(t, err)
		assert.Len(t, got, q.want, "%+v", q.q)
	}

	held, err := s.HeldChangeSets(ctx, "acme")
	require.NoError(t, err)
	require.Len(t, held, 1)
	assert.Equal(t, resync.HeldSummary{ID: "held-1", Tenant: "acme", ConnectionID: "okta-1", RunID: "run-3", BaseVersion: 2,
		Added: 1, Removed: 1, Reason: "removes 1 of 3", CreatedAt: created.Add(2 * time.Hour)}, held[0])
	cs, err := s.GetHeld(ctx, "acme", "held-1")
	require.NoError(t, err)
	require.Len(t, cs.Changes, 2)
	assert.Equal(t, resync.OpRemove, cs.Changes[0].Op)
	assert.Equal(t, "u9@example.com", cs.Changes[1].Record.(*resync.Identity).Email)

	// The store goes on: an update records the old row as its Before.
	u1 := *recs[1].(*resync.Identity)
	u1.Status = resync.StatusDeprovisioned
	require.NoError(t, s.Apply(ctx, &resync.ChangeSet{ID: "cs-run-4", Tenant: "acme", ConnectionID: "okta-1", RunID: "run-4", BaseVersion: 2,
		Changes: []resync.Change{{Op: resync.OpUpdate, Kind: resync.KindIdentity, Key: u1.Key, Record: &u1,
			Fingerprint: resync.Fingerprint(&u1), PrevFingerprint: resync.Fingerprint(recs[1])}}}))
	last, err := s.Changes(ctx, resync.ChangeQuery{Tenant: "acme", RunID: "run-4"})
	require.NoError(t, err)
	require.Len(t, last, 1)
	require.NotNil(t, last[0].Before)
	assert.Equal(t, resync.StatusActive, last[0].Before.(*resync.Identity).Status)
	assert.Equal(t, resync.StatusDeprovisioned, last[0].After.(*resync.Identity).Status)

	// An erasure finds the rows written before the upgrade.
	erased, err := s.Erase(ctx, "acme", "erase-1", "admin", func(r resync.Record) bool {
		id, ok := r.(*resync.Identity)
		return ok && id.Email == "gone@example.com"
	})
	require.NoError(t, err)
	require.Len(t, erased, 1)
	gone, err := s.Changes(ctx, resync.ChangeQuery{Tenant: "acme", Key: "gone"})
	require.NoError(t, err)
	assert.Empty(t, gone, "the erased tombstone's entries are redacted")
}
