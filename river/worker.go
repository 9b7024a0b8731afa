package river

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/openresync/resync"
)

// followUpPoll is how often a follow-up read looks whether the read
// before it has ended.
const followUpPoll = 200 * time.Millisecond

// readWorker works read jobs: one attempt of one read of a connection,
// recorded on every run waiting for it.
type readWorker struct {
	river.WorkerDefaults[readArgs]
	x *Executor
}

// Timeout is Config.JobTimeout.
func (w *readWorker) Timeout(*river.Job[readArgs]) time.Duration { return w.x.cfg.JobTimeout }

// Work starts the read (the connection's generation moves on, so that a
// request from now on gets a follow-up read), reads through the engine,
// then records the result on the waiting runs and completes the job in one
// transaction.
func (w *readWorker) Work(ctx context.Context, job *river.Job[readArgs]) error {
	x := w.x
	e := x.engine.Load()
	if e == nil {
		return errors.New("river: executor not started with an engine")
	}
	a := job.Args
	// The read starts: the connection's generation moves on, so that a
	// request from now on gets a follow-up read. This waits on the row
	// lock of a submit under way, which then joins this read: the set of
	// waiting runs is fixed from here on. While an earlier read of the
	// connection still runs (this is a follow-up requested during it),
	// the read does not start: it waits, joinable, snoozed.
	var started bool
	err := x.pool.QueryRow(ctx, x.sql(`UPDATE {s}.resync_reads SET gen = GREATEST(gen, $3 + 1), started_at = now()
		WHERE tenant = $1 AND connection_id = $2 AND NOT EXISTS (SELECT 1 FROM {s}.river_job
			WHERE kind = 'resync_read' AND state = 'running' AND id <> $4
			AND args->>'tenant' = $1 AND args->>'connection' = $2 AND (args->>'gen')::bigint < $3)
		RETURNING true`), a.Tenant, a.ConnectionID, a.Gen, job.ID).Scan(&started)
	if errors.Is(err, pgx.ErrNoRows) {
		return river.JobSnooze(followUpPoll)
	}
	if err != nil {
		return fmt.Errorf("river: starting read: %w", err)
	}
	// The live runs waiting for the read; the earliest owns it (its ID is
	// on the change set).
	rows, err := x.pool.Query(ctx, x.sql(`SELECT r.run_id, r.trigger FROM {s}.resync_waits w
		JOIN {s}.resync_runs r ON r.tenant = w.tenant AND r.run_id = w.run_id
		WHERE w.job_id = $1 AND NOT r.done ORDER BY r.run_id`), job.ID)
	if err != nil {
		return fmt.Errorf("river: listing runs of job %d: %w", job.ID, err)
	}
	type waiter struct {
		ID, Trigger string
	}
	waiting, err := pgx.CollectRows(rows, pgx.RowToStructByPos[waiter])
	if err != nil {
		return fmt.Errorf("river: listing runs of job %d: %w", job.ID, err)
	}
	if len(waiting) == 0 {
		return nil // every waiting run ended (canceled): nothing to read for
	}
	owner := &resync.RunInfo{ID: waiting[0].ID, Tenant: a.Tenant, Trigger: resync.Trigger(waiting[0].Trigger), Status: resync.RunRunning}
	// The same for every attempt of this job: a retried read applies once.
	readID := fmt.Sprintf("%s/%s/j%d", owner.ID, a.ConnectionID, job.ID)
	record, err := e.ExecuteRead(ctx, *owner, a.ConnectionID, readID)
	if record == nil {
		if !errors.Is(err, context.DeadlineExceeded) || job.Attempt < job.MaxAttempts {
			return err
		}
		// The last attempt timed out before the read could start (the
		// engine could not even list the connections): record that, or
		// the runs waiting for it would never end.
		failure := err.Error()
		record = func(ri *resync.RunInfo) bool {
			for i := range ri.Connections {
				if ri.Connections[i].ConnectionID == a.ConnectionID {
					ri.Connections[i].Status = resync.ConnFailed
					ri.Connections[i].Error = failure
				}
			}
			return false
		}
	}
	if err := ctx.Err(); err != nil {
		if !errors.Is(err, context.DeadlineExceeded) || job.Attempt < job.MaxAttempts {
			return err // canceled, stopping, or timed out with attempts left: River decides
		}
		// The last attempt timed out: its failure is recorded.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		ctx = rctx
	}
	if err != nil && !resync.IsPermanent(err) && !errors.Is(err, resync.ErrHeld) && job.Attempt < job.MaxAttempts {
		return err // the read failed as a whole: River tries it again
	}
	// The runs this job ends are ended (Config.AfterRun, their
	// notifications) before the transaction that stores their end, with
	// no connection held: AfterRun uses the store's pool, which the
	// transactions of workers ending runs at once could leave without a
	// connection for it. A run found ending in the transaction that was
	// not ended before (its other jobs finished meanwhile) is ended, and
	// the transaction tried again.
	ids := make([]string, len(waiting))
	for i, wr := range waiting {
		ids[i] = wr.ID
	}
	rows, err = x.pool.Query(ctx, x.sql(`SELECT run_id FROM {s}.resync_runs
		WHERE tenant = $1 AND run_id = ANY($2) AND remaining = 1 AND NOT done`), a.Tenant, ids)
	if err != nil {
		return fmt.Errorf("river: %w", err)
	}
	ending, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("river: %w", err)
	}
	ended := map[string]*endedRun{}
	for {
		for _, id := range ending {
			if ended[id], err = x.endFirst(ctx, a, id, record); err != nil {
				return err
			}
		}
		ending = ending[:0]
		err := pgx.BeginFunc(ctx, x.pool, func(tx pgx.Tx) error {
			if _, err := river.JobCompleteTx[*riverpgxv5.Driver](ctx, tx, job); err != nil {
				return err
			}
			for _, wr := range waiting {
				if err := x.record(ctx, tx, a, wr.ID, record, ended, &ending); err != nil {
					return err
				}
			}
			if len(ending) > 0 {
				return errEndFirst
			}
			return nil
		})
		if !errors.Is(err, errEndFirst) {
			return err
		}
	}
}

