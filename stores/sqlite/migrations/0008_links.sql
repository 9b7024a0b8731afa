-- Version 8: what package linking keeps (storage.LinkStore): each
-- account's link to a person, the findings (open and closed, the log of
-- what was learned when), and admins' decisions on accounts.
CREATE TABLE account_links (
    tenant        TEXT NOT NULL,
    connection_id TEXT NOT NULL,
    account_key   TEXT NOT NULL,
    situation     TEXT NOT NULL,
    person_id     TEXT NOT NULL,
    rule          TEXT NOT NULL,
    candidates    TEXT,             -- JSON array, NULL for none
    active        INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL, -- Unix nanoseconds
    run_id        TEXT NOT NULL,
    PRIMARY KEY (tenant, connection_id, account_key)
) WITHOUT ROWID;
CREATE INDEX account_links_by_person ON account_links (tenant, person_id, connection_id, account_key);
CREATE INDEX account_links_by_situation ON account_links (tenant, situation, connection_id, account_key);

CREATE TABLE findings (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant        TEXT NOT NULL,
    kind          TEXT NOT NULL,
    connection_id TEXT NOT NULL,
    account_key   TEXT NOT NULL,
    person_id     TEXT NOT NULL,
    detail        TEXT NOT NULL,
    opened_at     INTEGER NOT NULL,
    opened_run    TEXT NOT NULL,
    confirmed_at  INTEGER NOT NULL,
    confirmed_run TEXT NOT NULL,
    closed_at     INTEGER,          -- NULL while open
    closed_run    TEXT NOT NULL DEFAULT ''
);
CREATE INDEX findings_by_tenant ON findings (tenant, seq);
CREATE INDEX findings_open_by_connection ON findings (tenant, connection_id, seq) WHERE closed_at IS NULL;
CREATE INDEX findings_by_connection ON findings (tenant, connection_id, seq);
CREATE INDEX findings_by_person ON findings (tenant, person_id, seq);
CREATE INDEX findings_by_opened_run ON findings (tenant, opened_run, seq);
CREATE INDEX findings_by_opened ON findings (tenant, opened_at);
CREATE INDEX findings_by_closed ON findings (tenant, closed_at);

CREATE TABLE link_decisions (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant        TEXT NOT NULL,
    connection_id TEXT NOT NULL,
    account_key   TEXT NOT NULL,
    kind          TEXT NOT NULL,
    person        TEXT NOT NULL,
    decided_by    TEXT NOT NULL,    -- the Principal as JSON
    at            INTEGER NOT NULL,
    reason        TEXT NOT NULL
);
CREATE INDEX link_decisions_by_tenant ON link_decisions (tenant, seq);
CREATE INDEX link_decisions_by_account ON link_decisions (tenant, connection_id, account_key, seq);
