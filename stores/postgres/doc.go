// Package postgres is a resync.Store on PostgreSQL (12 or newer) through
// pgx: the durable store for hosts that run many engine replicas against
// one database. It passes resynctest.TestStore.
//
// # Configuration
//
// Open takes a connection string (postgres://user@host:port/db?sslmode=...,
// or any form pgxpool.ParseConfig accepts, including pool_max_conns) and
// owns the pool it creates; New takes a *pgxpool.Pool the host already has
// and leaves it open on Close. Both take a Config, whose fields are
// optional:
//
//   - Schema: the PostgreSQL schema of the tables (default "resync",
//     created if missing), so the store never mixes with the host's
//     tables and several stores can share a database.
//   - Logger: logs applied migrations.
//
// Timestamps and lease expiry come from now() of the database, so the
// Store has no clock of its own: replicas with skewed clocks agree.
//
// Both Open and New migrate the schema before returning. Migrations are
// embedded SQL files applied in one transaction that holds a transaction
// advisory lock keyed by the schema name: replicas starting together
// migrate once, the others wait and find nothing to do. The applied
// versions are kept in schema_version; a database migrated by a newer
// release fails with ErrSchemaTooNew rather than being used by older code.
// SchemaVersion tells the version this release migrates to.
//
// # Schema
//
// All text columns use the "C" collation, so keys sort bytewise as in Go.
//
//   - runs (tenant, id, trigger, status, owner, created_at, created_ns,
//     finished_at, info jsonb): one row per run. info is the whole RunInfo
//     as JSON; the other columns are copies for filtering, ordering
//     (ListRuns: newest first) and recovery. created_ns keeps the
//     nanoseconds PostgreSQL timestamps lack, so ordering and round trips
//     are exact.
//   - connections (tenant, connection_id, version): each connection's
//     snapshot version; the row Apply locks.
//   - records (tenant, connection_id, kind, key, fingerprint, data jsonb,
//     updated_at, updated_by, removed_at, removed_by): the current
//     snapshot. Removed records stay as tombstones (removed_at and
//     removed_by, the run that saw them gone) and are revived by a later
//     add. fingerprint is the uint64 fingerprint's bit pattern in a bigint,
//     so values above 2^63 are negative in SQL and exact in Go. data is the
//     record as storage.EncodeRecord encodes it. email, identity_key and
//     status are stored columns PostgreSQL generates from data
//     (storage.IndexFields; NULL for groups), each in a partial index by
//     tenant (status for the statuses other than active, the few), so
//     that SearchRecords finds a person or a status across connections
//     with an index range; the primary key serves paging and active
//     records.
//   - applied_change_sets (tenant, connection_id, change_set_id, run_id,
//     version, applied_at, first_seq, last_seq): the IDs that make Apply
//     idempotent, and the seq range of each change set's log entries.
//   - changes (seq bigserial, tenant, connection_id, run_id,
//     change_set_id, op, kind, key, fingerprint, prev_fingerprint, at,
//     before_data, after_data, erased_by): the change log, with the record
//     before each change (read by primary key in the statement that logs
//     it, which sees records as they were before the change set) and
//     after it. op and kind are the codes of storage.OpCode and
//     storage.KindCode. Every index costs the bulk apply, so it has three:
//     (tenant, connection_id, seq) serves a query by connection and, merged
//     over the tenant's connections, one by tenant; (tenant, key, seq) one
//     by key; (tenant, at) one by time. A query by run reads the seq
//     ranges of the run's change sets (a connection's entries within a
//     range are that change set's, as Apply holds the connection's lock).
//     An erasure registers its entries as a change set of each connection
//     it touched.
//   - held_change_sets (one per connection at most, with the change counts)
//     and held_changes (its changes in order, deleted with it).
//   - outbox (seq identity, tenant, id, run_id, body jsonb, state,
//     attempts, due_at, lease_owner, lease_until, last_error, created_at,
//     settled_at): the notifications of storage.Outbox, body the
//     Notification, written in the transaction of the run, hold or
//     decision that causes them; unique per (tenant, id). Engines claim
//     due rows with SELECT ... FOR UPDATE SKIP LOCKED in one UPDATE that
//     leases them (lease and retry times by the database clock), so that
//     replicas claiming at once take different rows without waiting.
//     Pending rows are indexed by seq, settled ones by (tenant,
//     settled_at) for Prune.
//   - leases (name, owner, expires_at): expiry by the database clock.
//   - schema_version (version, name, applied_at).
//
// # Concurrency
//
// Every method is one transaction (or one statement) and is safe from any
// number of goroutines and processes.
//
// Apply locks the connection's row (SELECT ... FOR UPDATE, creating it at
// version 0 first), then, holding the lock, checks the change-set ID and
// the version: an ID already applied returns nil, another version returns
// an error wrapping resync.ErrConflict, with nothing written either way.
// It then writes the changes: for a connection never applied it COPYs the
// records and the change log straight into their tables; otherwise large
// change sets are COPYed into a temporary table dropped at commit (small
// ones are sent as arrays), one statement upserts the adds and updates in
// key order and appends the change log in change order, and the removed
// keys are tombstoned by primary-key probes (the keys sent as an array, so
// the plan never depends on how stale the table's statistics are). The version bump, the applied ID and the deletion of a held
// change set commit with them. Record JSON is encoded as rows stream to
// the server, so a large change set is never encoded whole in memory.
//
// Snapshot and GetHeld read in one REPEATABLE READ, read-only transaction
// and stream rows; a concurrent Apply is seen entirely or not at all.
//
// AcquireLease is one INSERT ... ON CONFLICT DO UPDATE ... WHERE the
// holder is the same owner or the lease has expired (by now() of the
// database). LiveRuns reads the pending and running runs through a
// partial index; the engine marks the interrupted ones.
//
// # Errors
//
// The engine validates arguments and adds the context (tenant, run,
// connection) to errors before and after it calls the Store (see package
// storage). What only PostgreSQL refuses wraps resync.ErrInvalidRequest
// and writes nothing: any string it cannot store exactly, namely a NUL
// byte (text and jsonb refuse it) or invalid UTF-8, in IDs, keys or
// record fields. Missing runs and held
// change sets wrap resync.ErrNotFound; CreateRun of an existing run and
// Apply at a stale version wrap resync.ErrConflict. Database failures
// (connection lost, server restarted) are returned wrapped with the
// operation; the transaction is rolled back, so nothing partial is kept,
// and the pool reconnects on the next call.
package postgres
