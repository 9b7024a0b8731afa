package resynctest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openresync/resync"
	"github.com/openresync/resync/storage"
)

// TestStore checks a resync.Store implementation against every rule of the
// contract in package storage (what each method of storage.Store must do,
// and the package doc's list: atomic, idempotent apply, tombstones, the
// change log in the same transaction, tenant isolation, concurrency,
// values that round-trip, the sentinels), and the optional
// storage.HeldDecider, storage.Outbox, storage.LinkStore and
// storage.RunStatusReader capabilities if the store has them (the checks
// named DecideHeld..., Outbox..., LinkStore... and RunStatusReader are
// skipped if not; LinkStoreErase and LinkStorePrune also need
// storage.Eraser). It checks persistence only: the
// engine validates arguments, checks contexts, fills query defaults and
// marks interrupted runs before and above the store, so the suite never
// sends a malformed call. Each check runs as a subtest; a failure names the
// rule broken and where it is written, for example:
//
//	Store.Apply contract (package storage): re-applying change set "cs1" changed the change log
//
// newStore is called once per subtest and should return a store the
// subtest may write to; the store is not closed by the suite (use
// t.Cleanup in newStore). Every tenant and lease name the suite uses starts
// with a prefix unique to the subtest, so newStore may hand out one shared
// database.
//
// Call it from a test of the store's package:
//
//	func TestConformance(t *testing.T) {
//		resynctest.TestStore(t, func(t *testing.T) resync.Store {
//			s, err := mystore.Open(t.TempDir())
//			if err != nil {
//				t.Fatal(err)
//			}
//			t.Cleanup(func() { s.Close() })
//			return s
//		})
//	}
//
// The suite takes well under five seconds on an in-memory store apart from
// three lease checks, which wait (for real, bounded to a few seconds) for a
// 100 ms lease to expire by the store's own clock. A store whose clock
// is injected should use the real clock here.
func TestStore(t *testing.T, newStore func(t *testing.T) resync.Store) {
	t.Helper()
	for _, c := range storeChecks {
		t.Run(c.name, func(t *testing.T) {
			s := newStore(t)
			if s == nil {
				t.Fatal("resynctest.TestStore: newStore returned nil")
			}
			if err := runStoreCheck(t.Context(), s, c.fn); errors.Is(err, errSkipCheck) {
				t.Skip("the store does not implement the optional capability this check is about")
			} else if err != nil {
				t.Error(err)
			}
		})
	}
}

// storeCheck is one rule check of TestStore, runnable on its own.
type storeCheck struct {
	name string
	fn   func(e *storeEnv) error
}

// storeChecks lists the checks of TestStore in the order they run.
var storeChecks = []storeCheck{
	{"CreateRun", checkCreateRun},
	{"UpdateRun", checkUpdateRun},
	{"GetRunNotFound", checkGetRunNotFound},
	{"ListRuns", checkListRuns},
	{"LiveRuns", checkLiveRuns},
	{"SnapshotNewConnection", checkSnapshotNew},
	{"SnapshotLiveEntries", checkSnapshotLive},
	{"SnapshotStopsOnError", checkSnapshotStops},
	{"SnapshotConsistentWithVersion", checkSnapshotConsistent},
	{"ApplyAddUpdateRemove", checkApplyOps},
	{"ApplyTombstoneAndRevive", checkApplyTombstone},
	{"ApplyBaseVersionConflict", checkApplyConflict},
	{"ApplyIdempotent", checkApplyIdempotent},
	{"ApplyDiscardsHeld", checkApplyDiscardsHeld},
	{"ApplyConcurrentSameBase", checkApplyConcurrent},
	{"ApplyRefresh", checkApplyRefresh},
	{"RecordsOrderAndFilters", checkRecordsOrder},
	{"RecordsRoundTrip", checkRecordsRoundTrip},
	{"Changes", checkChanges},
	{"ChangesBeforeAfter", checkChangesBeforeAfter},
	{"EraseRedacts", checkErase},
	{"EraseFindsPastVersions", checkErasePast},
	{"DeleteTenant", checkDeleteTenant},
	{"Prune", checkPrune},
	{"SearchRecordsFilters", checkSearchFilters},
	{"SearchRecordsPaging", checkSearchPaging},
	{"SearchRecordsTenantIsolation", checkSearchIsolation},
	{"SearchRecordsAfterErase", checkSearchAfterErase},
	{"HoldRoundTrip", checkHoldRoundTrip},
	{"HoldReplaces", checkHoldReplaces},
	{"DiscardHeld", checkDiscardHeld},
	{"Lease", checkLease},
	{"LeaseExpiry", checkLeaseExpiry},
	{"LeaseRenewExtends", checkLeaseRenew},
	{"LeaseConcurrentAcquire", checkLeaseConcurrent},
	{"TenantIsolation", checkTenantIsolation},
	{"OddData", checkOddData},
	{"DecideHeldReject", checkDecideReject},
	{"DecideHeldApply", checkDecideApply},
	{"DecideHeldStale", checkDecideStale},
	{"DecideHeldOnce", checkDecideOnce},
	{"DecideHeldConcurrent", checkDecideConcurrent},
	{"DecidedChangeSetsOrder", checkDecidedOrder},
	{"OutboxEnqueue", checkOutboxEnqueue},
	{"OutboxClaimLease", checkOutboxClaimLease},
	{"OutboxSettle", checkOutboxSettle},
	{"OutboxConcurrentClaims", checkOutboxConcurrentClaims},
	{"OutboxPruneAndDelete", checkOutboxErase},
	{"OutboxNotificationLog", checkNotificationLog},
	{"LinkStore", checkLinkStore},
	{"LinkStoreErase", checkLinkStoreErase},
	{"LinkStorePrune", checkLinkStorePrune},
	{"RunStatusReader", checkRunStatus},
}

// rule names a rule and the file that states it; failures start with it.
type rule struct{ name, where string }

func (r rule) errorf(format string, args ...any) error {
	return fmt.Errorf("%s (%s): %w", r.name, r.where, fmt.Errorf(format, args...))
}

var (
	ruleCreateRun   = rule{"Store.CreateRun contract", "package storage"}
	ruleUpdateRun   = rule{"Store.UpdateRun contract", "package storage"}
	ruleGetRun      = rule{"Store.GetRun contract", "package storage"}
	ruleListRuns    = rule{"Store.ListRuns contract", "package storage"}
	ruleLive        = rule{"Store.LiveRuns contract", "package storage"}
	ruleSnapshot    = rule{"Store.Snapshot contract", "package storage"}
	ruleApply       = rule{"Store.Apply contract", "package storage"}
	ruleIdempotent  = rule{"Store.Apply contract", "package storage; package resync, Guarantees: nothing lost, idempotent per change-set ID"}
	ruleAtomic      = rule{"Store.Apply contract", "package storage; package resync, Guarantees: nothing lost, atomic apply"}
	ruleTombstone   = rule{"Store.Apply contract", "package storage; package resync, Guarantees: nothing lost, tombstones, never hard deletes"}
	ruleRecords     = rule{"Store.Records contract", "package storage"}
	ruleChanges     = rule{"Store.Changes contract", "package storage; package resync, Guarantees: nothing lost, change log"}
	ruleHold        = rule{"Store.Hold contract", "package storage"}
	ruleHeldList    = rule{"Store.HeldChangeSets contract", "package storage"}
	ruleGetHeld     = rule{"Store.GetHeld contract", "package storage"}
	ruleDiscard     = rule{"Store.DiscardHeld contract", "package storage"}
	ruleAcquire     = rule{"Store.AcquireLease contract", "package storage"}
	ruleRelease     = rule{"Store.ReleaseLease contract", "package storage"}
	ruleIsolation   = rule{"Store contract: tenant isolation", "package storage"}
	ruleConcurrency = rule{"Store contract: safe for concurrent use", "package storage"}
	ruleRoundTrip   = rule{"Store contract: values round-trip exactly", "package storage"}
)

// storeEnv is what a check gets: the store, a context and a prefix that
// makes the check's tenants and lease names its own.
type storeEnv struct {
	ctx    context.Context
	s      resync.Store
	prefix string
}

var envSeq atomic.Int64

func runStoreCheck(ctx context.Context, s resync.Store, fn func(*storeEnv) error) error {
	e := &storeEnv{ctx: ctx, s: s,
		prefix: fmt.Sprintf("rt%x-%d-", time.Now().UnixNano(), envSeq.Add(1))}
	return fn(e)
}

func (e *storeEnv) tenant(name string) string { return e.prefix + name }

// baseTime is the suite's fixed instant: UTC, whole microseconds (what
// SQL databases keep).
var baseTime = time.Date(2026, 3, 14, 9, 26, 53, 589793000, time.UTC)

// ---- builders ----

func testIdentity(key string, v int) *resync.Identity {
	return &resync.Identity{
		Key: key, Email: key + "@example.com", Name: "Person " + key, Status: resync.StatusActive,
		Manager: "boss", Department: "dept" + strconv.Itoa(v), Title: "Engineer",
		StartDate: baseTime.AddDate(-1, 0, 0), Groups: []string{"eng", "all"},
		Attributes: map[string]string{"version": strconv.Itoa(v), "location": "Lisbon"},
	}
}

func testAccount(key string, v int) *resync.Account {
	return &resync.Account{
		Key: key, Username: key, OwnerEmail: key + "@example.com", DisplayName: "Account " + key,
		Status: resync.StatusActive, Roles: []string{"admin", "role" + strconv.Itoa(v)},
		MFA: resync.MFAEnabled, LastLogin: baseTime.Add(-time.Hour),
		Attributes: map[string]string{"version": strconv.Itoa(v)},
	}
}

func testGroup(key string, v int) *resync.Group {
	return &resync.Group{Key: key, Name: "Group " + key + " v" + strconv.Itoa(v), Members: []string{"a", "b", strconv.Itoa(v)}}
}

func opAdd(r resync.Record) resync.Change {
	return resync.Change{Op: resync.OpAdd, Kind: storage.KindOfRecord(r), Key: storage.KeyOf(r), Record: r,
		Fingerprint: resync.Fingerprint(r), Volatile: volatileDigest(r)}
}

func opRefresh(r resync.Record, prev uint64) resync.Change {
	c := opAdd(r)
	c.Op, c.PrevFingerprint = resync.OpRefresh, prev
	return c
}

func opUpdate(r resync.Record, prev uint64) resync.Change {
	c := opAdd(r)
	c.Op, c.PrevFingerprint = resync.OpUpdate, prev
	return c
}

func opRemove(kind resync.RecordKind, key string, prev uint64) resync.Change {
	return resync.Change{Op: resync.OpRemove, Kind: kind, Key: key, PrevFingerprint: prev}
}

func newChangeSet(tenant, conn, id, run string, base int64, changes ...resync.Change) *resync.ChangeSet {
	return &resync.ChangeSet{ID: id, Tenant: tenant, ConnectionID: conn, RunID: run,
		BaseVersion: base, Changes: changes, CreatedAt: baseTime}
}

func testRun(tenant, id, owner string, status resync.RunStatus, trigger resync.Trigger, created time.Time) resync.RunInfo {
	r := resync.RunInfo{
		ID: id, Tenant: tenant, Scope: resync.PersonnelScope(resync.IdP, resync.HRIS), Trigger: trigger,
		Initiator:  resync.Principal{ID: "u1", Email: "ada@example.com", Name: "Ada Admin"},
		Requesters: []resync.Principal{{ID: "u1", Email: "ada@example.com", Name: "Ada Admin"}, {ID: "u2", Email: "bob@example.com"}},
		Status:     status, Owner: owner,
		Connections: []resync.ConnectionResult{
			{ConnectionID: "okta-1", Provider: "okta", Type: resync.IdP, Name: "Okta", Status: resync.ConnSucceeded,
				Read: 10, Total: 10, Added: 2, Updated: 1, Unchanged: 7, Pages: 1, Attempts: 2, Reads: 1,
				StartedAt: created, FinishedAt: created.Add(time.Second)},
			{ConnectionID: "hr-1", Provider: "bamboohr", Type: resync.HRIS, Status: resync.ConnRunning, Read: 3,
				Rejected: 1, RejectedSamples: []string{"empty key"}, StartedAt: created},
			{ConnectionID: "hr-2", Provider: "workday", Type: resync.HRIS, Status: resync.ConnPending},
		},
		CreatedAt: created,
	}
	if status.Final() {
		r.FinishedAt = created.Add(time.Minute)
		for i := range r.Connections {
			r.Connections[i].Status = resync.ConnSucceeded
		}
	}
	return r
}

