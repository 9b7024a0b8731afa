package resynctest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openresync/resync"
	"github.com/openresync/resync/linking"
	"github.com/openresync/resync/memstore"
	"github.com/openresync/resync/storage"
)

// These tests check the checks: each must pass on a correct store and fail,
// naming the rule, on a store that breaks it.

func storeCheckByName(t *testing.T, name string) storeCheck {
	t.Helper()
	i := slices.IndexFunc(storeChecks, func(c storeCheck) bool { return c.name == name })
	require.GreaterOrEqual(t, i, 0, "no check %q", name)
	return storeChecks[i]
}

func TestStoreChecksPassOnMemstore(t *testing.T) {
	names := map[string]bool{}
	for _, c := range storeChecks {
		require.False(t, names[c.name], "check %q listed twice", c.name)
		names[c.name] = true
		t.Run(c.name, func(t *testing.T) {
			assert.NoError(t, runStoreCheck(t.Context(), memstore.New(), c.fn))
		})
	}
}

func version(ctx context.Context, s resync.Store, tenant, conn string) int64 {
	v, _ := s.Snapshot(ctx, tenant, conn, func(resync.RecordKind, string, uint64, uint64) error { return nil })
	return v
}

// nonIdempotent re-applies a change set ID it has seen, at the current version.
type nonIdempotent struct {
	*memstore.Store
	mu   sync.Mutex
	seen map[string]int
}

func (s *nonIdempotent) Apply(ctx context.Context, cs *resync.ChangeSet) error {
	if cs == nil {
		return s.Store.Apply(ctx, cs)
	}
	s.mu.Lock()
	k := cs.Tenant + "\x00" + cs.ConnectionID + "\x00" + cs.ID
	n := s.seen[k]
	s.seen[k]++
	s.mu.Unlock()
	if n > 0 {
		cp := *cs
		cp.ID = fmt.Sprintf("%s#%d", cs.ID, n)
		cp.BaseVersion = version(ctx, s.Store, cs.Tenant, cs.ConnectionID)
		cs = &cp
	}
	return s.Store.Apply(ctx, cs)
}

// ignoresBase applies every change set at the current version.
type ignoresBase struct{ *memstore.Store }

func (s ignoresBase) Apply(ctx context.Context, cs *resync.ChangeSet) error {
	if cs != nil && cs.Tenant != "" {
		cp := *cs
		cp.BaseVersion = version(ctx, s.Store, cs.Tenant, cs.ConnectionID)
		cs = &cp
	}
	return s.Store.Apply(ctx, cs)
}

// leakyRecords answers Records for a connection ID from every tenant.
type leakyRecords struct {
	*memstore.Store
	mu      sync.Mutex
	tenants []string
}

func (s *leakyRecords) Apply(ctx context.Context, cs *resync.ChangeSet) error {
	if cs != nil {
		s.mu.Lock()
		if !slices.Contains(s.tenants, cs.Tenant) {
			s.tenants = append(s.tenants, cs.Tenant)
		}
		s.mu.Unlock()
	}
	return s.Store.Apply(ctx, cs)
}

func (s *leakyRecords) Records(ctx context.Context, q resync.RecordQuery) ([]resync.StoredRecord, error) {
	s.mu.Lock()
	tenants := slices.Clone(s.tenants)
	s.mu.Unlock()
	var out []resync.StoredRecord
	for _, t := range tenants {
		q.Tenant = t
		recs, err := s.Store.Records(ctx, q)
		if err != nil {
			return nil, err
		}
		out = append(out, recs...)
	}
	return out, nil
}

// liveByCreate lists the runs that were live when created, missing the
// status changes UpdateRun made since.
type liveByCreate struct {
	*memstore.Store
	mu   sync.Mutex
	runs []resync.RunInfo
}

func (s *liveByCreate) CreateRun(ctx context.Context, r resync.RunInfo) error {
	if !r.Status.Final() {
		s.mu.Lock()
		s.runs = append(s.runs, r)
		s.mu.Unlock()
	}
	return s.Store.CreateRun(ctx, r)
}

