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
	return s.hold(ctx, cs, nil)
}

// hold is Hold, enqueuing notes in the same transaction.
func (s *Store) hold(ctx context.Context, cs *resync.ChangeSet, notes []encodedNote) error {
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
		if err := copyRows(ctx, tx, s.table("held_changes"), heldColumns, src); err != nil {
			return err
		}
		return s.enqueue(ctx, tx, notes)
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
		cs.Changes, err = s.heldChanges(ctx, tx, tenant, id)
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, resync.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: reading held change set: %w", err)
	}
	return cs, nil
}

// heldChanges reads the changes of a held change set, in their order.
func (s *Store) heldChanges(ctx context.Context, tx pgx.Tx, tenant, id string) ([]resync.Change, error) {
	rows, err := tx.Query(ctx, s.sql(`SELECT op, kind, key, fingerprint, prev_fingerprint, volatile, data
		FROM {schema}.held_changes WHERE tenant = $1 AND held_id = $2 ORDER BY ord`), tenant, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []resync.Change
	for rows.Next() {
		var (
			c        resync.Change
			op, kind int16
			fp, prev int64
			vol      int64
			data     []byte
		)
		if err := rows.Scan(&op, &kind, &c.Key, &fp, &prev, &vol, &data); err != nil {
			return nil, err
		}
		if c.Op, err = storage.OpOf(int64(op)); err != nil {
			return nil, err
		}
		if c.Kind, err = storage.KindOf(int64(kind)); err != nil {
			return nil, err
		}
		c.Fingerprint, c.PrevFingerprint = uint64(fp), uint64(prev)
		c.Volatile = uint64(vol)
		if data != nil {
			if c.Record, err = storage.DecodeRecord(c.Kind, data); err != nil {
				return nil, err
			}
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// DecideHeld implements storage.HeldDecider. One transaction locks the
// connection's row and then the held set's (SELECT ... FOR UPDATE), the
// order Apply locks them in, applies it for an approval (as
// Apply does, in the same transaction), and moves it to
// decided_change_sets. A concurrent decision waits for the lock and then
// finds the row gone and the decision recorded: ErrConflict.
func (s *Store) DecideHeld(ctx context.Context, tenant, id string, d resync.Decision) (resync.HeldSummary, error) {
	return s.decideHeld(ctx, tenant, id, d, nil)
}

// decideHeld is DecideHeld, enqueuing what notesFor returns (if it is not nil)
// in the same transaction.
func (s *Store) decideHeld(ctx context.Context, tenant, id string, d resync.Decision, notesFor func(resync.HeldSummary) []resync.Notification) (resync.HeldSummary, error) {
	if err := checkTexts("tenant", tenant, "held change set ID", id, "decision reason", d.Reason,
		"decider ID", d.By.ID, "decider email", d.By.Email, "decider name", d.By.Name); err != nil {
		return resync.HeldSummary{}, err
	}
	h := resync.HeldSummary{ID: id, Tenant: tenant}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// Lock the connection's row before the held set's, in the order
		// Apply takes them (a read's Apply discards the connection's held
		// sets), so that a decision racing a read waits instead of
		// deadlocking.
		var conn string
		err := tx.QueryRow(ctx, s.sql(`SELECT connection_id FROM {schema}.held_change_sets WHERE tenant = $1 AND id = $2`), tenant, id).Scan(&conn)
		if err == nil {
			if _, err := tx.Exec(ctx, s.sql(`SELECT 1 FROM {schema}.connections WHERE tenant = $1 AND connection_id = $2 FOR UPDATE`), tenant, conn); err != nil {
				return err
			}
		} else if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		var created time.Time
		var ns int32
		err = tx.QueryRow(ctx, s.sql(`SELECT connection_id, run_id, base_version, reason, created_at, created_ns, added, updated, removed
			FROM {schema}.held_change_sets WHERE tenant = $1 AND id = $2 FOR UPDATE`), tenant, id).
			Scan(&h.ConnectionID, &h.RunID, &h.BaseVersion, &h.Reason, &created, &ns, &h.Added, &h.Updated, &h.Removed)
		if errors.Is(err, pgx.ErrNoRows) {
			var decided bool
			if err := tx.QueryRow(ctx, s.sql(`SELECT EXISTS (SELECT 1 FROM {schema}.decided_change_sets
				WHERE tenant = $1 AND id = $2)`), tenant, id).Scan(&decided); err != nil {
				return err
			}
			if decided {
				return fmt.Errorf("%w: the change set was decided already", resync.ErrConflict)
			}
			return resync.ErrNotFound
		}
		if err != nil {
			return err
		}
		h.CreatedAt = joinTime(created, ns)
		if d.Kind == resync.ConnApplied {
			cs := &resync.ChangeSet{ID: id, Tenant: tenant, ConnectionID: h.ConnectionID, RunID: h.RunID,
				BaseVersion: h.BaseVersion, CreatedAt: h.CreatedAt, HoldReason: h.Reason}
			if cs.Changes, err = s.heldChanges(ctx, tx, tenant, id); err != nil {
				return err
			}
			if err := s.apply(ctx, tx, cs); err != nil && !errors.Is(err, errAlreadyApplied) {
				return err
			}
		}
		at, atNS := splitTime(d.At)
		var b pgx.Batch
		b.Queue(s.sql(`DELETE FROM {schema}.held_change_sets WHERE tenant = $1 AND id = $2`), tenant, id)
		b.Queue(s.sql(`INSERT INTO {schema}.decided_change_sets
			(tenant, id, connection_id, run_id, base_version, reason, created_at, created_ns, added, updated, removed,
			 decision, decided_by, decided_at, decided_ns, decision_reason)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`),
			tenant, id, h.ConnectionID, h.RunID, h.BaseVersion, h.Reason, created, ns, h.Added, h.Updated, h.Removed,
			string(d.Kind), d.By, at, atNS, d.Reason)
		if err := tx.SendBatch(ctx, &b).Close(); err != nil {
			return err
		}
		if notesFor == nil {
			return nil
		}
		decided := h
		decided.Decision = d
		notes, err := encodeNotes(notesFor(decided))
		if err != nil {
			return err
		}
		return s.enqueue(ctx, tx, notes)
	})
	switch {
	case err == nil:
		h.Decision = d
		return h, nil
	case errors.Is(err, resync.ErrNotFound) || errors.Is(err, resync.ErrConflict) || errors.Is(err, resync.ErrInvalidRequest):
		return resync.HeldSummary{}, err
	}
	return resync.HeldSummary{}, fmt.Errorf("postgres: deciding on a held change set: %w", err)
}

// DecidedChangeSets implements storage.HeldDecider: newest decision first,
// from the index on (tenant, decided_at, decided_ns, id).
func (s *Store) DecidedChangeSets(ctx context.Context, tenant string, limit int) ([]resync.HeldSummary, error) {
	if err := checkText("tenant", tenant); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, s.sql(`SELECT id, connection_id, run_id, base_version, reason, created_at, created_ns,
		added, updated, removed, decision, decided_by, decided_at, decided_ns, decision_reason
		FROM {schema}.decided_change_sets WHERE tenant = $1
		ORDER BY decided_at DESC, decided_ns DESC, id DESC LIMIT $2`), tenant, limit)
	if err != nil {
		return nil, fmt.Errorf("postgres: listing decided change sets: %w", err)
	}
	defer rows.Close()
	var out []resync.HeldSummary
	for rows.Next() {
		h := resync.HeldSummary{Tenant: tenant}
		var created, at time.Time
		var ns, atNS int32
		var kind string
		if err := rows.Scan(&h.ID, &h.ConnectionID, &h.RunID, &h.BaseVersion, &h.Reason, &created, &ns,
			&h.Added, &h.Updated, &h.Removed, &kind, &h.Decision.By, &at, &atNS, &h.Decision.Reason); err != nil {
			return nil, fmt.Errorf("postgres: listing decided change sets: %w", err)
		}
		h.CreatedAt = joinTime(created, ns)
		h.Decision.Kind, h.Decision.At = resync.ConnectionStatus(kind), joinTime(at, atNS)
		out = append(out, h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: listing decided change sets: %w", err)
	}
	return out, nil
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
