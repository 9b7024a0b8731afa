package sqlite_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openresync/resync"
	"github.com/openresync/resync/resynctest"
	"github.com/openresync/resync/storage"
	"github.com/openresync/resync/stores/sqlite"
)

// TestSearchUsesIndexes checks that every filter of SearchRecords reads an
// index range rather than the tenant's whole table.
func TestSearchUsesIndexes(t *testing.T) {
	ctx := context.Background()
	s, _ := open(t, sqlite.Config{})
	// Enough rows, and ANALYZE, for the planner to prefer the indexes it
	// would choose on a real database.
	for c := range 4 {
		var changes []resync.Change
		for _, r := range resynctest.Identities(fmt.Sprintf("c%d-", c), 500) {
			changes = append(changes, resync.Change{Op: resync.OpAdd, Kind: resync.KindIdentity, Key: storage.KeyOf(r), Record: r, Fingerprint: resync.Fingerprint(r)})
		}
		conn := fmt.Sprintf("conn-%d", c)
		require.NoError(t, s.Apply(ctx, &resync.ChangeSet{ID: "cs-" + conn, Tenant: "acme", ConnectionID: conn, RunID: "r", Changes: changes}))
	}
	require.NoError(t, s.Analyze(ctx))
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
		{resync.RecordQuery{Status: resync.StatusActive}, after, "PRIMARY KEY"},
		{resync.RecordQuery{ConnectionID: "conn-2", Kind: resync.KindIdentity}, resync.StoredRecord{}, "PRIMARY KEY"},
		{resync.RecordQuery{}, after, "PRIMARY KEY"},
		// A page of a connection's records of a kind starts at its
		// position, not at the connection's first record.
		{resync.RecordQuery{ConnectionID: "conn-1", Kind: resync.KindIdentity}, after, "PRIMARY KEY (tenant=? AND connection_id=? AND kind=? AND key>?)"},
		{resync.RecordQuery{ConnectionID: "conn-1"}, after, "PRIMARY KEY (tenant=? AND connection_id=? AND (kind,key)>(?,?))"},
	} {
		q := c.q
		q.Tenant, q.Limit = "acme", 100
		plan, err := s.PlanSearch(ctx, q, c.after)
		require.NoError(t, err)
		assert.Contains(t, plan, c.index, "%+v", c.q)
		if c.q.Email == "" && c.q.IdentityKey == "" {
			// A page is a range of the index, in order: no sort of the matches.
			assert.NotContains(t, plan, "USE TEMP B-TREE FOR ORDER BY", "%+v: the order comes from the index", c.q)
		}
		t.Logf("%+v: %s", c.q, plan)
		assert.NotRegexp(t, `^SCAN records$`, plan, "%+v", c.q)
	}
}
