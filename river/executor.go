package river

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"slices"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/openresync/resync"
	"github.com/openresync/resync/stores/postgres"
)

// Config configures an Executor. Store is required; every other field has
// the default documented on it.
type Config struct {
	// Store is the engine's PostgreSQL store. Jobs are inserted through
	// its connection pool, in the transaction that stores their run.
	// Required.
	Store *postgres.Store
	// Schema holds River's tables and the executor's own (read
	// generations, and which runs wait for which job). It is created and
	// migrated by New. Default "resync_river".
	Schema string
	// Workers is how many reads this process works at once. Set the
	// worker engine's Config.Concurrency to at least as much. Default 0:
	// the process only submits runs (an API replica).
	Workers int
	// JobTimeout bounds one attempt of a read: set it to the engine's
	// Config.ConnectionTimeout. Default 30 minutes.
	JobTimeout time.Duration
	// RescueAfter is how long a read job may stay running before River's
	// rescuer hands it to another worker: the time to recover from a
	// worker killed mid-read, plus up to River's rescuer interval (30
	// seconds). It must exceed JobTimeout. Default JobTimeout plus 5
	// minutes.
	RescueAfter time.Duration
	// MaxAttempts bounds the attempts of one read: a read that failed as
	// a whole (its page retries spent) or whose worker died is tried
	// again with River's backoff until then; the last attempt's result is
	// recorded whatever it is. Default 5.
	MaxAttempts int
	// MinReadInterval must be the engines' Config.MinReadInterval (and
	// defaults the same, 30 seconds; negative: none): a read requested
	// less than this after the last read of its connection started is
	// scheduled for when the interval is over, and requests meanwhile
	// join it.
	MinReadInterval time.Duration
	// FetchPollInterval is how often a worker looks for jobs when no
	// notification told it of one. Default 1 second (River's).
	FetchPollInterval time.Duration
	// FetchCooldown is the least time between two fetches of jobs by a
	// worker: a slot freed by a finished read waits up to this long for
	// its next job. Default 10 milliseconds (River's is 100, which costs
	// a pool of reads of a few hundred milliseconds a tenth of its
	// throughput).
	FetchCooldown time.Duration
	// Logger receives River's logs and the executor's. Default: discarded.
	Logger *slog.Logger
	// TracerProvider and MeterProvider receive the River client's spans
	// and metrics, through River's OpenTelemetry middleware (otelriver):
	// a span for each insert of a run's jobs, and one for each job
	// worked. Give them the engines' providers (resync.Config): a job's
	// span is a child of the span of the request that created the job
	// (its trace context travels in the job's metadata), and the engine's
	// spans of the read are children of the job's, so a read on any
	// worker is in the trace of the request that asked for it. A run that
	// joins a job created by an earlier request joins that request's
	// trace. Default nil, both: no middleware, nothing recorded.
	TracerProvider trace.TracerProvider
	MeterProvider  metric.MeterProvider
	// SweepEvery is how often a started executor looks for reads whose
	// jobs ended without recording a result on the live runs waiting for
	// them, and records them failed so that those runs end: a job River
	// discarded after its last attempt (its worker died, and the rescuer
	// gave up), or one canceled or deleted by an operator (in River UI,
	// say). Every started executor sweeps, with workers or not, so a host
	// that works the jobs on a River client of its own sweeps from its
	// executors. Default 1 minute; negative: never.
	SweepEvery time.Duration
	// Schedule, when set, runs scheduled syncs as River jobs: River's
	// leader runs one periodic job that enqueues the tenants due (see
	// Executor.Schedule and the package doc, "Scheduled syncs"). Give
	// every worker process the same Schedule and tenants. Default nil: no
	// scheduled syncs from this executor.
	Schedule *ScheduleConfig
}

// Executor is a resync.Executor on River. It is safe for concurrent use.
type Executor struct {
	cfg    Config
	pool   *pgxpool.Pool
	client *river.Client[pgx.Tx]
	schema string // quoted
	engine atomic.Pointer[resync.Engine]
	log    *slog.Logger
	sched  *scheduler // nil without Config.Schedule
	// stopSweep stops the sweep loop Start started, and waits for it.
	stopSweep func()
}

var _ resync.Executor = (*Executor)(nil)

// readArgs is the job of one read of a connection. Gen is the read
// generation of the connection when the job was requested: jobs are
// unique by all three fields, so a connection has one pending read per
// generation, and the generation moves on when a read starts.
type readArgs struct {
	Tenant       string `json:"tenant" river:"unique"`
	ConnectionID string `json:"connection" river:"unique"`
	Gen          int64  `json:"gen" river:"unique"`
}

