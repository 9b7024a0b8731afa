package postgres

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/openresync/resync"
	"github.com/openresync/resync/storage"
)

// Snapshot implements storage.Store. The version and the entries
// are read in one REPEATABLE READ, read-only transaction and streamed to fn
// as the rows arrive.
func (s *Store) Snapshot(ctx context.Context, tenant, connectionID string, fn func(kind resync.RecordKind, key string, fingerprint, volatile uint64) error) (int64, error) {
	if err := checkTexts("tenant", tenant, "connection ID", connectionID); err != nil {
		return 0, err
	}
	var version int64
	var fnErr error
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, s.sql(`SELECT version FROM {schema}.connections WHERE tenant = $1 AND connection_id = $2`),
			tenant, connectionID).Scan(&version)
		if errors.Is(err, pgx.ErrNoRows) {
			version = 0
			return nil // never applied: no records either
		}
		if err != nil {
			return err
		}
		rows, err := tx.Query(ctx, s.sql(`SELECT kind, key, fingerprint, volatile FROM {schema}.records
			WHERE tenant = $1 AND connection_id = $2 AND removed_at IS NULL`), tenant, connectionID)
		if err != nil {
			return err
		}
		defer rows.Close()
		var kind int16
		var key string
		var fp, vol int64
		for rows.Next() {
			if err := rows.Scan(&kind, &key, &fp, &vol); err != nil {
				return err
			}
			k, err := storage.KindOf(int64(kind))
			if err != nil {
				return err
			}
			if err := fn(k, key, uint64(fp), uint64(vol)); err != nil {
				fnErr = err
				return err
			}
		}
		return rows.Err()
	})
	if fnErr != nil {
		return 0, fnErr
	}
	if err != nil {
		return 0, fmt.Errorf("postgres: reading snapshot of connection: %w", err)
	}
	return version, nil
}

// op codes in the database are resync.ChangeOp values: 1 add, 2 update, 3
// remove, 4 refresh.

// Apply implements storage.Store; see the package documentation
// (# Concurrency) for how it runs.
func (s *Store) Apply(ctx context.Context, cs *resync.ChangeSet) error {
	if err := checkTexts("tenant", cs.Tenant, "connection ID", cs.ConnectionID, "change set ID", cs.ID, "run ID", cs.RunID); err != nil {
		return err
	}
	for i := range cs.Changes {
		if err := checkText("key", cs.Changes[i].Key); err != nil {
			return err
		}
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error { return s.apply(ctx, tx, cs) })
	if err != nil {
		if errors.Is(err, resync.ErrConflict) || errors.Is(err, resync.ErrInvalidRequest) || errors.Is(err, errAlreadyApplied) {
			if errors.Is(err, errAlreadyApplied) {
				return nil
			}
			return err
		}
		return fmt.Errorf("postgres: applying change set: %w", err)
	}
	return nil
}

var errAlreadyApplied = errors.New("already applied")

// onlyAdds reports whether every change of cs is an add without a
// previous fingerprint (as the engine's are): copyFresh logs them from the
// stored records, which keep no previous fingerprint.
func onlyAdds(cs *resync.ChangeSet) bool {
	for i := range cs.Changes {
		if c := &cs.Changes[i]; c.Op != resync.OpAdd || c.PrevFingerprint != 0 {
			return false
		}
	}
	return true
}

