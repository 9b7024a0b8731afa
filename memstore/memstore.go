// Package memstore is an in-memory resync.Store: the default for tests,
// examples and single-process tools. It implements the whole Store
// contract (it passes resynctest.TestStore) and is safe for concurrent use,
// but keeps nothing across restarts; use stores/sqlite or stores/postgres
// for that.
//
// Records are kept as the values connectors returned; callers must not
// modify a record after handing it over, nor modify records they read back.
package memstore

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/openresync/resync"
)

// Store is the in-memory resync.Store. The zero value is not usable; call New.
type Store struct {
	mu      sync.Mutex
	now     func() time.Time
	runs    map[string]map[string]resync.RunInfo // tenant -> run ID -> run
	live    map[tenantID]struct{}                // pending and running runs
	conns   map[tenantID]*connection
	changes []resync.ChangeLogEntry
	seq     int64
	held    map[tenantID]*resync.ChangeSet // by tenant + held ID
	leases  map[string]lease
}

type tenantID struct{ tenant, id string }

type lease struct {
	owner   string
	expires time.Time
}

type recKey struct {
	kind resync.RecordKind
	key  string
}

type connection struct {
	version int64
	records map[recKey]*resync.StoredRecord
	applied map[string]struct{} // change set IDs
	heldID  string
}

var _ resync.Store = (*Store)(nil)

// Option configures a Store.
type Option func(*Store)

// WithClock sets the clock used for timestamps and lease expiry (default time.Now).
func WithClock(now func() time.Time) Option { return func(s *Store) { s.now = now } }

