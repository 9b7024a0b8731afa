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
		{linking.LinkQuery{Situation: linking.Unlinked, After: linking.AccountRef{ConnectionID: "c", AccountKey: "k"}}, "(connection_id,account_key)>(?,?)"},
		{linking.LinkQuery{After: linking.AccountRef{ConnectionID: "c"}}, "connection_id>?"},
	} {
		c.q.Tenant, c.q.Limit = "t", 1000
		query, args := linksSQL(c.q)
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
		require.Contains(t, strings.Join(plan, "\n"), "USING PRIMARY KEY (tenant=? AND "+c.want+")", "%+v: %s", c.q, query)
	}
}