func (s *Store) apply(ctx context.Context, tx pgx.Tx, cs *resync.ChangeSet) error {
	// Lock the connection's row (creating it at version 0 if new); then,
	// holding the lock, look for the change set ID and read the version.
	// READ COMMITTED gives each statement a fresh view, so what a
	// concurrent Apply committed before we got the lock is seen here.
	var b pgx.Batch
	b.Queue(s.sql(`INSERT INTO {schema}.connections (tenant, connection_id) VALUES ($1, $2)
		ON CONFLICT (tenant, connection_id) DO NOTHING`), cs.Tenant, cs.ConnectionID)
	var version int64
	var applied bool
	var now time.Time
	b.Queue(s.sql(`SELECT version, now() FROM {schema}.connections WHERE tenant = $1 AND connection_id = $2 FOR UPDATE`),
		cs.Tenant, cs.ConnectionID).QueryRow(func(row pgx.Row) error { return row.Scan(&version, &now) })
	b.Queue(s.sql(`SELECT EXISTS (SELECT 1 FROM {schema}.applied_change_sets
		WHERE tenant = $1 AND connection_id = $2 AND change_set_id = $3)`),
		cs.Tenant, cs.ConnectionID, cs.ID).QueryRow(func(row pgx.Row) error { return row.Scan(&applied) })
	var lastSeq int64
	b.Queue(s.sql(`SELECT coalesce(max(seq), 0) FROM {schema}.changes WHERE tenant = $1 AND connection_id = $2`),
		cs.Tenant, cs.ConnectionID).QueryRow(func(row pgx.Row) error { return row.Scan(&lastSeq) })
	if err := tx.SendBatch(ctx, &b).Close(); err != nil {
		return err
	}
	if applied {
		return errAlreadyApplied
	}
	if version != cs.BaseVersion {
		return fmt.Errorf("%w: the snapshot is at version %d, not %d", resync.ErrConflict, version, cs.BaseVersion)
	}

	if len(cs.Changes) > 0 {
		var err error
		switch {
		case version == 0 && onlyAdds(cs):
			// Never applied: the connection has no records, so every
			// change is an insert and nothing can conflict. Copy straight
			// into the tables.
			err = s.copyFresh(ctx, tx, cs, now)
		case len(cs.Changes) >= s.copyMin:
			err = s.applyStaged(ctx, tx, cs, now)
		default:
			err = s.applyArrays(ctx, tx, cs, now)
		}
		if err != nil {
			return err
		}
	}

	b = pgx.Batch{}
	b.Queue(s.sql(`UPDATE {schema}.connections SET version = version + 1 WHERE tenant = $1 AND connection_id = $2`),
		cs.Tenant, cs.ConnectionID)
	// The connection is locked, so its entries after lastSeq are this
	// change set's: record their range for queries by run.
	b.Queue(s.sql(`INSERT INTO {schema}.applied_change_sets
		(tenant, connection_id, change_set_id, run_id, version, applied_at, first_seq, last_seq)
		SELECT $1, $2, $3, $4, $5, $6, min(seq), max(seq) FROM {schema}.changes
		WHERE tenant = $1 AND connection_id = $2 AND seq > $7`),
		cs.Tenant, cs.ConnectionID, cs.ID, cs.RunID, version+1, now, lastSeq)
	b.Queue(s.sql(`DELETE FROM {schema}.held_change_sets WHERE tenant = $1 AND connection_id = $2`),
		cs.Tenant, cs.ConnectionID)
	return tx.SendBatch(ctx, &b).Close()
}

// changeRows streams a change set's changes to COPY, encoding each
// record's JSON as its row is sent, so that a large change set is never
// encoded whole in memory.
type changeRows struct {
	cs     *resync.ChangeSet
	i      int
	layout int
	now    time.Time
	vals   []any
	buf    bytes.Buffer
	enc    *json.Encoder
	err    error
	held   bool // stage layout with the held_changes key columns first
}

const (
	layoutStage   = iota // ord, op, kind, key, fingerprint, prev_fingerprint, volatile, data
	layoutRecords        // tenant, connection_id, kind, key, fingerprint, volatile, data, updated_at, updated_by (adds and updates only)
)

var (
	heldColumns    = []string{"tenant", "held_id", "ord", "op", "kind", "key", "fingerprint", "prev_fingerprint", "volatile", "data"}
	stageColumns   = []string{"ord", "op", "kind", "key", "fingerprint", "prev_fingerprint", "volatile", "data"}
	recordsColumns = []string{"tenant", "connection_id", "kind", "key", "fingerprint", "volatile", "data", "updated_at", "updated_by"}
)

func newChangeRows(cs *resync.ChangeSet, layout int, now time.Time) *changeRows {
	r := &changeRows{cs: cs, i: -1, layout: layout, now: now}
	r.enc = json.NewEncoder(&r.buf)
	return r
}

func (r *changeRows) Next() bool {
	for {
		r.i++
		if r.i >= len(r.cs.Changes) {
			return false
		}
		switch op := r.cs.Changes[r.i].Op; {
		case r.layout == layoutRecords && (op == resync.OpRemove || op == resync.OpRefresh):
			continue // copyFresh: no records yet, so nothing to remove or refresh
		}
		return true
	}
}

