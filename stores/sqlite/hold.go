package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/openresync/resync"
	"github.com/openresync/resync/storage"
)

// heldChange is the JSON form of a resync.Change in a held change set.
type heldChange struct {
	Op              resync.ChangeOp
	Kind            resync.RecordKind
	Key             string
	Record          json.RawMessage `json:",omitempty"`
	Fingerprint     uint64          `json:",omitempty"`
	PrevFingerprint uint64          `json:",omitempty"`
	Volatile        uint64          `json:",omitempty"`
}

func encodeChanges(cs []resync.Change) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	buf.WriteByte('[')
	for i, c := range cs {
		if i > 0 {
			buf.WriteByte(',')
		}
		hc := heldChange{Op: c.Op, Kind: c.Kind, Key: c.Key, Fingerprint: c.Fingerprint, PrevFingerprint: c.PrevFingerprint, Volatile: c.Volatile}
		if c.Record != nil {
			b, err := storage.EncodeRecord(c.Record)
			if err != nil {
				return nil, fmt.Errorf("sqlite: encoding %s %q: %w", c.Kind, c.Key, err)
			}
			hc.Record = b
		}
		if err := enc.Encode(hc); err != nil {
			return nil, fmt.Errorf("sqlite: encoding %s %q: %w", c.Kind, c.Key, err)
		}
	}
	buf.WriteByte(']')
	return buf.Bytes(), nil
}

func decodeChanges(b []byte) ([]resync.Change, error) {
	var hcs []heldChange
	if err := json.Unmarshal(b, &hcs); err != nil {
		return nil, fmt.Errorf("sqlite: decoding held changes: %w", err)
	}
	out := make([]resync.Change, len(hcs))
	for i, hc := range hcs {
		c := resync.Change{Op: hc.Op, Kind: hc.Kind, Key: hc.Key, Fingerprint: hc.Fingerprint, PrevFingerprint: hc.PrevFingerprint, Volatile: hc.Volatile}
		if len(hc.Record) > 0 {
			r, err := storage.DecodeRecord(hc.Kind, hc.Record)
			if err != nil {
				return nil, fmt.Errorf("sqlite: decoding held %s %q: %w", hc.Kind, hc.Key, err)
			}
			c.Record = r
		}
		out[i] = c
	}
	return out, nil
}

// Hold implements storage.Store. The new held change set replaces the
// connection's earlier one (and any held set of the tenant with the same ID).
func (s *Store) Hold(ctx context.Context, cs *resync.ChangeSet) error {
	return s.hold(ctx, cs, nil)
}

// hold is Hold, enqueuing ns in the same transaction.
func (s *Store) hold(ctx context.Context, cs *resync.ChangeSet, ns []resync.Notification) error {
	changes, err := encodeChanges(cs.Changes)
	if err != nil {
		return err
	}
	notes, err := encodeNotes(ns)
	if err != nil {
		return err
	}
	sum := storage.Summarize(cs)
	return s.writeTx(ctx, func(tx *sql.Tx) error {
		// REPLACE removes the rows conflicting on either unique key: the
		// connection's earlier held set and a set of the same ID.
		if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO held_change_sets
			(tenant, id, connection_id, run_id, base_version, added, updated, removed, reason, created_at, changes)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			cs.Tenant, cs.ID, cs.ConnectionID, cs.RunID, cs.BaseVersion, sum.Added, sum.Updated, sum.Removed,
			cs.HoldReason, nanos(cs.CreatedAt), changes); err != nil {
			return fmt.Errorf("sqlite: holding change set: %w", err)
		}
		return s.enqueue(ctx, tx, notes)
	})
}

const heldColumns = `id, tenant, connection_id, run_id, base_version, added, updated, removed, reason, created_at`

func scanHeld(sc interface{ Scan(...any) error }, extra ...any) (resync.HeldSummary, error) {
	var h resync.HeldSummary
	var created sql.NullInt64
	dest := append([]any{&h.ID, &h.Tenant, &h.ConnectionID, &h.RunID, &h.BaseVersion,
		&h.Added, &h.Updated, &h.Removed, &h.Reason, &created}, extra...)
	if err := sc.Scan(dest...); err != nil {
		return h, err
	}
	h.CreatedAt = fromNanos(created)
	return h, nil
}

// HeldChangeSets implements storage.Store; oldest first.
func (s *Store) HeldChangeSets(ctx context.Context, tenant string) ([]resync.HeldSummary, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+heldColumns+` FROM held_change_sets
		WHERE tenant = ? ORDER BY created_at, id`, tenant)
	if err != nil {
		return nil, fmt.Errorf("sqlite: listing held change sets: %w", err)
	}
	defer rows.Close()
	var out []resync.HeldSummary
	for rows.Next() {
		h, err := scanHeld(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: listing held change sets: %w", err)
		}
		out = append(out, h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: listing held change sets: %w", err)
	}
	return out, nil
}

// GetHeld implements storage.Store.
func (s *Store) GetHeld(ctx context.Context, tenant, id string) (*resync.ChangeSet, error) {
	var changes []byte
	row := s.r.QueryRowContext(ctx, `SELECT `+heldColumns+`, changes FROM held_change_sets
		WHERE tenant = ? AND id = ?`, tenant, id)
	h, err := scanHeld(row, &changes)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, resync.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: reading held change set: %w", err)
	}
	cs := &resync.ChangeSet{ID: h.ID, Tenant: h.Tenant, ConnectionID: h.ConnectionID, RunID: h.RunID,
		BaseVersion: h.BaseVersion, CreatedAt: h.CreatedAt, HoldReason: h.Reason}
	if cs.Changes, err = decodeChanges(changes); err != nil {
		return nil, err
	}
	return cs, nil
}

