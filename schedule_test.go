package resync_test

import (
	"fmt"
	"testing"
	"time"
	_ "time/tzdata" // America/New_York on hosts without a zoneinfo database

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openresync/resync"
)

func newYork(t testing.TB) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("America/New_York")
	require.NoError(t, err)
	return loc
}

func TestTenantOffsetStableAndInWindow(t *testing.T) {
	t.Parallel()
	w := 4 * time.Hour
	// Fixed values: the offset must not change between releases, processes
	// or replicas (FNV-1a, not a seeded hash).
	assert.Equal(t, resync.TenantOffset("tenant-1", w), resync.TenantOffset("tenant-1", w))
	golden := map[string]time.Duration{}
	for _, id := range []string{"acme", "tenant-1", "tenant-2"} {
		golden[id] = resync.TenantOffset(id, w)
	}
	assert.NotEqual(t, golden["tenant-1"], golden["tenant-2"], "adjacent IDs get different offsets")
	for i := range 1000 {
		off := resync.TenantOffset(fmt.Sprintf("t%d", i), w)
		require.GreaterOrEqual(t, off, time.Duration(0))
		require.Less(t, off, w)
		require.Zero(t, off%time.Second, "whole seconds")
	}
	assert.Zero(t, resync.TenantOffset("acme", 0))
	assert.Less(t, resync.TenantOffset("acme", 10*time.Millisecond), 10*time.Millisecond)
}

func TestTenantOffsetSpreadsSequentialIDs(t *testing.T) {
	t.Parallel()
	const n, bins = 10000, 24
	var counts [bins]int
	for i := range n {
		off := resync.TenantOffset(fmt.Sprintf("tenant-%d", i), 24*time.Hour)
		counts[off/time.Hour]++
	}
	for h, c := range counts {
		assert.InDelta(t, n/bins, c, float64(n/bins)/4, "hour %d holds %d tenants", h, c)
	}
}

func TestEvery(t *testing.T) {
	t.Parallel()
	iv := resync.Every(time.Hour)
	at := time.Date(2026, 3, 1, 10, 20, 0, 0, time.UTC)
	s := iv.For("acme")
	off := resync.TenantOffset("acme", time.Hour)
	n1 := s.Next(at)
	require.True(t, n1.After(at))
	assert.Equal(t, off, n1.Sub(n1.Truncate(time.Hour)), "shifted by the tenant's offset")
	assert.Equal(t, time.Hour, s.Next(n1).Sub(n1))
	assert.True(t, resync.Every(0).For("acme").Next(at).IsZero(), "a non-positive period never fires")
}

func TestDailyOncePerDayAtStableTime(t *testing.T) {
	t.Parallel()
	d := resync.Daily(2, 0, time.UTC, 4*time.Hour)
	for _, tenant := range []string{"acme", "globex", "initech"} {
		s := d.For(tenant)
		want := 2*time.Hour + resync.TenantOffset(tenant, 4*time.Hour)
		at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		for day := range 60 {
			next := s.Next(at)
			y, m, dd := next.Date()
			require.Equal(t, time.Date(2026, 1, 1+day, 0, 0, 0, 0, time.UTC).Day(), dd, "day %d", day)
			require.Equal(t, want, next.Sub(time.Date(y, m, dd, 0, 0, 0, 0, time.UTC)), "same time every day")
			at = next
		}
	}
}

func TestDailyWindowCrossingMidnight(t *testing.T) {
	t.Parallel()
	d := resync.Daily(23, 0, time.UTC, 4*time.Hour)
	for i := range 200 {
		s := d.For(fmt.Sprintf("t%d", i))
		at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
		n1 := s.Next(at)
		n2 := s.Next(n1)
		require.Equal(t, 24*time.Hour, n2.Sub(n1))
		require.True(t, n1.After(at))
		require.LessOrEqual(t, n1.Sub(at), 24*time.Hour+time.Second, "no slot skipped")
		h := n1.Hour()
		require.True(t, h == 23 || h < 3, "in the window: %v", n1)
	}
}

