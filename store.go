package resync

import (
	"context"
	"time"
)

// Store keeps an Engine's state: runs, snapshots, the change log, change
// sets held by the delete guard, and leases. memstore.New(), stores/sqlite
// and stores/postgres provide one; to implement one see package storage,
// which states the contract; resynctest.TestStore checks it.
type Store = store

// store is the method set of Store; package storage documents each method
// (storage.Store has the same set). It is unexported so that hosts, who
// only pass a Store to Config, do not see the plumbing in this package's
// documentation.
type store interface {
	CreateRun(ctx context.Context, run RunInfo) error
	UpdateRun(ctx context.Context, run RunInfo) error
	GetRun(ctx context.Context, tenant, id string) (RunInfo, error)
	ListRuns(ctx context.Context, q RunQuery) ([]RunInfo, error)
	LiveRuns(ctx context.Context) ([]RunInfo, error)

	Snapshot(ctx context.Context, tenant, connectionID string, fn func(kind RecordKind, key string, fingerprint, volatile uint64) error) (version int64, err error)
	Apply(ctx context.Context, cs *ChangeSet) error
	Records(ctx context.Context, q RecordQuery) ([]StoredRecord, error)
	Changes(ctx context.Context, q ChangeQuery) ([]ChangeLogEntry, error)

	Hold(ctx context.Context, cs *ChangeSet) error
	HeldChangeSets(ctx context.Context, tenant string) ([]HeldSummary, error)
	GetHeld(ctx context.Context, tenant, id string) (*ChangeSet, error)
	DiscardHeld(ctx context.Context, tenant, id string) error

	AcquireLease(ctx context.Context, name, owner string, ttl time.Duration) (bool, error)
	ReleaseLease(ctx context.Context, name, owner string) error
}

// RunQuery selects runs for Engine.Runs. Zero fields do not filter.
type RunQuery struct {
	Tenant  string // required; Engine.Runs sets it
	Trigger Trigger
	Status  RunStatus
	// Limit bounds the result; 0 means 100.
	Limit int
}

// instanceLease is the name of the lease an engine instance holds while it
// lives; recovery treats the runs of owners without it as interrupted.
func instanceLease(owner string) string { return joinKey("instance", owner) }

// readLease is the name of the lease held while a connection is read.
func readLease(tenant, connectionID string) string {
	return joinKey("read", tenant, connectionID)
}

// ChangeOp is the kind of change to a record. Its values are stable
// lower-case names, safe to store.
type ChangeOp string

// Change operations.
const (
	// OpAdd stores a record new to the snapshot (or revives a tombstone).
	OpAdd ChangeOp = "add"
	// OpUpdate stores a record whose content (its Fingerprint) changed.
	OpUpdate ChangeOp = "update"
	// OpRemove tombstones a record the read no longer returned.
	OpRemove ChangeOp = "remove"
	// OpRefresh stores the new data of a record whose content did not
	// change: only its volatile fields (last login, last use) moved, or its
	// fingerprint is rewritten in the current version (see Fingerprint). It
	// writes no change-log entry and is not counted as an update.
	OpRefresh ChangeOp = "refresh"
	// OpErase is never part of a change set: it is the op of the
	// change-log entries that record an erasure of a person's data
	// (Engine.Erase), one per erased record.
	OpErase ChangeOp = "erase"
)

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
	// Volatile is the digest of the new record's volatile fields (last
	// login and last use times; 0 for OpRemove and for records without them).
	Volatile uint64
}

// ChangeSet is the diff between a connection's snapshot and a fresh read,
// applied atomically to the Store.
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

// summarize returns the HeldSummary of cs (storage.Summarize does the
// same for stores).
func summarize(cs *ChangeSet) HeldSummary {
	h := HeldSummary{
		ID: cs.ID, Tenant: cs.Tenant, ConnectionID: cs.ConnectionID, RunID: cs.RunID,
		BaseVersion: cs.BaseVersion, Reason: cs.HoldReason, CreatedAt: cs.CreatedAt,
	}
	for _, c := range cs.Changes {
		switch c.Op {
		case OpAdd:
			h.Added++
		case OpUpdate:
			h.Updated++
		case OpRemove:
			h.Removed++
		}
	}
	return h
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
	// Decision is how the change set was resolved; zero while it is held.
	Decision Decision `json:",omitzero"`
}

