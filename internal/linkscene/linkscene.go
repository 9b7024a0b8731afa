// Package linkscene holds what the SQL stores' tests of linking share:
// the offboarding scene and the scale benchmark, run by each store on a
// store of its own.
package linkscene

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/openresync/resync"
	"github.com/openresync/resync/internal/cputime"
	"github.com/openresync/resync/internal/heapsample"
	"github.com/openresync/resync/linking"
	"github.com/openresync/resync/resynctest"
	"github.com/openresync/resync/storage"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Offboarding is the offboarding scene on a store: Jane deprovisioned at
// the IdP while still active in AWS opens a gap; the AWS resync that no
// longer sees her account closes it; an admin's decision and the findings
// survive opening the store again. open returns the store on clock the
// first time, and the same data opened again after that.
func Offboarding(t *testing.T, open func(clock resync.Clock) resync.Store) {
	ctx := context.Background()
	clock := resynctest.NewClock(time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC))
	s := open(clock)
	src := resynctest.NewSource()
	src.Add(resync.Connection{ID: "okta", Tenant: "acme", Type: resync.IdP, Provider: "okta"},
		resync.Connection{ID: "aws", Tenant: "acme", Type: resync.Infrastructure, Provider: "aws"})
	fakes := resynctest.NewFakes()
	idp := resynctest.NewConnector([]resync.Record{
		&resync.Identity{Key: "00u1", Email: "jane@acme.example", Status: resync.StatusActive},
	}, 0)
	aws := resynctest.NewConnector([]resync.Record{
		&resync.Account{Key: "iam-jane", OwnerEmail: "Jane@ACME.example", Status: resync.StatusActive},
		&resync.Account{Key: "ci", Username: "ci", Status: resync.StatusActive},
	}, 0)
	fakes.Set("acme", "okta", idp)
	fakes.Set("acme", "aws", aws)
	admin := resync.Principal{ID: "u1", Email: "admin@acme.example"}

	start := func(store resync.Store) (*linking.Linker, *resync.Engine) {
		lk, err := linking.New(linking.Config{Store: store, Connections: src, Authorizer: resynctest.AllowAll, Clock: clock})
		require.NoError(t, err)
		e, err := resync.New(ctx, resync.Config{Store: store, Connections: src, Connectors: fakes.Factories("okta", "aws"),
			Authorizer: resynctest.AllowAll, Clock: clock, MinReadInterval: -1, AfterRun: lk.AfterRun,
			DeleteGuard: resync.DeleteGuard{Disabled: true}})
		require.NoError(t, err)
		return lk, e
	}
	resyncAll := func(e *resync.Engine) string {
		run, err := e.Start(ctx, resync.Request{Tenant: "acme", Initiator: admin, Scope: resync.Scope{Kind: resync.ScopeAll}})
		require.NoError(t, err)
		info, err := run.Wait(ctx)
		require.NoError(t, err)
		require.Equal(t, resync.RunSucceeded, info.Status)
		return info.ID
	}

	lk, e := start(s)
	resyncAll(e)
	_, err := lk.Decide(ctx, "acme", admin, linking.Decision{ConnectionID: "aws", AccountKey: "ci", Kind: linking.DecideService, Reason: "the CI's deploy user"})
	require.NoError(t, err)
	clock.Advance(time.Hour)
	idp.SetRecords([]resync.Record{&resync.Identity{Key: "00u1", Email: "jane@acme.example", Status: resync.StatusDeprovisioned}}, 0)
	opened := resyncAll(e)
	closeEngine(t, e)

	s2 := open(clock)
	lk, e = start(s2)
	defer closeEngine(t, e)
	links, _, err := lk.Links(ctx, "acme", admin, linking.LinkQuery{})
	require.NoError(t, err)
	require.Len(t, links, 2)
	assert.Equal(t, linking.ServiceAccount, links[0].Situation, "the decision survived the reopen")
	assert.Equal(t, linking.OffboardingGap, links[1].Situation)

	clock.Advance(time.Hour)
	aws.SetRecords([]resync.Record{&resync.Account{Key: "ci", Username: "ci", Status: resync.StatusActive}}, 0)
	run, err := e.ResyncAccounts(ctx, "acme", admin, resync.Infrastructure)
	require.NoError(t, err)
	_, err = run.Wait(ctx)
	require.NoError(t, err)

	gaps, err := lk.Findings(ctx, "acme", admin, linking.FindingQuery{Kind: linking.FindingOffboardingGap, PersonID: "okta:00u1"})
	require.NoError(t, err)
	require.Len(t, gaps, 1)
	assert.Equal(t, opened, gaps[0].OpenedRun)
	assert.Equal(t, run.ID(), gaps[0].ClosedRun)
	assert.Equal(t, clock.Now(), gaps[0].ClosedAt)
	ds, err := lk.Decisions(ctx, "acme", admin, linking.DecisionQuery{})
	require.NoError(t, err)
	require.Len(t, ds, 1)
	assert.Equal(t, admin, ds[0].By)

	// The run that opened the gap says so, as stored.
	stored, err := e.GetRun(ctx, "acme", opened, admin)
	require.NoError(t, err)
	assert.Equal(t, map[string]int{"offboarding_gap": 1}, stored.Findings)

	// Erasing Jane redacts the gap (kept, with its times) and forgets her.
	erased, err := e.Erase(ctx, "acme", admin, "jane@acme.example")
	require.NoError(t, err)
	require.Len(t, erased, 2, "her identity and her removed IAM user")
	gaps, err = lk.Findings(ctx, "acme", admin, linking.FindingQuery{Kind: linking.FindingOffboardingGap})
	require.NoError(t, err)
	require.Len(t, gaps, 1)
	assert.Equal(t, storage.Redacted, gaps[0].AccountKey)
	assert.Empty(t, gaps[0].PersonID)
	assert.Empty(t, gaps[0].Detail)
	assert.Equal(t, opened, gaps[0].OpenedRun)
	assert.Equal(t, run.ID(), gaps[0].ClosedRun, "closed before the erasure: its closing stays")
	_, err = lk.Access(ctx, "acme", admin, "jane@acme.example")
	assert.ErrorIs(t, err, resync.ErrNotFound)
}

