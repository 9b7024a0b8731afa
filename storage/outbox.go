package storage

import (
	"context"
	"time"

	"github.com/openresync/resync"
)

// Outbox is the optional capability of a Store to keep notifications
// durably until they are delivered: the transactional outbox. The engine
// detects it by type assertion. With it, each notification is written in
// the same transaction as the state change that causes it (a run
// created, a requester joining a run, a run ending, a change set held, a
// decision on a held set), and the engine's dispatcher delivers it to
// Config.Notifier afterwards, at least once, retrying until it is
// delivered or given up. A Store without it keeps the engine's direct
// delivery: a notification is sent after the state change and lost if
// the process dies in between.
//
// An Outbox is also a HeldDecider: the notifications of a decision are
// written with the decision.
//
// A notification is identified by its tenant and ID (Notification.ID).
// Each write below that enqueues notifications stores every one whose
// tenant and ID are not stored yet and ignores the others, so that
// writing the same state twice enqueues nothing twice. A stored
// notification is pending until it is settled as delivered or failed. It
// is kept exactly as given (its Notification round-trips through
// ClaimNotifications, Attempt aside) and, once settled, until Prune
// removes it (settled before the cut-off; pending ones stay) or
// DeleteTenant removes the tenant (every one of its notifications).
//
// Claims: ClaimNotifications leases pending notifications to one owner
// for a while, so that engines sharing a store deliver each once in the
// normal case; a notification whose lease expires (its engine died, or
// took longer) can be claimed again, by any owner. Lease expiry and retry
// times are judged by the store's clock, as AcquireLease's.
type Outbox interface {
	HeldDecider

	// CreateRunNotify is CreateRun that also enqueues ns, in one
	// transaction: if the run cannot be created nothing is enqueued.
	CreateRunNotify(ctx context.Context, run resync.RunInfo, ns []resync.Notification) error
	// UpdateRunNotify is UpdateRun that also enqueues ns, in one
	// transaction.
	UpdateRunNotify(ctx context.Context, run resync.RunInfo, ns []resync.Notification) error
	// HoldNotify is Hold that also enqueues ns, in one transaction.
	HoldNotify(ctx context.Context, cs *resync.ChangeSet, ns []resync.Notification) error
	// DecideHeldNotify is DecideHeld that also enqueues the notifications
	// ns returns, in one transaction: once the decision is made it calls
	// ns (once, under the transaction or lock) with the summary DecideHeld
	// would return, and stores what it returns. ns does no I/O and calls
	// no method of the store. If the decision fails, ns is not called and
	// nothing is enqueued.
	DecideHeldNotify(ctx context.Context, tenant, id string, d resync.Decision, ns func(resync.HeldSummary) []resync.Notification) (resync.HeldSummary, error)

	// ClaimNotifications leases to owner, for lease from now, at most
	// limit pending notifications (of any tenant) that are due (their
	// retry time, if any, has come) and not leased to anyone (their lease,
	// if any, has expired), the oldest enqueued first, and returns them.
	// Each claim adds one to a notification's attempts: the returned
	// Notification's Attempt is that count (1 on the first claim). Of
	// engines claiming at once, each notification goes to one. limit and
	// lease are positive.
	ClaimNotifications(ctx context.Context, owner string, lease time.Duration, limit int) ([]resync.Notification, error)
	// SettleNotification records the outcome of a delivery attempt of the
	// tenant's notification id by owner:
	//   - lastErr "": it was delivered. It is no longer pending, whoever
	//     holds its lease.
	//   - lastErr set and retryAfter positive: the attempt failed; if
	//     owner still holds its lease and it is pending, the lease ends,
	//     lastErr is kept and it is due again retryAfter from now.
	//   - lastErr set and retryAfter zero or negative: the engine gave up;
	//     if owner still holds its lease and it is pending, it is no
	//     longer pending, and in the same transaction lastErr is appended
	//     to the NotifyErrors of the run Notification.Run names (tenant
	//     and Run.ID), if the store has that run.
	// Settling a notification that is no longer pending, or whose lease
	// another owner holds, changes nothing and is not an error; an
	// unknown notification is an error wrapping resync.ErrNotFound.
	SettleNotification(ctx context.Context, tenant, id, owner string, retryAfter time.Duration, lastErr string) error
}

// NotificationLog is the optional capability of an Outbox to list a
// tenant's notifications in the order they were enqueued, delivered or
// not: the durable record that an admin page's event stream reads, so
// that what it shows and what is delivered never disagree.
// Engine.Notifications uses it.
type NotificationLog interface {
	// Notifications returns the tenant's notifications enqueued after
	// afterSeq, in enqueue order, at most limit of them, each with its
	// Seq set (increasing with the enqueue order, positive, never reused).
	// A negative afterSeq returns the tenant's last limit notifications,
	// still in enqueue order. Notifications removed by Prune or
	// DeleteTenant are not returned. limit is positive.
	Notifications(ctx context.Context, tenant string, afterSeq int64, limit int) ([]resync.Notification, error)
}
