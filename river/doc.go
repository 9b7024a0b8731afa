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
// (a timeout included). A job that ends without recording its result (a
// worker died on its last attempt and River's rescuer discarded the job,
// or an operator canceled or deleted it, in River UI say) is found by the
// sweep every started executor runs each Config.SweepEvery, and recorded
// failed on the runs waiting for it, with what River knows of it (its
// state, attempts and last error): no run waits for a read that will not
// come.
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
// # Notifications and AfterRun
//
// Runs on River notify as in process, through the PostgreSQL store's
// outbox, when the engines have a Notifier: the "started" notifications
// are stored with the run by the process that submits it, and the
// "completed" ones with the run's end by the worker whose job completes
// it (or the process that cancels it). Any engine on the store delivers
// them, each once. That worker's engine calls Config.AfterRun (a
// linking.Linker's, say) with the ended run before its final state is
// stored and notified, once per run, so that what the run applied is
// linked without host code; only when storing the end fails after it (the
// worker died in between) is it called again, by the job's retry. It
// runs with no transaction of the worker open, so it may use the store's
// pool however many workers end runs at once. A
// canceled run is ended the same way, by the process that cancels it.
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
// Set Config.Schedule on every worker process and call Executor.Schedule
// for each tenant (the same tenants everywhere, typically all of them at
// start):
//
//	x, _ := river.New(ctx, river.Config{Store: store, Workers: 16,
//		Schedule: &river.ScheduleConfig{Schedule: resync.Daily(2, 0, nil, 4*time.Hour)}})
//	for _, tenant := range tenants {
//		_ = x.Schedule(tenant, resync.TenantConfig{})
//	}
//
// River's elected leader runs one periodic job, every ScheduleConfig.Tick
// (a minute by default). Whichever worker process works it takes the
// schedule's row lock and enqueues a job for each tenant with a slot
// between the last tick and now (the database's clock, the same for
// every process), then moves the last tick to now, in one transaction:
// the ticks are ordered, each instant belongs to exactly one tick, and a
// tick that fails enqueues nothing (the next one covers its slots). The
// due tenants come from a min-heap of due times in each process (the one
// resync.Scheduler keeps its tenants in: O(log n) per tenant due, never a
// scan of the tenants); a process's heap moves on with each tick it
// works, so a process that has not worked a tick for a while skips the
// slots earlier ticks enqueued, at the same O(log n) each.
//
// The job of a tenant's slot is a River unique job by tenant and slot, in
// every state River keeps (completed included): a slot is enqueued once
// however many ticks, leaders or processes find it due. A leader change
// (River elects another leader within seconds, whose periodic job ticks
// at once) neither loses nor doubles a slot, as long as it takes less
// than a tenant's period (see below for longer gaps). The job plans the
// tenant's run as the engine plans a scheduled request (SystemPrincipal,
// TriggerScheduled, the tenant's Scope), then stores the run, with an ID
// derived from the slot, and its read jobs, and completes itself, all in
// one transaction: if its worker dies, either all of it happened or none
// did and River's rescuer hands the job to another worker; a slot's run
// is never stored twice. Its reads are read jobs like any run's (dedup,
// retries and completion above).
//
// When no tick ran for longer than a tenant's period (every worker down,
// or no leader), the tenant runs once for the first slot it missed, then
// on schedule again; a tenant scheduled for the first time waits for its
// first slot. Unlike resync.Scheduler, a failed scheduled run is not
// retried before the tenant's next slot (its reads have River's retries)
// and tenants are not quarantined. A River client of the host's own on
// the schema that may be elected leader must carry Executor.PeriodicJob,
// or no tick is enqueued while it leads.
//
// A resync.Scheduler on each replica's engine (Config.Schedule unset)
// works too: it starts runs through Engine.Start, so their reads are
// River jobs, and its per-tenant lease keeps a slot to one replica.
//
// # Crashed workers
//
// A worker killed at any point of a read (before its first page, mid-read,
// after applying, while completing its job, or while submitting a run of
// its own) leaves its job running and its connection's read lease held;
// what it was submitting is not stored. River's rescuer, on the elected
// leader, makes the job retryable once it has run for Config.RescueAfter
// (which must exceed Config.JobTimeout); it looks every 30 seconds.
// Another worker then takes it after River's retry backoff (a second for a
// second attempt) and reads the connection again once the dead worker's
// read lease has expired (the engine's Config.LeaseTTL); what the killed
// attempt applied is found unchanged, not applied again. The time to
// recover is at most RescueAfter plus 30 seconds plus the larger of the
// backoff and LeaseTTL.
//
// A PostgreSQL restart fails the reads under way as a whole (nothing of
// them is applied); River tries their jobs again once the server is back,
// and the runs complete.
//
// The rescuer runs on whichever River client on the schema is elected
// leader, and discards a stuck job of a kind that client does not know.
// Every River client of the host on the same schema must therefore know
// the executor's jobs: register them with Executor.AddWorker.
package river