func closeEngine(t testing.TB, e *resync.Engine) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, e.Close(ctx))
}

// Scale is the body of the stores' BenchmarkLinkingScale on store, an
// empty store of its own: it correlates a tenant of RESYNC_LINK_PEOPLE
// people (default 50,000; an HRIS and an IdP identity each) with an
// account in each of 10 systems (500,000 accounts), after a full resync:
// the first correlation, which writes every link; a second, which finds
// nothing changed; and an incremental one after 100 accounts of one
// system changed. The first two report their time, the peak heap above
// the process's before it per account, and the ratio to a bare read of
// every account (Store.Records of each system) measured just before; the
// incremental one its time and its work: the accounts it evaluated, the
// stored links it read and the links it wrote. Each correlation also reports the CPU time the
// process used.
func Scale(b *testing.B, store resync.Store) {
	ctx := context.Background()
	people := 50000
	if v, err := strconv.Atoi(os.Getenv("RESYNC_LINK_PEOPLE")); err == nil && v > 0 {
		people = v
	}
	const systems = 10
	tenant := "scale"
	src := resynctest.NewSource()
	src.Add(resync.Connection{ID: "hris", Tenant: tenant, Type: resync.HRIS, Provider: "hris"},
		resync.Connection{ID: "idp", Tenant: tenant, Type: resync.IdP, Provider: "okta"})
	apply := func(conn string, recs []resync.Record) {
		cs := &resync.ChangeSet{ID: "cs-" + conn, Tenant: tenant, ConnectionID: conn, RunID: "load", CreatedAt: time.Now()}
		for _, r := range recs {
			kind, key := resync.KindIdentity, ""
			switch r := r.(type) {
			case *resync.Identity:
				key = r.Key
			case *resync.Account:
				kind, key = resync.KindAccount, r.Key
			}
			cs.Changes = append(cs.Changes, resync.Change{Op: resync.OpAdd, Kind: kind, Key: key, Record: r, Fingerprint: resync.Fingerprint(r)})
		}
		require.NoError(b, store.Apply(ctx, cs))
	}
	var hris, idp []resync.Record
	for i := range people {
		email := fmt.Sprintf("person%d@example.com", i)
		st := resync.StatusActive
		if i%100 == 0 {
			st = resync.StatusDeprovisioned // 1% have left: their accounts are gaps
		}
		hris = append(hris, &resync.Identity{Key: fmt.Sprintf("h%d", i), EmployeeID: strconv.Itoa(i), Email: email, Status: resync.StatusActive, Name: "Person " + strconv.Itoa(i)})
		idp = append(idp, &resync.Identity{Key: fmt.Sprintf("00u%d", i), EmployeeID: strconv.Itoa(i), Email: email, Status: st})
	}
	apply("hris", hris)
	apply("idp", idp)
	hris, idp = nil, nil
	conns := make([]string, systems)
	for sys := range systems {
		id := fmt.Sprintf("sys%02d", sys)
		conns[sys] = id
		src.Add(resync.Connection{ID: id, Tenant: tenant, Type: resync.Infrastructure, Provider: "aws"})
		accts := make([]resync.Record, 0, people)
		for i := range people {
			a := &resync.Account{Key: fmt.Sprintf("%s-%d", id, i), Username: fmt.Sprintf("user%d", i), Status: resync.StatusActive,
				MFA: resync.MFAEnabled, LastLogin: time.Now().Add(-time.Hour)}
			switch {
			case i%97 == 0: // nobody's: orphans
				a.OwnerEmail = fmt.Sprintf("stranger%d@elsewhere.example", i)
			case sys%3 == 0:
				a.ExternalID = fmt.Sprintf("00u%d", i)
			case sys%3 == 1:
				a.EmployeeID = strconv.Itoa(i)
			default:
				a.OwnerEmail = fmt.Sprintf("Person%d@EXAMPLE.com", i)
			}
			accts = append(accts, a)
		}
		apply(id, accts)
	}
	accounts := float64(people * systems)
	lk, err := linking.New(linking.Config{Store: store, Connections: src, Authorizer: resynctest.AllowAll})
	require.NoError(b, err)

	b.ResetTimer()
	for b.Loop() {
		// The baseline: a bare read of every account (Store.Records of
		// each system), just before each correlation, so that the ratio
		// compares two things measured under the same load.
		bareRead := func() time.Duration {
			start := time.Now()
			n := 0
			for _, id := range conns {
				recs, err := store.Records(ctx, resync.RecordQuery{Tenant: tenant, ConnectionID: id, Kind: resync.KindAccount})
				require.NoError(b, err)
				n += len(recs)
			}
			require.Equal(b, people*systems, n)
			return time.Since(start)
		}
		for _, phase := range []string{"first", "unchanged"} {
			bare := bareRead()
			stop := heapsample.Start()
			start, cpu := time.Now(), cputime.Process()
			res, err := lk.Correlate(ctx, tenant, resync.SystemPrincipal, "run-"+phase)
			took, cpu := time.Since(start), cputime.Process()-cpu
			peak := stop()
			require.NoError(b, err)
			b.ReportMetric(took.Seconds(), phase+"-s")
			b.ReportMetric(cpu.Seconds(), phase+"-process-cpu-s")
			b.ReportMetric(float64(peak)/accounts, phase+"-peak-B/account")
			b.ReportMetric(took.Seconds()/bare.Seconds(), phase+"-x-bare-read")
			b.Logf("%s correlation: %v (bare read of the accounts %v), peak heap +%d MiB, %+v", phase, took, bare, peak>>20, res)
		}
		// 100 accounts of one system change: only those are correlated.
		cs := &resync.ChangeSet{ID: fmt.Sprintf("inc-%d", time.Now().UnixNano()), Tenant: tenant, ConnectionID: conns[1], RunID: "run-inc", CreatedAt: time.Now()}
		for i := range 100 {
			a := &resync.Account{Key: fmt.Sprintf("%s-%d", conns[1], i+1), Username: "renamed", Status: resync.StatusSuspended}
			cs.Changes = append(cs.Changes, resync.Change{Op: resync.OpUpdate, Kind: resync.KindAccount, Key: a.Key, Record: a, Fingerprint: resync.Fingerprint(a)})
		}
		version, err := store.Snapshot(ctx, tenant, conns[1], func(resync.RecordKind, string, uint64, uint64) error { return nil })
		require.NoError(b, err)
		cs.BaseVersion = version
		require.NoError(b, store.Apply(ctx, cs))
		start := time.Now()
		res, err := lk.CorrelateRun(ctx, resync.RunInfo{ID: "run-inc", Tenant: tenant,
			Connections: []resync.ConnectionResult{{ConnectionID: conns[1], Status: resync.ConnSucceeded}}})
		took := time.Since(start)
		require.NoError(b, err)
		require.Equal(b, 100, res.Accounts)
		require.False(b, res.Rebuilt)
		b.ReportMetric(took.Seconds()*1000, "incremental-ms")
		b.ReportMetric(float64(res.Accounts), "incremental-accounts")
		b.ReportMetric(float64(res.Written), "incremental-links-written")
		b.ReportMetric(float64(res.LinksRead), "incremental-links-read")
		b.Logf("incremental correlation of 100 changed accounts: %v, %+v", took, res)
	}
}
