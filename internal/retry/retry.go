// Package retry runs an operation with exponential backoff and jitter
// (github.com/cenkalti/backoff/v4), honouring a minimum delay the error may
// carry (a provider's Retry-After) and stopping on errors classified as
// permanent. One backoff is made per call of Do: each loop has its own.
package retry

import (
	"context"
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