// errEndFirst rolls back a job's completion that found runs to end
// which were not ended before it.
var errEndFirst = errors.New("river: runs to end first")

// endedRun is a run endFirst ended: EndRun was called (ok) with the
// notifications it returned, or the run was not found to end.
type endedRun struct {
	notes        []resync.Notification
	findings     map[string]int // what AfterRun set on the run
	notifyErrors []string       // what EndRun added to the run's
	ok           bool
}

// endFirst ends run runID, which the read's result (record) is to end,
// through the engine's EndRun, and returns its notifications; not ok when
// the run does not end by it after all (canceled meanwhile).
func (x *Executor) endFirst(ctx context.Context, a readArgs, runID string, record func(*resync.RunInfo) bool) (*endedRun, error) {
	var ri resync.RunInfo
	err := pgx.BeginFunc(ctx, x.pool, func(tx pgx.Tx) error {
		var err error
		ri, err = x.runWithResults(ctx, tx, a.Tenant, runID)
		return err
	})
	if errors.Is(err, resync.ErrNotFound) {
		return &endedRun{}, nil
	}
	if err != nil {
		return nil, err
	}
	if !record(&ri) {
		return &endedRun{}, nil
	}
	end := &endedRun{ok: true}
	before := len(ri.NotifyErrors)
	if e := x.engine.Load(); e != nil {
		end.notes = e.EndRun(ctx, &ri)
	}
	end.findings, end.notifyErrors = ri.Findings, ri.NotifyErrors[before:]
	return end, nil
}

// progressEvery bounds how often a run's record is rewritten with its
// jobs' results while it runs: each write stores every connection's
// result.
const progressEvery = time.Second

