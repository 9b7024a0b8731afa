-- Version 7: the outbox read as a tenant's log of notifications
-- (storage.NotificationLog), in enqueue order. {schema} is replaced by the
-- quoted schema name. Nothing existing is rewritten.
CREATE INDEX outbox_log ON {schema}.outbox (tenant, seq);
