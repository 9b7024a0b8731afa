package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/openresync/resync"
	"github.com/openresync/resync/storage"
)

// Hold implements storage.Store. The changes are copied into
// held_changes in the same transaction that replaces the connection's
// earlier held change set.
func (s *Store) Hold(ctx context.Context, cs *resync.ChangeSet) error {
	if err := checkTexts("tenant", cs.Tenant, "connection ID", cs.ConnectionID, "change set ID", cs.ID,
		"run ID", cs.RunID, "hold reason", cs.HoldReason); err != nil {
		return err
	}
	for i := range cs.Changes {
		if err := checkText("key", cs.Changes[i].Key); err != nil {
			return err
		}
	}
	sum := storage.Summarize(cs)
	created, ns := splitTime(cs.CreatedAt)
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, s.sql(`DELETE FROM {schema}.held_change_sets
			WHERE tenant = $1 AND (connection_id = $2 OR id = $3)`), cs.Tenant, cs.ConnectionID, cs.ID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, s.sql(`INSERT INTO {schema}.held_change_sets
			(tenant, id, connection_id, run_id, base_version, reason, created_at, created_ns, added, updated, removed)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`),
			cs.Tenant, cs.ID, cs.ConnectionID, cs.RunID, cs.BaseVersion, cs.HoldReason, created, ns, sum.Added, sum.Updated, sum.Removed); err != nil {
			return err
		}
		src := newChangeRows(cs, layoutStage, time.Time{})
		src.held = true
		return copyRows(ctx, tx, s.table("held_changes"), heldColumns, src)
	})
	if err != nil {
		if errors.Is(err, resync.ErrInvalidRequest) {
			return err
		}
		return fmt.Errorf("postgres: holding change set: %w", err)
	}
	return nil
}

// HeldChangeSets implements storage.Store.
func (s *Store) HeldChangeSets(ctx context.Context, tenant string) ([]resync.HeldSummary, error) {
	if err := checkText("tenant", tenant); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, s.sql(`SELECT id, connection_id, run_id, base_version, reason, created_at, created_ns,
		added, updated, removed FROM {schema}.held_change_sets WHERE tenant = $1 ORDER BY created_at, created_ns, id`), tenant)
	if err != nil {
		return nil, fmt.Errorf("postgres: listing held change sets: %w", err)
	}
	defer rows.Close()
	var out []resync.HeldSummary
	for rows.Next() {
		h := resync.HeldSummary{Tenant: tenant}
		var created time.Time
		var ns int32
		if err := rows.Scan(&h.ID, &h.ConnectionID, &h.RunID, &h.BaseVersion, &h.Reason, &created, &ns,
			&h.Added, &h.Updated, &h.Removed); err != nil {
			return nil, fmt.Errorf("postgres: listing held change sets: %w", err)
		}
		h.CreatedAt = joinTime(created, ns)
		out = append(out, h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: listing held change sets: %w", err)
	}
	return out, nil
}

// GetHeld implements storage.Store. The header and the changes are read
// in one REPEATABLE READ transaction.
func (s *Store) GetHeld(ctx context.Context, tenant, id string) (*resync.ChangeSet, error) {
	if err := checkTexts("tenant", tenant, "held change set ID", id); err != nil {
		return nil, err
	}
	cs := &resync.ChangeSet{ID: id, Tenant: tenant}
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var created time.Time
		var ns int32
		err := tx.QueryRow(ctx, s.sql(`SELECT connection_id, run_id, base_version, reason, created_at, created_ns
			FROM {schema}.held_change_sets WHERE tenant = $1 AND id = $2`), tenant, id).
			Scan(&cs.ConnectionID, &cs.RunID, &cs.BaseVersion, &cs.HoldReason, &created, &ns)
		if err != nil {
			return err
		}
		cs.CreatedAt = joinTime(created, ns)
		rows, err := tx.Query(ctx, s.sql(`SELECT op, kind, key, fingerprint, prev_fingerprint, volatile, data
			FROM {schema}.held_changes WHERE tenant = $1 AND held_id = $2 ORDER BY ord`), tenant, id)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				c        resync.Change
				op, kind int16
				fp, prev int64
				vol      int64
				data     []byte
			)
			if err := rows.Scan(&op, &kind, &c.Key, &fp, &prev, &vol, &data); err != nil {
				return err
			}
			if c.Op, err = storage.OpOf(int64(op)); err != nil {
				return err
			}
			if c.Kind, err = storage.KindOf(int64(kind)); err != nil {
				return err
			}
			c.Fingerprint, c.PrevFingerprint = uint64(fp), uint64(prev)
			c.Volatile = uint64(vol)
			if data != nil {
				if c.Record, err = storage.DecodeRecord(c.Kind, data); err != nil {
					return err
				}
			}
			cs.Changes = append(cs.Changes, c)
		}
		return rows.Err()
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, resync.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: reading held change set: %w", err)
	}
	return cs, nil
}

// DiscardHeld implements storage.Store.
func (s *Store) DiscardHeld(ctx context.Context, tenant, id string) error {
	if err := checkTexts("tenant", tenant, "held change set ID", id); err != nil {
		return err
	}
	tag, err := s.pool.Exec(ctx, s.sql(`DELETE FROM {schema}.held_change_sets WHERE tenant = $1 AND id = $2`), tenant, id)
	if err != nil {
		return fmt.Errorf("postgres: discarding held change set: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return resync.ErrNotFound
	}
	return nil
}
