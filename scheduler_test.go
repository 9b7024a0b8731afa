package resync_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openresync/resync"
	"github.com/openresync/resync/memstore"
	"github.com/openresync/resync/resynctest"
)

// schedEnv is an engine on in-memory fakes for scheduler tests. Every
// tenant has one small connection whose page reads are recorded.
type schedEnv struct {
	t      *testing.T
	src    *resynctest.Source
	fakes  *resynctest.Fakes
	store  resync.Store
	clock  resync.Clock // nil: the system clock
	engine *resync.Engine

	mu    sync.Mutex
	reads map[string][]time.Time // tenant -> start of each full read
}

func newSchedEnv(t *testing.T, store resync.Store) *schedEnv {
	t.Helper()
	return newSchedEnvClock(t, store, nil)
}

// newSchedEnvClock is newSchedEnv with an engine on clock.
func newSchedEnvClock(t *testing.T, store resync.Store, clock resync.Clock) *schedEnv {
	t.Helper()
	if store == nil {
		store = memstore.New()
	}
	env := &schedEnv{t: t, src: resynctest.NewSource(), fakes: resynctest.NewFakes(), store: store, clock: clock, reads: map[string][]time.Time{}}
	env.startEngine()
	return env
}

func (env *schedEnv) startEngine() *resync.Engine {
	env.t.Helper()
	e, err := resync.New(context.Background(), resync.Config{
		Store:       env.store,
		Connections: env.src,
		Connectors:  env.fakes.Factories("okta"),
		Authorizer:  resynctest.AllowAll,
		Retry:       resync.RetryPolicy{MaxAttempts: 2, InitialInterval: time.Second, MaxInterval: time.Second},
		Clock:       env.clock,
	})
	require.NoError(env.t, err)
	env.t.Cleanup(func() { _ = e.Close(context.Background()) }) // after a failed assertion
	env.engine = e
	return e
}

// tenant adds a tenant with one connection of one record.
func (env *schedEnv) tenant(id string) *resynctest.Connector {
	c := resynctest.NewConnector(resynctest.Identities(id+"-u", 1), 0)
	c.OnRead(func(page int) {
		if page == 0 {
			env.mu.Lock()
			env.reads[id] = append(env.reads[id], time.Now())
			env.mu.Unlock()
		}
	})
	env.fakes.Set(id, id+"-okta", c)
	env.src.Add(resync.Connection{ID: id + "-okta", Tenant: id, Type: resync.IdP, Provider: "okta"})
	return c
}

func (env *schedEnv) readTimes(tenant string) []time.Time {
	env.mu.Lock()
	defer env.mu.Unlock()
	return slices.Clone(env.reads[tenant])
}

func (env *schedEnv) scheduledRuns(tenant string) []resync.RunInfo {
	env.t.Helper()
	runs, err := env.store.ListRuns(context.Background(), resync.RunQuery{Tenant: tenant, Trigger: resync.TriggerScheduled, Limit: 1000})
	require.NoError(env.t, err)
	slices.Reverse(runs) // oldest first
	return runs
}

func (env *schedEnv) scheduler(cfg resync.SchedulerConfig, tenants ...string) *resync.Scheduler {
	env.t.Helper()
	s, err := resync.NewScheduler(env.engine, cfg)
	require.NoError(env.t, err)
	env.t.Cleanup(func() { _ = s.Stop(context.Background()) }) // after a failed assertion
	for _, id := range tenants {
		require.NoError(env.t, s.Add(id, resync.TenantConfig{}))
	}
	return s
}

func (env *schedEnv) close(s ...*resync.Scheduler) {
	env.t.Helper()
	for _, x := range s {
		require.NoError(env.t, x.Stop(context.Background()))
	}
	require.NoError(env.t, env.engine.Close(context.Background()))
}

func tenantIDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("tenant-%05d", i)
	}
	return ids
}

// day returns the index of the UTC day of t counted from start.
func day(start, t time.Time) int { return int(t.Sub(start) / (24 * time.Hour)) }

func TestSchedulerTenThousandTenantsThreeDays(t *testing.T) {
	if testing.Short() {
		t.Skip("10k tenants over 3 simulated days")
	}
	synctest.Test(t, func(t *testing.T) {
		const n, days = 10000, 3
		env := newSchedEnv(t, nil)
		ids := tenantIDs(n)
		for _, id := range ids {
			env.tenant(id)
		}
		start := time.Now() // midnight UTC in the bubble
		sched := resync.Daily(1, 0, time.UTC, 22*time.Hour)
		s := env.scheduler(resync.SchedulerConfig{Schedule: sched}, ids...)
		require.NoError(t, s.Start(context.Background()))
		time.Sleep(days * 24 * time.Hour)
		synctest.Wait()
		env.close(s)

		perMinute := map[int64]int{}
		for _, id := range ids {
			reads := env.readTimes(id)
			require.Len(t, reads, days, "tenant %s: one sync per day", id)
			want := time.Hour + resync.TenantOffset(id, 22*time.Hour)
			for d, at := range reads {
				require.Equal(t, d, day(start, at), "tenant %s: read %d on day %d", id, d, day(start, at))
				require.Equal(t, want, at.Sub(start.Add(time.Duration(d)*24*time.Hour)), "tenant %s at its own time", id)
				perMinute[at.Unix()/60]++
			}
		}
		mean := float64(n) / (22 * 60)
		worst := 0
		for _, c := range perMinute {
			worst = max(worst, c)
		}
		t.Logf("start times: mean %.1f per minute, busiest minute %d", mean, worst)
		assert.LessOrEqual(t, float64(worst), 4*mean, "no minute holds much more than the mean")

		// The store agrees: one scheduled run per tenant per day, all succeeded.
		for _, id := range ids[:200] {
			runs := env.scheduledRuns(id)
			require.Len(t, runs, days)
			for _, r := range runs {
				require.Equal(t, resync.RunSucceeded, r.Status)
				require.Equal(t, resync.SystemPrincipal.ID, r.Initiator.ID)
			}
		}
	})
}