func (s *liveByCreate) LiveRuns(context.Context) ([]resync.RunInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.runs), nil
}

// liveTombstones lists tombstones in Snapshot.
type liveTombstones struct{ *memstore.Store }

func (s liveTombstones) Snapshot(ctx context.Context, tenant, conn string, fn func(kind resync.RecordKind, key string, fingerprint, volatile uint64) error) (int64, error) {
	v, err := s.Store.Snapshot(ctx, tenant, conn, fn)
	if err != nil {
		return v, err
	}
	recs, _ := s.Records(ctx, resync.RecordQuery{Tenant: tenant, ConnectionID: conn, IncludeRemoved: true})
	for _, r := range recs {
		if !r.RemovedAt.IsZero() {
			if err := fn(r.Kind, r.Key, r.Fingerprint, 0); err != nil {
				return 0, err
			}
		}
	}
	return v, nil
}

// hidesTombstones never returns tombstones, as if they were deleted.
type hidesTombstones struct{ *memstore.Store }

func (s hidesTombstones) Records(ctx context.Context, q resync.RecordQuery) ([]resync.StoredRecord, error) {
	q.IncludeRemoved = false
	return s.Store.Records(ctx, q)
}

// greedyLease grants every lease to everyone.
type greedyLease struct{ *memstore.Store }

func (greedyLease) AcquireLease(context.Context, string, string, time.Duration) (bool, error) {
	return true, nil
}

// oldestFirst lists runs in the wrong order.
type oldestFirst struct{ *memstore.Store }

func (s oldestFirst) ListRuns(ctx context.Context, q resync.RunQuery) ([]resync.RunInfo, error) {
	runs, err := s.Store.ListRuns(ctx, q)
	slices.Reverse(runs)
	return runs, err
}

// keepsHeld restores a connection's held change set after an apply.
type keepsHeld struct{ *memstore.Store }

func (s keepsHeld) Apply(ctx context.Context, cs *resync.ChangeSet) error {
	if cs == nil {
		return s.Store.Apply(ctx, cs)
	}
	var keep []*resync.ChangeSet
	list, _ := s.HeldChangeSets(ctx, cs.Tenant)
	for _, h := range list {
		if h.ConnectionID == cs.ConnectionID {
			if got, err := s.GetHeld(ctx, h.Tenant, h.ID); err == nil {
				keep = append(keep, got)
			}
		}
	}
	if err := s.Store.Apply(ctx, cs); err != nil {
		return err
	}
	for _, h := range keep {
		_ = s.Hold(ctx, h)
	}
	return nil
}

// ignoresAfterSeq does not page the change log.
type ignoresAfterSeq struct{ *memstore.Store }

func (s ignoresAfterSeq) Changes(ctx context.Context, q resync.ChangeQuery) ([]resync.ChangeLogEntry, error) {
	q.AfterSeq = 0
	return s.Store.Changes(ctx, q)
}

// partialApply applies the first change of a conflicting change set anyway.
type partialApply struct{ *memstore.Store }

func (s partialApply) Apply(ctx context.Context, cs *resync.ChangeSet) error {
	err := s.Store.Apply(ctx, cs)
	if err != nil && cs != nil && len(cs.Changes) > 1 {
		cp := *cs
		cp.ID += "-partial"
		cp.Changes = cs.Changes[:1]
		cp.BaseVersion = version(ctx, s.Store, cs.Tenant, cs.ConnectionID)
		_ = s.Store.Apply(ctx, &cp)
	}
	return err
}

// unsortedRecords returns records in key order, whatever their kind.
type unsortedRecords struct{ *memstore.Store }

func (s unsortedRecords) Records(ctx context.Context, q resync.RecordQuery) ([]resync.StoredRecord, error) {
	recs, err := s.Store.Records(ctx, q)
	slices.SortStableFunc(recs, func(a, b resync.StoredRecord) int {
		switch {
		case a.Key < b.Key:
			return -1
		case a.Key > b.Key:
			return 1
		}
		return 0
	})
	return recs, err
}

