// Package memstore is an in-memory resync.Store: the default for tests,
// examples and single-process tools. It implements the whole contract of
// package storage, its optional capabilities included (Eraser,
// RecordSearcher, HeldDecider and Outbox: notifications wait in memory
// until delivered, so an engine's run never waits for its Notifier), and
// passes resynctest.TestStore. It is safe for
// concurrent use, but keeps nothing across restarts; use stores/sqlite or
// stores/postgres for that.
//
// Records are kept as the values connectors returned; callers must not
// modify a record after handing it over, nor modify records they read back.
// Besides those values, a stored record takes about 72 bytes and a
// change-log entry 64 (an update's or removal's 16 more, for the record
// before it), so a first sync of a million records adds about 136 MB.
package memstore

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/openresync/resync"
	"github.com/openresync/resync/linking"
	"github.com/openresync/resync/storage"
)

// Store is the in-memory resync.Store. The zero value is not usable; call New.
type Store struct {
	mu    sync.Mutex
	clock resync.Clock
	runs  map[string]map[string]resync.RunInfo // tenant -> run ID -> run
	live  map[tenantID]struct{}                // pending and running runs
	conns map[tenantID]*connection
	// byTenant lists each tenant's connections, for searches across them.
	byTenant map[string]map[string]*connection
	// people indexes records by person (see storage.IndexFields): tenant
	// -> folded email or identity key -> records. A tenant's index is
	// built by its first search by person and kept by Apply from then on,
	// so that applies of tenants nobody searches cost nothing more. An
	// entry is a candidate, checked against the record when read, so that
	// entries a changed email leaves behind do no harm.
	people  map[string]map[personTerm]map[recRef]struct{}
	changes map[string]*changeLog // tenant -> its entries
	seq     int64
	held    map[tenantID]*resync.ChangeSet  // by tenant + held ID
	decided map[tenantID]resync.HeldSummary // decided change sets, by tenant + ID
	leases  map[string]lease
	// outbox holds the notifications (storage.Outbox), by tenant + ID;
	// obSeq orders them.
	outbox map[tenantID]*note
	obSeq  int64
	// links keeps what storage.LinkStore stores, under its own lock.
	links linkState
}

type tenantID struct{ tenant, id string }

type lease struct {
	owner   string
	expires time.Time
}

// recKey is a record's key and kind, the kind as its storage.KindCode.
type recKey struct {
	key  string
	kind uint8
}

func keyOf(kind resync.RecordKind, key string) recKey { return recKey{key, kindCode(kind)} }

// personTerm is a key of the person index: a folded email, or an
// identity key.
type personTerm struct {
	email bool
	term  string
}

// recRef names a record of a tenant.
type recRef struct {
	conn string
	recKey
}

// stamp says when and by which run an Apply wrote: one per Apply, shared
// by the records it adds and updates. A tombstone has a stamp of its own
// that keeps the last update's and points to the removing Apply's.
type stamp struct {
	at      time.Time
	run     string
	removed *stamp
}

// record is a stored record of a connection: 64 bytes held in the
// connection's table, where a resync.StoredRecord would be an allocation
// of 176 per record.
type record struct {
	key     recKey
	rec     resync.Record
	fp, vol uint64
	st      *stamp // the last add or update, and the removal
}

func (r *record) live() bool { return r.st.removed == nil }

// stored returns r as a resync.StoredRecord.
func (r *record) stored() resync.StoredRecord {
	return resync.StoredRecord{Kind: kindOf(r.key.kind), Key: r.key.key, Fingerprint: r.fp, Volatile: r.vol, Record: r.rec,
		UpdatedAt: r.st.at, UpdatedBy: r.st.run, RemovedAt: r.st.removed.time(), RemovedBy: r.st.removed.by()}
}

// time and by return when and by which run s was written; zero for nil.
func (s *stamp) time() time.Time {
	if s == nil {
		return time.Time{}
	}
	return s.at
}

