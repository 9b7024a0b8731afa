package resync

import (
	"context"
	"fmt"
	"hash/fnv"
	"io"
	"strconv"
	"time"
)

// NotificationKind says what a notification is about.
type NotificationKind string

// Notification kinds.
const (
	// NotifyRunStarted: a run started (in-product, to its requesters).
	NotifyRunStarted NotificationKind = "run_started"
	// NotifyRunCompleted: a run reached a final status (in-product to its
	// requesters; email to the tenant's admins for a personnel resync, to
	// the requesters for an accounts resync).
	NotifyRunCompleted NotificationKind = "run_completed"
	// NotifyChangesHeld: the delete guard held a change set; an admin must
	// approve or reject it (in-product and email, to the tenant's admins).
	NotifyChangesHeld NotificationKind = "changes_held"
	// NotifyHeldDecided: a held change set was approved or rejected (in-product
	// and email, to the tenant's admins) or superseded by a later read
	// (in-product only). Held.Decision says who decided what, when and why.
	NotifyHeldDecided NotificationKind = "held_decided"
)

// Channel is how a notification reaches people.
type Channel string

// Channels.
const (
	ChannelInApp Channel = "in_app"
	ChannelEmail Channel = "email"
)

// Notification is one message to deliver on one channel.
type Notification struct {
	// ID identifies the notification for deduplication: the same on every
	// delivery attempt of it, different for any other notification (another
	// run, event, held change set, channel or recipients). Backends pass it
	// on so that receivers can drop duplicates, as an idempotency key
	// header or a message id.
	ID         string
	Kind       NotificationKind
	Channel    Channel
	Tenant     string
	Recipients []Principal
	// Run is the run's state when the notification was made.
	Run RunInfo
	// Held is set for NotifyChangesHeld and NotifyHeldDecided.
	Held *HeldSummary `json:",omitempty"`
	// At is when the engine made the notification: when the event
	// happened, by Config.Clock.
	At time.Time `json:",omitzero"`
	// Attempt counts the deliveries of the notification tried so far, this
	// one included: 1 on the first, more on a retry (also after a
	// restart, when the store keeps an outbox). 0 when the store keeps
	// none.
	Attempt int `json:",omitempty"`
	// Seq is the notification's place in the order its store enqueued the
	// tenant's notifications, set on those Engine.Notifications returns: a
	// reader that has seen up to Seq asks for what came after it.
	Seq int64 `json:",omitempty"`
}

// Notifier delivers notifications: in-product messages and emails.
//
// Contract: Notify delivers n to every recipient on n.Channel, or returns an
// error. The engine retries failed deliveries with backoff (with a Store
// that keeps an outbox, until Config.NotifyGiveUp; see Notifications in the
// package doc), records the final error on the run, and never fails a run
// because of it. A Permanent error is not retried. Delivery is at least
// once: the same notification may come again (after a crash between
// delivering and recording it, say), with the same n.ID, which a Notifier
// passes on (an idempotency key, a message ID) so that receivers drop the
// duplicate. It must honour ctx (an attempt is bounded by Config.LeaseTTL)
// and be safe for concurrent use. A Notifier may ignore channels it does
// not serve (return nil).
type Notifier interface {
	Notify(ctx context.Context, n Notification) error
}

