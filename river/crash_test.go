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

// killPoint is a moment TestWorkerKilled kills a worker process
// (SIGKILL) at, with the line the process prints when it is there.
type killPoint struct {
	when, line string
	applied    bool // the killed attempt's changes were committed
}

var killPoints = []killPoint{
	{"first-page", "page 0", false},        // the read started, its lease held, no page read
	{"mid-read", "page 5", false},          // 5 pages read, nothing applied
	{"after-apply", "applied", true},       // changes committed, the job not completed
	{"completing", "completing", true},     // the result recorded, inside the transaction that completes the run
	{"during-submit", "submitting", false}, // mid-read, and inside its own Submit of a second run
}

// A worker process killed (SIGKILL) at five points of a read: River's
// rescuer hands its job to another worker after RescueAfter, which reads
// the connection again once the dead worker's read lease has expired; the
// run completes, nothing is applied twice, and a run whose submit was
// killed does not exist. Each kill has a database of its own, and the five
// go through each step together, so that their waits for the rescue
// overlap; each logs its time to rescue.
func TestWorkerKilled(t *testing.T) {
	if u := os.Getenv(childEnv); u != "" {
		workerChild(t, u, os.Getenv(childWhenEnv))
		return
	}
	dbs := freshDBs(t, len(killPoints))
	ks := make([]*killCase, len(killPoints))
	for i, p := range killPoints {
		ks[i] = submitKill(t, p, dbs[i])
	}
	for _, k := range ks {
		k.startWorker(t)
	}
	for _, k := range ks {
		k.kill(t)
	}
	for _, k := range ks {
		k.rescue(t)
	}
	for _, k := range ks {
		t.Run(k.p.when, k.check)
	}
}

// childWhenEnv tells the worker process when to wait to be killed: the
// when of one of killPoints.
const childWhenEnv = "RESYNC_RIVER_CHILD_WHEN"

// killCase is one kill of TestWorkerKilled.
type killCase struct {
	p         killPoint
	db        string
	opts      nodeOpts
	s         *node                      // submits the run; works nothing
	l1        *riverqueue.Client[pgx.Tx] // River's leader until the rescue
	r         *resync.Run
	cmd       *exec.Cmd // the worker process
	lines     *bufio.Scanner
	killed    time.Time             // by this process's clock
	killedDB  time.Time             // by the database's
	attempted time.Time             // when the killed worker took the job
	w         *resynctest.Connector // the rescuing worker's
}

// submitKill submits a run on database db, of the kill's own.
func submitKill(t *testing.T, p killPoint, db string) *killCase {
	k := &killCase{p: p, db: db}
	k.opts = nodeOpts{jobTimeout: crashJobTimeout, rescueAfter: crashRescueAfter, conns: func(n *node) { crashConn(n, 0) }}
	k.s = newNode(t, k.db, k.opts)
	k.l1 = leader(t, k.s, "leader-1")
	k.r = k.s.start()
	return k
}

// startWorker starts a worker process for the run, which goes to k.p's
// point.
func (k *killCase) startWorker(t *testing.T) {
	k.cmd = exec.Command(os.Args[0], "-test.run=^TestWorkerKilled$", "-test.v")
	k.cmd.Env = append(os.Environ(), childEnv+"="+k.db, childWhenEnv+"="+k.p.when)
	out, err := k.cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, k.cmd.Start())
	t.Cleanup(func() { _ = k.cmd.Process.Kill(); _ = k.cmd.Wait() })
	k.lines = bufio.NewScanner(out)
}

