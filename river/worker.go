package river

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

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
// then records the result on the waiting runs (complete); River marks
// the job completed once Work returns.
func (w *readWorker) Work(ctx context.Context, job *river.Job[readArgs]) error {
	x := w.x
	e, err := x.started()
	if err != nil {
		return err
	}
	a := job.Args
	// The start waits on the row lock of a submit under way, which then
	// joins this read: the set of waiting runs is fixed from here on.
	// While an earlier read of the connection still runs (this is a
	// follow-up requested during it), the read does not start: it waits,
	// joinable, snoozed; the check is a primary-key lookup of the job that
	// last started on the connection. The start and the listing of the
	// runs waiting for it go in one round trip; each statement sees what
	// committed before it ran, so the listing sees a submit the start
	// waited for.
	type waiter struct {
		ID, Trigger string
	}
	batch := &pgx.Batch{}
	batch.Queue(x.sql(`UPDATE {s}.resync_reads SET gen = GREATEST(gen, $3 + 1), started_at = now(), running_job = $4
		WHERE tenant = $1 AND connection_id = $2 AND (running_job IS NULL OR running_job = $4 OR NOT EXISTS (
			SELECT 1 FROM {s}.river_job j WHERE j.id = running_job AND j.state = 'running'))
		RETURNING true`), a.Tenant, a.ConnectionID, a.Gen, job.ID)
	// The live runs waiting for the read; the earliest owns it (its ID is
	// on the change set).
	batch.Queue(x.sql(`SELECT r.run_id, r.trigger FROM {s}.resync_waits w
		JOIN {s}.resync_runs r ON r.tenant = w.tenant AND r.run_id = w.run_id
		WHERE w.job_id = $1 AND NOT r.done ORDER BY r.run_id`), job.ID)
	br := x.pool.SendBatch(ctx, batch)
	var started bool
	err = br.QueryRow().Scan(&started)
	var waiting []waiter
	if err == nil {
		var rows pgx.Rows
		if rows, err = br.Query(); err == nil {
			waiting, err = pgx.CollectRows(rows, pgx.RowToStructByPos[waiter])
		}
	}
	if cerr := br.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return river.JobSnooze(followUpPoll)
	}
	if err != nil {
		return fmt.Errorf("river: starting read of job %d: %w", job.ID, err)
	}
	if len(waiting) == 0 {
		return nil // every waiting run ended (canceled): nothing to read for
	}
	owner := &resync.RunInfo{ID: waiting[0].ID, Tenant: a.Tenant, Trigger: resync.Trigger(waiting[0].Trigger), Status: resync.RunRunning}
	// The same for every attempt of this job: a retried read applies once.
	readID := fmt.Sprintf("%s/%s/j%d", owner.ID, a.ConnectionID, job.ID)
	record, err := e.ExecuteRead(ctx, *owner, a.ConnectionID, readID)
	if record == nil && job.Attempt < job.MaxAttempts {
		return err // nothing could be tried: River tries again
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
	if record == nil {
		// The last attempt could not even start the read (the engine could
		// not list the connections, or timed out first): its failure is
		// recorded, or the runs waiting for it would never end.
		record = e.FailRead(a.ConnectionID, err)
	}
	ids := make([]string, len(waiting))
	for i, wr := range waiting {
		ids[i] = wr.ID
	}
	return x.complete(ctx, job.ID, a, ids, record)
}
