package postgres

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/openresync/resync"
	"github.com/openresync/resync/linking"
	"github.com/openresync/resync/storage"
)

var _ storage.LinkStore = (*Store)(nil)

func fromNanos(n *int64) time.Time {
	if n == nil {
		return time.Time{}
	}
	return time.Unix(0, *n).UTC()
}

// WriteLinks implements storage.LinkStore in one transaction: links as
// arrays, or by COPY when there are many (straight into the table when
// none of their accounts has a link yet, as in a first correlation, else
// staged and merged); deletions, opened findings, closes and
// confirmations as arrays.
func (s *Store) WriteLinks(ctx context.Context, w linking.Write) ([]linking.Finding, error) {
	if err := checkText("tenant", w.Tenant); err != nil {
		return nil, err
	}
	var opened []linking.Finding
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if len(w.Put) >= s.copyMin {
			if err := s.copyLinks(ctx, tx, w); err != nil {
				return fmt.Errorf("putting links: %w", err)
			}
		} else if len(w.Put) > 0 {
			n := len(w.Put)
			conn, key, sit, person, rule, cands := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]*string, n)
			active, updated, run := make([]bool, n), make([]int64, n), make([]string, n)
			for i, k := range w.Put {
				conn[i], key[i], sit[i], person[i], rule[i] = k.ConnectionID, k.AccountKey, string(k.Situation), k.PersonID, string(k.Rule)
				if len(k.Candidates) > 0 {
					b, _ := json.Marshal(k.Candidates)
					c := string(b)
					cands[i] = &c
				}
				active[i], updated[i], run[i] = k.Active, k.UpdatedAt.UnixNano(), k.RunID
			}
			if _, err := tx.Exec(ctx, s.sql(`INSERT INTO {schema}.account_links
				(tenant, connection_id, account_key, situation, person_id, rule, candidates, active, updated_at, run_id)
				SELECT $1, c, k, s, p, r, CASE WHEN j IS NULL THEN NULL ELSE ARRAY(SELECT jsonb_array_elements_text(j::jsonb)) END, a, u, run
				FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::bool[], $9::bigint[], $10::text[])
					AS t(c, k, s, p, r, j, a, u, run)
				ON CONFLICT (tenant, connection_id, account_key) DO UPDATE SET situation = EXCLUDED.situation,
					person_id = EXCLUDED.person_id, rule = EXCLUDED.rule, candidates = EXCLUDED.candidates,
					active = EXCLUDED.active, updated_at = EXCLUDED.updated_at, run_id = EXCLUDED.run_id`),
				w.Tenant, conn, key, sit, person, rule, cands, active, updated, run); err != nil {
				return fmt.Errorf("putting links: %w", err)
			}
		}
		if len(w.Delete) > 0 {
			conn, key := make([]string, len(w.Delete)), make([]string, len(w.Delete))
			for i, a := range w.Delete {
				conn[i], key[i] = a.ConnectionID, a.AccountKey
			}
			if _, err := tx.Exec(ctx, s.sql(`DELETE FROM {schema}.account_links l USING unnest($2::text[], $3::text[]) AS t(c, k)
				WHERE l.tenant = $1 AND l.connection_id = t.c AND l.account_key = t.k`), w.Tenant, conn, key); err != nil {
				return fmt.Errorf("deleting links: %w", err)
			}
		}
		var err error
		if opened, err = s.openFindings(ctx, tx, w); err != nil {
			return fmt.Errorf("opening findings: %w", err)
		}
		if len(w.Close) > 0 {
			if _, err := tx.Exec(ctx, s.sql(`UPDATE {schema}.findings SET closed_at = $2, closed_run = $3
				WHERE tenant = $1 AND seq = ANY($4) AND closed_at IS NULL`), w.Tenant, w.At.UnixNano(), w.RunID, w.Close); err != nil {
				return fmt.Errorf("closing findings: %w", err)
			}
		}
		if len(w.Confirm) > 0 {
			if _, err := tx.Exec(ctx, s.sql(`UPDATE {schema}.findings SET confirmed_at = $2, confirmed_run = $3
				WHERE tenant = $1 AND seq = ANY($4) AND closed_at IS NULL`), w.Tenant, w.At.UnixNano(), w.RunID, w.Confirm); err != nil {
				return fmt.Errorf("confirming findings: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: writing links: %w", err)
	}
	return opened, nil
}

