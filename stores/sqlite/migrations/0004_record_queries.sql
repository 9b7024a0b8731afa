-- Version 4: records found by person and status across a tenant's
-- connections (storage.RecordSearcher).
--
-- Each record gets its email (an identity's Email, an account's
-- OwnerEmail, with ASCII letters lowered as storage.FoldEmail does),
-- identity key (an identity's Key, an account's ExternalID) and lifecycle
-- status as columns (storage.IndexFields; NULL for groups and for an empty
-- email or key). Apply writes them with each record; here they are
-- extracted from the JSON of every row already stored, so an upgraded
-- database finds all of its records. SQLite's lower() lowers ASCII
-- letters only, as FoldEmail does.
ALTER TABLE records ADD COLUMN email TEXT;
ALTER TABLE records ADD COLUMN identity_key TEXT;
ALTER TABLE records ADD COLUMN status TEXT;
UPDATE records SET
	email = CASE kind
		WHEN 1 THEN NULLIF(lower(json_extract(CAST(data AS TEXT), '$.Email')), '')
		WHEN 2 THEN NULLIF(lower(json_extract(CAST(data AS TEXT), '$.OwnerEmail')), '')
		END,
	identity_key = CASE kind
		WHEN 1 THEN key
		WHEN 2 THEN NULLIF(json_extract(CAST(data AS TEXT), '$.ExternalID'), '')
		END,
	status = CASE WHEN kind IN (1, 2) THEN NULLIF(json_extract(CAST(data AS TEXT), '$.Status'), '') END;

CREATE INDEX records_by_email ON records (tenant, email) WHERE email IS NOT NULL;
CREATE INDEX records_by_identity_key ON records (tenant, identity_key) WHERE identity_key IS NOT NULL;
-- In search order after the status, so that a page of one status is a
-- range of this index. Active records, most of them, are left out: every
-- index costs each apply, and a page of active records is read from the
-- primary key, where most rows match.
CREATE INDEX records_by_status ON records (tenant, status, connection_id, kind, key) WHERE status <> 'active';
