package postgres

import (
	"context"
	"strings"

	"github.com/openresync/resync"
	"github.com/openresync/resync/linking"
)

// SetCopyMin sets the change count from which Apply stages changes
// through COPY rather than arrays, so tests can drive both paths.
func (s *Store) SetCopyMin(n int) { s.copyMin = n }

// PlanSearch returns PostgreSQL's plan of SearchRecords(q, after), with
// sequential scans disabled: it shows the indexes the query can use.
func (s *Store) PlanSearch(ctx context.Context, q resync.RecordQuery, after resync.StoredRecord) (string, error) {
	query, args := s.searchSQL(q, after)
	return s.plan(ctx, query, args)
}

// PlanLinks returns PostgreSQL's plan of Links(q), with sequential scans
// disabled.
func (s *Store) PlanLinks(ctx context.Context, q linking.LinkQuery) (string, error) {
	query, args := s.linksSQL(q)
	return s.plan(ctx, query, args)
}

func (s *Store) plan(ctx context.Context, query string, args []any) (string, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return "", err
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, "SET LOCAL enable_seqscan = off"); err != nil {
		return "", err
	}
	rows, err := tx.Query(ctx, "EXPLAIN "+query, args...)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return "", err
		}
		plan = append(plan, line)
	}
	return strings.Join(plan, "\n"), rows.Err()
}
