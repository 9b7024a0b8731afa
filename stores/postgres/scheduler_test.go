package postgres_test

import (
	"context"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openresync/resync"
	"github.com/openresync/resync/resynctest"
	"github.com/openresync/resync/stores/postgres"
)

// Three replicas, each with its own engine, scheduler and connection pool,
// share one database: over two virtual days every one of 1,000 tenants is
// synced once a day in total, not once per replica. The scheduler's lease
// and its look-up of the tenant's scheduled runs go through PostgreSQL.
func TestThreeSchedulersOneDatabase(t *testing.T) {
	dbURL := freshDB(t)
	synctest.Test(t, func(t *testing.T) {
		const tenants, replicas, days = 1000, 3, 2
		ctx := context.Background()
		src := resynctest.NewSource()
		fakes := resynctest.NewFakes()
		ids := make([]string, tenants)
		conns := make([]*resynctest.Connector, tenants)
		for i := range ids {
			ids[i] = fmt.Sprintf("tenant-%04d", i)
			conns[i] = resynctest.NewConnector(resynctest.Identities(ids[i]+"-u", 2), 0)
			fakes.Set(ids[i], "c-"+ids[i], conns[i])
			src.Add(resync.Connection{ID: "c-" + ids[i], Tenant: ids[i], Type: resync.IdP, Provider: "fake"})
		}
		var stores []*postgres.Store
		var scheds []*resync.Scheduler
		var engines []*resync.Engine
		for i := range replicas {
			s, err := postgres.Open(ctx, dbURL, postgres.Config{}) // a pool of its own, as a replica has
			require.NoError(t, err)
			stores = append(stores, s)
			e, err := resync.New(ctx, resync.Config{
				Store: s, Connections: src, Connectors: fakes.Factories("fake"), Authorizer: resynctest.AllowAll,
				InstanceID: fmt.Sprint("replica-", i),
				// Long instance leases keep the heartbeat's queries few over
				// two virtual days; nothing here dies.
				LeaseTTL: time.Hour,
			})
			require.NoError(t, err)
			engines = append(engines, e)
			sc, err := resync.NewScheduler(e, resync.SchedulerConfig{Schedule: resync.Daily(1, 0, time.UTC, 4*time.Hour), MaxConcurrent: 4})
			require.NoError(t, err)
			for _, id := range ids {
				require.NoError(t, sc.Add(id, resync.TenantConfig{}))
			}
			scheds = append(scheds, sc)
		}
		for _, sc := range scheds {
			require.NoError(t, sc.Start(ctx))
		}
		time.Sleep(days * 24 * time.Hour)
		synctest.Wait()
		for _, sc := range scheds {
			require.NoError(t, sc.Stop(ctx))
		}
		for _, e := range engines {
			require.NoError(t, e.Close(ctx))
		}

		perReplica := map[string]int{}
		for i, id := range ids {
			runs, err := stores[0].ListRuns(ctx, resync.RunQuery{Tenant: id, Trigger: resync.TriggerScheduled, Limit: 100})
			require.NoError(t, err)
			require.Len(t, runs, days, "tenant %s: one scheduled run a day across %d replicas", id, replicas)
			day := map[string]bool{}
			for _, r := range runs {
				assert.Equal(t, resync.RunSucceeded, r.Status)
				day[r.CreatedAt.UTC().Format(time.DateOnly)] = true
				perReplica[r.Owner[:len("replica-0")]]++
			}
			assert.Len(t, day, days, "tenant %s: two runs on one day", id)
			assert.Equal(t, days, conns[i].Reads(), "tenant %s: connection read %d times", id, conns[i].Reads())
		}
		t.Logf("scheduled runs per replica: %v", perReplica)
		assert.Len(t, perReplica, replicas, "every replica took part")
		for _, s := range stores {
			s.Close()
		}
	})
}