// encode returns the change's record as JSON (nil for a remove), checked
// for what PostgreSQL cannot store. The bytes are valid until the next call.
func (r *changeRows) encode(c *resync.Change) ([]byte, error) {
	if c.Op == resync.OpRemove {
		return nil, nil
	}
	r.buf.Reset()
	if err := r.enc.Encode(c.Record); err != nil {
		return nil, fmt.Errorf("%w: postgres: encoding %s %q: %w", resync.ErrInvalidRequest, c.Kind, trunc(c.Key), err)
	}
	b := bytes.TrimSuffix(r.buf.Bytes(), []byte{'\n'})
	if err := checkRecordJSON(string(c.Kind), c.Key, b); err != nil {
		return nil, err
	}
	return b, nil
}

func (r *changeRows) Values() ([]any, error) {
	c := &r.cs.Changes[r.i]
	switch r.layout {
	case layoutStage:
		data, err := r.encode(c)
		if err != nil {
			r.err = err
			return nil, err
		}
		var d any
		if data != nil {
			d = data
		}
		r.vals = r.vals[:0]
		if r.held {
			r.vals = append(r.vals, r.cs.Tenant, r.cs.ID)
		}
		r.vals = append(r.vals, int32(r.i), int16(storage.OpCode(c.Op)), int16(storage.KindCode(c.Kind)), c.Key, int64(c.Fingerprint), int64(c.PrevFingerprint), int64(c.Volatile), d)
	case layoutRecords:
		data, err := r.encode(c)
		if err != nil {
			r.err = err
			return nil, err
		}
		r.vals = append(r.vals[:0], r.cs.Tenant, r.cs.ConnectionID, int16(storage.KindCode(c.Kind)), c.Key, int64(c.Fingerprint), int64(c.Volatile), data, r.now, r.cs.RunID)
	}
	return r.vals, nil
}

func (r *changeRows) Err() error { return r.err }

// copyRows runs a COPY and prefers the source's own error (a record that
// cannot be stored) to the protocol error it caused.
func copyRows(ctx context.Context, tx pgx.Tx, table pgx.Identifier, cols []string, src *changeRows) error {
	_, err := tx.CopyFrom(ctx, table, cols, src)
	if src.err != nil {
		return src.err
	}
	return err
}

func (s *Store) table(name string) pgx.Identifier {
	return pgx.Identifier{s.rawName, name}
}

// copyFresh applies the first change set of a connection, all adds (see
// apply): the records by COPY, then their change-log entries (After
// included) copied from them in the server, so that each record is
// encoded and parsed once. The entries of one change set come in key
// order.
func (s *Store) copyFresh(ctx context.Context, tx pgx.Tx, cs *resync.ChangeSet, now time.Time) error {
	if err := copyRows(ctx, tx, s.table("records"), recordsColumns, newChangeRows(cs, layoutRecords, now)); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, s.sql(`INSERT INTO {schema}.changes
		(tenant, connection_id, run_id, change_set_id, op, kind, key, fingerprint, prev_fingerprint, at, after_data)
		SELECT tenant, connection_id, $3, $4, 1, kind, key, fingerprint, 0, $5, data FROM {schema}.records
		WHERE tenant = $1 AND connection_id = $2 ORDER BY kind, key`), cs.Tenant, cs.ConnectionID, cs.RunID, cs.ID, now)
	return err
}

// upsertSQL stores the adds and updates of {src} (rows of the stage
// layout; {upsert} selects them). $1 tenant, $2 connection, $3 the
// transaction time, $4 run ID.
const upsertSQL = `INSERT INTO {schema}.records AS r (tenant, connection_id, kind, key, fingerprint, volatile, data, updated_at, updated_by)
	SELECT $1, $2, s.kind, s.key, s.fingerprint, s.volatile, s.data, $3, $4 FROM {src} s WHERE {upsert}
	ORDER BY s.kind, s.key -- in index order: cheaper index insertion
	ON CONFLICT (tenant, connection_id, kind, key) DO UPDATE SET
		fingerprint = excluded.fingerprint, volatile = excluded.volatile, data = excluded.data,
		updated_at = excluded.updated_at, updated_by = excluded.updated_by,
		removed_at = NULL, removed_by = NULL`

