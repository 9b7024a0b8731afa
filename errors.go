package resync

import (
	"errors"
	"fmt"
	"time"
)

// Sentinel errors. Test for them with errors.Is; the engine wraps them with
// the detail (tenant, provider, connection) that makes the message useful.
var (
	// ErrForbidden: the Authorizer refused the principal the operation on the
	// tenant. Nothing was started or recorded.
	ErrForbidden = errors.New("resync: forbidden")

	// ErrNoConnections: the tenant has no connection the request would read
	// (none connected, or all of the scope's skipped). Nothing was started.
	ErrNoConnections = errors.New("resync: no connections to resync")

	// ErrInvalidRequest: a request or configuration is malformed: an empty
	// tenant, a scope that names a provider or connection the tenant does not
	// have (or one of another type), an accounts resync of a type other than
	// AccessReview, Infrastructure or Observability. The message names what
	// is wrong. Nothing was started.
	ErrInvalidRequest = errors.New("resync: invalid request")

	// ErrClosed: the engine (or scheduler) has been closed.
	ErrClosed = errors.New("resync: closed")

	// ErrNotFound: no tenant (a ConnectionSource returns it, wrapped, for a
	// tenant it does not know), or no run, held change set or connection with
	// that ID for that tenant.
	ErrNotFound = errors.New("resync: not found")

	// ErrConflict: the state changed under the request. Store.Apply returns
	// it when the connection's snapshot is no longer at the change set's
	// BaseVersion (another apply came first); Approve and Reject return it
	// when the change set is no longer held (decided already, or superseded
	// by a later read) and Approve when the snapshot changed after the set
	// was held (the set is superseded: resync again). Nothing was applied.
	ErrConflict = errors.New("resync: snapshot changed concurrently")

	// ErrInvalidRecord: a record failed validation (see RecordError).
	ErrInvalidRecord = errors.New("resync: invalid record")

	// ErrHeld: a connection's change set was held by the delete guard. A
	// run's Err wraps it for held connections; approve or reject through the
	// engine.
	ErrHeld = errors.New("resync: change set held by the delete guard")

	// ErrThrottled: a provider asked the read to wait (Page.NotBefore, or
	// a RetryAfter error) longer than what was left of its
	// ConnectionTimeout. The read ended at once, nothing applied; the
	// connection's result has Status ConnThrottled and RetryAt, the time
	// the provider named. A run's Err wraps it for throttled connections.
	ErrThrottled = errors.New("resync: throttled by the provider")
)

// throttledError ends a read whose provider asked for a wait longer than
// the read had left. It matches ErrThrottled and unwraps to the cause.
type throttledError struct {
	until time.Time
	err   error
}

func (e *throttledError) Error() string {
	return fmt.Sprintf("throttled until %s: %v", e.until.UTC().Format(time.RFC3339), e.err)
}

func (e *throttledError) Unwrap() []error { return []error{ErrThrottled, e.err} }

// ConnectionError is the failure of one connection in a run. It unwraps to
// the cause, so errors.Is(err, ErrHeld) or a connector's own error type
// still match.
type ConnectionError struct {
	Tenant       string
	ConnectionID string
	Provider     string
	Err          error
}

// Error names the tenant, connection and provider, then the cause.
func (e *ConnectionError) Error() string {
	return fmt.Sprintf("resync: tenant %q connection %q (%s): %v", e.Tenant, e.ConnectionID, e.Provider, e.Err)
}

// Unwrap returns the cause.
func (e *ConnectionError) Unwrap() error { return e.Err }

// RecordError says why a record was rejected. It unwraps to ErrInvalidRecord.
type RecordError struct {
	Kind   RecordKind
	Key    string
	Reason string
}

// Error names the record kind and key, then the reason.
func (e *RecordError) Error() string {
	if e.Key == "" {
		return fmt.Sprintf("resync: invalid %s record: %s", e.Kind, e.Reason)
	}
	return fmt.Sprintf("resync: invalid %s record %q: %s", e.Kind, truncate(e.Key, 64), e.Reason)
}

// Unwrap returns ErrInvalidRecord.
func (e *RecordError) Unwrap() error { return ErrInvalidRecord }

// PanicError is a panic recovered from a connector (or notifier), recorded as
// that connection's failure instead of crashing the host.
type PanicError struct {
	Value any
	Stack []byte
}

// Error returns the panic value.
func (e *PanicError) Error() string { return fmt.Sprintf("resync: panic: %v", e.Value) }

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
