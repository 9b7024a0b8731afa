package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/openresync/resync"
	"github.com/openresync/resync/storage"
)

// batch is the number of rows one multi-row statement of Apply writes.
// The driver looks each parameter up among the arguments, which costs the
// square of their number: batches stay small enough for that to be noise.
var batch = 32

// Multi-row statements of Apply. The shared parameters ?1..?N (tenant,
// connection, time, run, change set) come first in the text, so the
// anonymous per-row parameters after them are numbered N+1 onwards.
const (
	upsertHead = `INSERT INTO records (tenant, connection_id, updated_at, updated_by, kind, key, fingerprint, volatile, data,
		email, identity_key, status, removed_at, removed_by) VALUES `
	upsertRow  = `(?1,?2,?3,?4,?,?,?,?,?,?,?,?,NULL,NULL)`
	upsertTail = ` ON CONFLICT (tenant, connection_id, kind, key) DO UPDATE SET
		fingerprint = excluded.fingerprint, volatile = excluded.volatile, data = excluded.data,
		email = excluded.email, identity_key = excluded.identity_key, status = excluded.status,
		updated_at = excluded.updated_at, updated_by = excluded.updated_by,
		removed_at = NULL, removed_by = NULL`
	removeHead = `UPDATE records SET removed_at = ?3, removed_by = ?4
		WHERE tenant = ?1 AND connection_id = ?2 AND removed_at IS NULL AND (kind, key) IN (VALUES `
	removeRow  = `(?,?)`
	removeTail = `)`
	// A refresh updates live records only and leaves updated_at and
	// updated_by. Its rows carry tenant and connection themselves: the
	// VALUES list comes first in the text, so shared ?1 and ?2 cannot.
	refreshHead = `UPDATE records SET fingerprint = v.column5, volatile = v.column6, data = v.column7,
		email = v.column8, identity_key = v.column9, status = v.column10
		FROM (VALUES `
	refreshRow  = `(?,?,?,?,?,?,?,?,?,?)`
	refreshTail = `) AS v WHERE records.tenant = v.column1 AND records.connection_id = v.column2
		AND records.kind = v.column3 AND records.key = v.column4 AND records.removed_at IS NULL`
	// A log row reads the record before the change from records, so it
	// is written before the record's own statement runs (the record
	// batchers flush the log batcher first). The CASE skips the lookup for
	// adds, which replace no live record.
	logHead = `INSERT INTO change_log (tenant, connection_id, at, run_id, change_set_id, op, kind, key, fingerprint, prev_fingerprint, before_data, after_data) VALUES `
	logRow  = `(?1,?2,?3,?4,?5,?,?,?,?,?,CASE WHEN ? THEN (SELECT data FROM records
		WHERE tenant = ?1 AND connection_id = ?2 AND kind = ? AND key = ? AND removed_at IS NULL) END,?)`
)

// stmtKind is one multi-row statement of Apply.
type stmtKind struct {
	name            string
	head, row, tail string
	shared, perRow  int
}

var (
	upsertStmt  = &stmtKind{"upsert", upsertHead, upsertRow, upsertTail, 4, 8}
	refreshStmt = &stmtKind{"refresh", refreshHead, refreshRow, refreshTail, 0, 10}
	removeStmt  = &stmtKind{"remove", removeHead, removeRow, removeTail, 4, 2}
	logStmt     = &stmtKind{"log", logHead, logRow, "", 5, 9}
)

var stmtCache sync.Map // string (name/n) -> string (SQL)

// sql returns the statement for n rows.
func (k *stmtKind) sql(n int) string {
	ck := k.name + "/" + strconv.Itoa(n)
	if q, ok := stmtCache.Load(ck); ok {
		return q.(string)
	}
	var b strings.Builder
	b.Grow(len(k.head) + n*(len(k.row)+1) + len(k.tail))
	b.WriteString(k.head)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(k.row)
	}
	b.WriteString(k.tail)
	q := b.String()
	stmtCache.Store(ck, q)
	return q
}

// batcher executes a multi-row statement batch rows at a time, with a
// statement prepared once for full batches.
type batcher struct {
	ctx  context.Context
	tx   *sql.Tx
	kind *stmtKind
	full *sql.Stmt
	args []any
	rows int
	// first is flushed before this batcher's rows: the change log, whose
	// rows read the records these rows change.
	first *batcher
}

