// Package storage is the contract between an Engine and the Store that
// keeps its state, for those who implement a Store. Hosts and connector
// authors do not need it: they hand a Store (memstore.New(), stores/sqlite,
// stores/postgres or their own) to resync.Config and use the Engine.
//
// It is to package resync what database/sql/driver is to database/sql: the
// engine does once, above every store, what would otherwise be repeated in
// each, so that a store only persists.
//
// # What the engine guarantees before it calls a Store
//
//   - Arguments are validated: tenants, IDs, connection IDs and lease names
//     are non-empty; a ChangeSet passed to Apply or Hold has its IDs set,
//     a non-negative BaseVersion, known ops and kinds, a non-nil record
//     whose kind and key match the change on every add, update and
//     refresh, and no kind and key twice; lease TTLs are positive. A
//     malformed call is refused with resync.ErrInvalidRequest and never
//     reaches the Store.
//   - The context is live when the call is made. A store must still honour
//     its cancellation during the call.
//   - Query defaults are filled: RunQuery.Limit is positive (100 when the
//     host left it zero).
//   - Errors get their context (tenant, run, connection, held change set)
//     from the engine: a store returns the bare condition, wrapping the
//     sentinel where one is named below, and the engine adds the rest.
//   - Runs of engine instances that died are marked interrupted by the
//     engine, from LiveRuns and the instance leases; the store only lists
//     and stores runs.
//
// # What a Store must do
//
//   - Atomicity: Apply writes all of a change set (records, the snapshot
//     version, the change log) or nothing, also when the process dies or
//     the context is canceled in the middle.
//   - Idempotence: applying a change-set ID that was already applied to
//     the connection does nothing and succeeds.
//   - Tombstones: a removed record is marked (RemovedAt, RemovedBy), never
//     deleted, so that history stays for audit.
//   - Change log: one entry per applied change other than a refresh,
//     written in the same transaction as the change, with the record
//     before and after it. The engine's diff keeps only fingerprints, so
//     the store reads the record before from its own rows.
//   - Tenant isolation: every method is scoped to the tenant it is given
//     and never reads or writes another tenant's data, whatever characters
//     tenant names contain.
//   - Concurrency: every method is safe for concurrent use by several
//     goroutines and, for a durable store, by several processes sharing
//     the same database.
//   - Sentinels: resync.ErrNotFound from UpdateRun, GetRun, GetHeld and
//     DiscardHeld when the thing is absent; resync.ErrConflict from
//     CreateRun of an existing run and from Apply on a stale BaseVersion.
//     Other failures are returned as they are; the engine does not retry
//     them.
//   - Values round-trip exactly: what is stored is what is read back
//     (times as instants, fingerprints as all 64 bits, records through
//     EncodeRecord and DecodeRecord or an equivalent).
//
// resynctest.TestStore checks a Store against every one of these rules;
// memstore, stores/sqlite and stores/postgres run it.
//
// # Optional capabilities
//
//   - Eraser: erase one person's data, delete a tenant's, prune history
//     past its retention (Engine.Erase, Engine.DeleteTenant,
//     Engine.Prune).
//   - RecordSearcher: find a tenant's records across its connections by
//     person, kind and status, a page at a time, with indexes
//     (Engine.Records, Engine.Person).
//   - HeldDecider: keep decisions on held change sets, one winner of
//     concurrent decisions (Engine.Approve, Engine.Reject,
//     Engine.DecidedChangeSets).
//   - Outbox: keep notifications durably, written in the transaction of
//     the state change that causes them, claimed with leases by the
//     engines that deliver them (the durable notifications of the
//     package doc of resync).
//   - NotificationLog: list a tenant's notifications (Engine.Notifications).
//   - LinkStore: keep the links of accounts to people, findings and
//     admins' linking decisions (package linking).
//   - RunStatusReader: read a run's status without its record, so that an
//     engine following a run carried out by an Executor polls cheaply.
//
// # Fingerprints
//
// Fingerprints (resync.Fingerprint) are opaque 64-bit values a store keeps
// as given. Their top eight bits hold the version of the fingerprint's
// definition and the low 56 bits the digest. When the engine meets stored
// fingerprints of an older version, it recomputes them from the stored
// records and rewrites them with OpRefresh changes, without change-log
// entries. Fingerprints stored before versions existed must be given
// version 0 by clearing their top eight bits; the stores of this module do
// so in their schema migrations. Volatile digests (the volatile argument of
// Snapshot's callback, StoredRecord.Volatile) are opaque too.
//
// # Compatibility
//
// The Store interface will not grow. New storage features (HeldDecider,
// Outbox, and later links between records, distributed execution of
// reads) come as optional capability interfaces, which the engine
// detects on a Store by type assertion and falls back without, as
// database/sql does with its drivers. A host's own Store keeps compiling
// and working across releases.
package storage
