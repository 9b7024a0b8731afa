package river_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/openresync/resync"
	"github.com/openresync/resync/resynctest"
	"github.com/openresync/resync/river"
	"github.com/openresync/resync/stores/postgres"
)

// procsEnv carries a worker process's orders (procsOrders, JSON) to the
// re-executed test binary of TestThreeWorkerProcesses.
const procsEnv = "RESYNC_RIVER_PROCS_CHILD"

// procsTenantsEnv sets the size of TestThreeWorkerProcesses: the full
// size is RESYNC_RIVER_PROCS_TENANTS=1000; CI runs 50.
const procsTenantsEnv = "RESYNC_RIVER_PROCS_TENANTS"

type procsOrders struct {
	DB       string
	Tenants  int
	Period   time.Duration // the compressed "day"
	End      time.Time     // the schedule has no slot after End; zero: told later (procsEnd)
	Workers  int
	MaxConns int32
}

// procsRecords is the records of each of a tenant's three connections.
const procsRecords = 10

func procsTenant(i int) string { return fmt.Sprintf("p%04d", i) }

// until ends a TenantSchedule at end (UnixNano; 0: not yet known, no
// end): two "days" of schedules, then none.
type until struct {
	ts  resync.TenantSchedule
	end *atomic.Int64
}

func (u until) For(tenant string) resync.Schedule { return untilSchedule{u.ts.For(tenant), u.end} }

type untilSchedule struct {
	s   resync.Schedule
	end *atomic.Int64
}

func (u untilSchedule) Next(t time.Time) time.Time {
	n := u.s.Next(t)
	if end := u.end.Load(); end != 0 && n.UnixNano() > end {
		return time.Time{}
	}
	return n
}

// procsEnd is the end of this process's schedules, when the orders did
// not give it: a worker process is told it on stdin.
var procsEnd atomic.Int64

func (o procsOrders) schedule() resync.TenantSchedule {
	if o.End.IsZero() {
		return until{resync.Every(o.Period), &procsEnd}
	}
	end := &atomic.Int64{}
	end.Store(o.End.UnixNano())
	return until{resync.Every(o.Period), end}
}

// procsSetup is what every process of the test shares: the tenants, each
// with an IdP, a version control and an infrastructure connection of
// procsRecords records, served by this process's fakes.
func procsSetup(o procsOrders) (*resynctest.Source, *resynctest.Fakes, resynctest.Admins) {
	src, fakes, admins := resynctest.NewSource(), resynctest.NewFakes(), resynctest.Admins{}
	for i := range o.Tenants {
		tn := procsTenant(i)
		src.AddTenant(tn)
		admins[tn] = []resync.Principal{{ID: "admin-" + tn, Email: "admin@" + tn + ".example"}}
		accounts := func(prefix string) []resync.Record {
			out := make([]resync.Record, procsRecords)
			for k := range out {
				key := prefix + strconv.Itoa(k)
				out[k] = &resync.Account{Key: key, Username: key, OwnerEmail: key + "@example.com", Status: resync.StatusActive}
			}
			return out
		}
		for _, c := range []struct {
			id, provider string
			typ          resync.ConnectionType
			recs         []resync.Record
		}{
			{"okta1", "okta", resync.IdP, resynctest.Identities("u", procsRecords)},
			{"github1", "github", resync.VersionControl, accounts("gh")},
			{"aws1", "aws", resync.Infrastructure, accounts("iam")},
		} {
			fakes.Set(tn, c.id, resynctest.NewConnector(c.recs, procsRecords))
			src.Add(resync.Connection{ID: c.id, Tenant: tn, Type: c.typ, Provider: c.provider, Name: c.provider})
		}
	}
	return src, fakes, admins
}

