# Targets named in the README. All of them work from a clean clone with Go 1.26+
# (the root module alone builds with Go 1.25; connectors/ldap needs 1.26).
PKGS := github.com/openresync/resync/...

.PHONY: quickstart admin test test-integration lint bench bench-short fuzz concurrency load

quickstart: ## run the quickstart example (no servers, no credentials)
	go run ./examples/quickstart

admin: ## serve the admin page on 127.0.0.1:8080 (the quickstart's sample organisation)
	go run ./examples/admin

test: ## all modules, race detector on (PostgreSQL and LDAP tests skip without RESYNC_POSTGRES_URL, RESYNC_LDAP_URL)
	go test -race -count=1 $(PKGS)

test-integration: ## as CI does: start PostgreSQL and slapd on loopback, require integration tests
	bash .ci/run

lint: ## gofmt and go vet
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); exit 1)
	go vet $(PKGS)

bench: ## engine, diff and scheduler benchmarks of the root package
	go test -run '^$$' -bench . -benchtime 3x -count 3 .

bench-short: ## the first-sync benchmark's short form (50 connections x 5,000 new records), quick enough for CI
	go test -run '^$$' -bench FirstSync -short -benchtime 3x -count 5 .

fuzz: ## the diff/apply round-trip fuzzer, one minute
	go test -run '^$$' -fuzz FuzzDiffApply -fuzztime 60s .

concurrency: ## the engine's rule tests, many times under the race detector
	go test -race -count=50 -run 'Rule' .

load: ## 200 concurrent admins starting, polling and streaming for 30 s against the admin API on SQLite
	cd examples/admin && go test -run '^$$' -bench Load -benchtime 1x -count 1 .
