-- Version 5: a change log an auditor can read, and the indexes of its
-- filters.
--
-- Each entry keeps the record before the change (the live record it
-- replaced or removed, read from records in the transaction of the change;
-- NULL for adds) and after it (NULL for removes), as storage.EncodeRecord
-- encodes them. Entries written before have neither. erased_by names who
-- asked for an erasure, on the entries that record one.
ALTER TABLE change_log ADD COLUMN before_data BLOB;
ALTER TABLE change_log ADD COLUMN after_data BLOB;
ALTER TABLE change_log ADD COLUMN erased_by TEXT;

-- change_log_by_tenant (tenant, seq) serves a tenant's whole log; these
-- serve the filters by connection, run, key and time. Kind and op are
-- filtered on the rows these select.
CREATE INDEX change_log_by_connection ON change_log (tenant, connection_id, seq);
CREATE INDEX change_log_by_run ON change_log (tenant, run_id, seq);
CREATE INDEX change_log_by_key ON change_log (tenant, key, seq);
CREATE INDEX change_log_by_time ON change_log (tenant, at);