// heldLosesOrder returns held changes in reverse order.
type heldLosesOrder struct{ *memstore.Store }

func (s heldLosesOrder) GetHeld(ctx context.Context, tenant, id string) (*resync.ChangeSet, error) {
	cs, err := s.Store.GetHeld(ctx, tenant, id)
	if cs != nil {
		slices.Reverse(cs.Changes)
	}
	return cs, err
}

// noBefore logs no record before a change.
type noBefore struct{ *memstore.Store }

func (s noBefore) Changes(ctx context.Context, q resync.ChangeQuery) ([]resync.ChangeLogEntry, error) {
	log, err := s.Store.Changes(ctx, q)
	for i := range log {
		log[i].Before = nil
	}
	return log, err
}

// ignoresKey does not filter the change log by key.
type ignoresKey struct{ *memstore.Store }

func (s ignoresKey) Changes(ctx context.Context, q resync.ChangeQuery) ([]resync.ChangeLogEntry, error) {
	q.Key = ""
	return s.Store.Changes(ctx, q)
}

// eraseCurrentOnly tests only the stored records, not what the change log
// holds of them, and only records whose email is the one asked for now.
type eraseCurrentOnly struct{ *memstore.Store }

func (s eraseCurrentOnly) Erase(ctx context.Context, tenant, id, by string, match func(resync.Record) bool) ([]resync.ChangeLogEntry, error) {
	var conns []string
	for _, c := range []string{"c", "c1", "c2", "c3"} {
		recs, _ := s.Store.Records(ctx, resync.RecordQuery{Tenant: tenant, ConnectionID: c, IncludeRemoved: true})
		for _, r := range recs {
			if match(r.Record) {
				conns = append(conns, c+"/"+r.Key)
			}
		}
	}
	return s.Store.Erase(ctx, tenant, id, by, func(r resync.Record) bool {
		for _, k := range conns {
			if strings.HasSuffix(k, "/"+storage.KeyOf(r)) {
				return match(r)
			}
		}
		return false
	})
}

