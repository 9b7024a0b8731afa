package resync

import (
	"context"
	"time"
)

// Connector reads the current state of one connection, a page at a time.
//
// The engine drives the paging: it calls ReadPage with the empty cursor for
// the first page and then with each page's Next until Next is empty. When a
// page fails with a transient error the engine calls ReadPage again with the
// same cursor, so a connector never retries by itself and a failure on page
// 37 re-reads page 37 only.
//
// Contract for implementers:
//   - ReadPage with the same cursor must be safe to repeat (it is a read).
//     Cursors are opaque to the engine; they may be URLs, tokens or offsets.
//   - Return records of the connection's current state; keys must be stable
//     and unique per kind within one full read.
//   - Report input that cannot be turned into a record (a malformed row) in
//     Page.Rejected rather than dropping it or returning a half-filled
//     record; name its kind and key with a *RecordError when it has them,
//     so that its stored version is kept (see Page.Rejected).
//   - Classify errors: wrap errors that retrying cannot fix (bad
//     credentials, 401/403, not found, a malformed configuration) with
//     Permanent; wrap throttling with RetryAfter when the provider says how
//     long to wait; anything else is treated as transient and retried with
//     backoff. Package connkit does this for HTTP APIs.
//   - Honour ctx: return promptly with ctx.Err() when it is done.
//   - A Connector is used by one goroutine at a time; the engine never calls
//     ReadPage concurrently on one Connector.
//
// Optional capabilities are separate interfaces detected by type assertion:
// HealthChecker, and io.Closer (closed after each read).
type Connector interface {
	ReadPage(ctx context.Context, cursor string) (Page, error)
}

// Page is one page of a read.
type Page struct {
	// Records of this page. The engine validates them (ValidateRecord) and
	// takes ownership: a connector must not modify them after returning.
	Records []Record
	// Next is the cursor of the following page, or "" if this was the last.
	Next string
	// Total optionally estimates the number of records of the whole read,
	// for progress reporting; 0 means unknown.
	Total int
	// Rejected reports input of this page the connector could not turn
	// into records (a malformed row), each with its reason ("hris.csv
	// line 7: bad start_date"). Each counts as a read and rejected record
	// in the run result, with the reason among its samples, and nothing
	// is stored from it. If the error is (or wraps) a *RecordError naming
	// the record's kind and key, the stored version of that record is
	// kept, as for an invalid record. Without a usable kind and key the
	// input cannot be matched to a stored record, and a stored record the
	// read does not otherwise return is removed as gone.
	Rejected []error
	// NotBefore, if set, is the earliest time the engine may ask for the
	// next page: a provider whose quota is spent says so on a successful
	// response (connkit's Response.NotBefore reads it), and waiting here
	// costs no retry attempt. If the wait would outlast the read's
	// ConnectionTimeout, the read ends throttled instead (ErrThrottled):
	// nothing is applied.
	NotBefore time.Time
}

// ConnectorFactory builds the Connector for a connection. The engine calls
// it once per read, with the read's context; Config.Connectors maps provider
// names to factories. A factory error is classified like a ReadPage error.
type ConnectorFactory func(ctx context.Context, conn Connection) (Connector, error)

// HealthChecker is an optional Connector capability: a cheap check that the
// connection's credentials and reachability are good (a "test connection"
// button). Engine.CheckConnection uses it.
type HealthChecker interface {
	CheckHealth(ctx context.Context) error
}