// procsNode opens the store, executor and engine of one process.
func procsNode(t testing.TB, o procsOrders, workers int, sched bool) (*postgres.Store, *river.Executor, *resync.Engine, *resynctest.Fakes, func()) {
	t.Helper()
	ctx := context.Background()
	src, fakes, admins := procsSetup(o)
	pcfg, err := pgxpool.ParseConfig(o.DB)
	require.NoError(t, err)
	pcfg.MaxConns = max(o.MaxConns, 4)
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	require.NoError(t, err)
	store, err := postgres.New(ctx, pool, postgres.Config{})
	require.NoError(t, err)
	xc := river.Config{Store: store, Workers: workers, MinReadInterval: -1, FetchPollInterval: 100 * time.Millisecond}
	if sched {
		xc.Schedule = &river.ScheduleConfig{Schedule: o.schedule(), Tick: time.Second}
	}
	x, err := river.New(ctx, xc)
	require.NoError(t, err)
	e, err := resync.New(ctx, resync.Config{
		Store: store, Executor: x, Connections: src,
		Connectors:  fakes.Factories("okta", "aws", "github"),
		Authorizer:  admins,
		Concurrency: max(workers, 1),
		Retry:       resync.RetryPolicy{InitialInterval: 5 * time.Millisecond, MaxInterval: 20 * time.Millisecond},
		LeaseTTL:    5 * time.Second, LeasePoll: 20 * time.Millisecond,
		MinReadInterval: -1,
	})
	require.NoError(t, err)
	if sched {
		for i := range o.Tenants {
			require.NoError(t, x.Schedule(procsTenant(i), resync.TenantConfig{}))
		}
	}
	require.NoError(t, x.Start(ctx, e))
	closeAll := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		require.NoError(t, x.Stop(ctx))
		if err := e.Close(ctx); !errors.Is(err, resync.ErrClosed) {
			require.NoError(t, err)
		}
		store.Close()
		pool.Close()
	}
	return store, x, e, fakes, closeAll
}

