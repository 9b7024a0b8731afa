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

// encodeRun keeps a RunInfo in runs.info as its JSON.
func encodeRun(r resync.RunInfo) ([]byte, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("postgres: encoding run: %w", err)
	}
	if err := checkRecordJSON("run", r.ID, b); err != nil {
		return nil, err
	}
	return b, nil
}

// runDoc reads runs.info. Releases before the enums were names kept the
// scope kind, the scope's types and each connection's type as numbers: it
// reads either form.
type runDoc struct {
	resync.RunInfo
	Scope       scopeDoc
	Connections []connDoc
}

type scopeDoc struct {
	resync.Scope
	Kind  json.RawMessage
	Types []json.RawMessage
}

type connDoc struct {
	resync.ConnectionResult
	Type json.RawMessage
}

// legacyScopeKinds and legacyTypes are the numbers earlier releases wrote.
var (
	legacyScopeKinds = []resync.ScopeKind{1: resync.ScopePersonnel, 2: resync.ScopeAccounts, 3: resync.ScopeAll}
	legacyTypes      = []resync.ConnectionType{1: resync.IdP, 2: resync.HRIS, 3: resync.Infrastructure, 4: resync.VersionControl,
		5: resync.MDM, 6: resync.PolicyManagement, 7: resync.SecurityTraining, 8: resync.Observability, 9: resync.VulnerabilityScanning,
		10: resync.Offboarding, 11: resync.BackgroundChecks, 12: resync.ComplianceAsCode, 13: resync.AccessReview}
)

// enumValue decodes a name, or a number of an earlier release through
// legacy. Absent or null gives the zero value.
func enumValue[T ~string](raw json.RawMessage, legacy []T) (T, error) {
	var zero T
	if len(raw) == 0 || string(raw) == "null" {
		return zero, nil
	}
	var n int
	if err := json.Unmarshal(raw, &n); err == nil {
		if n == 0 {
			return zero, nil
		}
		if n < 0 || n >= len(legacy) || legacy[n] == "" {
			return zero, fmt.Errorf("stored value %d is unknown", n)
		}
		return legacy[n], nil
	}
	var s T
	if err := json.Unmarshal(raw, &s); err != nil {
		return zero, err
	}
	return s, nil
}

func decodeRun(b []byte) (resync.RunInfo, error) {
	var d runDoc
	if err := json.Unmarshal(b, &d); err != nil {
		return resync.RunInfo{}, fmt.Errorf("postgres: decoding stored run: %w", err)
	}
	r := d.RunInfo
	r.Scope = d.Scope.Scope
	var err error
	if r.Scope.Kind, err = enumValue(d.Scope.Kind, legacyScopeKinds); err != nil {
		return resync.RunInfo{}, fmt.Errorf("postgres: decoding stored run %q: scope kind: %w", r.ID, err)
	}
	r.Scope.Types = nil
	for _, raw := range d.Scope.Types {
		t, err := enumValue(raw, legacyTypes)
		if err != nil {
			return resync.RunInfo{}, fmt.Errorf("postgres: decoding stored run %q: scope type: %w", r.ID, err)
		}
		r.Scope.Types = append(r.Scope.Types, t)
	}
	r.Connections = nil
	for _, c := range d.Connections {
		cr := c.ConnectionResult
		if cr.Type, err = enumValue(c.Type, legacyTypes); err != nil {
			return resync.RunInfo{}, fmt.Errorf("postgres: decoding stored run %q: connection type: %w", r.ID, err)
		}
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

// execer runs a statement: the pool, or a transaction.
type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// CreateRun implements storage.Store.
func (s *Store) CreateRun(ctx context.Context, r resync.RunInfo) error {
	return s.createRun(ctx, s.pool, r)
}

// createRun is CreateRun on db.
func (s *Store) createRun(ctx context.Context, db execer, r resync.RunInfo) error {
	if err := checkRun(r); err != nil {
		return err
	}
	info, err := encodeRun(r)
	if err != nil {
		return err
	}
	created, ns := splitTime(r.CreatedAt)
	_, err = db.Exec(ctx, s.sql(`INSERT INTO {schema}.runs
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
	return s.updateRun(ctx, s.pool, r)
}

// updateRun is UpdateRun on db.
func (s *Store) updateRun(ctx context.Context, db execer, r resync.RunInfo) error {
	if err := checkRun(r); err != nil {
		return err
	}
	info, err := encodeRun(r)
	if err != nil {
		return err
	}
	created, ns := splitTime(r.CreatedAt)
	tag, err := db.Exec(ctx, s.sql(`UPDATE {schema}.runs SET
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

// RunStatus implements storage.RunStatusReader: one row's status column,
// without reading the run's record.
func (s *Store) RunStatus(ctx context.Context, tenant, id string) (resync.RunStatus, error) {
	if err := checkTexts("tenant", tenant, "run ID", id); err != nil {
		return "", err
	}
	var st string
	err := s.pool.QueryRow(ctx, s.sql(`SELECT status FROM {schema}.runs WHERE tenant = $1 AND id = $2`), tenant, id).Scan(&st)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", resync.ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("postgres: reading run status: %w", err)
	}
	return resync.RunStatus(st), nil
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

// CreateRunTx is CreateRun as part of the caller's transaction tx on the
// store's database: a job queue on the same database (package
// github.com/openresync/resync/river) stores a run and its jobs in one
// transaction with it, so that neither exists without the other.
func (s *Store) CreateRunTx(ctx context.Context, tx pgx.Tx, r resync.RunInfo) error {
	return s.createRun(ctx, tx, r)
}

// UpdateRunTx is UpdateRun as part of the caller's transaction tx.
func (s *Store) UpdateRunTx(ctx context.Context, tx pgx.Tx, r resync.RunInfo) error {
	return s.updateRun(ctx, tx, r)
}

// LockRunTx reads a run as GetRun does, in the caller's transaction tx,
// and locks its row until tx ends: writers of one run's record from
// several processes take turns.
func (s *Store) LockRunTx(ctx context.Context, tx pgx.Tx, tenant, id string) (resync.RunInfo, error) {
	if err := checkTexts("tenant", tenant, "run ID", id); err != nil {
		return resync.RunInfo{}, err
	}
	var info []byte
	err := tx.QueryRow(ctx, s.sql(`SELECT info FROM {schema}.runs WHERE tenant = $1 AND id = $2 FOR UPDATE`), tenant, id).Scan(&info)
	if errors.Is(err, pgx.ErrNoRows) {
		return resync.RunInfo{}, resync.ErrNotFound
	}
	if err != nil {
		return resync.RunInfo{}, fmt.Errorf("postgres: reading run: %w", err)
	}
	return decodeRun(info)
}
