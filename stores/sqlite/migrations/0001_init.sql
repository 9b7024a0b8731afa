-- Runs: the RunInfo as JSON, with the fields queries filter on as columns.
CREATE TABLE runs (
    tenant     TEXT    NOT NULL,
    id         TEXT    NOT NULL,
    trigger    TEXT    NOT NULL,
    status     TEXT    NOT NULL,
    owner      TEXT    NOT NULL,
    created_at INTEGER NOT NULL, -- Unix nanoseconds
    info       BLOB    NOT NULL, -- RunInfo as JSON
    PRIMARY KEY (tenant, id)
);
CREATE INDEX runs_by_created ON runs (tenant, created_at DESC, id DESC);
CREATE INDEX runs_live ON runs (status) WHERE status IN ('pending', 'running');

-- Connections: the snapshot version of each connection ever applied or held.
CREATE TABLE connections (
    tenant        TEXT    NOT NULL,
    connection_id TEXT    NOT NULL,
    version       INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant, connection_id)
) WITHOUT ROWID;

-- Records: each connection's snapshot, tombstones included.
CREATE TABLE records (
    tenant        TEXT    NOT NULL,
    connection_id TEXT    NOT NULL,
    kind          INTEGER NOT NULL, -- resync.RecordKind
    key           TEXT    NOT NULL,
    fingerprint   INTEGER NOT NULL, -- uint64 stored as its int64 bit pattern
    data          BLOB    NOT NULL, -- resync.MarshalRecord
    updated_at    INTEGER NOT NULL, -- Unix nanoseconds
    updated_by    TEXT    NOT NULL, -- run ID
    removed_at    INTEGER,          -- Unix nanoseconds; NULL while live
    removed_by    TEXT,
    PRIMARY KEY (tenant, connection_id, kind, key)
) WITHOUT ROWID;

-- Applied change sets, for idempotence.
CREATE TABLE applied_change_sets (
    tenant        TEXT    NOT NULL,
    connection_id TEXT    NOT NULL,
    id            TEXT    NOT NULL,
    applied_at    INTEGER NOT NULL,
    PRIMARY KEY (tenant, connection_id, id)
) WITHOUT ROWID;

-- Change log: one row per applied change.
CREATE TABLE change_log (
    seq              INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant           TEXT    NOT NULL,
    connection_id    TEXT    NOT NULL,
    run_id           TEXT    NOT NULL,
    change_set_id    TEXT    NOT NULL,
    op               INTEGER NOT NULL, -- resync.ChangeOp
    kind             INTEGER NOT NULL,
    key              TEXT    NOT NULL,
    fingerprint      INTEGER NOT NULL,
    prev_fingerprint INTEGER NOT NULL,
    at               INTEGER NOT NULL
);
CREATE INDEX change_log_by_tenant ON change_log (tenant, seq);

-- Held change sets: at most one per connection.
CREATE TABLE held_change_sets (
    tenant        TEXT    NOT NULL,
    id            TEXT    NOT NULL,
    connection_id TEXT    NOT NULL,
    run_id        TEXT    NOT NULL,
    base_version  INTEGER NOT NULL,
    added         INTEGER NOT NULL,
    updated       INTEGER NOT NULL,
    removed       INTEGER NOT NULL,
    reason        TEXT    NOT NULL,
    created_at    INTEGER,          -- Unix nanoseconds; NULL for the zero time
    changes       BLOB    NOT NULL, -- JSON array of changes
    PRIMARY KEY (tenant, id),
    UNIQUE (tenant, connection_id)
);

-- Leases: named, expiring, one owner each.
CREATE TABLE leases (
    name       TEXT    NOT NULL PRIMARY KEY,
    owner      TEXT    NOT NULL,
    expires_at INTEGER NOT NULL -- Unix nanoseconds; live while now < expires_at
) WITHOUT ROWID;
