package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// AcquireLease implements storage.Store. One upsert takes a free or
// expired lease, or extends the owner's own; the store's clock decides
// expiry (a lease is live while now < expires_at).
func (s *Store) AcquireLease(ctx context.Context, name, owner string, ttl time.Duration) (bool, error) {
	var ok bool
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		now := s.clock.Now()
		res, err := tx.ExecContext(ctx, `INSERT INTO leases (name, owner, expires_at) VALUES (?1, ?2, ?3)
			ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
			WHERE leases.owner = excluded.owner OR leases.expires_at <= ?4`,
			name, owner, now.Add(ttl).UnixNano(), now.UnixNano())
		if err != nil {
			return fmt.Errorf("sqlite: acquiring lease: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("sqlite: acquiring lease: %w", err)
		}
		ok = n == 1
		return nil
	})
	return ok, err
}

// ReleaseLease implements storage.Store.
func (s *Store) ReleaseLease(ctx context.Context, name, owner string) error {
	return s.writeTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM leases WHERE name = ? AND owner = ?`, name, owner); err != nil {
			return fmt.Errorf("sqlite: releasing lease: %w", err)
		}
		return nil
	})
}
