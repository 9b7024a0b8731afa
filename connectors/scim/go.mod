module github.com/openresync/resync/connectors/scim

go 1.26.0

replace github.com/openresync/resync => ../..

require (
	github.com/elimity-com/scim v0.0.0-20260728105928-2641426a1539
	github.com/openresync/resync v0.0.0-00010101000000-000000000000
)
