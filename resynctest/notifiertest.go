package resynctest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/openresync/resync"
)

// NotifierOptions tunes TestNotifier.
type NotifierOptions struct {
	// Delivered, if set, reports how many notifications the notifier that
	// newNotifier returned for this t has delivered so far (one per
	// successful Notify on a served channel; the count for an email to three
	// recipients is 1). The suite then checks that none was lost or
	// delivered twice, and that a Notify refused for a canceled context
	// delivered nothing. Return the count your fake transport, test server
	// or mailbox observed.
	Delivered func(t *testing.T) int
	// Channels lists the channels the notifier serves. Notify must return
	// nil for the others too (it may ignore them), but they are not counted
	// as deliveries. Empty means every channel.
	Channels []resync.Channel
	// Timeout bounds each check. 0 means one minute.
	Timeout time.Duration
}

// TestNotifier checks a resync.Notifier against its contract (notify.go):
// it accepts a realistic notification of every kind on every channel
// (Notify returns nil), returns an error for a canceled context, and is safe
// for concurrent use (20 goroutines; run the suite with -race). With
// opts.Delivered it also checks that every accepted notification was
// delivered exactly once. Each check runs as a subtest, and a failure names
// the rule broken and where it is written.
//
// newNotifier is called once per subtest.
//
//	func TestConformance(t *testing.T) {
//		var mu sync.Mutex
//		boxes := map[*testing.T]*fakeSMTP{}
//		resynctest.TestNotifier(t, func(t *testing.T) resync.Notifier {
//			box := startFakeSMTP(t)
//			mu.Lock()
//			boxes[t] = box
//			mu.Unlock()
//			mailer, err := email.New(email.Config{Addr: box.Addr(), TLS: email.TLSNone, From: "resync@example.com"})
//			require.NoError(t, err)
//			return mailer
//		}, resynctest.NotifierOptions{
//			Channels: []resync.Channel{resync.ChannelEmail},
//			Delivered: func(t *testing.T) int {
//				mu.Lock()
//				defer mu.Unlock()
//				return boxes[t].Count()
//			},
//		})
//	}
func TestNotifier(t *testing.T, newNotifier func(t *testing.T) resync.Notifier, opts NotifierOptions) {
	t.Helper()
	if opts.Timeout <= 0 {
		opts.Timeout = time.Minute
	}
	for _, c := range notifierChecks {
		t.Run(c.name, func(t *testing.T) {
			n := newNotifier(t)
			if n == nil {
				t.Fatal("resynctest.TestNotifier: newNotifier returned nil")
			}
			env := &notifierEnv{n: n, channels: opts.Channels}
			if opts.Delivered != nil {
				env.delivered = func() int { return opts.Delivered(t) }
			}
			ctx, cancel := context.WithTimeout(t.Context(), opts.Timeout)
			defer cancel()
			if err := c.fn(ctx, env); err != nil {
				t.Error(err)
			}
		})
	}
}

type notifierEnv struct {
	n         resync.Notifier
	channels  []resync.Channel
	delivered func() int // nil if unknown
}

func (e *notifierEnv) serves(ch resync.Channel) bool {
	return len(e.channels) == 0 || slices.Contains(e.channels, ch)
}

// checkDelivered compares the reported deliveries with want.
func (e *notifierEnv) checkDelivered(want int, what string) error {
	if e.delivered == nil {
		return nil
	}
	if got := e.delivered(); got != want {
		return ruleNotifyDelivered.errorf("after %s, Delivered reports %d deliveries, want %d", what, got, want)
	}
	return nil
}

type notifierCheck struct {
	name string
	fn   func(ctx context.Context, e *notifierEnv) error
}

var notifierChecks = []notifierCheck{
	{"EveryKindAndChannel", checkNotifyAll},
	{"CanceledContext", checkNotifyCanceled},
	{"Concurrent", checkNotifyConcurrent},
}

