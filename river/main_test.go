package river_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"

	"github.com/openresync/resync"
	"github.com/openresync/resync/resynctest"
	"github.com/openresync/resync/river"
	"github.com/openresync/resync/stores/postgres"
)

// childEnv carries the database URL to the worker process of
// TestWorkerKilled.
const childEnv = "RESYNC_RIVER_CHILD_URL"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(m.Run()) // killed mid-read: no leak check
	}
	goleak.VerifyTestMain(m)
}

func serverURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("RESYNC_POSTGRES_URL")
	if u == "" {
		msg := "RESYNC_POSTGRES_URL is not set: start a server with eval \"$(bash .ci/postgres.sh)\""
		if os.Getenv("RESYNC_REQUIRE_INTEGRATION") == "1" {
			t.Fatal(msg + " (RESYNC_REQUIRE_INTEGRATION=1)")
		}
		t.Skip(msg)
	}
	return u
}

// freshDB creates a database with a random name, dropped when the test
// ends, and returns its URL.
func freshDB(t testing.TB) string {
	t.Helper()
	return freshDBs(t, 1)[0]
}

// freshDBs creates n databases at once (creating one takes most of a
// second), each dropped when the test ends, and returns their URLs.
func freshDBs(t testing.TB, n int) []string {
	t.Helper()
	base := serverURL(t)
	names := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range names {
		b := make([]byte, 6)
		_, _ = rand.Read(b)
		names[i] = "resync_river_" + hex.EncodeToString(b)
		wg.Go(func() {
			ctx := context.Background()
			admin, err := pgx.Connect(ctx, base)
			if err != nil {
				errs[i] = err
				return
			}
			defer admin.Close(ctx)
			_, errs[i] = admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{names[i]}.Sanitize())
		})
	}
	wg.Wait()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, base)
		if err != nil {
			return
		}
		defer c.Close(ctx)
		for _, name := range names {
			_, _ = c.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
		}
	})
	require.NoError(t, errors.Join(errs...))
	u, err := url.Parse(base)
	require.NoError(t, err)
	urls := make([]string, n)
	for i, name := range names {
		u.Path = "/" + name
		urls[i] = u.String()
	}
	return urls
}

var alice = resync.Principal{ID: "alice", Email: "alice@t1.example"}

// node is one process's view: a store, an executor and an engine on a
// shared database, with its own fake connectors.
type node struct {
	t     testing.TB
	store *postgres.Store
	x     *river.Executor
	e     *resync.Engine
	src   *resynctest.Source
	fakes *resynctest.Fakes
}

type nodeOpts struct {
	workers     int
	interval    time.Duration // MinReadInterval; 0: none
	jobTimeout  time.Duration
	rescueAfter time.Duration
	conns       func(*node) // adds connections before the engine starts
	inProcess   bool        // no Executor: the engine reads itself
	concurrency int         // the engine's; default max(workers, 1)
	pollEvery   time.Duration
	tracer      pgx.QueryTracer
	wrapStore   func(resync.Store) resync.Store // the engine's view of the store
	maxAttempts int
	notifier    resync.Notifier                                      // with the admins of t1 as Directory
	afterRun    func(ctx context.Context, run *resync.RunInfo) error // Config.AfterRun
	directory   resync.Directory                                     // with notifier; default the admins of t1
	traces      trace.TracerProvider                                 // the engine's and the executor's
	sweepEvery  time.Duration                                        // Config.SweepEvery
}