func newBatcher(ctx context.Context, tx *sql.Tx, kind *stmtKind, shared []any) *batcher {
	args := make([]any, 0, kind.shared+kind.perRow*batch)
	args = append(args, shared[:kind.shared]...)
	return &batcher{ctx: ctx, tx: tx, kind: kind, args: args}
}

func (b *batcher) add(vals ...any) error {
	b.args = append(b.args, vals...)
	b.rows++
	if b.rows == batch {
		return b.flush()
	}
	return nil
}

func (b *batcher) flush() error {
	if b.rows == 0 {
		return nil
	}
	if b.first != nil {
		if err := b.first.flush(); err != nil {
			return err
		}
	}
	var err error
	if b.rows == batch {
		if b.full == nil {
			if b.full, err = b.tx.PrepareContext(b.ctx, b.kind.sql(batch)); err != nil {
				return err
			}
		}
		_, err = b.full.ExecContext(b.ctx, b.args...)
	} else {
		_, err = b.tx.ExecContext(b.ctx, b.kind.sql(b.rows), b.args...)
	}
	clear(b.args[b.kind.shared:])
	b.args = b.args[:b.kind.shared]
	b.rows = 0
	return err
}

func (b *batcher) close() {
	if b.full != nil {
		_ = b.full.Close()
	}
}

// encChunk is the encoded records of consecutive changes (nil for removes).
type encChunk struct {
	data [][]byte
	err  error
}

// encChunkSize is the number of changes per encChunk.
const encChunkSize = 256

// encoder marshals the records of a change set on a goroutine of its own,
// a few chunks ahead of the statements that store them: JSON encoding
// takes a fifth of an apply and runs beside SQLite on another core.
type encoder struct {
	ch   chan encChunk
	stop chan struct{}
	wg   sync.WaitGroup
	cur  encChunk
	pos  int
}

func startEncoder(changes []resync.Change) *encoder {
	e := &encoder{ch: make(chan encChunk, 8), stop: make(chan struct{})}
	e.wg.Go(func() {
		defer close(e.ch)
		for start := 0; start < len(changes); start += encChunkSize {
			part := changes[start:min(start+encChunkSize, len(changes))]
			ck := encChunk{data: make([][]byte, len(part))}
			for i, c := range part {
				if c.Op == resync.OpRemove {
					continue
				}
				b, err := storage.EncodeRecord(c.Record)
				if err != nil {
					ck.err = fmt.Errorf("%w: sqlite: encoding %s %q: %w", resync.ErrInvalidRequest, c.Kind, c.Key, err)
					break
				}
				ck.data[i] = b
			}
			select {
			case e.ch <- ck:
			case <-e.stop:
				return
			}
			if ck.err != nil {
				return
			}
		}
	})
	return e
}

// next returns the encoded record of the next change, nil for a remove.
func (e *encoder) next() ([]byte, error) {
	if e.pos == len(e.cur.data) {
		ck, ok := <-e.ch
		if !ok {
			return nil, errors.New("sqlite: record encoder ended early")
		}
		if ck.err != nil {
			return nil, ck.err
		}
		e.cur, e.pos = ck, 0
	}
	b := e.cur.data[e.pos]
	e.cur.data[e.pos] = nil
	e.pos++
	return b, nil
}

// close stops the goroutine and waits for it.
func (e *encoder) close() {
	close(e.stop)
	e.wg.Wait()
}

// Apply implements storage.Store: one immediate transaction checks
// the change set ID and the version, writes the records (multi-row upserts,
// refresh and tombstone updates) and the change log (nothing for
// refreshes), bumps the version and drops the connection's held change set.
func (s *Store) Apply(ctx context.Context, cs *resync.ChangeSet) error {
	// Records are encoded on another goroutine, ahead of the statements.
	enc := startEncoder(cs.Changes)
	defer enc.close()
	return s.writeTx(ctx, func(tx *sql.Tx) error { return s.apply(ctx, tx, cs, enc) })
}

