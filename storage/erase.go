package storage

import (
	"context"
	"time"

	"github.com/openresync/resync"
)

// Redacted replaces the key of the change-log entries an erasure redacts
// and is the key of the OpErase entries that record it.
const Redacted = "[redacted]"

// Eraser is the optional capability of a Store to remove personal data:
// one person's on request, a whole tenant's, and history past its
// retention. The engine detects it by type assertion; Engine.Erase,
// Engine.DeleteTenant and Engine.Prune fail with an error wrapping
// errors.ErrUnsupported on a Store without it. The engine validates the
// arguments (tenant, id and by non-empty, match non-nil, before not zero)
// and checks the caller's right first.
type Eraser interface {
	// Erase erases one person's data from the tenant, in one
	// transaction. A record is the person's if match returns true for
	// its stored value (live or tombstoned, in any connection) or for the
	// Before or After of any of its change-log entries (so that an email
	// the person had before is found too). For each such record, Erase:
	//   - deletes the record;
	//   - redacts each of its change-log entries (same connection, kind
	//     and key): Key becomes Redacted; Fingerprint, PrevFingerprint,
	//     Before and After are cleared; Seq, Op, Kind, At, RunID,
	//     ChangeSetID and ConnectionID stay;
	//   - appends one OpErase entry (Kind and ConnectionID of the record,
	//     Key Redacted, RunID and ChangeSetID id, By by, At the store's
	//     clock).
	// Every held change set of a connection that had such a record is
	// discarded, and that connection's snapshot version increases by one,
	// so that a change set computed before the erasure conflicts instead
	// of writing the person back. Other records and entries stay as they
	// were. Erase returns the OpErase entries in Seq order (none when
	// nothing matched). It may read all of the tenant's records and
	// change log: erasures are rare.
	Erase(ctx context.Context, tenant, id, by string, match func(resync.Record) bool) ([]resync.ChangeLogEntry, error)
	// DeleteTenant deletes everything the store keeps of the tenant: runs,
	// records, snapshot versions, applied change-set IDs, change-log
	// entries, held change sets and decided ones (HeldDecider), and
	// notifications, pending or settled (Outbox). Another tenant's data
	// stays; leases are nobody's and expire.
	DeleteTenant(ctx context.Context, tenant string) error
	// Prune deletes the tenant's runs that are final and were created
	// before the given time (pending and running ones stay) and its
	// change-log entries with At before it, and (Outbox) its
	// notifications settled before it. Records, held change sets and
	// pending notifications stay.
	Prune(ctx context.Context, tenant string, before time.Time) error
}
