package resync

import (
	"context"
	"fmt"
	"time"
)

// Store keeps runs, snapshots (with tombstones), the change log, held change
// sets and leases. The host supplies one; this module ships memstore, and
// stores/sqlite and stores/postgres are durable ones. resynctest.TestStore
// checks an implementation against every rule written here.
//
// Every method takes the tenant (directly or inside its argument) and must
// never return or touch another tenant's data. All methods must be safe for
// concurrent use, from several goroutines and (for durable stores) several
// processes.
type Store interface {
	RunStore
	SnapshotStore
	HoldStore
	LeaseStore
}

// RunStore keeps RunInfo values.
type RunStore interface {
	// CreateRun stores a new run. A run with the same tenant and ID already
	// stored is an error (wrap ErrConflict).
	CreateRun(ctx context.Context, run RunInfo) error
	// UpdateRun replaces a stored run (same tenant and ID); ErrNotFound if absent.
	UpdateRun(ctx context.Context, run RunInfo) error
	// GetRun returns a run; ErrNotFound if the tenant has no such run.
	GetRun(ctx context.Context, tenant, id string) (RunInfo, error)
	// ListRuns returns the tenant's runs matching q, newest (CreatedAt) first.
	ListRuns(ctx context.Context, q RunQuery) ([]RunInfo, error)
	// RecoverRuns marks as RunInterrupted (with FinishedAt set, and every
	// unfinished connection result ConnFailed with an "interrupted" error)
	// each pending or running run, of any tenant, whose Owner holds no live
	// lease named InstanceLease(owner). It returns the runs it marked.
	RecoverRuns(ctx context.Context) ([]RunInfo, error)
}

// RunQuery selects runs for ListRuns. Zero fields do not filter.
type RunQuery struct {
	Tenant  string // required
	Trigger Trigger
	Status  RunStatus
	// Limit bounds the result; 0 means 100.
	Limit int
}

// DefaultRunLimit is the number of runs ListRuns returns when
// RunQuery.Limit is zero.
const DefaultRunLimit = 100

// Normalize checks what every RunStore requires of a query (a tenant) and
// fills the default Limit. Stores call it first; its error wraps
// ErrInvalidRequest.
func (q RunQuery) Normalize() (RunQuery, error) {
	if q.Tenant == "" {
		return q, fmt.Errorf("%w: ListRuns needs a tenant", ErrInvalidRequest)
	}
	if q.Limit <= 0 {
		q.Limit = DefaultRunLimit
	}
	return q, nil
}

// ValidateRun checks what every RunStore requires of a run before storing
// it: a tenant and an ID. Stores call it first; its error wraps
// ErrInvalidRequest.
func ValidateRun(r RunInfo) error {
	if r.Tenant == "" || r.ID == "" {
		return fmt.Errorf("%w: run needs a tenant and an ID (got %q, %q)", ErrInvalidRequest, r.Tenant, r.ID)
	}
	return nil
}

