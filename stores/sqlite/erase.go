package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/openresync/resync"
	"github.com/openresync/resync/linking"
	"github.com/openresync/resync/storage"
)

var _ storage.Eraser = (*Store)(nil)

// erased is a record an erasure removes: connection, kind, key.
type erased struct {
	conn string
	kind int64
	key  string
}

// Erase implements storage.Eraser in one immediate transaction: it reads
// the tenant's records and change log, decodes each record and tests it,
// then deletes, redacts and records what matched.
func (s *Store) Erase(ctx context.Context, tenant, id, by string, match func(resync.Record) bool) ([]resync.ChangeLogEntry, error) {
	var out []resync.ChangeLogEntry
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		fail := func(err error) error { return fmt.Errorf("sqlite: erasing: %w", err) }
		found := map[erased]struct{}{}
		scan := func(q string) error {
			rows, err := tx.QueryContext(ctx, q, tenant, storage.Redacted)
			if err != nil {
				return fail(err)
			}
			defer rows.Close()
			for rows.Next() {
				var t erased
				var a, b []byte
				if err := rows.Scan(&t.conn, &t.kind, &t.key, &a, &b); err != nil {
					return fail(err)
				}
				kind, err := storage.KindOf(t.kind)
				if err != nil {
					return fail(err)
				}
				for _, data := range [][]byte{a, b} {
					if data == nil {
						continue
					}
					r, err := storage.DecodeRecord(kind, data)
					if err != nil {
						return fail(err)
					}
					if match(r) {
						found[t] = struct{}{}
					}
				}
			}
			return rows.Err()
		}
		if err := scan(`SELECT connection_id, kind, key, data, NULL FROM records WHERE tenant = ?1 AND ?2 = ?2`); err != nil {
			return err
		}
		if err := scan(`SELECT connection_id, kind, key, before_data, after_data FROM change_log
			WHERE tenant = ?1 AND key <> ?2 AND (before_data IS NOT NULL OR after_data IS NOT NULL)`); err != nil {
			return err
		}
		targets := make([]erased, 0, len(found))
		for t := range found {
			targets = append(targets, t)
		}
		slices.SortFunc(targets, func(a, b erased) int {
			return cmp.Or(strings.Compare(a.conn, b.conn), cmp.Compare(a.kind, b.kind), strings.Compare(a.key, b.key))
		})
		now := s.clock.Now()
		touched := map[string]bool{}
		var people []string      // the erased identities, as people's references
		var accounts [][2]string // the erased accounts: connection, key
		for _, t := range targets {
			if _, err := tx.ExecContext(ctx, `DELETE FROM records WHERE tenant = ? AND connection_id = ? AND kind = ? AND key = ?`,
				tenant, t.conn, t.kind, t.key); err != nil {
				return fail(err)
			}
			if _, err := tx.ExecContext(ctx, `UPDATE change_log SET key = ?5, fingerprint = 0, prev_fingerprint = 0, before_data = NULL, after_data = NULL
				WHERE tenant = ?1 AND key = ?4 AND connection_id = ?2 AND kind = ?3`, tenant, t.conn, t.kind, t.key, storage.Redacted); err != nil {
				return fail(err)
			}
			if !touched[t.conn] {
				touched[t.conn] = true
				if _, err := tx.ExecContext(ctx, `UPDATE connections SET version = version + 1 WHERE tenant = ? AND connection_id = ?`,
					tenant, t.conn); err != nil {
					return fail(err)
				}
				if _, err := tx.ExecContext(ctx, `DELETE FROM held_change_sets WHERE tenant = ? AND connection_id = ?`, tenant, t.conn); err != nil {
					return fail(err)
				}
			}
			res, err := tx.ExecContext(ctx, `INSERT INTO change_log (tenant, connection_id, run_id, change_set_id, op, kind, key, fingerprint, prev_fingerprint, at, erased_by)
				VALUES (?, ?, ?, ?, ?, ?, ?, 0, 0, ?, ?)`, tenant, t.conn, id, id, int64(storage.OpCode(resync.OpErase)), t.kind, storage.Redacted, now.UnixNano(), by)
			if err != nil {
				return fail(err)
			}
			seq, err := res.LastInsertId()
			if err != nil {
				return fail(err)
			}
			kind, err := storage.KindOf(t.kind)
			if err != nil {
				return fail(err)
			}
			out = append(out, resync.ChangeLogEntry{Seq: seq, Tenant: tenant, ConnectionID: t.conn, RunID: id, ChangeSetID: id,
				Op: resync.OpErase, Kind: kind, Key: storage.Redacted, At: time.Unix(0, now.UnixNano()).UTC(), By: by})
			switch kind {
			case resync.KindIdentity:
				people = append(people, linking.IdentityRef(t.conn, t.key))
			case resync.KindAccount:
				accounts = append(accounts, [2]string{t.conn, t.key})
			}
		}
		if err := eraseLinks(ctx, tx, tenant, id, now, people, accounts); err != nil {
			return fail(err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DeleteTenant implements storage.Eraser.
func (s *Store) DeleteTenant(ctx context.Context, tenant string) error {
	return s.writeTx(ctx, func(tx *sql.Tx) error {
		for _, table := range []string{"runs", "connections", "records", "applied_change_sets", "change_log", "held_change_sets", "decided_change_sets", "outbox", "account_links", "findings", "link_decisions"} {
			if _, err := tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE tenant = ?`, tenant); err != nil {
				return fmt.Errorf("sqlite: deleting the tenant's %s: %w", table, err)
			}
		}
		return nil
	})
}

// Prune implements storage.Eraser.
func (s *Store) Prune(ctx context.Context, tenant string, before time.Time) error {
	return s.writeTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM runs WHERE tenant = ? AND created_at < ? AND status NOT IN ('pending', 'running')`,
			tenant, before.UnixNano()); err != nil {
			return fmt.Errorf("sqlite: pruning runs: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM change_log WHERE tenant = ? AND at < ?`, tenant, before.UnixNano()); err != nil {
			return fmt.Errorf("sqlite: pruning the change log: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM outbox WHERE tenant = ? AND state <> 'pending' AND settled_at < ?`, tenant, before.UnixNano()); err != nil {
			return fmt.Errorf("sqlite: pruning the outbox: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM findings WHERE tenant = ? AND closed_at < ?`, tenant, before.UnixNano()); err != nil {
			return fmt.Errorf("sqlite: pruning findings: %w", err)
		}
		return nil
	})
}

// eraseLinks removes and redacts what the tenant's links, findings and
// decisions hold about the erased people (their references) and accounts
// (connection, key), as storage.Eraser documents, in the erasure's
// transaction. Each list goes in as one JSON array parameter.
func eraseLinks(ctx context.Context, tx *sql.Tx, tenant, id string, now time.Time, people []string, accounts [][2]string) error {
	closeFinding := `closed_at = COALESCE(closed_at, ?3), closed_run = CASE WHEN closed_at IS NULL THEN ?4 ELSE closed_run END`
	exec := func(query string, args ...any) error {
		_, err := tx.ExecContext(ctx, query, args...)
		return err
	}
	if len(people) > 0 {
		ps, err := json.Marshal(people)
		if err != nil {
			return err
		}
		const erasedPerson = `IN (SELECT value FROM json_each(?2))`
		// Links of an erased person, and ambiguous links naming one among
		// their candidates.
		if err := exec(`DELETE FROM account_links WHERE tenant = ?1 AND (person_id `+erasedPerson+`
			OR EXISTS (SELECT 1 FROM json_each(candidates) c WHERE c.value `+erasedPerson+`))`, tenant, string(ps)); err != nil {
			return err
		}
		if err := exec(`UPDATE findings SET person_id = '', detail = '', `+closeFinding+`
			WHERE tenant = ?1 AND person_id `+erasedPerson, tenant, string(ps), now.UnixNano(), id); err != nil {
			return err
		}
		if err := exec(`UPDATE link_decisions SET person = '', reason = ?3 WHERE tenant = ?1 AND person `+erasedPerson,
			tenant, string(ps), storage.Redacted); err != nil {
			return err
		}
	}
	if len(accounts) > 0 {
		as, err := json.Marshal(accounts)
		if err != nil {
			return err
		}
		const erasedAccount = `(connection_id, account_key) IN (SELECT value ->> 0, value ->> 1 FROM json_each(?2))`
		if err := exec(`DELETE FROM account_links WHERE tenant = ?1 AND `+erasedAccount, tenant, string(as)); err != nil {
			return err
		}
		if err := exec(`UPDATE findings SET account_key = ?5, person_id = '', detail = '', `+closeFinding+`
			WHERE tenant = ?1 AND `+erasedAccount, tenant, string(as), now.UnixNano(), id, storage.Redacted); err != nil {
			return err
		}
		if err := exec(`UPDATE link_decisions SET account_key = ?3, reason = ?3 WHERE tenant = ?1 AND `+erasedAccount,
			tenant, string(as), storage.Redacted); err != nil {
			return err
		}
	}
	return nil
}