// TestDailyDST checks, for tenants whose time falls in the spring-forward
// gap, the fall-back repeat and elsewhere, that a daily schedule in
// America/New_York fires exactly once on every local date across both
// transitions of 2026.
func TestDailyDST(t *testing.T) {
	t.Parallel()
	ny := newYork(t)
	d := resync.Daily(1, 30, ny, 2*time.Hour) // 01:30-03:30 local: covers the gap and the repeat
	var inGap, inRepeat int
	for i := range 300 {
		tenant := fmt.Sprintf("tenant-%d", i)
		wall := 90*time.Minute + resync.TenantOffset(tenant, 2*time.Hour)
		if wall >= 2*time.Hour && wall < 3*time.Hour {
			inGap++
		}
		if wall >= time.Hour && wall < 2*time.Hour {
			inRepeat++
		}
		s := d.For(tenant)
		at := time.Date(2026, 3, 1, 0, 0, 0, 0, ny)
		end := time.Date(2026, 11, 10, 0, 0, 0, 0, ny)
		seen := map[string]int{}
		prev := at
		for {
			next := s.Next(prev)
			require.True(t, next.After(prev))
			if next.After(end) {
				break
			}
			local := next.In(ny)
			seen[local.Format(time.DateOnly)]++
			date := local.Format(time.DateOnly)
			switch date {
			case "2026-03-08": // 02:00 EST jumps to 03:00 EDT
				if wall >= 2*time.Hour && wall < 3*time.Hour {
					assert.Equal(t, wall+time.Hour, time.Duration(local.Hour())*time.Hour+time.Duration(local.Minute())*time.Minute+time.Duration(local.Second())*time.Second,
						"a time in the gap runs an hour later on the clock")
				}
			default:
				require.Equal(t, wall, time.Duration(local.Hour())*time.Hour+time.Duration(local.Minute())*time.Minute+time.Duration(local.Second())*time.Second,
					"same local time every day (%s)", date)
			}
			prev = next
		}
		days := int(end.Sub(at).Hours()/24 + 0.5)
		require.Len(t, seen, days, "one run on every local date")
		for date, n := range seen {
			require.Equal(t, 1, n, "tenant %s ran %d times on %s", tenant, n, date)
		}
	}
	assert.Positive(t, inGap, "some tenants fall in the spring-forward gap")
	assert.Positive(t, inRepeat, "some tenants fall in the repeated hour")
}

// hourly is a Schedule firing at every full hour of UTC.
type hourly struct{}

func (hourly) Next(t time.Time) time.Time { return t.Truncate(time.Hour).Add(time.Hour) }

func TestSpread(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 1, 1, 10, 20, 0, 0, time.UTC)
	same := resync.Spread(hourly{}, 0)
	assert.Equal(t, time.Date(2026, 1, 1, 11, 0, 0, 0, time.UTC), same.For("a").Next(at))
	assert.Equal(t, same.For("a").Next(at), same.For("b").Next(at), "a window of 0 does not spread")

	spread := resync.Spread(hourly{}, 30*time.Minute)
	for _, tenant := range []string{"acme", "globex", "initech"} {
		s := spread.For(tenant)
		off := resync.TenantOffset(tenant, 30*time.Minute)
		n1 := s.Next(at)
		assert.True(t, n1.After(at) && n1.Sub(at) <= time.Hour, "%s: the first time after at", tenant)
		assert.Zero(t, n1.Add(-off).Sub(n1.Add(-off).Truncate(time.Hour)), "%s: an hour of the schedule, shifted by the offset", tenant)
		assert.Equal(t, time.Hour, s.Next(n1).Sub(n1), "%s: the times of the schedule, shifted", tenant)
	}
	assert.NotEqual(t, spread.For("acme").Next(at), spread.For("globex").Next(at), "spread")
}
