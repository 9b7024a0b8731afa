module github.com/openresync/resync

go 1.25.0

require (
	github.com/cenkalti/backoff/v4 v4.3.0
	go.opentelemetry.io/otel v1.46.0
	go.opentelemetry.io/otel/metric v1.46.0
	go.opentelemetry.io/otel/trace v1.46.0
	golang.org/x/sync v0.22.0
)

require github.com/cespare/xxhash/v2 v2.3.0 // indirect