func TestStoreChecksCatchBrokenStores(t *testing.T) {
	cases := []struct {
		name  string
		store func() resync.Store
		check string
		rule  string // the start of the failure
	}{
		{"Apply not idempotent", func() resync.Store { return &nonIdempotent{Store: memstore.New(), seen: map[string]int{}} },
			"ApplyIdempotent", `Store.Apply contract (package storage; package resync, Guarantees: nothing lost, idempotent per change-set ID): re-applying change set "cs1" changed`},
		{"Apply ignoring BaseVersion", func() resync.Store { return ignoresBase{memstore.New()} },
			"ApplyBaseVersionConflict", "Store.Apply contract (package storage): Apply at base version 0 of a connection at version 1 returned <nil>, want an error wrapping ErrConflict"},
		{"Apply ignoring BaseVersion, concurrently", func() resync.Store { return ignoresBase{memstore.New()} },
			"ApplyConcurrentSameBase", "Store contract: safe for concurrent use (package storage): two change sets"},
		{"Records leaking another tenant", func() resync.Store { return &leakyRecords{Store: memstore.New()} },
			"TenantIsolation", "Store contract: tenant isolation (package storage): Records of tenant"},
		{"LiveRuns missing status updates", func() resync.Store { return &liveByCreate{Store: memstore.New()} },
			"LiveRuns", "Store.LiveRuns contract (package storage): LiveRuns returned [ends pending running], want [pending running starts]"},
		{"Snapshot listing tombstones", func() resync.Store { return liveTombstones{memstore.New()} },
			"SnapshotLiveEntries", "Store.Snapshot contract (package storage): Snapshot entries are"},
		{"tombstones deleted", func() resync.Store { return hidesTombstones{memstore.New()} },
			"ApplyTombstoneAndRevive", "Store.Apply contract (package storage; package resync, Guarantees: nothing lost, tombstones, never hard deletes): a removed record is gone"},
		{"lease granted to everyone", func() resync.Store { return greedyLease{memstore.New()} },
			"Lease", `Store.AcquireLease contract (package storage): AcquireLease(`},
		{"lease granted to everyone, concurrently", func() resync.Store { return greedyLease{memstore.New()} },
			"LeaseConcurrentAcquire", "Store contract: safe for concurrent use (package storage): 10 of 10 owners"},
		{"runs oldest first", func() resync.Store { return oldestFirst{memstore.New()} },
			"ListRuns", "Store.ListRuns contract (package storage): ListRuns("},
		{"Apply keeping the held change set", func() resync.Store { return keepsHeld{memstore.New()} },
			"ApplyDiscardsHeld", `Store.Apply contract (package storage): after an apply to connection "c1" its held change set "held-1" is still there`},
		{"Changes ignoring AfterSeq", func() resync.Store { return ignoresAfterSeq{memstore.New()} },
			"Changes", "Store.Changes contract (package storage; package resync, Guarantees: nothing lost, change log): Changes("},
		{"partial apply on conflict", func() resync.Store { return partialApply{memstore.New()} },
			"ApplyBaseVersionConflict", "Store.Apply contract (package storage; package resync, Guarantees: nothing lost, atomic apply): a change set refused with ErrConflict (base version 0) changed the version"},
		{"Records not ordered by kind", func() resync.Store { return unsortedRecords{memstore.New()} },
			"RecordsOrderAndFilters", "Store.Records contract (package storage): Records(Kind \"\", IncludeRemoved false) returned"},
		{"change log without the record before", func() resync.Store { return noBefore{memstore.New()} },
			"ChangesBeforeAfter", "Store.Apply contract: change-log entries carry the record before and after (package storage): entry"},
		{"Changes ignoring Key", func() resync.Store { return ignoresKey{memstore.New()} },
			"Changes", "Store.Changes contract (package storage; package resync, Guarantees: nothing lost, change log): Changes("},
		{"Erase blind to the change log", func() resync.Store { return eraseCurrentOnly{memstore.New()} },
			"EraseFindsPastVersions", "Eraser.Erase contract (package storage): erasing a person by an email only the change log still holds erased 0 records"},
		{"held changes reordered", func() resync.Store { return heldLosesOrder{memstore.New()} },
			"HoldRoundTrip", "Store.GetHeld contract (package storage): the held change set does not round-trip: change 0"},
		{"a decided set decided again", func() resync.Store { return redecides{memstore.New()} },
			"DecideHeldOnce", "HeldDecider.DecideHeld contract (package storage): a second decision (applied) on a decided change set returned <nil>, want ErrConflict"},
		{"a decided set decided again, concurrently", func() resync.Store { return redecides{memstore.New()} },
			"DecideHeldConcurrent", "Store contract: safe for concurrent use (package storage): two concurrent decisions on one held change set both succeeded"},
		{"an approval that applies nothing", func() resync.Store { return approvesWithoutApplying{memstore.New()} },
			"DecideHeldApply", "HeldDecider.DecideHeld contract (package storage): after an approval the version is 1, want 2"},
		{"claims ignoring leases", func() resync.Store { return greedyClaims{memstore.New()} },
			"OutboxClaimLease", "Outbox.ClaimNotifications contract (package storage): another owner's claim returned [n00 n01 n02], want [n02]"},
		{"notifications not written with the run", func() resync.Store { return dropsNotes{memstore.New()} },
			"OutboxEnqueue", "Outbox contract: notifications written with the state change (package storage): claimed [n1 n5 n6], want [n1 n3 n5 n6]"},
		{"a give-up not recorded on the run", func() resync.Store { return silentGiveUp{memstore.New()} },
			"OutboxSettle", "Outbox.SettleNotification contract (package storage): after a give-up the run's NotifyErrors are []"},
		{"a notification log that ignores afterSeq", func() resync.Store { return logFromStart{memstore.New()} },
			"OutboxNotificationLog", "NotificationLog.Notifications contract (package storage): after the second, two: listed [n00 n01], want [n02 n03]"},
		{"an erasure that forgets the link data", func() resync.Store { return separateLinks{memstore.New(), memstore.New()} },
			"LinkStoreErase", "Eraser.Erase contract: link data (package storage): after erasing Alice, the tenant's links are"},
		{"a prune that keeps closed findings", func() resync.Store { return separateLinks{memstore.New(), memstore.New()} },
			"LinkStorePrune", "Eraser.Prune contract: findings (package storage): after Prune at +2h the findings are"},
		{"a decision that loses its reason", func() resync.Store { return forgetsReason{memstore.New()} },
			"DecideHeldReject", "HeldDecider.DecideHeld contract (package storage): DecideHeld returned a summary that is not the set's with the decision: decision: got"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := runStoreCheck(t.Context(), c.store(), storeCheckByName(t, c.check).fn)
			require.Error(t, err, "check %s passed a broken store", c.check)
			assert.Contains(t, err.Error(), c.rule)
			t.Log(err)
		})
	}
}

