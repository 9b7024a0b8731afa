package river

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/openresync/resync"
)

// progressEvery bounds how often a run's record is rewritten with its
// jobs' results while it runs: each write stores every connection's
// result.
const progressEvery = time.Second

// complete records the read of job on the runs runIDs waiting for it, and
// completes the runs whose last connection it was. River marks the job
// completed once Work returns.
//
// The result goes in with one statement: the job's waits are marked
// recorded, the results stored, and each run's counter of unfinished
// connections counted down. The counter rows are locked only while that
// statement runs, not for a round trip to this process, so jobs of one
// run finishing together barely wait for each other. A run counted down
// to zero is then completed in a transaction of its own, once (its counter
// row says done). A worker that dies between the two leaves its job
// running; the rescued attempt reads the connection again (applying
// nothing twice), records nothing again (the waits are marked) and
// completes the run.
func (x *Executor) complete(ctx context.Context, jobID int64, a readArgs, runIDs []string, record func(*resync.RunInfo) bool) error {
	results := make([]string, len(runIDs))
	for i, id := range runIDs {
		one := resync.RunInfo{ID: id, Status: resync.RunRunning, Connections: []resync.ConnectionResult{{ConnectionID: a.ConnectionID, Status: resync.ConnPending}}}
		record(&one)
		b, err := json.Marshal(one.Connections[0])
		if err != nil {
			return fmt.Errorf("river: encoding result: %w", err)
		}
		results[i] = string(b)
	}
	// Counter rows are locked in run ID order: no deadlock between jobs
	// waited for by the same runs.
	rows, err := x.pool.Query(ctx, x.sql(`WITH w AS (
			UPDATE {s}.resync_waits SET recorded = true
			WHERE job_id = $1 AND NOT recorded AND run_id = ANY($4::text[])
			RETURNING tenant, run_id),
		rd AS (
			UPDATE {s}.resync_reads SET running_job = NULL
			WHERE tenant = $2 AND connection_id = $3 AND running_job = $1),
		res AS (
			INSERT INTO {s}.resync_results (tenant, run_id, connection_id, result)
			SELECT w.tenant, w.run_id, $3, r.result::jsonb FROM w JOIN unnest($4::text[], $5::text[]) AS r(run_id, result) ON r.run_id = w.run_id
			ON CONFLICT (tenant, run_id, connection_id) DO UPDATE SET result = EXCLUDED.result),
		locked AS (
			SELECT r.tenant, r.run_id FROM {s}.resync_runs r JOIN w ON r.tenant = w.tenant AND r.run_id = w.run_id
			WHERE NOT r.done ORDER BY r.run_id FOR NO KEY UPDATE OF r)
		UPDATE {s}.resync_runs r SET remaining = r.remaining - 1
		FROM locked l WHERE r.tenant = l.tenant AND r.run_id = l.run_id AND NOT r.done
		RETURNING r.run_id, r.remaining, r.written_at IS NULL OR r.written_at < now() - $6::interval`),
		jobID, a.Tenant, a.ConnectionID, runIDs, results, progressEvery)
	if err != nil {
		return fmt.Errorf("river: recording the read of job %d: %w", jobID, err)
	}
	type counted struct {
		RunID     string
		Remaining int
		Stale     bool
	}
	done, err := pgx.CollectRows(rows, pgx.RowToStructByPos[counted])
	if err != nil {
		return fmt.Errorf("river: recording the read of job %d: %w", jobID, err)
	}
	var finish []string
	for _, c := range done {
		switch {
		case c.Remaining <= 0:
			finish = append(finish, c.RunID)
		case c.Stale:
			x.progress(ctx, a.Tenant, c.RunID)
		}
	}
	if len(done) < len(runIDs) {
		// An earlier attempt recorded on some runs and died before it
		// could complete them (or they ended meanwhile: finish leaves
		// those alone).
		for _, id := range runIDs {
			if !slices.ContainsFunc(done, func(c counted) bool { return c.RunID == id }) {
				finish = append(finish, id)
			}
		}
	}
	for _, id := range finish {
		if err := x.finish(ctx, a, id, record); err != nil {
			return err
		}
	}
	return nil
}

