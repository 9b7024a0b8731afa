-- Version 7: the outbox read as a tenant's log of notifications
-- (storage.NotificationLog), in enqueue order. Nothing existing is rewritten.
CREATE INDEX outbox_log ON outbox (tenant, seq);
