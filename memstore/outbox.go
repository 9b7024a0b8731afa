package memstore

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/openresync/resync"
	"github.com/openresync/resync/storage"
)

var _ storage.Outbox = (*Store)(nil)

// A notification's states in the outbox.
const (
	statePending = iota
	stateDelivered
	stateFailed
)

// note is one notification of the outbox.
type note struct {
	n          resync.Notification
	seq        int64
	state      int
	attempts   int
	due        time.Time // due again (zero: at once)
	owner      string    // the lease holder, until leaseUntil
	leaseUntil time.Time
	lastErr    string
	doneAt     time.Time // when it was settled
}

func cloneNote(n resync.Notification) resync.Notification {
	n.Recipients = slices.Clone(n.Recipients)
	n.Run = cloneRun(n.Run)
	if n.Held != nil {
		h := *n.Held
		n.Held = &h
	}
	n.Attempt = 0
	return n
}

// enqueue stores ns, skipping those stored already; s.mu is held.
func (s *Store) enqueue(ns []resync.Notification) {
	for _, n := range ns {
		k := tenantID{n.Tenant, n.ID}
		if _, ok := s.outbox[k]; ok {
			continue
		}
		s.obSeq++
		s.outbox[k] = &note{n: cloneNote(n), seq: s.obSeq}
	}
}

// CreateRunNotify implements storage.Outbox.
func (s *Store) CreateRunNotify(ctx context.Context, r resync.RunInfo, ns []resync.Notification) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.runs[r.Tenant][r.ID]; ok {
		return fmt.Errorf("%w: the run exists", resync.ErrConflict)
	}
	s.putRun(r)
	s.enqueue(ns)
	return nil
}

// UpdateRunNotify implements storage.Outbox.
func (s *Store) UpdateRunNotify(ctx context.Context, r resync.RunInfo, ns []resync.Notification) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.runs[r.Tenant][r.ID]; !ok {
		return resync.ErrNotFound
	}
	s.putRun(r)
	s.enqueue(ns)
	return nil
}

// HoldNotify implements storage.Outbox.
func (s *Store) HoldNotify(ctx context.Context, cs *resync.ChangeSet, ns []resync.Notification) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hold(cs)
	s.enqueue(ns)
	return nil
}

// DecideHeldNotify implements storage.Outbox.
func (s *Store) DecideHeldNotify(ctx context.Context, tenant, id string, d resync.Decision, ns func(resync.HeldSummary) []resync.Notification) (resync.HeldSummary, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	h, err := s.decideHeld(tenant, id, d)
	if err != nil {
		return h, err
	}
	s.enqueue(ns(h))
	return h, nil
}

// ClaimNotifications implements storage.Outbox. It costs O(pending
// notifications).
func (s *Store) ClaimNotifications(ctx context.Context, owner string, lease time.Duration, limit int) ([]resync.Notification, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	var due []*note
	for _, n := range s.outbox {
		if n.state == statePending && !n.due.After(now) && (n.owner == "" || !n.leaseUntil.After(now)) {
			due = append(due, n)
		}
	}
	slices.SortFunc(due, func(a, b *note) int { return cmp.Compare(a.seq, b.seq) })
	if len(due) > limit {
		due = due[:limit]
	}
	out := make([]resync.Notification, 0, len(due))
	for _, n := range due {
		n.attempts++
		n.owner, n.leaseUntil = owner, now.Add(lease)
		c := cloneNote(n.n)
		c.Attempt = n.attempts
		out = append(out, c)
	}
	return out, nil
}

// SettleNotification implements storage.Outbox.
func (s *Store) SettleNotification(ctx context.Context, tenant, id, owner string, retryAfter time.Duration, lastErr string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.outbox[tenantID{tenant, id}]
	if n == nil {
		return resync.ErrNotFound
	}
	now := s.clock.Now()
	if n.state != statePending {
		return nil
	}
	if lastErr == "" {
		n.state, n.doneAt, n.owner = stateDelivered, now, ""
		return nil
	}
	if n.owner != owner {
		return nil
	}
	n.lastErr, n.owner, n.leaseUntil = lastErr, "", time.Time{}
	if retryAfter > 0 {
		n.due = now.Add(retryAfter)
		return nil
	}
	n.state, n.doneAt = stateFailed, now
	if r, ok := s.runs[tenant][n.n.Run.ID]; ok {
		r.NotifyErrors = append(slices.Clone(r.NotifyErrors), lastErr)
		s.putRun(r)
	}
	return nil
}
