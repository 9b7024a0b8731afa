package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/openresync/resync"
	"github.com/openresync/resync/storage"
)

var _ storage.Outbox = (*Store)(nil)

// encodedNote is a notification ready for the outbox table.
type encodedNote struct {
	tenant, id, runID string
	body              []byte
}

func encodeNotes(ns []resync.Notification) ([]encodedNote, error) {
	out := make([]encodedNote, 0, len(ns))
	for _, n := range ns {
		n.Attempt = 0
		b, err := json.Marshal(n)
		if err != nil {
			return nil, fmt.Errorf("%w: sqlite: encoding notification %q: %w", resync.ErrInvalidRequest, n.ID, err)
		}
		out = append(out, encodedNote{n.Tenant, n.ID, n.Run.ID, b})
	}
	return out, nil
}

// enqueue stores notes in tx, skipping those stored already.
func (s *Store) enqueue(ctx context.Context, tx *sql.Tx, notes []encodedNote) error {
	now := s.clock.Now().UnixNano()
	for _, n := range notes {
		if _, err := tx.ExecContext(ctx, `INSERT INTO outbox (tenant, id, run_id, body, created_at)
			VALUES (?, ?, ?, ?, ?) ON CONFLICT (tenant, id) DO NOTHING`, n.tenant, n.id, n.runID, n.body, now); err != nil {
			return fmt.Errorf("sqlite: enqueuing notification: %w", err)
		}
	}
	return nil
}

// CreateRunNotify implements storage.Outbox.
func (s *Store) CreateRunNotify(ctx context.Context, r resync.RunInfo, ns []resync.Notification) error {
	return s.createRun(ctx, r, ns)
}

// UpdateRunNotify implements storage.Outbox.
func (s *Store) UpdateRunNotify(ctx context.Context, r resync.RunInfo, ns []resync.Notification) error {
	return s.updateRun(ctx, r, ns)
}

// HoldNotify implements storage.Outbox.
func (s *Store) HoldNotify(ctx context.Context, cs *resync.ChangeSet, ns []resync.Notification) error {
	return s.hold(ctx, cs, ns)
}

// DecideHeldNotify implements storage.Outbox.
func (s *Store) DecideHeldNotify(ctx context.Context, tenant, id string, d resync.Decision, ns func(resync.HeldSummary) []resync.Notification) (resync.HeldSummary, error) {
	return s.decideHeld(ctx, tenant, id, d, ns)
}

// ClaimNotifications implements storage.Outbox. Claims take the file's
// write lock, so engines of several processes take turns.
func (s *Store) ClaimNotifications(ctx context.Context, owner string, lease time.Duration, limit int) ([]resync.Notification, error) {
	var out []resync.Notification
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		now := s.clock.Now().UnixNano()
		rows, err := tx.QueryContext(ctx, `SELECT seq, body, attempts FROM outbox
			WHERE state = 'pending' AND due_at <= ?1 AND lease_until <= ?1 ORDER BY seq LIMIT ?2`, now, limit)
		if err != nil {
			return fmt.Errorf("sqlite: claiming notifications: %w", err)
		}
		var seqs []int64
		for rows.Next() {
			var seq int64
			var body []byte
			var attempts int
			if err := rows.Scan(&seq, &body, &attempts); err != nil {
				rows.Close()
				return fmt.Errorf("sqlite: claiming notifications: %w", err)
			}
			var n resync.Notification
			if err := json.Unmarshal(body, &n); err != nil {
				rows.Close()
				return fmt.Errorf("sqlite: decoding notification %d: %w", seq, err)
			}
			n.Attempt = attempts + 1
			out = append(out, n)
			seqs = append(seqs, seq)
		}
		if err := rows.Close(); err != nil {
			return fmt.Errorf("sqlite: claiming notifications: %w", err)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("sqlite: claiming notifications: %w", err)
		}
		until := now + int64(lease)
		for _, seq := range seqs {
			if _, err := tx.ExecContext(ctx, `UPDATE outbox SET attempts = attempts + 1, lease_owner = ?, lease_until = ?
				WHERE seq = ?`, owner, until, seq); err != nil {
				return fmt.Errorf("sqlite: claiming notifications: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// SettleNotification implements storage.Outbox.
func (s *Store) SettleNotification(ctx context.Context, tenant, id, owner string, retryAfter time.Duration, lastErr string) error {
	return s.writeTx(ctx, func(tx *sql.Tx) error {
		var state, leaseOwner, runID string
		err := tx.QueryRowContext(ctx, `SELECT state, lease_owner, run_id FROM outbox WHERE tenant = ? AND id = ?`, tenant, id).
			Scan(&state, &leaseOwner, &runID)
		if errors.Is(err, sql.ErrNoRows) {
			return resync.ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("sqlite: settling notification: %w", err)
		}
		if state != "pending" || lastErr != "" && leaseOwner != owner {
			return nil
		}
		now := s.clock.Now().UnixNano()
		switch {
		case lastErr == "":
			_, err = tx.ExecContext(ctx, `UPDATE outbox SET state = 'delivered', settled_at = ?, lease_owner = '', lease_until = 0
				WHERE tenant = ? AND id = ?`, now, tenant, id)
		case retryAfter > 0:
			_, err = tx.ExecContext(ctx, `UPDATE outbox SET due_at = ?, last_error = ?, lease_owner = '', lease_until = 0
				WHERE tenant = ? AND id = ?`, now+int64(retryAfter), lastErr, tenant, id)
		default:
			_, err = tx.ExecContext(ctx, `UPDATE outbox SET state = 'failed', settled_at = ?, last_error = ?, lease_owner = '', lease_until = 0
				WHERE tenant = ? AND id = ?`, now, lastErr, tenant, id)
			if err == nil {
				err = s.appendNotifyError(ctx, tx, tenant, runID, lastErr)
			}
		}
		if err != nil {
			return fmt.Errorf("sqlite: settling notification: %w", err)
		}
		return nil
	})
}

// appendNotifyError adds msg to the NotifyErrors of the tenant's run id,
// if the store has it.
func (s *Store) appendNotifyError(ctx context.Context, tx *sql.Tx, tenant, id, msg string) error {
	var b []byte
	err := tx.QueryRowContext(ctx, `SELECT info FROM runs WHERE tenant = ? AND id = ?`, tenant, id).Scan(&b)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	r, err := decodeRun(b)
	if err != nil {
		return err
	}
	r.NotifyErrors = append(r.NotifyErrors, msg)
	if b, err = encodeRun(r); err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `UPDATE runs SET info = ? WHERE tenant = ? AND id = ?`, b, tenant, id)
	return err
}
