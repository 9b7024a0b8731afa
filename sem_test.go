package resync

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func (s *prioSem) state() (free, adhoc, scheduled int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.free, len(s.waiters[prioAdhoc]), len(s.waiters[prioScheduled])
}

func TestPrioSemBound(t *testing.T) {
	t.Parallel()
	const n, workers, rounds = 3, 24, 50
	s := newPrioSem(n)
	var holders, peak atomic.Int32
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range rounds {
				require.NoError(t, s.acquire(context.Background(), w%2))
				h := holders.Add(1)
				for {
					p := peak.Load()
					if h <= p || peak.CompareAndSwap(p, h) {
						break
					}
				}
				runtime.Gosched()
				holders.Add(-1)
				s.release()
			}
		}()
	}
	wg.Wait()
	assert.LessOrEqual(t, peak.Load(), int32(n), "never more than n holders")
	assert.Positive(t, peak.Load())
	free, a, sc := s.state()
	assert.Equal(t, n, free, "every slot came back")
	assert.Zero(t, a+sc)
}

// acquireAsync starts an acquire and waits (in virtual time) until it holds
// a slot or waits in the queue.
func acquireAsync(ctx context.Context, s *prioSem, prio int, name string, order chan<- string) <-chan error {
	errc := make(chan error, 1)
	go func() {
		err := s.acquire(ctx, prio)
		if err == nil {
			order <- name
		}
		errc <- err
	}()
	synctest.Wait()
	return errc
}

func TestPrioSemAdhocFirstThenFIFO(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ctx := t.Context()
		s := newPrioSem(1)
		require.NoError(t, s.acquire(ctx, prioScheduled))
		order := make(chan string, 10)
		acquireAsync(ctx, s, prioScheduled, "s1", order)
		acquireAsync(ctx, s, prioScheduled, "s2", order)
		acquireAsync(ctx, s, prioAdhoc, "a1", order)
		acquireAsync(ctx, s, prioScheduled, "s3", order)
		acquireAsync(ctx, s, prioAdhoc, "a2", order)
		free, a, sc := s.state()
		require.Equal(t, 0, free)
		require.Equal(t, 2, a)
		require.Equal(t, 3, sc)
		assert.Empty(t, order, "nobody is granted while the slot is held")

		var got []string
		for range 5 {
			s.release()
			synctest.Wait()
			require.Len(t, order, 1, "one release grants exactly one waiter")
			got = append(got, <-order)
		}
		assert.Equal(t, []string{"a1", "a2", "s1", "s2", "s3"}, got)
		s.release()
		free, _, _ = s.state()
		assert.Equal(t, 1, free)
	})
}

func TestPrioSemScheduledWaitsBehindAdhocQueue(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ctx := t.Context()
		s := newPrioSem(2)
		require.NoError(t, s.acquire(ctx, prioAdhoc))
		require.NoError(t, s.acquire(ctx, prioAdhoc))
		order := make(chan string, 10)
		acquireAsync(ctx, s, prioScheduled, "s1", order)
		acquireAsync(ctx, s, prioAdhoc, "a1", order)
		s.release()
		synctest.Wait()
		assert.Equal(t, "a1", <-order)
		// A newcomer of either priority must not overtake the waiting s1.
		acquireAsync(ctx, s, prioAdhoc, "a2", order)
		s.release()
		synctest.Wait()
		assert.Equal(t, "a2", <-order, "ad-hoc newcomers go before waiting scheduled ones")
		s.release()
		synctest.Wait()
		assert.Equal(t, "s1", <-order)
		s.release()
		s.release()
		free, a, sc := s.state()
		assert.Equal(t, 2, free)
		assert.Zero(t, a+sc)
	})
}

func TestPrioSemCancelWhileWaiting(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		s := newPrioSem(1)
		require.NoError(t, s.acquire(t.Context(), prioAdhoc))
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		order := make(chan string, 10)
		errc := acquireAsync(ctx, s, prioScheduled, "s1", order)
		later := acquireAsync(t.Context(), s, prioScheduled, "s2", order)
		_, _, sc := s.state()
		require.Equal(t, 2, sc)

		time.Sleep(time.Minute) // virtual: the waiter's deadline passes
		synctest.Wait()
		assert.ErrorIs(t, <-errc, context.DeadlineExceeded)
		free, _, sc := s.state()
		assert.Equal(t, 0, free)
		assert.Equal(t, 1, sc, "the canceled waiter left the queue")

		s.release()
		synctest.Wait()
		assert.Equal(t, "s2", <-order, "the slot goes to the next waiter, not the canceled one")
		require.NoError(t, <-later)
		s.release()
		free, _, _ = s.state()
		assert.Equal(t, 1, free, "no slot leaked")
	})
}

// TestPrioSemGrantedWhileCanceling races a release (which grants the slot
// to a waiter) against that waiter's cancellation. Whichever wins, the slot
// must not be lost: either the waiter holds it, or it is handed on.
func TestPrioSemGrantedWhileCanceling(t *testing.T) {
	t.Parallel()
	handedOn := 0
	for i := range 300 {
		s := newPrioSem(1)
		require.NoError(t, s.acquire(context.Background(), prioAdhoc))
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() { errc <- s.acquire(ctx, prioAdhoc) }()
		nextc := make(chan error, 1)
		for { // wait until the first waiter is queued, then queue a second
			if _, a, _ := s.state(); a == 1 {
				break
			}
			runtime.Gosched()
		}
		go func() { nextc <- s.acquire(context.Background(), prioScheduled) }()
		for {
			if _, _, sc := s.state(); sc == 1 {
				break
			}
			runtime.Gosched()
		}

		// Grant the slot to the first waiter and cancel it at about the same
		// time; canceling first makes the waiter likely to find itself
		// granted after it has given up.
		if i%2 == 0 {
			cancel()
			s.release()
		} else {
			go cancel()
			s.release()
		}

		if err := <-errc; err == nil {
			s.release() // the waiter got the slot; it gives it back
		} else {
			require.ErrorIs(t, err, context.Canceled)
			handedOn++
		}
		require.NoError(t, <-nextc, "the second waiter gets the slot either way")
		s.release()
		free, a, sc := s.state()
		require.Equal(t, 1, free, "no slot leaked")
		require.Zero(t, a+sc)
		cancel()
	}
	t.Logf("canceled waiters: %d of 300", handedOn)
}
