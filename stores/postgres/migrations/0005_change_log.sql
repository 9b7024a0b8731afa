-- Version 5: a change log an auditor can read, and the indexes of its
-- filters. {schema} is replaced by the quoted schema name.
--
-- Each entry keeps the record before the change (the live record it
-- replaced or removed, read from records in the transaction of the change;
-- NULL for adds) and after it (NULL for removes). Entries written before
-- have neither. erased_by names who asked for an erasure, on the entries
-- that record one. Adding nullable columns rewrites nothing.
ALTER TABLE {schema}.changes ADD COLUMN before_data jsonb;
ALTER TABLE {schema}.changes ADD COLUMN after_data jsonb;
ALTER TABLE {schema}.changes ADD COLUMN erased_by text;

-- changes_by_connection (tenant, connection_id, seq) serves the filter by
-- connection and, merged over the tenant's connections, the whole log;
-- applied_change_sets' seq ranges serve the filter by run. These serve
-- the filters by key (a person's entries in every connection) and time.
-- Kind and op are filtered on the rows these select.
CREATE INDEX changes_by_key ON {schema}.changes (tenant, key, seq);
CREATE INDEX changes_by_time ON {schema}.changes (tenant, at);
