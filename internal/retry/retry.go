// Package retry runs an operation with exponential backoff and jitter
// (github.com/cenkalti/backoff/v4), honouring a minimum delay the error may
// carry (a provider's Retry-After) and stopping on errors classified as
// permanent. One backoff is made per call of Do: each loop has its own.
package retry

import (
	"context"
	"math"
	"math/rand/v2"
	"time"

	"github.com/cenkalti/backoff/v4"
)

// Policy configures Do. Zero fields take the defaults noted.
type Policy struct {
	MaxAttempts         int           // attempts in all, the first included; default 5
	InitialInterval     time.Duration // default 1s
	MaxInterval         time.Duration // default 1m
	Multiplier          float64       // default 2
	RandomizationFactor float64       // jitter, default 0.5; negative means none
}

// WithDefaults fills zero fields.
func (p Policy) WithDefaults() Policy {
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = 5
	}
	if p.InitialInterval <= 0 {
		p.InitialInterval = time.Second
	}
	if p.MaxInterval <= 0 {
		p.MaxInterval = time.Minute
	}
	if p.Multiplier < 1 {
		p.Multiplier = 2
	}
	if p.RandomizationFactor == 0 {
		p.RandomizationFactor = 0.5
	} else if p.RandomizationFactor < 0 {
		p.RandomizationFactor = 0
	}
	return p
}

// Delay returns the delay before retry n (n >= 1; n < 1 counts as 1) of
// p with zero fields defaulted: InitialInterval·Multiplier^(n-1), at most
// MaxInterval, spread by Jitter with RandomizationFactor. It is the delay
// Do waits before attempt n+1, for callers that schedule retries
// themselves instead of looping in Do.
func (p Policy) Delay(n int) time.Duration {
	p = p.WithDefaults()
	d := float64(p.InitialInterval) * math.Pow(p.Multiplier, float64(max(n, 1)-1))
	return Jitter(time.Duration(min(d, float64(p.MaxInterval))), p.RandomizationFactor)
}

// Jitter spreads d uniformly over [d-f·d, d+f·d], as Do spreads its
// delays; f is capped at 1, and f <= 0 or d <= 0 returns d unchanged.
func Jitter(d time.Duration, f float64) time.Duration {
	if f <= 0 || d <= 0 {
		return d
	}
	f = min(f, 1)
	return time.Duration(float64(d) * (1 - f + 2*f*rand.Float64()))
}

// Clock is the time source Do waits on: resync.Clock, declared again here
// (with the same method set) so that this package does not import the root.
type Clock interface {
	Now() time.Time
	NewTimer(d time.Duration) (<-chan time.Time, func() bool)
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

func (systemClock) NewTimer(d time.Duration) (<-chan time.Time, func() bool) {
	t := time.NewTimer(d)
	return t.C, t.Stop
}

// System is the system clock.
var System Clock = systemClock{}

// Classification tells Do what to do with an error.
type Classification struct {
	Permanent bool          // do not retry
	MinDelay  time.Duration // wait at least this long before the next attempt
}

// Do calls op until it succeeds, returns a permanent error, the attempts
// run out or ctx is done, waiting between attempts on clk (System if nil).
// op receives the attempt number (1-based).
// onRetry, if not nil, is called before each wait. Do returns the last
// error of op (or ctx's error if ctx ended a wait) and the attempts made.
func Do(ctx context.Context, clk Clock, p Policy, classify func(error) Classification,
	op func(attempt int) error, onRetry func(attempt int, delay time.Duration, err error)) (int, error) {
	p = p.WithDefaults()
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = p.InitialInterval
	b.MaxInterval = p.MaxInterval
	b.Multiplier = p.Multiplier
	b.RandomizationFactor = p.RandomizationFactor
	b.MaxElapsedTime = 0 // bounded by attempts instead
	b.Reset()
	if clk == nil {
		clk = System
	}
	for attempt := 1; ; attempt++ {
		err := op(attempt)
		if err == nil {
			return attempt, nil
		}
		if ctx.Err() != nil {
			return attempt, err
		}
		c := classify(err)
		if c.Permanent || attempt >= p.MaxAttempts {
			return attempt, err
		}
		d := b.NextBackOff()
		if d == backoff.Stop {
			return attempt, err
		}
		if c.MinDelay > d {
			d = c.MinDelay
		}
		if onRetry != nil {
			onRetry(attempt, d, err)
		}
		ch, stop := clk.NewTimer(d)
		select {
		case <-ctx.Done():
			stop()
			return attempt, ctx.Err()
		case <-ch:
		}
	}
}
