package resync

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

// interruptedError is the error given to the unfinished connections of an
// interrupted run.
const interruptedError = "interrupted: the engine instance carrying out the run stopped"

// recoverRuns marks as interrupted the live runs whose owner is dead (see
// Guarantees: crash safety, in the package doc), and returns them.
//
// An owner is dead when it holds no live instance lease. The engine finds
// out with the leases it already has, so stores need no query of their
// own: it tries to take the owner's instance lease in its own name. If it
// gets it, the owner's lease had expired or been released; it marks the
// owner's runs (re-read, so that a run that ended meanwhile is left alone)
// while it holds the lease, so that engines recovering at once mark each
// run once, then releases it. A live owner keeps its lease, so the attempt
// fails and its runs are left alone. A dead owner never takes its lease
// back: each start of an engine is an owner of its own.
func (e *Engine) recoverRuns(ctx context.Context) ([]RunInfo, error) {
	runs, err := e.cfg.Store.LiveRuns(ctx)
	if err != nil {
		return nil, err
	}
	byOwner := map[string][]RunInfo{}
	for _, r := range runs {
		if r.Owner != e.owner && r.Owner != executorOwner {
			byOwner[r.Owner] = append(byOwner[r.Owner], r)
		}
	}
	owners := make([]string, 0, len(byOwner))
	for o := range byOwner {
		owners = append(owners, o)
	}
	slices.Sort(owners)
	prober := e.owner + "/recovery"
	var marked []RunInfo
	var errs []error
	for _, owner := range owners {
		lease := instanceLease(owner)
		dead, err := e.cfg.Store.AcquireLease(ctx, lease, prober, e.cfg.LeaseTTL)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !dead {
			continue
		}
		list := byOwner[owner]
		slices.SortFunc(list, func(a, b RunInfo) int { return cmp.Or(cmp.Compare(a.Tenant, b.Tenant), cmp.Compare(a.ID, b.ID)) })
		for _, r := range list {
			cur, err := e.cfg.Store.GetRun(ctx, r.Tenant, r.ID)
			if err != nil {
				if !errors.Is(err, ErrNotFound) {
					errs = append(errs, err)
				}
				continue
			}
			if cur.Status.Final() || cur.Owner != owner {
				continue
			}
			interrupt(&cur, e.cfg.Clock.Now())
			if err := e.cfg.Store.UpdateRun(ctx, cur); err != nil {
				errs = append(errs, err)
				continue
			}
			marked = append(marked, cur)
		}
		if err := e.cfg.Store.ReleaseLease(context.WithoutCancel(ctx), lease, prober); err != nil {
			errs = append(errs, err)
		}
	}
	return marked, errors.Join(errs...)
}

// interrupt marks r interrupted at now: every connection not finished
// failed.
func interrupt(r *RunInfo, now time.Time) {
	r.Status = RunInterrupted
	r.FinishedAt = now
	for i := range r.Connections {
		c := &r.Connections[i]
		if c.Status == ConnPending || c.Status == ConnRunning {
			c.Status = ConnFailed
			c.Error = interruptedError
		}
	}
}

// recover marks the runs of dead instances interrupted (see Guarantees:
// crash safety, in the package doc) and logs them.
func (e *Engine) recover(ctx context.Context) error {
	recovered, err := e.recoverRuns(ctx)
	for _, r := range recovered {
		e.log.Warn("run interrupted by the end of its engine instance", "tenant", r.Tenant, "run", r.ID, "owner", r.Owner)
	}
	if err != nil {
		return fmt.Errorf("resync: recovering interrupted runs: %w", err)
	}
	return nil
}

func (e *Engine) heartbeat() {
	defer close(e.hbDone)
	beats := 0
	for {
		if !sleep(e.cfg.Clock, e.cfg.LeaseTTL/3, e.hbStop) {
			return
		}
		ctx, cancel := context.WithTimeout(e.base, e.cfg.LeaseTTL/3)
		ok, err := e.cfg.Store.AcquireLease(ctx, instanceLease(e.owner), e.owner, e.cfg.LeaseTTL)
		if err != nil || !ok {
			e.log.Error("renewing instance lease failed", "err", err, "held", ok)
		}
		// Runs of instances that died since are interrupted once their
		// lease has expired: another replica's crash is noticed here
		// without a restart.
		if beats++; beats%3 == 0 {
			if err := e.recover(ctx); err != nil {
				e.log.Error("recovering runs", "err", err)
			}
		}
		cancel()
	}
}
