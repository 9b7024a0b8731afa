package storage

import (
	"context"
	"time"

	"github.com/openresync/resync"
)

// Store keeps an Engine's state: runs, snapshots (with tombstones), the
// change log, change sets held by the delete guard, and leases. The
// package doc says what the engine guarantees before each call and what a
// Store must do in general; each method below says what it must do in
// particular.
//
// resync.Store has the same method set: a value of one type is a value of
// the other.
type Store interface {
	// CreateRun stores a new run. A run with the same tenant and ID
	// already stored is an error wrapping resync.ErrConflict.
	CreateRun(ctx context.Context, run resync.RunInfo) error
	// UpdateRun replaces a stored run (same tenant and ID); an error
	// wrapping resync.ErrNotFound if the tenant has no such run.
	UpdateRun(ctx context.Context, run resync.RunInfo) error
	// GetRun returns a run of the tenant; an error wrapping
	// resync.ErrNotFound if the tenant has no such run.
	GetRun(ctx context.Context, tenant, id string) (resync.RunInfo, error)
	// ListRuns returns the tenant's runs matching q (a zero Trigger or
	// Status does not filter), newest (CreatedAt, then ID) first, at most
	// q.Limit of them. q.Limit is always positive.
	ListRuns(ctx context.Context, q resync.RunQuery) ([]resync.RunInfo, error)
	// LiveRuns returns every pending or running run, of any tenant, in any
	// order. The engine calls it when it starts and now and then after,
	// to mark the runs of dead engine instances interrupted; a store keeps
	// it cheap with an index on the status.
	LiveRuns(ctx context.Context) ([]resync.RunInfo, error)

	// Snapshot calls fn with the kind, key, fingerprint and volatile digest
	// of every live (not removed) record of the connection, in any order,
	// and returns the snapshot's version (0 for a connection never
	// applied). If fn returns an error, Snapshot stops and returns it. The
	// entries and the version must be read consistently (one transaction).
	Snapshot(ctx context.Context, tenant, connectionID string, fn func(kind resync.RecordKind, key string, fingerprint, volatile uint64) error) (version int64, err error)
	// Apply applies a change set atomically: all of its changes, the new
	// version and one change-log entry per change other than a refresh,
	// in one transaction, or nothing. An entry's Before is the live record
	// the change replaces or removes, as stored before the change (read
	// in the same transaction; nil for an add, even of a tombstoned key),
	// and its After the change's Record (nil for a remove).
	//   - If a change set with the same ID was already applied to this
	//     connection, Apply does nothing and returns nil (idempotence).
	//   - Else if the snapshot's version is not cs.BaseVersion, Apply does
	//     nothing and returns an error wrapping resync.ErrConflict.
	//   - Else: OpAdd and OpUpdate store the record (an add of a
	//     tombstoned key revives it), with UpdatedAt (the store's clock)
	//     and UpdatedBy (cs.RunID); OpRemove tombstones it (RemovedAt and
	//     RemovedBy set; records are never deleted); OpRefresh stores the
	//     new record, fingerprint and volatile digest of a live record
	//     without a change-log entry and leaves UpdatedAt and UpdatedBy as
	//     they were (a refresh of a key without a live record changes
	//     nothing); the version becomes BaseVersion+1; and any held change
	//     set of the connection is discarded.
	Apply(ctx context.Context, cs *resync.ChangeSet) error
	// Records returns the connection's records matching q (Kind "": all
	// kinds; tombstones only with IncludeRemoved), ordered by kind
	// (identities, accounts, groups: KindCode order) then key.
	Records(ctx context.Context, q resync.RecordQuery) ([]resync.StoredRecord, error)
	// Changes returns the tenant's change-log entries matching q, oldest
	// (Seq) first: Seq greater than AfterSeq; ConnectionID, RunID, Key,
	// Kind and Op equal to q's where q's are not zero; At within
	// [Since, Until) where those are not zero; at most Limit unless it is
	// 0. Seq increases with every entry written to the store. A store
	// keeps each filter cheap with an index (or an equivalent), so that
	// the cost follows the entries selected, not the tenant's whole log.
	Changes(ctx context.Context, q resync.ChangeQuery) ([]resync.ChangeLogEntry, error)

	// Hold stores cs, with its changes in their order, as the connection's
	// held change set, replacing any earlier one: a connection has at most
	// one.
	Hold(ctx context.Context, cs *resync.ChangeSet) error
	// HeldChangeSets lists the tenant's held change sets without their
	// changes (as Summarize gives them), oldest (CreatedAt, then ID)
	// first.
	HeldChangeSets(ctx context.Context, tenant string) ([]resync.HeldSummary, error)
	// GetHeld returns a held change set of the tenant with its changes;
	// an error wrapping resync.ErrNotFound if absent.
	GetHeld(ctx context.Context, tenant, id string) (*resync.ChangeSet, error)
	// DiscardHeld deletes a held change set of the tenant; an error
	// wrapping resync.ErrNotFound if absent.
	DiscardHeld(ctx context.Context, tenant, id string) error

	// AcquireLease takes the named lease for owner for ttl, or extends it
	// to ttl from now if owner already holds it, and returns true. It
	// returns false (and no error) if another owner holds an unexpired
	// lease. Expiry is judged by one clock for every process sharing the
	// store (the store's or the database's). The engine uses leases for
	// one read of a connection at a time, one scheduled sync of a tenant
	// per period, and the liveness of an engine instance.
	AcquireLease(ctx context.Context, name, owner string, ttl time.Duration) (bool, error)
	// ReleaseLease ends owner's lease; releasing a lease one does not
	// hold is not an error and changes nothing.
	ReleaseLease(ctx context.Context, name, owner string) error
}

