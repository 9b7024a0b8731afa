-- Version 4: records found by person and status across a tenant's
-- connections (storage.RecordSearcher).
--
-- Each record's email (an identity's Email, an account's OwnerEmail, with
-- ASCII letters lowered as storage.FoldEmail does), identity key (an
-- identity's Key, an account's ExternalID) and lifecycle status are
-- columns computed from its JSON by SQLite (storage.IndexFields): they are
-- extracted whenever a record is written, and CREATE INDEX extracts them
-- from every row already stored, so an upgraded database finds all of its
-- records. Groups, empty emails and empty keys give NULL, which the
-- partial indexes leave out.
ALTER TABLE records ADD COLUMN email TEXT GENERATED ALWAYS AS (CASE kind
	WHEN 1 THEN NULLIF(lower(json_extract(CAST(data AS TEXT), '$.Email')), '')
	WHEN 2 THEN NULLIF(lower(json_extract(CAST(data AS TEXT), '$.OwnerEmail')), '')
	END) VIRTUAL;
ALTER TABLE records ADD COLUMN identity_key TEXT GENERATED ALWAYS AS (CASE kind
	WHEN 1 THEN key
	WHEN 2 THEN NULLIF(json_extract(CAST(data AS TEXT), '$.ExternalID'), '')
	END) VIRTUAL;
ALTER TABLE records ADD COLUMN status TEXT GENERATED ALWAYS AS (CASE
	WHEN kind IN (1, 2) THEN json_extract(CAST(data AS TEXT), '$.Status')
	END) VIRTUAL;

CREATE INDEX records_by_email ON records (tenant, email) WHERE email IS NOT NULL;
CREATE INDEX records_by_identity_key ON records (tenant, identity_key) WHERE identity_key IS NOT NULL;
-- In search order after the status, so that a page of one status is a
-- range of this index.
CREATE INDEX records_by_status ON records (tenant, status, connection_id, kind, key) WHERE status IS NOT NULL;
