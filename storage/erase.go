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
	//
	// A Store that is also a LinkStore erases, in the same transaction,
	// what package linking keeps about the erased records. An erased
	// account is named by its connection and key; an erased identity by
	// its person reference, linking.IdentityRef(connection, key). Erase:
	//   - deletes the link of each erased account, and each link whose
	//     PersonID, or one of whose Candidates, is an erased identity's
	//     reference (the next correlation links those accounts again, to
	//     whoever is left);
	//   - redacts each finding of an erased account (AccountKey becomes
	//     Redacted) and each finding whose PersonID is an erased
	//     identity's reference, clearing PersonID and Detail on both, and
	//     closes those still open (ClosedAt the store's clock, ClosedRun
	//     id); Seq, Kind, ConnectionID and the times and runs of opening
	//     and confirming stay, so the findings still say what was learned
	//     when;
	//   - redacts each decision on an erased account (AccountKey becomes
	//     Redacted) and each decision whose Person is an erased identity's
	//     reference (Person becomes ""), and the Reason of both becomes
	//     Redacted; Seq, Kind, ConnectionID, By and At stay: the audit
	//     still says which admin decided what kind of thing, and when.
	// Other links, findings and decisions stay as they were.
	Erase(ctx context.Context, tenant, id, by string, match func(resync.Record) bool) ([]resync.ChangeLogEntry, error)
	// DeleteTenant deletes everything the store keeps of the tenant: runs,
	// records, snapshot versions, applied change-set IDs, change-log
	// entries, held change sets and decided ones (HeldDecider), and
	// notifications, pending or settled (Outbox). Another tenant's data
	// stays; leases are nobody's and expire.
	DeleteTenant(ctx context.Context, tenant string) error
	// Prune deletes the tenant's runs that are final and were created
	// before the given time (pending and running ones stay) and its
	// change-log entries with At before it, (Outbox) its notifications
	// settled before it, and (LinkStore) its findings closed before it.
	// Records, held change sets, pending notifications, open findings,
	// links and linking decisions stay.
	Prune(ctx context.Context, tenant string, before time.Time) error
}