// connFunc adapts a function to resync.Connector.
type connFunc func(ctx context.Context, cursor string) (resync.Page, error)

func (f connFunc) ReadPage(ctx context.Context, cursor string) (resync.Page, error) {
	return f(ctx, cursor)
}

func connectorCheckByName(t *testing.T, name string) connectorCheck {
	t.Helper()
	i := slices.IndexFunc(connectorChecks, func(c connectorCheck) bool { return c.name == name })
	require.GreaterOrEqual(t, i, 0, "no check %q", name)
	return connectorChecks[i]
}

// pagedConnector serves pages built by page(i) for cursors "0", "1", ...
// ("" is page 0), with n pages.
func pagedConnector(n int, page func(i int) []resync.Record) connFunc {
	return func(ctx context.Context, cursor string) (resync.Page, error) {
		if err := ctx.Err(); err != nil {
			return resync.Page{}, err
		}
		i := 0
		if cursor != "" {
			i, _ = strconv.Atoi(cursor)
		}
		p := resync.Page{Records: page(i)}
		if i < n-1 {
			p.Next = strconv.Itoa(i + 1)
		}
		return p, nil
	}
}

func ids(prefix string, n int) []resync.Record { return Identities(prefix, n) }

func TestConnectorChecksCatchBrokenConnectors(t *testing.T) {
	good := func() resync.Connector { return NewConnector(Identities("u", 30), 7) }
	for _, c := range connectorChecks {
		require.NoError(t, c.fn(t.Context(), good(), ConnectorOptions{WantRecords: 30}.withDefaults()), c.name)
	}
	var reads atomic.Int64
	cases := []struct {
		name  string
		conn  func() resync.Connector
		opts  ConnectorOptions
		check string
		rule  string
	}{
		{"cursor loop", func() resync.Connector {
			return connFunc(func(context.Context, string) (resync.Page, error) {
				return resync.Page{Next: "again"}, nil
			})
		}, ConnectorOptions{}, "FullRead", `Connector contract: a full read ends (connector.go (ConnectorOptions.MaxPages)): page 1 returned Next "again"`},
		{"endless paging", func() resync.Connector { return pagedConnector(1<<30, func(int) []resync.Record { return nil }) },
			ConnectorOptions{MaxPages: 50}, "FullRead", "Connector contract: a full read ends (connector.go (ConnectorOptions.MaxPages)): a read from cursor \"\" still had a Next cursor (\"50\") after 50 pages"},
		{"duplicate keys across pages", func() resync.Connector {
			return pagedConnector(3, func(i int) []resync.Record { return ids("u", 2+i) })
		}, ConnectorOptions{}, "FullRead", `Connector contract: keys unique per kind within one full read (connector.go): identity "u0" appears twice`},
		{"invalid record", func() resync.Connector {
			return pagedConnector(2, func(i int) []resync.Record {
				return []resync.Record{&resync.Identity{Key: "k" + strconv.Itoa(i), Status: "gone"}}
			})
		}, ConnectorOptions{}, "FullRead", "Connector contract: records pass ValidateRecord (connector.go, record.go; package resync, Guarantees: bad input): page 0"},
		{"invalid UTF-8 key", func() resync.Connector {
			return pagedConnector(1, func(int) []resync.Record {
				return []resync.Record{&resync.Account{Key: "\xff", Status: resync.StatusActive}}
			})
		}, ConnectorOptions{}, "FullRead", "records pass ValidateRecord"},
		{"oversized field under custom limits", func() resync.Connector { return NewConnector(Identities("u", 3), 0) },
			ConnectorOptions{Limits: resync.Limits{MaxFieldBytes: 4}}, "FullRead", "records pass ValidateRecord"},
		{"wrong count", func() resync.Connector { return NewConnector(Identities("u", 3), 2) },
			ConnectorOptions{WantRecords: 4}, "FullRead", "ConnectorOptions.WantRecords (connectortest.go): a full read returned 3 records, want 4"},
		{"pages change when read again", func() resync.Connector {
			return pagedConnector(3, func(i int) []resync.Record {
				return ids("u"+strconv.Itoa(i)+"-"+strconv.FormatInt(reads.Add(1), 10)+"-", 2)
			})
		}, ConnectorOptions{}, "RepeatCursor", "Connector contract: ReadPage with the same cursor is safe to repeat (connector.go): reading page 2 (cursor \"2\") again returned 2 records (want 2): 2 missing"},
		{"data changes between reads", func() resync.Connector {
			fake := NewConnector(Identities("u", 4), 2)
			fake.OnRead(func(page int) {
				if page == 1 {
					fake.SetRecords(Identities("v", 4), 2)
				}
			})
			return fake
		}, ConnectorOptions{}, "SecondRead", "Connector contract: records of the connection's current state (connector.go (the data must not change during the suite)): a second full read returned 4 records (want 4): 4 missing [\"identity/u0\""},
		{"ignores its context", func() resync.Connector {
			return connFunc(func(context.Context, string) (resync.Page, error) { return resync.Page{}, nil })
		}, ConnectorOptions{}, "CanceledContext", "Connector contract: honour ctx (connector.go): ReadPage with a canceled context returned a page and no error"},
		{"canceled but not ctx.Err", func() resync.Connector {
			return connFunc(func(ctx context.Context, _ string) (resync.Page, error) {
				if ctx.Err() != nil {
					return resync.Page{}, errors.New("request aborted")
				}
				return resync.Page{}, nil
			})
		}, ConnectorOptions{}, "CanceledContext", "want an error wrapping context.Canceled"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := connectorCheckByName(t, c.check).fn(t.Context(), c.conn(), c.opts.withDefaults())
			require.Error(t, err, "check %s passed a broken connector", c.check)
			assert.Contains(t, err.Error(), c.rule)
			t.Log(err)
		})
	}
}

