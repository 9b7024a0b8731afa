-- Version 8: what package linking keeps (storage.LinkStore): each
-- account's link to a person, the findings (open and closed, the log of
-- what was learned when), and admins' decisions on accounts. {schema} is
-- replaced by the quoted schema name. Times are Unix nanoseconds, so that
-- they round-trip exactly.
CREATE TABLE {schema}.account_links (
	tenant        text COLLATE "C" NOT NULL,
	connection_id text COLLATE "C" NOT NULL,
	account_key   text COLLATE "C" NOT NULL,
	situation     text NOT NULL,
	person_id     text COLLATE "C" NOT NULL,
	rule          text NOT NULL,
	candidates    text[],
	active        boolean NOT NULL,
	updated_at    bigint NOT NULL,
	run_id        text NOT NULL,
	PRIMARY KEY (tenant, connection_id, account_key)
);
CREATE INDEX account_links_by_person ON {schema}.account_links (tenant, person_id, connection_id, account_key);
CREATE INDEX account_links_by_situation ON {schema}.account_links (tenant, situation, connection_id, account_key);

CREATE TABLE {schema}.findings (
	seq           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	tenant        text COLLATE "C" NOT NULL,
	kind          text NOT NULL,
	connection_id text COLLATE "C" NOT NULL,
	account_key   text COLLATE "C" NOT NULL,
	person_id     text COLLATE "C" NOT NULL,
	detail        text NOT NULL,
	opened_at     bigint NOT NULL,
	opened_run    text NOT NULL,
	confirmed_at  bigint NOT NULL,
	confirmed_run text NOT NULL,
	closed_at     bigint,
	closed_run    text NOT NULL DEFAULT ''
);
CREATE INDEX findings_by_tenant ON {schema}.findings (tenant, seq);
CREATE INDEX findings_open_by_connection ON {schema}.findings (tenant, connection_id, seq) WHERE closed_at IS NULL;
CREATE INDEX findings_by_connection ON {schema}.findings (tenant, connection_id, seq);
CREATE INDEX findings_by_person ON {schema}.findings (tenant, person_id, seq);
CREATE INDEX findings_by_opened_run ON {schema}.findings (tenant, opened_run, seq);
CREATE INDEX findings_by_opened ON {schema}.findings (tenant, opened_at);
CREATE INDEX findings_by_closed ON {schema}.findings (tenant, closed_at);

CREATE TABLE {schema}.link_decisions (
	seq           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	tenant        text COLLATE "C" NOT NULL,
	connection_id text COLLATE "C" NOT NULL,
	account_key   text COLLATE "C" NOT NULL,
	kind          text NOT NULL,
	person        text NOT NULL,
	decided_by    jsonb NOT NULL,
	at            bigint NOT NULL,
	reason        text NOT NULL
);
CREATE INDEX link_decisions_by_tenant ON {schema}.link_decisions (tenant, seq);
CREATE INDEX link_decisions_by_account ON {schema}.link_decisions (tenant, connection_id, account_key, seq);
