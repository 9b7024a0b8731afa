package storage

import (
	"context"

	"github.com/openresync/resync/linking"
)

// LinkStore is the optional capability of a Store to keep what package
// linking works out and decides: each account's link to a person, the
// findings (open and closed), and admins' decisions on accounts.
// linking.New requires it. memstore, stores/sqlite and stores/postgres
// implement it; resynctest.TestStore checks it.
//
// Every method is scoped to its tenant (w.Tenant, q.Tenant), which the
// caller guarantees is set, like the other arguments the linking package
// validates before calling.
type LinkStore interface {
	// WriteLinks stores w atomically (one transaction, or under one
	// lock): the links of w.Put replace those of the same accounts or
	// are added, the links of the accounts in w.Delete are removed, the
	// findings of w.Open are added each with a new Seq greater than every
	// Seq the store gave before, the open findings of the tenant whose
	// Seq is in w.Close get ClosedAt w.At and ClosedRun w.RunID, and
	// those whose Seq is in w.Confirm get ConfirmedAt w.At and
	// ConfirmedRun w.RunID. Seqs of closed or unknown findings in Close
	// and Confirm change nothing. It returns the opened findings with
	// their Seqs, in w.Open's order.
	WriteLinks(ctx context.Context, w linking.Write) ([]linking.Finding, error)
	// Links returns the tenant's links matching q (ConnectionID,
	// Situation, PersonID where not zero), ordered by connection ID then
	// account key (as bytes), after q.After when it is not zero (with an
	// empty AccountKey: after every link of After.ConnectionID), at most
	// q.Limit unless it is 0. q.Cursor is empty.
	Links(ctx context.Context, q linking.LinkQuery) ([]linking.Link, error)
	// Findings returns the tenant's findings matching q, by Seq: Kind,
	// ConnectionID, AccountKey, PersonID and OpenedRun equal to q's where
	// those are not zero; open only with OpenOnly; with Since or Until
	// set, opened or closed within [Since, Until); Seq greater than
	// AfterSeq; at most Limit unless it is 0.
	Findings(ctx context.Context, q linking.FindingQuery) ([]linking.Finding, error)
	// AddLinkDecision appends d (Seq zero) to the tenant's decisions and
	// returns the Seq it gave it, greater than every Seq it gave before.
	AddLinkDecision(ctx context.Context, d linking.Decision) (int64, error)
	// LinkDecisions returns the tenant's decisions matching q by Seq:
	// ConnectionID and AccountKey where not zero; with Current, only each
	// account's latest decision, and only when that is not
	// linking.DecideClear; Seq greater than AfterSeq; at most Limit
	// unless it is 0.
	LinkDecisions(ctx context.Context, q linking.DecisionQuery) ([]linking.Decision, error)
}
