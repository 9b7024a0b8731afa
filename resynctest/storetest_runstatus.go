package resynctest

import (
	"errors"

	"github.com/openresync/resync"
	"github.com/openresync/resync/storage"
)

// The check of the optional storage.RunStatusReader capability. A store
// without it skips it.

var ruleRunStatus = rule{"RunStatusReader.RunStatus contract", "package storage"}

// checkRunStatus: RunStatus gives the status GetRun would, after
// CreateRun and after each UpdateRun, per tenant, and ErrNotFound for a
// run the tenant does not have.
func checkRunStatus(e *storeEnv) error {
	rs, ok := e.s.(storage.RunStatusReader)
	if !ok {
		return errSkipCheck
	}
	ctx, s := e.ctx, e.s
	a, b := e.tenant("a"), e.tenant("b")
	run := testRun(a, "run-1", "inst-1", resync.RunPending, resync.TriggerAdhoc, baseTime)
	if err := s.CreateRun(ctx, run); err != nil {
		return ruleCreateRun.errorf("CreateRun: %v", err)
	}
	for _, st := range []resync.RunStatus{resync.RunPending, resync.RunRunning, resync.RunPartial} {
		if st != resync.RunPending {
			run.Status = st
			if err := s.UpdateRun(ctx, run); err != nil {
				return ruleUpdateRun.errorf("UpdateRun: %v", err)
			}
		}
		got, err := rs.RunStatus(ctx, a, "run-1")
		if err != nil || got != st {
			return ruleRunStatus.errorf("RunStatus after the run was stored %s returned %q, %v", st, got, err)
		}
	}
	if got, err := rs.RunStatus(ctx, b, "run-1"); !errors.Is(err, resync.ErrNotFound) {
		return ruleRunStatus.errorf("RunStatus of another tenant's run returned %q, %v; want an error wrapping ErrNotFound", got, err)
	}
	if got, err := rs.RunStatus(ctx, a, "run-404"); !errors.Is(err, resync.ErrNotFound) {
		return ruleRunStatus.errorf("RunStatus of a missing run returned %q, %v; want an error wrapping ErrNotFound", got, err)
	}
	return nil
}
