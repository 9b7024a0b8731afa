// Command quickstart shows resync end to end with no servers and no
// credentials: a sample organisation's HRIS, IdP and AWS exports (embedded
// files, read by connectors/file) are resynced into a SQLite store; then
// the exports change (an offboarding, a new hire, a group move, an AWS
// account removed) and the change log shows exactly what changed; finally
// an empty IdP export trips the delete guard, and the held change set is
// rejected. Accounts are linked to people (package linking) after each
// applied change set: the offboarding opens a gap (Jane deprovisioned,
// her AWS user still active), which the accounts resync closes.
//
//	go run ./examples/quickstart [-dir DIR] [-db FILE]
//
// With -dir the sample exports are written to DIR (and left there);
// otherwise to a temporary directory, removed at exit. The store is the
// SQLite file -db (default resync-quickstart/resync.db in the system's
// temporary directory), kept between runs: a second run starts from the
// first run's snapshot and its first resync reports only what differs.
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
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/openresync/resync"
	"github.com/openresync/resync/connectors/file"
	"github.com/openresync/resync/examples/internal/sampleorg"
	"github.com/openresync/resync/linking"
	"github.com/openresync/resync/resynctest"
	"github.com/openresync/resync/stores/sqlite"
)

const tenant = sampleorg.Tenant

// admin is the tenant's administrator who asks for the resyncs.
var admin = sampleorg.Admin

// Tuning that makes progress visible while keeping the whole program well
// under a few seconds.
const (
	pageSize  = "3"                   // records per page
	pageDelay = 25 * time.Millisecond // artificial latency of each page read
	pollEvery = 50 * time.Millisecond // progress refresh
)

func main() {
	dir := flag.String("dir", "", "write the sample exports to `DIR` and keep them (default: a temporary directory)")
	db := flag.String("db", defaultDB(), "the SQLite `FILE` the engine keeps its state in, kept between runs")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Stdout, *dir, *db); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		stop()
		os.Exit(1)
	}
}

func defaultDB() string { return filepath.Join(os.TempDir(), "resync-quickstart", "resync.db") }

// newStore opens the Store the engine keeps its state in: a SQLite file,
// created (with its directory) on first use. stores/postgres plugs in here
// the same way.
func newStore(ctx context.Context, path string) (*sqlite.Store, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	return sqlite.Open(ctx, path, sqlite.Config{})
}

// demo carries the state shared by the steps.
type demo struct {
	w      io.Writer
	dir    string
	db     string
	engine *resync.Engine
	store  resync.Store
	conns  []resync.Connection
	linker *linking.Linker
}

// run is the whole program: it writes its report to w and returns the
// first error.
func run(ctx context.Context, w io.Writer, dir, dbPath string) (err error) {
	w = &syncWriter{w: w}
	if dir == "" {
		tmp, err := os.MkdirTemp("", "resync-quickstart-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	if err := sampleorg.Write(dir); err != nil {
		return err
	}

	store, err := newStore(ctx, dbPath)
	if err != nil {
		return fmt.Errorf("opening the store %s: %w", dbPath, err)
	}
	defer func() { err = errors.Join(err, store.Close()) }()
	d := &demo{w: w, dir: dir, store: store, db: dbPath}
	d.conns = sampleorg.Connections(dir, pageSize)
	source := resynctest.NewSource()
	source.Add(d.conns...)
	admins := resynctest.Admins{tenant: {admin}}
	slowFiles := sampleorg.WithLatency(file.Factory, pageDelay)
	// The linker links AWS users to people of the HRIS and the IdP after
	// every run of the engine. (UnusedAfter is off: the
	// sample's last logins are fixed dates.)
	d.linker, err = linking.New(linking.Config{Store: d.store, Connections: source, Authorizer: admins, UnusedAfter: -1})
	if err != nil {
		return err
	}

	d.engine, err = resync.New(ctx, resync.Config{
		Store:       d.store,
		Connections: source,
		Connectors:  map[string]resync.ConnectorFactory{"bamboohr": slowFiles, "okta": slowFiles, "aws": slowFiles},
		Authorizer:  admins,
		Directory:   admins,
		Notifier:    printNotifier{w},
		// The demo edits a provider and resyncs again within seconds; a
		// platform keeps the default (30s between two reads of a
		// connection), which bounds what an admin's repeated clicks cost.
		MinReadInterval: time.Second,
		AfterRun:        d.linker.AfterRun,
	})
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err = errors.Join(err, d.engine.Close(cctx))
	}()

	fmt.Fprintf(w, "resync quickstart: tenant %q, admin %s, exports in %s, store %s\n", tenant, admin.Email, dir, dbPath)
	for _, step := range []func(context.Context) error{d.check, d.firstSync, d.changes, d.deleteGuard} {
		if err := step(ctx); err != nil {
			return err
		}
	}
	fmt.Fprintln(w, "\nDone.")
	return nil
}

