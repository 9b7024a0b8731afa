// This file is how a failure is classified and retried: the errors a
// connector returns to say "do not retry" or "retry after", and the engine's
// retry loop that honours them.

package resync

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/openresync/resync/internal/retry"
)

type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }

func (e *permanentError) Unwrap() error { return e.err }

// Permanent marks err as not worth retrying (bad credentials, 401/403, not
// found). The engine fails the connection at once. Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// IsPermanent reports whether err, or an error it wraps, was marked Permanent.
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}

type retryAfterError struct {
	err   error
	delay time.Duration
}

func (e *retryAfterError) Error() string {
	return fmt.Sprintf("%v (retry after %s)", e.err, e.delay)
}

func (e *retryAfterError) Unwrap() error { return e.err }

// RetryAfter marks err as throttling: the engine waits at least d before
// calling ReadPage again with the same cursor. RetryAfter(nil, d) is nil.
func RetryAfter(err error, d time.Duration) error {
	if err == nil {
		return nil
	}
	if d < 0 {
		d = 0
	}
	return &retryAfterError{err: err, delay: d}
}

// RetryDelay returns the delay of a RetryAfter error in err's chain.
func RetryDelay(err error) (time.Duration, bool) {
	var r *retryAfterError
	if errors.As(err, &r) {
		return r.delay, true
	}
	return 0, false
}

type restartError struct{ err error }

func (e *restartError) Error() string { return "cursor cannot be resumed: " + e.err.Error() }

func (e *restartError) Unwrap() error { return e.err }

// maxRestarts bounds how often one read starts over from the first page.
const maxRestarts = 3

// RestartRead marks err as fatal to the read's cursor, not to the read: a
// cursor that cannot be repeated (an LDAP paging cookie dies with the
// connection that issued it; a provider's page token expired) must not be
// retried. The engine discards the pages read so far, opens a new connector
// through the factory and reads again from the first page, at most three
// times per read (ConnectionResult.Restarts counts them); nothing is applied
// from a read that was started over. After the last restart the connection
// fails with err, which the scheduler retries like any transient failure.
// RestartRead(nil) is nil.
func RestartRead(err error) error {
	if err == nil {
		return nil
	}
	return &restartError{err: err}
}

func isRestart(err error) bool {
	var r *restartError
	return errors.As(err, &r)
}

// classify maps connector errors to retry decisions: Permanent stops,
// RetryAfter sets a minimum delay, context errors and a wait longer than
// the read has left (throttledError) stop.
func classify(err error) retry.Classification {
	var te *throttledError
	if IsPermanent(err) || isRestart(err) || errors.As(err, &te) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return retry.Classification{Permanent: true}
	}
	d, _ := RetryDelay(err)
	return retry.Classification{MinDelay: d}
}

func (e *Engine) retryDo(ctx context.Context, p RetryPolicy, op func(int) error, onRetry func(int, time.Duration, error)) (int, error) {
	return retry.Do(ctx, e.cfg.Clock, p.internal(), classify, op, onRetry)
}

// throttleIfTooLong turns a wait the provider asked for (a RetryAfter
// error's delay, or a page's NotBefore) into a throttledError when it would
// not end before the last tenth of the read's ConnectionTimeout, kept for
// the pages still to read: waiting would only end in a timeout, having
// held a concurrency slot and the read lease for nothing.
func (e *Engine) throttleIfTooLong(ctx context.Context, wait time.Duration, err error) error {
	deadline, ok := ctx.Deadline()
	if !ok || wait < time.Until(deadline)-e.cfg.ConnectionTimeout/10 {
		return nil
	}
	return &throttledError{until: e.cfg.Clock.Now().Add(wait), err: err}
}
