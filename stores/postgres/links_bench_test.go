package postgres_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/openresync/resync"
	"github.com/openresync/resync/linking"
	"github.com/openresync/resync/resynctest"
	"github.com/openresync/resync/stores/postgres"
)

// BenchmarkLinkingScale correlates a tenant of RESYNC_LINK_PEOPLE people
// (default 50,000; an HRIS and an IdP identity each) with an account in
// each of 10 systems (500,000 accounts), after a full resync: the first
// correlation, which writes every link; a second, which finds nothing
// changed; and an incremental one after 100 accounts of one system
// changed. The first two report their time, the peak heap above the
// process's before it per account, and the ratio to a bare read of every
// account (Store.Records of each system) measured just before; the
// incremental one its time and its work: the accounts it evaluated and
// the links it wrote. Each correlation also reports the CPU time the
// process used (all of it, with SQLite; the engine's, with PostgreSQL).
// Run it with
// -benchtime=1x; it is outside CI.
func BenchmarkLinkingScale(b *testing.B) {
	s, _ := openStore(b, postgres.Config{})
	linkingScale(b, s)
}

// heapPeak samples the heap in use until stop is called, and returns the
// peak above the heap in use when it started.
func heapPeak() (stop func() uint64) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	var peak atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > peak.Load() {
				peak.Store(ms.HeapAlloc)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 {
		close(done)
		wg.Wait()
		if p := peak.Load(); p > base {
			return p - base
		}
		return 0
	}
}

// cpuTime returns the CPU time (user and system) the process has used:
// unlike the wall time, it hardly depends on what else the machine runs.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func linkingScale(b *testing.B, store resync.Store) {
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
			stop := heapPeak()
			start, cpu := time.Now(), cpuTime()
			res, err := lk.Correlate(ctx, tenant, resync.SystemPrincipal, "run-"+phase)
			took, cpu := time.Since(start), cpuTime()-cpu
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
		b.Logf("incremental correlation of 100 changed accounts: %v, %+v", took, res)
	}
}
