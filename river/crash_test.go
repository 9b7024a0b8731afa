package river_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	riverqueue "github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/stretchr/testify/require"

	"github.com/openresync/resync"
	"github.com/openresync/resync/resynctest"
)

// Short timeouts of the crash test: a job attempt may run 3 s, and is
// rescued once it has run 4 s.
const (
	crashJobTimeout  = 3 * time.Second
	crashRescueAfter = 4 * time.Second
	crashPages       = 40
)

type noopArgs struct{}

func (noopArgs) Kind() string { return "resync_test_noop" }

type noopWorker struct {
	riverqueue.WorkerDefaults[noopArgs]
}

func (noopWorker) Work(context.Context, *riverqueue.Job[noopArgs]) error { return nil }

// leader starts a River client on the executor's schema that works
// nothing of resync's: it holds River's leadership, so it runs the
// rescuer.
func leader(t *testing.T, n *node, id string) *riverqueue.Client[pgx.Tx] {
	t.Helper()
	ws := riverqueue.NewWorkers()
	riverqueue.AddWorker(ws, noopWorker{})
	require.NoError(t, n.x.AddWorker(ws))
	c, err := riverqueue.NewClient(riverpgxv5.New(n.store.Pool()), &riverqueue.Config{
		ID: id, Schema: "resync_river", Workers: ws,
		Queues:               map[string]riverqueue.QueueConfig{"resync_test_maint": {MaxWorkers: 1}},
		JobTimeout:           crashJobTimeout,
		RescueStuckJobsAfter: crashRescueAfter,
	})
	require.NoError(t, err)
	require.NoError(t, c.Start(context.Background()))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = c.Stop(ctx) // stopped already when the test got to its end
	})
	eventually(t, id+" elected", func() bool {
		var got string
		_ = n.store.Pool().QueryRow(context.Background(), `SELECT leader_id FROM resync_river.river_leader`).Scan(&got)
		return got == id
	})
	return c
}

func stopClient(t *testing.T, c *riverqueue.Client[pgx.Tx]) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, c.Stop(ctx))
}

func crashConn(n *node, latency time.Duration) *resynctest.Connector {
	c := n.conn("okta1", resync.IdP, "okta", resynctest.Identities("u", crashPages*10), 10)
	c.SetLatency(latency)
	return c
}

// killPoints are the moments TestWorkerKilled kills a worker process
// (SIGKILL), each with the line the process prints when it is there.
var killPoints = []struct {
	when, line string
	applied    bool // the killed attempt's changes were committed
}{
	{"first-page", "page 0", false},        // the read started, its lease held, no page read
	{"mid-read", "page 5", false},          // 5 pages read, nothing applied
	{"after-apply", "applied", true},       // changes committed, the job not completed
	{"completing", "completing", true},     // inside the transaction that completes the job
	{"during-submit", "submitting", false}, // mid-read, and inside its own Submit of a second run
}

// A worker process killed (SIGKILL) at five points of a read: River's
// rescuer hands its job to another worker after RescueAfter, which reads
// the connection again once the dead worker's read lease has expired; the
// run completes, nothing is applied twice, and a run whose submit was
// killed does not exist. The kills run in parallel, each on a database of
// its own; each logs its time to rescue.
func TestWorkerKilled(t *testing.T) {
	if u := os.Getenv(childEnv); u != "" {
		workerChild(t, u, os.Getenv(childWhenEnv))
		return
	}
	for _, p := range killPoints {
		t.Run(p.when, func(t *testing.T) {
			t.Parallel()
			testWorkerKilled(t, p.when, p.line, p.applied)
		})
	}
}

// childWhenEnv tells the worker process when to wait to be killed: the
// when of one of killPoints.
const childWhenEnv = "RESYNC_RIVER_CHILD_WHEN"