// Kind implements river.JobArgs.
func (readArgs) Kind() string { return "resync_read" }

// uniqueStates are River's required states plus retryable: a read waiting
// to be retried is still the connection's read of its generation.
var uniqueStates = []rivertype.JobState{
	rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRetryable,
	rivertype.JobStateRunning, rivertype.JobStateScheduled,
}

// New migrates River's schema and the executor's tables and returns an
// Executor. Call Start with the engine to work jobs, Stop before closing
// the engine.
func New(ctx context.Context, cfg Config) (*Executor, error) {
	if cfg.Store == nil {
		return nil, fmt.Errorf("%w: river: field Store is required", resync.ErrInvalidRequest)
	}
	if cfg.Workers < 0 || cfg.JobTimeout < 0 || cfg.RescueAfter < 0 || cfg.MaxAttempts < 0 {
		return nil, fmt.Errorf("%w: river: Workers, JobTimeout, RescueAfter and MaxAttempts must not be negative", resync.ErrInvalidRequest)
	}
	if cfg.Schema == "" {
		cfg.Schema = "resync_river"
	}
	if cfg.JobTimeout == 0 {
		cfg.JobTimeout = 30 * time.Minute
	}
	if cfg.RescueAfter == 0 {
		cfg.RescueAfter = cfg.JobTimeout + 5*time.Minute
	}
	if cfg.RescueAfter <= cfg.JobTimeout {
		return nil, fmt.Errorf("%w: river: RescueAfter (%s) must exceed JobTimeout (%s): a job still running would be handed to a second worker", resync.ErrInvalidRequest, cfg.RescueAfter, cfg.JobTimeout)
	}
	if cfg.MaxAttempts == 0 {
		cfg.MaxAttempts = 5
	}
	if cfg.MinReadInterval == 0 {
		cfg.MinReadInterval = 30 * time.Second
	}
	if cfg.FetchCooldown == 0 {
		cfg.FetchCooldown = 10 * time.Millisecond
	}
	if cfg.SweepEvery == 0 {
		cfg.SweepEvery = time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	x := &Executor{cfg: cfg, pool: cfg.Store.Pool(), schema: pgx.Identifier{cfg.Schema}.Sanitize(), log: cfg.Logger}
	if err := x.migrate(ctx); err != nil {
		return nil, err
	}
	if err := x.configureSchedule(); err != nil {
		return nil, err
	}
	workers := river.NewWorkers()
	if err := x.AddWorker(workers); err != nil {
		return nil, fmt.Errorf("river: %w", err)
	}
	rc := &river.Config{
		Schema:               cfg.Schema,
		Workers:              workers,
		JobTimeout:           cfg.JobTimeout,
		RescueStuckJobsAfter: cfg.RescueAfter,
		MaxAttempts:          cfg.MaxAttempts,
		FetchPollInterval:    cfg.FetchPollInterval,
		FetchCooldown:        cfg.FetchCooldown,
		Logger:               cfg.Logger,
		Middleware:           middleware(cfg),
	}
	if cfg.Workers > 0 {
		rc.Queues = map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: cfg.Workers}}
	}
	x.addSchedule(rc)
	client, err := river.NewClient(riverpgxv5.New(x.pool), rc)
	if err != nil {
		return nil, fmt.Errorf("river: %w", err)
	}
	x.client = client
	return x, nil
}

