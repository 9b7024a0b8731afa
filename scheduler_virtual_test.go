package resync_test

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openresync/resync"
	"github.com/openresync/resync/memstore"
	"github.com/openresync/resync/resynctest"
)

// Schedules tested in virtual time as SchedulerConfig's documentation says:
// store, engine and scheduler made inside a synctest bubble with the
// default clock; three days of sleep serve three days of daily syncs.
func TestSchedulerInVirtualTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		src := resynctest.NewSource()
		fakes := resynctest.NewFakes()
		tenants := []string{"acme", "globex"}
		for _, tenant := range tenants {
			fakes.Set(tenant, "okta", resynctest.NewConnector(resynctest.Identities(tenant, 3), 0))
			src.Add(resync.Connection{ID: "okta", Tenant: tenant, Type: resync.IdP, Provider: "okta"})
		}
		store := memstore.New()
		engine, err := resync.New(ctx, resync.Config{Store: store, Connections: src, Connectors: fakes.Factories("okta"), Authorizer: resynctest.AllowAll})
		require.NoError(t, err)
		daily := resync.Daily(2, 0, time.UTC, 3*time.Hour)
		sched, err := resync.NewScheduler(engine, resync.SchedulerConfig{Schedule: daily})
		require.NoError(t, err)
		for _, tenant := range tenants {
			require.NoError(t, sched.Add(tenant, resync.TenantConfig{}))
		}
		start := time.Now()
		require.NoError(t, sched.Start(ctx))

		time.Sleep(72 * time.Hour)

		require.NoError(t, sched.Stop(ctx))
		require.NoError(t, engine.Close(ctx))
		for _, tenant := range tenants {
			runs, err := store.ListRuns(ctx, resync.RunQuery{Tenant: tenant, Limit: 10})
			require.NoError(t, err)
			var want []string
			for slot := daily.For(tenant).Next(start); slot.Before(start.Add(72 * time.Hour)); slot = daily.For(tenant).Next(slot) {
				want = append(want, slot.UTC().Format(time.RFC3339Nano))
			}
			require.Len(t, want, 3, "three days, three slots")
			var got []string
			for _, r := range runs {
				assert.Equal(t, resync.TriggerScheduled, r.Trigger)
				assert.Equal(t, resync.RunSucceeded, r.Status)
				got = append(got, r.CreatedAt.UTC().Format(time.RFC3339Nano))
			}
			assert.ElementsMatch(t, want, got, "tenant %s: one run at each daily slot", tenant)
		}
	})
}
