package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/openresync/resync"
)

// runDoc is how a RunInfo is kept in runs.info. It embeds RunInfo, so new
// fields are kept without a change here, and shadows the fields whose text
// forms refuse zero values (an unset scope kind or connection type), which
// are kept as numbers instead.
type runDoc struct {
	resync.RunInfo
	Scope       scopeDoc
	Connections []connDoc `json:",omitempty"`
}

type scopeDoc struct {
	resync.Scope
	Kind  uint8
	Types []uint8 `json:",omitempty"`
}

type connDoc struct {
	resync.ConnectionResult
	Type uint8
}

func encodeRun(r resync.RunInfo) ([]byte, error) {
	d := runDoc{RunInfo: r}
	d.Scope = scopeDoc{Scope: r.Scope, Kind: uint8(r.Scope.Kind)}
	for _, t := range r.Scope.Types {
		d.Scope.Types = append(d.Scope.Types, uint8(t))
	}
	for _, c := range r.Connections {
		d.Connections = append(d.Connections, connDoc{ConnectionResult: c, Type: uint8(c.Type)})
	}
	b, err := json.Marshal(d)
	if err != nil {
		return nil, fmt.Errorf("postgres: encoding run %q: %w", r.ID, err)
	}
	if err := checkRecordJSON(0, r.ID, b); err != nil {
		return nil, fmt.Errorf("%w (in run %q)", err, r.ID)
	}
	return b, nil
}

func decodeRun(b []byte) (resync.RunInfo, error) {
	var d runDoc
	if err := json.Unmarshal(b, &d); err != nil {
		return resync.RunInfo{}, fmt.Errorf("postgres: decoding stored run: %w", err)
	}
	r := d.RunInfo
	r.Scope = d.Scope.Scope
	r.Scope.Kind = resync.ScopeKind(d.Scope.Kind)
	r.Scope.Types = nil
	for _, t := range d.Scope.Types {
		r.Scope.Types = append(r.Scope.Types, resync.ConnectionType(t))
	}
	r.Connections = nil
	for _, c := range d.Connections {
		cr := c.ConnectionResult
		cr.Type = resync.ConnectionType(c.Type)
		r.Connections = append(r.Connections, cr)
	}
	return r, nil
}

func checkRun(r resync.RunInfo) error {
	if err := resync.ValidateRun(r); err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	return checkTexts("tenant", r.Tenant, "run ID", r.ID, "trigger", string(r.Trigger), "status", string(r.Status), "owner", r.Owner)
}

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// CreateRun implements resync.RunStore.
func (s *Store) CreateRun(ctx context.Context, r resync.RunInfo) error {
	if err := checkRun(r); err != nil {
		return err
	}
	info, err := encodeRun(r)
	if err != nil {
		return err
	}
	created, ns := splitTime(r.CreatedAt)
	_, err = s.pool.Exec(ctx, s.sql(`INSERT INTO {schema}.runs
		(tenant, id, trigger, status, owner, created_at, created_ns, finished_at, info)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`),
		r.Tenant, r.ID, string(r.Trigger), string(r.Status), r.Owner, created, ns, nullTime(r.FinishedAt), info)
	if err != nil {
		if isUniqueViolation(err) {
			return fmt.Errorf("%w: run %q of tenant %q exists", resync.ErrConflict, r.ID, r.Tenant)
		}
		return fmt.Errorf("postgres: creating run %q: %w", r.ID, err)
	}
	return nil
}