var (
	ruleNotify          = rule{"Notifier contract: Notify delivers n on n.Channel or returns an error", "notify.go"}
	ruleNotifyCtx       = rule{"Notifier contract: it must honour ctx", "notify.go"}
	ruleNotifyConc      = rule{"Notifier contract: safe for concurrent use", "notify.go"}
	ruleNotifyDelivered = rule{"Notifier contract: Notify delivers n, or returns an error", "notify.go (NotifierOptions.Delivered)"}
)

// SampleNotifications returns realistic notifications of every kind on every
// channel for a tenant, as the engine sends them: a personnel run started
// and completed (partial, with a failed connection), an accounts run
// completed, and a held change set. Notifier tests and TestNotifier use
// them.
func SampleNotifications(tenant string) []resync.Notification {
	start := time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)
	admin := resync.Principal{ID: "u-1", Email: "zoe.obrien@example.com", Name: "Zoë O'Brien"}
	other := resync.Principal{ID: "u-2", Email: "kenji@example.co.jp", Name: "山田 健司"}
	personnel := resync.RunInfo{
		ID: "run-7f3a", Tenant: tenant, Scope: resync.PersonnelScope(resync.IdP, resync.HRIS, resync.VersionControl),
		Trigger: resync.TriggerAdhoc, Initiator: admin, Requesters: []resync.Principal{admin, other},
		Status: resync.RunRunning, Owner: "instance-1", CreatedAt: start,
		Connections: []resync.ConnectionResult{
			{ConnectionID: "conn-okta", Provider: "okta", Type: resync.IdP, Name: "Okta (prod)", Status: resync.ConnRunning, Read: 1200, Total: 4000, Pages: 6, Attempts: 6, Reads: 1, StartedAt: start},
			{ConnectionID: "conn-bamboo", Provider: "bamboohr", Type: resync.HRIS, Status: resync.ConnPending},
			{ConnectionID: "conn-gh", Provider: "github", Type: resync.VersionControl, Name: "GitHub acme-corp", Status: resync.ConnPending},
		},
	}
	done := personnel
	done.Status, done.FinishedAt = resync.RunPartial, start.Add(4*time.Minute)
	done.Connections = []resync.ConnectionResult{
		{ConnectionID: "conn-okta", Provider: "okta", Type: resync.IdP, Name: "Okta (prod)", Status: resync.ConnSucceeded, Read: 4000, Total: 4000, Added: 12, Updated: 40, Removed: 3, Unchanged: 3945, Pages: 20, Attempts: 21, Reads: 1, StartedAt: start, FinishedAt: start.Add(3 * time.Minute)},
		{ConnectionID: "conn-bamboo", Provider: "bamboohr", Type: resync.HRIS, Status: resync.ConnFailed, Attempts: 1, Reads: 1, Error: "GET https://api.bamboohr.com/api/gateway.php/acme/v1/employees/directory: 401 Unauthorized", StartedAt: start, FinishedAt: start.Add(time.Second)},
		{ConnectionID: "conn-gh", Provider: "github", Type: resync.VersionControl, Name: "GitHub acme-corp", Status: resync.ConnSucceeded, Read: 85, Added: 1, Unchanged: 84, Rejected: 1, RejectedSamples: []string{"invalid account record \"\": empty key"}, Pages: 1, Attempts: 1, Reads: 1, StartedAt: start, FinishedAt: start.Add(20 * time.Second)},
	}
	accounts := resync.RunInfo{
		ID: "run-9c1e", Tenant: tenant, Scope: resync.AccountsScope(resync.Infrastructure, "aws"),
		Trigger: resync.TriggerAdhoc, Initiator: other, Status: resync.RunSucceeded, Owner: "instance-2",
		CreatedAt: start, FinishedAt: start.Add(time.Minute),
		Connections: []resync.ConnectionResult{
			{ConnectionID: "conn-aws-prod", Provider: "aws", Type: resync.Infrastructure, Name: "AWS prod", Status: resync.ConnSucceeded, Read: 310, Updated: 2, Unchanged: 308, Pages: 4, Attempts: 4, Reads: 1, StartedAt: start, FinishedAt: start.Add(time.Minute)},
		},
	}
	heldRun := resync.RunInfo{
		ID: "run-0d0d", Tenant: tenant, Scope: resync.Scope{Kind: resync.ScopeAll}, Trigger: resync.TriggerScheduled,
		Initiator: resync.SystemPrincipal, Status: resync.RunPartial, Owner: "instance-1", CreatedAt: start, FinishedAt: start.Add(2 * time.Minute),
		Connections: []resync.ConnectionResult{
			{ConnectionID: "conn-okta", Provider: "okta", Type: resync.IdP, Name: "Okta (prod)", Status: resync.ConnHeld, Read: 0, Removed: 4000, HeldID: "cs-held-1", Error: "read returned no records for a snapshot of 4000", StartedAt: start, FinishedAt: start.Add(time.Minute)},
		},
	}
	held := &resync.HeldSummary{ID: "cs-held-1", Tenant: tenant, ConnectionID: "conn-okta", RunID: heldRun.ID, BaseVersion: 41,
		Removed: 4000, Reason: "an empty read of a non-empty snapshot is always held", CreatedAt: start.Add(time.Minute)}
	admins := []resync.Principal{admin, {ID: "u-3", Email: "security@example.com"}}
	var out []resync.Notification
	for _, ch := range []resync.Channel{resync.ChannelInApp, resync.ChannelEmail} {
		out = append(out,
			resync.Notification{Kind: resync.NotifyRunStarted, Channel: ch, Tenant: tenant, Recipients: personnel.Requesters, Run: personnel},
			resync.Notification{Kind: resync.NotifyRunCompleted, Channel: ch, Tenant: tenant, Recipients: admins, Run: done},
			resync.Notification{Kind: resync.NotifyRunCompleted, Channel: ch, Tenant: tenant, Recipients: []resync.Principal{other}, Run: accounts},
			resync.Notification{Kind: resync.NotifyChangesHeld, Channel: ch, Tenant: tenant, Recipients: admins, Run: heldRun, Held: held},
		)
	}
	return out
}