func TestSchedulerRestartMidDay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n = 2000
		env := newSchedEnv(t, nil)
		ids := tenantIDs(n)
		for _, id := range ids {
			env.tenant(id)
		}
		start := time.Now()
		sched := resync.Daily(1, 0, time.UTC, 22*time.Hour)
		cfg := resync.SchedulerConfig{Schedule: sched, CatchUpWindow: 10 * time.Minute}
		s1 := env.scheduler(cfg, ids...)
		require.NoError(t, s1.Start(context.Background()))
		time.Sleep(36 * time.Hour) // day 1, 12:00
		env.close(s1)

		time.Sleep(2 * time.Hour) // down until 14:00: slots in [12:00, 14:00) are missed
		restart := time.Now()
		env.startEngine()
		s2 := env.scheduler(cfg, ids...)
		require.NoError(t, s2.Start(context.Background()))
		time.Sleep(34 * time.Hour) // to the end of day 2
		synctest.Wait()
		env.close(s2)

		caughtUp := 0
		for _, id := range ids {
			reads := env.readTimes(id)
			require.Len(t, reads, 3, "tenant %s: once on each of days 0, 1 and 2", id)
			for d := range reads {
				require.Equal(t, d, day(start, reads[d]), "tenant %s", id)
			}
			slot := start.Add(24*time.Hour + time.Hour + resync.TenantOffset(id, 22*time.Hour))
			if slot.After(restart.Add(-2*time.Hour)) && slot.Before(restart) {
				caughtUp++
				require.False(t, reads[1].Before(restart), "tenant %s caught up after the restart", id)
				require.LessOrEqual(t, reads[1].Sub(restart), 10*time.Minute, "tenant %s caught up within the window", id)
			} else {
				require.WithinDuration(t, slot, reads[1], 0, "tenant %s at its slot", id)
			}
			require.WithinDuration(t, slot.Add(24*time.Hour), reads[2], 0, "tenant %s back at its slot", id)
		}
		assert.Greater(t, caughtUp, n/22, "the downtime covered some slots")
	})
}

func TestSchedulerCatchUpIsSpread(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n = 1000
		env := newSchedEnv(t, nil)
		ids := tenantIDs(n)
		now := time.Now()
		sched := resync.Daily(1, 0, time.UTC, 2*time.Hour) // today's slots are ahead
		for i, id := range ids {
			env.tenant(id)
			last := now.Add(-72 * time.Hour) // overdue
			if i%2 == 1 {
				last = sched.For(id).Next(now).Add(-24 * time.Hour) // synced at yesterday's slot: wait for today's
			}
			require.NoError(t, env.store.CreateRun(context.Background(), resync.RunInfo{
				ID: "old-" + id, Tenant: id, Scope: resync.Scope{Kind: resync.ScopeAll}, Trigger: resync.TriggerScheduled,
				Initiator: resync.SystemPrincipal, Status: resync.RunSucceeded, CreatedAt: last, FinishedAt: last,
			}))
		}
		s := env.scheduler(resync.SchedulerConfig{Schedule: sched, CatchUpWindow: 20 * time.Minute}, ids...)
		require.NoError(t, s.Start(context.Background()))
		time.Sleep(30 * time.Minute)
		synctest.Wait()

		perMinute := map[int]int{}
		for i, id := range ids {
			reads := env.readTimes(id)
			if i%2 == 1 {
				require.Empty(t, reads, "tenant %s synced recently: not before its slot", id)
				st, err := status(s, id)
				require.NoError(t, err)
				require.WithinDuration(t, sched.For(id).Next(now), st.Next, 0)
				continue
			}
			require.Len(t, reads, 1, "overdue tenant %s caught up once", id)
			perMinute[int(reads[0].Sub(now)/time.Minute)]++
		}
		require.Len(t, perMinute, 20, "catch-up runs spread over the 20-minute window")
		for m, c := range perMinute {
			assert.LessOrEqual(t, c, 3*(n/2)/20, "minute %d holds %d catch-up runs", m, c)
		}
		time.Sleep(3 * time.Hour) // past today's slots
		synctest.Wait()
		env.close(s)
		// A catch-up run at 00:xx serves today's slot at 01:00-03:00 too:
		// it is closer to it than half a day.
		for _, id := range ids {
			assert.Len(t, env.readTimes(id), 1, "tenant %s", id)
		}
	})
}