// UpdateRun implements resync.RunStore.
func (s *Store) UpdateRun(ctx context.Context, r resync.RunInfo) error {
	if err := checkRun(r); err != nil {
		return err
	}
	info, err := encodeRun(r)
	if err != nil {
		return err
	}
	created, ns := splitTime(r.CreatedAt)
	tag, err := s.pool.Exec(ctx, s.sql(`UPDATE {schema}.runs SET
		trigger = $3, status = $4, owner = $5, created_at = $6, created_ns = $7, finished_at = $8, info = $9
		WHERE tenant = $1 AND id = $2`),
		r.Tenant, r.ID, string(r.Trigger), string(r.Status), r.Owner, created, ns, nullTime(r.FinishedAt), info)
	if err != nil {
		return fmt.Errorf("postgres: updating run %q: %w", r.ID, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%w: run %q of tenant %q", resync.ErrNotFound, r.ID, r.Tenant)
	}
	return nil
}

// GetRun implements resync.RunStore.
func (s *Store) GetRun(ctx context.Context, tenant, id string) (resync.RunInfo, error) {
	if err := checkTexts("tenant", tenant, "run ID", id); err != nil {
		return resync.RunInfo{}, err
	}
	var info []byte
	err := s.pool.QueryRow(ctx, s.sql(`SELECT info FROM {schema}.runs WHERE tenant = $1 AND id = $2`), tenant, id).Scan(&info)
	if errors.Is(err, pgx.ErrNoRows) {
		return resync.RunInfo{}, fmt.Errorf("%w: run %q of tenant %q", resync.ErrNotFound, id, tenant)
	}
	if err != nil {
		return resync.RunInfo{}, fmt.Errorf("postgres: reading run %q: %w", id, err)
	}
	return decodeRun(info)
}

// ListRuns implements resync.RunStore.
func (s *Store) ListRuns(ctx context.Context, q resync.RunQuery) ([]resync.RunInfo, error) {
	q, err := q.Normalize()
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if err := checkTexts("tenant", q.Tenant, "trigger", string(q.Trigger), "status", string(q.Status)); err != nil {
		return nil, err
	}
	limit := q.Limit
	var b strings.Builder
	b.WriteString(`SELECT info FROM {schema}.runs WHERE tenant = $1`)
	args := []any{q.Tenant}
	if q.Trigger != "" {
		args = append(args, string(q.Trigger))
		fmt.Fprintf(&b, " AND trigger = $%d", len(args))
	}
	if q.Status != "" {
		args = append(args, string(q.Status))
		fmt.Fprintf(&b, " AND status = $%d", len(args))
	}
	args = append(args, limit)
	fmt.Fprintf(&b, " ORDER BY created_at DESC, created_ns DESC, id DESC LIMIT $%d", len(args))
	rows, err := s.pool.Query(ctx, s.sql(b.String()), args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: listing runs: %w", err)
	}
	var out []resync.RunInfo
	for rows.Next() {
		var info []byte
		if err := rows.Scan(&info); err != nil {
			rows.Close()
			return nil, fmt.Errorf("postgres: listing runs: %w", err)
		}
		r, err := decodeRun(info)
		if err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: listing runs: %w", err)
	}
	return out, nil
}

// interruptedError is the error set on the unfinished connections of an
// interrupted run.
const interruptedError = "interrupted: the engine instance carrying out the run stopped"

// RecoverRuns implements resync.RunStore. In one transaction it locks the
// pending and running runs whose owner holds no live instance lease (by
// the database clock), marks them interrupted and returns them. Runs
// locked by a concurrent RecoverRuns are re-checked after its commit, so
// each run is marked once.
func (s *Store) RecoverRuns(ctx context.Context) ([]resync.RunInfo, error) {
	var out []resync.RunInfo
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		out = out[:0]
		rows, err := tx.Query(ctx, s.sql(`SELECT r.info, now() FROM {schema}.runs r
			WHERE r.status IN ('pending', 'running')
			AND NOT EXISTS (SELECT 1 FROM {schema}.leases l
				WHERE l.name = 'instance/' || r.owner AND l.owner = r.owner AND l.expires_at > now())
			FOR UPDATE OF r`))
		if err != nil {
			return err
		}
		for rows.Next() {
			var info []byte
			var now time.Time
			if err := rows.Scan(&info, &now); err != nil {
				rows.Close()
				return err
			}
			r, err := decodeRun(info)
			if err != nil {
				rows.Close()
				return err
			}
			r.Status = resync.RunInterrupted
			r.FinishedAt = now.UTC()
			for i := range r.Connections {
				c := &r.Connections[i]
				if c.Status == resync.ConnPending || c.Status == resync.ConnRunning {
					c.Status = resync.ConnFailed
					c.Error = interruptedError
				}
			}
			out = append(out, r)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		var batch pgx.Batch
		for _, r := range out {
			info, err := encodeRun(r)
			if err != nil {
				return err
			}
			batch.Queue(s.sql(`UPDATE {schema}.runs SET status = $3, finished_at = $4, info = $5
				WHERE tenant = $1 AND id = $2`), r.Tenant, r.ID, string(r.Status), r.FinishedAt, info)
		}
		if batch.Len() == 0 {
			return nil
		}
		return tx.SendBatch(ctx, &batch).Close()
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: recovering runs: %w", err)
	}
	return out, nil
}

func isUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505"
}