// ---- comparison ----

func normTime(t time.Time) time.Time { return t.UTC() }

func nilIfEmpty[S ~[]E, E any](s S) S {
	if len(s) == 0 {
		return nil
	}
	return s
}

func normRun(r resync.RunInfo) resync.RunInfo {
	r.CreatedAt, r.FinishedAt = normTime(r.CreatedAt), normTime(r.FinishedAt)
	r.Requesters = nilIfEmpty(r.Requesters)
	r.NotifyErrors = nilIfEmpty(r.NotifyErrors)
	if len(r.Findings) == 0 {
		r.Findings = nil
	}
	r.Scope.Types = nilIfEmpty(r.Scope.Types)
	r.Scope.Providers = nilIfEmpty(r.Scope.Providers)
	r.Scope.ConnectionIDs = nilIfEmpty(r.Scope.ConnectionIDs)
	conns := make([]resync.ConnectionResult, len(r.Connections))
	for i, c := range r.Connections {
		c.StartedAt, c.FinishedAt, c.RetryAt = normTime(c.StartedAt), normTime(c.FinishedAt), normTime(c.RetryAt)
		c.RejectedSamples = nilIfEmpty(c.RejectedSamples)
		conns[i] = c
	}
	r.Connections = nilIfEmpty(conns)
	return r
}

// runDiff returns "" if the runs are equal (times as instants, empty and
// nil lists alike), else a description.
func runDiff(got, want resync.RunInfo) string {
	g, w := normRun(got), normRun(want)
	if reflect.DeepEqual(g, w) {
		return ""
	}
	return fmt.Sprintf("got %+v, want %+v", g, w)
}

func normRecord(r resync.Record) any {
	switch v := r.(type) {
	case *resync.Identity:
		c := *v
		c.StartDate, c.EndDate, c.LastLogin = normTime(c.StartDate), normTime(c.EndDate), normTime(c.LastLogin)
		c.Groups, c.Attributes = nilIfEmpty(c.Groups), nilMapIfEmpty(c.Attributes)
		return c
	case *resync.Account:
		c := *v
		c.LastLogin = normTime(c.LastLogin)
		c.Roles, c.Attributes = nilIfEmpty(c.Roles), nilMapIfEmpty(c.Attributes)
		if len(c.LastUsed) == 0 {
			c.LastUsed = nil
		} else {
			m := make(map[string]time.Time, len(c.LastUsed))
			for k, t := range c.LastUsed {
				m[k] = normTime(t)
			}
			c.LastUsed = m
		}
		return c
	case *resync.Group:
		c := *v
		c.Members = nilIfEmpty(c.Members)
		return c
	}
	return r
}

func nilMapIfEmpty(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return m
}

// recordDiff returns "" if got has the content of want: same kind, key,
// fingerprint, volatile digest and fields.
func recordDiff(got, want resync.Record) string {
	if got == nil || reflect.ValueOf(got).IsNil() {
		return fmt.Sprintf("got no record, want %s %q", storage.KindOfRecord(want), storage.KeyOf(want))
	}
	if storage.KindOfRecord(got) != storage.KindOfRecord(want) || storage.KeyOf(got) != storage.KeyOf(want) {
		return fmt.Sprintf("got %s %q, want %s %q", storage.KindOfRecord(got), storage.KeyOf(got), storage.KindOfRecord(want), storage.KeyOf(want))
	}
	if gf, wf := resync.Fingerprint(got), resync.Fingerprint(want); gf != wf {
		return fmt.Sprintf("%s %q: fingerprint %x, want %x (content %+v, want %+v)", storage.KindOfRecord(want), storage.KeyOf(want), gf, wf, normRecord(got), normRecord(want))
	}
	if gv, wv := volatileDigest(got), volatileDigest(want); gv != wv {
		return fmt.Sprintf("%s %q: volatile digest %x, want %x (content %+v, want %+v)", storage.KindOfRecord(want), storage.KeyOf(want), gv, wv, normRecord(got), normRecord(want))
	}
	if g, w := normRecord(got), normRecord(want); !reflect.DeepEqual(g, w) {
		return fmt.Sprintf("%s %q: content %+v, want %+v", storage.KindOfRecord(want), storage.KeyOf(want), g, w)
	}
	return ""
}

func changeDiff(got, want resync.Change) string {
	if got.Op != want.Op || got.Kind != want.Kind || got.Key != want.Key ||
		got.Fingerprint != want.Fingerprint || got.PrevFingerprint != want.PrevFingerprint || got.Volatile != want.Volatile {
		return fmt.Sprintf("got %s %s %q fp %x prev %x volatile %x, want %s %s %q fp %x prev %x volatile %x",
			got.Op, got.Kind, got.Key, got.Fingerprint, got.PrevFingerprint, got.Volatile,
			want.Op, want.Kind, want.Key, want.Fingerprint, want.PrevFingerprint, want.Volatile)
	}
	if want.Record == nil {
		if got.Record != nil && !reflect.ValueOf(got.Record).IsNil() {
			return fmt.Sprintf("%s of %s %q: got a record, want none", want.Op, want.Kind, want.Key)
		}
		return ""
	}
	return recordDiff(got.Record, want.Record)
}

// changeSetDiff compares a held change set with the one held.
func changeSetDiff(got, want *resync.ChangeSet) string {
	if got == nil {
		return "got nil"
	}
	if got.ID != want.ID || got.Tenant != want.Tenant || got.ConnectionID != want.ConnectionID ||
		got.RunID != want.RunID || got.BaseVersion != want.BaseVersion || got.HoldReason != want.HoldReason ||
		!got.CreatedAt.Equal(want.CreatedAt) {
		g, w := *got, *want
		g.Changes, w.Changes = nil, nil
		return fmt.Sprintf("header %+v, want %+v", g, w)
	}
	if len(got.Changes) != len(want.Changes) {
		return fmt.Sprintf("%d changes, want %d", len(got.Changes), len(want.Changes))
	}
	for i := range want.Changes {
		if d := changeDiff(got.Changes[i], want.Changes[i]); d != "" {
			return fmt.Sprintf("change %d: %s", i, d)
		}
	}
	return ""
}

func summaryDiff(got, want resync.HeldSummary) string {
	g, w := got, want
	g.CreatedAt, w.CreatedAt = normTime(g.CreatedAt), normTime(w.CreatedAt)
	if g != w {
		return fmt.Sprintf("got %+v, want %+v", g, w)
	}
	return ""
}

// ---- store helpers ----

type entryKey struct {
	kind resync.RecordKind
	key  string
}

func (k entryKey) String() string { return string(k.kind) + "/" + k.key }

func (e *storeEnv) snapshot(tenant, conn string) (map[entryKey]uint64, int64, error) {
	m := map[entryKey]uint64{}
	var dup error
	v, err := e.s.Snapshot(e.ctx, tenant, conn, func(kind resync.RecordKind, key string, fingerprint, volatile uint64) error {
		k := entryKey{kind, key}
		if _, ok := m[k]; ok && dup == nil {
			dup = ruleSnapshot.errorf("%s %q of connection %q listed twice", kind, key, conn)
		}
		m[k] = fingerprint
		return nil
	})
	if err != nil {
		return nil, 0, ruleSnapshot.errorf("Snapshot(%q, %q): %v", tenant, conn, err)
	}
	return m, v, dup
}

func (e *storeEnv) records(tenant, conn string, kind resync.RecordKind, removed bool) ([]resync.StoredRecord, error) {
	recs, err := e.s.Records(e.ctx, resync.RecordQuery{Tenant: tenant, ConnectionID: conn, Kind: kind, IncludeRemoved: removed})
	if err != nil {
		return nil, ruleRecords.errorf("Records(%q, %q): %v", tenant, conn, err)
	}
	return recs, nil
}

func (e *storeEnv) changes(q resync.ChangeQuery) ([]resync.ChangeLogEntry, error) {
	out, err := e.s.Changes(e.ctx, q)
	if err != nil {
		return nil, ruleChanges.errorf("Changes(%+v): %v", q, err)
	}
	return out, nil
}

func (e *storeEnv) apply(cs *resync.ChangeSet) error {
	if err := e.s.Apply(e.ctx, cs); err != nil {
		return ruleApply.errorf("applying valid change set %q at base version %d: %v", cs.ID, cs.BaseVersion, err)
	}
	return nil
}

// connState is everything observable about one connection.
type connState struct {
	version int64
	live    map[entryKey]uint64
	records []resync.StoredRecord
	log     []resync.ChangeLogEntry
	held    []resync.HeldSummary
}

func (e *storeEnv) state(tenant, conn string) (connState, error) {
	var st connState
	var err error
	if st.live, st.version, err = e.snapshot(tenant, conn); err != nil {
		return st, err
	}
	if st.records, err = e.records(tenant, conn, "", true); err != nil {
		return st, err
	}
	if st.log, err = e.changes(resync.ChangeQuery{Tenant: tenant, ConnectionID: conn}); err != nil {
		return st, err
	}
	held, err := e.s.HeldChangeSets(e.ctx, tenant)
	if err != nil {
		return st, ruleHeldList.errorf("HeldChangeSets(%q): %v", tenant, err)
	}
	for _, h := range held {
		if h.ConnectionID == conn {
			st.held = append(st.held, h)
		}
	}
	return st, nil
}

// stateDiff names what differs between two states of a connection.
func stateDiff(before, after connState) string {
	switch {
	case before.version != after.version:
		return fmt.Sprintf("the version (%d, then %d)", before.version, after.version)
	case !reflect.DeepEqual(before.live, after.live):
		return fmt.Sprintf("the snapshot (%d live entries, then %d)", len(before.live), len(after.live))
	case len(before.log) != len(after.log):
		return fmt.Sprintf("the change log (%d entries, then %d)", len(before.log), len(after.log))
	case len(before.records) != len(after.records):
		return fmt.Sprintf("the records (%d, then %d)", len(before.records), len(after.records))
	case len(before.held) != len(after.held):
		return fmt.Sprintf("the held change sets (%d, then %d)", len(before.held), len(after.held))
	}
	for i := range before.records {
		b, a := before.records[i], after.records[i]
		if b.Kind != a.Kind || b.Key != a.Key || b.Fingerprint != a.Fingerprint || b.Volatile != a.Volatile || b.UpdatedBy != a.UpdatedBy ||
			!b.UpdatedAt.Equal(a.UpdatedAt) || !b.RemovedAt.Equal(a.RemovedAt) || b.RemovedBy != a.RemovedBy {
			return fmt.Sprintf("the records (%s %q)", b.Kind, b.Key)
		}
	}
	return ""
}

func findRecord(recs []resync.StoredRecord, kind resync.RecordKind, key string) (resync.StoredRecord, bool) {
	for _, r := range recs {
		if r.Kind == kind && r.Key == key {
			return r, true
		}
	}
	return resync.StoredRecord{}, false
}

// ---- runs ----