// openFindings inserts w.Open with one statement and returns them with
// their Seqs, in w.Open's order. The statement inserts in that order, so
// the Seqs increase along it; each returned row is matched to its finding
// by kind and account all the same, the earliest Seq to the earliest
// finding where w.Open repeats one.
func (s *Store) openFindings(ctx context.Context, tx pgx.Tx, w linking.Write) ([]linking.Finding, error) {
	n := len(w.Open)
	if n == 0 {
		return nil, nil
	}
	kind, conn, key, person, detail := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	orun, crun := make([]string, n), make([]string, n)
	oat, cat := make([]int64, n), make([]int64, n)
	type fkey struct{ kind, conn, key string }
	where := make(map[fkey][]int, n)
	for i, f := range w.Open {
		kind[i], conn[i], key[i], person[i], detail[i] = string(f.Kind), f.ConnectionID, f.AccountKey, f.PersonID, f.Detail
		oat[i], orun[i], cat[i], crun[i] = f.OpenedAt.UnixNano(), f.OpenedRun, f.ConfirmedAt.UnixNano(), f.ConfirmedRun
		k := fkey{kind[i], conn[i], key[i]}
		where[k] = append(where[k], i)
	}
	rows, err := tx.Query(ctx, s.sql(`INSERT INTO {schema}.findings (tenant, kind, connection_id, account_key, person_id, detail,
		opened_at, opened_run, confirmed_at, confirmed_run)
		SELECT $1, k, c, a, p, d, oa, orun, ca, crun
		FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[], $8::text[], $9::bigint[], $10::text[])
			WITH ORDINALITY AS t(k, c, a, p, d, oa, orun, ca, crun, ord)
		ORDER BY ord
		RETURNING seq, kind, connection_id, account_key`), w.Tenant, kind, conn, key, person, detail, oat, orun, cat, crun)
	if err != nil {
		return nil, err
	}
	type ret struct {
		seq int64
		k   fkey
	}
	var got []ret
	for rows.Next() {
		var r ret
		if err := rows.Scan(&r.seq, &r.k.kind, &r.k.conn, &r.k.key); err != nil {
			rows.Close()
			return nil, err
		}
		got = append(got, r)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(got) != n {
		return nil, fmt.Errorf("inserted %d findings of %d", len(got), n)
	}
	slices.SortFunc(got, func(a, b ret) int { return cmp.Compare(a.seq, b.seq) })
	opened := slices.Clone(w.Open)
	for _, r := range got {
		is := where[r.k]
		if len(is) == 0 {
			return nil, fmt.Errorf("an inserted finding (%s %q %q) matches none opened", r.k.kind, r.k.conn, r.k.key)
		}
		f := &opened[is[0]]
		where[r.k] = is[1:]
		f.Seq, f.Tenant, f.ClosedAt, f.ClosedRun = r.seq, w.Tenant, time.Time{}, ""
	}
	return opened, nil
}

// linkColumns are account_links' columns, as linkRows gives them.
var linkColumns = []string{"tenant", "connection_id", "account_key", "situation", "person_id", "rule", "candidates", "active", "updated_at", "run_id"}

// linkRows streams links to COPY, one row at a time.
type linkRows struct {
	tenant string
	links  []linking.Link
	i      int
	vals   []any
}

func (r *linkRows) Next() bool { r.i++; return r.i < len(r.links) }

func (r *linkRows) Values() ([]any, error) {
	k := &r.links[r.i]
	var cands []string
	if len(k.Candidates) > 0 {
		cands = k.Candidates
	}
	r.vals = append(r.vals[:0], r.tenant, k.ConnectionID, k.AccountKey, string(k.Situation), k.PersonID, string(k.Rule),
		cands, k.Active, k.UpdatedAt.UnixNano(), k.RunID)
	return r.vals, nil
}

func (r *linkRows) Err() error { return nil }

// copyLinks puts w.Put by COPY. When none of their accounts has a link
// yet (a first correlation, or new accounts: w.PutNew says so, or a
// lookup finds none), the rows go straight into account_links; otherwise, or when another correlation adds one of them
// first, they are staged in a temporary table and merged (a 50,000-link
// connection is written in two thirds of the time of arrays).
func (s *Store) copyLinks(ctx context.Context, tx pgx.Tx, w linking.Write) error {
	// Links said to be new are copied in without looking: should one
	// have been stored since, the COPY fails on it and is undone.
	var linked bool
	if !w.PutNew {
		conn, key := make([]string, len(w.Put)), make([]string, len(w.Put))
		for i, k := range w.Put {
			conn[i], key[i] = k.ConnectionID, k.AccountKey
		}
		if err := tx.QueryRow(ctx, s.sql(`SELECT EXISTS (SELECT 1 FROM unnest($2::text[], $3::text[]) AS t(c, k)
			JOIN {schema}.account_links l ON l.tenant = $1 AND l.connection_id = t.c AND l.account_key = t.k)`),
			w.Tenant, conn, key).Scan(&linked); err != nil {
			return err
		}
	}
	if !linked {
		sp, err := tx.Begin(ctx)
		if err != nil {
			return err
		}
		_, err = sp.CopyFrom(ctx, pgx.Identifier{s.rawName, "account_links"}, linkColumns, &linkRows{tenant: w.Tenant, links: w.Put, i: -1})
		if err == nil {
			return sp.Commit(ctx)
		}
		if rerr := sp.Rollback(ctx); rerr != nil || !isUniqueViolation(err) {
			return errors.Join(err, rerr)
		}
	}
	if _, err := tx.Exec(ctx, `CREATE TEMPORARY TABLE resync_links_stage (
		tenant text, connection_id text, account_key text, situation text, person_id text, rule text,
		candidates text[], active boolean, updated_at bigint, run_id text) ON COMMIT DROP`); err != nil {
		return err
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"resync_links_stage"}, linkColumns, &linkRows{tenant: w.Tenant, links: w.Put, i: -1}); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, s.sql(`INSERT INTO {schema}.account_links
		(tenant, connection_id, account_key, situation, person_id, rule, candidates, active, updated_at, run_id)
		SELECT tenant, connection_id, account_key, situation, person_id, rule, candidates, active, updated_at, run_id
		FROM resync_links_stage
		ON CONFLICT (tenant, connection_id, account_key) DO UPDATE SET situation = EXCLUDED.situation,
			person_id = EXCLUDED.person_id, rule = EXCLUDED.rule, candidates = EXCLUDED.candidates,
			active = EXCLUDED.active, updated_at = EXCLUDED.updated_at, run_id = EXCLUDED.run_id`))
	if err == nil {
		_, err = tx.Exec(ctx, `DROP TABLE resync_links_stage`)
	}
	return err
}

