-- Version 6: the outbox of notifications (storage.Outbox). {schema} is
-- replaced by the quoted schema name.
--
-- A notification is written in the same transaction as the state change
-- that causes it and stays pending until it is delivered or given up.
-- Engines claim due rows with SELECT ... FOR UPDATE SKIP LOCKED and lease
-- them (lease_owner until lease_until, by the database clock), so that
-- replicas deliver each once in the normal case; a failed attempt makes a
-- row due again at due_at. Settled rows are kept until Prune. Nothing
-- existing is rewritten.
CREATE TABLE {schema}.outbox (
	seq         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, -- enqueue order
	tenant      text COLLATE "C" NOT NULL,
	id          text COLLATE "C" NOT NULL, -- resync.Notification.ID
	run_id      text COLLATE "C" NOT NULL,
	body        jsonb NOT NULL,            -- the resync.Notification, Attempt 0
	state       text NOT NULL DEFAULT 'pending', -- pending, delivered, failed
	attempts    integer NOT NULL DEFAULT 0,
	due_at      timestamptz NOT NULL DEFAULT '-infinity',
	lease_owner text NOT NULL DEFAULT '',
	lease_until timestamptz NOT NULL DEFAULT '-infinity',
	last_error  text NOT NULL DEFAULT '',
	created_at  timestamptz NOT NULL DEFAULT now(),
	settled_at  timestamptz,               -- NULL while pending
	UNIQUE (tenant, id)
);
CREATE INDEX outbox_pending ON {schema}.outbox (seq) WHERE state = 'pending';
CREATE INDEX outbox_settled ON {schema}.outbox (tenant, settled_at) WHERE state <> 'pending';