func TestSchedulerDST(t *testing.T) {
	ny := newYork(t)
	synctest.Test(t, func(t *testing.T) {
		// The bubble's clock starts on 2000-01-01 UTC; in 2000 New York
		// sprang forward on April 2 and fell back on October 29.
		time.Sleep(time.Until(time.Date(2000, 3, 29, 0, 0, 0, 0, ny)))
		env := newSchedEnv(t, nil)
		sched := resync.Daily(1, 30, ny, 2*time.Hour)
		var ids []string
		var gap, repeat bool
		for i := 0; len(ids) < 24; i++ {
			id := fmt.Sprintf("tenant-%d", i)
			wall := 90*time.Minute + resync.TenantOffset(id, 2*time.Hour)
			inGap, inRepeat := wall >= 2*time.Hour && wall < 3*time.Hour, wall < 2*time.Hour
			if (inGap && !gap) || (inRepeat && !repeat) || i%7 == 0 {
				ids = append(ids, id)
				gap, repeat = gap || inGap, repeat || inRepeat
				env.tenant(id)
			}
		}
		require.True(t, gap && repeat)
		cfg := resync.SchedulerConfig{Schedule: sched}
		s := env.scheduler(cfg, ids...)
		require.NoError(t, s.Start(context.Background()))
		time.Sleep(time.Until(time.Date(2000, 4, 6, 0, 0, 0, 0, ny)))
		synctest.Wait()
		env.close(s)

		time.Sleep(time.Until(time.Date(2000, 10, 26, 0, 0, 0, 0, ny)))
		env.startEngine()
		s = env.scheduler(cfg, ids...)
		require.NoError(t, s.Start(context.Background()))
		time.Sleep(time.Until(time.Date(2000, 11, 2, 0, 0, 0, 0, ny)))
		synctest.Wait()
		env.close(s)

		for _, id := range ids {
			perDate := map[string]int{}
			for _, at := range env.readTimes(id) {
				perDate[at.In(ny).Format(time.DateOnly)]++
			}
			for _, d := range []string{"2000-03-30", "2000-04-01", "2000-04-02", "2000-04-03", "2000-04-05",
				"2000-10-27", "2000-10-28", "2000-10-29", "2000-10-30", "2000-11-01"} {
				assert.Equal(t, 1, perDate[d], "tenant %s on %s", id, d)
			}
			for d, c := range perDate {
				assert.Equal(t, 1, c, "tenant %s ran %d times on %s", id, c, d)
			}
		}
	})
}

func TestSchedulerJoinsAdhocReadInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		env := newSchedEnv(t, nil)
		c := env.tenant("acme")
		sched := resync.Daily(3, 0, time.UTC, time.Hour)
		s := env.scheduler(resync.SchedulerConfig{Schedule: sched}, "acme")
		require.NoError(t, s.Start(context.Background()))
		slot := sched.For("acme").Next(time.Now())

		time.Sleep(time.Until(slot.Add(-time.Minute)))
		c.Block()
		admin := resync.Principal{ID: "alice", Email: "alice@acme.example"}
		adhoc, err := env.engine.Start(context.Background(), resync.Request{Tenant: "acme", Initiator: admin, Scope: resync.Scope{Kind: resync.ScopeAll}})
		require.NoError(t, err)
		time.Sleep(2 * time.Minute) // the slot passes while the ad-hoc read is blocked
		synctest.Wait()
		st, err := status(s, "acme")
		require.NoError(t, err)
		require.True(t, st.Running, "the scheduled run started at its slot")
		c.Unblock()
		synctest.Wait()

		info, err := adhoc.Wait(context.Background())
		require.NoError(t, err)
		assert.Equal(t, resync.RunSucceeded, info.Status)
		runs := env.scheduledRuns("acme")
		require.Len(t, runs, 1)
		assert.Equal(t, resync.RunSucceeded, runs[0].Status)
		assert.Equal(t, 1, c.Reads(), "one read of the connection served both runs")
		st, err = status(s, "acme")
		require.NoError(t, err)
		assert.Equal(t, runs[0].ID, st.Last.RunID)
		assert.Equal(t, resync.RunSucceeded, st.Last.Status)
		assert.WithinDuration(t, slot.Add(24*time.Hour), st.Next, 0)
		env.close(s)
	})
}