func checkNotifyAll(ctx context.Context, e *notifierEnv) error {
	want := 0
	kinds := map[resync.NotificationKind]bool{}
	for _, n := range SampleNotifications("tenant-acme") {
		if err := e.n.Notify(ctx, n); err != nil {
			return ruleNotify.errorf("Notify of a %s notification on channel %s returned %v, want nil", n.Kind, n.Channel, err)
		}
		kinds[n.Kind] = true
		if e.serves(n.Channel) {
			want++
		}
	}
	if len(kinds) != 3 {
		return fmt.Errorf("resynctest: SampleNotifications covers %d kinds, want 3", len(kinds))
	}
	return e.checkDelivered(want, "one notification of every kind on every channel")
}

func checkNotifyCanceled(ctx context.Context, e *notifierEnv) error {
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	for _, n := range SampleNotifications("tenant-acme") {
		if !e.serves(n.Channel) {
			continue
		}
		if err := e.n.Notify(cctx, n); err == nil {
			return ruleNotifyCtx.errorf("Notify of a %s notification on channel %s with a canceled context returned nil, want an error", n.Kind, n.Channel)
		}
	}
	return e.checkDelivered(0, "Notify calls refused for a canceled context (the engine would retry them: a delivery here is a duplicate)")
}

func checkNotifyConcurrent(ctx context.Context, e *notifierEnv) error {
	const goroutines, each = 20, 4
	all := SampleNotifications("tenant-acme")
	errs := make([]error, goroutines)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for g := range goroutines {
		wg.Go(func() {
			<-start
			for i := range each {
				n := all[(g*each+i)%len(all)]
				n.Run.ID = fmt.Sprintf("%s-%d-%d", n.Run.ID, g, i)
				if err := e.n.Notify(ctx, n); err != nil {
					errs[g] = ruleNotifyConc.errorf("Notify of a %s notification on channel %s from one of %d goroutines returned %v, want nil", n.Kind, n.Channel, goroutines, err)
					return
				}
			}
		})
	}
	close(start)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	want := 0
	for g := range goroutines {
		for i := range each {
			if e.serves(all[(g*each+i)%len(all)].Channel) {
				want++
			}
		}
	}
	return e.checkDelivered(want, fmt.Sprintf("%d concurrent Notify calls", goroutines*each))
}