func (s *stamp) by() string {
	if s == nil {
		return ""
	}
	return s.run
}

type connection struct {
	version int64
	records *table
	// sorted holds the keys of records in search order (kind, key). The
	// first search builds it from records; from then on Apply appends the
	// keys it adds (marking it unsorted) and the next search sorts it.
	// Until a connection is searched Apply keeps nothing here, so that a
	// first sync pays no second copy of its keys.
	sorted   []recKey
	unsorted bool
	applied  map[string]struct{} // change set IDs
	heldID   string
}

var (
	_ storage.Store          = (*Store)(nil)
	_ storage.Eraser         = (*Store)(nil)
	_ storage.HeldDecider    = (*Store)(nil)
	_ storage.RecordSearcher = (*Store)(nil)
)

// Config configures a Store. The zero Config is the default.
type Config struct {
	// Clock gives the time of record timestamps, change-log entries and
	// lease expiry. Default: the system clock. A test that drives the
	// engine's Config.Clock passes the same one here.
	Clock resync.Clock
}

// New returns an empty Store configured by cfg: none, or one Config.
func New(cfg ...Config) *Store {
	var c Config
	if len(cfg) > 0 {
		c = cfg[len(cfg)-1]
	}
	if c.Clock == nil {
		c.Clock = systemClock{}
	}
	s := &Store{
		clock:    c.Clock,
		runs:     map[string]map[string]resync.RunInfo{},
		live:     map[tenantID]struct{}{},
		conns:    map[tenantID]*connection{},
		byTenant: map[string]map[string]*connection{},
		people:   map[string]map[personTerm]map[recRef]struct{}{},
		changes:  map[string]*changeLog{},
		held:     map[tenantID]*resync.ChangeSet{},
		decided:  map[tenantID]resync.HeldSummary{},
		leases:   map[string]lease{},
		outbox:   map[tenantID]*note{},
	}
	return s
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

func (systemClock) NewTimer(d time.Duration) (<-chan time.Time, func() bool) {
	t := time.NewTimer(d)
	return t.C, t.Stop
}

func cloneRun(r resync.RunInfo) resync.RunInfo {
	r.Requesters = slices.Clone(r.Requesters)
	r.Connections = slices.Clone(r.Connections)
	r.NotifyErrors = slices.Clone(r.NotifyErrors)
	r.Findings = maps.Clone(r.Findings)
	r.Scope.Types = slices.Clone(r.Scope.Types)
	r.Scope.Providers = slices.Clone(r.Scope.Providers)
	r.Scope.ConnectionIDs = slices.Clone(r.Scope.ConnectionIDs)
	for i := range r.Connections {
		r.Connections[i].RejectedSamples = slices.Clone(r.Connections[i].RejectedSamples)
	}
	return r
}

// putRun stores r and keeps the index of live runs; s.mu is held.
func (s *Store) putRun(r resync.RunInfo) {
	byID := s.runs[r.Tenant]
	if byID == nil {
		byID = map[string]resync.RunInfo{}
		s.runs[r.Tenant] = byID
	}
	byID[r.ID] = cloneRun(r)
	k := tenantID{r.Tenant, r.ID}
	if r.Status == resync.RunPending || r.Status == resync.RunRunning {
		s.live[k] = struct{}{}
	} else {
		delete(s.live, k)
	}
}

// CreateRun implements storage.Store.
func (s *Store) CreateRun(ctx context.Context, r resync.RunInfo) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.runs[r.Tenant][r.ID]; ok {
		return fmt.Errorf("%w: the run exists", resync.ErrConflict)
	}
	s.putRun(r)
	return nil
}

// UpdateRun implements storage.Store.
func (s *Store) UpdateRun(ctx context.Context, r resync.RunInfo) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.runs[r.Tenant][r.ID]; !ok {
		return resync.ErrNotFound
	}
	s.putRun(r)
	return nil
}