func TestSchedulerRetriesWithBackoffThenWaitsForNextSlot(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		env := newSchedEnv(t, nil)
		c := env.tenant("acme")
		c.AddFault(resynctest.Fault{Page: 0, Times: 1 << 20}) // transient, forever
		sched := resync.Daily(2, 0, time.UTC, time.Hour)
		s := env.scheduler(resync.SchedulerConfig{Schedule: sched, QuarantineAfter: 2}, "acme")
		require.NoError(t, s.Start(context.Background()))
		slot := sched.For("acme").Next(time.Now())

		time.Sleep(time.Until(slot.Add(12 * time.Hour)))
		synctest.Wait()
		runs := env.scheduledRuns("acme")
		require.Len(t, runs, 4, "MaxAttempts default 4")
		assert.True(t, slot.Equal(runs[0].CreatedAt), "first attempt at the slot")
		var gaps []time.Duration
		for i := 1; i < len(runs); i++ {
			assert.Equal(t, resync.RunFailed, runs[i].Status)
			gaps = append(gaps, runs[i].CreatedAt.Sub(runs[i-1].CreatedAt))
		}
		t.Logf("retry gaps: %v", gaps)
		assert.InDelta(t, float64(5*time.Minute), float64(gaps[0]), float64(90*time.Second))
		assert.Greater(t, gaps[1], gaps[0])
		assert.Greater(t, gaps[2], gaps[1])
		st, err := status(s, "acme")
		require.NoError(t, err)
		assert.Equal(t, 4, st.ConsecutiveFailures)
		assert.Equal(t, 1, st.FailedSlots)
		assert.False(t, st.Quarantined)
		assert.False(t, st.Retry)
		assert.WithinDuration(t, slot.Add(24*time.Hour), st.Next, 0, "waits for the next slot")
		require.Error(t, st.Last.Err)
		assert.Equal(t, runs[3].ID, st.Last.RunID)

		// Day 2 fails too: quarantined, the next attempt at least 48h later.
		time.Sleep(24 * time.Hour)
		synctest.Wait()
		st, err = status(s, "acme")
		require.NoError(t, err)
		assert.Equal(t, 2, st.FailedSlots)
		assert.True(t, st.Quarantined)
		assert.Len(t, env.scheduledRuns("acme"), 8)
		assert.WithinDuration(t, slot.Add(72*time.Hour), st.Next, 0, "the day-3 slot is skipped")

		// Quarantined: one attempt per slot, no retries; a success clears it.
		time.Sleep(48 * time.Hour)
		synctest.Wait()
		assert.Len(t, env.scheduledRuns("acme"), 9)
		c.ClearFaults()
		require.NoError(t, s.Update("acme", resync.TenantConfig{})) // an operator's reset: the same config
		st, err = status(s, "acme")
		require.NoError(t, err)
		assert.False(t, st.Quarantined)
		assert.Zero(t, st.FailedSlots)
		time.Sleep(24 * time.Hour)
		synctest.Wait()
		st, err = status(s, "acme")
		require.NoError(t, err)
		assert.Equal(t, resync.RunSucceeded, st.Last.Status)
		assert.Zero(t, st.ConsecutiveFailures)
		env.close(s)
	})
}

// A provider that asks for a wait longer than the read has left ends the
// read throttled; the scheduler retries at the provider's reset time, not
// after its own 5-minute backoff (which would be throttled again).
func TestSchedulerRetriesThrottledAtResetTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		env := newSchedEnv(t, nil)
		c := env.tenant("acme")
		c.AddFault(resynctest.Fault{Page: 0, Times: 1, Err: resync.RetryAfter(errors.New("429: quota spent"), 2*time.Hour)})
		sched := resync.Daily(2, 0, time.UTC, time.Hour)
		s := env.scheduler(resync.SchedulerConfig{Schedule: sched}, "acme")
		require.NoError(t, s.Start(context.Background()))
		slot := sched.For("acme").Next(time.Now())

		time.Sleep(time.Until(slot.Add(6 * time.Hour)))
		synctest.Wait()
		runs := env.scheduledRuns("acme")
		require.Len(t, runs, 2, "the throttled attempt and one retry")
		require.Len(t, runs[0].Connections, 1)
		throttled := runs[0].Connections[0]
		require.Equal(t, resync.ConnThrottled, throttled.Status)
		assert.ErrorIs(t, runs[0].Err(), resync.ErrThrottled)
		assert.False(t, runs[1].CreatedAt.Before(throttled.RetryAt), "retried at %v, before the reset at %v", runs[1].CreatedAt, throttled.RetryAt)
		assert.Less(t, runs[1].CreatedAt.Sub(throttled.RetryAt), 2*time.Minute, "retried soon after the reset")
		assert.Equal(t, resync.RunSucceeded, runs[1].Status)
		env.close(s)
	})
}

func TestSchedulerPermanentErrorIsNotRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		env := newSchedEnv(t, nil)
		c := env.tenant("acme")
		c.AddFault(resynctest.Fault{Page: 0, Times: 1 << 20, Err: resync.Permanent(errors.New("401: bad credentials"))})
		sched := resync.Daily(2, 0, time.UTC, time.Hour)
		s := env.scheduler(resync.SchedulerConfig{Schedule: sched}, "acme")
		require.NoError(t, s.Start(context.Background()))
		slot := sched.For("acme").Next(time.Now())
		time.Sleep(time.Until(slot.Add(23 * time.Hour)))
		synctest.Wait()
		runs := env.scheduledRuns("acme")
		require.Len(t, runs, 1, "no retry of a permanent failure")
		assert.Equal(t, resync.RunFailed, runs[0].Status)
		st, err := status(s, "acme")
		require.NoError(t, err)
		assert.True(t, resync.IsPermanent(st.Last.Err), "the live error chain is kept: %v", st.Last.Err)
		assert.WithinDuration(t, slot.Add(24*time.Hour), st.Next, 0)
		assert.Equal(t, 1, c.Reads())
		env.close(s)
	})
}

func TestSchedulerHeldChangeSetIsNotRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		env := newSchedEnv(t, nil)
		c := env.tenant("acme")
		c.SetRecords(resynctest.Identities("u", 200), 50)
		sched := resync.Daily(2, 0, time.UTC, time.Hour)
		s := env.scheduler(resync.SchedulerConfig{Schedule: sched}, "acme")
		require.NoError(t, s.Start(context.Background()))
		slot := sched.For("acme").Next(time.Now())
		time.Sleep(time.Until(slot.Add(time.Hour)))
		c.SetRecords(nil, 0) // an empty read of a non-empty snapshot is held
		time.Sleep(24 * time.Hour)
		synctest.Wait()
		runs := env.scheduledRuns("acme")
		require.Len(t, runs, 2, "the held run is not retried")
		assert.Equal(t, resync.RunSucceeded, runs[0].Status)
		assert.Equal(t, resync.RunPartial, runs[1].Status)
		st, err := status(s, "acme")
		require.NoError(t, err)
		assert.ErrorIs(t, st.Last.Err, resync.ErrHeld)
		assert.WithinDuration(t, slot.Add(48*time.Hour), st.Next, 0)
		env.close(s)
	})
}

func TestSchedulerNoConnectionsAndUnknownTenant(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		env := newSchedEnv(t, nil)
		env.src.AddTenant("empty")
		sched := resync.Daily(2, 0, time.UTC, time.Hour)
		s := env.scheduler(resync.SchedulerConfig{Schedule: sched}, "empty", "ghost")
		require.NoError(t, s.Start(context.Background()))
		time.Sleep(50 * time.Hour)
		synctest.Wait()
		for id, sentinel := range map[string]error{"empty": resync.ErrNoConnections, "ghost": resync.ErrNotFound} {
			st, err := status(s, id)
			require.NoError(t, err)
			require.ErrorIs(t, st.Last.Err, sentinel, id)
			assert.Empty(t, st.Last.RunID)
			slot := sched.For(id).Next(time.Now().Add(-24 * time.Hour))
			assert.True(t, slot.Equal(st.Last.At), "%s: one attempt at its slot (%v), no tight loop: last %v", id, slot, st.Last.At)
			assert.Equal(t, 1, st.Last.Attempt, "%s: not retried", id)
			assert.WithinDuration(t, sched.For(id).Next(time.Now()), st.Next, 0)
			assert.Empty(t, env.scheduledRuns(id))
		}
		ghost, _ := status(s, "ghost")
		assert.Equal(t, 2, ghost.FailedSlots, "an unknown tenant counts as failing")
		empty, _ := status(s, "empty")
		assert.Zero(t, empty.FailedSlots, "no connections is not a failure")
		env.close(s)
	})
}

func TestSchedulerAddRemoveUpdateWhileRunning(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		env := newSchedEnv(t, nil)
		for _, id := range []string{"a", "b", "c", "d"} {
			env.tenant(id)
		}
		sched := resync.Daily(6, 0, time.UTC, time.Hour)
		s := env.scheduler(resync.SchedulerConfig{Schedule: sched}, "a", "b")
		require.NoError(t, s.Start(context.Background()))
		time.Sleep(time.Hour)

		require.ErrorIs(t, s.Add("a", resync.TenantConfig{}), resync.ErrInvalidRequest)
		require.ErrorIs(t, s.Add("", resync.TenantConfig{}), resync.ErrInvalidRequest)
		require.ErrorIs(t, s.Remove("zzz"), resync.ErrNotFound)
		require.ErrorIs(t, s.Update("zzz", resync.TenantConfig{}), resync.ErrNotFound)
		_, err := status(s, "zzz")
		require.ErrorIs(t, err, resync.ErrNotFound)
		require.ErrorIs(t, s.Update("a", resync.TenantConfig{Scope: resync.Scope{Kind: resync.ScopeAccounts, Types: []resync.ConnectionType{resync.IdP}}}), resync.ErrInvalidRequest)

		require.ErrorIs(t, s.Add("c", resync.TenantConfig{Schedule: resync.Every(-time.Hour)}), resync.ErrInvalidRequest)
		require.NoError(t, s.Add("c", resync.TenantConfig{}))
		require.NoError(t, s.Add("d", resync.TenantConfig{Schedule: resync.Every(2 * time.Hour), Scope: resync.PersonnelScope(resync.IdP)}))
		require.NoError(t, s.Remove("b"))
		require.NoError(t, s.Update("a", resync.TenantConfig{Schedule: resync.Every(time.Hour)}))
		_, err = status(s, "b")
		require.ErrorIs(t, err, resync.ErrNotFound)
		assert.Len(t, s.Statuses(), 3)

		time.Sleep(24 * time.Hour)
		synctest.Wait()
		assert.Len(t, env.readTimes("a"), 24, "hourly after the update")
		assert.Empty(t, env.readTimes("b"), "removed before its slot")
		assert.Len(t, env.readTimes("c"), 1, "daily")
		assert.Len(t, env.readTimes("d"), 12, "every two hours")
		runs := env.scheduledRuns("d")
		require.NotEmpty(t, runs)
		assert.Equal(t, resync.ScopePersonnel, runs[0].Scope.Kind, "the tenant's scope override")
		env.close(s)
		require.ErrorIs(t, s.Add("e", resync.TenantConfig{}), resync.ErrClosed)
		require.ErrorIs(t, s.Start(context.Background()), resync.ErrClosed)
	})
}