// countingNotifier counts deliveries; its faults are scripted by fields.
type countingNotifier struct {
	mu          sync.Mutex
	delivered   int
	ignoreCtx   bool // delivers even with a canceled context
	lateCtx     bool // delivers, then reports the canceled context
	dropEvery   int  // returns nil without delivering every n-th call
	failChannel resync.Channel
	calls       int
}

func (n *countingNotifier) Notify(ctx context.Context, msg resync.Notification) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.calls++
	if msg.Channel == n.failChannel {
		return errors.New("channel not configured")
	}
	if ctx.Err() != nil && !n.ignoreCtx && !n.lateCtx {
		return ctx.Err()
	}
	if n.dropEvery > 0 && n.calls%n.dropEvery == 0 {
		return nil
	}
	n.delivered++
	if n.lateCtx {
		return ctx.Err()
	}
	return nil
}

func (n *countingNotifier) count() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.delivered
}

func TestNotifierChecksCatchBrokenNotifiers(t *testing.T) {
	run := func(name string, n *countingNotifier, channels []resync.Channel) error {
		i := slices.IndexFunc(notifierChecks, func(c notifierCheck) bool { return c.name == name })
		require.GreaterOrEqual(t, i, 0, name)
		return notifierChecks[i].fn(t.Context(), &notifierEnv{n: n, channels: channels, delivered: n.count})
	}
	for _, c := range notifierChecks {
		require.NoError(t, run(c.name, &countingNotifier{}, nil), c.name)
	}
	// A notifier serving only in-app notifications may accept emails and drop them.
	inApp := []resync.Channel{resync.ChannelInApp}
	require.NoError(t, run("EveryKindAndChannel", &countingNotifier{dropEvery: 2}, inApp))

	cases := []struct {
		name     string
		n        *countingNotifier
		channels []resync.Channel
		check    string
		rule     string
	}{
		{"fails a channel", &countingNotifier{failChannel: resync.ChannelEmail}, nil, "EveryKindAndChannel",
			"Notifier contract: Notify delivers n on n.Channel or returns an error (notify.go): Notify of a run_started notification on channel email returned channel not configured, want nil"},
		{"loses deliveries", &countingNotifier{dropEvery: 3}, nil, "EveryKindAndChannel",
			"Notifier contract: Notify delivers n, or returns an error (notify.go (NotifierOptions.Delivered)): after one notification of every kind on every channel, Delivered reports 6 deliveries, want 8"},
		{"loses deliveries under load", &countingNotifier{dropEvery: 7}, nil, "Concurrent",
			"after 80 concurrent Notify calls, Delivered reports 69 deliveries, want 80"},
		{"ignores its context", &countingNotifier{ignoreCtx: true}, nil, "CanceledContext",
			"Notifier contract: it must honour ctx (notify.go): Notify of a run_started notification on channel in_app with a canceled context returned nil"},
		{"delivers then reports the canceled context", &countingNotifier{lateCtx: true}, nil, "CanceledContext",
			"Delivered reports 8 deliveries, want 0"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := run(c.check, c.n, c.channels)
			require.Error(t, err, "check %s passed a broken notifier", c.check)
			assert.Contains(t, err.Error(), c.rule)
			t.Log(err)
		})
	}
}