// linksSQL returns the query of Links and its arguments.
func (s *Store) linksSQL(q linking.LinkQuery) (string, []any) {
	var w where
	w.add("tenant = ?", q.Tenant)
	if q.ConnectionID != "" {
		w.add("connection_id = ?", q.ConnectionID)
	}
	switch q.Situation {
	case "":
	case linking.Linked:
		// Most links: read in key order, filtered.
		w.add("situation = ?", string(q.Situation))
	default:
		// The index of the other situations is partial: the term that
		// proves it applies to every parameter value is spelled out.
		w.add("situation = ? AND situation <> 'linked'", string(q.Situation))
	}
	if q.PersonID != "" {
		w.add("person_id = ?", q.PersonID)
	}
	if q.AccountKeys != nil {
		w.add("account_key = ANY(?::text[])", q.AccountKeys)
	}
	if q.After != (linking.AccountRef{}) && q.After.AccountKey == "" {
		w.add("connection_id > ?", q.After.ConnectionID)
	} else if q.After != (linking.AccountRef{}) {
		w.add("(connection_id, account_key) > (?, ?)", q.After.ConnectionID, q.After.AccountKey)
	}
	query := `SELECT connection_id, account_key, situation, person_id, rule, candidates, active, updated_at, run_id
		FROM {schema}.account_links WHERE true` + w.b.String() + ` ORDER BY connection_id, account_key`
	if q.Limit > 0 {
		query += fmt.Sprintf(" LIMIT %d", q.Limit)
	}
	return s.sql(query), w.args
}