// Three worker processes (the test binary re-executed) on one PostgreSQL
// share an ad-hoc personnel resync of every tenant and two compressed
// days of scheduled syncs (an interval schedule of a few seconds, ended
// after two periods): River's leader enqueues the due tenants from the
// periodic job, whichever process works it. Every run completes; each
// tenant has exactly one scheduled run per slot of the schedule between
// the first and the last tick; no change is logged twice; all three
// processes read.
func TestThreeWorkerProcesses(t *testing.T) {
	if s := os.Getenv(procsEnv); s != "" {
		procsChild(t, s)
		return
	}
	o := procsOrders{DB: freshDB(t), Tenants: 50, Period: 4 * time.Second, Workers: 8, MaxConns: 16}
	deadline := time.Minute
	if s := os.Getenv(procsTenantsEnv); s != "" {
		n, err := strconv.Atoi(s)
		require.NoError(t, err)
		o.Tenants, o.Period, o.Workers, o.MaxConns, deadline = n, time.Minute, 16, 30, 20*time.Minute
	}
	// An API replica (no workers) submits the ad-hoc runs. Opening it
	// first migrates the schema once.
	api, _, apiEngine, _, closeAPI := procsNode(t, o, 0, false)
	defer closeAPI()
	pool := api.Pool()

	type child struct {
		cmd   *exec.Cmd
		stdin io.WriteCloser
		lines chan string
	}
	var kids []*child
	for i := range 3 {
		orders, err := json.Marshal(o)
		require.NoError(t, err)
		cmd := exec.Command(os.Args[0], "-test.run=^TestThreeWorkerProcesses$", "-test.v")
		cmd.Env = append(os.Environ(), procsEnv+"="+string(orders))
		cmd.Stderr = os.Stderr
		stdin, err := cmd.StdinPipe()
		require.NoError(t, err)
		out, err := cmd.StdoutPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())
		c := &child{cmd: cmd, stdin: stdin, lines: make(chan string, 64)}
		go func() {
			defer close(c.lines)
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				c.lines <- strings.TrimSpace(sc.Text())
			}
		}()
		kids = append(kids, c)
		t.Cleanup(func() {
			if cmd.ProcessState == nil {
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
			}
		})
		expect := func(prefix string) string {
			for line := range c.lines {
				if strings.HasPrefix(line, prefix) {
					return line
				}
			}
			t.Fatalf("worker %d ended before %q", i, prefix)
			return ""
		}
		expect("ready")
	}
	// Two "days" of slots: the schedule ends two periods after its first
	// tick, so every tenant has two slots; the workers are told.
	eventually(t, "the first tick", func() bool {
		return pool.QueryRow(context.Background(), `SELECT first_tick FROM resync_river.resync_schedule`).Scan(&o.End) == nil
	})
	o.End = o.End.Add(2 * o.Period)
	for _, c := range kids {
		_, err := fmt.Fprintf(c.stdin, "end %d\n", o.End.UnixNano())
		require.NoError(t, err)
	}
	start := time.Now()

	// The personnel resync of every tenant, submitted at once by eight
	// admins' clicks in parallel.
	var wg sync.WaitGroup
	errs := make(chan error, o.Tenants)
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < o.Tenants; i += 8 {
				tn := procsTenant(i)
				_, err := apiEngine.ResyncPersonnel(context.Background(), tn, resync.Principal{ID: "admin-" + tn, Email: "admin@" + tn + ".example"})
				if err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	submitted := time.Since(start)
	// The API replica's run handles follow their records by polling:
	// closing its engine stops them; the test reads the database.
	require.NoError(t, apiEngine.Close(context.Background()))

	waitSettled(t, pool, o.End, deadline)
	elapsed := time.Since(start)

	// The workers stop (stdin closed) and say how many reads they made.
	var split []int
	for i, c := range kids {
		require.NoError(t, c.stdin.Close())
		reads := -1
		for line := range c.lines {
			if n, err := fmt.Sscanf(line, "reads %d", &reads); err == nil && n == 1 {
				break
			}
		}
		require.NoError(t, c.cmd.Wait(), "worker %d", i)
		require.Positive(t, reads, "worker %d took part", i)
		split = append(split, reads)
	}

	first, last, slots := checkSchedule(t, pool, o, o.Tenants)
	checkChanges(t, pool, o)

	// Which River client worked what: reads, starts and ticks.
	perClient := map[string]map[string]int{}
	rows, err := pool.Query(context.Background(), `SELECT attempted_by[array_length(attempted_by, 1)], kind, count(*) FROM resync_river.river_job
		WHERE state = 'completed' GROUP BY 1, 2`)
	require.NoError(t, err)
	for rows.Next() {
		var c, k string
		var n int
		require.NoError(t, rows.Scan(&c, &k, &n))
		if perClient[c] == nil {
			perClient[c] = map[string]int{}
		}
		perClient[c][k] = n
	}
	require.NoError(t, rows.Err())
	require.Len(t, perClient, 3, "three River clients worked jobs")
	var clients []string
	for _, m := range perClient {
		clients = append(clients, fmt.Sprintf("reads %d starts %d ticks %d", m["resync_read"], m["resync_scheduled_run"], m["resync_schedule_tick"]))
	}
	t.Logf("%d tenants x 3 connections, 3 workers of %d: %d ad-hoc runs (submitted in %s) and %d scheduled runs (%d slots of a %s period; ticks every second for %s) done in %s; reads per worker %v; per River client: %s",
		o.Tenants, o.Workers, o.Tenants, submitted.Round(time.Millisecond), slots, slots, o.Period, last.Sub(first).Round(time.Millisecond),
		elapsed.Round(time.Millisecond), split, strings.Join(clients, "; "))
}

// procsChild is a worker process of TestThreeWorkerProcesses: it works
// jobs (and the schedule) until its stdin closes, then stops and prints
// how many reads it made.
func procsChild(t *testing.T, orders string) {
	var o procsOrders
	require.NoError(t, json.Unmarshal([]byte(orders), &o))
	_, _, _, fakes, closeAll := procsNode(t, o, o.Workers, true)
	fmt.Println("ready")
	in := bufio.NewReader(os.Stdin)
	line, err := in.ReadString('\n')
	require.NoError(t, err)
	var end int64
	_, err = fmt.Sscanf(line, "end %d", &end)
	require.NoError(t, err)
	procsEnd.Store(end)
	_, _ = io.Copy(io.Discard, in)
	closeAll()
	reads := 0
	for i := range o.Tenants {
		for _, c := range []string{"okta1", "github1", "aws1"} {
			reads += fakes.Get(procsTenant(i), c).Reads()
		}
	}
	fmt.Printf("reads %d\n", reads)
}