// migrate brings River's tables and the executor's up to date, one
// process at a time.
func (x *Executor) migrate(ctx context.Context) error {
	conn, err := x.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("river: connecting: %w", err)
	}
	defer conn.Release()
	h := fnv.New64a()
	_, _ = h.Write([]byte("resync/river " + x.cfg.Schema))
	key := int64(h.Sum64())
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, key); err != nil {
		return fmt.Errorf("river: locking the schema for migration: %w", err)
	}
	defer func() { _, _ = conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, key) }()
	if _, err := conn.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+x.schema); err != nil {
		return fmt.Errorf("river: creating schema: %w", err)
	}
	m, err := rivermigrate.New(riverpgxv5.New(x.pool), &rivermigrate.Config{Schema: x.cfg.Schema, Logger: x.cfg.Logger})
	if err != nil {
		return fmt.Errorf("river: %w", err)
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("river: migrating River's tables: %w", err)
	}
	_, err = conn.Exec(ctx, x.sql(`
		CREATE TABLE IF NOT EXISTS {s}.resync_reads (
			tenant text NOT NULL, connection_id text NOT NULL,
			gen bigint NOT NULL DEFAULT 0, started_at timestamptz,
			PRIMARY KEY (tenant, connection_id));
		CREATE TABLE IF NOT EXISTS {s}.resync_waits (
			job_id bigint NOT NULL, tenant text NOT NULL, run_id text NOT NULL,
			PRIMARY KEY (job_id, tenant, run_id));
		CREATE INDEX IF NOT EXISTS resync_waits_run ON {s}.resync_waits (tenant, run_id);
		CREATE TABLE IF NOT EXISTS {s}.resync_runs (
			tenant text NOT NULL, run_id text NOT NULL, trigger text NOT NULL,
			remaining int NOT NULL, done boolean NOT NULL DEFAULT false, written_at timestamptz,
			PRIMARY KEY (tenant, run_id));
		CREATE TABLE IF NOT EXISTS {s}.resync_results (
			tenant text NOT NULL, run_id text NOT NULL, connection_id text NOT NULL, result jsonb NOT NULL,
			PRIMARY KEY (tenant, run_id, connection_id));
		-- The job of the read last started on a connection, until it is
		-- recorded: a follow-up read waits while it runs.
		ALTER TABLE {s}.resync_reads ADD COLUMN IF NOT EXISTS running_job bigint;
		-- Whether the job's result is recorded on the run: a retried
		-- attempt records it once.
		ALTER TABLE {s}.resync_waits ADD COLUMN IF NOT EXISTS recorded boolean NOT NULL DEFAULT false;
		-- The connection a wait is for, so that a wait whose job was
		-- deleted can still be recorded failed (NULL on older rows: the
		-- job's arguments say). The sweep reads the live runs.
		ALTER TABLE {s}.resync_waits ADD COLUMN IF NOT EXISTS connection_id text;
		CREATE INDEX IF NOT EXISTS resync_runs_live ON {s}.resync_runs (tenant, run_id) WHERE NOT done;
		CREATE TABLE IF NOT EXISTS {s}.resync_schedule (
			id int PRIMARY KEY CHECK (id = 1), first_tick timestamptz NOT NULL, last_tick timestamptz NOT NULL);`))
	if err != nil {
		return fmt.Errorf("river: creating the executor's tables: %w", err)
	}
	return nil
}

func (x *Executor) sql(q string) string {
	out := []byte{}
	for i := 0; i < len(q); i++ {
		if q[i] == '{' && i+2 < len(q) && q[i+1] == 's' && q[i+2] == '}' {
			out = append(out, x.schema...)
			i += 2
			continue
		}
		out = append(out, q[i])
	}
	return string(out)
}

// started returns the engine Start was given.
func (x *Executor) started() (*resync.Engine, error) {
	if e := x.engine.Load(); e != nil {
		return e, nil
	}
	return nil, errors.New("river: executor not started with an engine")
}

// Start works read jobs with engine (when Config.Workers > 0) and runs
// River's maintenance (the rescuer among it) on the elected leader; in
// every process, workers or not, it sweeps for lost reads each
// Config.SweepEvery until Stop. engine must share the executor's Store, and have Connections and
// Connectors for every tenant whose runs are submitted.
func (x *Executor) Start(ctx context.Context, engine *resync.Engine) error {
	if engine == nil {
		return fmt.Errorf("%w: river: Start needs an engine", resync.ErrInvalidRequest)
	}
	x.engine.Store(engine)
	if x.cfg.Workers > 0 {
		if err := x.client.Start(ctx); err != nil {
			return fmt.Errorf("river: starting: %w", err)
		}
	}
	if x.cfg.SweepEvery > 0 && x.stopSweep == nil {
		sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		done := make(chan struct{})
		go func() {
			defer close(done)
			x.sweepEvery(sctx)
		}()
		x.stopSweep = func() { cancel(); <-done }
	}
	return nil
}

// Stop stops working jobs: it waits for the reads under way to end, or,
// when ctx ends first, cancels them (they are tried again by another
// worker, or this one when it starts again). Call it before closing the
// engine.
func (x *Executor) Stop(ctx context.Context) error {
	if x.stopSweep != nil {
		x.stopSweep()
		x.stopSweep = nil
	}
	if x.cfg.Workers == 0 {
		return nil
	}
	err := x.client.Stop(ctx)
	if err != nil && ctx.Err() != nil {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		err = x.client.StopAndCancel(cctx)
	}
	return err
}