// logSQL logs every change of {src} but refreshes, in change order, with
// the record after it (the staged data) and before it: the live record of
// an update or a remove, read from records by its primary key. It must
// see records as they were before the change set: run it before the
// statements that write them, or as the main statement of a WITH whose
// parts write them (they share its snapshot). $5 is the change set ID.
const logSQL = `INSERT INTO {schema}.changes
	(tenant, connection_id, run_id, change_set_id, op, kind, key, fingerprint, prev_fingerprint, at, before_data, after_data)
SELECT $1, $2, $4, $5, s.op, s.kind, s.key, s.fingerprint, s.prev_fingerprint, $3, b.data, s.data FROM {src} s
LEFT JOIN LATERAL (SELECT p.data FROM {schema}.records p WHERE s.op IN (2, 3) AND p.tenant = $1 AND p.connection_id = $2
	AND p.kind = s.kind AND p.key = s.key AND p.removed_at IS NULL) b ON true
WHERE s.op <> 4 ORDER BY s.ord`

// applySQL applies a small change set in one statement: the upsert (and
// {refresh}, a CTE that applies the refreshes, or nothing) as parts of a
// WITH, and the log as its main statement, which sees records as they
// were before the parts wrote them.
const applySQL = `WITH up AS (` + upsertSQL + `){refresh}
` + logSQL

// noSeqScan runs fn with sequential scans disfavoured, so that the
// lateral lookups of logSQL probe the primary key even when the
// statistics (stale right after a large first sync) say the connection's
// records are few.
func noSeqScan(ctx context.Context, tx pgx.Tx, fn func() error) error {
	if _, err := tx.Exec(ctx, "SET LOCAL enable_seqscan = off"); err != nil {
		return err
	}
	if err := fn(); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, "RESET enable_seqscan")
	return err
}

// refreshCTE applies the refreshes of {src} in applySQL: live records
// only, updated_at and updated_by left alone, no change-log entry.
const refreshCTE = `, rf AS (
	UPDATE {schema}.records r SET fingerprint = s.fingerprint, volatile = s.volatile, data = s.data
	FROM {src} s
	WHERE s.op = 4 AND r.tenant = $1 AND r.connection_id = $2 AND r.kind = s.kind AND r.key = s.key AND r.removed_at IS NULL
)`

// tombSQL tombstones the removed keys of one kind. The keys go as an
// array so that the plan is always a primary-key probe per key, whatever
// the (possibly stale) statistics say about the connection's records.
const tombSQL = `UPDATE {schema}.records SET removed_at = $3, removed_by = $4
	WHERE tenant = $1 AND connection_id = $2 AND kind = $5 AND key = ANY($6::text[]) AND removed_at IS NULL`

// tombstone marks the change set's removed records.
func (s *Store) tombstone(ctx context.Context, tx pgx.Tx, cs *resync.ChangeSet, now time.Time) error {
	byKind := map[resync.RecordKind][]string{}
	for i := range cs.Changes {
		if c := &cs.Changes[i]; c.Op == resync.OpRemove {
			byKind[c.Kind] = append(byKind[c.Kind], c.Key)
		}
	}
	for kind, keys := range byKind {
		if _, err := tx.Exec(ctx, s.sql(tombSQL), cs.Tenant, cs.ConnectionID, now, cs.RunID, int16(storage.KindCode(kind)), keys); err != nil {
			return err
		}
	}
	return nil
}

