package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/openresync/resync"
	"github.com/openresync/resync/linking"
	"github.com/openresync/resync/storage"
)

var _ storage.LinkStore = (*Store)(nil)

// Multi-row statements of WriteLinks, run by a batcher like Apply's.
var (
	linkPutStmt = &stmtKind{"link put", `INSERT INTO account_links
		(tenant, connection_id, account_key, situation, person_id, rule, candidates, active, updated_at, run_id) VALUES `,
		`(?1,?,?,?,?,?,?,?,?,?)`,
		` ON CONFLICT (tenant, connection_id, account_key) DO UPDATE SET situation = excluded.situation,
		person_id = excluded.person_id, rule = excluded.rule, candidates = excluded.candidates, active = excluded.active,
		updated_at = excluded.updated_at, run_id = excluded.run_id`, 1, 9}
	linkDeleteStmt = &stmtKind{"link delete", `DELETE FROM account_links WHERE tenant = ?1 AND (connection_id, account_key) IN (VALUES `,
		`(?,?)`, `)`, 1, 2}
	findingCloseStmt = &stmtKind{"finding close", `UPDATE findings SET closed_at = ?2, closed_run = ?3
		WHERE tenant = ?1 AND closed_at IS NULL AND seq IN (`, `?`, `)`, 3, 1}
	findingConfirmStmt = &stmtKind{"finding confirm", `UPDATE findings SET confirmed_at = ?2, confirmed_run = ?3
		WHERE tenant = ?1 AND closed_at IS NULL AND seq IN (`, `?`, `)`, 3, 1}
)

