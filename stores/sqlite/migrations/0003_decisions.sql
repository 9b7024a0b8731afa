-- Version 3: decisions on held change sets (storage.HeldDecider).
--
-- A decided change set moves out of held_change_sets (which keeps at most
-- one held set per connection) into this table, with who decided, when,
-- what and why. Its changes are not kept: an approval's are in the change
-- log, and the counts stay here. Nothing existing is rewritten.
CREATE TABLE decided_change_sets (
    tenant          TEXT    NOT NULL,
    id              TEXT    NOT NULL,
    connection_id   TEXT    NOT NULL,
    run_id          TEXT    NOT NULL,
    base_version    INTEGER NOT NULL,
    added           INTEGER NOT NULL,
    updated         INTEGER NOT NULL,
    removed         INTEGER NOT NULL,
    reason          TEXT    NOT NULL,
    created_at      INTEGER,          -- Unix nanoseconds; NULL for the zero time
    decision        TEXT    NOT NULL, -- resync.Decision.Kind: applied, rejected, superseded
    decided_by      BLOB    NOT NULL, -- resync.Principal as JSON
    decided_at      INTEGER NOT NULL, -- Unix nanoseconds
    decision_reason TEXT    NOT NULL,
    PRIMARY KEY (tenant, id)
);
CREATE INDEX decided_change_sets_by_time ON decided_change_sets (tenant, decided_at DESC, id DESC);