func checkCreateRun(e *storeEnv) error {
	ctx, s := e.ctx, e.s
	a, b := e.tenant("a"), e.tenant("b")
	run := testRun(a, "run-1", "inst-1", resync.RunRunning, resync.TriggerAdhoc, baseTime)
	if err := s.CreateRun(ctx, run); err != nil {
		return ruleCreateRun.errorf("CreateRun of a new run: %v", err)
	}
	got, err := s.GetRun(ctx, a, "run-1")
	if err != nil {
		return ruleGetRun.errorf("GetRun of a created run: %v", err)
	}
	if d := runDiff(got, run); d != "" {
		return ruleCreateRun.errorf("the stored run does not round-trip: %s", d)
	}
	dup := run
	dup.Status, dup.Owner = resync.RunFailed, "inst-2"
	err = s.CreateRun(ctx, dup)
	if !errors.Is(err, resync.ErrConflict) {
		return ruleCreateRun.errorf("CreateRun of an existing run ID returned %v, want an error wrapping ErrConflict", err)
	}
	if got, err := s.GetRun(ctx, a, "run-1"); err != nil || runDiff(got, run) != "" {
		return ruleCreateRun.errorf("a refused duplicate CreateRun changed the stored run (now %+v, %v)", got, err)
	}
	other := testRun(b, "run-1", "inst-9", resync.RunPending, resync.TriggerScheduled, baseTime.Add(time.Hour))
	if err := s.CreateRun(ctx, other); err != nil {
		return ruleIsolation.errorf("CreateRun of run %q in tenant %q failed because tenant %q has one: %v", "run-1", b, a, err)
	}
	if got, err := s.GetRun(ctx, a, "run-1"); err != nil || runDiff(got, run) != "" {
		return ruleIsolation.errorf("creating run %q in tenant %q changed tenant %q's run (now %+v, %v)", "run-1", b, a, got, err)
	}
	if got, err := s.GetRun(ctx, b, "run-1"); err != nil || runDiff(got, other) != "" {
		return ruleIsolation.errorf("GetRun(%q) returned %+v, %v; want the tenant's own run", b, got, err)
	}
	return nil
}

func checkUpdateRun(e *storeEnv) error {
	ctx, s := e.ctx, e.s
	a, b := e.tenant("a"), e.tenant("b")
	run := testRun(a, "run-1", "inst-1", resync.RunRunning, resync.TriggerAdhoc, baseTime)
	if err := s.CreateRun(ctx, run); err != nil {
		return ruleCreateRun.errorf("CreateRun: %v", err)
	}
	upd := testRun(a, "run-1", "inst-1", resync.RunPartial, resync.TriggerAdhoc, baseTime)
	upd.Connections[1].Status, upd.Connections[1].Error = resync.ConnFailed, "boom: 503"
	upd.Connections[2].Status, upd.Connections[2].Error = resync.ConnThrottled, "page 2: 429 Too Many Requests"
	upd.Connections[2].RetryAt = baseTime.Add(time.Hour)
	upd.NotifyErrors = []string{"email: smtp down"}
	upd.Findings = map[string]int{"offboarding_gap": 2, "orphaned": 1}
	if err := s.UpdateRun(ctx, upd); err != nil {
		return ruleUpdateRun.errorf("UpdateRun of a stored run: %v", err)
	}
	passed := upd.Findings
	upd.Findings = map[string]int{"offboarding_gap": 2, "orphaned": 1}
	passed["offboarding_gap"] = 99 // the caller's map is not the stored one
	got, err := s.GetRun(ctx, a, "run-1")
	if err != nil {
		return ruleGetRun.errorf("GetRun after UpdateRun: %v", err)
	}
	if d := runDiff(got, upd); d != "" {
		return ruleUpdateRun.errorf("UpdateRun did not replace the run (Findings included): %s", d)
	}
	got.Findings["orphaned"] = 99
	if again, err := s.GetRun(ctx, a, "run-1"); err != nil || runDiff(again, upd) != "" {
		return ruleRoundTrip.errorf("changing the Findings GetRun returned changed the stored run (now %+v, %v)", again, err)
	}
	if list, err := s.ListRuns(ctx, resync.RunQuery{Tenant: a, Limit: 10}); err != nil || len(list) != 1 || runDiff(list[0], upd) != "" {
		return ruleListRuns.errorf("ListRuns after UpdateRun returned %+v, %v; want the updated run with its Findings", list, err)
	}
	missing := testRun(a, "run-404", "inst-1", resync.RunRunning, resync.TriggerAdhoc, baseTime)
	if err := s.UpdateRun(ctx, missing); !errors.Is(err, resync.ErrNotFound) {
		return ruleUpdateRun.errorf("UpdateRun of an absent run returned %v, want an error wrapping ErrNotFound", err)
	}
	if _, err := s.GetRun(ctx, a, "run-404"); !errors.Is(err, resync.ErrNotFound) {
		return ruleUpdateRun.errorf("a failed UpdateRun created run %q (GetRun returned %v)", "run-404", err)
	}
	cross := upd
	cross.Tenant, cross.Status = b, resync.RunCanceled
	if err := s.UpdateRun(ctx, cross); !errors.Is(err, resync.ErrNotFound) {
		return ruleIsolation.errorf("UpdateRun of run %q in tenant %q (which has none; tenant %q has one) returned %v, want ErrNotFound", "run-1", b, a, err)
	}
	if got, err := s.GetRun(ctx, a, "run-1"); err != nil || runDiff(got, upd) != "" {
		return ruleIsolation.errorf("UpdateRun in tenant %q changed tenant %q's run (now %+v, %v)", b, a, got, err)
	}
	return nil
}

func checkGetRunNotFound(e *storeEnv) error {
	ctx, s := e.ctx, e.s
	a, b := e.tenant("a"), e.tenant("b")
	if _, err := s.GetRun(ctx, a, "nope"); !errors.Is(err, resync.ErrNotFound) {
		return ruleGetRun.errorf("GetRun of an absent run returned %v, want an error wrapping ErrNotFound", err)
	}
	if err := s.CreateRun(ctx, testRun(a, "run-1", "i", resync.RunPending, resync.TriggerAdhoc, baseTime)); err != nil {
		return ruleCreateRun.errorf("CreateRun: %v", err)
	}
	if got, err := s.GetRun(ctx, b, "run-1"); !errors.Is(err, resync.ErrNotFound) {
		return ruleIsolation.errorf("GetRun(%q, %q) of another tenant's run returned %+v, %v; want ErrNotFound", b, "run-1", got.ID, err)
	}
	return nil
}

func checkListRuns(e *storeEnv) error {
	ctx, s := e.ctx, e.s
	a, b := e.tenant("a"), e.tenant("b")
	type spec struct {
		id      string
		status  resync.RunStatus
		trigger resync.Trigger
		age     int // minutes before baseTime
	}
	specs := []spec{
		{"r3", resync.RunSucceeded, resync.TriggerScheduled, 30},
		{"r1", resync.RunRunning, resync.TriggerAdhoc, 50},
		{"r5", resync.RunSucceeded, resync.TriggerAdhoc, 10},
		{"r2", resync.RunFailed, resync.TriggerScheduled, 40},
		{"r4", resync.RunSucceeded, resync.TriggerAdhoc, 20},
	}
	for _, sp := range specs {
		if err := s.CreateRun(ctx, testRun(a, sp.id, "i", sp.status, sp.trigger, baseTime.Add(-time.Duration(sp.age)*time.Minute))); err != nil {
			return ruleCreateRun.errorf("CreateRun: %v", err)
		}
		// The other tenant has the same IDs, newer and of every status.
		if err := s.CreateRun(ctx, testRun(b, sp.id, "i", resync.RunSucceeded, sp.trigger, baseTime.Add(time.Duration(sp.age)*time.Minute))); err != nil {
			return ruleCreateRun.errorf("CreateRun: %v", err)
		}
	}
	ids := func(runs []resync.RunInfo) []string {
		out := make([]string, len(runs))
		for i, r := range runs {
			out[i] = r.ID
		}
		return out
	}
	cases := []struct {
		q    resync.RunQuery
		want []string
	}{
		{resync.RunQuery{Tenant: a, Limit: 100}, []string{"r5", "r4", "r3", "r2", "r1"}},
		{resync.RunQuery{Tenant: a, Trigger: resync.TriggerAdhoc, Limit: 100}, []string{"r5", "r4", "r1"}},
		{resync.RunQuery{Tenant: a, Status: resync.RunSucceeded, Limit: 100}, []string{"r5", "r4", "r3"}},
		{resync.RunQuery{Tenant: a, Status: resync.RunSucceeded, Trigger: resync.TriggerScheduled, Limit: 100}, []string{"r3"}},
		{resync.RunQuery{Tenant: a, Status: resync.RunCanceled, Limit: 100}, []string{}},
		{resync.RunQuery{Tenant: a, Limit: 2}, []string{"r5", "r4"}},
		{resync.RunQuery{Tenant: a, Trigger: resync.TriggerAdhoc, Limit: 2}, []string{"r5", "r4"}},
	}
	for _, c := range cases {
		got, err := s.ListRuns(ctx, c.q)
		if err != nil {
			return ruleListRuns.errorf("ListRuns(%+v): %v", c.q, err)
		}
		for _, r := range got {
			if r.Tenant != a {
				return ruleIsolation.errorf("ListRuns for tenant %q returned run %q of tenant %q", a, r.ID, r.Tenant)
			}
		}
		if g := ids(got); !slices.Equal(g, c.want) {
			return ruleListRuns.errorf("ListRuns(%+v) returned %v, want %v (matching runs, newest CreatedAt first)", c.q, g, c.want)
		}
	}
	got, err := s.ListRuns(ctx, resync.RunQuery{Tenant: a, Limit: 1})
	if err != nil || len(got) != 1 {
		return ruleListRuns.errorf("ListRuns with Limit 1 returned %d runs, %v", len(got), err)
	}
	want := testRun(a, "r5", "i", resync.RunSucceeded, resync.TriggerAdhoc, baseTime.Add(-10*time.Minute))
	if d := runDiff(got[0], want); d != "" {
		return ruleListRuns.errorf("ListRuns returned a run unlike the stored one: %s", d)
	}
	return nil
}

func checkLiveRuns(e *storeEnv) error {
	ctx, s := e.ctx, e.s
	a, b := e.tenant("a"), e.tenant("b")
	runs := []resync.RunInfo{
		testRun(a, "running", "o1", resync.RunRunning, resync.TriggerAdhoc, baseTime),
		testRun(b, "pending", "o2", resync.RunPending, resync.TriggerScheduled, baseTime),
		testRun(a, "succeeded", "o1", resync.RunSucceeded, resync.TriggerAdhoc, baseTime),
		testRun(b, "canceled", "o2", resync.RunCanceled, resync.TriggerAdhoc, baseTime),
		testRun(a, "interrupted", "o1", resync.RunInterrupted, resync.TriggerAdhoc, baseTime),
		testRun(b, "ends", "o2", resync.RunRunning, resync.TriggerAdhoc, baseTime),
		testRun(a, "starts", "o1", resync.RunSucceeded, resync.TriggerAdhoc, baseTime),
	}
	byID := map[string]resync.RunInfo{}
	for _, r := range runs {
		if err := s.CreateRun(ctx, r); err != nil {
			return ruleCreateRun.errorf("CreateRun: %v", err)
		}
		byID[r.ID] = r
	}
	// A run's status changes through UpdateRun: LiveRuns follows it.
	ends := byID["ends"]
	ends.Status, ends.FinishedAt = resync.RunFailed, baseTime.Add(time.Minute)
	starts := byID["starts"]
	starts.Status = resync.RunRunning
	for _, r := range []resync.RunInfo{ends, starts} {
		if err := s.UpdateRun(ctx, r); err != nil {
			return ruleUpdateRun.errorf("UpdateRun: %v", err)
		}
		byID[r.ID] = r
	}
	got, err := s.LiveRuns(ctx)
	if err != nil {
		return ruleLive.errorf("LiveRuns: %v", err)
	}
	var mine []resync.RunInfo
	for _, r := range got {
		if r.Tenant == a || r.Tenant == b {
			mine = append(mine, r)
		}
	}
	slices.SortFunc(mine, func(x, y resync.RunInfo) int { return cmp.Compare(x.ID, y.ID) })
	var ids []string
	for _, r := range mine {
		ids = append(ids, r.ID)
	}
	if want := []string{"pending", "running", "starts"}; !slices.Equal(ids, want) {
		return ruleLive.errorf("LiveRuns returned %v, want %v (every pending or running run of every tenant, as last stored)", ids, want)
	}
	for _, r := range mine {
		if d := runDiff(r, byID[r.ID]); d != "" {
			return ruleLive.errorf("LiveRuns returned run %q unlike the stored one: %s", r.ID, d)
		}
	}
	return nil
}

// expiryWait bounds the real-time waits for a 100 ms lease to expire.
const (
	expiryTTL  = 100 * time.Millisecond
	expiryWait = 5 * time.Second
)

