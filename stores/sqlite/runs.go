package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/openresync/resync"
)

// encodeRun keeps a run as its JSON. The enum fields (scope kind,
// connection types) are their stable names, as earlier releases wrote them.
func encodeRun(r resync.RunInfo) ([]byte, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("%w: sqlite: encoding run %q: %w", resync.ErrInvalidRequest, r.ID, err)
	}
	return b, nil
}

func decodeRun(b []byte) (resync.RunInfo, error) {
	var r resync.RunInfo
	if err := json.Unmarshal(b, &r); err != nil {
		return resync.RunInfo{}, fmt.Errorf("sqlite: decoding run: %w", err)
	}
	return r, nil
}

// CreateRun implements storage.Store.
func (s *Store) CreateRun(ctx context.Context, r resync.RunInfo) error {
	return s.createRun(ctx, r, nil)
}

// createRun is CreateRun, enqueuing ns in the same transaction.
func (s *Store) createRun(ctx context.Context, r resync.RunInfo, ns []resync.Notification) error {
	b, err := encodeRun(r)
	if err != nil {
		return err
	}
	notes, err := encodeNotes(ns)
	if err != nil {
		return err
	}
	return s.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO runs (tenant, id, trigger, status, owner, created_at, info)
			VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (tenant, id) DO NOTHING`,
			r.Tenant, r.ID, string(r.Trigger), string(r.Status), r.Owner, r.CreatedAt.UnixNano(), b)
		if err != nil {
			return fmt.Errorf("sqlite: creating run: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("sqlite: creating run: %w", err)
		} else if n == 0 {
			return fmt.Errorf("%w: the run exists", resync.ErrConflict)
		}
		return s.enqueue(ctx, tx, notes)
	})
}

// UpdateRun implements storage.Store.
func (s *Store) UpdateRun(ctx context.Context, r resync.RunInfo) error {
	return s.updateRun(ctx, r, nil)
}

// updateRun is UpdateRun, enqueuing ns in the same transaction.
func (s *Store) updateRun(ctx context.Context, r resync.RunInfo, ns []resync.Notification) error {
	b, err := encodeRun(r)
	if err != nil {
		return err
	}
	notes, err := encodeNotes(ns)
	if err != nil {
		return err
	}
	return s.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE runs SET trigger = ?, status = ?, owner = ?, created_at = ?, info = ?
			WHERE tenant = ? AND id = ?`,
			string(r.Trigger), string(r.Status), r.Owner, r.CreatedAt.UnixNano(), b, r.Tenant, r.ID)
		if err != nil {
			return fmt.Errorf("sqlite: updating run: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("sqlite: updating run: %w", err)
		} else if n == 0 {
			return resync.ErrNotFound
		}
		return s.enqueue(ctx, tx, notes)
	})
}

// GetRun implements storage.Store.
func (s *Store) GetRun(ctx context.Context, tenant, id string) (resync.RunInfo, error) {
	var b []byte
	err := s.r.QueryRowContext(ctx, `SELECT info FROM runs WHERE tenant = ? AND id = ?`, tenant, id).Scan(&b)
	if errors.Is(err, sql.ErrNoRows) {
		return resync.RunInfo{}, resync.ErrNotFound
	}
	if err != nil {
		return resync.RunInfo{}, fmt.Errorf("sqlite: reading run: %w", err)
	}
	return decodeRun(b)
}

// RunStatus implements storage.RunStatusReader: one indexed row's status
// column, without decoding the run's record.
func (s *Store) RunStatus(ctx context.Context, tenant, id string) (resync.RunStatus, error) {
	var st string
	err := s.r.QueryRowContext(ctx, `SELECT status FROM runs WHERE tenant = ? AND id = ?`, tenant, id).Scan(&st)
	if errors.Is(err, sql.ErrNoRows) {
		return "", resync.ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("sqlite: reading run status: %w", err)
	}
	return resync.RunStatus(st), nil
}

// ListRuns implements storage.Store.
func (s *Store) ListRuns(ctx context.Context, q resync.RunQuery) ([]resync.RunInfo, error) {
	limit := q.Limit
	rows, err := s.r.QueryContext(ctx, `SELECT info FROM runs
		WHERE tenant = ?1 AND (?2 = '' OR trigger = ?2) AND (?3 = '' OR status = ?3)
		ORDER BY created_at DESC, id DESC LIMIT ?4`,
		q.Tenant, string(q.Trigger), string(q.Status), limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: listing runs: %w", err)
	}
	defer rows.Close()
	var out []resync.RunInfo
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			return nil, fmt.Errorf("sqlite: listing runs: %w", err)
		}
		r, err := decodeRun(b)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: listing runs: %w", err)
	}
	return out, nil
}

// LiveRuns implements storage.Store, through the index on live statuses.
func (s *Store) LiveRuns(ctx context.Context) ([]resync.RunInfo, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT info FROM runs WHERE status IN ('pending', 'running')`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: listing live runs: %w", err)
	}
	defer rows.Close()
	var out []resync.RunInfo
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			return nil, fmt.Errorf("sqlite: listing live runs: %w", err)
		}
		r, err := decodeRun(b)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: listing live runs: %w", err)
	}
	return out, nil
}
