package resynctest

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/openresync/resync"
	"github.com/openresync/resync/storage"
)

var (
	ruleBeforeAfter = rule{"Store.Apply contract: change-log entries carry the record before and after", "package storage"}
	ruleErase       = rule{"Eraser.Erase contract", "package storage"}
	ruleDelete      = rule{"Eraser.DeleteTenant contract", "package storage"}
	rulePrune       = rule{"Eraser.Prune contract", "package storage"}
)

// isNil reports a nil record, typed or not.
func isNil(r resync.Record) bool { return r == nil || reflect.ValueOf(r).IsNil() }

// entryDiff returns "" if got is want: same fields, records by content.
func entryDiff(got, want resync.ChangeLogEntry) string {
	g, w := got, want
	g.Before, g.After, w.Before, w.After = nil, nil, nil, nil
	if g != w {
		return fmt.Sprintf("entry %+v, want %+v", g, w)
	}
	for _, side := range []struct {
		name      string
		got, want resync.Record
	}{{"Before", got.Before, want.Before}, {"After", got.After, want.After}} {
		switch {
		case isNil(side.want) && !isNil(side.got):
			return fmt.Sprintf("%s of %s %s %q is %+v, want none", side.name, want.Op, want.Kind, want.Key, normRecord(side.got))
		case !isNil(side.want):
			if d := recordDiff(side.got, side.want); d != "" {
				return fmt.Sprintf("%s of %s %s %q: %s", side.name, want.Op, want.Kind, want.Key, d)
			}
		}
	}
	return ""
}

func filterEntries(es []resync.ChangeLogEntry, keep func(resync.ChangeLogEntry) bool) []resync.ChangeLogEntry {
	var out []resync.ChangeLogEntry
	for _, e := range es {
		if keep(e) {
			out = append(out, e)
		}
	}
	return out
}