// applyStaged copies the changes into a temporary table dropped at commit,
// then applies them with one statement.
func (s *Store) applyStaged(ctx context.Context, tx pgx.Tx, cs *resync.ChangeSet, now time.Time) error {
	if _, err := tx.Exec(ctx, `CREATE TEMPORARY TABLE resync_stage (
		ord integer NOT NULL, op smallint NOT NULL, kind smallint NOT NULL, key text COLLATE "C" NOT NULL,
		fingerprint bigint NOT NULL, prev_fingerprint bigint NOT NULL, volatile bigint NOT NULL, data jsonb) ON COMMIT DROP`); err != nil {
		return err
	}
	if err := copyRows(ctx, tx, pgx.Identifier{"resync_stage"}, stageColumns, newChangeRows(cs, layoutStage, now)); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, "ANALYZE resync_stage"); err != nil {
		return err
	}
	updates, refreshes := 0, 0
	for i := range cs.Changes {
		switch cs.Changes[i].Op {
		case resync.OpUpdate:
			updates++
		case resync.OpRefresh:
			refreshes++
		}
	}
	// The log first: it reads the records before the change.
	logq := strings.NewReplacer("{src}", "pg_temp.resync_stage").Replace(s.sql(logSQL))
	if err := noSeqScan(ctx, tx, func() error {
		_, err := tx.Exec(ctx, logq, cs.Tenant, cs.ConnectionID, now, cs.RunID, cs.ID)
		return err
	}); err != nil {
		return err
	}
	upsert := "s.op IN (1, 2)"
	if updates > 0 || refreshes > 0 {
		if err := s.updateStaged(ctx, tx, cs, now, updates, refreshes); err != nil {
			return err
		}
		upsert = "s.op = 1" // adds (and revivals of tombstones) only
	}
	q := strings.NewReplacer("{src}", "pg_temp.resync_stage", "{upsert}", upsert).Replace(s.sql(upsertSQL))
	if _, err := tx.Exec(ctx, q, cs.Tenant, cs.ConnectionID, now, cs.RunID); err != nil {
		return err
	}
	return s.tombstone(ctx, tx, cs, now)
}

// updateSQL rewrites the staged updates in place: cheaper than an
// INSERT … ON CONFLICT, which tries an insert first for every row.
const updateSQL = `UPDATE {schema}.records r SET
	fingerprint = s.fingerprint, volatile = s.volatile, data = s.data, updated_at = $3, updated_by = $4, removed_at = NULL, removed_by = NULL
FROM pg_temp.resync_stage s
WHERE s.op = 2 AND r.tenant = $1 AND r.connection_id = $2 AND r.kind = s.kind AND r.key = s.key`

// refreshStagedSQL applies the staged refreshes: live records only,
// updated_at and updated_by left alone.
const refreshStagedSQL = `UPDATE {schema}.records r SET fingerprint = s.fingerprint, volatile = s.volatile, data = s.data
FROM pg_temp.resync_stage s
WHERE s.op = 4 AND r.tenant = $1 AND r.connection_id = $2 AND r.kind = s.kind AND r.key = s.key AND r.removed_at IS NULL`

// updateStaged applies the staged updates and refreshes with one UPDATE
// each. The joins are pinned to hash joins over the connection's records
// read through the primary key, so that stale statistics (right after a
// large first sync) can never choose a nested loop over a sequential scan.
// Every update must hit a stored record: the version check makes it so,
// and a miss aborts the transaction rather than lose the change.
func (s *Store) updateStaged(ctx context.Context, tx pgx.Tx, cs *resync.ChangeSet, now time.Time, updates, refreshes int) error {
	if _, err := tx.Exec(ctx, "SET LOCAL enable_nestloop = off; SET LOCAL enable_seqscan = off"); err != nil {
		return err
	}
	if updates > 0 {
		tag, err := tx.Exec(ctx, s.sql(updateSQL), cs.Tenant, cs.ConnectionID, now, cs.RunID)
		if err != nil {
			return err
		}
		if n := tag.RowsAffected(); n != int64(updates) {
			return fmt.Errorf("postgres: change set %q updates %d records of connection %q, %d are stored", cs.ID, updates, cs.ConnectionID, n)
		}
	}
	if refreshes > 0 {
		if _, err := tx.Exec(ctx, s.sql(refreshStagedSQL), cs.Tenant, cs.ConnectionID); err != nil {
			return err
		}
	}
	_, err := tx.Exec(ctx, "RESET enable_nestloop; RESET enable_seqscan")
	return err
}