// SnapshotStore keeps each connection's snapshot (current records, with
// tombstones for removed ones) and the change log, and applies change sets.
type SnapshotStore interface {
	// Snapshot calls fn with every live (not removed) record's kind, key,
	// fingerprint and volatile digest for the connection, in any order, and returns the
	// snapshot's version (0 for a connection never applied). If fn returns
	// an error, Snapshot stops and returns it. The entries and the version
	// must be read consistently (one transaction).
	Snapshot(ctx context.Context, tenant, connectionID string, fn func(SnapshotEntry) error) (version int64, err error)

	// Apply applies a change set atomically: all of its changes and one
	// change-log entry per change other than a refresh, in one
	// transaction, or nothing.
	//   - If a change set with the same ID was already applied to this
	//     connection, Apply does nothing and returns nil (idempotence).
	//   - Else if the snapshot's version is not cs.BaseVersion, Apply does
	//     nothing and returns an error wrapping ErrConflict.
	//   - Else: OpAdd and OpUpdate store the record (an add of a tombstoned
	//     key revives it), OpRemove tombstones it (RemovedAt and RemovedBy
	//     set; records are never deleted), OpRefresh stores the new record,
	//     fingerprint and volatile digest of a live record without a
	//     change-log entry and leaves UpdatedAt and UpdatedBy as they were
	//     (a refresh of a key without a live record changes nothing), the
	//     version becomes BaseVersion+1, and any held change set of the
	//     connection is discarded.
	// A malformed change set (empty IDs, a nil record on add/update, a
	// duplicate kind+key) is an error wrapping ErrInvalidRequest; nothing
	// is applied.
	Apply(ctx context.Context, cs *ChangeSet) error

	// Records returns the connection's records matching q, ordered by kind
	// then key.
	Records(ctx context.Context, q RecordQuery) ([]StoredRecord, error)

	// Changes returns change-log entries matching q, oldest first.
	Changes(ctx context.Context, q ChangeQuery) ([]ChangeLogEntry, error)
}

// HoldStore keeps change sets held by the delete guard until an admin
// approves or rejects them. A connection has at most one held change set.
type HoldStore interface {
	// Hold stores cs as the connection's held change set, replacing any
	// earlier one.
	Hold(ctx context.Context, cs *ChangeSet) error
	// HeldChangeSets lists the tenant's held change sets (without their changes).
	HeldChangeSets(ctx context.Context, tenant string) ([]HeldSummary, error)
	// GetHeld returns a held change set with its changes; ErrNotFound if absent.
	GetHeld(ctx context.Context, tenant, id string) (*ChangeSet, error)
	// DiscardHeld deletes a held change set; ErrNotFound if absent.
	DiscardHeld(ctx context.Context, tenant, id string) error
}

// LeaseStore provides named, expiring leases for coordination between
// engine instances (one read of a connection at a time; one scheduled sync
// of a tenant per period; liveness of an instance).
type LeaseStore interface {
	// AcquireLease takes the lease for owner for ttl, or extends it if owner
	// already holds it. It returns false (and no error) if another owner
	// holds an unexpired lease.
	AcquireLease(ctx context.Context, name, owner string, ttl time.Duration) (bool, error)
	// ReleaseLease ends owner's lease; releasing a lease one does not hold
	// is not an error and changes nothing.
	ReleaseLease(ctx context.Context, name, owner string) error
}

// InstanceLease is the name of the lease an engine instance holds while it
// lives; RecoverRuns treats runs of instances without it as interrupted.
// It has one part after a fixed prefix, so it is unambiguous as it is, and
// durable stores match it in SQL.
func InstanceLease(owner string) string { return "instance/" + owner }

// ReadLease is the name of the lease held while a connection is read.
func ReadLease(tenant, connectionID string) string {
	return joinKey("read", tenant, connectionID)
}

// SnapshotEntry is one live record of a snapshot, as the diff needs it.
type SnapshotEntry struct {
	// Kind and Key identify the record.
	Kind RecordKind
	Key  string
	// Fingerprint is the stored Fingerprint.
	Fingerprint uint64
	// Volatile is the stored VolatileDigest.
	Volatile uint64
}

// ChangeOp is the kind of change to a record.
type ChangeOp uint8

// Change operations.
const (
	// OpAdd stores a record new to the snapshot (or revives a tombstone).
	OpAdd ChangeOp = iota + 1
	// OpUpdate stores a record whose content (its Fingerprint) changed.
	OpUpdate
	// OpRemove tombstones a record the read no longer returned.
	OpRemove
	// OpRefresh stores the new data of a record whose content did not
	// change: only its volatile fields (last login, last use) moved, or its
	// fingerprint is rewritten in the current FingerprintVersion. It
	// writes no change-log entry and is not counted as an update.
	OpRefresh
)