// eventually polls cond until it reports true, fails, or expiryWait passes.
func eventually(ctx context.Context, cond func() (bool, error)) (bool, error) {
	deadline := time.Now().Add(expiryWait)
	for {
		ok, err := cond()
		if ok || err != nil {
			return ok, err
		}
		if time.Now().After(deadline) {
			return false, nil
		}
		t := time.NewTimer(20 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return false, ctx.Err()
		case <-t.C:
		}
	}
}

// ---- snapshots and apply ----

func checkSnapshotNew(e *storeEnv) error {
	m, v, err := e.snapshot(e.tenant("a"), "never-applied")
	if err != nil {
		return err
	}
	if v != 0 || len(m) != 0 {
		return ruleSnapshot.errorf("a connection never applied has version %d and %d entries, want 0 and none", v, len(m))
	}
	recs, err := e.records(e.tenant("a"), "never-applied", "", true)
	if err != nil {
		return err
	}
	if len(recs) != 0 {
		return ruleRecords.errorf("a connection never applied has %d records, want none", len(recs))
	}
	log, err := e.changes(resync.ChangeQuery{Tenant: e.tenant("a")})
	if err != nil {
		return err
	}
	if len(log) != 0 {
		return ruleChanges.errorf("a tenant never applied has %d change-log entries, want none", len(log))
	}
	return nil
}

func checkSnapshotLive(e *storeEnv) error {
	a := e.tenant("a")
	i1, i2, g1 := testIdentity("alice", 1), testIdentity("bob", 1), testGroup("eng", 1)
	if err := e.apply(newChangeSet(a, "c1", "cs1", "run1", 0, opAdd(i1), opAdd(i2), opAdd(g1))); err != nil {
		return err
	}
	i1b := testIdentity("alice", 2)
	if err := e.apply(newChangeSet(a, "c1", "cs2", "run2", 1,
		opUpdate(i1b, resync.Fingerprint(i1)), opRemove(resync.KindIdentity, "bob", resync.Fingerprint(i2)))); err != nil {
		return err
	}
	m, v, err := e.snapshot(a, "c1")
	if err != nil {
		return err
	}
	want := map[entryKey]uint64{
		{resync.KindIdentity, "alice"}: resync.Fingerprint(i1b),
		{resync.KindGroup, "eng"}:      resync.Fingerprint(g1),
	}
	if v != 2 {
		return ruleSnapshot.errorf("version after two applies is %d, want 2", v)
	}
	if !reflect.DeepEqual(m, want) {
		return ruleSnapshot.errorf("Snapshot entries are %v, want the live records %v (tombstones excluded)", m, want)
	}
	return nil
}

func checkSnapshotStops(e *storeEnv) error {
	a := e.tenant("a")
	if err := e.apply(newChangeSet(a, "c1", "cs1", "run1", 0,
		opAdd(testIdentity("a", 1)), opAdd(testIdentity("b", 1)), opAdd(testIdentity("c", 1)))); err != nil {
		return err
	}
	stop := errors.New("stop here")
	calls := 0
	_, err := e.s.Snapshot(e.ctx, a, "c1", func(resync.RecordKind, string, uint64, uint64) error {
		calls++
		return stop
	})
	if !errors.Is(err, stop) {
		return ruleSnapshot.errorf("Snapshot returned %v when fn failed, want fn's error", err)
	}
	if calls != 1 {
		return ruleSnapshot.errorf("Snapshot called fn %d times after it returned an error, want it to stop at once", calls)
	}
	return nil
}

// checkSnapshotConsistent snapshots a connection while change sets are
// applied to it: version v must come with exactly the entries of the first
// v change sets (change set k adds key "k<k>").
func checkSnapshotConsistent(e *storeEnv) error {
	a := e.tenant("a")
	const applies = 40
	done := make(chan error, 1)
	go func() {
		for k := 1; k <= applies; k++ {
			cs := newChangeSet(a, "c1", "cs"+strconv.Itoa(k), "run", int64(k-1), opAdd(testGroup("k"+strconv.Itoa(k), k)))
			if err := e.apply(cs); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	var applyErr error
	for finished := false; !finished; {
		select {
		case applyErr = <-done:
			finished = true // one last snapshot below
		default:
		}
		m, v, err := e.snapshot(a, "c1")
		if err != nil {
			if !finished {
				applyErr = <-done
			}
			return errors.Join(err, applyErr)
		}
		ok := int64(len(m)) == v
		for k := 1; ok && k <= int(v); k++ {
			_, ok = m[entryKey{resync.KindGroup, "k" + strconv.Itoa(k)}]
		}
		if !ok {
			if !finished {
				<-done
			}
			return ruleSnapshot.errorf("Snapshot during applies returned version %d with %d entries, want the %d entries of that version: entries and version must be read in one transaction", v, len(m), v)
		}
	}
	return applyErr
}

func checkApplyOps(e *storeEnv) error {
	a := e.tenant("a")
	i1, acc, g := testIdentity("alice", 1), testAccount("alice-gh", 1), testGroup("eng", 1)
	steps := []struct {
		cs   *resync.ChangeSet
		want map[entryKey]resync.Record // live records after the step
	}{
		{newChangeSet(a, "c1", "cs1", "run1", 0, opAdd(i1), opAdd(acc), opAdd(g)),
			map[entryKey]resync.Record{{resync.KindIdentity, "alice"}: i1, {resync.KindAccount, "alice-gh"}: acc, {resync.KindGroup, "eng"}: g}},
		{newChangeSet(a, "c1", "cs2", "run2", 1, opUpdate(testIdentity("alice", 2), resync.Fingerprint(i1))),
			map[entryKey]resync.Record{{resync.KindIdentity, "alice"}: testIdentity("alice", 2), {resync.KindAccount, "alice-gh"}: acc, {resync.KindGroup, "eng"}: g}},
		{newChangeSet(a, "c1", "cs3", "run3", 2, opRemove(resync.KindAccount, "alice-gh", resync.Fingerprint(acc)), opUpdate(testGroup("eng", 2), resync.Fingerprint(g))),
			map[entryKey]resync.Record{{resync.KindIdentity, "alice"}: testIdentity("alice", 2), {resync.KindGroup, "eng"}: testGroup("eng", 2)}},
	}
	updatedBy := map[entryKey]string{}
	for n, st := range steps {
		if err := e.apply(st.cs); err != nil {
			return err
		}
		for _, c := range st.cs.Changes {
			if c.Op != resync.OpRemove {
				updatedBy[entryKey{c.Kind, c.Key}] = st.cs.RunID
			}
		}
		m, v, err := e.snapshot(a, "c1")
		if err != nil {
			return err
		}
		if v != int64(n+1) {
			return ruleApply.errorf("version after applying %q at base version %d is %d, want BaseVersion+1 = %d", st.cs.ID, st.cs.BaseVersion, v, n+1)
		}
		recs, err := e.records(a, "c1", "", false)
		if err != nil {
			return err
		}
		if len(recs) != len(st.want) || len(m) != len(st.want) {
			return ruleApply.errorf("after change set %q: %d live records and %d snapshot entries, want %d", st.cs.ID, len(recs), len(m), len(st.want))
		}
		for k, want := range st.want {
			r, ok := findRecord(recs, k.kind, k.key)
			if !ok {
				return ruleApply.errorf("after change set %q: %s %q is missing", st.cs.ID, k.kind, k.key)
			}
			if d := recordDiff(r.Record, want); d != "" {
				return ruleApply.errorf("after change set %q: stored record differs: %s", st.cs.ID, d)
			}
			if r.Fingerprint != resync.Fingerprint(want) || m[k] != r.Fingerprint {
				return ruleApply.errorf("after change set %q: %s %q has fingerprint %x (snapshot %x), want %x", st.cs.ID, k.kind, k.key, r.Fingerprint, m[k], resync.Fingerprint(want))
			}
			if r.UpdatedBy != updatedBy[k] || r.UpdatedAt.IsZero() {
				return ruleApply.errorf("after change set %q: %s %q has UpdatedBy %q, UpdatedAt %v; want the run of its last add or update (%q) and a time",
					st.cs.ID, k.kind, k.key, r.UpdatedBy, r.UpdatedAt, updatedBy[k])
			}
		}
	}
	return nil
}

func checkApplyTombstone(e *storeEnv) error {
	a := e.tenant("a")
	i1, i2 := testIdentity("alice", 1), testIdentity("bob", 1)
	if err := e.apply(newChangeSet(a, "c1", "cs1", "run1", 0, opAdd(i1), opAdd(i2))); err != nil {
		return err
	}
	if err := e.apply(newChangeSet(a, "c1", "cs2", "run2", 1, opRemove(resync.KindIdentity, "bob", resync.Fingerprint(i2)))); err != nil {
		return err
	}
	all, err := e.records(a, "c1", "", true)
	if err != nil {
		return err
	}
	tomb, ok := findRecord(all, resync.KindIdentity, "bob")
	if !ok {
		return ruleTombstone.errorf("a removed record is gone from Records with IncludeRemoved: it must stay as a tombstone")
	}
	if !!tomb.RemovedAt.IsZero() || tomb.RemovedBy != "run2" {
		return ruleTombstone.errorf("the tombstone of %q has RemovedAt %v, RemovedBy %q; want a time and the removing run %q", "bob", tomb.RemovedAt, tomb.RemovedBy, "run2")
	}
	live, err := e.records(a, "c1", "", false)
	if err != nil {
		return err
	}
	if _, ok := findRecord(live, resync.KindIdentity, "bob"); ok || len(live) != 1 {
		return ruleRecords.errorf("Records without IncludeRemoved returned %d records including the tombstone of %q", len(live), "bob")
	}
	if alice, ok := findRecord(all, resync.KindIdentity, "alice"); !ok || !alice.RemovedAt.IsZero() {
		return ruleTombstone.errorf("removing %q tombstoned or lost %q", "bob", "alice")
	}
	// Revive: an add of a tombstoned key.
	i2b := testIdentity("bob", 2)
	if err := e.apply(newChangeSet(a, "c1", "cs3", "run3", 2, opAdd(i2b))); err != nil {
		return err
	}
	all, err = e.records(a, "c1", "", true)
	if err != nil {
		return err
	}
	bob, ok := findRecord(all, resync.KindIdentity, "bob")
	if !ok || !bob.RemovedAt.IsZero() {
		return ruleApply.errorf("an add of tombstoned %q did not revive it (found %v, removed %v)", "bob", ok, !bob.RemovedAt.IsZero())
	}
	if len(all) != 2 {
		return ruleApply.errorf("reviving %q left %d records, want 2 (one per kind and key)", "bob", len(all))
	}
	if d := recordDiff(bob.Record, i2b); d != "" || bob.UpdatedBy != "run3" {
		return ruleApply.errorf("revived %q: %s, UpdatedBy %q (want %q)", "bob", d, bob.UpdatedBy, "run3")
	}
	m, _, err := e.snapshot(a, "c1")
	if err != nil {
		return err
	}
	if m[entryKey{resync.KindIdentity, "bob"}] != resync.Fingerprint(i2b) {
		return ruleSnapshot.errorf("revived %q is not in the snapshot with its new fingerprint", "bob")
	}
	return nil
}

func checkApplyConflict(e *storeEnv) error {
	a := e.tenant("a")
	i1 := testIdentity("alice", 1)
	if err := e.apply(newChangeSet(a, "c1", "cs1", "run1", 0, opAdd(i1))); err != nil {
		return err
	}
	before, err := e.state(a, "c1")
	if err != nil {
		return err
	}
	for _, base := range []int64{0, 2, 7} {
		cs := newChangeSet(a, "c1", fmt.Sprintf("stale-%d", base), "run2", base,
			opUpdate(testIdentity("alice", 9), resync.Fingerprint(i1)), opAdd(testIdentity("zed", 1)))
		err := e.s.Apply(e.ctx, cs)
		if !errors.Is(err, resync.ErrConflict) {
			return ruleApply.errorf("Apply at base version %d of a connection at version 1 returned %v, want an error wrapping ErrConflict", base, err)
		}
		after, err := e.state(a, "c1")
		if err != nil {
			return err
		}
		if d := stateDiff(before, after); d != "" {
			return ruleAtomic.errorf("a change set refused with ErrConflict (base version %d) changed %s", base, d)
		}
	}
	// The refused IDs were not recorded as applied.
	if err := e.apply(newChangeSet(a, "c1", "stale-0", "run3", 1, opAdd(testIdentity("zed", 1)))); err != nil {
		return err
	}
	if _, v, err := e.snapshot(a, "c1"); err != nil || v != 2 {
		return ruleApply.errorf("change set %q, refused earlier with ErrConflict, was not applied at the right base version (version %d, %v)", "stale-0", v, err)
	}
	return nil
}

func checkApplyIdempotent(e *storeEnv) error {
	a := e.tenant("a")
	i1 := testIdentity("alice", 1)
	cs1 := newChangeSet(a, "c1", "cs1", "run1", 0, opAdd(i1), opAdd(testGroup("eng", 1)))
	if err := e.apply(cs1); err != nil {
		return err
	}
	before, err := e.state(a, "c1")
	if err != nil {
		return err
	}
	if err := e.s.Apply(e.ctx, cs1); err != nil {
		return ruleIdempotent.errorf("re-applying change set %q returned %v, want nil", cs1.ID, err)
	}
	after, err := e.state(a, "c1")
	if err != nil {
		return err
	}
	if d := stateDiff(before, after); d != "" {
		return ruleIdempotent.errorf("re-applying change set %q changed %s", cs1.ID, d)
	}
	if err := e.apply(newChangeSet(a, "c1", "cs2", "run2", 1, opUpdate(testIdentity("alice", 2), resync.Fingerprint(i1)))); err != nil {
		return err
	}
	before, err = e.state(a, "c1")
	if err != nil {
		return err
	}
	// A stale base version and different content: still a no-op, by ID.
	again := newChangeSet(a, "c1", "cs1", "run1", 0, opRemove(resync.KindIdentity, "alice", 0))
	if err := e.s.Apply(e.ctx, again); err != nil {
		return ruleIdempotent.errorf("re-applying change set %q after a later one returned %v, want nil (no ErrConflict for an applied ID)", cs1.ID, err)
	}
	after, err = e.state(a, "c1")
	if err != nil {
		return err
	}
	if d := stateDiff(before, after); d != "" {
		return ruleIdempotent.errorf("re-applying change set %q after a later one changed %s", cs1.ID, d)
	}
	return nil
}

func checkApplyDiscardsHeld(e *storeEnv) error {
	ctx, s := e.ctx, e.s
	a := e.tenant("a")
	h1 := newChangeSet(a, "c1", "held-1", "run1", 0, opAdd(testIdentity("x", 1)))
	h1.HoldReason = "test"
	h2 := newChangeSet(a, "c2", "held-2", "run1", 0, opAdd(testIdentity("x", 1)))
	h2.HoldReason = "test"
	for _, h := range []*resync.ChangeSet{h1, h2} {
		if err := s.Hold(ctx, h); err != nil {
			return ruleHold.errorf("Hold(%q): %v", h.ID, err)
		}
	}
	if err := e.apply(newChangeSet(a, "c1", "cs1", "run2", 0, opAdd(testIdentity("y", 1)))); err != nil {
		return err
	}
	if _, err := s.GetHeld(ctx, a, "held-1"); !errors.Is(err, resync.ErrNotFound) {
		return ruleApply.errorf("after an apply to connection %q its held change set %q is still there (GetHeld returned %v); Apply must discard it", "c1", "held-1", err)
	}
	if got, err := s.GetHeld(ctx, a, "held-2"); err != nil || got == nil {
		return ruleApply.errorf("an apply to connection %q discarded the held change set of connection %q (GetHeld returned %v)", "c1", "c2", err)
	}
	list, err := s.HeldChangeSets(ctx, a)
	if err != nil {
		return ruleHeldList.errorf("HeldChangeSets: %v", err)
	}
	if len(list) != 1 || list[0].ID != "held-2" {
		return ruleApply.errorf("HeldChangeSets after the apply lists %d change sets, want only %q", len(list), "held-2")
	}
	return nil
}

func checkApplyConcurrent(e *storeEnv) error {
	a := e.tenant("a")
	const rounds = 10
	for round := range rounds {
		conn := fmt.Sprintf("c%d", round)
		var base int64
		if round%2 == 1 { // half the rounds start from a non-empty snapshot
			if err := e.apply(newChangeSet(a, conn, "seed", "run0", 0, opAdd(testIdentity("seed", 1)))); err != nil {
				return err
			}
			base = 1
		}
		css := []*resync.ChangeSet{
			newChangeSet(a, conn, "left", "run-left", base, opAdd(testIdentity("left", 1)), opAdd(testGroup("g", 1))),
			newChangeSet(a, conn, "right", "run-right", base, opAdd(testIdentity("right", 1)), opAdd(testGroup("g", 2))),
		}
		errs := make([]error, len(css))
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i, cs := range css {
			wg.Go(func() {
				<-start
				errs[i] = e.s.Apply(e.ctx, cs)
			})
		}
		close(start)
		wg.Wait()
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil && winner < 0:
				winner = i
			case err == nil:
				return ruleConcurrency.errorf("two change sets at base version %d applied concurrently both succeeded; one must fail with ErrConflict", base)
			case !errors.Is(err, resync.ErrConflict):
				return ruleConcurrency.errorf("a concurrent Apply at the same base version returned %v, want nil or an error wrapping ErrConflict", err)
			}
		}
		if winner < 0 {
			return ruleConcurrency.errorf("two change sets at base version %d applied concurrently both failed (%v; %v); exactly one must succeed", base, errs[0], errs[1])
		}
		w := css[winner]
		st, err := e.state(a, conn)
		if err != nil {
			return err
		}
		if st.version != base+1 {
			return ruleConcurrency.errorf("after one of two concurrent applies the version is %d, want %d", st.version, base+1)
		}
		for _, l := range st.log {
			if l.ChangeSetID != w.ID && l.ChangeSetID != "seed" {
				return ruleAtomic.errorf("the change log has an entry of change set %q, refused with ErrConflict", l.ChangeSetID)
			}
		}
		g := resync.Record(testGroup("g", 1+winner))
		if st.live[entryKey{resync.KindGroup, "g"}] != resync.Fingerprint(g) {
			return ruleAtomic.errorf("after concurrent applies the snapshot mixes both change sets")
		}
		loser := css[1-winner].Changes[0].Key
		if _, ok := st.live[entryKey{resync.KindIdentity, loser}]; ok {
			return ruleAtomic.errorf("a change of the change set refused with ErrConflict (%q) was applied", loser)
		}
	}
	return nil
}

