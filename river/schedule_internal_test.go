package river

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/openresync/resync"
)

// ticker simulates the schedule of several processes without a
// database: each process keeps its own heap, and the ticks (last, now]
// are worked by any of them, in order, as the schedule's row lock orders
// them.
type ticker struct {
	procs []*Executor
	last  time.Time
	got   map[string]int // tenant/slot -> times enqueued
	spans [][2]time.Time // the ticks that committed
}

func newTicker(t *testing.T, procs int, tenants []string, ts resync.TenantSchedule, first time.Time) *ticker {
	t.Helper()
	tk := &ticker{last: first, got: map[string]int{}}
	for range procs {
		x := &Executor{cfg: Config{Schedule: &ScheduleConfig{Schedule: ts, Tick: time.Second}}}
		require.NoError(t, x.configureSchedule())
		for _, tn := range tenants {
			require.NoError(t, x.Schedule(tn, resync.TenantConfig{}))
		}
		tk.procs = append(tk.procs, x)
	}
	return tk
}

// tick has process p work the tick up to now; a failed tick (the
// transaction rolled back) undoes its heap changes and enqueues nothing.
func (tk *ticker) tick(p int, now time.Time, fail bool) {
	s := tk.procs[p].sched
	s.mu.Lock()
	defer s.mu.Unlock()
	jobs, undo := s.popDueLocked(tk.last, now)
	if fail {
		undo()
		return
	}
	for _, j := range jobs {
		a := j.Args.(startArgs)
		tk.got[a.Tenant+"/"+a.Slot.Format(time.RFC3339Nano)]++
	}
	tk.spans = append(tk.spans, [2]time.Time{tk.last, now})
	tk.last = now
}

// Ticks at uneven intervals, by whichever process, some failing: each
// tenant's first slot in each committed tick's (last, now] is enqueued
// exactly once, whatever process's heap served it; so while ticks commit
// more often than the period, every slot is enqueued once.
func TestTicksEnqueueEachSlotOnce(t *testing.T) {
	var tenants []string
	for i := range 60 {
		tenants = append(tenants, fmt.Sprintf("t%03d", i))
	}
	ts := resync.Every(10 * time.Second)
	first := time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC)
	for _, failures := range []bool{false, true} {
		t.Run(fmt.Sprintf("failures=%v", failures), func(t *testing.T) {
			tk := newTicker(t, 3, tenants, ts, first)
			rng := rand.New(rand.NewPCG(1, 2))
			now := first
			for range 600 {
				now = now.Add(time.Duration(1+rng.IntN(4000)) * time.Millisecond)
				tk.tick(rng.IntN(3), now, failures && rng.IntN(4) == 0)
			}
			want, every := map[string]int{}, map[string]int{}
			for _, tn := range tenants {
				s := ts.For(tn)
				for _, sp := range tk.spans {
					if n := s.Next(sp[0]); !n.After(sp[1]) {
						want[tn+"/"+n.UTC().Format(time.RFC3339Nano)] = 1
					}
				}
				for n := s.Next(first); !n.After(tk.last); n = s.Next(n) {
					every[tn+"/"+n.UTC().Format(time.RFC3339Nano)] = 1
				}
			}
			require.Equal(t, want, tk.got)
			if !failures {
				require.Equal(t, every, tk.got, "every slot once")
			} else {
				require.Less(t, len(tk.got), len(every), "failed ticks in a row span a period: its slots run once")
			}
		})
	}
}

// No tick for three periods (every process down): each tenant runs once,
// for the first slot it missed, then on schedule again.
func TestTicksCatchUpOnceAfterAGap(t *testing.T) {
	ts := resync.Spread(hourly{}, 0) // every tenant on the hour
	first := time.Date(2026, 12, 3, 0, 30, 0, 0, time.UTC)
	tk := newTicker(t, 2, []string{"a", "b"}, ts, first)
	tk.tick(0, first.Add(3*time.Hour+time.Minute), false) // slots 01:00, 02:00, 03:00 missed
	require.Equal(t, map[string]int{"a/2026-12-03T01:00:00Z": 1, "b/2026-12-03T01:00:00Z": 1}, tk.got)
	tk.tick(1, first.Add(3*time.Hour+31*time.Minute), false) // 04:01: process 1, whose heap never moved
	require.Equal(t, map[string]int{
		"a/2026-12-03T01:00:00Z": 1, "b/2026-12-03T01:00:00Z": 1,
		"a/2026-12-03T04:00:00Z": 1, "b/2026-12-03T04:00:00Z": 1,
	}, tk.got)
}

// Unschedule takes a tenant out; Schedule again places it from the last
// tick, so a slot between is not lost.
func TestUnscheduleAndScheduleAgain(t *testing.T) {
	ts := resync.Spread(hourly{}, 0)
	first := time.Date(2026, 12, 3, 0, 30, 0, 0, time.UTC)
	tk := newTicker(t, 1, []string{"a", "b"}, ts, first)
	x := tk.procs[0]
	require.NoError(t, x.Unschedule("b"))
	require.ErrorIs(t, x.Unschedule("b"), resync.ErrNotFound)
	tk.tick(0, first.Add(time.Hour), false) // 01:30
	require.Equal(t, map[string]int{"a/2026-12-03T01:00:00Z": 1}, tk.got)
	require.NoError(t, x.Schedule("b", resync.TenantConfig{}))
	tk.tick(0, first.Add(2*time.Hour), false) // 02:30
	require.Equal(t, map[string]int{"a/2026-12-03T01:00:00Z": 1, "a/2026-12-03T02:00:00Z": 1, "b/2026-12-03T02:00:00Z": 1}, tk.got)
	require.ErrorIs(t, x.Schedule("", resync.TenantConfig{}), resync.ErrInvalidRequest)
	require.ErrorIs(t, (&Executor{}).Schedule("a", resync.TenantConfig{}), resync.ErrInvalidRequest)
}

// hourly runs on the hour.
type hourly struct{}

func (hourly) Next(t time.Time) time.Time { return t.Truncate(time.Hour).Add(time.Hour) }