func newNode(t testing.TB, dbURL string, o nodeOpts) *node {
	t.Helper()
	ctx := context.Background()
	n := &node{t: t, src: resynctest.NewSource(), fakes: resynctest.NewFakes()}
	n.src.AddTenant("t1")
	if o.conns != nil {
		o.conns(n)
	}
	var err error
	pcfg, err := pgxpool.ParseConfig(dbURL)
	require.NoError(t, err)
	pcfg.ConnConfig.Tracer = o.tracer
	pcfg.MaxConns = 20
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	require.NoError(t, err)
	n.store, err = postgres.New(ctx, pool, postgres.Config{})
	require.NoError(t, err)
	interval := o.interval
	if interval == 0 {
		interval = -1
	}
	n.x, err = river.New(ctx, river.Config{
		Store: n.store, Workers: o.workers, MinReadInterval: interval,
		JobTimeout: o.jobTimeout, RescueAfter: o.rescueAfter, MaxAttempts: o.maxAttempts,
		FetchPollInterval: 100 * time.Millisecond, TracerProvider: o.traces, SweepEvery: o.sweepEvery,
	})
	require.NoError(t, err)
	var exec resync.Executor = n.x
	if o.inProcess {
		exec = nil
	}
	conc := o.concurrency
	if conc == 0 {
		conc = max(o.workers, 1)
	}
	poll := o.pollEvery
	if poll == 0 {
		poll = 20 * time.Millisecond
	}
	var st resync.Store = n.store
	if o.wrapStore != nil {
		st = o.wrapStore(n.store)
	}
	var dir resync.Directory
	if o.notifier != nil {
		dir = resynctest.Admins{"t1": {alice}}
		if o.directory != nil {
			dir = o.directory
		}
	}
	n.e, err = resync.New(ctx, resync.Config{
		Notifier: o.notifier, Directory: dir, AfterRun: o.afterRun,
		Store: st, Executor: exec, Connections: n.src,
		Connectors:  n.fakes.Factories("okta", "aws", "github"),
		Authorizer:  resynctest.Admins{"t1": {alice}},
		Concurrency: conc,
		Retry:       resync.RetryPolicy{InitialInterval: 5 * time.Millisecond, MaxInterval: 20 * time.Millisecond},
		LeaseTTL:    time.Second, LeasePoll: poll,
		MinReadInterval: interval, TracerProvider: o.traces,
	})
	require.NoError(t, err)
	if !o.inProcess {
		require.NoError(t, n.x.Start(ctx, n.e))
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = n.x.Stop(ctx)
		_ = n.e.Close(ctx)
		n.store.Close()
		pool.Close()
	})
	return n
}

// conn adds a connection served by a fake connector in this node.
func (n *node) conn(id string, typ resync.ConnectionType, provider string, recs []resync.Record, pageSize int) *resynctest.Connector {
	c := resynctest.NewConnector(recs, pageSize)
	n.fakes.Set("t1", id, c)
	n.src.Add(resync.Connection{ID: id, Tenant: "t1", Type: typ, Provider: provider, Name: provider + " " + id})
	return c
}

func (n *node) start() *resync.Run {
	n.t.Helper()
	r, err := n.e.ResyncPersonnel(context.Background(), "t1", alice)
	require.NoError(n.t, err)
	return r
}

// waitFor bounds a wait for a run (the benchmark sets it longer).
var waitFor = 30 * time.Second

func wait(t testing.TB, r *resync.Run) resync.RunInfo {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	info, err := r.Wait(ctx)
	require.NoError(t, err, "run %s did not end: %s", r.ID(), info.Status)
	return info
}

func result(t testing.TB, info resync.RunInfo, conn string) resync.ConnectionResult {
	t.Helper()
	for _, c := range info.Connections {
		if c.ConnectionID == conn {
			return c
		}
	}
	t.Fatalf("run %s has no connection %s", info.ID, conn)
	return resync.ConnectionResult{}
}

// jobs counts the read jobs of a connection by state.
func jobs(t testing.TB, n *node, conn string) map[string]int {
	t.Helper()
	return countBy(t, n.store.Pool(), `SELECT state::text, count(*) FROM resync_river.river_job
		WHERE kind = 'resync_read' AND args->>'connection' = $1 GROUP BY state`, conn)
}

// countBy runs query, which selects a key and a count per group, and
// returns the counts by key.
func countBy(t testing.TB, pool *pgxpool.Pool, query string, args ...any) map[string]int {
	t.Helper()
	rows, err := pool.Query(context.Background(), query, args...)
	require.NoError(t, err)
	out := map[string]int{}
	for rows.Next() {
		var k string
		var n int
		require.NoError(t, rows.Scan(&k, &n))
		out[k] = n
	}
	require.NoError(t, rows.Err())
	return out
}

// eventually polls cond every 20 ms for up to 20 s.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// settledJobs is jobs once no read job of conn is running: River marks a
// job completed shortly after its Work returns (its completer batches),
// so a run can end before its last job shows completed.
func settledJobs(t testing.TB, n *node, conn string) map[string]int {
	t.Helper()
	var out map[string]int
	eventually(t, "no job of "+conn+" running", func() bool {
		out = jobs(t, n, conn)
		return out["running"] == 0
	})
	return out
}
