// Package sqlite is a durable resync.Store kept in one SQLite file, on the
// pure-Go modernc.org/sqlite driver (no cgo). It suits a single host or a
// few processes on one machine sharing a file; use stores/postgres when
// engine instances run on several machines.
//
//	store, err := sqlite.Open(ctx, "/var/lib/myapp/resync.db", sqlite.Config{})
//	if err != nil { ... }
//	defer store.Close()
//	engine, err := resync.New(ctx, resync.Config{Store: store, ...})
//
// # Configuration
//
// The file path is all the configuration needed; its directory must exist.
// Open creates the file if it is missing and applies the embedded
// migrations the file lacks. Config's fields, all optional: Clock (the
// clock for timestamps and lease expiry, default the system clock),
// BusyTimeout (how long to wait for another writer, default 10s) and
// ReadConns (size of the read pool).
//
// Every connection runs with journal_mode=WAL (readers never block the
// writer nor each other), synchronous=NORMAL (a committed transaction
// survives the crash of the process; a power loss may lose the last
// transactions but never corrupts the file), foreign_keys=ON and a busy
// timeout. The write connection has a 64 MiB page cache, allocated as it
// fills.
//
// # Schema
//
// Migrations live in migrations/NNNN_name.sql, embedded in the binary, and
// are applied in order inside one BEGIN IMMEDIATE transaction that also
// records them in schema_version (version, name, applied_at). Times are
// Unix nanoseconds in INTEGER columns; fingerprints (uint64) are stored as
// the int64 with the same bits, so they round-trip exactly. The tables:
//
//   - runs (tenant, id, trigger, status, owner, created_at, info): info is
//     the RunInfo as JSON; the other columns are what ListRuns and
//     LiveRuns filter on. Primary key (tenant, id); indexes on (tenant,
//     created_at, id) and on live statuses.
//   - connections (tenant, connection_id, version): each connection's
//     snapshot version.
//   - records (tenant, connection_id, kind, key, fingerprint, data,
//     updated_at, updated_by, removed_at, removed_by): the snapshots. data
//     is storage.EncodeRecord's JSON; removed_at is NULL on live records
//     and set on tombstones, which are never deleted. Primary key (tenant,
//     connection_id, kind, key), WITHOUT ROWID: the rows live in the key's
//     b-tree, one write per record instead of two. email, identity_key
//     and status are what storage.IndexFields gives (NULL for none),
//     written by Apply with each record and each in a partial index by
//     tenant (status for the statuses other than active, the few), so
//     that SearchRecords finds a person or a status across connections
//     with an index range; the primary key serves paging and active
//     records.
//   - applied_change_sets (tenant, connection_id, id, applied_at): the IDs
//     Apply has seen, for idempotence.
//   - change_log (seq AUTOINCREMENT, tenant, connection_id, run_id,
//     change_set_id, op, kind, key, fingerprint, prev_fingerprint, at,
//     before_data, after_data, erased_by): one row per applied change,
//     with the record before it (read from records by a primary-key lookup
//     in the row's own INSERT, before the record's statement runs) and
//     after it; one row per record an erasure removed. Indexed by (tenant,
//     seq) and, for the filters of Changes, by (tenant, connection_id,
//     seq), (tenant, run_id, seq), (tenant, key, seq) and (tenant, at).
//   - held_change_sets (tenant, id, connection_id, run_id, base_version,
//     added, updated, removed, reason, created_at, changes): changes is a
//     JSON array; unique per (tenant, connection_id).
//   - outbox (seq AUTOINCREMENT, tenant, id, run_id, body, state,
//     attempts, due_at, lease_owner, lease_until, last_error, created_at,
//     settled_at): the notifications of storage.Outbox, body the
//     Notification as JSON, written in the transaction of the run, hold or
//     decision that causes them; unique per (tenant, id), so writing the
//     same notification twice stores it once. A claim is one immediate
//     transaction: the file's write lock makes processes take turns, each
//     leasing other rows. Pending rows are indexed by seq, settled ones by
//     (tenant, settled_at) for Prune.
//   - leases (name, owner, expires_at).
//
// # Concurrency
//
// A Store is safe for concurrent use by goroutines, and several processes
// may open the same file. Writes go through one connection per Store in
// BEGIN IMMEDIATE transactions, so a write takes the file's write lock
// before it reads anything it depends on (the change-set ID, the snapshot
// version, a lease's holder): the checks and the writes are atomic across
// processes. Other writers wait up to the busy timeout. Reads use a pool of
// connections; Snapshot streams its rows from one read transaction, so its
// entries and version are consistent and memory use does not grow with the
// snapshot. Apply writes records and change-log rows with multi-row
// statements of 32 rows, while a goroutine of its own encodes the records
// ahead of them; a change set is committed whole or not at all, also when
// the process is killed or the context canceled in the middle.
//
// An apply holds the file's write lock until it commits (about a second
// per 100k records): other writers of the same process queue for the write
// connection, those of other processes wait up to the busy timeout.
//
// Leases expire by the Store's clock (Config.Clock): a lease is live while
// now < expires_at. Processes sharing a file must agree on the time.
//
// # Errors
//
// The engine validates arguments and adds the context (tenant, run,
// connection) to errors before and after it calls the Store (see package
// storage). Errors wrap the root package's sentinels where the contract
// names them: resync.ErrConflict (Apply on a stale base version; CreateRun
// of an existing run) and resync.ErrNotFound; resync.ErrInvalidRequest
// for an unusable path or a record that cannot be encoded. Open
// fails with ErrSchemaTooNew for a file migrated by a newer release, and
// with a message naming the path when the file cannot be opened or is not
// a database. SQLite errors (a lock still busy after the timeout, a full
// disk) are returned wrapped with what was being done.
package sqlite