// ---- records and changes ----

func checkRecordsOrder(e *storeEnv) error {
	a := e.tenant("a")
	recs := []resync.Record{
		testGroup("mmm", 1), testIdentity("zoe", 1), testAccount("bbb", 1), testIdentity("amy", 1),
		testGroup("aaa", 1), testAccount("aaa", 1), testIdentity("kim", 1), testAccount("zzz", 1),
	}
	var changes []resync.Change
	for _, r := range recs {
		changes = append(changes, opAdd(r))
	}
	if err := e.apply(newChangeSet(a, "c1", "cs1", "run1", 0, changes...)); err != nil {
		return err
	}
	if err := e.apply(newChangeSet(a, "c1", "cs2", "run2", 1, opRemove(resync.KindIdentity, "kim", 0), opRemove(resync.KindGroup, "aaa", 0))); err != nil {
		return err
	}
	keys := func(rs []resync.StoredRecord) []string {
		out := make([]string, len(rs))
		for i, r := range rs {
			out[i] = string(r.Kind) + "/" + r.Key
		}
		return out
	}
	cases := []struct {
		kind    resync.RecordKind
		removed bool
		want    []string
	}{
		{"", false, []string{"identity/amy", "identity/zoe", "account/aaa", "account/bbb", "account/zzz", "group/mmm"}},
		{"", true, []string{"identity/amy", "identity/kim", "identity/zoe", "account/aaa", "account/bbb", "account/zzz", "group/aaa", "group/mmm"}},
		{resync.KindAccount, false, []string{"account/aaa", "account/bbb", "account/zzz"}},
		{resync.KindIdentity, true, []string{"identity/amy", "identity/kim", "identity/zoe"}},
		{resync.KindGroup, false, []string{"group/mmm"}},
	}
	for _, c := range cases {
		got, err := e.records(a, "c1", c.kind, c.removed)
		if err != nil {
			return err
		}
		if g := keys(got); !slices.Equal(g, c.want) {
			return ruleRecords.errorf("Records(Kind %q, IncludeRemoved %v) returned %v, want %v (matching records, by kind then key)", c.kind, c.removed, g, c.want)
		}
	}
	return nil
}

func checkRecordsRoundTrip(e *storeEnv) error {
	a := e.tenant("a")
	full := &resync.Identity{Key: "00u1abcd", EmployeeID: "E-0042", ExternalID: "ada@idp.example.com",
		Email: "ada@example.com", Name: "Ada Lovelace", Status: resync.StatusSuspended,
		Manager: "00u0boss", Department: "R&D", Title: "Analyst", StartDate: baseTime.AddDate(-3, 0, 0), EndDate: baseTime.AddDate(0, 1, 0),
		MFA: resync.MFAEnabled, LastLogin: baseTime.Add(-2 * time.Hour),
		Groups: []string{"g2", "g1", "g3"}, Attributes: map[string]string{"costCenter": "42", "empty": ""}}
	hire := &resync.Identity{Key: "00u9", Status: resync.StatusNotStarted, StartDate: baseTime.AddDate(0, 0, 14)}
	acct := &resync.Account{Key: "arn:aws:iam::123:user/ada", Username: "ada", OwnerEmail: "ada@example.com", DisplayName: "Ada",
		Status: resync.StatusDeprovisioned, Type: resync.AccountTypeHuman, EmployeeID: "E-0042", ExternalID: "00u1abcd",
		Roles: []string{"ReadOnly", "Admin"}, MFA: resync.MFADisabled,
		LastLogin: baseTime.Add(-36 * time.Hour), LastUsed: map[string]time.Time{"AKIAEXAMPLE1": baseTime.Add(-time.Minute), "AKIAEXAMPLE2": {}},
		Attributes: map[string]string{"path": "/"}}
	bot := &resync.Account{Key: "ci-bot", Status: resync.StatusActive, Type: resync.AccountTypeService}
	minimal := &resync.Account{Key: "min", Status: resync.StatusActive}
	grp := &resync.Group{Key: "grp-1", Name: "Everyone", Members: []string{"00u1abcd", "00u2"}}
	empty := &resync.Group{Key: "grp-empty"}
	recs := []resync.Record{full, hire, acct, bot, minimal, grp, empty}
	var changes []resync.Change
	for _, r := range recs {
		changes = append(changes, opAdd(r))
	}
	if err := e.apply(newChangeSet(a, "c1", "cs1", "run1", 0, changes...)); err != nil {
		return err
	}
	got, err := e.records(a, "c1", "", false)
	if err != nil {
		return err
	}
	if len(got) != len(recs) {
		return ruleRecords.errorf("Records returned %d records, want %d", len(got), len(recs))
	}
	for _, want := range recs {
		r, ok := findRecord(got, storage.KindOfRecord(want), storage.KeyOf(want))
		if !ok {
			return ruleRecords.errorf("%s %q is missing from Records", storage.KindOfRecord(want), storage.KeyOf(want))
		}
		if d := recordDiff(r.Record, want); d != "" {
			return ruleRoundTrip.errorf("stored record differs: %s", d)
		}
	}
	return nil
}