// where builds a WHERE clause with numbered parameters.
type where struct {
	b    strings.Builder
	args []any
}

func (w *where) add(cond string, args ...any) {
	for _, a := range args {
		w.args = append(w.args, a)
		cond = strings.Replace(cond, "?", fmt.Sprintf("$%d", len(w.args)), 1)
	}
	w.b.WriteString(" AND " + cond)
}

// Links implements storage.LinkStore.
func (s *Store) Links(ctx context.Context, q linking.LinkQuery) ([]linking.Link, error) {
	if err := checkText("tenant", q.Tenant); err != nil {
		return nil, err
	}
	if q.AccountKeys != nil && q.ConnectionID == "" {
		return nil, fmt.Errorf("%w: postgres: listing links: AccountKeys needs a ConnectionID", resync.ErrInvalidRequest)
	}
	query, args := s.linksSQL(q)
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: listing links: %w", err)
	}
	defer rows.Close()
	var out []linking.Link
	for rows.Next() {
		k := linking.Link{Tenant: q.Tenant}
		var sit, rule string
		var updated int64
		if err := rows.Scan(&k.ConnectionID, &k.AccountKey, &sit, &k.PersonID, &rule, &k.Candidates, &k.Active, &updated, &k.RunID); err != nil {
			return nil, fmt.Errorf("postgres: listing links: %w", err)
		}
		if len(k.Candidates) == 0 {
			k.Candidates = nil
		}
		k.Situation, k.Rule, k.UpdatedAt = linking.Situation(sit), linking.Rule(rule), fromNanos(&updated)
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: listing links: %w", err)
	}
	return out, nil
}

// Findings implements storage.LinkStore.
func (s *Store) Findings(ctx context.Context, q linking.FindingQuery) ([]linking.Finding, error) {
	if err := checkText("tenant", q.Tenant); err != nil {
		return nil, err
	}
	var w where
	w.add("tenant = ?", q.Tenant)
	w.add("seq > ?", q.AfterSeq)
	if q.Kind != "" {
		w.add("kind = ?", string(q.Kind))
	}
	if q.ConnectionID != "" {
		w.add("connection_id = ?", q.ConnectionID)
	}
	if q.AccountKey != "" {
		w.add("account_key = ?", q.AccountKey)
	}
	if q.PersonID != "" {
		w.add("person_id = ?", q.PersonID)
	}
	if q.OpenedRun != "" {
		w.add("opened_run = ?", q.OpenedRun)
	}
	if q.OpenOnly {
		w.add("closed_at IS NULL")
	}
	if !q.Since.IsZero() || !q.Until.IsZero() {
		lo, hi := int64(-1<<63), int64(1<<63-1)
		if !q.Since.IsZero() {
			lo = q.Since.UnixNano()
		}
		if !q.Until.IsZero() {
			hi = q.Until.UnixNano()
		}
		w.add("((opened_at >= ? AND opened_at < ?) OR (closed_at >= ? AND closed_at < ?))", lo, hi, lo, hi)
	}
	query := `SELECT seq, kind, connection_id, account_key, person_id, detail, opened_at, opened_run,
		confirmed_at, confirmed_run, closed_at, closed_run FROM {schema}.findings WHERE true` + w.b.String() + ` ORDER BY seq`
	if q.Limit > 0 {
		query += fmt.Sprintf(" LIMIT %d", q.Limit)
	}
	rows, err := s.pool.Query(ctx, s.sql(query), w.args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: listing findings: %w", err)
	}
	defer rows.Close()
	var out []linking.Finding
	for rows.Next() {
		f := linking.Finding{Tenant: q.Tenant}
		var kind string
		var opened, confirmed int64
		var closed *int64
		if err := rows.Scan(&f.Seq, &kind, &f.ConnectionID, &f.AccountKey, &f.PersonID, &f.Detail, &opened, &f.OpenedRun,
			&confirmed, &f.ConfirmedRun, &closed, &f.ClosedRun); err != nil {
			return nil, fmt.Errorf("postgres: listing findings: %w", err)
		}
		f.Kind, f.OpenedAt, f.ConfirmedAt, f.ClosedAt = linking.FindingKind(kind), fromNanos(&opened), fromNanos(&confirmed), fromNanos(closed)
		out = append(out, f)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: listing findings: %w", err)
	}
	return out, nil
}

