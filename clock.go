package resync

import "time"

// Clock tells the time and waits. The Engine, the Scheduler and every retry
// they make take time from one Clock (Config.Clock), so a test controls
// all of it at once. The default is the system clock.
//
// testing/synctest advances time only while every goroutine of the test is
// blocked on something it can see; a test that waits on a real socket (an
// HTTP fixture server, PostgreSQL) must inject a Clock instead, such as
// resynctest.Clock, and advance it by hand.
//
// Contract: Now returns the current time. NewTimer returns a channel that
// receives once, the time at which d has elapsed (at once for d <= 0), and
// a stop function that releases the timer and reports whether it stopped
// the timer before it fired. Both must be safe for concurrent use.
type Clock interface {
	Now() time.Time
	NewTimer(d time.Duration) (c <-chan time.Time, stop func() bool)
}

// systemClock is the default Clock.
type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

func (systemClock) NewTimer(d time.Duration) (<-chan time.Time, func() bool) {
	t := time.NewTimer(d)
	return t.C, t.Stop
}

// sleep waits for d on c, or until done is closed; it reports whether the
// whole wait elapsed.
func sleep(c Clock, d time.Duration, done <-chan struct{}) bool {
	ch, stop := c.NewTimer(d)
	defer stop()
	select {
	case <-ch:
		return true
	case <-done:
		return false
	}
}
