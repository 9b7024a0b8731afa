// Command live resyncs real systems: it wires every shipped connector for
// which credentials are set in the environment into an engine on a SQLite
// file, prints what a personnel resync and each accounts resync would
// touch, runs them with live per-connection progress, and prints what
// changed since the last run.
//
//	OKTA_ORG_URL=https://acme.okta.com OKTA_API_TOKEN=... go run ./examples/live
//
// Each connector needs its variables (run it without any to see the list);
// credentials are handed to the connectors as secret references resolved
// from the environment, never stored. State is kept in -db between runs, so
// a second run reports only what changed at the providers since the first.
//
//	go run ./examples/live [-db FILE] [-plan] [-changes N]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/openresync/resync"
	"github.com/openresync/resync/resynctest"
	"github.com/openresync/resync/stores/sqlite"
)

const tenant = "live"

// operator is who the program acts as: the tenant's only admin.
var operator = resync.Principal{ID: "operator", Name: "resync live example"}

func main() {
	db := flag.String("db", filepath.Join(os.TempDir(), "resync-live", "resync.db"), "the SQLite `FILE` keeping state between runs")
	planOnly := flag.Bool("plan", false, "print the plans and stop")
	maxChanges := flag.Int("changes", 20, "print at most `N` change-log entries per run")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Stdout, *db, *planOnly, *maxChanges, os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, "live:", err)
		stop()
		os.Exit(1)
	}
}

func run(ctx context.Context, w io.Writer, dbPath string, planOnly bool, maxChanges int, getenv func(string) string) (err error) {
	conns, missing := connectionsFromEnv(tenant, getenv)
	if len(conns) == 0 {
		fmt.Fprintln(w, "No connector is configured. Set the variables of at least one:")
		for _, m := range missing {
			fmt.Fprintln(w, "  ", m)
		}
		return errors.New("nothing to resync")
	}
	if err := os.MkdirAll(filepath.Dir(dbPath), 0o700); err != nil {
		return err
	}
	store, err := sqlite.Open(ctx, dbPath, sqlite.Config{})
	if err != nil {
		return fmt.Errorf("opening %s: %w", dbPath, err)
	}
	defer func() { err = errors.Join(err, store.Close()) }()
	source := resynctest.NewSource()
	source.Add(conns...)
	admins := resynctest.Admins{tenant: {operator}}
	engine, err := resync.New(ctx, resync.Config{
		Store: store, Connections: source, Connectors: factories(),
		Authorizer: admins, Directory: admins, Secrets: envSecrets,
	})
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err = errors.Join(err, engine.Close(cctx))
	}()

	fmt.Fprintf(w, "resync live: %d connection(s), state in %s\n", len(conns), dbPath)
	scopes := []resync.Scope{resync.PersonnelScope()}
	for _, t := range resync.AccountsTypes() {
		if slices.ContainsFunc(conns, func(c resync.Connection) bool { return c.Type == t }) {
			scopes = append(scopes, resync.AccountsScope(t))
		}
	}
	for _, s := range scopes {
		if err := printPlan(ctx, w, engine, s); err != nil {
			return err
		}
	}
	if planOnly {
		return nil
	}
	for _, s := range scopes {
		r, err := engine.Start(ctx, resync.Request{Tenant: tenant, Initiator: operator, Scope: s})
		if errors.Is(err, resync.ErrNoConnections) {
			continue
		}
		if err != nil {
			return err
		}
		info, err := follow(ctx, w, r)
		if err != nil {
			return err
		}
		if err := printChanges(ctx, w, engine, info, maxChanges); err != nil {
			return err
		}
	}
	held, err := engine.HeldChangeSets(ctx, tenant, operator)
	if err != nil {
		return err
	}
	for _, h := range held {
		fmt.Fprintf(w, "\nheld by the delete guard: %s would remove %d records (%s); approve or reject it with Engine.Approve/Reject\n", h.ConnectionID, h.Removed, h.Reason)
	}
	return nil
}

func printPlan(ctx context.Context, w io.Writer, e *resync.Engine, s resync.Scope) error {
	p, err := e.Plan(ctx, resync.Request{Tenant: tenant, Initiator: operator, Scope: s})
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "\nplan: %s\n", s)
	for _, c := range p.Sync {
		fmt.Fprintf(w, "  resync  %-12s %-18s %s\n", c.ID, c.Type, c.Name)
	}
	for _, c := range p.Skip {
		fmt.Fprintf(w, "  skip    %-12s %-18s %s\n", c.Connection.ID, c.Connection.Type, c.Reason)
	}
	return nil
}

// follow prints the run's per-connection progress until it ends.
func follow(ctx context.Context, w io.Writer, r *resync.Run) (resync.RunInfo, error) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	done := make(chan struct{})
	var info resync.RunInfo
	var err error
	go func() {
		defer close(done)
		info, err = r.Wait(ctx)
	}()
	last := ""
	for {
		select {
		case <-done:
			fmt.Fprintf(w, "%s finished: %s\n", info.ID, info.Status)
			progress(w, info)
			return info, err
		case <-tick.C:
			cur := r.Info()
			line := ""
			for _, c := range cur.Connections {
				line += fmt.Sprintf("  %s %s %d read;", c.ConnectionID, c.Status, c.Read)
			}
			if line != last {
				fmt.Fprintln(w, "  …"+line)
				last = line
			}
		}
	}
}

func progress(w io.Writer, info resync.RunInfo) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  connection\tstatus\tread\tadded\tupdated\tremoved\trejected\terror")
	for _, c := range info.Connections {
		fmt.Fprintf(tw, "  %s\t%s\t%d\t%d\t%d\t%d\t%d\t%s\n", c.ConnectionID, c.Status, c.Read, c.Added, c.Updated, c.Removed, c.Rejected, c.Error)
	}
	tw.Flush()
}

func printChanges(ctx context.Context, w io.Writer, e *resync.Engine, info resync.RunInfo, max int) error {
	entries, err := e.Changes(ctx, tenant, operator, resync.ChangeQuery{RunID: info.ID, Limit: max})
	if err != nil {
		return err
	}
	for _, c := range entries {
		fmt.Fprintf(w, "  %-6s %-8s %-12s %s\n", c.Op, c.Kind, c.ConnectionID, c.Key)
	}
	if t := info.Totals(); t.Added+t.Updated+t.Removed > len(entries) {
		fmt.Fprintf(w, "  … and %d more (Engine.Changes pages through them)\n", t.Added+t.Updated+t.Removed-len(entries))
	}
	return nil
}