// check tests each connection and shows what a personnel resync would touch.
func (d *demo) check(ctx context.Context) error {
	fmt.Fprintln(d.w, "\n== Checking connections")
	for _, c := range d.conns {
		if err := d.engine.CheckConnection(ctx, tenant, c.ID, admin); err != nil {
			return err
		}
		fmt.Fprintf(d.w, "  ok  %-9s %-15s %s\n", c.Name, c.Type, filepath.Base(c.Settings["path"]))
	}
	plan, err := d.engine.Plan(ctx, resync.Request{Tenant: tenant, Initiator: admin, Scope: resync.PersonnelScope()})
	if err != nil {
		return err
	}
	names := make([]string, len(plan.Sync))
	for i, c := range plan.Sync {
		names[i] = c.Name
	}
	fmt.Fprintf(d.w, "  A personnel resync will read %s.\n", strings.Join(names, ", "))
	return nil
}

// firstSync loads the sample organisation. On a store kept from an
// earlier run it reports only what differs from that run's snapshot.
func (d *demo) firstSync(ctx context.Context) error {
	fmt.Fprintln(d.w, "\n== 1. First personnel resync")
	before, err := d.records(ctx)
	if err != nil {
		return err
	}
	stored := 0
	for _, recs := range before {
		stored += len(recs)
	}
	if stored > 0 {
		fmt.Fprintf(d.w, "  %s holds an earlier run's snapshot (%d records): this resync applies only what differs\n", d.db, stored)
	}
	info, err := d.resync(ctx, d.personnel)
	if err != nil {
		return err
	}
	if stored > 0 {
		if err := d.printChanges(ctx, info); err != nil {
			return err
		}
	}
	if info.Status != resync.RunSucceeded {
		return fmt.Errorf("first resync ended %s: %w", info.Status, info.Err())
	}
	return nil
}

// changes edits the exports and shows what the resyncs found.
func (d *demo) changes(ctx context.Context) error {
	fmt.Fprintln(d.w, "\n== 2. The exports change")
	fmt.Fprintln(d.w, "  offboarding: Jane Doe is terminated in hris.csv and deprovisioned in idp.json")
	fmt.Fprintln(d.w, "  new hire:    Sam Rivera joins Engineering (hris.csv, idp.json)")
	fmt.Fprintln(d.w, "  group move:  Barbara Liskov moves from Engineering to Sales (idp.json)")
	if err := d.editHRIS(); err != nil {
		return err
	}
	if err := d.editIdP(func(x *idpExport) {
		x.user("00u3").Status = "DEPROVISIONED"
		x.Users = append(x.Users, idpUser{ID: "00u13", Status: "ACTIVE", Profile: map[string]string{
			"login": "sam.rivera@acme.example", "email": "sam.rivera@acme.example", "firstName": "Sam", "lastName": "Rivera",
			"department": "Engineering", "title": "Engineer", "managerId": "00u2",
		}})
		eng, sales := x.group("00g1"), x.group("00g2")
		eng.Members = append(without(eng.Members, "00u6"), "00u13")
		sales.Members = append(sales.Members, "00u6")
	}); err != nil {
		return err
	}

	fmt.Fprintln(d.w, "\n  Personnel resync:")
	info, err := d.resync(ctx, d.personnel)
	if err != nil {
		return err
	}
	if err := d.printChanges(ctx, info); err != nil {
		return err
	}
	if err := d.printGaps(ctx, info.ID); err != nil {
		return err
	}

	fmt.Fprintln(d.w, "\n  Jane Doe's AWS user is deleted (aws.json); accounts resync of Infrastructure:")
	if err := d.editAccounts(func(accts []map[string]any) []map[string]any {
		out := accts[:0]
		for _, a := range accts {
			if a["username"] != "jane.doe" {
				out = append(out, a)
			}
		}
		return out
	}); err != nil {
		return err
	}
	if info, err = d.resync(ctx, d.accounts); err != nil {
		return err
	}
	if err := d.printChanges(ctx, info); err != nil {
		return err
	}
	return d.printGaps(ctx, info.ID)
}