// record stores the read's result for run runID in tx. The run's record is
// rewritten when this was its last unfinished connection (completing it,
// once: the counter row is locked) or its progress was last written more
// than progressEvery ago; otherwise the result waits in resync_results.
// A run it completes must be in ended, with its notifications (see
// endFirst); if it is not, its ID is appended to ending instead, and the
// caller rolls tx back.
func (x *Executor) record(ctx context.Context, tx pgx.Tx, a readArgs, runID string, record func(*resync.RunInfo) bool,
	ended map[string]*endedRun, ending *[]string) error {
	one := resync.RunInfo{ID: runID, Status: resync.RunRunning, Connections: []resync.ConnectionResult{{ConnectionID: a.ConnectionID, Status: resync.ConnPending}}}
	record(&one)
	res, err := json.Marshal(one.Connections[0])
	if err != nil {
		return fmt.Errorf("river: encoding result: %w", err)
	}
	if _, err := tx.Exec(ctx, x.sql(`INSERT INTO {s}.resync_results (tenant, run_id, connection_id, result) VALUES ($1, $2, $3, $4)
		ON CONFLICT (tenant, run_id, connection_id) DO UPDATE SET result = EXCLUDED.result`), a.Tenant, runID, a.ConnectionID, res); err != nil {
		return fmt.Errorf("river: storing result: %w", err)
	}
	// The run's counter row is locked last, so that jobs of one run
	// finishing together wait for each other only for their commits.
	var remaining int
	var written *time.Time
	var now time.Time
	err = tx.QueryRow(ctx, x.sql(`UPDATE {s}.resync_runs SET remaining = remaining - 1
		WHERE tenant = $1 AND run_id = $2 AND NOT done RETURNING remaining, written_at, now()`), a.Tenant, runID).Scan(&remaining, &written, &now)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil // canceled meanwhile
	}
	if err != nil {
		return fmt.Errorf("river: counting down run %q: %w", runID, err)
	}
	if remaining > 0 && written != nil && now.Sub(*written) < progressEvery {
		return nil
	}
	ri, err := x.runWithResults(ctx, tx, a.Tenant, runID)
	if errors.Is(err, resync.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if ri.Status.Final() {
		return nil
	}
	if remaining > 0 {
		if _, err := tx.Exec(ctx, x.sql(`UPDATE {s}.resync_runs SET written_at = now() WHERE tenant = $1 AND run_id = $2`), a.Tenant, runID); err != nil {
			return fmt.Errorf("river: %w", err)
		}
		return x.cfg.Store.UpdateRunTx(ctx, tx, ri)
	}
	// The last connection: record derives the run's final status, once
	// (it counts this read again, so its result goes in afresh).
	for i := range ri.Connections {
		if c := &ri.Connections[i]; c.ConnectionID == a.ConnectionID {
			c.Status, c.Reads = resync.ConnPending, c.Reads-1
		}
	}
	if !record(&ri) {
		return fmt.Errorf("river: run %q has connections without a result after its last job", runID)
	}
	end, ok := ended[runID]
	if !ok {
		*ending = append(*ending, runID)
		return nil
	}
	notes := end.notes
	ri.Findings = end.findings
	ri.NotifyErrors = append(ri.NotifyErrors, end.notifyErrors...)
	if !end.ok {
		// endFirst saw the run not ending, which it is: end it here.
		if e := x.engine.Load(); e != nil {
			notes = e.EndRun(ctx, &ri)
		}
	}
	if _, err := tx.Exec(ctx, x.sql(`UPDATE {s}.resync_runs SET done = true WHERE tenant = $1 AND run_id = $2`), a.Tenant, runID); err != nil {
		return fmt.Errorf("river: %w", err)
	}
	if err := x.cfg.Store.UpdateRunTx(ctx, tx, ri); err != nil {
		return err
	}
	return x.cfg.Store.EnqueueTx(ctx, tx, notes)
}
