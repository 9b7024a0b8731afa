package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// AcquireLease implements storage.Store with one atomic upsert: the
// row is written when the lease is free, expired or already owner's, and
// expiry is judged by the database clock, so replicas with skewed clocks
// agree.
func (s *Store) AcquireLease(ctx context.Context, name, owner string, ttl time.Duration) (bool, error) {
	if err := checkTexts("lease name", name, "lease owner", owner); err != nil {
		return false, err
	}
	micros := (ttl + time.Microsecond - 1) / time.Microsecond
	var ok bool
	err := s.pool.QueryRow(ctx, s.sql(`INSERT INTO {schema}.leases AS l (name, owner, expires_at)
		VALUES ($1, $2, now() + $3::bigint * interval '1 microsecond')
		ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
		WHERE l.owner = excluded.owner OR l.expires_at <= now()
		RETURNING true`), name, owner, int64(micros)).Scan(&ok)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("postgres: acquiring lease: %w", err)
	}
	return ok, nil
}

// ReleaseLease implements storage.Store.
func (s *Store) ReleaseLease(ctx context.Context, name, owner string) error {
	if err := checkTexts("lease name", name, "lease owner", owner); err != nil {
		return err
	}
	if _, err := s.pool.Exec(ctx, s.sql(`DELETE FROM {schema}.leases WHERE name = $1 AND owner = $2`), name, owner); err != nil {
		return fmt.Errorf("postgres: releasing lease: %w", err)
	}
	return nil
}