// GetRun implements storage.Store.
func (s *Store) GetRun(ctx context.Context, tenant, id string) (resync.RunInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.runs[tenant][id]
	if !ok {
		return resync.RunInfo{}, resync.ErrNotFound
	}
	return cloneRun(r), nil
}

// RunStatus implements storage.RunStatusReader.
func (s *Store) RunStatus(ctx context.Context, tenant, id string) (resync.RunStatus, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.runs[tenant][id]
	if !ok {
		return "", resync.ErrNotFound
	}
	return r.Status, nil
}

// ListRuns implements storage.Store. It costs O(runs of the tenant).
func (s *Store) ListRuns(ctx context.Context, q resync.RunQuery) ([]resync.RunInfo, error) {
	limit := q.Limit
	s.mu.Lock()
	var out []resync.RunInfo
	for _, r := range s.runs[q.Tenant] {
		if (q.Trigger != "" && r.Trigger != q.Trigger) || (q.Status != "" && r.Status != q.Status) {
			continue
		}
		out = append(out, r)
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b resync.RunInfo) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return cmp.Compare(b.ID, a.ID)
	})
	if len(out) > limit {
		out = out[:limit]
	}
	for i := range out {
		out[i] = cloneRun(out[i])
	}
	return out, nil
}

// LiveRuns implements storage.Store. It costs O(live runs).
func (s *Store) LiveRuns(ctx context.Context) ([]resync.RunInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]resync.RunInfo, 0, len(s.live))
	for k := range s.live {
		out = append(out, cloneRun(s.runs[k.tenant][k.id]))
	}
	return out, nil
}

// Snapshot implements storage.Store.
func (s *Store) Snapshot(ctx context.Context, tenant, connectionID string, fn func(kind resync.RecordKind, key string, fingerprint, volatile uint64) error) (int64, error) {
	s.mu.Lock()
	c := s.conns[tenantID{tenant, connectionID}]
	if c == nil {
		s.mu.Unlock()
		return 0, nil
	}
	// Copy under the lock, call fn outside it.
	type entry struct {
		kind    resync.RecordKind
		key     string
		fp, vol uint64
	}
	entries := make([]entry, 0, c.records.len())
	for i := range c.records.recs {
		if r := &c.records.recs[i]; r.live() {
			entries = append(entries, entry{kindOf(r.key.kind), r.key.key, r.fp, r.vol})
		}
	}
	version := c.version
	s.mu.Unlock()
	for _, e := range entries {
		if err := fn(e.kind, e.key, e.fp, e.vol); err != nil {
			return 0, err
		}
	}
	return version, nil
}

// connection returns a connection's state, creating it empty; s.mu is held.
func (s *Store) connection(tenant, id string) *connection {
	k := tenantID{tenant, id}
	c := s.conns[k]
	if c == nil {
		c = &connection{records: newTable(), applied: map[string]struct{}{}}
		s.conns[k] = c
		if s.byTenant[tenant] == nil {
			s.byTenant[tenant] = map[string]*connection{}
		}
		s.byTenant[tenant][id] = c
	}
	return c
}

// Apply implements storage.Store.
func (s *Store) Apply(ctx context.Context, cs *resync.ChangeSet) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.apply(cs)
}