// AddLinkDecision implements storage.LinkStore.
func (s *Store) AddLinkDecision(ctx context.Context, d linking.Decision) (int64, error) {
	if err := checkTexts("tenant", d.Tenant, "connection ID", d.ConnectionID, "account key", d.AccountKey,
		"person", d.Person, "reason", d.Reason); err != nil {
		return 0, err
	}
	by, err := json.Marshal(d.By)
	if err != nil {
		return 0, fmt.Errorf("postgres: encoding the decider: %w", err)
	}
	var seq int64
	err = s.pool.QueryRow(ctx, s.sql(`INSERT INTO {schema}.link_decisions (tenant, connection_id, account_key, kind, person, decided_by, at, reason)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING seq`), d.Tenant, d.ConnectionID, d.AccountKey, string(d.Kind), d.Person,
		string(by), d.At.UnixNano(), d.Reason).Scan(&seq)
	if err != nil {
		return 0, fmt.Errorf("postgres: storing a link decision: %w", err)
	}
	return seq, nil
}

// LinkDecisions implements storage.LinkStore.
func (s *Store) LinkDecisions(ctx context.Context, q linking.DecisionQuery) ([]linking.Decision, error) {
	if err := checkText("tenant", q.Tenant); err != nil {
		return nil, err
	}
	var w where
	w.add("tenant = ?", q.Tenant)
	w.add("seq > ?", q.AfterSeq)
	if q.ConnectionID != "" {
		w.add("connection_id = ?", q.ConnectionID)
	}
	if q.AccountKey != "" {
		w.add("account_key = ?", q.AccountKey)
	}
	if q.Current {
		w.add(`kind <> 'clear' AND NOT EXISTS (SELECT 1 FROM {schema}.link_decisions l WHERE l.tenant = d.tenant
			AND l.connection_id = d.connection_id AND l.account_key = d.account_key AND l.seq > d.seq)`)
	}
	query := `SELECT seq, connection_id, account_key, kind, person, decided_by, at, reason FROM {schema}.link_decisions d
		WHERE true` + w.b.String() + ` ORDER BY seq`
	if q.Limit > 0 {
		query += fmt.Sprintf(" LIMIT %d", q.Limit)
	}
	rows, err := s.pool.Query(ctx, s.sql(query), w.args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: listing link decisions: %w", err)
	}
	defer rows.Close()
	var out []linking.Decision
	for rows.Next() {
		d := linking.Decision{Tenant: q.Tenant}
		var kind string
		var by []byte
		var at int64
		if err := rows.Scan(&d.Seq, &d.ConnectionID, &d.AccountKey, &kind, &d.Person, &by, &at, &d.Reason); err != nil {
			return nil, fmt.Errorf("postgres: listing link decisions: %w", err)
		}
		if err := json.Unmarshal(by, &d.By); err != nil {
			return nil, fmt.Errorf("postgres: decoding the decider: %w", err)
		}
		d.Kind, d.At = linking.DecisionKind(kind), fromNanos(&at)
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: listing link decisions: %w", err)
	}
	return out, nil
}