func checkChanges(e *storeEnv) error {
	a, b := e.tenant("a"), e.tenant("b")
	i1, i2 := testIdentity("alice", 1), testIdentity("bob", 1)
	css := []*resync.ChangeSet{
		newChangeSet(a, "c1", "cs1", "run1", 0, opAdd(i1), opAdd(i2), opAdd(testGroup("eng", 1))),
		newChangeSet(a, "c2", "cs1", "run2", 0, opAdd(testAccount("acct", 1))),
		newChangeSet(a, "c1", "cs2", "run3", 1, opUpdate(testIdentity("alice", 2), resync.Fingerprint(i1)), opRemove(resync.KindIdentity, "bob", resync.Fingerprint(i2))),
		// Same connection, run and change-set IDs in another tenant.
		newChangeSet(b, "c1", "cs1", "run1", 0, opAdd(testIdentity("mallory", 1))),
	}
	for _, cs := range css {
		if err := e.apply(cs); err != nil {
			return err
		}
	}
	all, err := e.changes(resync.ChangeQuery{Tenant: a})
	if err != nil {
		return err
	}
	// What each change replaced: alice and bob as first added.
	before := map[string]resync.Record{"run3/alice": i1, "run3/bob": i2}
	var want []resync.ChangeLogEntry
	for _, cs := range css[:3] {
		for _, c := range cs.Changes {
			want = append(want, resync.ChangeLogEntry{Tenant: cs.Tenant, ConnectionID: cs.ConnectionID, RunID: cs.RunID,
				ChangeSetID: cs.ID, Op: c.Op, Kind: c.Kind, Key: c.Key, Fingerprint: c.Fingerprint, PrevFingerprint: c.PrevFingerprint,
				Before: before[cs.RunID+"/"+c.Key], After: c.Record})
		}
	}
	if len(all) != len(want) {
		return ruleChanges.errorf("the tenant's change log has %d entries after applying %d changes, want one per change", len(all), len(want))
	}
	// Entries of one change set may come in any order; change sets oldest first.
	pos := 0
	for _, cs := range css[:3] {
		got := all[pos : pos+len(cs.Changes)]
		exp := want[pos : pos+len(cs.Changes)]
		pos += len(cs.Changes)
		for _, g := range got {
			if g.At.IsZero() {
				return ruleChanges.errorf("change-log entry %d has no time (At)", g.Seq)
			}
			if g.Tenant != a {
				return ruleIsolation.errorf("Changes for tenant %q returned an entry of tenant %q", a, g.Tenant)
			}
			k := g
			k.Seq, k.At = 0, time.Time{}
			i := slices.IndexFunc(exp, func(w resync.ChangeLogEntry) bool { return entryDiff(k, w) == "" })
			if i < 0 {
				j := slices.IndexFunc(exp, func(w resync.ChangeLogEntry) bool { return w.Key == k.Key })
				why := "no change of that key"
				if j >= 0 {
					why = entryDiff(k, exp[j])
				}
				return ruleChanges.errorf("change-log entry %d does not match a change of change set %q on connection %q (oldest first): %s", g.Seq, cs.ID, cs.ConnectionID, why)
			}
		}
	}
	for i := 1; i < len(all); i++ {
		if all[i].Seq <= all[i-1].Seq {
			return ruleChanges.errorf("change-log Seq %d follows %d: Seq must increase with every entry, oldest first", all[i].Seq, all[i-1].Seq)
		}
	}
	filters := []struct {
		q    resync.ChangeQuery
		want []resync.ChangeLogEntry
	}{
		{resync.ChangeQuery{Tenant: a, ConnectionID: "c2"}, all[3:4]},
		{resync.ChangeQuery{Tenant: a, ConnectionID: "c1"}, slices.Concat(all[:3], all[4:])},
		{resync.ChangeQuery{Tenant: a, RunID: "run3"}, all[4:]},
		{resync.ChangeQuery{Tenant: a, RunID: "run1", ConnectionID: "c1"}, all[:3]},
		{resync.ChangeQuery{Tenant: a, AfterSeq: all[2].Seq}, all[3:]},
		{resync.ChangeQuery{Tenant: a, Limit: 2}, all[:2]},
		{resync.ChangeQuery{Tenant: a, AfterSeq: all[1].Seq, Limit: 2}, all[2:4]},
		{resync.ChangeQuery{Tenant: a, ConnectionID: "c1", AfterSeq: all[0].Seq, Limit: 3}, []resync.ChangeLogEntry{all[1], all[2], all[4]}},
		{resync.ChangeQuery{Tenant: a, AfterSeq: all[len(all)-1].Seq}, nil},
		{resync.ChangeQuery{Tenant: a, Key: "alice"}, filterEntries(all, func(e resync.ChangeLogEntry) bool { return e.Key == "alice" })},
		{resync.ChangeQuery{Tenant: a, Key: "alice", Op: resync.OpUpdate}, filterEntries(all, func(e resync.ChangeLogEntry) bool { return e.Key == "alice" && e.Op == resync.OpUpdate })},
		{resync.ChangeQuery{Tenant: a, Kind: resync.KindIdentity}, filterEntries(all, func(e resync.ChangeLogEntry) bool { return e.Kind == resync.KindIdentity })},
		{resync.ChangeQuery{Tenant: a, Kind: resync.KindAccount, ConnectionID: "c1"}, nil},
		{resync.ChangeQuery{Tenant: a, Op: resync.OpRemove}, filterEntries(all, func(e resync.ChangeLogEntry) bool { return e.Op == resync.OpRemove })},
		{resync.ChangeQuery{Tenant: a, Op: resync.OpAdd, RunID: "run1", Limit: 2}, filterEntries(all[:2], func(e resync.ChangeLogEntry) bool { return e.Op == resync.OpAdd })},
		{resync.ChangeQuery{Tenant: a, Since: all[3].At}, filterEntries(all, func(e resync.ChangeLogEntry) bool { return !e.At.Before(all[3].At) })},
		{resync.ChangeQuery{Tenant: a, Until: all[3].At}, filterEntries(all, func(e resync.ChangeLogEntry) bool { return e.At.Before(all[3].At) })},
		{resync.ChangeQuery{Tenant: a, Since: all[0].At, Until: all[len(all)-1].At.Add(time.Microsecond), Key: "bob"},
			filterEntries(all, func(e resync.ChangeLogEntry) bool { return e.Key == "bob" })},
		{resync.ChangeQuery{Tenant: a, Until: all[0].At}, nil},
		{resync.ChangeQuery{Tenant: a, Key: "mallory"}, nil},
	}
	seqs := func(es []resync.ChangeLogEntry) []int64 {
		out := []int64{}
		for _, e := range es {
			out = append(out, e.Seq)
		}
		return out
	}
	for _, f := range filters {
		got, err := e.changes(f.q)
		if err != nil {
			return err
		}
		if g, w := seqs(got), seqs(f.want); !slices.Equal(g, w) {
			return ruleChanges.errorf("Changes(%+v) returned Seqs %v, want %v", f.q, g, w)
		}
	}
	// Paging with AfterSeq and Limit walks the whole log once.
	var paged []resync.ChangeLogEntry
	after := int64(0)
	for range len(all) + 2 {
		page, err := e.changes(resync.ChangeQuery{Tenant: a, AfterSeq: after, Limit: 2})
		if err != nil {
			return err
		}
		if len(page) == 0 {
			break
		}
		paged = append(paged, page...)
		after = page[len(page)-1].Seq
	}
	if g, w := seqs(paged), seqs(all); !slices.Equal(g, w) {
		return ruleChanges.errorf("paging with AfterSeq and Limit 2 returned Seqs %v, want %v", g, w)
	}
	other, err := e.changes(resync.ChangeQuery{Tenant: b})
	if err != nil {
		return err
	}
	if len(other) != 1 || other[0].Key != "mallory" || other[0].Tenant != b {
		return ruleIsolation.errorf("Changes for tenant %q returned %d entries, want only its own 1", b, len(other))
	}
	return nil
}

// ---- held change sets ----

func heldSet(tenant, conn, id string, created time.Time) *resync.ChangeSet {
	cs := newChangeSet(tenant, conn, id, "run-"+id, 3,
		opAdd(testAccount("new-1", 1)),
		opUpdate(testIdentity("upd-1", 2), resync.Fingerprint(testIdentity("upd-1", 1))),
		opRemove(resync.KindIdentity, "gone-1", 0x1234),
		opRemove(resync.KindIdentity, "gone-2", 0x5678),
		opRemove(resync.KindGroup, "gone-3", 0x9abc),
		opRefresh(testAccount("seen-1", 1), resync.Fingerprint(testAccount("seen-1", 1))),
	)
	cs.CreatedAt, cs.HoldReason = created, "would remove 3 of 4 records (75%)"
	return cs
}

func checkHoldRoundTrip(e *storeEnv) error {
	ctx, s := e.ctx, e.s
	a := e.tenant("a")
	before, err := e.state(a, "c1")
	if err != nil {
		return err
	}
	cs := heldSet(a, "c1", "held-1", baseTime)
	if err := s.Hold(ctx, cs); err != nil {
		return ruleHold.errorf("Hold: %v", err)
	}
	got, err := s.GetHeld(ctx, a, "held-1")
	if err != nil {
		return ruleGetHeld.errorf("GetHeld of a held change set: %v", err)
	}
	if d := changeSetDiff(got, cs); d != "" {
		return ruleGetHeld.errorf("the held change set does not round-trip: %s", d)
	}
	list, err := s.HeldChangeSets(ctx, a)
	if err != nil {
		return ruleHeldList.errorf("HeldChangeSets: %v", err)
	}
	if len(list) != 1 {
		return ruleHeldList.errorf("HeldChangeSets lists %d change sets, want 1", len(list))
	}
	if d := summaryDiff(list[0], storage.Summarize(cs)); d != "" {
		return ruleHeldList.errorf("the summary is not storage.Summarize of the held change set (counts of adds, updates and removes): %s", d)
	}
	after, err := e.state(a, "c1")
	if err != nil {
		return err
	}
	after.held = before.held
	if d := stateDiff(before, after); d != "" {
		return ruleHold.errorf("holding a change set applied some of it: it changed %s", d)
	}
	return nil
}

func checkHoldReplaces(e *storeEnv) error {
	ctx, s := e.ctx, e.s
	a := e.tenant("a")
	for _, cs := range []*resync.ChangeSet{
		heldSet(a, "c1", "held-1", baseTime),
		heldSet(a, "c2", "held-2", baseTime.Add(time.Minute)),
		heldSet(a, "c1", "held-3", baseTime.Add(2*time.Minute)),
	} {
		if err := s.Hold(ctx, cs); err != nil {
			return ruleHold.errorf("Hold(%q): %v", cs.ID, err)
		}
	}
	if _, err := s.GetHeld(ctx, a, "held-1"); !errors.Is(err, resync.ErrNotFound) {
		return ruleHold.errorf("a second Hold on connection %q did not replace the first (GetHeld(%q) returned %v, want ErrNotFound)", "c1", "held-1", err)
	}
	list, err := s.HeldChangeSets(ctx, a)
	if err != nil {
		return ruleHeldList.errorf("HeldChangeSets: %v", err)
	}
	var ids []string
	for _, h := range list {
		ids = append(ids, h.ID)
	}
	slices.Sort(ids)
	if !slices.Equal(ids, []string{"held-2", "held-3"}) {
		return ruleHold.errorf("HeldChangeSets lists %v, want [held-2 held-3] (one per connection, the latest)", ids)
	}
	return nil
}

func checkDiscardHeld(e *storeEnv) error {
	ctx, s := e.ctx, e.s
	a := e.tenant("a")
	if _, err := s.GetHeld(ctx, a, "nope"); !errors.Is(err, resync.ErrNotFound) {
		return ruleGetHeld.errorf("GetHeld of an absent change set returned %v, want an error wrapping ErrNotFound", err)
	}
	if err := s.DiscardHeld(ctx, a, "nope"); !errors.Is(err, resync.ErrNotFound) {
		return ruleDiscard.errorf("DiscardHeld of an absent change set returned %v, want an error wrapping ErrNotFound", err)
	}
	if err := s.Hold(ctx, heldSet(a, "c1", "held-1", baseTime)); err != nil {
		return ruleHold.errorf("Hold: %v", err)
	}
	if err := s.DiscardHeld(ctx, a, "held-1"); err != nil {
		return ruleDiscard.errorf("DiscardHeld of a held change set: %v", err)
	}
	if _, err := s.GetHeld(ctx, a, "held-1"); !errors.Is(err, resync.ErrNotFound) {
		return ruleDiscard.errorf("GetHeld after DiscardHeld returned %v, want ErrNotFound", err)
	}
	if list, err := s.HeldChangeSets(ctx, a); err != nil || len(list) != 0 {
		return ruleDiscard.errorf("HeldChangeSets after DiscardHeld lists %d change sets (%v), want none", len(list), err)
	}
	if err := s.DiscardHeld(ctx, a, "held-1"); !errors.Is(err, resync.ErrNotFound) {
		return ruleDiscard.errorf("a second DiscardHeld returned %v, want ErrNotFound", err)
	}
	// The connection can hold again, and nothing was applied.
	if err := s.Hold(ctx, heldSet(a, "c1", "held-2", baseTime)); err != nil {
		return ruleHold.errorf("Hold after DiscardHeld: %v", err)
	}
	if got, err := s.GetHeld(ctx, a, "held-2"); err != nil || got.ID != "held-2" {
		return ruleHold.errorf("GetHeld of a change set held after a discard: %v", err)
	}
	if _, v, err := e.snapshot(a, "c1"); err != nil || v != 0 {
		return ruleDiscard.errorf("holding and discarding changed the snapshot version to %d (%v), want 0", v, err)
	}
	return nil
}

