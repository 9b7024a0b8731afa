// Package resync keeps a compliance platform's picture of people and
// accounts true to the systems they live in: identity providers, HRIS,
// cloud infrastructure, version control, MDM, security training,
// observability, access reviews and the rest.
//
// The host platform creates one Engine per process. Admins trigger ad-hoc
// resyncs (Engine.ResyncPersonnel, Engine.ResyncAccounts) when they have
// just onboarded or offboarded someone; a Scheduler runs the daily syncs.
// Each run fans out over the tenant's connections, reads every connection
// through its Connector a page at a time, compares the read with the stored
// snapshot and applies the difference atomically, with a change log for
// audit.
//
// # Vocabulary
//
//   - Tenant: one customer workspace of the host. Every call names one;
//     nothing crosses tenants.
//   - ConnectionType: the category of a connected system (IdP, HRIS, ...;
//     thirteen in all). Provider: the product behind it ("okta", "aws").
//   - Connection: one configured instance of a provider for a tenant.
//   - Connector: the code that reads a connection's current state.
//   - Record: what a connector yields: *Identity, *Account or *Group, each
//     with a provider-stable key.
//   - Snapshot: the stored current state of a connection, with a
//     fingerprint per record. ChangeSet: the diff between a snapshot and a
//     fresh read.
//   - Run: one resync request being carried out. Scope: what it covers.
//
// # Embedding
//
// The host supplies a Store (memstore for tests; stores/sqlite and
// stores/postgres are durable), a ConnectionSource (its own table of
// connections), connector factories by provider (connectors/file reads
// HRIS, IdP and cloud exports), an Authorizer (only admins may resync),
// and optionally a Notifier with a Directory (who the admins are, for
// emails):
//
//	engine, err := resync.New(ctx, resync.Config{
//		Store:       store,
//		Connections: hostConnections,
//		Connectors:  map[string]resync.ConnectorFactory{"hris-export": file.Factory},
//		Authorizer:  hostAuth,
//		Directory:   hostAuth,
//		Notifier:    notifier,
//	})
//	...
//	run, err := engine.ResyncPersonnel(ctx, tenantID, admin) // returns at once
//	info, err := run.Wait(ctx)                             // or poll run.Info() for progress
//
// Engine.Plan answers "what would this resync touch?" for a confirmation
// screen without starting anything.
//
// The stored state is read through the engine too, authorized
// (ActionViewRecords) and scoped to one tenant: Engine.Records pages a
// tenant's records across its connections, filtered by person, kind,
// status, connection and type; Engine.Person answers "is this offboarded
// person still active anywhere?" with every identity and account of the
// person, each saying whether it still counts (StoredRecord.Active: never
// for a connection that was deleted or disabled):
//
//	recs, err := engine.Person(ctx, tenantID, auditor, "mallory@example.com")
//	stillActive := slices.ContainsFunc(recs, func(r resync.StoredRecord) bool { return r.Active })
//
// # Scheduled syncs
//
// A Scheduler runs each tenant's full sync daily (or on any Schedule, such
// as a cron expression), as SystemPrincipal, through the same engine path as
// ad-hoc runs. Daily spreads tenants over a window with a stable offset
// derived from the tenant ID; one heap and one timer serve any number of
// tenants; failed syncs are retried with backoff and tenants that keep
// failing are slowed down; a lease in the Store lets several replicas share
// the work without doubling it. SchedulerConfig sets the defaults of every
// tenant, TenantConfig a tenant's own schedule or scope (its zero value
// takes the defaults):
//
//	s, err := resync.NewScheduler(engine, resync.SchedulerConfig{
//		Schedule: resync.Daily(2, 0, nyc, 4*time.Hour), // 02:00–06:00 New York time
//		Logger:   logger,
//	})
//	s.Add("acme", resync.TenantConfig{})                                         // the defaults
//	s.Add("globex", resync.TenantConfig{Schedule: resync.Every(6 * time.Hour)}) // its own schedule
//	s.Start(ctx)
//	defer s.Stop(ctx)
//
// The scheduler takes its time from the engine's Config.Clock, so a test
// runs days of schedules in virtual time: in a testing/synctest bubble, or
// with a resynctest.Clock moved by hand (see SchedulerConfig).
//
// # Guarantees
//
// The engine's rules, each one tested:
//
//  1. Isolation: one connection's failure, timeout or panic never fails or
//     cancels the others; the run ends succeeded, partial, failed or
//     canceled with a result per connection.
//  2. Retries at page granularity: a transient failure on page 37 retries
//     page 37 with exponential backoff and jitter; permanent errors are not
//     retried; a provider's Retry-After is honoured, and so is a page's
//     NotBefore (the provider's pace), without spending a retry. A wait
//     longer than the read has left ends it at once as throttled
//     (ErrThrottled, ConnThrottled), nothing applied. Connectors classify
//     errors (Permanent, RetryAfter; package connkit for HTTP); the engine
//     retries.
//  3. Nothing lost: a read that did not finish applies nothing. Apply is
//     atomic per connection and idempotent; removal is a tombstone; every
//     change is in the change log, written in the same transaction.
//  4. Delete guard: a read that would remove too much (DeleteGuard) is
//     held until an admin approves (Engine.Approve) or rejects it
//     (Engine.Reject), or a later complete read supersedes it; the
//     decision (who, when, why) is kept on the change set and on the runs
//     that held it.
//  5. Dedup: one read in flight and one pending per connection; a request
//     arriving during a read gets exactly one follow-up read; identical
//     concurrent requests share one run. Two reads of a connection begin
//     at least Config.MinReadInterval apart, so a burst of clicks costs
//     one read per interval; every request is still served by a read that
//     begins after it.
//  6. Bad input gets a clear error: invalid records are rejected and
//     counted; requests naming an unknown tenant, provider or connection
//     fail before anything starts.
//  7. Cancellation and shutdown: Run.Cancel and Engine.Close stop reads
//     between pages and apply nothing partial; no goroutine outlives Close.
//  8. Crash safety: runs left running by a dead process are marked
//     interrupted; the next run repairs the state.
//
// # Audit and personal data
//
// Engine.Changes reads the change log, filtered by connection, run, key,
// kind, op and time, a page at a time. Each entry holds the record before
// and after the change, so "status active → deprovisioned, in run X, at T"
// comes from the log alone:
//
//	log, err := engine.Changes(ctx, tenant, auditor, resync.ChangeQuery{Key: userKey, Op: resync.OpUpdate})
//
// The change log and snapshots hold personal data. With a Store that
// implements storage.Eraser (the three shipped do), Engine.Erase erases
// one person's records and redacts their change-log entries, which keep
// their place, run, op, kind and time, and records the erasure (OpErase
// entries naming who asked, not the person); Engine.DeleteTenant deletes
// everything of a tenant; Engine.Prune deletes runs and change-log entries
// older than Config.Retention. With a Store that also keeps links
// (package linking), an erasure deletes the links of the person's
// accounts and of the accounts linked to them, and redacts the findings
// and admins' linking decisions about them (keeping their kind, time and
// who decided); Prune deletes findings closed before the retention. They
// need ActionEraseData.
//
// # Notifications
//
// Following the product's rules: an in-product notification to the
// requester when a run starts and when it completes; on completion an email
// to every admin of the tenant (personnel resync) or to the requester
// (accounts resync); held change sets alert the admins, and so do the
// decisions on them (NotifyHeldDecided). Scheduled runs notify nobody
// unless Config.NotifyScheduled says otherwise. The in-product notices and
// the emails go to the same Notifier (Notification.Channel tells them
// apart), from the same records.
//
// With a Store that keeps an outbox (storage.Outbox; memstore,
// stores/sqlite and stores/postgres do), notifications are durable: each
// is written in the same transaction as the state change that causes it
// (the run created or joined, the run ended, a change set held, a decision
// on one), and a dispatcher in the engine delivers it afterwards:
//
//   - at least once: a process that dies after a run completed and before
//     its emails went out leaves them in the store, and any engine on
//     that store delivers them (after the dead engine's claim of two
//     Config.LeaseTTL expires). Notification.ID is the same on every
//     attempt, before and after a restart, and unique per run, event,
//     held change set, channel and recipients: a receiver that drops
//     duplicates by it sees each notification once. Notification.Attempt
//     counts the attempts.
//   - once in the normal case among several engines on one store: an
//     engine claims a notification with a lease before delivering it.
//   - with retries: a failed delivery is retried with backoff (see
//     Config.NotifyGiveUp) until it succeeds, the Notifier returns a
//     Permanent error, or Config.NotifyGiveUp (a day by default) has
//     passed since the notification was made; the last error is then
//     recorded on the run (RunInfo.NotifyErrors).
//   - never blocking or failing a run: a run ends, and Run.Done is
//     closed, once its state and notifications are stored; delivery
//     happens after, in the order they were stored for each run (a retry
//     goes after the notifications that followed it). A delivery attempt
//     is bounded by Config.LeaseTTL.
//   - no secrets: a notification carries the run's state (RunInfo) and the
//     held change set's summary, never a connection's settings or
//     resolved credentials.
//
// Engine.Prune deletes delivered and given-up notifications older than
// Config.Retention, Engine.DeleteTenant all of a tenant's. Engine.Close
// waits for the attempts under way (canceling them if its context ends
// first); notifications not yet delivered stay for the next engine. With another Store the engine delivers directly, after
// the state change (a few attempts with backoff, the failure recorded on
// the run): a process that dies in between loses the notification.
//
// # Telemetry
//
// With Config.TracerProvider and Config.MeterProvider set, the engine
// emits a span per run and per connection read (retries as events) and the
// metrics resync.run.duration, resync.records.read, resync.records.changed,
// resync.errors and resync.runs.inflight. Without them it uses
// OpenTelemetry's noop providers. Logs go to Config.Logger (log/slog).
//
// # Writing connectors
//
// A Connector has one method, ReadPage(ctx, cursor). See the Connector
// contract, resynctest.TestConnector, and CONNECTORS.md in the repository.
package resync
