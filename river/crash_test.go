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

// A worker process killed (SIGKILL) mid-read: River's rescuer hands its
// job to another worker after RescueAfter, which reads the connection
// again once the dead worker's read lease has expired; the run completes
// and nothing is applied twice.
func TestWorkerKilled(t *testing.T) {
	if u := os.Getenv(childEnv); u != "" {
		workerChild(t, u, os.Getenv(childWhenEnv))
		return
	}
	for _, when := range []string{"mid-read", "after-apply"} {
		t.Run(when, func(t *testing.T) { testWorkerKilled(t, when) })
	}
}

// childWhenEnv tells the worker process when to wait to be killed:
// "mid-read" (after 5 pages) or "after-apply" (its changes committed, its
// job not completed).
const childWhenEnv = "RESYNC_RIVER_CHILD_WHEN"

func testWorkerKilled(t *testing.T, when string) {
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
	sc := bufio.NewScanner(out)
	pages, applied := 0, false
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "applied" {
			applied = true
			break
		}
		if _, err := fmt.Sscanf(line, "page %d", &pages); err == nil && pages >= 5 && when == "mid-read" {
			break
		}
	}
	if when == "mid-read" {
		require.GreaterOrEqual(t, pages, 5, "the worker process read 5 pages")
	} else {
		require.True(t, applied, "the worker process applied its changes")
	}
	require.NoError(t, cmd.Process.Kill())
	killed := time.Now()
	_ = cmd.Wait()
	require.Equal(t, map[string]int{"running": 1}, jobs(t, s, "okta1"))

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
	rescued := time.Since(killed)
	require.Equal(t, resync.RunSucceeded, info.Status)
	res := result(t, info, "okta1")
	if when == "mid-read" {
		require.Equal(t, crashPages*10, res.Added)
	} else {
		// The retry found the records the killed attempt had applied.
		require.Equal(t, crashPages*10, res.Unchanged)
	}
	require.Equal(t, 1, res.Reads)
	require.Equal(t, 1, w.Reads())
	ch, err := s.store.Changes(context.Background(), resync.ChangeQuery{Tenant: "t1", Limit: 10000})
	require.NoError(t, err)
	require.Len(t, ch, crashPages*10, "each record added once")
	var attempt int
	settledJobs(t, s, "okta1")
	require.NoError(t, s.store.Pool().QueryRow(context.Background(),
		`SELECT attempt FROM resync_river.river_job WHERE kind = 'resync_read' AND state = 'completed'`).Scan(&attempt))
	require.Equal(t, 2, attempt, "the killed attempt and the rescued one")
	t.Logf("%s: killed after %d pages; run completed %s after the kill (job started %s before the kill)",
		when, pages, rescued.Round(100*time.Millisecond), killed.Sub(attempted).Round(10*time.Millisecond))
}

// workerChild is the worker process of TestWorkerKilled: it reads
// slowly, printing each page, and "applied" once its changes are
// committed, until it is killed.
func workerChild(t *testing.T, dbURL, when string) {
	newNode(t, dbURL, nodeOpts{
		workers: 2, jobTimeout: crashJobTimeout, rescueAfter: crashRescueAfter,
		conns: func(n *node) {
			c := crashConn(n, 5*time.Millisecond)
			c.OnRead(func(page int) { fmt.Printf("page %d\n", page) })
		},
		wrapStore: func(s resync.Store) resync.Store {
			if when != "after-apply" {
				return s
			}
			return applyThenHang{s}
		},
	})
	time.Sleep(time.Minute) // killed long before
	t.Fatal("the worker process was not killed")
}

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
