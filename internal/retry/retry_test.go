package retry

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var errFlaky = errors.New("flaky")

func transient(error) Classification { return Classification{} }

// noJitter makes delays exact so that tests can compare them.
var noJitter = Policy{MaxAttempts: 5, InitialInterval: time.Second, MaxInterval: time.Minute, Multiplier: 2, RandomizationFactor: -1}

func TestDefaults(t *testing.T) {
	t.Parallel()
	p := Policy{}.WithDefaults()
	assert.Equal(t, Policy{MaxAttempts: 5, InitialInterval: time.Second, MaxInterval: time.Minute, Multiplier: 2, RandomizationFactor: 0.5}, p)
	assert.Equal(t, 0.0, Policy{RandomizationFactor: -1}.WithDefaults().RandomizationFactor)
	assert.Equal(t, 3, Policy{MaxAttempts: 3}.WithDefaults().MaxAttempts)
}

func TestSucceedsFirstTime(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		n, err := Do(t.Context(), nil, noJitter, transient, func(int) error { return nil }, func(int, time.Duration, error) { t.Error("no retry expected") })
		require.NoError(t, err)
		assert.Equal(t, 1, n)
		assert.Equal(t, time.Duration(0), time.Since(start))
	})
}

func TestAttemptsBounded(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		calls := 0
		var retries []int
		var delays []time.Duration
		start := time.Now()
		n, err := Do(t.Context(), nil, noJitter, transient, func(attempt int) error {
			calls++
			assert.Equal(t, calls, attempt, "attempt numbers count from 1")
			return errFlaky
		}, func(attempt int, d time.Duration, err error) {
			assert.ErrorIs(t, err, errFlaky)
			retries = append(retries, attempt)
			delays = append(delays, d)
		})
		require.ErrorIs(t, err, errFlaky)
		assert.Equal(t, 5, n)
		assert.Equal(t, 5, calls)
		assert.Equal(t, []int{1, 2, 3, 4}, retries, "onRetry before each wait, not after the last attempt")
		assert.Equal(t, []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second}, delays, "backoff doubles")
		assert.Equal(t, 15*time.Second, time.Since(start), "the waits took the announced delays")
	})
}

func TestSucceedsAfterRetries(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		n, err := Do(t.Context(), nil, noJitter, transient, func(attempt int) error {
			if attempt < 3 {
				return errFlaky
			}
			return nil
		}, nil)
		require.NoError(t, err)
		assert.Equal(t, 3, n)
	})
}

func TestBackoffCappedAndJittered(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		p := Policy{MaxAttempts: 8, InitialInterval: time.Second, MaxInterval: 5 * time.Second, Multiplier: 2, RandomizationFactor: -1}
		var delays []time.Duration
		_, err := Do(t.Context(), nil, p, transient, func(int) error { return errFlaky },
			func(_ int, d time.Duration, _ error) { delays = append(delays, d) })
		require.Error(t, err)
		require.Len(t, delays, 7)
		for _, d := range delays[3:] {
			assert.Equal(t, 5*time.Second, d, "capped at MaxInterval")
		}

		p = Policy{MaxAttempts: 6, InitialInterval: time.Second, MaxInterval: time.Minute, Multiplier: 2, RandomizationFactor: 0.5}
		delays = nil
		_, err = Do(t.Context(), nil, p, transient, func(int) error { return errFlaky },
			func(_ int, d time.Duration, _ error) { delays = append(delays, d) })
		require.Error(t, err)
		want := time.Second
		for i, d := range delays {
			assert.GreaterOrEqual(t, d, want/2, "delay %d", i)
			assert.LessOrEqual(t, d, want*3/2, "delay %d", i)
			want *= 2
		}
		// The last jittered delay is still far above the first: backoff grows.
		assert.Greater(t, delays[len(delays)-1], 2*delays[0])
	})
}

