package postgres

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/openresync/resync"
	"github.com/openresync/resync/linking"
	"github.com/openresync/resync/storage"
)

var _ storage.Eraser = (*Store)(nil)

// erased is a record an erasure removes: connection, kind, key.
type erased struct {
	conn string
	kind int16
	key  string
}

// Erase implements storage.Eraser in one transaction. It first locks the
// tenant's connections (as Apply locks its own), so that no change set is
// applied to them while it reads, decodes and tests the tenant's records
// and change log, and then deletes, redacts and records what matched.
// The OpErase entries of each connection are registered as a change set
// of that connection with the erasure's ID, so that a query by run finds
// them like any other.
func (s *Store) Erase(ctx context.Context, tenant, id, by string, match func(resync.Record) bool) ([]resync.ChangeLogEntry, error) {
	if err := checkTexts("tenant", tenant, "erasure ID", id, "by", by); err != nil {
		return nil, err
	}
	var out []resync.ChangeLogEntry
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		out = nil
		if _, err := tx.Exec(ctx, s.sql(`SELECT 1 FROM {schema}.connections WHERE tenant = $1 ORDER BY connection_id FOR UPDATE`), tenant); err != nil {
			return err
		}
		found := map[erased]struct{}{}
		scan := func(q string) error {
			rows, err := tx.Query(ctx, s.sql(q), tenant, storage.Redacted)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var t erased
				var a, b []byte
				if err := rows.Scan(&t.conn, &t.kind, &t.key, &a, &b); err != nil {
					return err
				}
				kind, err := storage.KindOf(int64(t.kind))
				if err != nil {
					return err
				}
				for _, data := range [][]byte{a, b} {
					if data == nil {
						continue
					}
					r, err := storage.DecodeRecord(kind, data)
					if err != nil {
						return err
					}
					if match(r) {
						found[t] = struct{}{}
					}
				}
			}
			return rows.Err()
		}
		if err := scan(`SELECT connection_id, kind, key, data, NULL::jsonb FROM {schema}.records WHERE tenant = $1 AND $2::text IS NOT NULL`); err != nil {
			return err
		}
		if err := scan(`SELECT connection_id, kind, key, before_data, after_data FROM {schema}.changes
			WHERE tenant = $1 AND key <> $2 AND (before_data IS NOT NULL OR after_data IS NOT NULL)`); err != nil {
			return err
		}
		targets := make([]erased, 0, len(found))
		for t := range found {
			targets = append(targets, t)
		}
		slices.SortFunc(targets, func(a, b erased) int {
			return cmp.Or(strings.Compare(a.conn, b.conn), cmp.Compare(a.kind, b.kind), strings.Compare(a.key, b.key))
		})
		for i, t := range targets {
			if _, err := tx.Exec(ctx, s.sql(`DELETE FROM {schema}.records WHERE tenant = $1 AND connection_id = $2 AND kind = $3 AND key = $4`),
				tenant, t.conn, t.kind, t.key); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, s.sql(`UPDATE {schema}.changes SET key = $5, fingerprint = 0, prev_fingerprint = 0, before_data = NULL, after_data = NULL
				WHERE tenant = $1 AND key = $4 AND connection_id = $2 AND kind = $3`), tenant, t.conn, t.kind, t.key, storage.Redacted); err != nil {
				return err
			}
			kind, err := storage.KindOf(int64(t.kind))
			if err != nil {
				return err
			}
			e := resync.ChangeLogEntry{Tenant: tenant, ConnectionID: t.conn, RunID: id, ChangeSetID: id, Op: resync.OpErase,
				Kind: kind, Key: storage.Redacted, By: by}
			if err := tx.QueryRow(ctx, s.sql(`INSERT INTO {schema}.changes
				(tenant, connection_id, run_id, change_set_id, op, kind, key, fingerprint, prev_fingerprint, at, erased_by)
				VALUES ($1, $2, $3, $3, $4, $5, $6, 0, 0, now(), $7) RETURNING seq, at`),
				tenant, t.conn, id, int16(storage.OpCode(resync.OpErase)), t.kind, storage.Redacted, by).Scan(&e.Seq, &e.At); err != nil {
				return err
			}
			e.At = e.At.UTC()
			out = append(out, e)
			if i+1 < len(targets) && targets[i+1].conn == t.conn {
				continue
			}
			// The connection's last erased record: move its version on,
			// drop its held change set and register the erasure's entries.
			var b pgx.Batch
			b.Queue(s.sql(`UPDATE {schema}.connections SET version = version + 1 WHERE tenant = $1 AND connection_id = $2`), tenant, t.conn)
			b.Queue(s.sql(`DELETE FROM {schema}.held_change_sets WHERE tenant = $1 AND connection_id = $2`), tenant, t.conn)
			b.Queue(s.sql(`INSERT INTO {schema}.applied_change_sets
				(tenant, connection_id, change_set_id, run_id, version, applied_at, first_seq, last_seq)
				SELECT $1, $2, $3, $3, k.version, now(), min(c.seq), max(c.seq)
				FROM {schema}.connections k, {schema}.changes c
				WHERE k.tenant = $1 AND k.connection_id = $2 AND c.tenant = $1 AND c.connection_id = $2 AND c.change_set_id = $3 AND c.op = $4
				GROUP BY k.version`), tenant, t.conn, id, int16(storage.OpCode(resync.OpErase)))
			if err := tx.SendBatch(ctx, &b).Close(); err != nil {
				return err
			}
		}
		return s.eraseLinks(ctx, tx, tenant, id, targets)
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: erasing: %w", err)
	}
	return out, nil
}

