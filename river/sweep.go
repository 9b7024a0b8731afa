package river

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river/rivertype"
)

// sweepEvery sweeps every Config.SweepEvery until ctx ends.
func (x *Executor) sweepEvery(ctx context.Context) {
	t := time.NewTicker(x.cfg.SweepEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, err := x.sweep(ctx); err != nil && ctx.Err() == nil {
			x.log.Warn("sweeping reads that ended without a result", "err", err)
		}
	}
}

// sweep records, on the live runs waiting for them, the reads whose jobs
// ended without recording a result: River discarded the job after its
// last attempt (its worker died, and the rescuer gave up), or an operator
// canceled or deleted it. Each is recorded failed with what River knows
// of it, through the same statement as a job's own result, so a read a
// job records meanwhile is recorded once, and every worker process may
// sweep at once. It returns how many reads it recorded.
func (x *Executor) sweep(ctx context.Context) (int, error) {
	rows, err := x.pool.Query(ctx, x.sql(`SELECT w.job_id, w.tenant, w.run_id,
			coalesce(w.connection_id, j.args->>'connection', ''), coalesce(j.state::text, ''),
			coalesce(j.attempt, 0), coalesce(j.errors[array_upper(j.errors, 1)]->>'error', '')
		FROM {s}.resync_runs r
		JOIN {s}.resync_waits w ON w.tenant = r.tenant AND w.run_id = r.run_id AND NOT w.recorded
		LEFT JOIN {s}.river_job j ON j.id = w.job_id
		WHERE NOT r.done AND (j.id IS NULL OR j.state IN ('discarded', 'cancelled', 'completed'))
		ORDER BY w.job_id, w.run_id`))
	if err != nil {
		return 0, fmt.Errorf("river: sweeping: %w", err)
	}
	type lost struct {
		Job               int64
		Tenant, Run, Conn string
		State             string
		Attempt           int
		LastError         string
	}
	found, err := pgx.CollectRows(rows, pgx.RowToStructByPos[lost])
	if err != nil {
		return 0, fmt.Errorf("river: sweeping: %w", err)
	}
	e, err := x.started()
	if err != nil {
		return 0, err
	}
	n := 0
	for i := 0; i < len(found); {
		l := found[i]
		var runs []string
		for ; i < len(found) && found[i].Job == l.Job; i++ {
			runs = append(runs, found[i].Run)
		}
		if l.Conn == "" {
			// A wait stored before waits named their connection, whose
			// job is gone: which read it was is not known.
			x.log.Warn("a run waits for a deleted read job of an unknown connection: cancel it", "tenant", l.Tenant, "runs", runs, "job", l.Job)
			continue
		}
		var cause error
		switch l.State {
		case "":
			cause = fmt.Errorf("its River job %d was deleted before it recorded a result", l.Job)
		case string(rivertype.JobStateCancelled):
			cause = fmt.Errorf("its River job %d was canceled", l.Job)
		case string(rivertype.JobStateDiscarded):
			cause = fmt.Errorf("its River job %d was discarded after %d attempts", l.Job, l.Attempt)
		default:
			cause = fmt.Errorf("its River job %d ended (%s) without recording a result", l.Job, l.State)
		}
		if l.LastError != "" {
			cause = fmt.Errorf("%w; its last error: %s", cause, l.LastError)
		}
		if err := x.complete(ctx, l.Job, readArgs{Tenant: l.Tenant, ConnectionID: l.Conn}, runs, e.FailRead(l.Conn, fmt.Errorf("resync: the read was given up: %w", cause))); err != nil {
			return n, errors.Join(fmt.Errorf("river: recording the lost read of job %d", l.Job), err)
		}
		n++
	}
	return n, nil
}
