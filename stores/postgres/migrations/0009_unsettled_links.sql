-- Version 9: links are listed by situation through a partial index of
-- the situations that need someone's attention. Nearly every link of a
-- tenant is 'linked', and an index of every link by situation cost a
-- third of the time of storing a first correlation's links; a listing of
-- the linked reads the primary key and filters. {schema} is replaced by
-- the quoted schema name.
DROP INDEX {schema}.account_links_by_situation;
CREATE INDEX account_links_unsettled ON {schema}.account_links (tenant, situation, connection_id, account_key)
	WHERE situation <> 'linked';