// ---- leases ----

func checkLease(e *storeEnv) error {
	ctx, s := e.ctx, e.s
	name, other := e.prefix+"lease", e.prefix+"other-lease"
	acquire := func(lease, owner string, want bool, why string) error {
		ok, err := s.AcquireLease(ctx, lease, owner, time.Hour)
		if err != nil {
			return ruleAcquire.errorf("AcquireLease(%q, %q): %v", lease, owner, err)
		}
		if ok != want {
			return ruleAcquire.errorf("AcquireLease(%q, %q) returned %v, want %v: %s", lease, owner, ok, want, why)
		}
		return nil
	}
	steps := []func() error{
		func() error { return acquire(name, "A", true, "the lease is free") },
		func() error { return acquire(name, "A", true, "the owner renews its own lease") },
		func() error { return acquire(name, "B", false, "A holds an unexpired lease") },
		func() error { return acquire(other, "B", true, "leases of other names are independent") },
		func() error {
			if err := s.ReleaseLease(ctx, name, "B"); err != nil {
				return ruleRelease.errorf("ReleaseLease by a non-owner returned %v, want nil", err)
			}
			return nil
		},
		func() error { return acquire(name, "B", false, "a release by a non-owner changes nothing") },
		func() error {
			if err := s.ReleaseLease(ctx, e.prefix+"never-taken", "A"); err != nil {
				return ruleRelease.errorf("ReleaseLease of a lease nobody holds returned %v, want nil", err)
			}
			return nil
		},
		func() error {
			if err := s.ReleaseLease(ctx, name, "A"); err != nil {
				return ruleRelease.errorf("ReleaseLease by the owner: %v", err)
			}
			return nil
		},
		func() error { return acquire(name, "B", true, "A released the lease") },
		func() error { return acquire(name, "A", false, "B now holds the lease") },
	}
	for _, st := range steps {
		if err := st(); err != nil {
			return err
		}
	}
	return nil
}

func checkLeaseExpiry(e *storeEnv) error {
	ctx, s := e.ctx, e.s
	name := e.prefix + "lease"
	ok, err := s.AcquireLease(ctx, name, "A", expiryTTL)
	if err != nil || !ok {
		return ruleAcquire.errorf("AcquireLease of a free lease returned %v, %v", ok, err)
	}
	taken, err := eventually(ctx, func() (bool, error) {
		ok, err := s.AcquireLease(ctx, name, "B", time.Hour)
		if err != nil {
			return false, ruleAcquire.errorf("AcquireLease: %v", err)
		}
		return ok, nil
	})
	if err != nil {
		return err
	}
	if !taken {
		return ruleAcquire.errorf("a lease taken for %s could not be taken by another owner within %s: an expired lease must be free", expiryTTL, expiryWait)
	}
	if ok, err := s.AcquireLease(ctx, name, "A", time.Hour); err != nil || ok {
		return ruleAcquire.errorf("the former owner re-acquired a lease taken over by another owner (%v, %v)", ok, err)
	}
	return nil
}

func checkLeaseRenew(e *storeEnv) error {
	ctx, s := e.ctx, e.s
	name := e.prefix + "lease"
	ok, err := s.AcquireLease(ctx, name, "A", expiryTTL)
	if err != nil || !ok {
		return ruleAcquire.errorf("AcquireLease of a free lease returned %v, %v", ok, err)
	}
	if ok, err := s.AcquireLease(ctx, name, "A", time.Hour); err != nil || !ok {
		return ruleAcquire.errorf("the owner renewing its lease got %v, %v; want true, nil", ok, err)
	}
	// Wait past the first TTL (for real: the store keeps its own clock).
	timer := time.NewTimer(2 * expiryTTL)
	select {
	case <-ctx.Done():
		timer.Stop()
		return ctx.Err()
	case <-timer.C:
	}
	if ok, err := s.AcquireLease(ctx, name, "B", time.Hour); err != nil || ok {
		return ruleAcquire.errorf("another owner took a lease %s after it was renewed for an hour (%v, %v): a renewal must extend the lease", 2*expiryTTL, ok, err)
	}
	return nil
}

func checkLeaseConcurrent(e *storeEnv) error {
	const rounds, contenders = 5, 10
	for round := range rounds {
		name := fmt.Sprintf("%slease-%d", e.prefix, round)
		won := make([]bool, contenders)
		errs := make([]error, contenders)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range contenders {
			wg.Go(func() {
				<-start
				won[i], errs[i] = e.s.AcquireLease(e.ctx, name, "owner-"+strconv.Itoa(i), time.Hour)
			})
		}
		close(start)
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return ruleConcurrency.errorf("concurrent AcquireLease: %v", err)
		}
		if n := len(slices.DeleteFunc(won, func(b bool) bool { return !b })); n != 1 {
			return ruleConcurrency.errorf("%d of %d owners acquiring one lease at once got it, want exactly 1", n, contenders)
		}
	}
	return nil
}

// ---- tenant isolation and odd data ----

func checkTenantIsolation(e *storeEnv) error {
	ctx, s := e.ctx, e.s
	a, b := e.tenant("a"), e.tenant("b")
	// Both tenants use the same connection, change-set, run and record IDs.
	for i, t := range []string{a, b} {
		if err := e.apply(newChangeSet(t, "c1", "cs1", "run1", 0, opAdd(testIdentity("alice", i)), opAdd(testIdentity("only-"+t, i)))); err != nil {
			return err
		}
	}
	if err := e.apply(newChangeSet(a, "c1", "cs2", "run2", 1, opRemove(resync.KindIdentity, "alice", 0))); err != nil {
		return err
	}
	if err := s.Hold(ctx, heldSet(a, "c1", "held-1", baseTime)); err != nil {
		return ruleHold.errorf("Hold: %v", err)
	}
	for _, t := range []string{a, b} {
		recs, err := e.records(t, "c1", "", true)
		if err != nil {
			return err
		}
		for _, r := range recs {
			if strings.HasPrefix(r.Key, "only-") && r.Key != "only-"+t {
				return ruleIsolation.errorf("Records of tenant %q returned record %q of another tenant", t, r.Key)
			}
		}
		if len(recs) != 2 {
			return ruleIsolation.errorf("Records of tenant %q returned %d records, want its own 2", t, len(recs))
		}
		m, _, err := e.snapshot(t, "c1")
		if err != nil {
			return err
		}
		for k := range m {
			if strings.HasPrefix(k.key, "only-") && k.key != "only-"+t {
				return ruleIsolation.errorf("Snapshot of tenant %q returned record %q of another tenant", t, k.key)
			}
		}
	}
	ra, err := e.records(a, "c1", "", true)
	if err != nil {
		return err
	}
	rb, err := e.records(b, "c1", "", true)
	if err != nil {
		return err
	}
	if alice, _ := findRecord(ra, resync.KindIdentity, "alice"); !!alice.RemovedAt.IsZero() {
		return ruleApply.errorf("removing %q in tenant %q did not tombstone it", "alice", a)
	}
	if alice, _ := findRecord(rb, resync.KindIdentity, "alice"); !alice.RemovedAt.IsZero() {
		return ruleIsolation.errorf("removing %q in tenant %q tombstoned tenant %q's record of the same key", "alice", a, b)
	}
	if _, vb, err := e.snapshot(b, "c1"); err != nil || vb != 1 {
		return ruleIsolation.errorf("applying to tenant %q's connection %q moved tenant %q's version to %d (%v)", a, "c1", b, vb, err)
	}
	if _, err := s.GetHeld(ctx, b, "held-1"); !errors.Is(err, resync.ErrNotFound) {
		return ruleIsolation.errorf("GetHeld(%q) of another tenant's held change set returned %v, want ErrNotFound", b, err)
	}
	if err := s.DiscardHeld(ctx, b, "held-1"); !errors.Is(err, resync.ErrNotFound) {
		return ruleIsolation.errorf("DiscardHeld(%q) of another tenant's held change set returned %v, want ErrNotFound", b, err)
	}
	if _, err := s.GetHeld(ctx, a, "held-1"); err != nil {
		return ruleIsolation.errorf("DiscardHeld in tenant %q removed tenant %q's held change set (GetHeld returned %v)", b, a, err)
	}
	if list, err := s.HeldChangeSets(ctx, b); err != nil || len(list) != 0 {
		return ruleIsolation.errorf("HeldChangeSets(%q) lists %d change sets of another tenant (%v)", b, len(list), err)
	}
	// A change set of tenant b at base 1 applies even though tenant a's
	// connection of the same ID is at version 2 and has applied "cs2".
	if err := e.apply(newChangeSet(b, "c1", "cs2", "run2", 1, opAdd(testGroup("g", 1)))); err != nil {
		return ruleIsolation.errorf("tenant %q's change set %q was refused: %v", b, "cs2", err)
	}
	if _, vb, err := e.snapshot(b, "c1"); err != nil || vb != 2 {
		return ruleIsolation.errorf("tenant %q's change set %q, an ID tenant %q applied, was treated as already applied (version %d, %v)", b, "cs2", a, vb, err)
	}
	return nil
}

// oddStrings are values that break naive quoting, escaping, collation or
// encoding.
var oddStrings = []string{
	`it's "quoted"`,
	`back\slash \\ \n \' \"`,
	`'; DROP TABLE x; --`,
	`%_* wildcards? [a-z] {1}`,
	"emoji 🙂👩‍💻🏳️‍🌈",
	"Ünïcödé 日本語 العربية русский ẞ",
	"tab\tnew\nline\r\u2028sep",
	"   leading and trailing spaces   ",
}

