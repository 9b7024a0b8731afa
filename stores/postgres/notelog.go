package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/openresync/resync"
	"github.com/openresync/resync/storage"
)

var _ storage.NotificationLog = (*Store)(nil)

// Notifications implements storage.NotificationLog, on the outbox table's
// (tenant, seq) index.
func (s *Store) Notifications(ctx context.Context, tenant string, afterSeq int64, limit int) ([]resync.Notification, error) {
	if err := checkText("tenant", tenant); err != nil {
		return nil, err
	}
	q := `SELECT seq, body FROM {schema}.outbox WHERE tenant = $1 AND seq > $2 ORDER BY seq LIMIT $3`
	if afterSeq < 0 {
		q = `SELECT seq, body FROM {schema}.outbox WHERE tenant = $1 AND seq > $2 ORDER BY seq DESC LIMIT $3`
	}
	rows, err := s.pool.Query(ctx, s.sql(q), tenant, max(afterSeq, 0), limit)
	if err != nil {
		return nil, fmt.Errorf("postgres: listing notifications: %w", err)
	}
	defer rows.Close()
	var out []resync.Notification
	for rows.Next() {
		var seq int64
		var body []byte
		if err := rows.Scan(&seq, &body); err != nil {
			return nil, fmt.Errorf("postgres: listing notifications: %w", err)
		}
		var n resync.Notification
		if err := json.Unmarshal(body, &n); err != nil {
			return nil, fmt.Errorf("postgres: decoding notification %d: %w", seq, err)
		}
		n.Seq, n.Attempt = seq, 0
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: listing notifications: %w", err)
	}
	if afterSeq < 0 {
		slices.Reverse(out)
	}
	return out, nil
}
