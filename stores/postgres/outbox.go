package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

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
		if err := checkTexts("tenant", n.Tenant, "notification ID", n.ID, "run ID", n.Run.ID); err != nil {
			return nil, err
		}
		n.Attempt = 0
		b, err := json.Marshal(n)
		if err != nil {
			return nil, fmt.Errorf("%w: postgres: encoding notification %q: %w", resync.ErrInvalidRequest, n.ID, err)
		}
		if err := checkRecordJSON("notification", n.ID, b); err != nil {
			return nil, err
		}
		out = append(out, encodedNote{n.Tenant, n.ID, n.Run.ID, b})
	}
	return out, nil
}

// enqueue stores notes in tx, skipping those stored already.
func (s *Store) enqueue(ctx context.Context, tx pgx.Tx, notes []encodedNote) error {
	if len(notes) == 0 {
		return nil
	}
	var b pgx.Batch
	for _, n := range notes {
		b.Queue(s.sql(`INSERT INTO {schema}.outbox (tenant, id, run_id, body)
			VALUES ($1, $2, $3, $4) ON CONFLICT (tenant, id) DO NOTHING`), n.tenant, n.id, n.runID, n.body)
	}
	return tx.SendBatch(ctx, &b).Close()
}

// EnqueueTx stores notifications in the outbox as part of the caller's
// transaction tx, skipping those stored already (by tenant and ID): a job
// queue on the store's database (package
// github.com/openresync/resync/river) stores a run's notifications with
// the state change that causes them, as UpdateRunNotify does.
func (s *Store) EnqueueTx(ctx context.Context, tx pgx.Tx, ns []resync.Notification) error {
	notes, err := encodeNotes(ns)
	if err != nil {
		return err
	}
	if err := s.enqueue(ctx, tx, notes); err != nil {
		return fmt.Errorf("postgres: enqueuing notifications: %w", err)
	}
	return nil
}

// withNotes runs fn and enqueues ns in one transaction.
func (s *Store) withNotes(ctx context.Context, ns []resync.Notification, fn func(tx pgx.Tx) error) error {
	notes, err := encodeNotes(ns)
	if err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		if err := s.enqueue(ctx, tx, notes); err != nil {
			return fmt.Errorf("postgres: enqueuing notifications: %w", err)
		}
		return nil
	})
}

// CreateRunNotify implements storage.Outbox.
func (s *Store) CreateRunNotify(ctx context.Context, r resync.RunInfo, ns []resync.Notification) error {
	return s.withNotes(ctx, ns, func(tx pgx.Tx) error { return s.createRun(ctx, tx, r) })
}

// UpdateRunNotify implements storage.Outbox.
func (s *Store) UpdateRunNotify(ctx context.Context, r resync.RunInfo, ns []resync.Notification) error {
	return s.withNotes(ctx, ns, func(tx pgx.Tx) error { return s.updateRun(ctx, tx, r) })
}

// HoldNotify implements storage.Outbox.
func (s *Store) HoldNotify(ctx context.Context, cs *resync.ChangeSet, ns []resync.Notification) error {
	notes, err := encodeNotes(ns)
	if err != nil {
		return err
	}
	return s.hold(ctx, cs, notes)
}

// DecideHeldNotify implements storage.Outbox.
func (s *Store) DecideHeldNotify(ctx context.Context, tenant, id string, d resync.Decision, ns func(resync.HeldSummary) []resync.Notification) (resync.HeldSummary, error) {
	return s.decideHeld(ctx, tenant, id, d, ns)
}