// WriteLinks implements storage.LinkStore in one immediate transaction:
// links put and deleted, and findings closed and confirmed, by multi-row
// statements; findings opened one by one, for their Seqs.
func (s *Store) WriteLinks(ctx context.Context, w linking.Write) ([]linking.Finding, error) {
	opened := make([]linking.Finding, 0, len(w.Open))
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		opened = opened[:0]
		fail := func(err error) error { return fmt.Errorf("sqlite: writing links: %w", err) }
		if len(w.Put) > 0 {
			b := newBatcher(ctx, tx, linkPutStmt, []any{w.Tenant})
			defer b.close()
			for _, k := range w.Put {
				var cands any
				if len(k.Candidates) > 0 {
					j, _ := json.Marshal(k.Candidates)
					cands = string(j)
				}
				if err := b.add(k.ConnectionID, k.AccountKey, string(k.Situation), k.PersonID,
					string(k.Rule), cands, k.Active, k.UpdatedAt.UnixNano(), k.RunID); err != nil {
					return fail(err)
				}
			}
			if err := b.flush(); err != nil {
				return fail(err)
			}
		}
		if len(w.Delete) > 0 {
			b := newBatcher(ctx, tx, linkDeleteStmt, []any{w.Tenant})
			defer b.close()
			for _, a := range w.Delete {
				if err := b.add(a.ConnectionID, a.AccountKey); err != nil {
					return fail(err)
				}
			}
			if err := b.flush(); err != nil {
				return fail(err)
			}
		}
		if len(w.Open) > 0 {
			st, err := tx.PrepareContext(ctx, `INSERT INTO findings (tenant, kind, connection_id, account_key, person_id, detail,
				opened_at, opened_run, confirmed_at, confirmed_run) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING seq`)
			if err != nil {
				return fail(err)
			}
			defer st.Close()
			for _, f := range w.Open {
				f.Tenant, f.ClosedAt, f.ClosedRun = w.Tenant, time.Time{}, ""
				if err := st.QueryRowContext(ctx, w.Tenant, string(f.Kind), f.ConnectionID, f.AccountKey, f.PersonID, f.Detail,
					f.OpenedAt.UnixNano(), f.OpenedRun, f.ConfirmedAt.UnixNano(), f.ConfirmedRun).Scan(&f.Seq); err != nil {
					return fail(err)
				}
				opened = append(opened, f)
			}
		}
		for _, u := range []struct {
			seqs []int64
			kind *stmtKind
		}{{w.Close, findingCloseStmt}, {w.Confirm, findingConfirmStmt}} {
			if len(u.seqs) == 0 {
				continue
			}
			b := newBatcher(ctx, tx, u.kind, []any{w.Tenant, w.At.UnixNano(), w.RunID})
			defer b.close()
			for _, seq := range u.seqs {
				if err := b.add(seq); err != nil {
					return fail(err)
				}
			}
			if err := b.flush(); err != nil {
				return fail(err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return opened, nil
}

// Links implements storage.LinkStore.
func (s *Store) Links(ctx context.Context, q linking.LinkQuery) ([]linking.Link, error) {
	if q.AccountKeys != nil && q.ConnectionID == "" {
		return nil, fmt.Errorf("%w: sqlite: listing links: AccountKeys needs a ConnectionID", resync.ErrInvalidRequest)
	}
	query, args := linksSQL(q)
	var out []linking.Link
	err := s.readTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, query, args...)
		if err != nil {
			return fmt.Errorf("sqlite: listing links: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			k := linking.Link{Tenant: q.Tenant}
			var sit, rule string
			var cands sql.NullString
			var updated sql.NullInt64
			if err := rows.Scan(&k.ConnectionID, &k.AccountKey, &sit, &k.PersonID, &rule, &cands, &k.Active, &updated, &k.RunID); err != nil {
				return fmt.Errorf("sqlite: listing links: %w", err)
			}
			k.Situation, k.Rule, k.UpdatedAt = linking.Situation(sit), linking.Rule(rule), fromNanos(updated)
			if cands.Valid {
				if err := json.Unmarshal([]byte(cands.String), &k.Candidates); err != nil {
					return fmt.Errorf("sqlite: decoding candidates: %w", err)
				}
			}
			out = append(out, k)
		}
		return rows.Err()
	})
	return out, err
}

// Findings implements storage.LinkStore.
func (s *Store) Findings(ctx context.Context, q linking.FindingQuery) ([]linking.Finding, error) {
	var b strings.Builder
	b.WriteString(`SELECT seq, kind, connection_id, account_key, person_id, detail, opened_at, opened_run,
		confirmed_at, confirmed_run, closed_at, closed_run FROM findings WHERE tenant = ? AND seq > ?`)
	args := []any{q.Tenant, q.AfterSeq}
	filter := func(cond string, a ...any) {
		b.WriteString(" AND " + cond)
		args = append(args, a...)
	}
	if q.Kind != "" {
		filter("kind = ?", string(q.Kind))
	}
	if q.ConnectionID != "" {
		filter("connection_id = ?", q.ConnectionID)
	}
	if q.AccountKey != "" {
		filter("account_key = ?", q.AccountKey)
	}
	if q.PersonID != "" {
		filter("person_id = ?", q.PersonID)
	}
	if q.OpenedRun != "" {
		filter("opened_run = ?", q.OpenedRun)
	}
	if q.OpenOnly {
		filter("closed_at IS NULL")
	}
	if !q.Since.IsZero() || !q.Until.IsZero() {
		lo, hi := int64(-1<<63), int64(1<<63-1)
		if !q.Since.IsZero() {
			lo = q.Since.UnixNano()
		}
		if !q.Until.IsZero() {
			hi = q.Until.UnixNano()
		}
		filter("((opened_at >= ? AND opened_at < ?) OR (closed_at >= ? AND closed_at < ?))", lo, hi, lo, hi)
	}
	b.WriteString(" ORDER BY seq")
	if q.Limit > 0 {
		fmt.Fprintf(&b, " LIMIT %d", q.Limit)
	}
	var out []linking.Finding
	err := s.readTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, b.String(), args...)
		if err != nil {
			return fmt.Errorf("sqlite: listing findings: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			f := linking.Finding{Tenant: q.Tenant}
			var kind string
			var opened, confirmed, closed sql.NullInt64
			if err := rows.Scan(&f.Seq, &kind, &f.ConnectionID, &f.AccountKey, &f.PersonID, &f.Detail, &opened, &f.OpenedRun,
				&confirmed, &f.ConfirmedRun, &closed, &f.ClosedRun); err != nil {
				return fmt.Errorf("sqlite: listing findings: %w", err)
			}
			f.Kind, f.OpenedAt, f.ConfirmedAt, f.ClosedAt = linking.FindingKind(kind), fromNanos(opened), fromNanos(confirmed), fromNanos(closed)
			out = append(out, f)
		}
		return rows.Err()
	})
	return out, err
}

// AddLinkDecision implements storage.LinkStore.
func (s *Store) AddLinkDecision(ctx context.Context, d linking.Decision) (int64, error) {
	by, err := json.Marshal(d.By)
	if err != nil {
		return 0, fmt.Errorf("sqlite: encoding the decider: %w", err)
	}
	var seq int64
	err = s.writeTx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `INSERT INTO link_decisions (tenant, connection_id, account_key, kind, person, decided_by, at, reason)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING seq`, d.Tenant, d.ConnectionID, d.AccountKey, string(d.Kind), d.Person,
			string(by), d.At.UnixNano(), d.Reason).Scan(&seq)
		if err != nil {
			return fmt.Errorf("sqlite: storing a link decision: %w", err)
		}
		return nil
	})
	return seq, err
}