// printGaps shows the offboarding gaps a run opened and closed: people
// who left but still hold an active account.
func (d *demo) printGaps(ctx context.Context, runID string) error {
	gaps, err := d.linker.Findings(ctx, tenant, admin, linking.FindingQuery{Kind: linking.FindingOffboardingGap, Limit: 1000})
	if err != nil {
		return err
	}
	for _, g := range gaps {
		conn := g.ConnectionID
		for _, c := range d.conns {
			if c.ID == g.ConnectionID {
				conn = c.Name
			}
		}
		switch runID {
		case g.OpenedRun:
			fmt.Fprintf(d.w, "  offboarding gap opened: %s still has %s user %s (%s)\n", g.PersonID, conn, g.AccountKey, g.Detail)
		case g.ClosedRun:
			fmt.Fprintf(d.w, "  offboarding gap closed: %s no longer has %s user %s (open since %s)\n",
				g.PersonID, conn, g.AccountKey, g.OpenedAt.Format(time.TimeOnly))
		}
	}
	return nil
}

// deleteGuard empties the IdP export: the resync holds the change set
// instead of removing everyone, and the admin rejects it.
func (d *demo) deleteGuard(ctx context.Context) error {
	fmt.Fprintln(d.w, "\n== 3. Delete guard: the IdP export comes back empty")
	if err := d.editIdP(func(x *idpExport) { x.Users, x.Groups = []idpUser{}, []idpGroup{} }); err != nil {
		return err
	}
	info, err := d.resync(ctx, d.personnel)
	if err != nil {
		return err
	}
	var res resync.ConnectionResult
	for _, c := range info.Connections {
		if c.ConnectionID == "idp" {
			res = c
		}
	}
	if res.Status != resync.ConnHeld {
		return fmt.Errorf("expected the Okta change set to be held, it is %s", res.Status)
	}
	fmt.Fprintf(d.w, "  %s was not applied: %s\n  held change set: %s\n", res.Name, res.Error, res.HeldID)
	held, err := d.engine.HeldChangeSets(ctx, tenant, admin)
	if err != nil {
		return err
	}
	for _, h := range held {
		fmt.Fprintf(d.w, "  awaiting review: %s of connection %s, %d to add, %d to update, %d to remove\n",
			h.ID, h.ConnectionID, h.Added, h.Updated, h.Removed)
	}
	fmt.Fprintf(d.w, "  %s rejects held change set %s\n", admin.Name, res.HeldID)
	if _, err := d.engine.Reject(ctx, tenant, res.HeldID, admin, "the directory export was truncated"); err != nil {
		return err
	}
	held, err = d.engine.HeldChangeSets(ctx, tenant, admin)
	if err != nil {
		return err
	}
	recs, err := d.store.Records(ctx, resync.RecordQuery{Tenant: tenant, ConnectionID: "idp"})
	if err != nil {
		return err
	}
	n := map[resync.RecordKind]int{}
	for _, r := range recs {
		n[r.Kind]++
	}
	fmt.Fprintf(d.w, "  Okta snapshot intact: %d identities, %d groups; %d held change sets left\n",
		n[resync.KindIdentity], n[resync.KindGroup], len(held))
	return nil
}

// personnel starts a personnel resync as the admin.
func (d *demo) personnel(ctx context.Context) (*resync.Run, error) {
	return d.engine.ResyncPersonnel(ctx, tenant, admin)
}

// accounts starts an accounts resync of Infrastructure as the admin.
func (d *demo) accounts(ctx context.Context) (*resync.Run, error) {
	return d.engine.ResyncAccounts(ctx, tenant, admin, resync.Infrastructure)
}

