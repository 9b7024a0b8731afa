// Package river runs resync's reads as River jobs on PostgreSQL
// (github.com/riverqueue/river), so that many worker processes share a
// platform's sync work in the job system it already operates.
//
// # Setup
//
// Every process opens the PostgreSQL store, an Executor on it, and an
// engine with the executor as its Config.Executor; worker processes then
// Start the executor with their engine:
//
//	store, _ := postgres.Open(ctx, url, postgres.Config{})
//	x, _ := river.New(ctx, river.Config{Store: store, Workers: 16})
//	engine, _ := resync.New(ctx, resync.Config{Store: store, Executor: x, Concurrency: 16, ...})
//	_ = x.Start(ctx, engine)
//	defer engine.Close(ctx)
//	defer x.Stop(ctx)
//
// A process with Workers 0 only submits runs (an API replica). River's
// newest releases need Go 1.26: this module declares it, while the root
// module stays at Go 1.25.
//
// # Guarantees
//
// Each request's run is stored with one River job per connection in one
// transaction (River's transactional insert on the store's pool): a run
// never exists without its jobs, nor a job without its run.
//
// Dedup is the engine's: at most one pending read per connection, which
// every request joins; a request while a read is under way gets exactly
// one follow-up read. Jobs are River unique jobs by tenant, connection and
// read generation; the generation moves on when a read starts, under a row
// lock that orders it against submits, so a request either joins the read
// before it starts or gets the next generation's job. A read requested
// less than Config.MinReadInterval after the connection's last read
// started is scheduled for when the interval is over. Two reads of one
// connection never overlap: the engine's read lease holds across workers.
//
// Retries: page retries (with backoff and throttle waits) stay inside the
// job. River retries a job only when the read failed as a whole (its page
// retries spent, a non-permanent error) or its worker died, up to
// Config.MaxAttempts; the last attempt's result is recorded whatever it is
// (a timeout included). A job whose worker died on its last attempt is
// discarded by River's rescuer and records nothing: its runs stay running
// until canceled, so keep MaxAttempts above the worker deaths you expect
// in a row.
// Every attempt of a job applies under the same change-set ID, and a retry
// diffs against the snapshot the earlier attempt may have applied, so
// nothing is applied twice.
//
// Completion: a job records its result on every run waiting for it in
// one statement, which marks the job's waits recorded and counts down each
// run's counter of unfinished connections; River then marks the job
// completed. A result is recorded once (a rescued attempt of a job whose
// worker died after recording finds its waits recorded), and the job that
// counts a run down to zero completes the run, once. While the run goes
// on, its stored record (what Engine.GetRun and the run handle show) is
// rewritten with the results so far at most once a second.
//
// Cancel (Engine.Cancel from any process, or Run.Cancel) marks the run
// canceled and cancels with River's job cancel the jobs no other live run
// waits for; a read under way stops between pages and applies nothing.
//
// # Telemetry
//
// With Config.TracerProvider (or MeterProvider) set, the River client
// runs River's OpenTelemetry middleware (otelriver): a span and metrics
// for each insert of a run's jobs and for each job worked. The trace
// context of the request that submits a run travels in its jobs'
// metadata, and a job's span is a child of it; the engine's spans of the
// read ("resync.connection") are children of the job's. A read, on
// whichever worker, is thus in the trace of the request that asked for
// it. Give the executor the engines' providers.
//
// # Scheduled syncs
//
// Run a resync.Scheduler on the engine of each replica (or of a few): it
// starts each tenant's scheduled runs from its due-time heap through
// Engine.Start, so their reads are River jobs like any run's, and its
// per-tenant slot lease makes each slot run once however many replicas
// schedule. River's periodic jobs are not used.
//
// # Crashed workers
//
// A worker killed mid-read leaves its job running and its connection's
// read lease held. River's rescuer, on the elected leader, makes the job
// retryable once it has run for Config.RescueAfter (which must exceed
// Config.JobTimeout); it looks every 30 seconds. Another worker then reads
// the connection again once the dead worker's read lease has expired (the
// engine's Config.LeaseTTL). The time to recover is at most RescueAfter
// plus 30 seconds plus LeaseTTL.
//
// The rescuer runs on whichever River client on the schema is elected
// leader, and discards a stuck job of a kind that client does not know.
// Every River client of the host on the same schema must therefore know
// the read job: register it with Executor.AddWorker.
package river
