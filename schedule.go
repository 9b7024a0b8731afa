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
// all start at the same instant. Daily and Every implement it with a stable
// per-tenant offset; AllTenants gives every tenant the same Schedule.
//
// For must be deterministic: the same tenant gets the same schedule in every
// process and after every restart.
type TenantSchedule interface {
	For(tenant string) Schedule
}

// AllTenants returns a TenantSchedule giving every tenant s unchanged (for
// example a cron expression). Nothing is spread: every tenant is due at the
// same instants.
func AllTenants(s Schedule) TenantSchedule { return allTenants{s} }

type allTenants struct{ s Schedule }

func (a allTenants) For(string) Schedule { return a.s }

func (a allTenants) validate() error {
	if a.s == nil {
		return errors.New("AllTenants(nil)")
	}
	return nil
}

// TenantOffset returns a stable offset in [0, window) derived from the
// tenant ID with 64-bit FNV-1a: the same tenant gets the same offset in
// every process, on every replica and after every restart, and tenant IDs
// spread uniformly over the window. Offsets are whole seconds when the
// window is at least a second. A window <= 0 gives 0.
func TenantOffset(tenant string, window time.Duration) time.Duration {
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

// Interval runs every Period, aligned to multiples of Period since the
// zero time.Time (for periods dividing a day: since UTC midnight). As a
// Schedule (Next) it is the same for everyone; as a TenantSchedule (For)
// each tenant is shifted by TenantOffset(tenant, Period), spreading tenants
// over the whole period. Build it with Every.
type Interval struct {
	Period time.Duration
}

// Every returns an Interval of d. It is a Schedule and a TenantSchedule.
// d must be positive (NewScheduler, Add and Update reject an Interval that
// is not; Next
// of a non-positive Interval returns the zero time: never).
func Every(d time.Duration) Interval { return Interval{Period: d} }

// Next returns the first multiple of Period after t.
func (iv Interval) Next(t time.Time) time.Time {
	if iv.Period <= 0 {
		return time.Time{}
	}
	return t.Truncate(iv.Period).Add(iv.Period)
}

// For returns the interval shifted by the tenant's stable offset.
func (iv Interval) For(tenant string) Schedule {
	return shifted{iv: iv, off: TenantOffset(tenant, iv.Period)}
}

func (iv Interval) validate() error {
	if iv.Period <= 0 {
		return fmt.Errorf("Every(%v): the period must be positive", iv.Period)
	}
	return nil
}

type shifted struct {
	iv  Interval
	off time.Duration
}

func (s shifted) Next(t time.Time) time.Time {
	if s.iv.Period <= 0 {
		return time.Time{}
	}
	return s.iv.Next(t.Add(-s.off)).Add(s.off)
}

// DailySchedule runs once per local day of Location, at a wall-clock time
// between At and At+Window after local midnight; each tenant's time within
// the window is fixed by TenantOffset(tenant, Window). Build it with Daily.
//
// Wall-clock semantics across daylight-saving changes: a tenant's time is
// the same local time every day, and it runs exactly once per local day.
// On the spring-forward day a time in the missing hour (02:30 in
// America/New_York) runs at the corresponding instant after the jump
// (03:30 EDT); on the fall-back day a time in the repeated hour runs once,
// at the first of its two instants (01:30 EDT, before the clocks go back).
type DailySchedule struct {
	// At is the start of the window as a time of day: 2*time.Hour+30*time.Minute
	// is 02:30. It must be in [0, 24h).
	At time.Duration
	// Location is the time zone of At. Nil means UTC.
	Location *time.Location
	// Window is the spreading window, in [0, 24h]. With 0 every tenant
	// runs at At; a window that crosses midnight runs the late tenants
	// early on the next local day.
	Window time.Duration
}

// Daily returns a daily schedule starting at hour:minute local time in loc
// (nil: UTC), spreading tenants over window. Call For with a tenant ID to
// get that tenant's Schedule. NewScheduler, Add and Update reject
// out-of-range values; For clamps them.
func Daily(hour, minute int, loc *time.Location, window time.Duration) DailySchedule {
	return DailySchedule{At: time.Duration(hour)*time.Hour + time.Duration(minute)*time.Minute, Location: loc, Window: window}
}

func (d DailySchedule) validate() error {
	var errs []error
	if d.At < 0 || d.At >= 24*time.Hour {
		errs = append(errs, fmt.Errorf("Daily time of day %v is not in [0, 24h)", d.At))
	}
	if d.Window < 0 || d.Window > 24*time.Hour {
		errs = append(errs, fmt.Errorf("Daily window %v is not in [0, 24h]", d.Window))
	}
	return errors.Join(errs...)
}

// Offset returns the tenant's offset from At: TenantOffset(tenant, Window).
func (d DailySchedule) Offset(tenant string) time.Duration {
	return TenantOffset(tenant, min(max(d.Window, 0), 24*time.Hour))
}

// For returns the tenant's daily schedule: every local day at
// At+Offset(tenant).
func (d DailySchedule) For(tenant string) Schedule {
	loc := d.Location
	if loc == nil {
		loc = time.UTC
	}
	at := min(max(d.At, 0), 24*time.Hour-time.Second)
	return dailyAt{loc: loc, tod: at + d.Offset(tenant)}
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