func testWorkerKilled(t *testing.T, when, line string, applied bool) {
	db := freshDB(t)
	opts := nodeOpts{jobTimeout: crashJobTimeout, rescueAfter: crashRescueAfter, conns: func(n *node) { crashConn(n, 0) }}
	s := newNode(t, db, opts)
	l1 := leader(t, s, "leader-1")
	r := s.start()

	cmd := exec.Command(os.Args[0], "-test.run=^TestWorkerKilled$", "-test.v")
	cmd.Env = append(os.Environ(), childEnv+"="+db, childWhenEnv+"="+when)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	sc := bufio.NewScanner(out)
	there, last := false, ""
	for sc.Scan() {
		last = strings.TrimSpace(sc.Text())
		if last == line {
			there = true
			break
		}
	}
	require.True(t, there, "the worker process got to %q (last line %q)", line, last)
	var killedDB time.Time
	require.NoError(t, cmd.Process.Kill())
	killed := time.Now()
	require.NoError(t, s.store.Pool().QueryRow(context.Background(), `SELECT now()`).Scan(&killedDB))
	_ = cmd.Wait()
	require.Equal(t, map[string]int{"running": 1}, jobs(t, s, "okta1"), "the killed worker's job")
	if when == "during-submit" {
		// The killed submit stored nothing: no run without its jobs.
		var runs, counters int
		require.NoError(t, s.store.Pool().QueryRow(context.Background(), `SELECT count(*) FROM resync.runs`).Scan(&runs))
		require.NoError(t, s.store.Pool().QueryRow(context.Background(), `SELECT count(*) FROM resync_river.resync_runs`).Scan(&counters))
		require.Equal(t, 1, runs, "only the run submitted before")
		require.Equal(t, 1, counters)
	}

	var w *resynctest.Connector
	opts.workers, opts.conns = 2, func(n *node) { w = crashConn(n, 0) }
	newNode(t, db, opts)
	// River's rescuer looks every 30 s on the leader, and once when a
	// leader is elected: a new leader once the job is overdue makes the
	// test take seconds rather than half a minute.
	var attempted time.Time
	require.NoError(t, s.store.Pool().QueryRow(context.Background(),
		`SELECT attempted_at FROM resync_river.river_job WHERE kind = 'resync_read'`).Scan(&attempted))
	eventually(t, "the job overdue", func() bool {
		var overdue bool
		_ = s.store.Pool().QueryRow(context.Background(), `SELECT now() > $1::timestamptz + $2::interval`,
			attempted, crashRescueAfter.String()).Scan(&overdue)
		return overdue
	})
	// The worker node is elected when leader-1 resigns, and rescues.
	stopClient(t, l1)

	info := wait(t, r)
	completed := time.Since(killed)
	require.Equal(t, resync.RunSucceeded, info.Status)
	res := result(t, info, "okta1")
	if applied {
		// The retry found the records the killed attempt had applied.
		require.Equal(t, crashPages*10, res.Unchanged)
	} else {
		require.Equal(t, crashPages*10, res.Added)
	}
	require.Equal(t, 1, res.Reads)
	require.Equal(t, 1, w.Reads())
	ch, err := s.store.Changes(context.Background(), resync.ChangeQuery{Tenant: "t1", Limit: 10000})
	require.NoError(t, err)
	require.Len(t, ch, crashPages*10, "each record added once")
	var attempt int
	var by []string
	var rescued, retried time.Time
	require.NoError(t, s.store.Pool().QueryRow(context.Background(),
		`SELECT attempt, attempted_by, (errors[1]->>'at')::timestamptz, attempted_at FROM resync_river.river_job
		WHERE kind = 'resync_read' AND state = 'completed'`).Scan(&attempt, &by, &rescued, &retried))
	require.Equal(t, 2, attempt, "the killed attempt and the rescued one")
	require.Len(t, by, 2)
	require.NotEqual(t, by[0], by[1], "another worker took the job over")
	t.Logf("%s: job started %s before the kill; after the kill: rescued %s, retried %s, run completed %s",
		when, killedDB.Sub(attempted).Round(10*time.Millisecond), rescued.Sub(killedDB).Round(10*time.Millisecond),
		retried.Sub(killedDB).Round(10*time.Millisecond), completed.Round(10*time.Millisecond))
}

// workerChild is the worker process of TestWorkerKilled: it reads
// slowly, printing each page, and waits to be killed at the point when
// names (see killPoints), printing its line there.
func workerChild(t *testing.T, dbURL, when string) {
	hang := func(line string) {
		fmt.Println(line)
		time.Sleep(time.Minute) // killed long before
	}
	var self *node
	opts := nodeOpts{
		workers: 2, jobTimeout: crashJobTimeout, rescueAfter: crashRescueAfter,
		conns: func(n *node) {
			c := crashConn(n, 5*time.Millisecond)
			c.OnRead(func(page int) {
				switch {
				case when == "first-page" && page == 0:
					hang("page 0")
				case when == "during-submit" && page == 5:
					go func() { _, _ = self.e.ResyncPersonnel(context.Background(), "t1", alice) }()
					hang("page 5")
				default:
					fmt.Printf("page %d\n", page)
				}
			})
		},
	}
	switch when {
	case "after-apply":
		opts.wrapStore = func(s resync.Store) resync.Store { return applyThenHang{s} }
	case "completing":
		opts.tracer = hangOn{"remaining = remaining - 1", "completing"}
	case "during-submit":
		opts.tracer = hangOn{"resync_waits (job_id", "submitting"}
	}
	self = newNode(t, dbURL, opts)
	time.Sleep(time.Minute) // killed long before
	t.Fatal("the worker process was not killed")
}

// hangOn is a pgx tracer that, at the first statement containing sql,
// prints line and hangs until the process is killed.
type hangOn struct{ sql, line string }

func (h hangOn) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	if strings.Contains(d.SQL, h.sql) {
		fmt.Println(h.line)
		time.Sleep(time.Minute)
	}
	return ctx
}

func (hangOn) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// applyThenHang applies, says so, and hangs until the process is killed.
type applyThenHang struct{ resync.Store }

func (s applyThenHang) Apply(ctx context.Context, cs *resync.ChangeSet) error {
	if err := s.Store.Apply(ctx, cs); err != nil {
		return err
	}
	fmt.Println("applied")
	time.Sleep(time.Minute)
	return nil
}
