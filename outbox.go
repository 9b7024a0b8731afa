// This file is the durable outbox: notifications written to the store with
// the state change that causes them, and the dispatcher that delivers them
// to the Notifier, with retries, leases shared by the engines on one store,
// and a give-up after Config.NotifyGiveUp.

package resync

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// outboxStore is the method set of storage.Outbox, the optional store
// capability that keeps notifications; package storage documents it.
type outboxStore interface {
	heldDecider
	CreateRunNotify(ctx context.Context, run RunInfo, ns []Notification) error
	UpdateRunNotify(ctx context.Context, run RunInfo, ns []Notification) error
	HoldNotify(ctx context.Context, cs *ChangeSet, ns []Notification) error
	DecideHeldNotify(ctx context.Context, tenant, id string, d Decision, ns func(HeldSummary) []Notification) (HeldSummary, error)
	ClaimNotifications(ctx context.Context, owner string, lease time.Duration, limit int) ([]Notification, error)
	SettleNotification(ctx context.Context, tenant, id, owner string, retryAfter time.Duration, lastErr string) error
}

const (
	// claimBatch bounds the notifications one claim takes.
	claimBatch = 16
	// notifyMaxBackoff bounds the wait between two delivery attempts of a
	// notification.
	notifyMaxBackoff = 30 * time.Minute
)

// outboxOf returns the store's Outbox capability (behind the gate), or nil
// if it lacks it.
func outboxOf(s Store) outboxStore {
	if o, ok := ungated(s).(outboxStore); ok {
		return o
	}
	return nil
}

// notes routes the notifications of kind about info (see route) and stamps
// them with the time.
func (e *Engine) notes(kind NotificationKind, info RunInfo, admins []Principal, held *HeldSummary) []Notification {
	ns := route(kind, info, admins, held, e.cfg.NotifyScheduled)
	now := e.cfg.Clock.Now()
	for i := range ns {
		ns[i].At = now
	}
	return ns
}

// adminsFor lists the tenant's admins when notifications of kind go to
// them. A failure is returned with a message fit for RunInfo.NotifyErrors;
// the notifications to the admins are then not made.
func (e *Engine) adminsFor(ctx context.Context, tenant string, kind NotificationKind) ([]Principal, error) {
	if kind != NotifyChangesHeld && kind != NotifyHeldDecided && kind != NotifyRunCompleted {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.cfg.LeaseTTL)
	defer cancel()
	admins, err := e.cfg.Directory.Admins(ctx, tenant)
	if err != nil {
		return nil, fmt.Errorf("listing admins of tenant %q: %w", tenant, err)
	}
	return admins, nil
}

// wake tells the dispatcher that notifications were enqueued.
func (e *Engine) wake() {
	select {
	case e.dispWake <- struct{}{}:
	default:
	}
}

// persistNotify writes the run's current state with the notifications
// ns makes of it, in one transaction (Store.UpdateRunNotify), serialized
// with persist. It returns the store's error, logged already.
func (e *Engine) persistNotify(r *Run, ns func(RunInfo) []Notification) error {
	r.persistMu.Lock()
	defer r.persistMu.Unlock()
	r.persistedAt = e.cfg.Clock.Now()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.ctx), 30*time.Second)
	defer cancel()
	info := r.Info()
	err := e.ob.UpdateRunNotify(ctx, info, ns(info))
	if err != nil {
		e.log.Error("storing run state and its notifications", "tenant", r.tenant, "run", r.id, "err", err)
		return err
	}
	e.wake()
	return nil
}

// dispatch delivers the outbox's notifications until Close: it claims due
// ones, delivers each, and settles it; when none is due it waits for an
// enqueue by this engine or Config.LeasePoll, whichever comes first (other
// engines' notifications and retries are found by polling).
func (e *Engine) dispatch() {
	defer close(e.dispDone)
	ctx := e.base
	lease := 2 * e.cfg.LeaseTTL
	for {
		claimed := e.cfg.Clock.Now()
		ns, err := e.ob.ClaimNotifications(ctx, e.owner, lease, claimBatch)
		if err != nil && ctx.Err() == nil {
			e.log.Error("claiming notifications", "err", err)
		}
		if len(ns) > 0 {
			e.deliverClaimed(ctx, ns, claimed.Add(lease-e.cfg.LeaseTTL))
		}
		if len(ns) == claimBatch {
			select {
			case <-e.dispStop:
				return
			default:
				continue
			}
		}
		ch, stop := e.cfg.Clock.NewTimer(e.cfg.LeasePoll)
		select {
		case <-e.dispStop:
			stop()
			return
		case <-e.dispWake:
		case <-ch:
		}
		stop()
	}
}

// deliverClaimed delivers claimed notifications: those of one run in the
// order they were enqueued, different runs at once. An attempt not begun
// by deadline, or when Close was called, is left for the lease to expire:
// it never starts after another engine may have claimed the notification
// again, and Close waits only for the attempts under way.
func (e *Engine) deliverClaimed(ctx context.Context, ns []Notification, deadline time.Time) {
	type runKey struct{ tenant, id string }
	var order []runKey
	groups := map[runKey][]Notification{}
	for _, n := range ns {
		k := runKey{n.Tenant, n.Run.ID}
		if groups[k] == nil {
			order = append(order, k)
		}
		groups[k] = append(groups[k], n)
	}
	done := make(chan struct{}, len(order))
	for _, k := range order {
		go func() {
			defer func() { done <- struct{}{} }()
			for _, n := range groups[k] {
				select {
				case <-e.dispStop:
					return
				default:
				}
				if ctx.Err() != nil || e.cfg.Clock.Now().After(deadline) {
					return
				}
				e.attempt(ctx, n)
			}
		}()
	}
	for range order {
		<-done
	}
}