// apply is Apply; s.mu is held.
func (s *Store) apply(cs *resync.ChangeSet) error {
	c := s.connection(cs.Tenant, cs.ConnectionID)
	if _, done := c.applied[cs.ID]; done {
		return nil
	}
	if c.version != cs.BaseVersion {
		return fmt.Errorf("%w: the snapshot is at version %d, not %d", resync.ErrConflict, c.version, cs.BaseVersion)
	}
	st := &stamp{at: s.clock.Now(), run: cs.RunID}
	if len(cs.Changes) > math.MaxInt32 {
		return fmt.Errorf("%w: %d changes in one change set, more than %d", resync.ErrInvalidRequest, len(cs.Changes), math.MaxInt32)
	}
	batch := &logBatch{tenant: cs.Tenant, conn: cs.ConnectionID, run: cs.RunID, changeSet: cs.ID, at: st.at,
		seq0: s.seq + 1, size: len(cs.Changes)}
	log := s.log(cs.Tenant)
	adds := 0
	for i := range cs.Changes {
		if cs.Changes[i].Op == resync.OpAdd {
			adds++
		}
	}
	c.records.reserve(adds)
	people := s.people[cs.Tenant]
	for _, ch := range cs.Changes {
		rk := keyOf(ch.Kind, ch.Key)
		old := c.records.get(rk)
		exists := old != nil
		live := exists && old.live()
		var before resync.Record
		switch ch.Op {
		case resync.OpAdd, resync.OpUpdate:
			if live && ch.Op == resync.OpUpdate {
				before = old.rec // an add has none, even when it revives a tombstone
			}
			s.index(people, cs.ConnectionID, c, rk, exists, ch.Record)
			r := c.records.put(rk)
			r.rec, r.fp, r.vol, r.st = ch.Record, ch.Fingerprint, ch.Volatile, st
		case resync.OpRefresh:
			if live {
				s.index(people, cs.ConnectionID, c, rk, exists, ch.Record)
				old.rec, old.fp, old.vol = ch.Record, ch.Fingerprint, ch.Volatile
			}
			continue // no change-log entry
		case resync.OpRemove:
			if live {
				before = old.rec
				old.st = &stamp{at: old.st.at, run: old.st.run, removed: st}
			}
		default:
			if live {
				before = old.rec
			}
		}
		s.seq++
		e := log.next()
		e.batch, e.off, e.op, e.kind, e.key = batch, int32(s.seq-batch.seq0), opCode(ch.Op), rk.kind, ch.Key
		e.fp, e.prevFP, e.after = ch.Fingerprint, ch.PrevFingerprint, ch.Record
		e.setBefore(before)
	}
	c.version++
	c.applied[cs.ID] = struct{}{}
	if c.heldID != "" {
		delete(s.held, tenantID{cs.Tenant, c.heldID})
		c.heldID = ""
	}
	return nil
}

// log returns tenant's change log, made empty if it has none; s.mu is held.
func (s *Store) log(tenant string) *changeLog {
	l := s.changes[tenant]
	if l == nil {
		l = &changeLog{}
		s.changes[tenant] = l
	}
	return l
}

// Records implements storage.Store.
func (s *Store) Records(ctx context.Context, q resync.RecordQuery) ([]resync.StoredRecord, error) {
	s.mu.Lock()
	var out []resync.StoredRecord
	if c := s.conns[tenantID{q.Tenant, q.ConnectionID}]; c != nil {
		for i := range c.records.recs {
			r := &c.records.recs[i]
			if (q.Kind != "" && kindOf(r.key.kind) != q.Kind) || (!q.IncludeRemoved && !r.live()) {
				continue
			}
			out = append(out, r.stored())
		}
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b resync.StoredRecord) int {
		if c := cmp.Compare(storage.KindCode(a.Kind), storage.KindCode(b.Kind)); c != 0 {
			return c
		}
		return cmp.Compare(a.Key, b.Key)
	})
	return out, nil
}

// Changes implements storage.Store. It costs O(log n) to find the first
// entry after q.AfterSeq among the tenant's n, then O(entries scanned).
func (s *Store) Changes(ctx context.Context, q resync.ChangeQuery) ([]resync.ChangeLogEntry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []resync.ChangeLogEntry
	for e := range s.changes[q.Tenant].after(q.AfterSeq) {
		if !matchesChange(e, q) {
			continue
		}
		out = append(out, e.entry())
		if q.Limit > 0 && len(out) == q.Limit {
			break
		}
	}
	return out, nil
}

