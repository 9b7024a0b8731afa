-- Version 1: the whole store. {schema} is replaced by the quoted schema name.

CREATE TABLE {schema}.runs (
	tenant      text COLLATE "C" NOT NULL,
	id          text COLLATE "C" NOT NULL,
	trigger     text NOT NULL,
	status      text NOT NULL,
	owner       text COLLATE "C" NOT NULL,
	created_at  timestamptz NOT NULL,
	created_ns  integer NOT NULL,
	finished_at timestamptz,
	info        jsonb NOT NULL,
	PRIMARY KEY (tenant, id)
);
CREATE INDEX runs_by_created ON {schema}.runs (tenant, created_at DESC, created_ns DESC, id DESC);
CREATE INDEX runs_live ON {schema}.runs (owner) WHERE status IN ('pending', 'running');

CREATE TABLE {schema}.connections (
	tenant        text COLLATE "C" NOT NULL,
	connection_id text COLLATE "C" NOT NULL,
	version       bigint NOT NULL DEFAULT 0,
	PRIMARY KEY (tenant, connection_id)
);

CREATE TABLE {schema}.records (
	tenant        text COLLATE "C" NOT NULL,
	connection_id text COLLATE "C" NOT NULL,
	kind          smallint NOT NULL,
	key           text COLLATE "C" NOT NULL,
	fingerprint   bigint NOT NULL,
	data          jsonb NOT NULL,
	updated_at    timestamptz NOT NULL,
	updated_by    text COLLATE "C" NOT NULL,
	removed_at    timestamptz,
	removed_by    text COLLATE "C",
	PRIMARY KEY (tenant, connection_id, kind, key)
) WITH (fillfactor = 80); -- room for HOT updates: an update then adds no index entry

CREATE TABLE {schema}.applied_change_sets (
	tenant        text COLLATE "C" NOT NULL,
	connection_id text COLLATE "C" NOT NULL,
	change_set_id text COLLATE "C" NOT NULL,
	run_id        text COLLATE "C" NOT NULL,
	version       bigint NOT NULL,
	applied_at    timestamptz NOT NULL,
	-- The change set's change-log entries are the connection's entries
	-- with seq in [first_seq, last_seq] (NULL when it had no changes).
	first_seq     bigint,
	last_seq      bigint,
	PRIMARY KEY (tenant, connection_id, change_set_id)
);
CREATE INDEX applied_change_sets_by_run ON {schema}.applied_change_sets (tenant, run_id);

CREATE TABLE {schema}.changes (
	-- From a sequence, so unique. The one index serves every query: by
	-- connection directly, by run through applied_change_sets' seq ranges,
	-- by tenant through a merge over the tenant's connections.
	seq              bigserial,
	tenant           text COLLATE "C" NOT NULL,
	connection_id    text COLLATE "C" NOT NULL,
	run_id           text COLLATE "C" NOT NULL,
	change_set_id    text COLLATE "C" NOT NULL,
	op               smallint NOT NULL,
	kind             smallint NOT NULL,
	key              text COLLATE "C" NOT NULL,
	fingerprint      bigint NOT NULL,
	prev_fingerprint bigint NOT NULL,
	at               timestamptz NOT NULL
);
CREATE INDEX changes_by_connection ON {schema}.changes (tenant, connection_id, seq);

CREATE TABLE {schema}.held_change_sets (
	tenant        text COLLATE "C" NOT NULL,
	id            text COLLATE "C" NOT NULL,
	connection_id text COLLATE "C" NOT NULL,
	run_id        text COLLATE "C" NOT NULL,
	base_version  bigint NOT NULL,
	reason        text NOT NULL,
	created_at    timestamptz NOT NULL,
	created_ns    integer NOT NULL,
	added         integer NOT NULL,
	updated       integer NOT NULL,
	removed       integer NOT NULL,
	PRIMARY KEY (tenant, id),
	UNIQUE (tenant, connection_id)
);

CREATE TABLE {schema}.held_changes (
	tenant           text COLLATE "C" NOT NULL,
	held_id          text COLLATE "C" NOT NULL,
	ord              integer NOT NULL,
	op               smallint NOT NULL,
	kind             smallint NOT NULL,
	key              text COLLATE "C" NOT NULL,
	fingerprint      bigint NOT NULL,
	prev_fingerprint bigint NOT NULL,
	data             jsonb,
	PRIMARY KEY (tenant, held_id, ord),
	FOREIGN KEY (tenant, held_id) REFERENCES {schema}.held_change_sets (tenant, id) ON DELETE CASCADE
);

CREATE TABLE {schema}.leases (
	name       text COLLATE "C" PRIMARY KEY,
	owner      text COLLATE "C" NOT NULL,
	expires_at timestamptz NOT NULL
);