// staleVersion reads the snapshot's entries and its version apart, as if
// an apply had landed between the two reads: it returns the version before
// the entries' one.
type staleVersion struct{ *memstore.Store }

func (s staleVersion) Snapshot(ctx context.Context, tenant, conn string, fn func(kind resync.RecordKind, key string, fingerprint, volatile uint64) error) (int64, error) {
	v, err := s.Store.Snapshot(ctx, tenant, conn, fn)
	if err != nil || v == 0 {
		return v, err
	}
	return v - 1, nil
}

func TestSnapshotConsistencyCheck(t *testing.T) {
	err := runStoreCheck(t.Context(), staleVersion{memstore.New()}, storeCheckByName(t, "SnapshotConsistentWithVersion").fn)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "Store.Snapshot contract (package storage): Snapshot during applies returned version")
}

// renewKeepsTTL renews a lease without extending it.
type renewKeepsTTL struct {
	*memstore.Store
	mu   sync.Mutex
	held map[string]string
}

func (s *renewKeepsTTL) AcquireLease(ctx context.Context, name, owner string, ttl time.Duration) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.held[name] == owner {
		return true, nil
	}
	ok, err := s.Store.AcquireLease(ctx, name, owner, ttl)
	if ok {
		s.held[name] = owner
	}
	return ok, err
}

func TestLeaseRenewCheck(t *testing.T) {
	err := runStoreCheck(t.Context(), &renewKeepsTTL{Store: memstore.New(), held: map[string]string{}}, storeCheckByName(t, "LeaseRenewExtends").fn)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "Store.AcquireLease contract (package storage): another owner took a lease 200ms after it was renewed")
}

// redecides lets a decided change set be decided again.
type redecides struct{ *memstore.Store }

func (s redecides) DecideHeld(ctx context.Context, tenant, id string, d resync.Decision) (resync.HeldSummary, error) {
	h, err := s.Store.DecideHeld(ctx, tenant, id, d)
	if errors.Is(err, resync.ErrConflict) {
		return resync.HeldSummary{ID: id, Tenant: tenant, Decision: d}, nil
	}
	return h, err
}