// Adding a tenant twice is the caller's mistake, not a concurrent change of
// a snapshot: the error says so and what to call instead.
func TestSchedulerAddTwiceSaysUseUpdate(t *testing.T) {
	t.Parallel()
	env := newSchedEnv(t, nil)
	s := env.scheduler(resync.SchedulerConfig{}, "acme")
	err := s.Add("acme", resync.TenantConfig{})
	require.ErrorIs(t, err, resync.ErrInvalidRequest)
	assert.NotErrorIs(t, err, resync.ErrConflict)
	assert.EqualError(t, err, `resync: invalid request: tenant "acme" is already scheduled; use Update`)
	env.close(s)
}

// An engine closed under a running scheduler is the end of scheduling:
// the attempt that finds it closed is neither a failed slot nor a sync, and
// nothing is attempted again.
func TestSchedulerEndsWhenEngineCloses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		env := newSchedEnv(t, nil)
		ids := []string{"a", "b", "c"}
		for _, id := range ids {
			env.tenant(id)
		}
		sched := resync.Daily(2, 0, time.UTC, time.Hour)
		s := env.scheduler(resync.SchedulerConfig{Schedule: sched, CatchUpWindow: time.Minute}, ids...)
		require.NoError(t, s.Start(context.Background()))
		time.Sleep(24 * time.Hour) // day 0's syncs are done
		synctest.Wait()
		synced := map[string]time.Time{}
		for _, id := range ids {
			st, err := status(s, id)
			require.NoError(t, err)
			require.Equal(t, resync.RunSucceeded, st.Last.Status, id)
			synced[id] = st.LastSuccess
		}
		require.NoError(t, env.engine.Close(context.Background()))
		time.Sleep(72 * time.Hour)
		synctest.Wait()

		closed := 0
		for _, id := range ids {
			st, err := status(s, id)
			require.NoError(t, err)
			assert.Zero(t, st.Next, "%s: nothing is due once the engine is closed", id)
			assert.Zero(t, st.ConsecutiveFailures, "%s: not a failure", id)
			assert.Zero(t, st.FailedSlots, id)
			assert.False(t, st.Quarantined, id)
			assert.Equal(t, synced[id], st.LastSuccess, "%s: not a sync", id)
			if errors.Is(st.Last.Err, resync.ErrClosed) {
				closed++
				assert.Equal(t, 1, st.Last.Attempt, id)
				assert.Empty(t, st.Last.RunID, id)
				assert.True(t, sched.For(id).Next(synced[id]).Equal(st.Last.At), "%s: tried once, at its day-1 slot (%v)", id, st.Last.At)
			}
		}
		assert.Equal(t, 1, closed, "the first tenant to find the engine closed ends scheduling for all")
		require.NoError(t, s.Stop(context.Background()))
	})
}

// The scheduler takes all its time from the engine's Clock: on a
// resynctest.Clock nothing comes due while only the system clock moves,
// a tenant's slot comes when the test moves the clock to it, and its run
// is stamped with the clock's time.
func TestSchedulerFollowsEngineClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		clk := resynctest.NewClock(time.Date(2030, 6, 1, 0, 0, 0, 0, time.UTC))
		env := newSchedEnvClock(t, nil, clk)
		env.tenant("acme")
		sched := resync.Daily(2, 0, time.UTC, time.Hour)
		s := env.scheduler(resync.SchedulerConfig{Schedule: sched, CatchUpWindow: time.Minute}, "acme")
		require.NoError(t, s.Start(ctx))
		st, err := status(s, "acme")
		require.NoError(t, err)
		assert.Equal(t, clk.Now().Add(resync.TenantOffset("acme", time.Minute)), st.Next, "the catch-up check, on the engine's clock")
		slot := sched.For("acme").Next(clk.Now())

		time.Sleep(72 * time.Hour) // the system clock moves, the engine's does not
		synctest.Wait()
		assert.Empty(t, env.scheduledRuns("acme"))
		assert.Empty(t, env.readTimes("acme"))

		clk.Set(slot.Add(-time.Second))
		synctest.Wait()
		assert.Empty(t, env.scheduledRuns("acme"), "not before the slot")
		st, err = status(s, "acme")
		require.NoError(t, err)
		assert.Equal(t, slot, st.Next)

		clk.Set(slot)
		synctest.Wait()
		runs := env.scheduledRuns("acme")
		require.Len(t, runs, 1)
		assert.Equal(t, resync.RunSucceeded, runs[0].Status)
		assert.True(t, slot.Equal(runs[0].CreatedAt), "created at %v", runs[0].CreatedAt)
		st, err = status(s, "acme")
		require.NoError(t, err)
		assert.True(t, slot.Equal(st.Last.At))
		assert.Equal(t, slot.Add(24*time.Hour), st.Next)
		env.close(s)
	})
}

