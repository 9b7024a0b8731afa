package notify

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/openresync/resync"
)

// Fanout is a resync.Notifier that delivers every notification to each of
// its backends concurrently (see the package doc). The zero Fanout
// delivers nowhere. Nil backends are skipped. A Fanout is safe for
// concurrent use when its backends are.
type Fanout []resync.Notifier

var _ resync.Notifier = Fanout(nil)

// Notify calls every backend's Notify concurrently and returns when all
// have returned: nil if every backend succeeded, else the backends' errors
// joined, each naming the backend by its index. The joined error is
// permanent only if each failing backend's error is (or is a context
// error, which the engine does not retry either), and carries the longest
// RetryAfter delay among them. In a joined error that is not permanent,
// a permanent backend error keeps its message but no longer unwraps, so
// that the engine retries the notification. A panicking backend does not stop
// the others; its panic is reported as a permanent *resync.PanicError.
func (f Fanout) Notify(ctx context.Context, n resync.Notification) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	errs := make([]error, len(f))
	var wg sync.WaitGroup
	for i, b := range f {
		if b == nil {
			continue
		}
		wg.Go(func() { errs[i] = call(ctx, b, n) })
	}
	wg.Wait()
	var failed []error
	var stops []bool
	permanent := true
	var delay time.Duration
	for _, err := range errs {
		if err == nil {
			continue
		}
		stop := stopsRetry(err)
		stops = append(stops, stop)
		permanent = permanent && stop
		if d, ok := resync.RetryDelay(err); ok && d > delay {
			delay = d
		}
	}
	for i, err := range errs {
		if err == nil {
			continue
		}
		stop := stops[len(failed)]
		if stop && !permanent {
			// The engine would not retry a join that wraps a permanent
			// error: keep its message, not its classification.
			err = opaqueError{err.Error()}
		}
		failed = append(failed, fmt.Errorf("notify: backend %d (%T): %w", i, f[i], err))
	}
	if len(failed) == 0 {
		return nil
	}
	// The classification wraps the join, so errors.As finds it before any
	// backend's own RetryAfter delay.
	err := errors.Join(failed...)
	switch {
	case permanent:
		return resync.Permanent(err)
	case delay > 0:
		return resync.RetryAfter(err, delay)
	}
	return err
}

// stopsRetry reports whether the engine would not retry err: it is
// permanent, or a context's end.
func stopsRetry(err error) bool {
	return resync.IsPermanent(err) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// opaqueError keeps a message without what it wrapped.
type opaqueError struct{ msg string }

func (e opaqueError) Error() string { return e.msg }

func call(ctx context.Context, b resync.Notifier, n resync.Notification) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = resync.Permanent(&resync.PanicError{Value: v})
		}
	}()
	return b.Notify(ctx, n)
}