// AddWorker registers the executor's workers (reads, scheduled runs'
// starts and the schedule's ticks) in workers, for a River client of the
// host's own on the same schema. Every client on the schema that may be
// elected River's leader must know their kinds: River's rescuer discards
// a stuck job of a kind its leader does not know, instead of handing it
// to another worker. A client that works no queue named by the executor
// (river.QueueDefault, and "resync_schedule" for the ticks) never works
// one of its jobs.
func (x *Executor) AddWorker(workers *river.Workers) error {
	if err := river.AddWorkerSafely(workers, &readWorker{x: x}); err != nil {
		return err
	}
	if err := river.AddWorkerSafely(workers, &startWorker{x: x}); err != nil {
		return err
	}
	return river.AddWorkerSafely(workers, &tickWorker{x: x})
}

// Client returns the River client, for the host's own jobs and River UI.
func (x *Executor) Client() *river.Client[pgx.Tx] { return x.client }

// Submit implements resync.Executor: in one transaction it stores run and
// its notifications and inserts (or joins) one read job per connection.
func (x *Executor) Submit(ctx context.Context, run resync.RunInfo, notes []resync.Notification) error {
	tx, err := x.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("river: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if err := x.submitTx(ctx, tx, run, notes); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("river: committing run %q: %w", run.ID, err)
	}
	return nil
}

// submitTx stores run and its notifications and inserts (or joins) its
// read jobs in tx.
func (x *Executor) submitTx(ctx context.Context, tx pgx.Tx, run resync.RunInfo, notes []resync.Notification) error {
	if err := x.cfg.Store.CreateRunTx(ctx, tx, run); err != nil {
		return err
	}
	if err := x.cfg.Store.EnqueueTx(ctx, tx, notes); err != nil {
		return err
	}
	ids := make([]string, 0, len(run.Connections))
	for _, c := range run.Connections {
		ids = append(ids, c.ConnectionID)
	}
	slices.Sort(ids) // rows locked in one order: no deadlock between submits
	ids = slices.Compact(ids)
	// The run's counter of unfinished connections: jobs finish it without
	// rewriting its record each time.
	if _, err := tx.Exec(ctx, x.sql(`INSERT INTO {s}.resync_runs (tenant, run_id, trigger, remaining) VALUES ($1, $2, $3, $4)`),
		run.Tenant, run.ID, string(run.Trigger), len(ids)); err != nil {
		return fmt.Errorf("river: %w", err)
	}
	// The row locks held to commit order this submit against the start
	// of a read (which moves the generation on): a read that starts after
	// it sees this run waiting for it. Rows are locked in the sorted
	// order of ids.
	rows, err := tx.Query(ctx, x.sql(`INSERT INTO {s}.resync_reads (tenant, connection_id)
		SELECT $1, c FROM unnest($2::text[]) WITH ORDINALITY AS t(c, i) ORDER BY i
		ON CONFLICT (tenant, connection_id) DO UPDATE SET gen = {s}.resync_reads.gen
		RETURNING connection_id, gen, started_at, now()`), run.Tenant, ids)
	if err != nil {
		return fmt.Errorf("river: reading read generations: %w", err)
	}
	type genRow struct {
		ID      string
		Gen     int64
		Started *time.Time
		Now     time.Time
	}
	gens, err := pgx.CollectRows(rows, pgx.RowToStructByPos[genRow])
	if err != nil {
		return fmt.Errorf("river: reading read generations: %w", err)
	}
	params := make([]river.InsertManyParams, len(gens))
	for i, g := range gens {
		opts := &river.InsertOpts{MaxAttempts: x.cfg.MaxAttempts, UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: uniqueStates}}
		if g.Started != nil && x.cfg.MinReadInterval > 0 {
			if at := g.Started.Add(x.cfg.MinReadInterval); at.After(g.Now) {
				opts.ScheduledAt = at
			}
		}
		params[i] = river.InsertManyParams{Args: readArgs{Tenant: run.Tenant, ConnectionID: g.ID, Gen: g.Gen}, InsertOpts: opts}
	}
	res, err := x.client.InsertManyTx(ctx, tx, params)
	if err != nil {
		return fmt.Errorf("river: inserting the reads of run %q: %w", run.ID, err)
	}
	jobIDs, conns := make([]int64, len(res)), make([]string, len(res))
	for i, r := range res {
		jobIDs[i], conns[i] = r.Job.ID, gens[i].ID
	}
	if _, err := tx.Exec(ctx, x.sql(`INSERT INTO {s}.resync_waits (job_id, tenant, run_id, connection_id)
		SELECT j, $2, $3, c FROM unnest($1::bigint[], $4::text[]) AS t(j, c) ON CONFLICT DO NOTHING`), jobIDs, run.Tenant, run.ID, conns); err != nil {
		return fmt.Errorf("river: %w", err)
	}
	return nil
}

