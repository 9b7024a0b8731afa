package resync_test

import (
	"context"
	"fmt"
	"time"

	"github.com/openresync/resync"
	"github.com/openresync/resync/memstore"
	"github.com/openresync/resync/resynctest"
)

// Each tenant gets its own stable time in the window: the same every day,
// in every process, and the same local time across daylight-saving changes.
// wayne's 02:54 does not exist on March 8 (clocks jump from 02:00 to
// 03:00): it runs at 03:54 that day, still once.
func ExampleDaily() {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		panic(err)
	}
	daily := resync.Daily(1, 0, ny, 4*time.Hour) // 01:00-05:00 New York time
	after := time.Date(2026, 3, 6, 12, 0, 0, 0, ny)
	for _, tenant := range []string{"acme", "wayne"} {
		s := daily.For(tenant)
		fmt.Printf("%s:", tenant)
		for t := s.Next(after); t.Before(after.AddDate(0, 0, 3)); t = s.Next(t) {
			fmt.Print(" ", t.Format("Jan 2 15:04:05 MST"))
		}
		fmt.Println()
	}
	// Output:
	// acme: Mar 7 04:04:28 EST Mar 8 04:04:28 EDT Mar 9 04:04:28 EDT
	// wayne: Mar 7 02:54:52 EST Mar 8 03:54:52 EDT Mar 9 02:54:52 EDT
}

// A Scheduler runs each tenant's daily sync through the engine, as
// SystemPrincipal; tenants can be added, changed and removed while it runs.
func ExampleNewScheduler() {
	ctx := context.Background()
	src := resynctest.NewSource()
	fakes := resynctest.NewFakes()
	for _, tenant := range []string{"acme", "globex"} {
		fakes.Set(tenant, tenant+"-okta", resynctest.NewConnector(resynctest.Identities(tenant, 3), 0))
		src.Add(resync.Connection{ID: tenant + "-okta", Tenant: tenant, Type: resync.IdP, Provider: "okta"})
	}
	engine, err := resync.New(ctx, resync.Config{
		Store: memstore.New(), Connections: src, Connectors: fakes.Factories("okta"), Authorizer: resynctest.AllowAll,
	})
	if err != nil {
		panic(err)
	}
	defer engine.Close(ctx)

	daily := resync.Daily(2, 0, time.UTC, 3*time.Hour)
	sched, err := resync.NewScheduler(engine, resync.SchedulerConfig{
		Schedule:      daily,       // the default for every tenant
		MaxConcurrent: 4,           // scheduled runs at once, across tenants
		CatchUpWindow: time.Minute, // missed syncs are made up within a minute of Start
	})
	if err != nil {
		panic(err)
	}
	_ = sched.Add("acme", resync.TenantConfig{}) // the defaults above
	// globex: every six hours, personnel connections only.
	_ = sched.Add("globex", resync.TenantConfig{Schedule: resync.Every(6 * time.Hour), Scope: resync.PersonnelScope()})
	if err := sched.Start(ctx); err != nil {
		panic(err)
	}
	midnight := time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC)
	fmt.Println("acme syncs daily at", daily.For("acme").Next(midnight).Format("15:04:05"), "UTC")
	st := sched.Statuses("globex")[0]
	fmt.Println("globex scope:", st.Scope, "quarantined:", st.Quarantined)
	_ = sched.Remove("globex")
	fmt.Println("tenants:", len(sched.Statuses()))
	if err := sched.Stop(ctx); err != nil {
		panic(err)
	}
	// Output:
	// acme syncs daily at 04:04:28 UTC
	// globex scope: personnel quarantined: false
	// tenants: 1
}
