package river

import (
	"context"
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
	// An earlier read of the connection still running (a follow-up was
	// requested during it): this one waits without starting, so that
	// requests meanwhile still join it.
	var busy bool
	if err := x.pool.QueryRow(ctx, x.sql(`SELECT EXISTS (SELECT 1 FROM {s}.river_job
		WHERE kind = 'resync_read' AND state = 'running' AND id <> $4
		AND args->>'tenant' = $1 AND args->>'connection' = $2 AND (args->>'gen')::bigint < $3)`),
		a.Tenant, a.ConnectionID, a.Gen, job.ID).Scan(&busy); err != nil {
		return fmt.Errorf("river: looking for an earlier read: %w", err)
	}
	if busy {
		return river.JobSnooze(followUpPoll)
	}
	// Waits on the row lock of a submit under way, which then joins this
	// read: the set of waiting runs is fixed from here on.
	if _, err := x.pool.Exec(ctx, x.sql(`UPDATE {s}.resync_reads SET gen = GREATEST(gen, $3 + 1), started_at = now()
		WHERE tenant = $1 AND connection_id = $2`), a.Tenant, a.ConnectionID, a.Gen); err != nil {
		return fmt.Errorf("river: starting read: %w", err)
	}
	var ids []string
	if err := pgx.BeginFunc(ctx, x.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, x.sql(`SELECT run_id FROM {s}.resync_waits WHERE job_id = $1 ORDER BY run_id`), job.ID)
		if err != nil {
			return err
		}
		ids, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	}); err != nil {
		return fmt.Errorf("river: listing runs of job %d: %w", job.ID, err)
	}
	// The earliest live run owns the read: its ID is on the change set.
	var owner *resync.RunInfo
	for _, id := range ids {
		ri, err := x.cfg.Store.GetRun(ctx, a.Tenant, id)
		if err != nil && !errors.Is(err, resync.ErrNotFound) {
			return fmt.Errorf("river: reading run %q: %w", id, err)
		}
		if err == nil && !ri.Status.Final() {
			owner = &ri
			break
		}
	}
	if owner == nil {
		return nil // every waiting run ended (canceled): nothing to read for
	}
	// The same for every attempt of this job: a retried read applies once.
	readID := fmt.Sprintf("%s/%s/j%d", owner.ID, a.ConnectionID, job.ID)
	record, err := e.ExecuteRead(ctx, *owner, a.ConnectionID, readID)
	if record == nil {
		return err
	}
	if ctx.Err() != nil {
		return ctx.Err() // canceled, timed out or stopping: River decides
	}
	if err != nil && !resync.IsPermanent(err) && !errors.Is(err, resync.ErrHeld) && job.Attempt < job.MaxAttempts {
		return err // the read failed as a whole: River tries it again
	}
	return pgx.BeginFunc(ctx, x.pool, func(tx pgx.Tx) error {
		for _, id := range ids {
			ri, err := x.cfg.Store.LockRunTx(ctx, tx, a.Tenant, id)
			if errors.Is(err, resync.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			if ri.Status.Final() {
				continue
			}
			record(&ri)
			if err := x.cfg.Store.UpdateRunTx(ctx, tx, ri); err != nil {
				return err
			}
		}
		_, err := river.JobCompleteTx[*riverpgxv5.Driver](ctx, tx, job)
		return err
	})
}