func TestPermanentStopsAtOnce(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		calls := 0
		n, err := Do(t.Context(), nil, noJitter, func(error) Classification { return Classification{Permanent: true} },
			func(int) error { calls++; return errFlaky }, func(int, time.Duration, error) { t.Error("no retry for permanent errors") })
		require.ErrorIs(t, err, errFlaky)
		assert.Equal(t, 1, n)
		assert.Equal(t, 1, calls)
		assert.Equal(t, time.Duration(0), time.Since(start))
	})
}

func TestMinDelayHonoured(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var times []time.Time
		_, err := Do(t.Context(), nil, noJitter, func(error) Classification { return Classification{MinDelay: 30 * time.Second} },
			func(int) error { times = append(times, time.Now()); return errFlaky }, nil)
		require.Error(t, err)
		require.Len(t, times, 5)
		for i := 1; i < len(times); i++ {
			assert.GreaterOrEqual(t, times[i].Sub(times[i-1]), 30*time.Second, "gap %d", i)
		}

		// A MinDelay below the backoff does not shorten it.
		var delays []time.Duration
		_, err = Do(t.Context(), nil, Policy{MaxAttempts: 3, InitialInterval: 10 * time.Second, RandomizationFactor: -1},
			func(error) Classification { return Classification{MinDelay: time.Second} },
			func(int) error { return errFlaky }, func(_ int, d time.Duration, _ error) { delays = append(delays, d) })
		require.Error(t, err)
		assert.Equal(t, []time.Duration{10 * time.Second, 20 * time.Second}, delays)
	})
}

func TestCancelDuringWait(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		start := time.Now()
		go func() {
			time.Sleep(2 * time.Second)
			cancel()
		}()
		n, err := Do(ctx, nil, Policy{MaxAttempts: 10, InitialInterval: time.Hour, RandomizationFactor: -1}, transient,
			func(int) error { return errFlaky }, nil)
		require.ErrorIs(t, err, context.Canceled)
		assert.Equal(t, 1, n)
		assert.Equal(t, 2*time.Second, time.Since(start), "returned as soon as ctx ended, not after the hour")
	})
}

func TestCanceledDuringOp(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		n, err := Do(ctx, nil, noJitter, transient, func(int) error { cancel(); return errFlaky }, nil)
		// The op's own error is returned, and no retry follows.
		require.ErrorIs(t, err, errFlaky)
		assert.Equal(t, 1, n)
	})
}

func TestDelayIsDosDelay(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		p := noJitter
		p.MaxAttempts = 10
		var delays []time.Duration
		_, err := Do(t.Context(), nil, p, transient, func(int) error { return errFlaky },
			func(_ int, d time.Duration, _ error) { delays = append(delays, d) })
		require.ErrorIs(t, err, errFlaky)
		require.Len(t, delays, 9)
		for i, d := range delays {
			assert.Equal(t, d, p.Delay(i+1), "retry %d", i+1)
		}
		assert.Equal(t, []time.Duration{time.Second, 2 * time.Second, 4 * time.Second}, delays[:3])
		assert.Equal(t, time.Minute, p.Delay(1000), "capped, even where Multiplier^n overflows")
		assert.Equal(t, time.Second, p.Delay(0), "n < 1 counts as 1")
	})
}

func TestDelayDefaultsAndJitter(t *testing.T) {
	t.Parallel()
	for range 200 {
		d := Policy{}.Delay(2) // 2s, 50% jitter by default
		require.GreaterOrEqual(t, d, time.Second)
		require.LessOrEqual(t, d, 3*time.Second)
	}
	seen := map[time.Duration]bool{}
	for range 200 {
		d := Jitter(time.Hour, 0.2)
		require.GreaterOrEqual(t, d, 48*time.Minute)
		require.LessOrEqual(t, d, 72*time.Minute)
		seen[d] = true
	}
	assert.Greater(t, len(seen), 100, "spread, not one value")
	assert.Equal(t, time.Hour, Jitter(time.Hour, 0))
	assert.Equal(t, time.Hour, Jitter(time.Hour, -1))
	assert.Equal(t, time.Duration(0), Jitter(0, 0.5))
	for range 200 {
		require.GreaterOrEqual(t, Jitter(time.Hour, 5), time.Duration(0), "f is capped at 1")
	}
}
