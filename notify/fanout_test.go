package notify_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/openresync/resync"
	"github.com/openresync/resync/notify"
	"github.com/openresync/resync/resynctest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func sample() resync.Notification {
	n := resynctest.SampleNotifications("acme")[1]
	n.ID = "run-7f3a/run_completed/in_app"
	return n
}

// blocking is a backend that is down: it hangs until its context ends.
type blocking struct{ entered chan struct{} }

func (b *blocking) Notify(ctx context.Context, n resync.Notification) error {
	close(b.entered)
	<-ctx.Done()
	return ctx.Err()
}

func TestFanoutDownBackendDoesNotDelayOthers(t *testing.T) {
	down := &blocking{entered: make(chan struct{})}
	var a, b resynctest.Notifier
	delivered := make(chan struct{}, 2)
	signal := func(r *resynctest.Notifier) resync.Notifier {
		return notifierFunc(func(ctx context.Context, n resync.Notification) error {
			err := r.Notify(ctx, n)
			delivered <- struct{}{}
			return err
		})
	}
	f := notify.Fanout{down, signal(&a), signal(&b)}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- f.Notify(ctx, sample()) }()

	// The working backends deliver while the down one still hangs.
	<-down.entered
	<-delivered
	<-delivered
	assert.Len(t, a.Notifications(), 1, "backend 1 delivered")
	assert.Len(t, b.Notifications(), 1, "backend 2 delivered")
	select {
	case err := <-done:
		t.Fatalf("Notify returned %v before the down backend did", err)
	default:
	}
	cancel()
	err := <-done
	require.Error(t, err)
	assert.ErrorIs(t, err, context.Canceled)
	assert.Contains(t, err.Error(), "backend 0")
	assert.NotContains(t, err.Error(), "backend 1")
}

type notifierFunc func(context.Context, resync.Notification) error

func (f notifierFunc) Notify(ctx context.Context, n resync.Notification) error { return f(ctx, n) }

func TestFanoutJoinsErrorsAndClassifies(t *testing.T) {
	fail := func(err error) resync.Notifier {
		return notifierFunc(func(context.Context, resync.Notification) error { return err })
	}
	ok := fail(nil)
	perm1 := resync.Permanent(errors.New("smtp: 550 mailbox unavailable"))
	perm2 := resync.Permanent(errors.New("webhook: 400 Bad Request"))
	transient := errors.New("webhook: 503 Service Unavailable")
	throttled := resync.RetryAfter(errors.New("webhook: 429"), 30*time.Second)

	tests := []struct {
		name      string
		f         notify.Fanout
		wantErr   bool
		permanent bool
		delay     time.Duration
	}{
		{"all ok", notify.Fanout{ok, ok, nil}, false, false, 0},
		{"empty", nil, false, false, 0},
		{"all permanent", notify.Fanout{fail(perm1), ok, fail(perm2)}, true, true, 0},
		{"one transient", notify.Fanout{fail(perm1), fail(transient)}, true, false, 0},
		{"throttled", notify.Fanout{fail(throttled), fail(transient), fail(resync.RetryAfter(transient, time.Second))}, true, false, 30 * time.Second},
		{"panic", notify.Fanout{notifierFunc(func(context.Context, resync.Notification) error { panic("boom") }), ok}, true, true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.f.Notify(t.Context(), sample())
			if !tt.wantErr {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Equal(t, tt.permanent, resync.IsPermanent(err), "permanent")
			d, _ := resync.RetryDelay(err)
			assert.Equal(t, tt.delay, d, "retry delay")
		})
	}
	err := notify.Fanout{fail(perm1), ok, fail(transient)}.Notify(t.Context(), sample())
	assert.ErrorIs(t, err, transient)
	assert.Contains(t, err.Error(), "backend 0")
	assert.Contains(t, err.Error(), "550 mailbox unavailable")
	assert.Contains(t, err.Error(), "backend 2")
	assert.NotContains(t, err.Error(), "backend 1")
}

func TestFanoutCanceledContextDeliversNothing(t *testing.T) {
	var a resynctest.Notifier
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	require.ErrorIs(t, notify.Fanout{&a}.Notify(ctx, sample()), context.Canceled)
	assert.Empty(t, a.Notifications())
}

func TestFanoutConformance(t *testing.T) {
	var mu sync.Mutex
	backends := map[*testing.T][2]*resynctest.Notifier{}
	resynctest.TestNotifier(t, func(t *testing.T) resync.Notifier {
		a, b := &resynctest.Notifier{}, &resynctest.Notifier{}
		mu.Lock()
		backends[t] = [2]*resynctest.Notifier{a, b}
		mu.Unlock()
		return notify.Fanout{a, b}
	}, resynctest.NotifierOptions{Delivered: func(t *testing.T) int {
		mu.Lock()
		defer mu.Unlock()
		a, b := len(backends[t][0].Notifications()), len(backends[t][1].Notifications())
		if a != b {
			t.Errorf("backends delivered %d and %d notifications, want the same", a, b)
		}
		return a
	}})
}

func TestKey(t *testing.T) {
	n := sample()
	assert.Equal(t, n.ID, notify.Key(n), "an ID is the key")
	n.ID = ""
	k := notify.Key(n)
	assert.Regexp(t, `^sha256:[0-9a-f]{64}$`, k)
	assert.Equal(t, k, notify.Key(n), "stable")
	for name, change := range map[string]func(*resync.Notification){
		"kind":       func(n *resync.Notification) { n.Kind = resync.NotifyRunStarted },
		"channel":    func(n *resync.Notification) { n.Channel = resync.ChannelEmail },
		"tenant":     func(n *resync.Notification) { n.Tenant = "other" },
		"run":        func(n *resync.Notification) { n.Run.ID = "run-2" },
		"held":       func(n *resync.Notification) { n.Held = &resync.HeldSummary{ID: "cs-1"} },
		"recipients": func(n *resync.Notification) { n.Recipients = n.Recipients[:1] },
	} {
		m := n
		change(&m)
		assert.NotEqual(t, k, notify.Key(m), "a notification with another %s has another key", name)
	}
}

func TestSafeHeader(t *testing.T) {
	for in, want := range map[string]string{
		"Zoë O'Brien":                       "Zoë O'Brien",
		"Eve\r\nBcc: victim@example.com":    "Eve Bcc: victim@example.com",
		"a\nb\rc\td\x00e\u2028f\u0085g":     "a b c d e f g",
		"  padded\r\n":                      "padded",
		"acme\r\n\r\n<html>injected</html>": "acme <html>injected</html>",
	} {
		assert.Equal(t, want, notify.SafeHeader(in), "%q", in)
	}
}