// waitSettled waits until a tick has passed the schedule's end, and then
// every job and run has finished.
func waitSettled(t testing.TB, pool *pgxpool.Pool, end time.Time, deadline time.Duration) {
	t.Helper()
	ctx := context.Background()
	waitUntil := time.Now().Add(deadline)
	for {
		require.False(t, time.Now().After(waitUntil), "the runs did not finish within %s", deadline)
		var ended bool
		var open, live int
		_ = pool.QueryRow(ctx, `SELECT coalesce((SELECT last_tick > $1 FROM resync_river.resync_schedule), false)`, end).Scan(&ended)
		_ = pool.QueryRow(ctx, `SELECT count(*) FROM resync_river.river_job WHERE kind <> 'resync_schedule_tick'
			AND state NOT IN ('completed', 'cancelled', 'discarded')`).Scan(&open)
		_ = pool.QueryRow(ctx, `SELECT count(*) FROM resync.runs WHERE status IN ('pending', 'running')`).Scan(&live)
		if ended && open == 0 && live == 0 {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// checkSchedule checks that every run succeeded: adhoc ad-hoc runs, and
// one scheduled run per slot of each tenant's schedule between the first
// tick and the last, with the slot's run ID, started by one start job.
func checkSchedule(t testing.TB, pool *pgxpool.Pool, o procsOrders, adhoc int) (first, last time.Time, slots int) {
	t.Helper()
	ctx := context.Background()
	require.NoError(t, pool.QueryRow(ctx, `SELECT first_tick, last_tick FROM resync_river.resync_schedule`).Scan(&first, &last))
	byStatus := countBy(t, pool, `SELECT trigger || '/' || status, count(*) FROM resync.runs GROUP BY 1`)
	sched := o.schedule()
	want := map[string]bool{}
	for i := range o.Tenants {
		tn := procsTenant(i)
		s := sched.For(tn)
		for n := s.Next(first); !n.IsZero() && !n.After(last); n = s.Next(n) {
			want[tn+"/sched-"+n.UTC().Format("20060102T150405.000000000Z")] = true
		}
	}
	got := map[string]bool{}
	rows, err := pool.Query(ctx, `SELECT tenant || '/' || id FROM resync.runs WHERE trigger = 'scheduled'`)
	require.NoError(t, err)
	for rows.Next() {
		var k string
		require.NoError(t, rows.Scan(&k))
		got[k] = true
	}
	require.NoError(t, rows.Err())
	if !maps.Equal(want, got) {
		rows, err := pool.Query(ctx, `SELECT id, kind, state::text, args::text, coalesce(attempted_by[1], ''), created_at, coalesce(finalized_at, 'epoch'), coalesce(errors::text, '') FROM resync_river.river_job
			WHERE kind IN ('resync_scheduled_run', 'resync_schedule_tick') ORDER BY id`)
		require.NoError(t, err)
		for rows.Next() {
			var id int64
			var kind, state, args, by, errs string
			var created, fin time.Time
			require.NoError(t, rows.Scan(&id, &kind, &state, &args, &by, &created, &fin, &errs))
			t.Logf("job %d %s %s %s by %s created %s finalized %s %s", id, kind, state, args, by, created.Format("15:04:05.000000"), fin.Format("15:04:05.000000"), errs)
		}
		t.Logf("first %s last %s", first.Format("15:04:05.000000"), last.Format("15:04:05.000000"))
	}
	require.Equal(t, want, got, "one scheduled run per slot, each slot once")
	require.GreaterOrEqual(t, len(want), o.Tenants, "at least a slot per tenant")
	if end := o.End.Sub(first); end == 2*o.Period {
		require.Len(t, want, 2*o.Tenants, "two slots per tenant")
	}
	wantStatus := map[string]int{"scheduled/succeeded": len(want)}
	if adhoc > 0 {
		wantStatus["adhoc/succeeded"] = adhoc
	}
	require.Equal(t, wantStatus, byStatus)

	var starts, distinctStarts int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*), count(DISTINCT (args->>'tenant', args->>'slot')) FROM resync_river.river_job
		WHERE kind = 'resync_scheduled_run' AND state = 'completed'`).Scan(&starts, &distinctStarts))
	require.Equal(t, len(want), starts, "one start job per slot")
	require.Equal(t, starts, distinctStarts)
	return first, last, len(want)
}

// checkChanges checks that each record was added once, and nothing else
// was logged.
func checkChanges(t testing.TB, pool *pgxpool.Pool, o procsOrders) {
	t.Helper()
	var changes, distinctChanges int
	require.NoError(t, pool.QueryRow(context.Background(), `SELECT count(*), count(DISTINCT (tenant, connection_id, key)) FROM resync.changes`).Scan(&changes, &distinctChanges))
	require.Equal(t, o.Tenants*3*procsRecords, changes)
	require.Equal(t, changes, distinctChanges, "no change logged twice")
}

// The leader changes mid-schedule: the process leading River (and so
// inserting the periodic job) stops; another is elected and its periodic
// job starts again. No slot is lost or doubled across the change.
func TestScheduleAcrossLeaderChange(t *testing.T) {
	// The period is longer than the time River takes to elect another
	// leader and tick (a few seconds): a longer gap between two ticks
	// would run a tenant once for the slots it spans.
	o := procsOrders{DB: freshDB(t), Tenants: 20, Period: 6 * time.Second, Workers: 4, MaxConns: 10}
	o.End = time.Now().Add(2*o.Period + time.Second)
	a, xa, _, _, closeA := procsNode(t, o, o.Workers, true)
	b, xb, _, _, closeB := procsNode(t, o, o.Workers, true)
	pool := a.Pool()
	ctx := context.Background()
	leader := func() string {
		var id string
		_ = pool.QueryRow(ctx, `SELECT leader_id FROM resync_river.river_leader`).Scan(&id)
		return id
	}
	eventually(t, "a leader elected", func() bool { return leader() != "" })
	// Stop the leader's process once a tick has enqueued slots.
	eventually(t, "slots enqueued", func() bool {
		var n int
		_ = pool.QueryRow(ctx, `SELECT count(*) FROM resync_river.river_job WHERE kind = 'resync_scheduled_run'`).Scan(&n)
		return n > 0
	})
	first, other := leader(), xb.Client().ID()
	if first == xa.Client().ID() {
		pool = b.Pool()
		closeA()
		defer closeB()
	} else {
		require.Equal(t, xb.Client().ID(), first)
		other = xa.Client().ID()
		closeB()
		defer closeA()
	}
	eventually(t, "the other process elected", func() bool { return leader() == other })
	changed := time.Now()
	waitSettled(t, pool, o.End, 30*time.Second)
	_, last, slots := checkSchedule(t, pool, o, 0)
	require.True(t, last.After(changed), "ticks after the change")
	t.Logf("%d slots of %d tenants; leader %s stopped, %s elected", slots, o.Tenants, first, other)
}

// startJob has the kind and arguments of the executor's job that starts a
// tenant's scheduled run of a slot.
type startJob struct {
	Tenant string       `json:"tenant"`
	Slot   time.Time    `json:"slot"`
	Scope  resync.Scope `json:"scope"`
}

func (startJob) Kind() string { return "resync_scheduled_run" }

// Two start jobs of one slot (River's uniqueness bypassed, as a retried
// job whose first attempt committed would be): the slot's run is stored
// once, and both jobs complete.
func TestSlotRunStoredOnce(t *testing.T) {
	o := procsOrders{DB: freshDB(t), Tenants: 1, Period: time.Hour, End: time.Now(), Workers: 2, MaxConns: 6}
	store, x, _, _, closeAll := procsNode(t, o, o.Workers, false)
	defer closeAll()
	ctx := context.Background()
	slot := time.Date(2026, 12, 3, 2, 0, 0, 0, time.UTC)
	for range 2 {
		_, err := x.Client().Insert(ctx, startJob{Tenant: procsTenant(0), Slot: slot, Scope: resync.Scope{Kind: resync.ScopeAll}}, nil)
		require.NoError(t, err)
	}
	eventually(t, "both start jobs completed", func() bool {
		var n int
		_ = store.Pool().QueryRow(ctx, `SELECT count(*) FROM resync_river.river_job WHERE kind = 'resync_scheduled_run' AND state = 'completed'`).Scan(&n)
		return n == 2
	})
	runs, err := store.ListRuns(ctx, resync.RunQuery{Tenant: procsTenant(0), Limit: 10})
	require.NoError(t, err)
	require.Len(t, runs, 1)
	require.Equal(t, "sched-20261203T020000.000000000Z", runs[0].ID)
	require.Equal(t, resync.TriggerScheduled, runs[0].Trigger)
	require.Equal(t, resync.SystemPrincipal.ID, runs[0].Initiator.ID)
	require.Len(t, runs[0].Connections, 3)
}