// matchesChange reports whether e passes q's filters (tenant and AfterSeq
// apart).
func matchesChange(e *logEntry, q resync.ChangeQuery) bool {
	return (q.ConnectionID == "" || e.batch.conn == q.ConnectionID) &&
		(q.RunID == "" || e.batch.run == q.RunID) &&
		(q.Key == "" || e.key == q.Key) &&
		(q.Kind == "" || kindOf(e.kind) == q.Kind) &&
		(q.Op == "" || opOf(e.op) == q.Op) &&
		(q.Since.IsZero() || !e.batch.at.Before(q.Since)) &&
		(q.Until.IsZero() || e.batch.at.Before(q.Until))
}

// target is a record of a tenant: connection, kind and key.
type target struct {
	conn string
	recKey
}

// Erase implements storage.Eraser.
func (s *Store) Erase(ctx context.Context, tenant, id, by string, match func(resync.Record) bool) ([]resync.ChangeLogEntry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	found := map[target]struct{}{}
	for k, c := range s.conns {
		if k.tenant != tenant {
			continue
		}
		for i := range c.records.recs {
			if r := &c.records.recs[i]; match(r.rec) {
				found[target{k.id, r.key}] = struct{}{}
			}
		}
	}
	log := s.changes[tenant]
	for e := range log.after(math.MinInt64) {
		if before := e.before(); e.key != storage.Redacted && ((before != nil && match(before)) || (e.after != nil && match(e.after))) {
			found[target{e.batch.conn, recKey{e.key, e.kind}}] = struct{}{}
		}
	}
	if len(found) == 0 {
		return nil, nil
	}
	for e := range log.after(math.MinInt64) {
		if _, ok := found[target{e.batch.conn, recKey{e.key, e.kind}}]; ok && e.key != storage.Redacted {
			e.key, e.fp, e.prevFP, e.after = storage.Redacted, 0, 0, nil
			e.setBefore(nil)
		}
	}
	targets := make([]target, 0, len(found))
	for t := range found {
		targets = append(targets, t)
	}
	slices.SortFunc(targets, func(a, b target) int {
		return cmp.Or(cmp.Compare(a.conn, b.conn), cmp.Compare(kindOf(a.kind), kindOf(b.kind)), cmp.Compare(a.key, b.key))
	})
	now := s.clock.Now()
	out := make([]resync.ChangeLogEntry, 0, len(targets))
	touched := map[string]bool{}
	var batch *logBatch
	accounts, people := map[linking.AccountRef]bool{}, map[string]bool{}
	for _, t := range targets {
		switch kindOf(t.kind) {
		case resync.KindAccount:
			accounts[linking.AccountRef{ConnectionID: t.conn, AccountKey: t.key}] = true
		case resync.KindIdentity:
			people[linking.IdentityRef(t.conn, t.key)] = true
		}
		if c := s.conns[tenantID{tenant, t.conn}]; c != nil {
			c.records.remove(t.recKey)
			if !touched[t.conn] {
				touched[t.conn] = true
				c.version++
				if c.heldID != "" {
					delete(s.held, tenantID{tenant, c.heldID})
					c.heldID = ""
				}
			}
		}
		if batch == nil || batch.conn != t.conn {
			batch = &logBatch{tenant: tenant, conn: t.conn, run: id, changeSet: id, at: now, by: by, seq0: s.seq + 1}
		}
		s.seq++
		e := logEntry{batch: batch, off: int32(s.seq - batch.seq0), op: opCode(resync.OpErase), kind: t.kind, key: storage.Redacted}
		s.log(tenant).add(e)
		out = append(out, e.entry())
	}
	s.links.erase(tenant, id, now, accounts, people)
	return out, nil
}

