-- Version 4: records found by person and status across a tenant's
-- connections (storage.RecordSearcher).
--
-- Each record's email (an identity's Email, an account's OwnerEmail, with
-- ASCII letters lowered as storage.FoldEmail does: lower() in the C
-- collation), identity key (an identity's Key, an account's ExternalID)
-- and lifecycle status are stored columns PostgreSQL computes from the
-- record's JSON (storage.IndexFields) whenever a record is written. Adding
-- them computes them for every row already stored (the table is rewritten
-- once, under an exclusive lock), so an upgraded database finds all of its
-- records. Groups, empty emails and empty keys give NULL, which the
-- partial indexes leave out.
ALTER TABLE {schema}.records
	ADD COLUMN email text COLLATE "C" GENERATED ALWAYS AS (CASE kind
		WHEN 1 THEN NULLIF(lower((data->>'Email') COLLATE "C"), '')
		WHEN 2 THEN NULLIF(lower((data->>'OwnerEmail') COLLATE "C"), '')
		END) STORED,
	ADD COLUMN identity_key text COLLATE "C" GENERATED ALWAYS AS (CASE kind
		WHEN 1 THEN key
		WHEN 2 THEN NULLIF(data->>'ExternalID', '')
		END) STORED,
	ADD COLUMN status text COLLATE "C" GENERATED ALWAYS AS (CASE
		WHEN kind IN (1, 2) THEN data->>'Status'
		END) STORED;

CREATE INDEX records_by_email ON {schema}.records (tenant, email) WHERE email IS NOT NULL;
CREATE INDEX records_by_identity_key ON {schema}.records (tenant, identity_key) WHERE identity_key IS NOT NULL;
-- In search order after the status, so that a page of one status is a
-- range of this index. Active records, most of them, are left out: every
-- index costs each apply, and a page of active records is read from the
-- primary key, where most rows match.
CREATE INDEX records_by_status ON {schema}.records (tenant, status, connection_id, kind, key) WHERE status <> 'active';