// ClaimNotifications implements storage.Outbox with one statement: the
// due rows are selected FOR UPDATE SKIP LOCKED, so that engines claiming
// at once each take other rows instead of waiting, and leased by the
// database clock.
func (s *Store) ClaimNotifications(ctx context.Context, owner string, lease time.Duration, limit int) ([]resync.Notification, error) {
	if err := checkText("owner", owner); err != nil {
		return nil, err
	}
	micros := (lease + time.Microsecond - 1) / time.Microsecond
	rows, err := s.pool.Query(ctx, s.sql(`WITH due AS (
			SELECT seq FROM {schema}.outbox
			WHERE state = 'pending' AND due_at <= now() AND lease_until <= now()
			ORDER BY seq LIMIT $3 FOR UPDATE SKIP LOCKED)
		UPDATE {schema}.outbox o SET attempts = o.attempts + 1, lease_owner = $1,
			lease_until = now() + $2::bigint * interval '1 microsecond'
		FROM due WHERE o.seq = due.seq
		RETURNING o.seq, o.body, o.attempts`), owner, int64(micros), limit)
	if err != nil {
		return nil, fmt.Errorf("postgres: claiming notifications: %w", err)
	}
	defer rows.Close()
	type claimed struct {
		seq int64
		n   resync.Notification
	}
	var got []claimed
	for rows.Next() {
		var c claimed
		var body []byte
		if err := rows.Scan(&c.seq, &body, &c.n.Attempt); err != nil {
			return nil, fmt.Errorf("postgres: claiming notifications: %w", err)
		}
		attempt := c.n.Attempt
		if err := json.Unmarshal(body, &c.n); err != nil {
			return nil, fmt.Errorf("postgres: decoding notification %d: %w", c.seq, err)
		}
		c.n.Attempt = attempt
		got = append(got, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: claiming notifications: %w", err)
	}
	// RETURNING does not keep the order of the subquery.
	out := make([]resync.Notification, 0, len(got))
	for len(got) > 0 {
		i := 0
		for j := range got {
			if got[j].seq < got[i].seq {
				i = j
			}
		}
		out = append(out, got[i].n)
		got = append(got[:i], got[i+1:]...)
	}
	return out, nil
}

// SettleNotification implements storage.Outbox.
func (s *Store) SettleNotification(ctx context.Context, tenant, id, owner string, retryAfter time.Duration, lastErr string) error {
	if err := checkTexts("tenant", tenant, "notification ID", id, "owner", owner, "error", lastErr); err != nil {
		return err
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var state, leaseOwner, runID string
		err := tx.QueryRow(ctx, s.sql(`SELECT state, lease_owner, run_id FROM {schema}.outbox
			WHERE tenant = $1 AND id = $2 FOR UPDATE`), tenant, id).Scan(&state, &leaseOwner, &runID)
		if errors.Is(err, pgx.ErrNoRows) {
			return resync.ErrNotFound
		}
		if err != nil {
			return err
		}
		if state != "pending" || lastErr != "" && leaseOwner != owner {
			return nil
		}
		switch {
		case lastErr == "":
			_, err = tx.Exec(ctx, s.sql(`UPDATE {schema}.outbox SET state = 'delivered', settled_at = now(),
				lease_owner = '', lease_until = '-infinity' WHERE tenant = $1 AND id = $2`), tenant, id)
		case retryAfter > 0:
			micros := (retryAfter + time.Microsecond - 1) / time.Microsecond
			_, err = tx.Exec(ctx, s.sql(`UPDATE {schema}.outbox SET due_at = now() + $3::bigint * interval '1 microsecond',
				last_error = $4, lease_owner = '', lease_until = '-infinity' WHERE tenant = $1 AND id = $2`), tenant, id, int64(micros), lastErr)
		default:
			_, err = tx.Exec(ctx, s.sql(`UPDATE {schema}.outbox SET state = 'failed', settled_at = now(), last_error = $3,
				lease_owner = '', lease_until = '-infinity' WHERE tenant = $1 AND id = $2`), tenant, id, lastErr)
			if err == nil {
				err = s.appendNotifyError(ctx, tx, tenant, runID, lastErr)
			}
		}
		return err
	})
	if err != nil && !errors.Is(err, resync.ErrNotFound) {
		return fmt.Errorf("postgres: settling notification: %w", err)
	}
	return err
}

// appendNotifyError adds msg to the NotifyErrors of the tenant's run id,
// if the store has it.
func (s *Store) appendNotifyError(ctx context.Context, tx pgx.Tx, tenant, id, msg string) error {
	var b []byte
	err := tx.QueryRow(ctx, s.sql(`SELECT info FROM {schema}.runs WHERE tenant = $1 AND id = $2 FOR UPDATE`), tenant, id).Scan(&b)
	if errors.Is(err, pgx.ErrNoRows) {
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
	_, err = tx.Exec(ctx, s.sql(`UPDATE {schema}.runs SET info = $3 WHERE tenant = $1 AND id = $2`), tenant, id, b)
	return err
}