// approvesWithoutApplying records an approval and applies nothing.
type approvesWithoutApplying struct{ *memstore.Store }

func (s approvesWithoutApplying) DecideHeld(ctx context.Context, tenant, id string, d resync.Decision) (resync.HeldSummary, error) {
	r := d
	r.Kind = resync.ConnRejected
	h, err := s.Store.DecideHeld(ctx, tenant, id, r)
	h.Decision = d
	return h, err
}

// forgetsReason drops the decision's reason.
type forgetsReason struct{ *memstore.Store }

func (s forgetsReason) DecideHeld(ctx context.Context, tenant, id string, d resync.Decision) (resync.HeldSummary, error) {
	d.Reason = ""
	return s.Store.DecideHeld(ctx, tenant, id, d)
}

// greedyClaims claims notifications leased to others.
type greedyClaims struct{ *memstore.Store }

func (s greedyClaims) ClaimNotifications(ctx context.Context, owner string, lease time.Duration, limit int) ([]resync.Notification, error) {
	return s.Store.ClaimNotifications(ctx, owner, 0, limit)
}

// dropsNotes updates a run without enqueuing its notifications.
type dropsNotes struct{ *memstore.Store }

func (s dropsNotes) UpdateRunNotify(ctx context.Context, r resync.RunInfo, ns []resync.Notification) error {
	return s.Store.UpdateRun(ctx, r)
}

// logFromStart lists a tenant's notifications from the first, whatever the
// caller has seen.
type logFromStart struct{ *memstore.Store }

func (s logFromStart) Notifications(ctx context.Context, tenant string, afterSeq int64, limit int) ([]resync.Notification, error) {
	return s.Store.Notifications(ctx, tenant, min(afterSeq, 0), limit)
}

// silentGiveUp gives up on a notification without telling the run.
type silentGiveUp struct{ *memstore.Store }

func (s silentGiveUp) SettleNotification(ctx context.Context, tenant, id, owner string, retryAfter time.Duration, lastErr string) error {
	if lastErr != "" && retryAfter <= 0 {
		retryAfter = 1000 * time.Hour
	}
	return s.Store.SettleNotification(ctx, tenant, id, owner, retryAfter, lastErr)
}

// A store without the HeldDecider, Outbox and LinkStore capabilities
// skips their checks.
func TestDecideChecksSkipWithoutCapability(t *testing.T) {
	var plain struct{ resync.Store }
	plain.Store = memstore.New()
	for _, c := range storeChecks {
		err := runStoreCheck(t.Context(), plain, c.fn)
		if strings.HasPrefix(c.name, "Decide") || strings.HasPrefix(c.name, "Outbox") || strings.HasPrefix(c.name, "LinkStore") || strings.HasPrefix(c.name, "RunStatusReader") {
			assert.ErrorIs(t, err, errSkipCheck, c.name)
		} else {
			assert.NoError(t, err, c.name)
		}
	}
}

// separateLinks keeps its link data in a store of its own, which Erase
// and Prune do not reach.
type separateLinks struct {
	*memstore.Store
	links *memstore.Store
}

func (s separateLinks) WriteLinks(ctx context.Context, w linking.Write) ([]linking.Finding, error) {
	return s.links.WriteLinks(ctx, w)
}

func (s separateLinks) Links(ctx context.Context, q linking.LinkQuery) ([]linking.Link, error) {
	return s.links.Links(ctx, q)
}

func (s separateLinks) Findings(ctx context.Context, q linking.FindingQuery) ([]linking.Finding, error) {
	return s.links.Findings(ctx, q)
}

func (s separateLinks) AddLinkDecision(ctx context.Context, d linking.Decision) (int64, error) {
	return s.links.AddLinkDecision(ctx, d)
}

func (s separateLinks) LinkDecisions(ctx context.Context, q linking.DecisionQuery) ([]linking.Decision, error) {
	return s.links.LinkDecisions(ctx, q)
}