// kill waits for the worker process to get to its point, and kills it.
func (k *killCase) kill(t *testing.T) {
	there, last := false, ""
	for k.lines.Scan() {
		last = strings.TrimSpace(k.lines.Text())
		if last == k.p.line {
			there = true
			break
		}
	}
	require.True(t, there, "%s: the worker process got to %q (last line %q)", k.p.when, k.p.line, last)
	require.NoError(t, k.cmd.Process.Kill())
	k.killed = time.Now()
	pool := k.s.store.Pool()
	require.NoError(t, pool.QueryRow(context.Background(), `SELECT now()`).Scan(&k.killedDB))
	_ = k.cmd.Wait()
	require.Equal(t, map[string]int{"running": 1}, jobs(t, k.s, "okta1"), "%s: the killed worker's job", k.p.when)
	require.NoError(t, pool.QueryRow(context.Background(),
		`SELECT attempted_at FROM resync_river.river_job WHERE kind = 'resync_read'`).Scan(&k.attempted))
	if k.p.when == "during-submit" {
		// The killed submit stored nothing: no run without its jobs.
		var runs, counters int
		require.NoError(t, pool.QueryRow(context.Background(), `SELECT count(*) FROM resync.runs`).Scan(&runs))
		require.NoError(t, pool.QueryRow(context.Background(), `SELECT count(*) FROM resync_river.resync_runs`).Scan(&counters))
		require.Equal(t, 1, runs, "only the run submitted before")
		require.Equal(t, 1, counters)
	}
}

// rescue starts another worker and, once the job is overdue, makes it
// River's leader, which rescues the job.
func (k *killCase) rescue(t *testing.T) {
	opts := k.opts
	opts.workers, opts.conns = 2, func(n *node) { k.w = crashConn(n, 0) }
	newNode(t, k.db, opts)
	// River's rescuer looks every 30 s on the leader, and once when a
	// leader is elected: a new leader once the job is overdue makes the
	// test take seconds rather than half a minute.
	eventually(t, "the job overdue", func() bool {
		var overdue bool
		_ = k.s.store.Pool().QueryRow(context.Background(), `SELECT now() > $1::timestamptz + $2::interval`,
			k.attempted, crashRescueAfter.String()).Scan(&overdue)
		return overdue
	})
	// The worker node is elected when leader-1 resigns, and rescues.
	stopClient(t, k.l1)
}

// check waits for the run, and checks it completed with each record
// applied once, the job taken over by the other worker.
func (k *killCase) check(t *testing.T) {
	info := wait(t, k.r)
	completed := info.FinishedAt.Sub(k.killed) // by the rescuing worker's clock, this machine's
	require.Equal(t, resync.RunSucceeded, info.Status)
	res := result(t, info, "okta1")
	if k.p.applied {
		// The retry found the records the killed attempt had applied.
		require.Equal(t, crashPages*10, res.Unchanged)
	} else {
		require.Equal(t, crashPages*10, res.Added)
	}
	require.Equal(t, 1, res.Reads)
	require.Equal(t, 1, k.w.Reads())
	ch, err := k.s.store.Changes(context.Background(), resync.ChangeQuery{Tenant: "t1", Limit: 10000})
	require.NoError(t, err)
	require.Len(t, ch, crashPages*10, "each record added once")
	var attempt int
	settledJobs(t, k.s, "okta1")
	var by []string
	var rescued, retried time.Time
	require.NoError(t, k.s.store.Pool().QueryRow(context.Background(),
		`SELECT attempt, attempted_by, (errors[1]->>'at')::timestamptz, attempted_at FROM resync_river.river_job
		WHERE kind = 'resync_read' AND state = 'completed'`).Scan(&attempt, &by, &rescued, &retried))
	require.Equal(t, 2, attempt, "the killed attempt and the rescued one")
	require.Len(t, by, 2)
	require.NotEqual(t, by[0], by[1], "another worker took the job over")
	ms := func(d time.Duration) time.Duration { return d.Round(10 * time.Millisecond) }
	t.Logf("%s: job started %s before the kill; rescued %s after the kill (%s after the job started; RescueAfter %s), retried %s after the kill, run completed %s after it",
		k.p.when, ms(k.killedDB.Sub(k.attempted)), ms(rescued.Sub(k.killedDB)), ms(rescued.Sub(k.attempted)), crashRescueAfter,
		ms(retried.Sub(k.killedDB)), ms(completed))
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
				case when == "mid-read" && page == 5:
					hang("page 5") // held there: the other kills may come first
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
		opts.tracer = hangOn{"SET done = true", "completing"}
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