// applyArrays sends a small change set as arrays in one statement.
func (s *Store) applyArrays(ctx context.Context, tx pgx.Tx, cs *resync.ChangeSet, now time.Time) error {
	n := len(cs.Changes)
	ord := make([]int32, n)
	ops := make([]int16, n)
	kinds := make([]int16, n)
	keys := make([]string, n)
	fps := make([]int64, n)
	prevs := make([]int64, n)
	vols := make([]int64, n)
	data := make([]*string, n)
	rows := newChangeRows(cs, layoutStage, now)
	for i := range cs.Changes {
		c := &cs.Changes[i]
		b, err := rows.encode(c)
		if err != nil {
			return err
		}
		if b != nil {
			d := string(b)
			data[i] = &d
		}
		ord[i], ops[i], kinds[i], keys[i] = int32(i), int16(storage.OpCode(c.Op)), int16(storage.KindCode(c.Kind)), c.Key
		fps[i], prevs[i], vols[i] = int64(c.Fingerprint), int64(c.PrevFingerprint), int64(c.Volatile)
	}
	src := `(SELECT * FROM unnest($6::integer[], $7::smallint[], $8::smallint[], $9::text[], $10::bigint[], $11::bigint[], $12::bigint[], $13::jsonb[])
		AS u(ord, op, kind, key, fingerprint, prev_fingerprint, volatile, data))`
	q := s.sql(strings.Replace(applySQL, "{refresh}", refreshCTE, 1))
	q = strings.NewReplacer("{src}", src, "{upsert}", "s.op IN (1, 2)").Replace(q)
	if err := noSeqScan(ctx, tx, func() error {
		_, err := tx.Exec(ctx, q, cs.Tenant, cs.ConnectionID, now, cs.RunID, cs.ID, ord, ops, kinds, keys, fps, prevs, vols, data)
		return err
	}); err != nil {
		return err
	}
	return s.tombstone(ctx, tx, cs, now)
}

