package river_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/openresync/resync"
	"github.com/openresync/resync/resynctest"
)

// Scheduled syncs on River: three replicas each run a Scheduler (one due
// heap per replica) over the same tenants on engines whose reads go to
// River; the schedule's slot lease makes each slot run once whichever
// replica wins it, and the reads spread over all three workers.
func TestScheduledSlotsRunOnceAcrossReplicas(t *testing.T) {
	const tenants = 30
	db := freshDB(t)
	var nodes []*node
	for range 3 {
		nodes = append(nodes, newNode(t, db, nodeOpts{workers: 4, conns: func(n *node) {
			for i := range tenants {
				tn := fmt.Sprintf("s%02d", i)
				n.src.AddTenant(tn)
				n.fakes.Set(tn, "okta1", resynctest.NewConnector(resynctest.Identities("u", 10), 10))
				n.src.Add(resync.Connection{ID: "okta1", Tenant: tn, Type: resync.IdP, Provider: "okta", Name: "okta"})
			}
		}}))
	}
	start := time.Now()
	var scheds []*resync.Scheduler
	for _, n := range nodes {
		s, err := resync.NewScheduler(n.e, resync.SchedulerConfig{Schedule: resync.Every(time.Second), MaxConcurrent: 16, CatchUpWindow: time.Millisecond, LeaseTTL: 2 * time.Second})
		require.NoError(t, err)
		for i := range tenants {
			require.NoError(t, s.Add(fmt.Sprintf("s%02d", i), resync.TenantConfig{}))
		}
		require.NoError(t, s.Start(context.Background()))
		scheds = append(scheds, s)
	}
	time.Sleep(3 * time.Second) // three slots of a one-second schedule
	for _, s := range scheds {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		require.NoError(t, s.Stop(ctx))
		cancel()
	}
	slots := int(time.Since(start)/time.Second) + 1
	total := 0
	for i := range tenants {
		runs, err := nodes[0].store.ListRuns(context.Background(), resync.RunQuery{Tenant: fmt.Sprintf("s%02d", i), Limit: 100})
		require.NoError(t, err)
		require.NotEmpty(t, runs)
		require.LessOrEqual(t, len(runs), slots, "tenant s%02d: at most one run per slot (three replicas)", i)
		for _, r := range runs {
			require.Equal(t, resync.TriggerScheduled, r.Trigger)
			require.Equal(t, resync.RunSucceeded, r.Status, "run %s of s%02d", r.ID, i)
		}
		total += len(runs)
	}
	var split []int
	for _, n := range nodes {
		reads := 0
		for i := range tenants {
			reads += n.fakes.Get(fmt.Sprintf("s%02d", i), "okta1").Reads()
		}
		require.Positive(t, reads, "every worker took part")
		split = append(split, reads)
	}
	t.Logf("%d scheduled runs of %d tenants in %d slots; reads per worker: %v", total, tenants, slots, split)
}
