-- Version 6: the outbox of notifications (storage.Outbox).
--
-- A notification is written in the same transaction as the state change
-- that causes it and stays pending until it is delivered or given up. A
-- claim leases it to one engine (lease_owner until lease_until); a failed
-- attempt makes it due again at due_at. Settled rows are kept until Prune.
-- Nothing existing is rewritten.
CREATE TABLE outbox (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT, -- enqueue order
    tenant      TEXT    NOT NULL,
    id          TEXT    NOT NULL, -- resync.Notification.ID
    run_id      TEXT    NOT NULL,
    body        BLOB    NOT NULL, -- the resync.Notification as JSON, Attempt 0
    state       TEXT    NOT NULL DEFAULT 'pending', -- pending, delivered, failed
    attempts    INTEGER NOT NULL DEFAULT 0,
    due_at      INTEGER NOT NULL DEFAULT 0, -- Unix nanoseconds
    lease_owner TEXT    NOT NULL DEFAULT '',
    lease_until INTEGER NOT NULL DEFAULT 0, -- Unix nanoseconds
    last_error  TEXT    NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL, -- Unix nanoseconds
    settled_at  INTEGER           -- Unix nanoseconds; NULL while pending
);
CREATE UNIQUE INDEX outbox_by_id ON outbox (tenant, id);
CREATE INDEX outbox_pending ON outbox (seq) WHERE state = 'pending';
CREATE INDEX outbox_settled ON outbox (tenant, settled_at) WHERE state <> 'pending';