// DeleteTenant implements storage.Eraser.
func (s *Store) DeleteTenant(ctx context.Context, tenant string) error {
	if err := checkText("tenant", tenant); err != nil {
		return err
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var b pgx.Batch
		// held_changes go with their held_change_sets (ON DELETE CASCADE).
		for _, table := range []string{"held_change_sets", "decided_change_sets", "changes", "applied_change_sets", "records", "connections", "runs", "outbox", "account_links", "findings", "link_decisions"} {
			b.Queue(s.sql(`DELETE FROM {schema}.`+table+` WHERE tenant = $1`), tenant)
		}
		return tx.SendBatch(ctx, &b).Close()
	})
	if err != nil {
		return fmt.Errorf("postgres: deleting tenant: %w", err)
	}
	return nil
}

// Prune implements storage.Eraser.
func (s *Store) Prune(ctx context.Context, tenant string, before time.Time) error {
	if err := checkText("tenant", tenant); err != nil {
		return err
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var b pgx.Batch
		b.Queue(s.sql(`DELETE FROM {schema}.runs WHERE tenant = $1 AND created_at < $2 AND status NOT IN ('pending', 'running')`), tenant, before)
		b.Queue(s.sql(`DELETE FROM {schema}.changes WHERE tenant = $1 AND at < $2`), tenant, before)
		b.Queue(s.sql(`DELETE FROM {schema}.outbox WHERE tenant = $1 AND state <> 'pending' AND settled_at < $2`), tenant, before)
		b.Queue(s.sql(`DELETE FROM {schema}.findings WHERE tenant = $1 AND closed_at < $2`), tenant, before.UnixNano())
		return tx.SendBatch(ctx, &b).Close()
	})
	if err != nil {
		return fmt.Errorf("postgres: pruning: %w", err)
	}
	return nil
}

// eraseLinks removes and redacts what the tenant's links, findings and
// decisions hold about the erased records, as storage.Eraser documents,
// in the erasure's transaction. Open findings close at the transaction's
// time, as the OpErase entries are dated.
func (s *Store) eraseLinks(ctx context.Context, tx pgx.Tx, tenant, id string, targets []erased) error {
	people := []string{}
	var conns, keys []string
	for _, t := range targets {
		kind, err := storage.KindOf(int64(t.kind))
		if err != nil {
			return err
		}
		switch kind {
		case resync.KindIdentity:
			people = append(people, linking.IdentityRef(t.conn, t.key))
		case resync.KindAccount:
			conns, keys = append(conns, t.conn), append(keys, t.key)
		}
	}
	const closeFinding = `closed_at = COALESCE(closed_at, (extract(epoch FROM now()) * 1000000)::bigint * 1000),
		closed_run = CASE WHEN closed_at IS NULL THEN $3 ELSE closed_run END`
	var b pgx.Batch
	if len(people) > 0 {
		b.Queue(s.sql(`DELETE FROM {schema}.account_links WHERE tenant = $1 AND (person_id = ANY($2) OR candidates && $2::text[])`), tenant, people)
		b.Queue(s.sql(`UPDATE {schema}.findings SET person_id = '', detail = '', `+closeFinding+`
			WHERE tenant = $1 AND person_id = ANY($2)`), tenant, people, id)
		b.Queue(s.sql(`UPDATE {schema}.link_decisions SET person = '', reason = $3 WHERE tenant = $1 AND person = ANY($2)`),
			tenant, people, storage.Redacted)
	}
	if len(keys) > 0 {
		b.Queue(s.sql(`DELETE FROM {schema}.account_links l USING unnest($2::text[], $3::text[]) AS t(c, k)
			WHERE l.tenant = $1 AND l.connection_id = t.c AND l.account_key = t.k`), tenant, conns, keys)
		b.Queue(s.sql(`UPDATE {schema}.findings f SET account_key = $5, person_id = '', detail = '', `+closeFinding+`
			FROM unnest($2::text[], $4::text[]) AS t(c, k)
			WHERE f.tenant = $1 AND f.connection_id = t.c AND f.account_key = t.k`), tenant, conns, id, keys, storage.Redacted)
		b.Queue(s.sql(`UPDATE {schema}.link_decisions d SET account_key = $4, reason = $4
			FROM unnest($2::text[], $3::text[]) AS t(c, k)
			WHERE d.tenant = $1 AND d.connection_id = t.c AND d.account_key = t.k`), tenant, conns, keys, storage.Redacted)
	}
	if b.Len() == 0 {
		return nil
	}
	return tx.SendBatch(ctx, &b).Close()
}