// DeleteTenant implements storage.Eraser.
func (s *Store) DeleteTenant(ctx context.Context, tenant string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.runs, tenant)
	delete(s.changes, tenant)
	delete(s.byTenant, tenant)
	delete(s.people, tenant)
	s.links.deleteTenant(tenant)
	for k := range s.live {
		if k.tenant == tenant {
			delete(s.live, k)
		}
	}
	for k := range s.conns {
		if k.tenant == tenant {
			delete(s.conns, k)
		}
	}
	for k := range s.held {
		if k.tenant == tenant {
			delete(s.held, k)
		}
	}
	for k := range s.decided {
		if k.tenant == tenant {
			delete(s.decided, k)
		}
	}
	for k := range s.outbox {
		if k.tenant == tenant {
			delete(s.outbox, k)
		}
	}
	return nil
}

// Prune implements storage.Eraser.
func (s *Store) Prune(ctx context.Context, tenant string, before time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, r := range s.runs[tenant] {
		if r.Status.Final() && r.CreatedAt.Before(before) {
			delete(s.runs[tenant], id)
		}
	}
	if l := s.changes[tenant]; l != nil {
		l.deleteFunc(func(e *logEntry) bool { return e.batch.at.Before(before) })
	}
	for k, n := range s.outbox {
		if k.tenant == tenant && n.state != statePending && n.doneAt.Before(before) {
			delete(s.outbox, k)
		}
	}
	s.links.prune(tenant, before)
	return nil
}

// Hold implements storage.Store.
func (s *Store) Hold(ctx context.Context, cs *resync.ChangeSet) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hold(cs)
	return nil
}

// hold is Hold; s.mu is held.
func (s *Store) hold(cs *resync.ChangeSet) {
	c := s.connection(cs.Tenant, cs.ConnectionID)
	if c.heldID != "" {
		delete(s.held, tenantID{cs.Tenant, c.heldID})
	}
	cp := *cs
	cp.Changes = slices.Clone(cs.Changes)
	s.held[tenantID{cs.Tenant, cs.ID}] = &cp
	c.heldID = cs.ID
}

// HeldChangeSets implements storage.Store.
func (s *Store) HeldChangeSets(ctx context.Context, tenant string) ([]resync.HeldSummary, error) {
	s.mu.Lock()
	var out []resync.HeldSummary
	for k, cs := range s.held {
		if k.tenant == tenant {
			out = append(out, storage.Summarize(cs))
		}
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b resync.HeldSummary) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return out, nil
}

// GetHeld implements storage.Store.
func (s *Store) GetHeld(ctx context.Context, tenant, id string) (*resync.ChangeSet, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cs := s.held[tenantID{tenant, id}]
	if cs == nil {
		return nil, resync.ErrNotFound
	}
	cp := *cs
	cp.Changes = slices.Clone(cs.Changes)
	return &cp, nil
}

// DiscardHeld implements storage.Store.
func (s *Store) DiscardHeld(ctx context.Context, tenant, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := tenantID{tenant, id}
	cs := s.held[k]
	if cs == nil {
		return resync.ErrNotFound
	}
	delete(s.held, k)
	if c := s.conns[tenantID{tenant, cs.ConnectionID}]; c != nil && c.heldID == id {
		c.heldID = ""
	}
	return nil
}

// DecideHeld implements storage.HeldDecider.
func (s *Store) DecideHeld(ctx context.Context, tenant, id string, d resync.Decision) (resync.HeldSummary, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.decideHeld(tenant, id, d)
}

// decideHeld is DecideHeld; s.mu is held.
func (s *Store) decideHeld(tenant, id string, d resync.Decision) (resync.HeldSummary, error) {
	k := tenantID{tenant, id}
	cs := s.held[k]
	if cs == nil {
		if _, ok := s.decided[k]; ok {
			return resync.HeldSummary{}, fmt.Errorf("%w: the change set was decided already", resync.ErrConflict)
		}
		return resync.HeldSummary{}, resync.ErrNotFound
	}
	if d.Kind == resync.ConnApplied {
		if err := s.apply(cs); err != nil {
			return resync.HeldSummary{}, err
		}
	}
	delete(s.held, k)
	if c := s.conns[tenantID{tenant, cs.ConnectionID}]; c != nil && c.heldID == id {
		c.heldID = ""
	}
	h := storage.Summarize(cs)
	h.Decision = d
	s.decided[k] = h
	return h, nil
}