// checkChangesBeforeAfter: Before is the stored record the change
// replaced, refreshes included (they write no entry but change what is
// stored); an add that revives a tombstone has no Before; a remove has no
// After; a change set that adds one key and updates another captures each
// right.
func checkChangesBeforeAfter(e *storeEnv) error {
	t := e.tenant("a")
	alice1, bob1 := testIdentity("alice", 1), testIdentity("bob", 1)
	if err := e.apply(newChangeSet(t, "c", "cs1", "run1", 0, opAdd(alice1), opAdd(bob1))); err != nil {
		return err
	}
	seen := *alice1
	seen.LastLogin = baseTime.Add(-time.Minute) // volatile only: a refresh
	if err := e.apply(newChangeSet(t, "c", "cs2", "run2", 1, opRefresh(&seen, resync.Fingerprint(alice1)))); err != nil {
		return err
	}
	alice2 := seen
	alice2.Status, alice2.LastLogin = resync.StatusDeprovisioned, seen.LastLogin
	carol := testIdentity("carol", 1)
	if err := e.apply(newChangeSet(t, "c", "cs3", "run3", 2,
		opAdd(carol), opUpdate(&alice2, resync.Fingerprint(&seen)), opRemove(resync.KindIdentity, "bob", resync.Fingerprint(bob1)))); err != nil {
		return err
	}
	bob2 := testIdentity("bob", 2)
	if err := e.apply(newChangeSet(t, "c", "cs4", "run4", 3, opAdd(bob2))); err != nil {
		return err
	}
	got, err := e.changes(resync.ChangeQuery{Tenant: t, AfterSeq: 0})
	if err != nil {
		return err
	}
	want := map[string]resync.ChangeLogEntry{
		"run3/carol": {Op: resync.OpAdd, After: carol},
		"run3/alice": {Op: resync.OpUpdate, Before: &seen, After: &alice2},
		"run3/bob":   {Op: resync.OpRemove, Before: bob1},
		"run4/bob":   {Op: resync.OpAdd, After: bob2},
	}
	for _, g := range got {
		w, ok := want[g.RunID+"/"+g.Key]
		if !ok {
			continue
		}
		delete(want, g.RunID+"/"+g.Key)
		if d := entryDiff(resync.ChangeLogEntry{Op: g.Op, Before: g.Before, After: g.After}, w); d != "" {
			return ruleBeforeAfter.errorf("entry %d (%s of %q in %s): %s", g.Seq, g.Op, g.Key, g.RunID, d)
		}
	}
	if len(want) > 0 {
		return ruleChanges.errorf("the change log lacks %d of the entries applied: %v", len(want), slices.Collect(mapKeys(want)))
	}
	return nil
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// personOf is the suite's erasure test: identities by email, accounts by
// owner email, ignoring case.
func personOf(email string) func(resync.Record) bool {
	return func(r resync.Record) bool {
		switch r := r.(type) {
		case *resync.Identity:
			return strings.EqualFold(r.Email, email)
		case *resync.Account:
			return strings.EqualFold(r.OwnerEmail, email)
		}
		return false
	}
}

// eraseFixture applies to tenant t: on c1 identities alice (added, then
// updated) and bob (added, then removed) and a group; on c2 accounts of
// alice (owner email in other case) and bob, and a held change set; on c3
// an unrelated identity. It returns the tenant's change log.
func eraseFixture(e *storeEnv, t string) ([]resync.ChangeLogEntry, error) {
	alice, bob := testIdentity("alice", 1), testIdentity("bob", 1)
	alice2 := testIdentity("alice", 2)
	acct := testAccount("alice-admin", 1)
	acct.OwnerEmail = "ALICE@example.com"
	for _, cs := range []*resync.ChangeSet{
		newChangeSet(t, "c1", "cs1", "run1", 0, opAdd(alice), opAdd(bob), opAdd(testGroup("eng", 1))),
		newChangeSet(t, "c1", "cs2", "run2", 1, opUpdate(alice2, resync.Fingerprint(alice)), opRemove(resync.KindIdentity, "bob", resync.Fingerprint(bob))),
		newChangeSet(t, "c2", "cs1", "run1", 0, opAdd(acct), opAdd(testAccount("bob", 1))),
		newChangeSet(t, "c3", "cs1", "run1", 0, opAdd(testIdentity("carol", 1))),
	} {
		if err := e.apply(cs); err != nil {
			return nil, err
		}
	}
	held := heldSet(t, "c2", "held-1", baseTime)
	held.BaseVersion = 1
	if err := e.s.Hold(e.ctx, held); err != nil {
		return nil, ruleHold.errorf("Hold: %v", err)
	}
	return e.changes(resync.ChangeQuery{Tenant: t})
}

func checkErase(e *storeEnv) error {
	er, ok := e.s.(storage.Eraser)
	if !ok {
		return nil // an optional capability
	}
	a, b := e.tenant("a"), e.tenant("b")
	before, err := eraseFixture(e, a)
	if err != nil {
		return err
	}
	if _, err := eraseFixture(e, b); err != nil {
		return err
	}
	otherBefore, err := e.changes(resync.ChangeQuery{Tenant: b})
	if err != nil {
		return err
	}
	versions := map[string]int64{}
	for _, c := range []string{"c1", "c2", "c3"} {
		_, v, err := e.snapshot(a, c)
		if err != nil {
			return err
		}
		versions[c] = v
	}
	erased, err := er.Erase(e.ctx, a, "erase-1", "Ada Admin", personOf("alice@example.com"))
	if err != nil {
		return ruleErase.errorf("Erase: %v", err)
	}
	// One OpErase entry per erased record: alice in c1, her account in c2.
	type who struct {
		conn string
		kind resync.RecordKind
	}
	var gotWho []who
	for i, x := range erased {
		if x.Op != resync.OpErase || x.Key != storage.Redacted || x.RunID != "erase-1" || x.ChangeSetID != "erase-1" ||
			x.By != "Ada Admin" || x.Tenant != a || x.At.IsZero() || !isNil(x.Before) || !isNil(x.After) || x.Fingerprint != 0 {
			return ruleErase.errorf("erasure entry %+v: want op erase, key %q, RunID and ChangeSetID the erasure's ID, By, At, and nothing else", x, storage.Redacted)
		}
		if x.Seq <= before[len(before)-1].Seq || (i > 0 && x.Seq <= erased[i-1].Seq) {
			return ruleErase.errorf("erasure entry Seq %d: want after every earlier entry, increasing", x.Seq)
		}
		gotWho = append(gotWho, who{x.ConnectionID, x.Kind})
	}
	slices.SortFunc(gotWho, func(x, y who) int { return strings.Compare(x.conn, y.conn) })
	if want := []who{{"c1", resync.KindIdentity}, {"c2", resync.KindAccount}}; !slices.Equal(gotWho, want) {
		return ruleErase.errorf("Erase recorded %v (connection, kind), want %v", gotWho, want)
	}
	// The records are gone, live or tombstoned; the others stay.
	for _, c := range []struct {
		conn string
		keys []string
	}{{"c1", []string{"bob", "eng"}}, {"c2", []string{"bob"}}, {"c3", []string{"carol"}}} {
		recs, err := e.records(a, c.conn, "", true)
		if err != nil {
			return err
		}
		var keys []string
		for _, r := range recs {
			keys = append(keys, r.Key)
		}
		if !slices.Equal(keys, c.keys) {
			return ruleErase.errorf("connection %q has records %v after the erasure, want %v", c.conn, keys, c.keys)
		}
	}
	// The entries keep their place and shape; alice's are redacted.
	after, err := e.changes(resync.ChangeQuery{Tenant: a})
	if err != nil {
		return err
	}
	if len(after) != len(before)+len(erased) {
		return ruleErase.errorf("the change log has %d entries after erasing, want the %d before plus %d erasure entries: redact, do not delete", len(after), len(before), len(erased))
	}
	for i, old := range before {
		got := after[i]
		want := old
		if old.Key == "alice" || old.Key == "alice-admin" {
			want.Key, want.Fingerprint, want.PrevFingerprint, want.Before, want.After = storage.Redacted, 0, 0, nil, nil
		}
		if d := entryDiff(got, want); d != "" {
			return ruleErase.errorf("entry %d after the erasure: %s", old.Seq, d)
		}
	}
	for _, x := range after {
		for _, r := range []resync.Record{x.Before, x.After} {
			if !isNil(r) && personOf("alice@example.com")(r) {
				return ruleErase.errorf("entry %d still holds the erased person's record", x.Seq)
			}
		}
	}
	if q, err := e.changes(resync.ChangeQuery{Tenant: a, Op: resync.OpErase}); err != nil {
		return err
	} else if len(q) != len(erased) {
		return ruleErase.errorf("Changes(Op: erase) returned %d entries, want the %d of the erasure", len(q), len(erased))
	}
	if q, err := e.changes(resync.ChangeQuery{Tenant: a, RunID: "erase-1"}); err != nil {
		return err
	} else if len(q) != len(erased) {
		return ruleErase.errorf("Changes(RunID: the erasure's ID) returned %d entries, want the %d of the erasure", len(q), len(erased))
	}
	if q, err := e.changes(resync.ChangeQuery{Tenant: a, Key: "alice"}); err != nil {
		return err
	} else if len(q) != 0 {
		return ruleErase.errorf("Changes(Key: alice) still returns %d entries after the erasure", len(q))
	}
	// Versions of touched connections moved on; held sets there are gone.
	for c, bump := range map[string]int64{"c1": 1, "c2": 1, "c3": 0} {
		_, v, err := e.snapshot(a, c)
		if err != nil {
			return err
		}
		if v != versions[c]+bump {
			return ruleErase.errorf("connection %q is at version %d after the erasure, want %d", c, v, versions[c]+bump)
		}
	}
	if _, err := e.s.GetHeld(e.ctx, a, "held-1"); !errors.Is(err, resync.ErrNotFound) {
		return ruleErase.errorf("the held change set of a connection with erased records is still there (GetHeld: %v)", err)
	}
	stale := newChangeSet(a, "c1", "cs-stale", "run9", versions["c1"], opAdd(testIdentity("alice", 3)))
	if err := e.s.Apply(e.ctx, stale); !errors.Is(err, resync.ErrConflict) {
		return ruleErase.errorf("a change set computed before the erasure applied (err %v), want ErrConflict", err)
	}
	// Another tenant's same person is untouched.
	otherAfter, err := e.changes(resync.ChangeQuery{Tenant: b})
	if err != nil {
		return err
	}
	if len(otherAfter) != len(otherBefore) {
		return ruleIsolation.errorf("erasing in tenant %q changed tenant %q's change log", a, b)
	}
	for i := range otherBefore {
		if d := entryDiff(otherAfter[i], otherBefore[i]); d != "" {
			return ruleIsolation.errorf("erasing in tenant %q changed tenant %q's entry %d: %s", a, b, otherBefore[i].Seq, d)
		}
	}
	if recs, err := e.records(b, "c1", resync.KindIdentity, false); err != nil {
		return err
	} else if len(recs) != 1 || recs[0].Key != "alice" {
		return ruleIsolation.errorf("erasing in tenant %q changed tenant %q's records", a, b)
	}
	if _, err := e.s.GetHeld(e.ctx, b, "held-1"); err != nil {
		return ruleIsolation.errorf("erasing in tenant %q dropped tenant %q's held change set: %v", a, b, err)
	}
	// Nothing left to find: a second erasure erases and records nothing.
	again, err := er.Erase(e.ctx, a, "erase-2", "Ada Admin", personOf("alice@example.com"))
	if err != nil {
		return ruleErase.errorf("Erase again: %v", err)
	}
	if len(again) != 0 {
		return ruleErase.errorf("a second erasure of the same person erased %d records, want 0", len(again))
	}
	return nil
}

// checkErasePast: a record whose stored version no longer matches is
// still the person's if an earlier version in the change log does.
func checkErasePast(e *storeEnv) error {
	er, ok := e.s.(storage.Eraser)
	if !ok {
		return nil
	}
	t := e.tenant("a")
	old := testIdentity("dana", 1)
	old.Email = "dana.maiden@example.com"
	renamed := testIdentity("dana", 1)
	if err := e.apply(newChangeSet(t, "c", "cs1", "run1", 0, opAdd(old), opAdd(testIdentity("erin", 1)))); err != nil {
		return err
	}
	if err := e.apply(newChangeSet(t, "c", "cs2", "run2", 1, opUpdate(renamed, resync.Fingerprint(old)))); err != nil {
		return err
	}
	erased, err := er.Erase(e.ctx, t, "erase-1", "admin", personOf("dana.maiden@example.com"))
	if err != nil {
		return ruleErase.errorf("Erase: %v", err)
	}
	if len(erased) != 1 {
		return ruleErase.errorf("erasing a person by an email only the change log still holds erased %d records, want 1", len(erased))
	}
	recs, err := e.records(t, "c", "", true)
	if err != nil {
		return err
	}
	if len(recs) != 1 || recs[0].Key != "erin" {
		return ruleErase.errorf("after the erasure the connection has %d records, want only erin", len(recs))
	}
	return nil
}

func checkDeleteTenant(e *storeEnv) error {
	er, ok := e.s.(storage.Eraser)
	if !ok {
		return nil
	}
	a, b := e.tenant("a"), e.tenant("b")
	for _, t := range []string{a, b} {
		if _, err := eraseFixture(e, t); err != nil {
			return err
		}
		for i, st := range []resync.RunStatus{resync.RunSucceeded, resync.RunRunning} {
			if err := e.s.CreateRun(e.ctx, testRun(t, fmt.Sprintf("run-%d", i), "owner", st, resync.TriggerAdhoc, baseTime)); err != nil {
				return ruleCreateRun.errorf("CreateRun: %v", err)
			}
		}
	}
	// A decided change set (where the store keeps decisions) goes too.
	dec, decides := e.s.(storage.HeldDecider)
	if decides {
		for _, t := range []string{a, b} {
			h := heldSet(t, "c3", "held-2", baseTime)
			h.BaseVersion = 1
			if err := e.s.Hold(e.ctx, h); err != nil {
				return ruleHold.errorf("Hold: %v", err)
			}
			if _, err := dec.DecideHeld(e.ctx, t, "held-2", resync.Decision{Kind: resync.ConnRejected,
				By: resync.Principal{ID: "admin"}, At: baseTime, Reason: "test"}); err != nil {
				return ruleDelete.errorf("DecideHeld: %v", err)
			}
		}
	}
	if err := er.DeleteTenant(e.ctx, a); err != nil {
		return ruleDelete.errorf("DeleteTenant: %v", err)
	}
	if decides {
		for t, want := range map[string]int{a: 0, b: 1} {
			got, err := dec.DecidedChangeSets(e.ctx, t, 100)
			if err != nil {
				return ruleDelete.errorf("DecidedChangeSets: %v", err)
			}
			if len(got) != want {
				return ruleDelete.errorf("tenant %q has %d decided change sets after DeleteTenant(%q), want %d", t, len(got), a, want)
			}
		}
	}
	count := func(t string) (runs, recs, log, held int, err error) {
		rs, err := e.s.ListRuns(e.ctx, resync.RunQuery{Tenant: t, Limit: 100})
		if err != nil {
			return 0, 0, 0, 0, err
		}
		for _, c := range []string{"c1", "c2", "c3"} {
			r, err := e.records(t, c, "", true)
			if err != nil {
				return 0, 0, 0, 0, err
			}
			recs += len(r)
		}
		l, err := e.changes(resync.ChangeQuery{Tenant: t})
		if err != nil {
			return 0, 0, 0, 0, err
		}
		h, err := e.s.HeldChangeSets(e.ctx, t)
		if err != nil {
			return 0, 0, 0, 0, err
		}
		return len(rs), recs, len(l), len(h), nil
	}
	runs, recs, log, held, err := count(a)
	if err != nil {
		return err
	}
	if runs+recs+log+held != 0 {
		return ruleDelete.errorf("tenant %q still has %d runs, %d records, %d change-log entries and %d held change sets after DeleteTenant", a, runs, recs, log, held)
	}
	if _, err := e.s.GetRun(e.ctx, a, "run-1"); !errors.Is(err, resync.ErrNotFound) {
		return ruleDelete.errorf("GetRun of a deleted tenant's run: %v, want ErrNotFound", err)
	}
	if live, err := e.s.LiveRuns(e.ctx); err != nil {
		return err
	} else if slices.ContainsFunc(live, func(r resync.RunInfo) bool { return r.Tenant == a }) {
		return ruleDelete.errorf("LiveRuns still lists a run of deleted tenant %q", a)
	}
	for _, c := range []string{"c1", "c2"} {
		if _, v, err := e.snapshot(a, c); err != nil {
			return err
		} else if v != 0 {
			return ruleDelete.errorf("connection %q of a deleted tenant is at version %d, want 0 (never applied)", c, v)
		}
	}
	// The tenant can start over.
	if err := e.apply(newChangeSet(a, "c1", "cs1", "run1", 0, opAdd(testIdentity("zoe", 1)))); err != nil {
		return ruleDelete.errorf("applying the first change set again after DeleteTenant: %v", err)
	}
	runs, recs, log, held, err = count(b)
	if err != nil {
		return err
	}
	if runs != 2 || recs != 6 || log != 8 || held != 1 {
		return ruleIsolation.errorf("deleting tenant %q left tenant %q with %d runs, %d records, %d entries, %d held; want 2, 6, 8, 1", a, b, runs, recs, log, held)
	}
	return nil
}

func checkPrune(e *storeEnv) error {
	er, ok := e.s.(storage.Eraser)
	if !ok {
		return nil
	}
	a, b := e.tenant("a"), e.tenant("b")
	for _, t := range []string{a, b} {
		for _, r := range []resync.RunInfo{
			testRun(t, "old-done", "o", resync.RunSucceeded, resync.TriggerAdhoc, baseTime.Add(-48*time.Hour)),
			testRun(t, "old-live", "o", resync.RunRunning, resync.TriggerAdhoc, baseTime.Add(-48*time.Hour)),
			testRun(t, "new-done", "o", resync.RunFailed, resync.TriggerAdhoc, baseTime),
		} {
			if err := e.s.CreateRun(e.ctx, r); err != nil {
				return ruleCreateRun.errorf("CreateRun: %v", err)
			}
		}
		if err := e.apply(newChangeSet(t, "c1", "cs1", "run1", 0, opAdd(testIdentity("alice", 1)))); err != nil {
			return err
		}
	}
	first, err := e.changes(resync.ChangeQuery{Tenant: a})
	if err != nil {
		return err
	}
	if err := e.apply(newChangeSet(a, "c1", "cs2", "run2", 1, opAdd(testIdentity("bob", 1)))); err != nil {
		return err
	}
	if err := er.Prune(e.ctx, a, baseTime.Add(-time.Hour)); err != nil {
		return rulePrune.errorf("Prune: %v", err)
	}
	runs, err := e.s.ListRuns(e.ctx, resync.RunQuery{Tenant: a, Limit: 100})
	if err != nil {
		return err
	}
	var ids []string
	for _, r := range runs {
		ids = append(ids, r.ID)
	}
	slices.Sort(ids)
	if want := []string{"new-done", "old-live"}; !slices.Equal(ids, want) {
		return rulePrune.errorf("runs %v after pruning before %s, want %v (final runs created before it go, live ones stay)", ids, baseTime.Add(-time.Hour), want)
	}
	// Entries: those at or after the cutoff stay, older ones go.
	cut := first[0].At
	if err := er.Prune(e.ctx, a, cut); err != nil {
		return rulePrune.errorf("Prune: %v", err)
	}
	if got, err := e.changes(resync.ChangeQuery{Tenant: a}); err != nil {
		return err
	} else if len(got) != 2 {
		return rulePrune.errorf("pruning before the first entry's time left %d of 2 entries", len(got))
	}
	all, err := e.changes(resync.ChangeQuery{Tenant: a})
	if err != nil {
		return err
	}
	if err := er.Prune(e.ctx, a, all[len(all)-1].At.Add(time.Microsecond)); err != nil {
		return rulePrune.errorf("Prune: %v", err)
	}
	if got, err := e.changes(resync.ChangeQuery{Tenant: a}); err != nil {
		return err
	} else if len(got) != 0 {
		return rulePrune.errorf("pruning after the last entry's time left %d entries", len(got))
	}
	if recs, err := e.records(a, "c1", "", false); err != nil {
		return err
	} else if len(recs) != 2 {
		return rulePrune.errorf("pruning deleted records: %d of 2 left", len(recs))
	}
	// The other tenant is untouched.
	if runs, err := e.s.ListRuns(e.ctx, resync.RunQuery{Tenant: b, Limit: 100}); err != nil {
		return err
	} else if len(runs) != 3 {
		return ruleIsolation.errorf("pruning tenant %q left tenant %q %d of 3 runs", a, b, len(runs))
	}
	if got, err := e.changes(resync.ChangeQuery{Tenant: b}); err != nil {
		return err
	} else if len(got) != 1 {
		return ruleIsolation.errorf("pruning tenant %q left tenant %q %d of 1 entries", a, b, len(got))
	}
	return nil
}