// attempt delivers one claimed notification once and settles it:
// delivered, due again after a backoff, or given up (a permanent error,
// or Config.NotifyGiveUp after it was made) with the failure recorded on
// its run.
func (e *Engine) attempt(ctx context.Context, n Notification) {
	actx, cancel := context.WithTimeout(ctx, e.cfg.LeaseTTL)
	err := safeNotify(actx, e.cfg.Notifier, n)
	cancel()
	if err != nil && ctx.Err() != nil {
		return // closing: the lease expires and the notification is claimed again
	}
	var retryAfter time.Duration
	lastErr := ""
	if err != nil {
		lastErr = fmt.Sprintf("%s %s notification to %d recipients (attempt %d): %v", n.Kind, n.Channel, len(n.Recipients), n.Attempt, err)
		p := e.cfg.Retry
		p.MaxInterval = max(p.MaxInterval, notifyMaxBackoff)
		retryAfter = p.internal().Delay(n.Attempt)
		if d, ok := RetryDelay(err); ok {
			retryAfter = max(retryAfter, d)
		}
		// The last attempt is made when NotifyGiveUp is over.
		left := n.At.Add(e.cfg.NotifyGiveUp).Sub(e.cfg.Clock.Now())
		retryAfter = min(retryAfter, left)
		if IsPermanent(err) || left <= 0 {
			retryAfter = 0
			e.log.Warn("notification given up", "tenant", n.Tenant, "run", n.Run.ID, "notification", n.ID, "err", err)
		} else {
			e.log.Info("notification failed, will retry", "tenant", n.Tenant, "run", n.Run.ID, "notification", n.ID, "retry_in", retryAfter, "err", err)
		}
	}
	sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), e.cfg.LeaseTTL)
	defer scancel()
	if serr := e.ob.SettleNotification(sctx, n.Tenant, n.ID, e.owner, retryAfter, lastErr); serr != nil {
		e.log.Error("settling a notification", "tenant", n.Tenant, "notification", n.ID, "err", serr)
		return
	}
	if lastErr != "" && retryAfter == 0 {
		// The store appended the failure to the stored run; a run still
		// live here gets it too, so that its next write keeps it.
		e.mu.Lock()
		if r := e.runs[n.Run.ID]; r != nil && r.tenant == n.Tenant && !slices.Contains(r.info.NotifyErrors, lastErr) {
			r.info.NotifyErrors = append(r.info.NotifyErrors, lastErr)
		}
		e.mu.Unlock()
	}
}

// decideHeld records decision d on the tenant's held change set id with
// the store's HeldDecider and, when the store keeps an outbox, enqueues
// the admins' NotifyHeldDecided notifications in the same transaction.
// settle then delivers nothing itself.
func (e *Engine) decideHeld(ctx context.Context, dec *deciderGate, tenant, id string, d Decision) (HeldSummary, error) {
	if e.ob == nil {
		return dec.DecideHeld(ctx, tenant, id, d)
	}
	if err := needTenantID("DecideHeld", "held change set ID", tenant, id); err != nil {
		return HeldSummary{}, err
	}
	if err := validateDecision(d); err != nil {
		return HeldSummary{}, err
	}
	admins, aerr := e.adminsFor(ctx, tenant, NotifyHeldDecided)
	// The run that held the set, as it stands now; the decision is
	// recorded on it below (settle records it in the store).
	owner, ok := e.heldOwner(ctx, tenant, id)
	h, err := e.ob.DecideHeldNotify(ctx, tenant, id, d, func(h HeldSummary) []Notification {
		if !ok {
			owner = RunInfo{ID: h.RunID, Tenant: tenant}
		}
		info := owner
		info.Connections = slices.Clone(info.Connections)
		settleRun(&info, h)
		if aerr != nil {
			info.NotifyErrors = append(slices.Clone(info.NotifyErrors), aerr.Error())
		}
		return e.notes(NotifyHeldDecided, info, admins, &h)
	})
	if err != nil {
		return h, wrap(err, "deciding (%s) on held change set %q of tenant %q", d.Kind, id, tenant)
	}
	if aerr != nil {
		e.log.Warn("notification failed", "tenant", tenant, "held", id, "err", aerr)
	}
	e.wake()
	return h, nil
}

// heldOwner returns the run that held the tenant's change set id, live
// here or stored, if it can be found.
func (e *Engine) heldOwner(ctx context.Context, tenant, id string) (RunInfo, bool) {
	cs, err := e.cfg.Store.GetHeld(ctx, tenant, id)
	if err != nil {
		return RunInfo{}, false
	}
	e.mu.Lock()
	r := e.runs[cs.RunID]
	e.mu.Unlock()
	if r != nil && r.tenant == tenant {
		return r.Info(), true
	}
	ri, err := e.cfg.Store.GetRun(ctx, tenant, cs.RunID)
	if err != nil {
		return RunInfo{}, false
	}
	return ri, true
}