// LinkDecisions implements storage.LinkStore.
func (s *Store) LinkDecisions(ctx context.Context, q linking.DecisionQuery) ([]linking.Decision, error) {
	var b strings.Builder
	b.WriteString(`SELECT seq, connection_id, account_key, kind, person, decided_by, at, reason FROM link_decisions d
		WHERE tenant = ? AND seq > ?`)
	args := []any{q.Tenant, q.AfterSeq}
	if q.ConnectionID != "" {
		b.WriteString(" AND connection_id = ?")
		args = append(args, q.ConnectionID)
	}
	if q.AccountKey != "" {
		b.WriteString(" AND account_key = ?")
		args = append(args, q.AccountKey)
	}
	if q.Current {
		b.WriteString(` AND kind <> 'clear' AND NOT EXISTS (SELECT 1 FROM link_decisions l WHERE l.tenant = d.tenant
			AND l.connection_id = d.connection_id AND l.account_key = d.account_key AND l.seq > d.seq)`)
	}
	b.WriteString(" ORDER BY seq")
	if q.Limit > 0 {
		fmt.Fprintf(&b, " LIMIT %d", q.Limit)
	}
	var out []linking.Decision
	err := s.readTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, b.String(), args...)
		if err != nil {
			return fmt.Errorf("sqlite: listing link decisions: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			d := linking.Decision{Tenant: q.Tenant}
			var kind, by string
			var at sql.NullInt64
			if err := rows.Scan(&d.Seq, &d.ConnectionID, &d.AccountKey, &kind, &d.Person, &by, &at, &d.Reason); err != nil {
				return fmt.Errorf("sqlite: listing link decisions: %w", err)
			}
			if err := json.Unmarshal([]byte(by), &d.By); err != nil {
				return fmt.Errorf("sqlite: decoding the decider: %w", err)
			}
			d.Kind, d.At = linking.DecisionKind(kind), fromNanos(at)
			out = append(out, d)
		}
		return rows.Err()
	})
	return out, err
}

// linksSQL returns the query of Links.
func linksSQL(q linking.LinkQuery) (string, []any) {
	var b strings.Builder
	b.WriteString(`SELECT connection_id, account_key, situation, person_id, rule, candidates, active, updated_at, run_id
		FROM account_links`)
	if q.Situation != "" && q.Situation != linking.Linked && q.PersonID == "" {
		// Few links are in the other situations, but without statistics
		// SQLite would rather read every link of the tenant in key order
		// than look each one up from the index.
		b.WriteString(" INDEXED BY account_links_unsettled")
	}
	b.WriteString(" WHERE tenant = ?")
	args := []any{q.Tenant}
	filter := func(cond string, a ...any) {
		b.WriteString(" AND " + cond)
		args = append(args, a...)
	}
	if q.ConnectionID != "" {
		filter("connection_id = ?", q.ConnectionID)
	}
	switch q.Situation {
	case "":
	case linking.Linked:
		// Most links: read in key order, filtered.
		filter("situation = ?", string(q.Situation))
	default:
		// The index of the other situations is partial: the term that
		// proves it applies is spelled out.
		filter("situation = ? AND situation <> 'linked'", string(q.Situation))
	}
	if q.PersonID != "" {
		filter("person_id = ?", q.PersonID)
	}
	if q.AccountKeys != nil {
		keys := make([]any, len(q.AccountKeys))
		for i, k := range q.AccountKeys {
			keys[i] = k
		}
		filter("account_key IN ("+strings.TrimSuffix(strings.Repeat("?,", len(keys)), ",")+")", keys...)
	}
	// Each position is a range of the primary key, so that a listing a
	// page at a time reads each link once: SQLite bounds the key by
	// neither an OR nor a row value beside connection_id = ?.
	switch a := q.After; {
	case a == linking.AccountRef{}:
	case q.ConnectionID != "" && a.ConnectionID < q.ConnectionID:
	case q.ConnectionID != "" && (a.ConnectionID > q.ConnectionID || a.AccountKey == ""):
		filter("false")
	case q.ConnectionID != "":
		filter("account_key > ?", a.AccountKey)
	case a.AccountKey == "":
		filter("connection_id > ?", a.ConnectionID)
	default:
		filter("(connection_id, account_key) > (?, ?)", a.ConnectionID, a.AccountKey)
	}
	b.WriteString(" ORDER BY connection_id, account_key")
	if q.Limit > 0 {
		fmt.Fprintf(&b, " LIMIT %d", q.Limit)
	}
	return b.String(), args
}
