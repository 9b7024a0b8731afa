-- Version 2: volatile fields and versioned fingerprints.
--
-- Each record gets the digest of its volatile fields (last login, last use;
-- resync.VolatileDigest): a change in them alone is stored as a refresh,
-- without a change-log entry. Rows stored before have 0 until their next
-- read rewrites them.
ALTER TABLE records ADD COLUMN volatile INTEGER NOT NULL DEFAULT 0; -- uint64 as its int64 bit pattern

-- Fingerprints now carry the version of their definition in their top
-- eight bits (resync.FingerprintVersion). Those stored before had none:
-- they become version 0, which the engine recomputes from the stored
-- records on the next read instead of reporting every record as updated.
-- Tombstones keep theirs: nothing compares them.
UPDATE records SET fingerprint = fingerprint & 72057594037927935 WHERE removed_at IS NULL;