// Summarize returns the HeldSummary of cs: its identity, the reason it
// was held, and the number of adds, updates and removes (refreshes change
// no content and are not counted). HeldChangeSets returns these.
func Summarize(cs *resync.ChangeSet) resync.HeldSummary {
	s := resync.HeldSummary{
		ID: cs.ID, Tenant: cs.Tenant, ConnectionID: cs.ConnectionID, RunID: cs.RunID,
		BaseVersion: cs.BaseVersion, Reason: cs.HoldReason, CreatedAt: cs.CreatedAt,
	}
	for _, c := range cs.Changes {
		switch c.Op {
		case resync.OpAdd:
			s.Added++
		case resync.OpUpdate:
			s.Updated++
		case resync.OpRemove:
			s.Removed++
		}
	}
	return s
}

// HeldDecider is an optional capability of a Store: it keeps the decisions
// on held change sets, so that they can be listed afterwards and so that
// two engines deciding on the same set at once cannot both win. The engine
// detects it by type assertion; with a Store that lacks it, Approve applies
// the held set (Apply) and Reject discards it (DiscardHeld), and the
// decision is kept only on the results of the runs that held the set.
type HeldDecider interface {
	// DecideHeld records decision d on the tenant's held change set id,
	// atomically (one transaction, or under one lock):
	//   - If the tenant has no such change set, held or decided, it
	//     returns an error wrapping resync.ErrNotFound.
	//   - If the set was decided already, it changes nothing and returns
	//     an error wrapping resync.ErrConflict: of two concurrent
	//     decisions on one set, exactly one succeeds.
	//   - If d.Kind is resync.ConnApplied, the set's changes are applied
	//     as Apply applies them, in the same transaction as the decision;
	//     if Apply would return an error (resync.ErrConflict for a
	//     snapshot that is no longer at the set's BaseVersion), it
	//     changes nothing and returns that error: the set stays held.
	//     For any other kind nothing is applied.
	//   - Then the set is no longer held: GetHeld and DiscardHeld return
	//     resync.ErrNotFound for it and HeldChangeSets omits it, while
	//     DecidedChangeSets lists its summary with Decision set to d. Its
	//     changes need not be kept.
	// It returns the summary with the decision. d is validated by the
	// engine: Kind is one of resync.ConnApplied, resync.ConnRejected and
	// resync.ConnSuperseded, By names someone, At is set. Apply and Hold,
	// which discard or replace a connection's held set, leave decided sets
	// alone.
	DecideHeld(ctx context.Context, tenant, id string, d resync.Decision) (resync.HeldSummary, error)
	// DecidedChangeSets lists the tenant's decided change sets, newest
	// decision (Decision.At, then ID) first, at most limit of them; limit
	// is always positive. Each summary is as HeldChangeSets listed it,
	// with Decision set, its values round-tripped exactly.
	DecidedChangeSets(ctx context.Context, tenant string, limit int) ([]resync.HeldSummary, error)
}

// RunStatusReader is an optional capability of a Store: it reads a run's
// status without the rest of its record, which grows with the run's
// connections. An engine whose runs are carried out by an Executor
// follows each run it started by polling the Store; with this capability
// it polls the status every Config.LeasePoll and reads the whole record
// at most once a second, and at once when the status is final.
type RunStatusReader interface {
	// RunStatus returns the Status of the tenant's run id, as GetRun
	// would return it, or an error wrapping resync.ErrNotFound.
	RunStatus(ctx context.Context, tenant, id string) (resync.RunStatus, error)
}
