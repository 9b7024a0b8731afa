package resync

import (
	"context"
	"sync"
)

// prioSem is a counting semaphore that grants waiting ad-hoc reads before
// waiting scheduled ones, so a burst of scheduled syncs cannot starve an
// admin's resync. Within a priority, waiters are served in arrival order.
type prioSem struct {
	mu      sync.Mutex
	free    int
	waiters [2][]*semWaiter // 0: ad-hoc, 1: scheduled
}

type semWaiter struct {
	ch      chan struct{}
	granted bool
}

const (
	prioAdhoc     = 0
	prioScheduled = 1
)

func newPrioSem(n int) *prioSem { return &prioSem{free: n} }

// acquire takes a slot, waiting behind earlier waiters of the same or a
// higher priority, or returns ctx's error.
func (s *prioSem) acquire(ctx context.Context, prio int) error {
	s.mu.Lock()
	if s.free > 0 && len(s.waiters[prioAdhoc]) == 0 && (prio == prioAdhoc || len(s.waiters[prioScheduled]) == 0) {
		s.free--
		s.mu.Unlock()
		return nil
	}
	w := &semWaiter{ch: make(chan struct{})}
	s.waiters[prio] = append(s.waiters[prio], w)
	s.mu.Unlock()
	select {
	case <-w.ch:
		return nil
	case <-ctx.Done():
		s.mu.Lock()
		if w.granted {
			s.mu.Unlock()
			s.release() // granted as ctx ended: hand the slot on
			return ctx.Err()
		}
		q := s.waiters[prio]
		for i, x := range q {
			if x == w {
				s.waiters[prio] = append(q[:i:i], q[i+1:]...)
				break
			}
		}
		s.mu.Unlock()
		return ctx.Err()
	}
}

// release returns a slot, granting it to the first waiter of the highest priority.
func (s *prioSem) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for p := range s.waiters {
		if q := s.waiters[p]; len(q) > 0 {
			w := q[0]
			s.waiters[p] = q[1:]
			w.granted = true
			close(w.ch)
			return
		}
	}
	s.free++
}