// DiscardHeld implements storage.Store.
func (s *Store) DiscardHeld(ctx context.Context, tenant, id string) error {
	return s.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM held_change_sets WHERE tenant = ? AND id = ?`, tenant, id)
		if err != nil {
			return fmt.Errorf("sqlite: discarding held change set: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("sqlite: discarding held change set: %w", err)
		} else if n == 0 {
			return resync.ErrNotFound
		}
		return nil
	})
}

// DecideHeld implements storage.HeldDecider. One immediate transaction
// reads the held set, applies it for an approval (as Apply does), and moves
// it to decided_change_sets; the write lock makes concurrent decisions, of
// this process or another, take turns, so the second finds the set decided.
func (s *Store) DecideHeld(ctx context.Context, tenant, id string, d resync.Decision) (resync.HeldSummary, error) {
	return s.decideHeld(ctx, tenant, id, d, nil)
}

// decideHeld is DecideHeld, enqueuing what ns returns (if ns is not nil)
// in the same transaction.
func (s *Store) decideHeld(ctx context.Context, tenant, id string, d resync.Decision, ns func(resync.HeldSummary) []resync.Notification) (resync.HeldSummary, error) {
	by, err := json.Marshal(d.By)
	if err != nil {
		return resync.HeldSummary{}, fmt.Errorf("sqlite: encoding the decider: %w", err)
	}
	var out resync.HeldSummary
	err = s.writeTx(ctx, func(tx *sql.Tx) error {
		var changes []byte
		h, err := scanHeld(tx.QueryRowContext(ctx, `SELECT `+heldColumns+`, changes FROM held_change_sets
			WHERE tenant = ? AND id = ?`, tenant, id), &changes)
		if errors.Is(err, sql.ErrNoRows) {
			var one int
			err := tx.QueryRowContext(ctx, `SELECT 1 FROM decided_change_sets WHERE tenant = ? AND id = ?`, tenant, id).Scan(&one)
			switch {
			case err == nil:
				return fmt.Errorf("%w: the change set was decided already", resync.ErrConflict)
			case errors.Is(err, sql.ErrNoRows):
				return resync.ErrNotFound
			}
			return fmt.Errorf("sqlite: deciding on a held change set: %w", err)
		}
		if err != nil {
			return fmt.Errorf("sqlite: deciding on a held change set: %w", err)
		}
		if d.Kind == resync.ConnApplied {
			cs := &resync.ChangeSet{ID: h.ID, Tenant: h.Tenant, ConnectionID: h.ConnectionID, RunID: h.RunID,
				BaseVersion: h.BaseVersion, CreatedAt: h.CreatedAt, HoldReason: h.Reason}
			if cs.Changes, err = decodeChanges(changes); err != nil {
				return err
			}
			enc := startEncoder(cs.Changes)
			defer enc.close()
			if err := s.apply(ctx, tx, cs, enc); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM held_change_sets WHERE tenant = ? AND id = ?`, tenant, id); err != nil {
			return fmt.Errorf("sqlite: deciding on a held change set: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO decided_change_sets
			(tenant, id, connection_id, run_id, base_version, added, updated, removed, reason, created_at,
			 decision, decided_by, decided_at, decision_reason)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			h.Tenant, h.ID, h.ConnectionID, h.RunID, h.BaseVersion, h.Added, h.Updated, h.Removed, h.Reason, nanos(h.CreatedAt),
			string(d.Kind), by, d.At.UnixNano(), d.Reason); err != nil {
			return fmt.Errorf("sqlite: recording a decision: %w", err)
		}
		h.Decision = d
		out = h
		if ns != nil {
			notes, err := encodeNotes(ns(h))
			if err != nil {
				return err
			}
			return s.enqueue(ctx, tx, notes)
		}
		return nil
	})
	if err != nil {
		return resync.HeldSummary{}, err
	}
	return out, nil
}

// DecidedChangeSets implements storage.HeldDecider: newest decision first,
// from the index on (tenant, decided_at, id).
func (s *Store) DecidedChangeSets(ctx context.Context, tenant string, limit int) ([]resync.HeldSummary, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+heldColumns+`, decision, decided_by, decided_at, decision_reason
		FROM decided_change_sets WHERE tenant = ? ORDER BY decided_at DESC, id DESC LIMIT ?`, tenant, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: listing decided change sets: %w", err)
	}
	defer rows.Close()
	var out []resync.HeldSummary
	for rows.Next() {
		var kind string
		var by []byte
		var at int64
		var reason string
		h, err := scanHeld(rows, &kind, &by, &at, &reason)
		if err != nil {
			return nil, fmt.Errorf("sqlite: listing decided change sets: %w", err)
		}
		h.Decision = resync.Decision{Kind: resync.ConnectionStatus(kind), At: time.Unix(0, at).UTC(), Reason: reason}
		if err := json.Unmarshal(by, &h.Decision.By); err != nil {
			return nil, fmt.Errorf("sqlite: decoding the decider of change set %q: %w", h.ID, err)
		}
		out = append(out, h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: listing decided change sets: %w", err)
	}
	return out, nil
}