// Decision is the resolution of a held change set: who decided, when, what
// and why. Approve and Reject record one; so does the engine when a later
// complete read of the connection supersedes the held set. It is kept on
// the held change set (Engine.DecidedChangeSets) and on the result of each
// run that held it (ConnectionResult.Decision).
type Decision struct {
	// Kind is what was decided, as the status it gives the connection in
	// the runs that held the set: ConnApplied, ConnRejected or
	// ConnSuperseded.
	Kind ConnectionStatus
	// By is who decided: the approving or rejecting principal, or
	// SystemPrincipal for a supersession.
	By Principal
	// At is when, by the engine's clock (Config.Clock).
	At time.Time
	// Reason is the decider's note (optional), or for a supersession
	// what replaced the set.
	Reason string `json:",omitempty"`
}

// heldDecider is the method set of storage.HeldDecider, the optional store
// capability that records decisions on held change sets; package storage
// documents it.
type heldDecider interface {
	DecideHeld(ctx context.Context, tenant, id string, d Decision) (HeldSummary, error)
	DecidedChangeSets(ctx context.Context, tenant string, limit int) ([]HeldSummary, error)
}

// StoredRecord is a record as the Store keeps it and returns it from
// Records.
type StoredRecord struct {
	Kind        RecordKind
	Key         string
	Fingerprint uint64
	// Volatile is the digest of Record's volatile fields.
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

// RecordQuery selects records of one connection.
type RecordQuery struct {
	Tenant       string
	ConnectionID string
	// Kind filters by kind; "" means all.
	Kind RecordKind
	// IncludeRemoved returns tombstones too.
	IncludeRemoved bool
}

// ChangeQuery selects change-log entries, for Engine.Changes. Tenant is
// required (Engine.Changes sets it); zero fields do not filter, and the
// filters combine with AND.
type ChangeQuery struct {
	Tenant       string
	ConnectionID string
	RunID        string
	// Key selects the entries of records with this key, in any connection
	// (a person's identity key, say).
	Key  string
	Kind RecordKind
	Op   ChangeOp
	// Since and Until bound the entries' At: Since <= At < Until.
	Since time.Time `json:",omitzero"`
	Until time.Time `json:",omitzero"`
	// AfterSeq returns entries with Seq greater than it: the cursor of the
	// next page is the Seq of the last entry of the previous one.
	AfterSeq int64
	// Limit bounds the result. 0 means 100 for Engine.Changes, and no
	// bound for a Store.
	Limit int
}

// ChangeLogEntry is one applied change, written in the same transaction as
// the change itself. Refreshes have none. Before and After make an entry
// readable on its own ("status active → deprovisioned, in run X, at T"),
// whatever the connection holds now.
//
// They are whole records, not a field-level diff: any field's change is
// found by comparing them, while a diff would drop what did not change,
// such as the name and email that say whose status it was; a store copies
// the stored row as it is, with no decoding or comparing inside the
// apply's transaction (the engine's diff keeps only fingerprints); and an
// erasure clears two fields instead of rewriting diffs. The price is
// space: an update keeps the record twice.
//
// An erasure of a person's data (Engine.Erase) redacts the entries of the
// erased records instead of deleting them: Seq, Tenant, ConnectionID,
// RunID, ChangeSetID, Op, Kind and At stay, Key becomes "[redacted]", and
// Fingerprint, PrevFingerprint, Before and After are cleared. The erasure
// itself adds one OpErase entry per erased record, with the same redacted
// Key, the erasure's ID as RunID and ChangeSetID, and By.
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
	// Before is the live record the change replaced or removed, as it was
	// stored (nil for an add, which has none, even when it revives a
	// tombstone). After is the record the change stored (nil for a
	// remove).
	Before Record `json:",omitempty"`
	After  Record `json:",omitempty"`
	// By names who asked for an OpErase entry's erasure: the principal's
	// email, name or ID, whichever is set first. Empty on other entries,
	// whose run says who started it.
	By string `json:",omitempty"`
}