// String returns "add", "update", "remove" or "refresh".
func (o ChangeOp) String() string {
	switch o {
	case OpAdd:
		return "add"
	case OpUpdate:
		return "update"
	case OpRemove:
		return "remove"
	case OpRefresh:
		return "refresh"
	}
	return fmt.Sprintf("ChangeOp(%d)", uint8(o))
}

// ParseChangeOp parses the String form.
func ParseChangeOp(s string) (ChangeOp, error) {
	for _, o := range []ChangeOp{OpAdd, OpUpdate, OpRemove, OpRefresh} {
		if o.String() == s {
			return o, nil
		}
	}
	return 0, fmt.Errorf("resync: unknown change op %q", s)
}

// MarshalText implements encoding.TextMarshaler; an invalid op is an error.
func (o ChangeOp) MarshalText() ([]byte, error) {
	if o < OpAdd || o > OpRefresh {
		return nil, fmt.Errorf("resync: invalid change op %d", uint8(o))
	}
	return []byte(o.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (o *ChangeOp) UnmarshalText(b []byte) error {
	v, err := ParseChangeOp(string(b))
	*o = v
	return err
}

// Change is one record's change.
type Change struct {
	// Op is what the change does.
	Op ChangeOp
	// Kind and Key identify the record.
	Kind RecordKind
	Key  string
	// Record is the new content for OpAdd, OpUpdate and OpRefresh, nil for
	// OpRemove.
	Record Record
	// Fingerprint is the new content's fingerprint (0 for OpRemove).
	Fingerprint uint64
	// PrevFingerprint is the stored fingerprint before (0 for OpAdd).
	PrevFingerprint uint64
	// Volatile is the new record's VolatileDigest (0 for OpRemove).
	Volatile uint64
}

// ChangeSet is the diff between a connection's snapshot and a fresh read,
// applied atomically by Store.Apply.
type ChangeSet struct {
	// ID identifies the change set; applying an ID twice is a no-op.
	ID           string
	Tenant       string
	ConnectionID string
	// RunID is the run whose read produced it.
	RunID string
	// BaseVersion is the snapshot version the diff was computed against.
	BaseVersion int64
	Changes     []Change
	CreatedAt   time.Time
	// HoldReason is set when the delete guard held the change set.
	HoldReason string
}

// Counts returns the number of adds, updates and removes. Refreshes are
// not counted: they change no content.
func (cs *ChangeSet) Counts() (added, updated, removed int) {
	for _, c := range cs.Changes {
		switch c.Op {
		case OpAdd:
			added++
		case OpUpdate:
			updated++
		case OpRemove:
			removed++
		}
	}
	return
}

// Summary returns the HeldSummary of cs.
func (cs *ChangeSet) Summary() HeldSummary {
	a, u, r := cs.Counts()
	return HeldSummary{
		ID: cs.ID, Tenant: cs.Tenant, ConnectionID: cs.ConnectionID, RunID: cs.RunID,
		BaseVersion: cs.BaseVersion, Added: a, Updated: u, Removed: r,
		Reason: cs.HoldReason, CreatedAt: cs.CreatedAt,
	}
}

// HeldSummary describes a held change set without its changes.
type HeldSummary struct {
	ID           string
	Tenant       string
	ConnectionID string
	RunID        string
	BaseVersion  int64
	Added        int
	Updated      int
	Removed      int
	Reason       string
	CreatedAt    time.Time
}

// StoredRecord is a record as a SnapshotStore keeps it.
type StoredRecord struct {
	Kind        RecordKind
	Key         string
	Fingerprint uint64
	// Volatile is the VolatileDigest of Record.
	Volatile uint64
	// Record holds the latest values read, volatile fields included.
	Record Record
	// UpdatedAt and UpdatedBy (a run ID) tell the last add or update (a
	// refresh does not change them).
	UpdatedAt time.Time
	UpdatedBy string
	// RemovedAt and RemovedBy are set on tombstones.
	RemovedAt time.Time `json:",omitzero"`
	RemovedBy string    `json:",omitempty"`
}

// Removed reports whether the record is a tombstone.
func (r StoredRecord) Removed() bool { return !r.RemovedAt.IsZero() }

// RecordQuery selects records of one connection.
type RecordQuery struct {
	Tenant       string
	ConnectionID string
	// Kind filters by kind; 0 means all.
	Kind RecordKind
	// IncludeRemoved returns tombstones too.
	IncludeRemoved bool
}

// Validate checks what every SnapshotStore requires of a records query: a
// tenant and a connection. Its error wraps ErrInvalidRequest.
func (q RecordQuery) Validate() error {
	if q.Tenant == "" || q.ConnectionID == "" {
		return fmt.Errorf("%w: Records needs a tenant and a connection", ErrInvalidRequest)
	}
	return nil
}

// ChangeQuery selects change-log entries. Tenant is required; zero fields
// do not filter.
type ChangeQuery struct {
	Tenant       string
	ConnectionID string
	RunID        string
	// AfterSeq returns entries with Seq greater than it (for paging).
	AfterSeq int64
	// Limit bounds the result; 0 means no bound.
	Limit int
}

// Validate checks what every SnapshotStore requires of a change-log query:
// a tenant. Its error wraps ErrInvalidRequest.
func (q ChangeQuery) Validate() error {
	if q.Tenant == "" {
		return fmt.Errorf("%w: Changes needs a tenant", ErrInvalidRequest)
	}
	return nil
}

// ChangeLogEntry is one applied change, written in the same transaction as
// the change itself. Refreshes have none.
type ChangeLogEntry struct {
	// Seq increases with every entry of the store.
	Seq             int64
	Tenant          string
	ConnectionID    string
	RunID           string
	ChangeSetID     string
	Op              ChangeOp
	Kind            RecordKind
	Key             string
	Fingerprint     uint64
	PrevFingerprint uint64
	At              time.Time
}

// ValidateChangeSet checks the shape a Store requires of a change set
// before it applies anything: IDs set, known ops and kinds, a record with
// matching kind and key on every add, update and refresh, no kind+key twice.
// Stores call it first; it returns an error wrapping ErrInvalidRequest.
func ValidateChangeSet(cs *ChangeSet) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: change set: %s", ErrInvalidRequest, fmt.Sprintf(format, args...))
	}
	if cs == nil {
		return bad("nil")
	}
	if cs.ID == "" || cs.Tenant == "" || cs.ConnectionID == "" {
		return bad("ID, Tenant and ConnectionID are required (got %q, %q, %q)", cs.ID, cs.Tenant, cs.ConnectionID)
	}
	if cs.BaseVersion < 0 {
		return bad("negative base version %d", cs.BaseVersion)
	}
	seen := make(map[recKey]struct{}, len(cs.Changes))
	for i, c := range cs.Changes {
		if c.Kind < KindIdentity || c.Kind > KindGroup {
			return bad("change %d: unknown kind %d", i, c.Kind)
		}
		if c.Key == "" {
			return bad("change %d: empty key", i)
		}
		k := recKey{c.Kind, c.Key}
		if _, dup := seen[k]; dup {
			return bad("change %d: %s %q appears twice", i, c.Kind, c.Key)
		}
		seen[k] = struct{}{}
		switch c.Op {
		case OpAdd, OpUpdate, OpRefresh:
			if c.Record == nil || isNilRecord(c.Record) {
				return bad("change %d: %s of %s %q has no record", i, c.Op, c.Kind, c.Key)
			}
			if c.Record.RecordKind() != c.Kind || c.Record.RecordKey() != c.Key {
				return bad("change %d: record is %s %q, change says %s %q", i, c.Record.RecordKind(), c.Record.RecordKey(), c.Kind, c.Key)
			}
		case OpRemove:
		default:
			return bad("change %d: unknown op %d", i, c.Op)
		}
	}
	return nil
}