func checkOddData(e *storeEnv) error {
	ctx, s := e.ctx, e.s
	big := strings.Repeat("é", 4096)              // 8 KiB
	bigMixed := strings.Repeat("a'\"\\🙂", 8192/8) // 8 KiB, mixed quoting
	for i, odd := range oddStrings {
		t := e.tenant(odd)
		conn, key, id := "conn "+odd, "key "+odd, "id "+odd
		rec := &resync.Identity{Key: key, Email: odd, Name: big, Status: resync.StatusActive, Title: bigMixed,
			Groups: []string{odd, big}, Attributes: map[string]string{odd: odd, "big": big, "mixed": bigMixed}}
		acct := &resync.Account{Key: strings.Repeat("ключ", 1024/8), Username: odd, Status: resync.StatusActive, Roles: []string{odd}}
		cs := newChangeSet(t, conn, id, id, 0, opAdd(rec), opAdd(acct))
		if err := e.apply(cs); err != nil {
			return err
		}
		recs, err := e.records(t, conn, "", true)
		if err != nil {
			return err
		}
		if len(recs) != 2 {
			return ruleRoundTrip.errorf("Records of tenant %q connection %q returned %d records, want 2", t, conn, len(recs))
		}
		for _, want := range []resync.Record{rec, acct} {
			r, ok := findRecord(recs, storage.KindOfRecord(want), storage.KeyOf(want))
			if !ok {
				return ruleRoundTrip.errorf("%s key %q is missing from Records", storage.KindOfRecord(want), storage.KeyOf(want))
			}
			if d := recordDiff(r.Record, want); d != "" {
				return ruleRoundTrip.errorf("record with odd data (%q) differs: %.300s", odd, d)
			}
			if r.UpdatedBy != id {
				return ruleRoundTrip.errorf("UpdatedBy is %q, want %q", r.UpdatedBy, id)
			}
		}
		m, v, err := e.snapshot(t, conn)
		if err != nil {
			return err
		}
		if v != 1 || m[entryKey{resync.KindIdentity, key}] != resync.Fingerprint(rec) {
			return ruleRoundTrip.errorf("Snapshot of tenant %q connection %q: version %d, entries %v", t, conn, v, m)
		}
		if err := s.Apply(ctx, cs); err != nil {
			return ruleIdempotent.errorf("re-applying change set %q returned %v, want nil", id, err)
		}
		log, err := e.changes(resync.ChangeQuery{Tenant: t, ConnectionID: conn, RunID: id})
		if err != nil {
			return err
		}
		if len(log) != 2 || log[0].ChangeSetID != id || log[1].ChangeSetID != id {
			return ruleRoundTrip.errorf("Changes filtered by odd connection and run IDs returned %d entries, want 2 of change set %q", len(log), id)
		}
		run := testRun(t, id, "owner "+odd, resync.RunSucceeded, resync.TriggerAdhoc, baseTime.Add(time.Duration(i)*time.Second))
		run.Initiator.Name, run.Connections[0].Error, run.NotifyErrors = odd, big, []string{odd}
		if err := s.CreateRun(ctx, run); err != nil {
			return ruleCreateRun.errorf("CreateRun of run %q: %v", id, err)
		}
		got, err := s.GetRun(ctx, t, id)
		if err != nil {
			return ruleGetRun.errorf("GetRun(%q, %q): %v", t, id, err)
		}
		if d := runDiff(got, run); d != "" {
			return ruleRoundTrip.errorf("run with odd data (%q) differs: %.300s", odd, d)
		}
		if list, err := s.ListRuns(ctx, resync.RunQuery{Tenant: t, Limit: 100}); err != nil || len(list) != 1 || list[0].ID != id {
			return ruleRoundTrip.errorf("ListRuns of tenant %q returned %d runs (%v), want its 1", t, len(list), err)
		}
		held := heldSet(t, conn, "held "+odd, baseTime)
		held.HoldReason = odd
		held.Changes = append(held.Changes, opAdd(rec))
		if err := s.Hold(ctx, held); err != nil {
			return ruleHold.errorf("Hold(%q): %v", held.ID, err)
		}
		gh, err := s.GetHeld(ctx, t, held.ID)
		if err != nil {
			return ruleGetHeld.errorf("GetHeld(%q, %q): %v", t, held.ID, err)
		}
		if d := changeSetDiff(gh, held); d != "" {
			return ruleRoundTrip.errorf("held change set with odd data (%q) differs: %.300s", odd, d)
		}
		lease := e.prefix + odd
		if ok, err := s.AcquireLease(ctx, lease, odd, time.Hour); err != nil || !ok {
			return ruleAcquire.errorf("AcquireLease(%q, %q) of a free lease returned %v, %v", lease, odd, ok, err)
		}
		if ok, err := s.AcquireLease(ctx, lease, odd+"x", time.Hour); err != nil || ok {
			return ruleAcquire.errorf("AcquireLease(%q) by another owner returned %v, %v; want false", lease, ok, err)
		}
	}
	// Tenants that a LIKE pattern or a lax comparison would mix up.
	similar := []string{e.tenant("x%"), e.tenant("x_"), e.tenant("xy"), e.tenant("X%"), e.tenant("x% ")}
	for i, t := range similar {
		if err := s.CreateRun(ctx, testRun(t, "run", "o", resync.RunSucceeded, resync.TriggerAdhoc, baseTime)); err != nil {
			return ruleCreateRun.errorf("CreateRun in tenant %q: %v", t, err)
		}
		if err := e.apply(newChangeSet(t, "c", "cs", "run", 0, opAdd(testIdentity("k"+strconv.Itoa(i), i)))); err != nil {
			return err
		}
	}
	for i, t := range similar {
		runs, err := s.ListRuns(ctx, resync.RunQuery{Tenant: t, Limit: 100})
		if err != nil {
			return ruleListRuns.errorf("ListRuns(%q): %v", t, err)
		}
		if len(runs) != 1 || runs[0].Tenant != t {
			return ruleIsolation.errorf("ListRuns(%q) returned %d runs, want its own 1 (tenants %q must not match each other)", t, len(runs), similar)
		}
		recs, err := e.records(t, "c", "", true)
		if err != nil {
			return err
		}
		if len(recs) != 1 || recs[0].Key != "k"+strconv.Itoa(i) {
			return ruleIsolation.errorf("Records of tenant %q returned %d records, want its own 1 (tenants %q must not match each other)", t, len(recs), similar)
		}
	}
	return nil
}

// checkApplyRefresh: a refresh stores a live record's new data (volatile
// fields such as last-login times, a rewritten fingerprint) in the same
// transaction as the rest of the change set, writes no change-log entry,
// leaves UpdatedAt and UpdatedBy alone, and changes nothing for a key
// without a live record.
func checkApplyRefresh(e *storeEnv) error {
	a := e.tenant("a")
	acc, id, gone := testAccount("alice-aws", 1), testIdentity("alice", 1), testIdentity("bob", 1)
	grp := testGroup("eng", 1)
	// The group is stored with a fingerprint of another version: a refresh
	// rewrites it.
	oldGroup := opAdd(grp)
	oldGroup.Fingerprint &^= 0xff << 56
	if err := e.apply(newChangeSet(a, "c1", "cs1", "run1", 0, opAdd(acc), opAdd(id), opAdd(gone), oldGroup)); err != nil {
		return err
	}
	if err := e.apply(newChangeSet(a, "c1", "cs2", "run2", 1, opRemove(resync.KindIdentity, "bob", resync.Fingerprint(gone)))); err != nil {
		return err
	}
	before, err := e.records(a, "c1", "", true)
	if err != nil {
		return err
	}
	vols, err := e.volatiles(a, "c1")
	if err != nil {
		return err
	}
	if v := vols[entryKey{resync.KindAccount, "alice-aws"}]; v != volatileDigest(acc) {
		return ruleSnapshot.errorf("snapshot entry of account %q has volatile digest %x, want the one stored by its add (%x)", acc.Key, v, volatileDigest(acc))
	}

	acc2 := testAccount("alice-aws", 1)
	acc2.LastLogin = baseTime.Add(time.Minute)
	acc2.LastUsed = map[string]time.Time{"AKIA1": baseTime}
	id2 := testIdentity("alice", 1)
	id2.LastLogin = baseTime
	ghost := testAccount("ghost", 1)
	revenant := testIdentity("bob", 1)
	revenant.LastLogin = baseTime
	cs := newChangeSet(a, "c1", "cs3", "run3", 2,
		opRefresh(acc2, resync.Fingerprint(acc)),
		opUpdate(testIdentity("alice", 2), resync.Fingerprint(id)),
		opRefresh(grp, oldGroup.Fingerprint),
		opRefresh(ghost, 0),                               // never stored: nothing happens
		opRefresh(revenant, resync.Fingerprint(revenant)), // tombstoned: stays so
	)
	cs.Changes[1].Record.(*resync.Identity).LastLogin = id2.LastLogin
	cs.Changes[1].Volatile = volatileDigest(cs.Changes[1].Record)
	if err := e.apply(cs); err != nil {
		return err
	}
	if err := e.apply(cs); err != nil { // idempotent
		return err
	}
	m, v, err := e.snapshot(a, "c1")
	if err != nil {
		return err
	}
	if v != 3 {
		return ruleApply.errorf("version after a change set with refreshes is %d, want BaseVersion+1 = 3", v)
	}
	recs, err := e.records(a, "c1", "", true)
	if err != nil {
		return err
	}
	if len(recs) != len(before) {
		return ruleApply.errorf("a refresh of a key without a stored record created one: %d records, want %d", len(recs), len(before))
	}
	r, _ := findRecord(recs, resync.KindAccount, "alice-aws")
	if d := recordDiff(r.Record, acc2); d != "" {
		return ruleApply.errorf("a refresh must store the record's new data (Records returns current values): %s", d)
	}
	if r.Fingerprint != resync.Fingerprint(acc2) || r.Volatile != volatileDigest(acc2) {
		return ruleApply.errorf("refreshed account: fingerprint %x volatile %x, want %x and %x", r.Fingerprint, r.Volatile, resync.Fingerprint(acc2), volatileDigest(acc2))
	}
	if r.UpdatedBy != "run1" {
		return ruleApply.errorf("a refresh changed UpdatedBy to %q; it must keep the run of the last add or update (%q)", r.UpdatedBy, "run1")
	}
	if b, _ := findRecord(before, resync.KindAccount, "alice-aws"); !r.UpdatedAt.Equal(b.UpdatedAt) {
		return ruleApply.errorf("a refresh changed UpdatedAt from %v to %v", b.UpdatedAt, r.UpdatedAt)
	}
	g, _ := findRecord(recs, resync.KindGroup, "eng")
	if g.Fingerprint != resync.Fingerprint(grp) || m[entryKey{resync.KindGroup, "eng"}] != resync.Fingerprint(grp) {
		return ruleApply.errorf("a refresh must store its fingerprint: group has %x (snapshot %x), want %x", g.Fingerprint, m[entryKey{resync.KindGroup, "eng"}], resync.Fingerprint(grp))
	}
	u, _ := findRecord(recs, resync.KindIdentity, "alice")
	if d := recordDiff(u.Record, cs.Changes[1].Record); d != "" || u.Volatile != cs.Changes[1].Volatile || u.UpdatedBy != "run3" {
		return ruleApply.errorf("the update beside the refreshes: %s (volatile %x, UpdatedBy %q)", d, u.Volatile, u.UpdatedBy)
	}
	if b, _ := findRecord(recs, resync.KindIdentity, "bob"); !!b.RemovedAt.IsZero() || b.RemovedBy != "run2" {
		return ruleApply.errorf("a refresh of a tombstoned key revived or changed it (removed at %v by %q)", b.RemovedAt, b.RemovedBy)
	}
	if _, ok := m[entryKey{resync.KindAccount, "ghost"}]; ok {
		return ruleApply.errorf("a refresh of a key never stored put it in the snapshot")
	}
	vols, err = e.volatiles(a, "c1")
	if err != nil {
		return err
	}
	if v := vols[entryKey{resync.KindAccount, "alice-aws"}]; v != volatileDigest(acc2) {
		return ruleSnapshot.errorf("after a refresh the snapshot gives volatile digest %x for %q, want the refreshed one %x", v, acc2.Key, volatileDigest(acc2))
	}
	log, err := e.changes(resync.ChangeQuery{Tenant: a, ConnectionID: "c1", RunID: "run3"})
	if err != nil {
		return err
	}
	if len(log) != 1 || log[0].Op != resync.OpUpdate || log[0].Key != "alice" {
		ops := make([]string, len(log))
		for i, l := range log {
			ops[i] = string(l.Op) + " " + l.Key
		}
		return ruleChanges.errorf("change log of a change set with one update and four refreshes: %v, want just the update (refreshes have no entry)", ops)
	}
	return nil
}

// volatiles returns the volatile digests of a connection's snapshot.
func (e *storeEnv) volatiles(tenant, conn string) (map[entryKey]uint64, error) {
	m := map[entryKey]uint64{}
	_, err := e.s.Snapshot(e.ctx, tenant, conn, func(kind resync.RecordKind, key string, fingerprint, volatile uint64) error {
		m[entryKey{kind, key}] = volatile
		return nil
	})
	if err != nil {
		return nil, ruleSnapshot.errorf("Snapshot(%q, %q): %v", tenant, conn, err)
	}
	return m, nil
}

// volatileDigest stands for the engine's digest of a record's volatile
// fields: a store keeps the value it is given, whatever it is.
func volatileDigest(r resync.Record) uint64 {
	var t []time.Time
	switch r := r.(type) {
	case *resync.Identity:
		t = append(t, r.LastLogin)
	case *resync.Account:
		t = append(t, r.LastLogin)
		for _, k := range slices.Sorted(maps.Keys(r.LastUsed)) {
			t = append(t, r.LastUsed[k])
		}
	}
	var h uint64
	for _, x := range t {
		if !x.IsZero() {
			h = h*1_000_003 + uint64(x.UnixNano()) + 1
		}
	}
	return h
}