// New returns an empty Store.
func New(opts ...Option) *Store {
	s := &Store{
		now:    time.Now,
		runs:   map[string]map[string]resync.RunInfo{},
		live:   map[tenantID]struct{}{},
		conns:  map[tenantID]*connection{},
		held:   map[tenantID]*resync.ChangeSet{},
		leases: map[string]lease{},
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

func cloneRun(r resync.RunInfo) resync.RunInfo {
	r.Requesters = slices.Clone(r.Requesters)
	r.Connections = slices.Clone(r.Connections)
	r.NotifyErrors = slices.Clone(r.NotifyErrors)
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

// CreateRun implements resync.RunStore.
func (s *Store) CreateRun(ctx context.Context, r resync.RunInfo) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := resync.ValidateRun(r); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.runs[r.Tenant][r.ID]; ok {
		return fmt.Errorf("%w: run %q of tenant %q exists", resync.ErrConflict, r.ID, r.Tenant)
	}
	s.putRun(r)
	return nil
}

// UpdateRun implements resync.RunStore.
func (s *Store) UpdateRun(ctx context.Context, r resync.RunInfo) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := resync.ValidateRun(r); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.runs[r.Tenant][r.ID]; !ok {
		return fmt.Errorf("%w: run %q of tenant %q", resync.ErrNotFound, r.ID, r.Tenant)
	}
	s.putRun(r)
	return nil
}

// GetRun implements resync.RunStore.
func (s *Store) GetRun(ctx context.Context, tenant, id string) (resync.RunInfo, error) {
	if err := ctx.Err(); err != nil {
		return resync.RunInfo{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.runs[tenant][id]
	if !ok {
		return resync.RunInfo{}, fmt.Errorf("%w: run %q of tenant %q", resync.ErrNotFound, id, tenant)
	}
	return cloneRun(r), nil
}

// ListRuns implements resync.RunStore. It costs O(runs of the tenant).
func (s *Store) ListRuns(ctx context.Context, q resync.RunQuery) ([]resync.RunInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	q, err := q.Normalize()
	if err != nil {
		return nil, err
	}
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

// RecoverRuns implements resync.RunStore. It costs O(live runs).
func (s *Store) RecoverRuns(ctx context.Context) ([]resync.RunInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	var out []resync.RunInfo
	for k := range s.live {
		r := s.runs[k.tenant][k.id]
		if l, ok := s.leases[resync.InstanceLease(r.Owner)]; ok && l.owner == r.Owner && now.Before(l.expires) {
			continue
		}
		r = cloneRun(r)
		r.Status = resync.RunInterrupted
		r.FinishedAt = now
		for i := range r.Connections {
			c := &r.Connections[i]
			if c.Status == resync.ConnPending || c.Status == resync.ConnRunning {
				c.Status = resync.ConnFailed
				c.Error = "interrupted: the engine instance carrying out the run stopped"
			}
		}
		s.putRun(r)
		out = append(out, cloneRun(r))
	}
	return out, nil
}

// Snapshot implements resync.SnapshotStore.
func (s *Store) Snapshot(ctx context.Context, tenant, connectionID string, fn func(resync.SnapshotEntry) error) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.mu.Lock()
	c := s.conns[tenantID{tenant, connectionID}]
	if c == nil {
		s.mu.Unlock()
		return 0, nil
	}
	// Copy under the lock, call fn outside it.
	entries := make([]resync.SnapshotEntry, 0, len(c.records))
	for _, r := range c.records {
		if r.RemovedAt.IsZero() {
			entries = append(entries, resync.SnapshotEntry{Kind: r.Kind, Key: r.Key, Fingerprint: r.Fingerprint, Volatile: r.Volatile})
		}
	}
	version := c.version
	s.mu.Unlock()
	for _, e := range entries {
		if err := fn(e); err != nil {
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
		c = &connection{records: map[recKey]*resync.StoredRecord{}, applied: map[string]struct{}{}}
		s.conns[k] = c
	}
	return c
}

// Apply implements resync.SnapshotStore.
func (s *Store) Apply(ctx context.Context, cs *resync.ChangeSet) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := resync.ValidateChangeSet(cs); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.connection(cs.Tenant, cs.ConnectionID)
	if _, done := c.applied[cs.ID]; done {
		return nil
	}
	if c.version != cs.BaseVersion {
		return fmt.Errorf("%w: connection %q of tenant %q is at version %d, change set %q was computed at %d",
			resync.ErrConflict, cs.ConnectionID, cs.Tenant, c.version, cs.ID, cs.BaseVersion)
	}
	now := s.now()
	for _, ch := range cs.Changes {
		rk := recKey{ch.Kind, ch.Key}
		switch ch.Op {
		case resync.OpAdd, resync.OpUpdate:
			c.records[rk] = &resync.StoredRecord{Kind: ch.Kind, Key: ch.Key, Fingerprint: ch.Fingerprint,
				Volatile: ch.Volatile, Record: ch.Record, UpdatedAt: now, UpdatedBy: cs.RunID}
		case resync.OpRefresh:
			if old := c.records[rk]; old != nil && old.RemovedAt.IsZero() {
				cur := *old
				cur.Record, cur.Fingerprint, cur.Volatile = ch.Record, ch.Fingerprint, ch.Volatile
				c.records[rk] = &cur
			}
			continue // no change-log entry
		case resync.OpRemove:
			if old := c.records[rk]; old != nil && old.RemovedAt.IsZero() {
				tomb := *old
				tomb.RemovedAt, tomb.RemovedBy = now, cs.RunID
				c.records[rk] = &tomb
			}
		}
		s.seq++
		s.changes = append(s.changes, resync.ChangeLogEntry{
			Seq: s.seq, Tenant: cs.Tenant, ConnectionID: cs.ConnectionID, RunID: cs.RunID, ChangeSetID: cs.ID,
			Op: ch.Op, Kind: ch.Kind, Key: ch.Key, Fingerprint: ch.Fingerprint, PrevFingerprint: ch.PrevFingerprint, At: now,
		})
	}
	c.version++
	c.applied[cs.ID] = struct{}{}
	if c.heldID != "" {
		delete(s.held, tenantID{cs.Tenant, c.heldID})
		c.heldID = ""
	}
	return nil
}

// Records implements resync.SnapshotStore.
func (s *Store) Records(ctx context.Context, q resync.RecordQuery) ([]resync.StoredRecord, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := q.Validate(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	var out []resync.StoredRecord
	if c := s.conns[tenantID{q.Tenant, q.ConnectionID}]; c != nil {
		for _, r := range c.records {
			if (q.Kind != 0 && r.Kind != q.Kind) || (!q.IncludeRemoved && !r.RemovedAt.IsZero()) {
				continue
			}
			out = append(out, *r)
		}
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b resync.StoredRecord) int {
		if c := cmp.Compare(a.Kind, b.Kind); c != 0 {
			return c
		}
		return cmp.Compare(a.Key, b.Key)
	})
	return out, nil
}

// Changes implements resync.SnapshotStore.
func (s *Store) Changes(ctx context.Context, q resync.ChangeQuery) ([]resync.ChangeLogEntry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := q.Validate(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []resync.ChangeLogEntry
	for _, e := range s.changes {
		if e.Seq <= q.AfterSeq || e.Tenant != q.Tenant ||
			(q.ConnectionID != "" && e.ConnectionID != q.ConnectionID) || (q.RunID != "" && e.RunID != q.RunID) {
			continue
		}
		out = append(out, e)
		if q.Limit > 0 && len(out) == q.Limit {
			break
		}
	}
	return out, nil
}

// Hold implements resync.HoldStore.
func (s *Store) Hold(ctx context.Context, cs *resync.ChangeSet) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := resync.ValidateChangeSet(cs); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.connection(cs.Tenant, cs.ConnectionID)
	if c.heldID != "" {
		delete(s.held, tenantID{cs.Tenant, c.heldID})
	}
	cp := *cs
	cp.Changes = slices.Clone(cs.Changes)
	s.held[tenantID{cs.Tenant, cs.ID}] = &cp
	c.heldID = cs.ID
	return nil
}

// HeldChangeSets implements resync.HoldStore.
func (s *Store) HeldChangeSets(ctx context.Context, tenant string) ([]resync.HeldSummary, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	var out []resync.HeldSummary
	for k, cs := range s.held {
		if k.tenant == tenant {
			out = append(out, cs.Summary())
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

// GetHeld implements resync.HoldStore.
func (s *Store) GetHeld(ctx context.Context, tenant, id string) (*resync.ChangeSet, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cs := s.held[tenantID{tenant, id}]
	if cs == nil {
		return nil, fmt.Errorf("%w: held change set %q of tenant %q", resync.ErrNotFound, id, tenant)
	}
	cp := *cs
	cp.Changes = slices.Clone(cs.Changes)
	return &cp, nil
}

// DiscardHeld implements resync.HoldStore.
func (s *Store) DiscardHeld(ctx context.Context, tenant, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k := tenantID{tenant, id}
	cs := s.held[k]
	if cs == nil {
		return fmt.Errorf("%w: held change set %q of tenant %q", resync.ErrNotFound, id, tenant)
	}
	delete(s.held, k)
	if c := s.conns[tenantID{tenant, cs.ConnectionID}]; c != nil && c.heldID == id {
		c.heldID = ""
	}
	return nil
}

// AcquireLease implements resync.LeaseStore.
func (s *Store) AcquireLease(ctx context.Context, name, owner string, ttl time.Duration) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	if name == "" || owner == "" || ttl <= 0 {
		return false, fmt.Errorf("%w: lease needs a name, an owner and a positive TTL", resync.ErrInvalidRequest)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if l, ok := s.leases[name]; ok && l.owner != owner && now.Before(l.expires) {
		return false, nil
	}
	s.leases[name] = lease{owner: owner, expires: now.Add(ttl)}
	return true, nil
}

// ReleaseLease implements resync.LeaseStore.
func (s *Store) ReleaseLease(ctx context.Context, name, owner string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if l, ok := s.leases[name]; ok && l.owner == owner {
		delete(s.leases, name)
	}
	return nil
}