func TestSchedulerStopWaitsForRuns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		env := newSchedEnv(t, nil)
		c := env.tenant("acme")
		c.SetLatency(10 * time.Minute)
		s := env.scheduler(resync.SchedulerConfig{Schedule: resync.Spread(hourly{}, 0)}, "acme")
		require.NoError(t, s.Start(context.Background()))
		time.Sleep(time.Hour + time.Minute) // the 01:00 run is reading
		st, err := status(s, "acme")
		require.NoError(t, err)
		require.True(t, st.Running)
		require.NoError(t, s.Stop(context.Background()), "waits for the run")
		runs := env.scheduledRuns("acme")
		require.Len(t, runs, 1)
		assert.Equal(t, resync.RunSucceeded, runs[0].Status)
		assert.Equal(t, 10*time.Minute, time.Since(runs[0].CreatedAt), "Stop returned when the read ended")
		require.NoError(t, env.engine.Close(context.Background()))
	})
}

func TestSchedulerStopCancelsRunsAtDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		env := newSchedEnv(t, nil)
		c := env.tenant("acme")
		c.Block()
		s := env.scheduler(resync.SchedulerConfig{Schedule: resync.Spread(hourly{}, 0)}, "acme")
		require.NoError(t, s.Start(context.Background()))
		time.Sleep(time.Hour + time.Minute)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		err := s.Stop(ctx)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		runs := env.scheduledRuns("acme")
		require.Len(t, runs, 1)
		assert.Equal(t, resync.RunCanceled, runs[0].Status)
		assert.Zero(t, c.TotalPageReads()-1, "the blocked read was the only one")
		require.NoError(t, s.Stop(context.Background()), "Stop is idempotent")
		require.NoError(t, env.engine.Close(context.Background()))
	})
}

func TestSchedulerReplicasRunEachSlotOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n, replicas = 300, 3
		store := memstore.New()
		env := newSchedEnv(t, store)
		ids := tenantIDs(n)
		for _, id := range ids {
			env.tenant(id)
		}
		engines := []*resync.Engine{env.engine}
		for range replicas - 1 {
			engines = append(engines, env.startEngine())
		}
		sched := resync.Daily(1, 0, time.UTC, 2*time.Hour)
		var ss []*resync.Scheduler
		for _, e := range engines {
			s, err := resync.NewScheduler(e, resync.SchedulerConfig{Schedule: sched, MaxConcurrent: 2})
			require.NoError(t, err)
			for _, id := range ids {
				require.NoError(t, s.Add(id, resync.TenantConfig{}))
			}
			require.NoError(t, s.Start(context.Background()))
			ss = append(ss, s)
		}
		time.Sleep(48 * time.Hour)
		synctest.Wait()
		owners := map[string]int{}
		for _, id := range ids {
			runs := env.scheduledRuns(id)
			require.Len(t, runs, 2, "tenant %s: once a day across %d replicas", id, replicas)
			require.Len(t, env.readTimes(id), 2)
			for _, r := range runs {
				owners[r.Owner]++
			}
		}
		t.Logf("runs per replica: %v", owners)
		elsewhere := 0
		for _, s := range ss {
			for _, st := range s.Statuses() {
				if st.Last.Elsewhere {
					elsewhere++
				}
			}
			require.NoError(t, s.Stop(context.Background()))
		}
		assert.Positive(t, elsewhere, "replicas saw slots run by others")
		for _, e := range engines {
			require.NoError(t, e.Close(context.Background()))
		}
	})
}

// flakyStore fails ListRuns while fails is positive.
type flakyStore struct {
	*memstore.Store
	mu    sync.Mutex
	fails int
	calls []time.Time
}

func (s *flakyStore) ListRuns(ctx context.Context, q resync.RunQuery) ([]resync.RunInfo, error) {
	s.mu.Lock()
	s.calls = append(s.calls, time.Now())
	fail := s.fails > 0
	s.fails--
	s.mu.Unlock()
	if fail {
		return nil, errors.New("store down")
	}
	return s.Store.ListRuns(ctx, q)
}

func TestSchedulerStoreErrorsBackOff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := &flakyStore{Store: memstore.New(), fails: 4}
		env := newSchedEnv(t, store)
		env.tenant("acme")
		sched := resync.Daily(6, 0, time.UTC, time.Hour)
		s := env.scheduler(resync.SchedulerConfig{Schedule: sched, CatchUpWindow: time.Minute}, "acme")
		require.NoError(t, s.Start(context.Background()))
		time.Sleep(2 * time.Minute)
		st, err := status(s, "acme")
		require.NoError(t, err)
		require.ErrorContains(t, st.Last.Err, "store down", "the store error is in the status")

		time.Sleep(time.Until(sched.For("acme").Next(time.Now()).Add(time.Minute)))
		synctest.Wait()
		store.mu.Lock()
		calls := slices.Clone(store.calls)
		store.mu.Unlock()
		require.GreaterOrEqual(t, len(calls), 5)
		for i := 2; i < 4; i++ {
			assert.Greater(t, calls[i].Sub(calls[i-1]), calls[i-1].Sub(calls[i-2]), "growing delays between store attempts")
		}
		runs := env.scheduledRuns("acme")
		require.Len(t, runs, 1, "ran at its slot once the store answered")
		assert.Equal(t, resync.RunSucceeded, runs[0].Status)
		st, err = status(s, "acme")
		require.NoError(t, err)
		assert.NoError(t, st.Last.Err)
		env.close(s)
	})
}