// resync starts a run, shows its progress until it ends, prints its
// summary and returns its final state.
func (d *demo) resync(ctx context.Context, start func(context.Context) (*resync.Run, error)) (resync.RunInfo, error) {
	run, err := start(ctx)
	if err != nil {
		return resync.RunInfo{}, err
	}
	info, err := d.watch(ctx, run)
	if err != nil {
		return info, err
	}
	d.summary(info)
	return info, nil
}

// watch prints each connection's progress as it changes until the run ends.
func (d *demo) watch(ctx context.Context, run *resync.Run) (resync.RunInfo, error) {
	last := map[string]string{}
	show := func(info resync.RunInfo) {
		for _, c := range info.Connections {
			if c.Status == resync.ConnPending {
				continue // waiting for its turn
			}
			total := "?" // not known yet
			if c.Total > 0 || c.Status != resync.ConnRunning {
				total = fmt.Sprint(max(c.Total, c.Read))
			}
			line := fmt.Sprintf("%-10s %3d/%s", c.Status, c.Read, total)
			if last[c.ConnectionID] != line {
				last[c.ConnectionID] = line
				fmt.Fprintf(d.w, "    %-9s %s\n", c.Name, line)
			}
		}
	}
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for {
		show(run.Info())
		select {
		case <-run.Done():
			info := run.Info()
			show(info)
			return info, nil
		case <-ctx.Done():
			run.Cancel()
			return run.Info(), ctx.Err()
		case <-tick.C:
		}
	}
}

// summary prints a run's per-connection results as a table.
func (d *demo) summary(info resync.RunInfo) {
	fmt.Fprintf(d.w, "  run %s: %s\n", info.ID, info.Status)
	tw := tabwriter.NewWriter(d.w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "    connection\tstatus\tread\tadded\tupdated\tremoved\trejected\ttime")
	for _, c := range info.Connections {
		fmt.Fprintf(tw, "    %s\t%s\t%d\t%d\t%d\t%d\t%d\t%s\n", c.Name, c.Status, c.Read, c.Added, c.Updated, c.Removed,
			c.Rejected, c.FinishedAt.Sub(c.StartedAt).Round(time.Millisecond))
	}
	_ = tw.Flush()
}

// printNotifier is the Notifier: one short line per notification.
type printNotifier struct{ w io.Writer }

func (p printNotifier) Notify(_ context.Context, n resync.Notification) error {
	to := make([]string, len(n.Recipients))
	for i, r := range n.Recipients {
		to[i] = r.Email
	}
	_, err := fmt.Fprintf(p.w, "  [notify %s → %s] %s\n", n.Channel, strings.Join(to, ", "), subject(n))
	return err
}

// syncWriter serializes writes: the notifier runs on the engine's goroutines.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// subject is a one-line summary of a notification.
func subject(n resync.Notification) string {
	what := "Personnel resync"
	if n.Run.Scope.Kind == resync.ScopeAccounts {
		what = fmt.Sprintf("Accounts resync (%s)", n.Run.Scope.Types[0])
	}
	switch n.Kind {
	case resync.NotifyRunStarted:
		return what + " started"
	case resync.NotifyRunCompleted:
		s := fmt.Sprintf("%s %s", what, n.Run.Status)
		// The linker counted what the run opened (RunInfo.Findings).
		switch gaps := n.Run.Findings["offboarding_gap"]; {
		case gaps == 1:
			s += ", 1 new offboarding gap"
		case gaps > 1:
			s += fmt.Sprintf(", %d new offboarding gaps", gaps)
		}
		return s
	case resync.NotifyChangesHeld:
		name := n.Held.ConnectionID
		for _, c := range n.Run.Connections {
			if c.ConnectionID == n.Held.ConnectionID && c.Name != "" {
				name = c.Name
			}
		}
		return fmt.Sprintf("Removal of %d records from %s held for review", n.Held.Removed, name)
	case resync.NotifyHeldDecided:
		d := n.Held.Decision
		return fmt.Sprintf("Held change set %s %s by %s: %s", n.Held.ID, d.Kind, d.By.Name, d.Reason)
	}
	return what + " " + string(n.Kind)
}
