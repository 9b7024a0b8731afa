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
		return nil, fmt.Errorf("postgres: encoding run: %w", err)
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
	return checkTexts("tenant", r.Tenant, "run ID", r.ID, "trigger", string(r.Trigger), "status", string(r.Status), "owner", r.Owner)
}

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// CreateRun implements storage.Store.
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
			return fmt.Errorf("%w: the run exists", resync.ErrConflict)
		}
		return fmt.Errorf("postgres: creating run: %w", err)
	}
	return nil
}

// UpdateRun implements storage.Store.
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
		return fmt.Errorf("postgres: updating run: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return resync.ErrNotFound
	}
	return nil
}

// GetRun implements storage.Store.
func (s *Store) GetRun(ctx context.Context, tenant, id string) (resync.RunInfo, error) {
	if err := checkTexts("tenant", tenant, "run ID", id); err != nil {
		return resync.RunInfo{}, err
	}
	var info []byte
	err := s.pool.QueryRow(ctx, s.sql(`SELECT info FROM {schema}.runs WHERE tenant = $1 AND id = $2`), tenant, id).Scan(&info)
	if errors.Is(err, pgx.ErrNoRows) {
		return resync.RunInfo{}, resync.ErrNotFound
	}
	if err != nil {
		return resync.RunInfo{}, fmt.Errorf("postgres: reading run: %w", err)
	}
	return decodeRun(info)
}

// ListRuns implements storage.Store.
func (s *Store) ListRuns(ctx context.Context, q resync.RunQuery) ([]resync.RunInfo, error) {
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

// LiveRuns implements storage.Store, through the partial index on live
// statuses.
func (s *Store) LiveRuns(ctx context.Context) ([]resync.RunInfo, error) {
	rows, err := s.pool.Query(ctx, s.sql(`SELECT info FROM {schema}.runs WHERE status IN ('pending', 'running')`))
	if err != nil {
		return nil, fmt.Errorf("postgres: listing live runs: %w", err)
	}
	defer rows.Close()
	var out []resync.RunInfo
	for rows.Next() {
		var info []byte
		if err := rows.Scan(&info); err != nil {
			return nil, fmt.Errorf("postgres: listing live runs: %w", err)
		}
		r, err := decodeRun(info)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: listing live runs: %w", err)
	}
	return out, nil
}

func isUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505"
}
