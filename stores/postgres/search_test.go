package postgres_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openresync/resync"
	"github.com/openresync/resync/resynctest"
	"github.com/openresync/resync/storage"
	"github.com/openresync/resync/stores/postgres"
)

// TestSearchUsesIndexes checks that every filter of SearchRecords can be
// answered from an index range, in search order where it pages.
func TestSearchUsesIndexes(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t, postgres.Config{})
	for c := range 4 {
		var changes []resync.Change
		for _, r := range resynctest.Identities(fmt.Sprintf("c%d-", c), 500) {
			changes = append(changes, resync.Change{Op: resync.OpAdd, Kind: resync.KindIdentity, Key: storage.KeyOf(r), Record: r, Fingerprint: resync.Fingerprint(r)})
		}
		conn := fmt.Sprintf("conn-%d", c)
		require.NoError(t, s.Apply(ctx, &resync.ChangeSet{ID: "cs-" + conn, Tenant: "acme", ConnectionID: conn, RunID: "r", Changes: changes}))
	}
	_, err := s.Pool().Exec(ctx, "ANALYZE resync.records")
	require.NoError(t, err)
	after := resync.StoredRecord{ConnectionID: "conn-1", Kind: resync.KindIdentity, Key: "c1-17"}
	for _, c := range []struct {
		q     resync.RecordQuery
		after resync.StoredRecord
		index string
	}{
		{resync.RecordQuery{Email: "c1-5@example.com"}, resync.StoredRecord{}, "records_by_email"},
		{resync.RecordQuery{IdentityKey: "c1-5"}, resync.StoredRecord{}, "records_by_identity_key"},
		{resync.RecordQuery{Status: resync.StatusSuspended}, resync.StoredRecord{}, "records_by_status"},
		{resync.RecordQuery{Status: resync.StatusSuspended}, after, "records_by_status"},
		{resync.RecordQuery{Status: resync.StatusActive}, after, "records_pkey"},
		{resync.RecordQuery{ConnectionID: "conn-2", Kind: resync.KindIdentity}, resync.StoredRecord{}, "records_pkey"},
		{resync.RecordQuery{}, after, "records_pkey"},
	} {
		q := c.q
		q.Tenant, q.Limit = "acme", 100
		plan, err := s.PlanSearch(ctx, q, c.after)
		require.NoError(t, err)
		assert.Contains(t, plan, c.index, "%+v", c.q)
		if c.q.Email == "" && c.q.IdentityKey == "" {
			assert.NotContains(t, plan, "Sort", "%+v: a page is a range of the index, in order", c.q)
		}
		t.Logf("%+v:\n%s", c.q, plan)
	}
}

// TestMigrateKeepsRecordsFindable builds a schema at version 2, as the
// previous release left it, with records in it; opens it with this
// release; and checks that every record is kept and found by the columns
// version 4 extracts.
func TestMigrateKeepsRecordsFindable(t *testing.T) {
	ctx := context.Background()
	dbURL := freshDB(t)
	conn, err := pgx.Connect(ctx, dbURL)
	require.NoError(t, err)
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, `CREATE SCHEMA resync; CREATE TABLE resync.schema_version (
		version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`)
	require.NoError(t, err)
	for i, name := range []string{"0001_init.sql", "0002_volatile.sql"} {
		b, err := os.ReadFile("migrations/" + name)
		require.NoError(t, err)
		_, err = conn.Exec(ctx, strings.ReplaceAll(string(b), "{schema}", `"resync"`))
		require.NoError(t, err, name)
		_, err = conn.Exec(ctx, `INSERT INTO resync.schema_version (version, name) VALUES ($1, $2)`, i+1, name)
		require.NoError(t, err)
	}
	_, err = conn.Exec(ctx, `INSERT INTO resync.connections VALUES ('acme', 'okta', 1), ('acme', 'aws', 1)`)
	require.NoError(t, err)
	people := resynctest.Identities("u", 200)
	insert := func(connID string, r resync.Record, removed bool) {
		data, err := storage.EncodeRecord(r)
		require.NoError(t, err)
		var removedAt any
		if removed {
			removedAt = "2026-01-02T00:00:00Z"
		}
		_, err = conn.Exec(ctx, `INSERT INTO resync.records (tenant, connection_id, kind, key, fingerprint, data, updated_at, updated_by, removed_at, removed_by)
			VALUES ('acme', $1, $2, $3, 7, $4, now(), 'old-run', $5, CASE WHEN $5::timestamptz IS NULL THEN NULL ELSE 'old-run' END)`,
			connID, storage.KindCode(storage.KindOfRecord(r)), storage.KeyOf(r), string(data), removedAt)
		require.NoError(t, err)
	}
	for i, r := range people {
		id := r.(*resync.Identity)
		id.Email = strings.ToUpper(id.Email[:1]) + id.Email[1:]
		insert("okta", id, i == 0)
		insert("aws", &resync.Account{Key: "arn-" + id.Key, OwnerEmail: strings.ToUpper(id.Email), ExternalID: id.Key,
			Status: resync.StatusSuspended}, false)
	}
	insert("okta", &resync.Group{Key: "eng", Members: []string{"u1"}}, false)

	s, err := postgres.Open(ctx, dbURL, postgres.Config{})
	require.NoError(t, err)
	defer s.Close()
	all, err := s.Records(ctx, resync.RecordQuery{Tenant: "acme", ConnectionID: "okta", IncludeRemoved: true})
	require.NoError(t, err)
	require.Len(t, all, len(people)+1, "every record survives the migration")
	for i := range people {
		email := fmt.Sprintf("u%d@example.com", i)
		found, err := s.SearchRecords(ctx, resync.RecordQuery{Tenant: "acme", Email: email, IncludeRemoved: true, Limit: 10}, resync.StoredRecord{})
		require.NoError(t, err)
		require.Len(t, found, 2, "the identity and the account of %s", email)
		assert.Equal(t, []string{"aws", "okta"}, []string{found[0].ConnectionID, found[1].ConnectionID})
		byKey, err := s.SearchRecords(ctx, resync.RecordQuery{Tenant: "acme", IdentityKey: fmt.Sprintf("u%d", i), IncludeRemoved: true, Limit: 10}, resync.StoredRecord{})
		require.NoError(t, err)
		require.Len(t, byKey, 2, "the identity and the account whose ExternalID is u%d", i)
	}
	suspended, err := s.SearchRecords(ctx, resync.RecordQuery{Tenant: "acme", Status: resync.StatusSuspended, Limit: 1000}, resync.StoredRecord{})
	require.NoError(t, err)
	assert.Len(t, suspended, len(people), "every account by status")
	live, err := s.SearchRecords(ctx, resync.RecordQuery{Tenant: "acme", Status: resync.StatusActive, Limit: 1000}, resync.StoredRecord{})
	require.NoError(t, err)
	assert.Len(t, live, len(people)-1, "live identities by status; the tombstone only with IncludeRemoved")
}
