package main

import (
	"bytes"
	"testing"
	"testing/synctest"
	"time"

	"github.com/robfig/cron/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/openresync/resync"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// A cron.Schedule is a resync.Schedule as it is.
var _ resync.Schedule = cron.Schedule(nil)

func TestSpreadKeepsCronTimesPerTenant(t *testing.T) {
	c, err := cron.ParseStandard("CRON_TZ=America/New_York 30 2 * * *")
	require.NoError(t, err)
	s := resync.Spread(c, 2*time.Hour)
	at := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	firsts := map[time.Time]bool{}
	for _, tenant := range []string{"acme", "globex"} {
		n1 := s.For(tenant).Next(at)
		off := n1.Sub(c.Next(at))
		assert.True(t, off >= 0 && off < 2*time.Hour, "%s: offset %v within the window", tenant, off)
		assert.Equal(t, n1, resync.Spread(c, 2*time.Hour).For(tenant).Next(at), "%s: stable", tenant)
		n2 := s.For(tenant).Next(n1)
		assert.Equal(t, 24*time.Hour, n2.Sub(n1), "%s: daily", tenant)
		firsts[n1] = true
	}
	assert.Len(t, firsts, 2, "tenants spread apart")
}

func TestRunSchedulesEveryMinute(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var out bytes.Buffer
		statuses, err := run(&out, "* * * * *", 0, 3*time.Minute+30*time.Second)
		require.NoError(t, err)
		require.Len(t, statuses, 3)
		for _, st := range statuses {
			assert.Equal(t, resync.RunSucceeded, st.Last.Status, st.Tenant)
			assert.Zero(t, st.ConsecutiveFailures, st.Tenant)
		}
		assert.Contains(t, out.String(), "acme     last: run ")
	})
}

func TestRunRejectsBadSpec(t *testing.T) {
	_, err := run(&bytes.Buffer{}, "not a cron spec", 0, 0)
	require.Error(t, err)
}
