package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/openresync/resync/linking"
)

// A listing of links a page at a time starts each page at its position
// in the primary key, rather than scanning the connection (or tenant)
// from its first link on every page: a correlation pages through the
// links of a 50,000-account connection, and scanning made that quadratic.
func TestLinksPagePlan(t *testing.T) {
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "resync.db"), Config{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	for _, c := range []struct {
		q    linking.LinkQuery
		want string
	}{
		{linking.LinkQuery{ConnectionID: "c", After: linking.AccountRef{ConnectionID: "c", AccountKey: "k"}}, "connection_id=? AND account_key>?"},
		{linking.LinkQuery{After: linking.AccountRef{ConnectionID: "c", AccountKey: "k"}}, "(connection_id,account_key)>(?,?)"},
		{linking.LinkQuery{After: linking.AccountRef{ConnectionID: "c"}}, "connection_id>?"},
		{linking.LinkQuery{Situation: linking.Linked, After: linking.AccountRef{ConnectionID: "c", AccountKey: "k"}}, "(connection_id,account_key)>(?,?)"},
		{linking.LinkQuery{ConnectionID: "c", AccountKeys: []string{"k1", "k2"}}, "connection_id=? AND account_key=?"},
	} {
		c.q.Tenant, c.q.Limit = "t", 1000
		query, args := linksSQL(c.q)
		plan := explain(t, s, query, args)
		require.Contains(t, plan, "USING PRIMARY KEY (tenant=? AND "+c.want+")", "%+v: %s", c.q, query)
	}
}

// A listing of the links in a situation other than Linked (the orphans,
// the ambiguous: few of a tenant's links) reads them from the partial
// index of those situations, not every link of the tenant.
func TestUnsettledLinksPlan(t *testing.T) {
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "resync.db"), Config{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	for _, sit := range []linking.Situation{linking.Unlinked, linking.Ambiguous, linking.OffboardingGap, linking.ServiceAccount} {
		for _, c := range []struct {
			q    linking.LinkQuery
			want string
		}{
			{linking.LinkQuery{}, ""},
			{linking.LinkQuery{ConnectionID: "c"}, " AND connection_id=?"},
			{linking.LinkQuery{ConnectionID: "c", After: linking.AccountRef{ConnectionID: "c", AccountKey: "k"}}, " AND connection_id=? AND account_key>?"},
			{linking.LinkQuery{After: linking.AccountRef{ConnectionID: "c", AccountKey: "k"}}, " AND (connection_id,account_key)>(?,?)"},
		} {
			c.q.Tenant, c.q.Situation, c.q.Limit = "t", sit, 100
			query, args := linksSQL(c.q)
			plan := explain(t, s, query, args)
			require.Contains(t, plan, "USING INDEX account_links_unsettled (tenant=? AND situation=?"+c.want+")", "%+v: %s", c.q, query)
			require.NotContains(t, plan, "TEMP B-TREE", "%+v: sorted after reading", c.q)
		}
	}
}

// explain returns SQLite's plan of query, a line per step.
func explain(t *testing.T, s *Store, query string, args []any) string {
	t.Helper()
	var plan []string
	err := s.readTx(context.Background(), func(tx *sql.Tx) error {
		rows, err := tx.Query("EXPLAIN QUERY PLAN "+query, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				return err
			}
			plan = append(plan, detail)
		}
		return rows.Err()
	})
	require.NoError(t, err)
	return strings.Join(plan, "\n")
}
