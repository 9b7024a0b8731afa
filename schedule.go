package resync

import (
	"errors"
	"fmt"
	"hash/fnv"
	"time"
)

// Schedule tells when something runs next. Any cron parser plugs in: a
// robfig/cron/v3 Schedule already has this method (see examples/cron).
//
// Contract: Next returns the first activation strictly after t, or the zero
// time for "never again". It must be deterministic (the same t gives the
// same answer in every process, so that replicas agree on due times) and
// safe for concurrent use.
type Schedule interface {
	Next(t time.Time) time.Time
}

// TenantSchedule gives each tenant its own Schedule, so that tenants sharing
// a policy ("daily at 02:00 New York time, spread over four hours") do not
// all start at the same instant. Daily, Every and Spread build one.
//
// For must be deterministic: the same tenant gets the same schedule in every
// process and after every restart.
type TenantSchedule interface {
	For(tenant string) Schedule
}

// Spread turns s into a TenantSchedule that runs each tenant at the times
// of s shifted later by the tenant's stable offset within window: the same
// tenant gets the same offset in every process, on every replica and after
// every restart, and tenant IDs spread uniformly over the window (whole
// seconds when the window is at least a second). With a window of 0 every
// tenant runs at the times of s, unchanged (for example a cron
// expression: a robfig/cron/v3 Schedule is a Schedule as it is).
func Spread(s Schedule, window time.Duration) TenantSchedule {
	return spread{s: s, window: window}
}

type spread struct {
	s      Schedule
	window time.Duration
}

func (sp spread) For(tenant string) Schedule {
	off := tenantOffset(tenant, sp.window)
	if off == 0 {
		return sp.s
	}
	return shifted{s: sp.s, off: off}
}

func (sp spread) validate() error {
	if sp.s == nil {
		return errors.New("Spread(nil, ...)")
	}
	if sp.window < 0 {
		return fmt.Errorf("Spread window %v is negative", sp.window)
	}
	return nil
}

// tenantOffset returns a stable offset in [0, window) derived from the
// tenant ID with 64-bit FNV-1a. Offsets are whole seconds when the window
// is at least a second. A window <= 0 gives 0.
func tenantOffset(tenant string, window time.Duration) time.Duration {
	if window <= 0 {
		return 0
	}
	h := fnv.New64a()
	_, _ = h.Write([]byte(tenant))
	sum := h.Sum64()
	// Mix the FNV output once more: FNV-1a's low bits are weak for short
	// IDs that differ in their last character ("t1", "t2", ...).
	sum ^= sum >> 33
	sum *= 0xff51afd7ed558ccd
	sum ^= sum >> 33
	if window >= time.Second {
		secs := uint64(window / time.Second)
		return time.Duration(sum%secs) * time.Second
	}
	return time.Duration(sum % uint64(window))
}

// Every returns a schedule that runs every d, each tenant at its own
// stable offset within d: the times are multiples of d since the zero
// time.Time (for periods dividing a day: since UTC midnight) shifted by
// the tenant's offset, which spreads tenants over the whole period. d must
// be positive: NewScheduler, Add and Update reject it otherwise.
func Every(d time.Duration) TenantSchedule { return interval{period: d} }

// interval runs every period, aligned to multiples of period.
type interval struct{ period time.Duration }

func (iv interval) Next(t time.Time) time.Time {
	if iv.period <= 0 {
		return time.Time{}
	}
	return t.Truncate(iv.period).Add(iv.period)
}

func (iv interval) For(tenant string) Schedule {
	return shifted{s: iv, off: tenantOffset(tenant, iv.period)}
}

func (iv interval) validate() error {
	if iv.period <= 0 {
		return fmt.Errorf("Every(%v): the period must be positive", iv.period)
	}
	return nil
}

// shifted is a schedule moved later by off.
type shifted struct {
	s   Schedule
	off time.Duration
}

func (s shifted) Next(t time.Time) time.Time {
	n := s.s.Next(t.Add(-s.off))
	if n.IsZero() {
		return n
	}
	return n.Add(s.off)
}

// Daily returns a schedule that runs once per local day of loc (nil: UTC),
// each tenant at a wall-clock time between hour:minute and hour:minute +
// window after local midnight; the tenant's time within the window is its
// stable offset, as with Spread. The time of day must be in [0, 24h) and
// the window in [0, 24h]: NewScheduler, Add and Update reject other values.
// With a window of 0 every tenant runs at hour:minute; a window that
// crosses midnight runs the late tenants early on the next local day.
//
// Wall-clock semantics across daylight-saving changes: a tenant's time is
// the same local time every day, and it runs exactly once per local day.
// On the spring-forward day a time in the missing hour (02:30 in
// America/New_York) runs at the corresponding instant after the jump
// (03:30 EDT); on the fall-back day a time in the repeated hour runs once,
// at the first of its two instants (01:30 EDT, before the clocks go back).
func Daily(hour, minute int, loc *time.Location, window time.Duration) TenantSchedule {
	if loc == nil {
		loc = time.UTC
	}
	return daily{at: time.Duration(hour)*time.Hour + time.Duration(minute)*time.Minute, loc: loc, window: window}
}

type daily struct {
	at     time.Duration // time of day
	loc    *time.Location
	window time.Duration
}

func (d daily) validate() error {
	var errs []error
	if d.at < 0 || d.at >= 24*time.Hour {
		errs = append(errs, fmt.Errorf("Daily time of day %v is not in [0, 24h)", d.at))
	}
	if d.window < 0 || d.window > 24*time.Hour {
		errs = append(errs, fmt.Errorf("Daily window %v is not in [0, 24h]", d.window))
	}
	return errors.Join(errs...)
}

// For returns the tenant's daily schedule: every local day at at plus the
// tenant's offset. Out-of-range values are clamped.
func (d daily) For(tenant string) Schedule {
	at := min(max(d.at, 0), 24*time.Hour-time.Second)
	return dailyAt{loc: d.loc, tod: at + tenantOffset(tenant, min(max(d.window, 0), 24*time.Hour))}
}

// dailyAt fires at local midnight + tod (wall clock) on every local day.
type dailyAt struct {
	loc *time.Location
	tod time.Duration // may exceed 24h when the window crosses midnight
}

func (s dailyAt) on(y int, m time.Month, day int) time.Time {
	// time.Date normalizes overflowing nanoseconds into the following
	// days, and resolves a wall time in a DST overlap to one instant.
	c := time.Date(y, m, day, 0, 0, 0, int(s.tod), s.loc)
	// A wall time in a DST gap comes back earlier on the clock than asked
	// for: move it forward by the size of the gap (02:30 -> 03:30 EDT).
	h, mi, sec := c.Clock()
	got := time.Duration(h)*time.Hour + time.Duration(mi)*time.Minute + time.Duration(sec)*time.Second + time.Duration(c.Nanosecond())
	if d := (s.tod%day24 - got + day24) % day24; d > 0 && d < day24/2 {
		c = c.Add(d)
	}
	return c
}

const day24 = 24 * time.Hour

func (s dailyAt) Next(t time.Time) time.Time {
	y, m, d := t.In(s.loc).Date()
	// A time of day past midnight (window crossing it) belongs to the
	// previous local date, hence starting a day early.
	first := 0
	if s.tod >= day24 {
		first = -1
	}
	for i := first; i <= 2; i++ {
		if c := s.on(y, m, d+i); c.After(t) {
			return c
		}
	}
	return s.on(y, m, d+3) // unreachable: slots are less than 26h apart
}