// DecidedChangeSets implements storage.HeldDecider. It costs O(decided
// change sets of every tenant).
func (s *Store) DecidedChangeSets(ctx context.Context, tenant string, limit int) ([]resync.HeldSummary, error) {
	s.mu.Lock()
	var out []resync.HeldSummary
	for k, h := range s.decided {
		if k.tenant == tenant {
			out = append(out, h)
		}
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b resync.HeldSummary) int {
		if c := b.Decision.At.Compare(a.Decision.At); c != 0 {
			return c
		}
		return cmp.Compare(b.ID, a.ID)
	})
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// AcquireLease implements storage.Store.
func (s *Store) AcquireLease(ctx context.Context, name, owner string, ttl time.Duration) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	if l, ok := s.leases[name]; ok && l.owner != owner && now.Before(l.expires) {
		return false, nil
	}
	s.leases[name] = lease{owner: owner, expires: now.Add(ttl)}
	return true, nil
}

// ReleaseLease implements storage.Store.
func (s *Store) ReleaseLease(ctx context.Context, name, owner string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if l, ok := s.leases[name]; ok && l.owner == owner {
		delete(s.leases, name)
	}
	return nil
}

// index adds a record about to be stored to the connection's sorted keys
// (marking them unsorted if the key is new: not exists) and, if the
// tenant has one (people), to its person index; s.mu is held.
func (s *Store) index(people map[personTerm]map[recRef]struct{}, conn string, c *connection, rk recKey, exists bool, r resync.Record) {
	if !exists {
		if c.sorted != nil {
			c.sorted = append(c.sorted, rk)
		}
		c.unsorted = true
	}
	if people != nil {
		indexPerson(people, recRef{conn, rk}, r)
	}
}

// indexPerson adds a record to a tenant's person index.
func indexPerson(byTerm map[personTerm]map[recRef]struct{}, ref recRef, r resync.Record) {
	email, key, _ := storage.IndexFields(r)
	add := func(t personTerm) {
		refs := byTerm[t]
		if refs == nil {
			refs = map[recRef]struct{}{}
			byTerm[t] = refs
		}
		refs[ref] = struct{}{}
	}
	if email != "" {
		add(personTerm{true, email})
	}
	if key != "" {
		add(personTerm{false, key})
	}
}

// peopleOf returns the tenant's person index, building it from the
// tenant's records on first use; s.mu is held.
func (s *Store) peopleOf(tenant string) map[personTerm]map[recRef]struct{} {
	byTerm := s.people[tenant]
	if byTerm == nil {
		byTerm = map[personTerm]map[recRef]struct{}{}
		for id, c := range s.byTenant[tenant] {
			for i := range c.records.recs {
				r := &c.records.recs[i]
				indexPerson(byTerm, recRef{id, r.key}, r.rec)
			}
		}
		s.people[tenant] = byTerm
	}
	return byTerm
}

func compareKeys(a, b recKey) int {
	if c := cmp.Compare(a.kind, b.kind); c != 0 {
		return c
	}
	return cmp.Compare(a.key, b.key)
}

func compareRefs(a, b recRef) int {
	if c := cmp.Compare(a.conn, b.conn); c != 0 {
		return c
	}
	return compareKeys(a.recKey, b.recKey)
}

// keys returns the connection's record keys in search order; s.mu is held.
func (c *connection) keys() []recKey {
	if c.sorted == nil {
		c.sorted = make([]recKey, 0, c.records.len())
		for i := range c.records.recs {
			c.sorted = append(c.sorted, c.records.recs[i].key)
		}
		c.unsorted = true
	}
	if c.unsorted {
		slices.SortFunc(c.sorted, compareKeys)
		c.sorted = slices.CompactFunc(c.sorted, func(a, b recKey) bool { return a == b })
		c.unsorted = false
	}
	return c.sorted
}

