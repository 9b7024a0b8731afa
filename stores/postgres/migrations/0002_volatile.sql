-- Version 2: volatile fields and versioned fingerprints.
--
-- Each record gets the digest of its volatile fields (last login, last use;
-- resync.VolatileDigest): a change in them alone is stored as a refresh,
-- without a change-log entry. Rows stored before have 0 until their next
-- read rewrites them. Adding a column with a constant default rewrites
-- nothing.
ALTER TABLE {schema}.records ADD COLUMN volatile bigint NOT NULL DEFAULT 0;
ALTER TABLE {schema}.held_changes ADD COLUMN volatile bigint NOT NULL DEFAULT 0;

-- Fingerprints now carry the version of their definition in their top
-- eight bits (resync.FingerprintVersion). Those stored before had none:
-- they become version 0, which the engine recomputes from the stored
-- records on the next read instead of reporting every record as updated.
-- Tombstones keep theirs: nothing compares them.
UPDATE {schema}.records SET fingerprint = fingerprint & 72057594037927935 WHERE removed_at IS NULL;
UPDATE {schema}.held_changes SET fingerprint = fingerprint & 72057594037927935,
	prev_fingerprint = prev_fingerprint & 72057594037927935;