// finish completes run runID, whose connections all have a result. The
// run's end (Config.AfterRun, its notifications: the engine's EndRun) is
// made first, with no connection held, as AfterRun may use the store's
// pool; then one transaction marks its counter row done and stores its
// final record with its notifications. A run already done (completed or
// canceled) is left alone. Only the job that counted the run down to zero
// gets here, or its rescued attempt: EndRun then runs again, which its
// contract allows.
func (x *Executor) finish(ctx context.Context, a readArgs, runID string, record func(*resync.RunInfo) bool) error {
	// final is the run's final record from its stored one: record derives
	// the final status (it counts this read again, so its result goes in
	// afresh).
	final := func(tx pgx.Tx) (resync.RunInfo, bool, error) {
		ri, err := x.runWithResults(ctx, tx, a.Tenant, runID)
		if errors.Is(err, resync.ErrNotFound) || err == nil && ri.Status.Final() {
			return ri, false, nil
		}
		if err != nil {
			return ri, false, err
		}
		for i := range ri.Connections {
			if c := &ri.Connections[i]; c.ConnectionID == a.ConnectionID {
				c.Status, c.Reads = resync.ConnPending, c.Reads-1
			}
		}
		if !record(&ri) {
			return ri, false, fmt.Errorf("river: run %q has connections without a result after its last job", runID)
		}
		return ri, true, nil
	}
	var ri resync.RunInfo
	var ending bool
	err := pgx.BeginFunc(ctx, x.pool, func(tx pgx.Tx) error {
		var err error
		ri, ending, err = final(tx)
		return err
	})
	if err != nil || !ending {
		return err
	}
	end := x.endRun(ctx, &ri)
	return pgx.BeginFunc(ctx, x.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, x.sql(`UPDATE {s}.resync_runs SET done = true
			WHERE tenant = $1 AND run_id = $2 AND remaining <= 0 AND NOT done`), a.Tenant, runID)
		if err != nil {
			return fmt.Errorf("river: completing run %q: %w", runID, err)
		}
		if tag.RowsAffected() == 0 {
			return nil // completed or canceled meanwhile
		}
		ri, ending, err := final(tx)
		if err != nil || !ending {
			return err
		}
		return x.storeEnd(ctx, tx, ri, end)
	})
}

// runEnd is what the engine's EndRun made of a run's end, to store with
// the run's final record.
type runEnd struct {
	notes        []resync.Notification
	findings     map[string]int
	notifyErrors []string
}

// endRun ends ri through the engine's EndRun (AfterRun, the "completed"
// notifications); call it with no transaction open, as AfterRun may use
// the store's pool.
func (x *Executor) endRun(ctx context.Context, ri *resync.RunInfo) runEnd {
	before := len(ri.NotifyErrors)
	var notes []resync.Notification
	if e := x.engine.Load(); e != nil {
		notes = e.EndRun(ctx, ri)
	}
	return runEnd{notes: notes, findings: ri.Findings, notifyErrors: ri.NotifyErrors[before:]}
}

// storeEnd stores ri, the run's final record as read again in tx, with
// what its end made, and the end's notifications.
func (x *Executor) storeEnd(ctx context.Context, tx pgx.Tx, ri resync.RunInfo, end runEnd) error {
	ri.Findings, ri.NotifyErrors = end.findings, append(ri.NotifyErrors, end.notifyErrors...)
	if err := x.cfg.Store.UpdateRunTx(ctx, tx, ri); err != nil {
		return err
	}
	return x.cfg.Store.EnqueueTx(ctx, tx, end.notes)
}

// progress rewrites run runID's record with its results so far, at most
// once per progressEvery across all workers: the first job to count the
// run down after that claims the write. It holds the lock of the run's
// record, not of its counter, so jobs finishing meanwhile do not wait. The
// record is only what Engine.GetRun shows while the run goes on: a failed
// write is logged, and the next one catches up.
func (x *Executor) progress(ctx context.Context, tenant, runID string) {
	err := func() error {
		tag, err := x.pool.Exec(ctx, x.sql(`UPDATE {s}.resync_runs SET written_at = now()
			WHERE tenant = $1 AND run_id = $2 AND NOT done AND (written_at IS NULL OR written_at < now() - $3::interval)`),
			tenant, runID, progressEvery)
		if err != nil || tag.RowsAffected() == 0 {
			return err // another job writes it
		}
		return pgx.BeginFunc(ctx, x.pool, func(tx pgx.Tx) error {
			ri, err := x.runWithResults(ctx, tx, tenant, runID)
			if errors.Is(err, resync.ErrNotFound) {
				return nil
			}
			if err != nil || ri.Status.Final() {
				return err // a final record is the last word
			}
			return x.cfg.Store.UpdateRunTx(ctx, tx, ri)
		})
	}()
	if err != nil {
		x.log.Warn("writing the progress of a run", "tenant", tenant, "run", runID, "err", err)
	}
}