// Records implements storage.Store.
func (s *Store) Records(ctx context.Context, q resync.RecordQuery) ([]resync.StoredRecord, error) {
	if err := checkTexts("tenant", q.Tenant, "connection ID", q.ConnectionID); err != nil {
		return nil, err
	}
	query := `SELECT kind, key, fingerprint, volatile, data, updated_at, updated_by, removed_at, removed_by
		FROM {schema}.records WHERE tenant = $1 AND connection_id = $2`
	args := []any{q.Tenant, q.ConnectionID}
	if q.Kind != "" {
		args = append(args, int16(storage.KindCode(q.Kind)))
		query += " AND kind = $3"
	}
	if !q.IncludeRemoved {
		query += " AND removed_at IS NULL"
	}
	query += " ORDER BY kind, key"
	rows, err := s.pool.Query(ctx, s.sql(query), args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: reading records: %w", err)
	}
	defer rows.Close()
	var out []resync.StoredRecord
	for rows.Next() {
		var (
			kind      int16
			fp, vol   int64
			data      []byte
			updatedAt time.Time
			removedAt *time.Time
			removedBy *string
			r         resync.StoredRecord
		)
		if err := rows.Scan(&kind, &r.Key, &fp, &vol, &data, &updatedAt, &r.UpdatedBy, &removedAt, &removedBy); err != nil {
			return nil, fmt.Errorf("postgres: reading records: %w", err)
		}
		if r.Kind, err = storage.KindOf(int64(kind)); err != nil {
			return nil, fmt.Errorf("postgres: reading records: %w", err)
		}
		r.Fingerprint, r.Volatile, r.UpdatedAt, r.RemovedAt = uint64(fp), uint64(vol), updatedAt.UTC(), utc(removedAt)
		if removedBy != nil {
			r.RemovedBy = *removedBy
		}
		if r.Record, err = storage.DecodeRecord(r.Kind, data); err != nil {
			return nil, fmt.Errorf("postgres: record %s %q: %w", r.Kind, r.Key, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: reading records: %w", err)
	}
	return out, nil
}

// Changes implements storage.Store.
func (s *Store) Changes(ctx context.Context, q resync.ChangeQuery) ([]resync.ChangeLogEntry, error) {
	if err := checkTexts("tenant", q.Tenant, "connection ID", q.ConnectionID, "run ID", q.RunID, "key", q.Key); err != nil {
		return nil, err
	}
	// A query by run reads each of the run's change sets' seq ranges
	// (applied_change_sets); a query by connection, key or time lets the
	// planner pick among changes_by_connection, changes_by_key and
	// changes_by_time; any other query merges the first entries of each
	// of the tenant's connections. Kind and op filter the rows selected.
	const cols = `c.seq, c.connection_id, c.run_id, c.change_set_id, c.op, c.kind, c.key, c.fingerprint, c.prev_fingerprint, c.at,
		c.before_data, c.after_data, c.erased_by`
	args := []any{q.Tenant, q.AfterSeq}
	var where strings.Builder // filters on c beyond tenant and seq
	filter := func(cond string, arg any) {
		args = append(args, arg)
		fmt.Fprintf(&where, " AND "+cond, len(args))
	}
	if q.ConnectionID != "" {
		filter("c.connection_id = $%d", q.ConnectionID)
	}
	if q.Key != "" {
		filter("c.key = $%d", q.Key)
	}
	if q.Kind != "" {
		filter("c.kind = $%d", int16(storage.KindCode(q.Kind)))
	}
	if q.Op != "" {
		filter("c.op = $%d", int16(storage.OpCode(q.Op)))
	}
	if !q.Since.IsZero() {
		filter("c.at >= $%d", q.Since)
	}
	if !q.Until.IsZero() {
		filter("c.at < $%d", q.Until)
	}
	limit := ""
	if q.Limit > 0 {
		args = append(args, q.Limit)
		limit = fmt.Sprintf(" LIMIT $%d", len(args))
	}
	var b strings.Builder
	switch {
	case q.RunID != "":
		args = append(args, q.RunID)
		run := len(args)
		fmt.Fprintf(&b, `SELECT %s FROM {schema}.applied_change_sets a CROSS JOIN LATERAL (
			SELECT * FROM {schema}.changes c WHERE c.tenant = a.tenant AND c.connection_id = a.connection_id
			AND c.seq >= a.first_seq AND c.seq <= a.last_seq AND c.seq > $2 AND c.run_id = $%d%s ORDER BY c.seq%s) c
			WHERE a.tenant = $1 AND a.run_id = $%d AND a.first_seq IS NOT NULL`, cols, run, where.String(), limit, run)
	case q.ConnectionID != "" || q.Key != "" || !q.Since.IsZero() || !q.Until.IsZero():
		fmt.Fprintf(&b, `SELECT %s FROM {schema}.changes c WHERE c.tenant = $1 AND c.seq > $2%s`, cols, where.String())
	default:
		fmt.Fprintf(&b, `SELECT %s FROM {schema}.connections k CROSS JOIN LATERAL (
			SELECT * FROM {schema}.changes c WHERE c.tenant = k.tenant AND c.connection_id = k.connection_id
			AND c.seq > $2%s ORDER BY c.seq%s) c WHERE k.tenant = $1`, cols, where.String(), limit)
	}
	b.WriteString(" ORDER BY c.seq" + limit)
	rows, err := s.pool.Query(ctx, s.sql(b.String()), args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: reading change log: %w", err)
	}
	defer rows.Close()
	var out []resync.ChangeLogEntry
	for rows.Next() {
		var (
			e             resync.ChangeLogEntry
			op, kind      int16
			fp, prev      int64
			at            time.Time
			before, after []byte
			by            *string
		)
		if err := rows.Scan(&e.Seq, &e.ConnectionID, &e.RunID, &e.ChangeSetID, &op, &kind, &e.Key, &fp, &prev, &at, &before, &after, &by); err != nil {
			return nil, fmt.Errorf("postgres: reading change log: %w", err)
		}
		e.Tenant = q.Tenant
		if e.Op, err = storage.OpOf(int64(op)); err != nil {
			return nil, fmt.Errorf("postgres: reading change log: %w", err)
		}
		if e.Kind, err = storage.KindOf(int64(kind)); err != nil {
			return nil, fmt.Errorf("postgres: reading change log: %w", err)
		}
		e.Fingerprint, e.PrevFingerprint, e.At = uint64(fp), uint64(prev), at.UTC()
		if by != nil {
			e.By = *by
		}
		if before != nil {
			if e.Before, err = storage.DecodeRecord(e.Kind, before); err != nil {
				return nil, fmt.Errorf("postgres: change-log entry %d: %w", e.Seq, err)
			}
		}
		if after != nil {
			if e.After, err = storage.DecodeRecord(e.Kind, after); err != nil {
				return nil, fmt.Errorf("postgres: change-log entry %d: %w", e.Seq, err)
			}
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: reading change log: %w", err)
	}
	return out, nil
}
