package sqlite

import (
	"context"
	"strings"

	"github.com/openresync/resync"
)

// SetBatch sets the rows per multi-row statement of Apply, for benchmarks.
func SetBatch(n int) { batch = n }

// PlanSearch returns SQLite's query plan of SearchRecords(q, after).
func (s *Store) PlanSearch(ctx context.Context, q resync.RecordQuery, after resync.StoredRecord) (string, error) {
	query, args := searchSQL(q, after)
	rows, err := s.r.QueryContext(ctx, "EXPLAIN QUERY PLAN "+query, args...)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			return "", err
		}
		plan = append(plan, detail)
	}
	return strings.Join(plan, "; "), rows.Err()
}

// Analyze runs ANALYZE, as a long-lived database would have.
func (s *Store) Analyze(ctx context.Context) error {
	_, err := s.w.ExecContext(ctx, "ANALYZE")
	return err
}