// apply is Apply in the transaction tx, with cs's records encoded by enc.
func (s *Store) apply(ctx context.Context, tx *sql.Tx, cs *resync.ChangeSet, enc *encoder) error {
	fail := func(err error) error {
		return fmt.Errorf("sqlite: applying: %w", err)
	}
	var one int
	err := tx.QueryRowContext(ctx, `SELECT 1 FROM applied_change_sets WHERE tenant = ? AND connection_id = ? AND id = ?`,
		cs.Tenant, cs.ConnectionID, cs.ID).Scan(&one)
	if err == nil {
		return nil // already applied
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return fail(err)
	}
	var version int64
	err = tx.QueryRowContext(ctx, `SELECT version FROM connections WHERE tenant = ? AND connection_id = ?`,
		cs.Tenant, cs.ConnectionID).Scan(&version)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fail(err)
	}
	if version != cs.BaseVersion {
		return fmt.Errorf("%w: the snapshot is at version %d, not %d", resync.ErrConflict, version, cs.BaseVersion)
	}
	now := s.clock.Now().UnixNano()
	shared := []any{cs.Tenant, cs.ConnectionID, now, cs.RunID, cs.ID}
	up := newBatcher(ctx, tx, upsertStmt, shared)
	defer up.close()
	rm := newBatcher(ctx, tx, removeStmt, shared)
	defer rm.close()
	lg := newBatcher(ctx, tx, logStmt, shared)
	defer lg.close()
	rf := newBatcher(ctx, tx, refreshStmt, shared)
	defer rf.close()
	up.first, rm.first = lg, lg
	for _, c := range cs.Changes {
		data, err := enc.next()
		if err != nil {
			return err
		}
		if c.Op != resync.OpRefresh {
			// Logged first: the row reads the record before the change.
			var after any
			if data != nil {
				after = data
			}
			kind := int64(storage.KindCode(c.Kind))
			if err := lg.add(int64(storage.OpCode(c.Op)), kind, c.Key, int64(c.Fingerprint), int64(c.PrevFingerprint),
				c.Op != resync.OpAdd, kind, c.Key, after); err != nil {
				return fail(err)
			}
		}
		switch c.Op {
		case resync.OpAdd, resync.OpUpdate:
			email, ikey, status := searchFields(c.Record)
			if err := up.add(int64(storage.KindCode(c.Kind)), c.Key, int64(c.Fingerprint), int64(c.Volatile), data, email, ikey, status); err != nil {
				return fail(err)
			}
		case resync.OpRefresh:
			email, ikey, status := searchFields(c.Record)
			if err := rf.add(cs.Tenant, cs.ConnectionID, int64(storage.KindCode(c.Kind)), c.Key, int64(c.Fingerprint), int64(c.Volatile), data,
				email, ikey, status); err != nil {
				return fail(err)
			}
			continue // no change-log entry
		case resync.OpRemove:
			if err := rm.add(int64(storage.KindCode(c.Kind)), c.Key); err != nil {
				return fail(err)
			}
		}
	}
	for _, b := range []*batcher{lg, up, rm, rf} {
		if err := b.flush(); err != nil {
			return fail(err)
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO connections (tenant, connection_id, version) VALUES (?, ?, ?)
		ON CONFLICT (tenant, connection_id) DO UPDATE SET version = excluded.version`,
		cs.Tenant, cs.ConnectionID, cs.BaseVersion+1); err != nil {
		return fail(err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO applied_change_sets (tenant, connection_id, id, applied_at) VALUES (?, ?, ?, ?)`,
		cs.Tenant, cs.ConnectionID, cs.ID, now); err != nil {
		return fail(err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM held_change_sets WHERE tenant = ? AND connection_id = ?`,
		cs.Tenant, cs.ConnectionID); err != nil {
		return fail(err)
	}
	return nil
}

// Snapshot implements storage.Store. It streams the live records
// from one read transaction: memory use does not grow with the snapshot.
func (s *Store) Snapshot(ctx context.Context, tenant, connectionID string, fn func(kind resync.RecordKind, key string, fingerprint, volatile uint64) error) (int64, error) {
	var version int64
	err := s.readTx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `SELECT version FROM connections WHERE tenant = ? AND connection_id = ?`,
			tenant, connectionID).Scan(&version)
		if errors.Is(err, sql.ErrNoRows) {
			version = 0
		} else if err != nil {
			return fmt.Errorf("sqlite: reading snapshot version: %w", err)
		}
		rows, err := tx.QueryContext(ctx, `SELECT kind, key, fingerprint, volatile FROM records
			WHERE tenant = ? AND connection_id = ? AND removed_at IS NULL`, tenant, connectionID)
		if err != nil {
			return fmt.Errorf("sqlite: reading snapshot: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var code, fp, vol int64
			var key string
			if err := rows.Scan(&code, &key, &fp, &vol); err != nil {
				return fmt.Errorf("sqlite: reading snapshot: %w", err)
			}
			kind, err := storage.KindOf(code)
			if err != nil {
				return fmt.Errorf("sqlite: reading snapshot: %w", err)
			}
			if err := fn(kind, key, uint64(fp), uint64(vol)); err != nil {
				return err
			}
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("sqlite: reading snapshot: %w", err)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return version, nil
}

const recordCols = `connection_id, kind, key, fingerprint, volatile, data, updated_at, updated_by, removed_at, removed_by`

// Records implements storage.Store.
func (s *Store) Records(ctx context.Context, q resync.RecordQuery) ([]resync.StoredRecord, error) {
	return s.queryRecords(ctx, `SELECT `+recordCols+`
		FROM records WHERE tenant = ?1 AND connection_id = ?2 AND (?3 = 0 OR kind = ?3) AND (?4 OR removed_at IS NULL)
		ORDER BY kind, key`, q.Tenant, q.ConnectionID, int64(storage.KindCode(q.Kind)), q.IncludeRemoved)
}

// searchFields returns the email, identity_key and status columns of a
// record: storage.IndexFields, with NULL for none.
func searchFields(r resync.Record) (email, identityKey, status any) {
	e, k, st := storage.IndexFields(r)
	null := func(s string) any {
		if s == "" {
			return nil
		}
		return s
	}
	return null(e), null(k), null(string(st))
}

// SearchRecords implements storage.RecordSearcher. Every filter is
// answered by an index: the primary key (tenant, connection, kind, key)
// for a connection, a kind and paging; records_by_email,
// records_by_identity_key and records_by_status (version 4 of the
// schema) for a person and a status across connections.
func (s *Store) SearchRecords(ctx context.Context, q resync.RecordQuery, after resync.StoredRecord) ([]resync.StoredRecord, error) {
	query, args := searchSQL(q, after)
	return s.queryRecords(ctx, query, args...)
}

// searchSQL returns the query of SearchRecords.
func searchSQL(q resync.RecordQuery, after resync.StoredRecord) (string, []any) {
	var b strings.Builder
	b.WriteString(`SELECT ` + recordCols + ` FROM records WHERE tenant = ?`)
	args := []any{q.Tenant}
	filter := func(cond string, arg any) {
		b.WriteString(" AND " + cond)
		args = append(args, arg)
	}
	if q.ConnectionID != "" {
		filter("connection_id = ?", q.ConnectionID)
	}
	if code := storage.KindCode(q.Kind); code != 0 {
		filter("kind = ?", int64(code))
	}
	if q.Email != "" {
		filter("email = ?", q.Email)
	}
	if q.IdentityKey != "" {
		filter("identity_key = ?", q.IdentityKey)
	}
	switch q.Status {
	case "":
	case resync.StatusActive:
		// Most records: read in key order, filtered.
		filter("status = ?", string(q.Status))
	default:
		// The index of the other statuses is partial: the term that
		// makes it usable is spelled out as in its definition.
		filter("status = ? AND status <> 'active'", string(q.Status))
	}
	if !q.IncludeRemoved {
		b.WriteString(" AND removed_at IS NULL")
	}
	// The position is a range of the primary key: beside equalities on
	// its leading columns SQLite bounds it by a plain comparison of the
	// next one, but by neither a row value nor an OR (it would read the
	// connection from its first record on every page).
	ac, ak := after.ConnectionID, int64(storage.KindCode(after.Kind))
	code := int64(storage.KindCode(q.Kind))
	switch {
	case ac == "":
	case q.ConnectionID != "" && ac < q.ConnectionID:
	case q.ConnectionID != "" && ac > q.ConnectionID:
		b.WriteString(" AND false")
	case q.ConnectionID != "" && code != 0 && ak < code:
	case q.ConnectionID != "" && code != 0 && ak > code:
		b.WriteString(" AND false")
	case q.ConnectionID != "" && code != 0:
		filter("key > ?", after.Key)
	case q.ConnectionID != "":
		b.WriteString(" AND (kind, key) > (?, ?)")
		args = append(args, ak, after.Key)
	default:
		b.WriteString(" AND (connection_id, kind, key) > (?, ?, ?)")
		args = append(args, ac, ak, after.Key)
	}
	b.WriteString(" ORDER BY connection_id, kind, key LIMIT ?")
	args = append(args, q.Limit)
	return b.String(), args
}

// queryRecords runs a query selecting recordCols.
func (s *Store) queryRecords(ctx context.Context, query string, args ...any) ([]resync.StoredRecord, error) {
	rows, err := s.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: reading records: %w", err)
	}
	defer rows.Close()
	var out []resync.StoredRecord
	for rows.Next() {
		var (
			r                resync.StoredRecord
			kind, fp, vol    int64
			data             []byte
			updated, removed sql.NullInt64
			removedBy        sql.NullString
		)
		if err := rows.Scan(&r.ConnectionID, &kind, &r.Key, &fp, &vol, &data, &updated, &r.UpdatedBy, &removed, &removedBy); err != nil {
			return nil, fmt.Errorf("sqlite: reading records: %w", err)
		}
		if r.Kind, err = storage.KindOf(kind); err != nil {
			return nil, fmt.Errorf("sqlite: reading records: %w", err)
		}
		r.Fingerprint, r.Volatile = uint64(fp), uint64(vol)
		r.UpdatedAt, r.RemovedAt, r.RemovedBy = fromNanos(updated), fromNanos(removed), removedBy.String
		if r.Record, err = storage.DecodeRecord(r.Kind, data); err != nil {
			return nil, fmt.Errorf("sqlite: reading record: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: reading records: %w", err)
	}
	return out, nil
}

// changeCols are the columns Changes reads, in scanEntry's order.
const changeCols = `seq, tenant, connection_id, run_id, change_set_id, op, kind, key, fingerprint, prev_fingerprint, at,
	before_data, after_data, erased_by`

// Changes implements storage.Store. Only the filters q sets go into the
// statement, so that SQLite picks the index of the most selective one.
func (s *Store) Changes(ctx context.Context, q resync.ChangeQuery) ([]resync.ChangeLogEntry, error) {
	var b strings.Builder
	b.WriteString(`SELECT ` + changeCols + ` FROM change_log WHERE tenant = ? AND seq > ?`)
	args := []any{q.Tenant, q.AfterSeq}
	filter := func(cond string, arg any) {
		b.WriteString(" AND " + cond)
		args = append(args, arg)
	}
	if q.ConnectionID != "" {
		filter("connection_id = ?", q.ConnectionID)
	}
	if q.RunID != "" {
		filter("run_id = ?", q.RunID)
	}
	if q.Key != "" {
		filter("key = ?", q.Key)
	}
	if q.Kind != "" {
		filter("kind = ?", int64(storage.KindCode(q.Kind)))
	}
	if q.Op != "" {
		filter("op = ?", int64(storage.OpCode(q.Op)))
	}
	if !q.Since.IsZero() {
		filter("at >= ?", q.Since.UnixNano())
	}
	if !q.Until.IsZero() {
		filter("at < ?", q.Until.UnixNano())
	}
	b.WriteString(" ORDER BY seq")
	if q.Limit > 0 {
		b.WriteString(" LIMIT ?")
		args = append(args, q.Limit)
	}
	rows, err := s.r.QueryContext(ctx, b.String(), args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: reading the change log: %w", err)
	}
	defer rows.Close()
	var out []resync.ChangeLogEntry
	for rows.Next() {
		e, err := scanEntry(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: reading the change log: %w", err)
	}
	return out, nil
}

// scanEntry reads a row of changeCols.
func scanEntry(rows *sql.Rows) (resync.ChangeLogEntry, error) {
	var (
		e                 resync.ChangeLogEntry
		op, kind, fp, pfp int64
		at                sql.NullInt64
		before, after     []byte
		by                sql.NullString
	)
	if err := rows.Scan(&e.Seq, &e.Tenant, &e.ConnectionID, &e.RunID, &e.ChangeSetID, &op, &kind, &e.Key, &fp, &pfp, &at,
		&before, &after, &by); err != nil {
		return e, fmt.Errorf("sqlite: reading the change log: %w", err)
	}
	var err error
	if e.Op, err = storage.OpOf(op); err != nil {
		return e, fmt.Errorf("sqlite: reading the change log: %w", err)
	}
	if e.Kind, err = storage.KindOf(kind); err != nil {
		return e, fmt.Errorf("sqlite: reading the change log: %w", err)
	}
	e.Fingerprint, e.PrevFingerprint, e.At, e.By = uint64(fp), uint64(pfp), fromNanos(at), by.String
	if before != nil {
		if e.Before, err = storage.DecodeRecord(e.Kind, before); err != nil {
			return e, fmt.Errorf("sqlite: change-log entry %d: %w", e.Seq, err)
		}
	}
	if after != nil {
		if e.After, err = storage.DecodeRecord(e.Kind, after); err != nil {
			return e, fmt.Errorf("sqlite: change-log entry %d: %w", e.Seq, err)
		}
	}
	return e, nil
}
