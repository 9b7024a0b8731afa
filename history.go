// This file is what the engine keeps of the past: the change log, and how
// personal data leaves it (erasure, tenant deletion, retention).

package resync

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// defaultChangeLimit is the number of entries Engine.Changes returns when
// ChangeQuery.Limit is zero.
const defaultChangeLimit = 100

// Changes returns the tenant's change-log entries matching q (q.Tenant is
// set from tenant), oldest first, at most q.Limit of them (100 if 0).
// Each entry holds the record before and after the change; for the next
// page, set q.AfterSeq to the Seq of the last entry returned. It needs
// ActionViewRuns.
func (e *Engine) Changes(ctx context.Context, tenant string, by Principal, q ChangeQuery) ([]ChangeLogEntry, error) {
	if err := needTenant("Changes", tenant); err != nil {
		return nil, err
	}
	if err := e.authorize(ctx, tenant, by, ActionViewRuns); err != nil {
		return nil, err
	}
	q.Tenant = tenant
	if q.Limit == 0 {
		q.Limit = defaultChangeLimit
	}
	return e.cfg.Store.Changes(ctx, q)
}

// eraser is the method set of storage.Eraser, which documents it; the
// engine finds it on its Store by type assertion.
type eraser interface {
	Erase(ctx context.Context, tenant, id, by string, match func(Record) bool) ([]ChangeLogEntry, error)
	DeleteTenant(ctx context.Context, tenant string) error
	Prune(ctx context.Context, tenant string, before time.Time) error
}

// eraser returns the Store's storage.Eraser capability, or an error
// wrapping errors.ErrUnsupported.
func (e *Engine) eraser() (eraser, error) {
	s := ungated(e.cfg.Store)
	if er, ok := s.(eraser); ok {
		return er, nil
	}
	return nil, fmt.Errorf("resync: the store (%T) cannot erase data (it does not implement storage.Eraser): %w", s, errors.ErrUnsupported)
}

// Erase erases one person's data from the tenant: every identity whose
// Key is person or whose Email is person (ignoring case), and every
// account whose Key is person or whose OwnerEmail is person (ignoring
// case), now or in any version the change log holds, in every connection.
// Their records are deleted and their change-log entries redacted (they
// keep their place, run, op, kind and time; see ChangeLogEntry), held
// change sets of their connections are discarded, and the erasure is
// recorded in the change log with one OpErase entry per erased record,
// naming by and not the person. It returns those entries (none when
// nothing matched). With a Store that keeps links (package linking), what
// they hold about the erased records goes too: the links of the person's
// accounts and of the accounts linked to them are deleted, and the
// findings and admins' decisions about them are redacted and kept (their
// kind, connection, times and who decided stay; open findings are closed
// by the erasure), as storage.Eraser documents. Groups are not searched:
// their member lists keep the keys they have. A connection that still has the person gets them back
// on its next read: erase at the provider first.
//
// It needs ActionEraseData, and a Store implementing storage.Eraser (else
// an error wrapping errors.ErrUnsupported).
func (e *Engine) Erase(ctx context.Context, tenant string, by Principal, person string) ([]ChangeLogEntry, error) {
	if err := needTenant("Erase", tenant); err != nil {
		return nil, err
	}
	person = strings.TrimSpace(person)
	if person == "" {
		return nil, invalidArg("Erase needs an email or an identity key")
	}
	if by.label() == "" {
		return nil, invalidArg("Erase needs a principal with an ID, email or name: the erasure records who asked")
	}
	if err := e.authorize(ctx, tenant, by, ActionEraseData); err != nil {
		return nil, err
	}
	er, err := e.eraser()
	if err != nil {
		return nil, err
	}
	id := "erase-" + e.cfg.NewID()
	if err := live(ctx, "erasing in tenant %q", tenant); err != nil {
		return nil, err
	}
	entries, err := er.Erase(ctx, tenant, id, by.label(), personMatcher(person))
	if err != nil {
		return nil, wrap(err, "erasure %s in tenant %q", id, tenant)
	}
	e.log.Info("person's data erased", "tenant", tenant, "erasure", id, "by", by.label(), "records", len(entries))
	return entries, nil
}

// personMatcher returns the test of Erase: is a record the person's?
func personMatcher(person string) func(Record) bool {
	return func(r Record) bool {
		switch r := r.(type) {
		case *Identity:
			return r.Key == person || (r.Email != "" && strings.EqualFold(r.Email, person))
		case *Account:
			return r.Key == person || (r.OwnerEmail != "" && strings.EqualFold(r.OwnerEmail, person))
		}
		return false
	}
}

// DeleteTenant deletes everything the Store keeps of the tenant: runs,
// snapshots, the change log, held change sets and notifications (delivered
// or not). The host removes the
// tenant from its ConnectionSource (and any Scheduler) first; a run of the
// tenant still in progress on this engine makes it fail with ErrConflict,
// as it would write again. It needs ActionEraseData and a Store
// implementing storage.Eraser (else an error wrapping
// errors.ErrUnsupported).
func (e *Engine) DeleteTenant(ctx context.Context, tenant string, by Principal) error {
	if err := needTenant("DeleteTenant", tenant); err != nil {
		return err
	}
	if err := e.authorize(ctx, tenant, by, ActionEraseData); err != nil {
		return err
	}
	er, err := e.eraser()
	if err != nil {
		return err
	}
	e.mu.Lock()
	busy := ""
	for id, r := range e.runs {
		if r.tenant == tenant {
			busy = id
			break
		}
	}
	e.mu.Unlock()
	if busy != "" {
		return fmt.Errorf("%w: tenant %q has run %q in progress; cancel it first", ErrConflict, tenant, busy)
	}
	if err := live(ctx, "deleting tenant %q", tenant); err != nil {
		return err
	}
	if err := er.DeleteTenant(ctx, tenant); err != nil {
		return wrap(err, "deleting tenant %q", tenant)
	}
	e.log.Info("tenant deleted", "tenant", tenant, "by", by.label())
	return nil
}

// Prune deletes the tenant's finished runs and change-log entries older
// than Config.Retention (ErrInvalidRequest when it is 0: keep forever),
// the notifications delivered or given up before then and, with a Store
// that keeps links (package linking), the findings closed before then.
// Records, runs still in progress, notifications still to deliver, open
// findings, links and linking decisions stay. Hosts call it from their own
// periodic job. It needs ActionEraseData and a Store implementing
// storage.Eraser (else an error wrapping errors.ErrUnsupported).
func (e *Engine) Prune(ctx context.Context, tenant string, by Principal) error {
	if err := needTenant("Prune", tenant); err != nil {
		return err
	}
	if e.cfg.Retention <= 0 {
		return invalidArg("Prune needs Config.Retention")
	}
	if err := e.authorize(ctx, tenant, by, ActionEraseData); err != nil {
		return err
	}
	er, err := e.eraser()
	if err != nil {
		return err
	}
	before := e.cfg.Clock.Now().Add(-e.cfg.Retention)
	if err := live(ctx, "pruning tenant %q", tenant); err != nil {
		return err
	}
	return wrap(er.Prune(ctx, tenant, before), "pruning tenant %q before %s", tenant, before.Format(time.RFC3339))
}
