// Command cron schedules resync's daily syncs with cron expressions parsed
// by github.com/robfig/cron/v3: a cron.Schedule has the method
// Next(time.Time) time.Time, so it is a resync.Schedule as it is.
//
// It prints when each tenant syncs next; with -for it also runs the
// scheduler on in-memory fakes for that long and prints what ran.
//
//	go run . -spec 'CRON_TZ=America/New_York 30 2 * * *' -window 2h
//	go run . -spec '* * * * *' -window 0 -for 2m
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/openresync/resync"
	"github.com/openresync/resync/memstore"
	"github.com/openresync/resync/resynctest"
)

func main() {
	spec := flag.String("spec", "CRON_TZ=America/New_York 30 2 * * *", "cron expression (5 fields, optional CRON_TZ= prefix)")
	window := flag.Duration("window", 2*time.Hour, "spread tenants over this window after each cron time")
	runFor := flag.Duration("for", 0, "run the scheduler on fakes for this long (0: only print the plan)")
	flag.Parse()
	if _, err := run(os.Stdout, *spec, *window, *runFor); err != nil {
		log.Print(err)
		os.Exit(1)
	}
}

// run prints the plan to w and, if runFor > 0, runs the scheduler that
// long and returns the tenants' statuses.
func run(w io.Writer, spec string, window, runFor time.Duration) ([]resync.TenantStatus, error) {
	parsed, err := cron.ParseStandard(spec)
	if err != nil {
		return nil, fmt.Errorf("parsing %q: %w", spec, err)
	}
	// Each tenant runs at the cron times shifted by its stable offset
	// within window, so that thousands of tenants do not all start at 02:30.
	sched := resync.Spread(parsed, window)
	tenants := []string{"acme", "globex", "initech"}
	now := time.Now()
	for _, tenant := range tenants {
		s := sched.For(tenant)
		first := s.Next(now)
		fmt.Fprintf(w, "%-8s next syncs: %s, %s\n", tenant, first.Format(time.DateTime+" MST"), s.Next(first).Format(time.DateTime+" MST"))
	}
	if runFor <= 0 {
		return nil, nil
	}

	ctx := context.Background()
	src := resynctest.NewSource()
	fakes := resynctest.NewFakes()
	for _, tenant := range tenants {
		fakes.Set(tenant, tenant+"-okta", resynctest.NewConnector(resynctest.Identities(tenant+"-", 25), 10))
		src.Add(resync.Connection{ID: tenant + "-okta", Tenant: tenant, Type: resync.IdP, Provider: "okta", Name: "Okta"})
	}
	engine, err := resync.New(ctx, resync.Config{
		Store: memstore.New(), Connections: src, Connectors: fakes.Factories("okta"), Authorizer: resynctest.AllowAll,
	})
	if err != nil {
		return nil, err
	}
	defer engine.Close(ctx)
	scheduler, err := resync.NewScheduler(engine, resync.SchedulerConfig{Schedule: sched})
	if err != nil {
		return nil, err
	}
	for _, tenant := range tenants {
		if err := scheduler.Add(tenant, resync.TenantConfig{}); err != nil {
			return nil, err
		}
	}
	if err := scheduler.Start(ctx); err != nil {
		return nil, err
	}
	fmt.Fprintf(w, "scheduler running for %v\n", runFor)
	time.Sleep(runFor)
	stopCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := scheduler.Stop(stopCtx); err != nil {
		return nil, err
	}
	statuses := scheduler.Statuses()
	for _, st := range statuses {
		last := "none yet"
		if st.Last.RunID != "" {
			last = fmt.Sprintf("run %s %s at %s", st.Last.RunID, st.Last.Status, st.Last.At.Format(time.TimeOnly))
		}
		fmt.Fprintf(w, "%-8s last: %s; next: %s\n", st.Tenant, last, st.Next.Format(time.DateTime+" MST"))
	}
	return statuses, nil
}