// Cancel implements resync.Executor: it ends the run canceled through the
// engine's EndRun, then, in one transaction, stores it so with its
// notifications and cancels, with River's job cancel, the read jobs no
// other live run waits for.
func (x *Executor) Cancel(ctx context.Context, tenant, runID string) error {
	// The run's end (AfterRun, its notifications) is made before the
	// transaction that stores it, with no connection held: AfterRun may
	// use the store's pool.
	var ri resync.RunInfo
	var live bool
	err := pgx.BeginFunc(ctx, x.pool, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, x.sql(`SELECT NOT done FROM {s}.resync_runs WHERE tenant = $1 AND run_id = $2`), tenant, runID).Scan(&live)
		if errors.Is(err, pgx.ErrNoRows) || err == nil && !live {
			return nil // ended, or not a run of the executor
		}
		if err != nil {
			return fmt.Errorf("river: %w", err)
		}
		ri, err = x.runWithResults(ctx, tx, tenant, runID)
		return err
	})
	if err != nil || !live || ri.Status.Final() {
		return err
	}
	at := time.Now()
	canceled(&ri, at)
	end := x.endRun(ctx, &ri)

	tx, err := x.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("river: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	tag, err := tx.Exec(ctx, x.sql(`UPDATE {s}.resync_runs SET done = true WHERE tenant = $1 AND run_id = $2 AND NOT done`), tenant, runID)
	if err != nil {
		return fmt.Errorf("river: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return nil // ended meanwhile
	}
	ri, err = x.runWithResults(ctx, tx, tenant, runID)
	if err != nil {
		return err
	}
	if ri.Status.Final() {
		return tx.Commit(ctx)
	}
	canceled(&ri, at)
	if err := x.storeEnd(ctx, tx, ri, end); err != nil {
		return err
	}
	// The jobs of the run no other live run waits for.
	rows, err := tx.Query(ctx, x.sql(`SELECT w.job_id FROM {s}.resync_waits w
		WHERE w.tenant = $1 AND w.run_id = $2 AND NOT EXISTS (
			SELECT 1 FROM {s}.resync_waits o JOIN {s}.resync_runs r ON r.tenant = o.tenant AND r.run_id = o.run_id
			WHERE o.job_id = w.job_id AND NOT r.done)
		ORDER BY w.job_id`), tenant, runID)
	if err != nil {
		return fmt.Errorf("river: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return fmt.Errorf("river: %w", err)
	}
	for _, id := range ids {
		if _, err := x.client.JobCancelTx(ctx, tx, id); err != nil && !errors.Is(err, river.ErrNotFound) {
			return fmt.Errorf("river: canceling job %d: %w", id, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("river: committing cancel of run %q: %w", runID, err)
	}
	return nil
}

// canceled marks run canceled at at, with its unfinished connections.
func canceled(run *resync.RunInfo, at time.Time) {
	run.Status, run.FinishedAt = resync.RunCanceled, at
	for i := range run.Connections {
		if c := &run.Connections[i]; c.Status == resync.ConnPending || c.Status == resync.ConnRunning {
			c.Status, c.Error, c.FinishedAt = resync.ConnCanceled, "canceled", at
		}
	}
}

// runWithResults reads a run's record, locked until tx ends, with the
// results its jobs recorded since it was last written.
func (x *Executor) runWithResults(ctx context.Context, tx pgx.Tx, tenant, runID string) (resync.RunInfo, error) {
	ri, err := x.cfg.Store.LockRunTx(ctx, tx, tenant, runID)
	if err != nil {
		return ri, err
	}
	rows, err := tx.Query(ctx, x.sql(`SELECT result FROM {s}.resync_results WHERE tenant = $1 AND run_id = $2`), tenant, runID)
	if err != nil {
		return ri, fmt.Errorf("river: reading results of run %q: %w", runID, err)
	}
	results, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
	if err != nil {
		return ri, fmt.Errorf("river: reading results of run %q: %w", runID, err)
	}
	byID := make(map[string]int, len(ri.Connections))
	for i, c := range ri.Connections {
		byID[c.ConnectionID] = i
	}
	for _, b := range results {
		var c resync.ConnectionResult
		if err := json.Unmarshal(b, &c); err != nil {
			return ri, fmt.Errorf("river: decoding a result of run %q: %w", runID, err)
		}
		if i, ok := byID[c.ConnectionID]; ok {
			ri.Connections[i] = c
		}
	}
	return ri, nil
}