// scheduleLeaseDown fails the scheduler's leases as a durable store
// fails, naming the lease (and so the tenant) in its error.
type scheduleLeaseDown struct{ *memstore.Store }

func (s scheduleLeaseDown) AcquireLease(ctx context.Context, name, owner string, ttl time.Duration) (bool, error) {
	if strings.HasPrefix(name, "schedule/") {
		return false, fmt.Errorf("sqlite: acquiring lease %q: database is locked", name)
	}
	return s.Store.AcquireLease(ctx, name, owner, ttl)
}

// The scheduler's errors add what the error does not already say: the
// sentinel, the tenant and the "resync:" prefix appear once.
func TestSchedulerErrorsSayEachThingOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		env := newSchedEnv(t, scheduleLeaseDown{memstore.New()})
		env.tenant("acme")
		s := env.scheduler(resync.SchedulerConfig{Schedule: resync.Daily(2, 0, time.UTC, time.Hour), CatchUpWindow: time.Minute}, "acme")
		bad := resync.Scope{Kind: resync.ScopeAccounts}
		_, configErr := resync.NewScheduler(env.engine, resync.SchedulerConfig{Scope: bad})
		for name, err := range map[string]error{
			"Update, bad scope":       s.Update("acme", resync.TenantConfig{Scope: bad}),
			"Add, bad scope":          s.Add("globex", resync.TenantConfig{Scope: bad}),
			"Add, type not allowed":   s.Add("globex", resync.TenantConfig{Scope: resync.AccountsScope(resync.IdP)}),
			"Add, bad schedule":       s.Add("globex", resync.TenantConfig{Schedule: resync.Every(-time.Hour)}),
			"NewScheduler, bad scope": configErr,
		} {
			require.ErrorIs(t, err, resync.ErrInvalidRequest, name)
			msg := err.Error()
			assert.Equal(t, 1, strings.Count(msg, "invalid request"), "%s: %s", name, msg)
			assert.Equal(t, 1, strings.Count(msg, "resync:"), "%s: %s", name, msg)
			assert.LessOrEqual(t, strings.Count(msg, "globex"), 1, "%s: %s", name, msg)
		}
		_, err := resync.NewScheduler(env.engine, resync.SchedulerConfig{Scope: resync.AccountsScope(resync.IdP)})
		assert.ErrorIs(t, err, resync.ErrInvalidRequest, "the cause stays in the chain")

		require.NoError(t, s.Start(context.Background()))
		time.Sleep(26 * time.Hour)
		st, err := status(s, "acme")
		require.NoError(t, err)
		require.ErrorContains(t, st.Last.Err, "database is locked")
		assert.Equal(t, 1, strings.Count(st.Last.Err.Error(), "acme"), "%s", st.Last.Err)
		env.close(s)
	})
}

func TestNewSchedulerValidates(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		env := newSchedEnv(t, nil)
		defer env.close()
		_, err := resync.NewScheduler(nil, resync.SchedulerConfig{})
		require.ErrorIs(t, err, resync.ErrInvalidRequest)
		for name, cfg := range map[string]resync.SchedulerConfig{
			"daily hour":      {Schedule: resync.Daily(24, 0, time.UTC, 0)},
			"daily window":    {Schedule: resync.Daily(1, 0, time.UTC, 25*time.Hour)},
			"every":           {Schedule: resync.Every(0)},
			"nil schedule":    {Schedule: resync.Spread(nil, 0)},
			"negative":        {MaxConcurrent: -1},
			"bad scope":       {Scope: resync.Scope{Kind: resync.ScopeAccounts}},
			"negative retry":  {Retry: resync.RetryPolicy{InitialInterval: -time.Second}},
			"negative window": {CatchUpWindow: -time.Minute},
		} {
			_, err := resync.NewScheduler(env.engine, cfg)
			assert.ErrorIs(t, err, resync.ErrInvalidRequest, name)
		}
		s, err := resync.NewScheduler(env.engine, resync.SchedulerConfig{})
		require.NoError(t, err)
		require.NoError(t, s.Start(context.Background()))
		require.ErrorIs(t, s.Start(context.Background()), resync.ErrInvalidRequest)
		require.NoError(t, s.Stop(context.Background()))
	})
}

// status returns a tenant's scheduling state, or an error wrapping
// ErrNotFound if Statuses leaves it out (it is not scheduled).
func status(s *resync.Scheduler, tenant string) (resync.TenantStatus, error) {
	st := s.Statuses(tenant)
	if len(st) != 1 || st[0].Tenant != tenant {
		return resync.TenantStatus{}, fmt.Errorf("%w: tenant %q: Statuses returned %d states", resync.ErrNotFound, tenant, len(st))
	}
	return st[0], nil
}