// route returns the notifications for a run event, by the product's rules:
// started and completed go in-product to the requesters; on completion an
// email goes to the tenant's admins (personnel) or the requesters
// (accounts); held change sets go to the admins on both channels, and so
// do decisions on them (a supersession in-product only). Scheduled runs
// email the admins on completion only if notifyScheduled says so. Empty
// recipient lists produce no notification.
func route(kind NotificationKind, run RunInfo, admins []Principal, held *HeldSummary, notifyScheduled func(RunInfo) bool) []Notification {
	mk := func(ch Channel, to []Principal) []Notification {
		to = withoutSystem(to)
		if len(to) == 0 {
			return nil
		}
		return []Notification{{ID: notificationID(kind, ch, run, held, to), Kind: kind, Channel: ch, Tenant: run.Tenant, Recipients: to, Run: run, Held: held}}
	}
	requesters := run.Requesters
	if len(requesters) == 0 {
		requesters = []Principal{run.Initiator}
	}
	var out []Notification
	switch kind {
	case NotifyChangesHeld:
		out = append(out, mk(ChannelInApp, admins)...)
		out = append(out, mk(ChannelEmail, admins)...)
	case NotifyHeldDecided:
		out = append(out, mk(ChannelInApp, admins)...)
		if held == nil || held.Decision.Kind != ConnSuperseded {
			out = append(out, mk(ChannelEmail, admins)...)
		}
	case NotifyRunStarted:
		if run.Trigger == TriggerScheduled {
			return nil
		}
		out = append(out, mk(ChannelInApp, requesters)...)
	case NotifyRunCompleted:
		if run.Trigger == TriggerScheduled {
			if notifyScheduled != nil && notifyScheduled(run) {
				out = append(out, mk(ChannelEmail, admins)...)
			}
			return out
		}
		out = append(out, mk(ChannelInApp, requesters)...)
		if run.Scope.Kind == ScopeAccounts {
			out = append(out, mk(ChannelEmail, requesters)...)
		} else {
			out = append(out, mk(ChannelEmail, admins)...)
		}
	}
	return out
}

// notificationID derives a notification's ID from what makes it unique:
// the run, the event, the held change set and its connection (if any),
// the channel and the recipients (the "started" notice of a requester who
// joined a run differs from the initiator's). It depends on nothing else,
// so the same notification made again (the same state written twice) has
// the same ID.
func notificationID(kind NotificationKind, ch Channel, run RunInfo, held *HeldSummary, to []Principal) string {
	id := run.ID + "/" + string(kind) + "/" + string(ch)
	if held != nil {
		id += "/" + held.ConnectionID + "/" + held.ID
	}
	h := fnv.New64a()
	for _, p := range to {
		_, _ = io.WriteString(h, p.ID+"\x00"+p.Email+"\x00")
	}
	return id + "/" + strconv.FormatUint(h.Sum64(), 36)
}

func withoutSystem(ps []Principal) []Principal {
	out := make([]Principal, 0, len(ps))
	for _, p := range ps {
		if !p.System {
			out = append(out, p)
		}
	}
	return out
}

// notify routes and delivers a run's notifications, retrying each delivery;
// failures are recorded on the run and never fail it.
func (e *Engine) notify(r *Run, kind NotificationKind, held *HeldSummary) {
	if e.cfg.Notifier != nil {
		e.deliver(r, kind, r.Info(), held)
	}
}

// deliver routes and delivers the notifications of kind about info.
func (e *Engine) deliver(r *Run, kind NotificationKind, info RunInfo, held *HeldSummary) {
	if e.cfg.Notifier == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.ctx), 2*time.Minute)
	defer cancel()
	var admins []Principal
	needAdmins := kind == NotifyChangesHeld || kind == NotifyHeldDecided || kind == NotifyRunCompleted
	if needAdmins {
		var err error
		admins, err = e.cfg.Directory.Admins(ctx, r.tenant)
		if err != nil {
			e.recordNotifyError(r, fmt.Errorf("listing admins of tenant %q: %w", r.tenant, err))
		}
	}
	policy := e.cfg.Retry
	policy.MaxAttempts = 3
	for _, n := range e.notes(kind, info, admins, held) {
		_, err := e.retryDo(ctx, policy, func(int) error { return safeNotify(ctx, e.cfg.Notifier, n) }, nil)
		if err != nil {
			e.recordNotifyError(r, fmt.Errorf("%s %s notification to %d recipients: %w", n.Kind, n.Channel, len(n.Recipients), err))
		}
	}
}

func (e *Engine) recordNotifyError(r *Run, err error) {
	e.log.Warn("notification failed", "tenant", r.tenant, "run", r.id, "err", err)
	e.mu.Lock()
	r.info.NotifyErrors = append(r.info.NotifyErrors, err.Error())
	e.mu.Unlock()
}

func safeNotify(ctx context.Context, n Notifier, msg Notification) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = Permanent(&PanicError{Value: v})
		}
	}()
	return n.Notify(ctx, msg)
}
