package linking

import (
	"context"
	"fmt"

	"github.com/openresync/resync"
)

// redacted is storage.Redacted: the key of the change-log entries that
// record an erasure.
const redacted = "[redacted]"

// forgetErased drops the tenant's cached people when an erasure
// (resync.Engine.Erase) removed an identity since the Linker last looked:
// the cache must not keep what was erased, and the store deleted the
// links of the accounts linked to the erased person (storage.Eraser), so
// the next correlation must be a whole one (ts.erased). It reads the change log's
// OpErase entries of identities after ts.erasedSeq (their key is
// redacted, so a store finds them by key) and moves ts.erasedSeq on.
// ts.mu is held.
func (l *Linker) forgetErased(ctx context.Context, ts *tenantState, tenant string) error {
	erased := false
	err := l.eachChange(ctx, resync.ChangeQuery{Tenant: tenant, Key: redacted, Op: resync.OpErase, Kind: resync.KindIdentity, AfterSeq: ts.erasedSeq},
		func(e resync.ChangeLogEntry) error {
			erased = true
			ts.erasedSeq = max(ts.erasedSeq, e.Seq)
			return nil
		})
	if err != nil {
		return fmt.Errorf("linking: looking for erasures in tenant %q: %w", tenant, err)
	}
	if erased {
		ts.people, ts.erased = nil, true
	}
	return nil
}
