-- Version 3: decisions on held change sets (storage.HeldDecider).
--
-- A decided change set moves out of held_change_sets (which keeps at most
-- one held set per connection, and whose changes are deleted with it) into
-- this table, with who decided, when, what and why. An approval's changes
-- are in the change log; the counts stay here. Nothing existing is
-- rewritten.
CREATE TABLE {schema}.decided_change_sets (
	tenant          text COLLATE "C" NOT NULL,
	id              text COLLATE "C" NOT NULL,
	connection_id   text COLLATE "C" NOT NULL,
	run_id          text COLLATE "C" NOT NULL,
	base_version    bigint NOT NULL,
	reason          text NOT NULL,
	created_at      timestamptz NOT NULL,
	created_ns      integer NOT NULL,
	added           integer NOT NULL,
	updated         integer NOT NULL,
	removed         integer NOT NULL,
	decision        text NOT NULL,  -- resync.Decision.Kind: applied, rejected, superseded
	decided_by      jsonb NOT NULL, -- resync.Principal
	decided_at      timestamptz NOT NULL,
	decided_ns      integer NOT NULL,
	decision_reason text NOT NULL,
	PRIMARY KEY (tenant, id)
);
CREATE INDEX decided_change_sets_by_time ON {schema}.decided_change_sets (tenant, decided_at DESC, decided_ns DESC, id DESC);