// SearchRecords implements storage.RecordSearcher. A search by person
// (Email or IdentityKey) reads the candidates of a per-tenant index of
// emails and identity keys: it costs O(the person's records) (the
// tenant's first such search builds the index, in O(its records); Apply
// keeps it after). Other
// searches walk the tenant's connections in ID order and each
// connection's keys in (kind, key) order, kept sorted between applies,
// from the position after: they cost O(log n) to find the position plus
// the records passed over until the page is full, which is the page for
// a search by connection and kind, and more for a rare status.
func (s *Store) SearchRecords(ctx context.Context, q resync.RecordQuery, after resync.StoredRecord) ([]resync.StoredRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	match := func(r *record) bool {
		if (storage.KindCode(q.Kind) != 0 && kindOf(r.key.kind) != q.Kind) || (!q.IncludeRemoved && !r.live()) {
			return false
		}
		email, key, status := storage.IndexFields(r.rec)
		return (q.Email == "" || email == q.Email) && (q.IdentityKey == "" || key == q.IdentityKey) &&
			(q.Status == "" || status == q.Status)
	}
	// conn returns the tenant's connection id, if it is still stored.
	conn := func(id string) *connection {
		c := s.byTenant[q.Tenant][id]
		if c == nil || s.conns[tenantID{q.Tenant, id}] != c {
			return nil
		}
		return c
	}
	from := recRef{after.ConnectionID, keyOf(after.Kind, after.Key)}
	var out []resync.StoredRecord
	if q.Email != "" || q.IdentityKey != "" {
		term := personTerm{true, q.Email}
		if q.Email == "" {
			term = personTerm{false, q.IdentityKey}
		}
		var refs []recRef
		for ref := range s.peopleOf(q.Tenant)[term] {
			if (q.ConnectionID == "" || ref.conn == q.ConnectionID) && (after.ConnectionID == "" || compareRefs(ref, from) > 0) {
				refs = append(refs, ref)
			}
		}
		slices.SortFunc(refs, compareRefs)
		for _, ref := range refs {
			c := conn(ref.conn)
			if c == nil {
				continue
			}
			if r := c.records.get(ref.recKey); r != nil && match(r) {
				sr := r.stored()
				sr.ConnectionID = ref.conn
				out = append(out, sr)
				if len(out) == q.Limit {
					break
				}
			}
		}
		return out, nil
	}
	var ids []string
	if q.ConnectionID != "" {
		ids = []string{q.ConnectionID}
	} else {
		for id := range s.byTenant[q.Tenant] {
			ids = append(ids, id)
		}
		slices.Sort(ids)
	}
	for _, id := range ids {
		if id < after.ConnectionID {
			continue
		}
		c := conn(id)
		if c == nil {
			continue
		}
		keys := c.keys()
		start := 0
		if id == after.ConnectionID {
			start, _ = slices.BinarySearchFunc(keys, from.recKey, compareKeys)
			if start < len(keys) && keys[start] == from.recKey {
				start++
			}
		}
		if storage.KindCode(q.Kind) != 0 {
			first, _ := slices.BinarySearchFunc(keys, recKey{kind: kindCode(q.Kind)}, compareKeys)
			start = max(start, first)
		}
		for _, k := range keys[start:] {
			if storage.KindCode(q.Kind) != 0 && k.kind > kindCode(q.Kind) {
				break
			}
			if r := c.records.get(k); r != nil && match(r) {
				sr := r.stored()
				sr.ConnectionID = id
				out = append(out, sr)
				if len(out) == q.Limit {
					return out, nil
				}
			}
		}
	}
	return out, nil
}
