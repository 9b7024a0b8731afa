package postgres_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openresync/resync"
	"github.com/openresync/resync/resynctest"
	"github.com/openresync/resync/stores/postgres"
)

// outboxCrashURLEnv, when set, is the database URL of the outbox crash
// child.
const outboxCrashURLEnv = "RESYNC_PG_OUTBOX_CRASH_URL"

func outboxAdmins(tenants ...string) resynctest.Admins {
	a := resynctest.Admins{}
	for _, t := range tenants {
		a[t] = []resync.Principal{admin, {ID: "ops", Email: "ops@example.com"}}
	}
	return a
}

// stallingNotifier is the crash child's Notifier: it delivers "started"
// notices (telling its parent) and hangs on every other notification, so
// the process dies with the run's completion stored and not delivered.
type stallingNotifier struct{}

func (stallingNotifier) Notify(ctx context.Context, n resync.Notification) error {
	if n.Kind == resync.NotifyRunStarted {
		fmt.Printf("DELIVERED %s\n", n.ID)
		return nil
	}
	fmt.Printf("STALLED %s\n", n.ID)
	select {} // until the kill
}

func smallSource(tenants ...string) (*resynctest.Source, *resynctest.Fakes) {
	src := resynctest.NewSource()
	fakes := resynctest.NewFakes()
	for _, t := range tenants {
		src.AddTenant(t)
		src.Add(resync.Connection{ID: "okta", Tenant: t, Provider: "fake", Type: resync.IdP, Name: "Okta"})
		fakes.Set(t, "okta", resynctest.NewConnector(resynctest.Identities("u", 20), 0))
	}
	return src, fakes
}

// TestOutboxCrashHelper is the child process of TestOutboxCrash; it does
// nothing in a normal run.
func TestOutboxCrashHelper(t *testing.T) {
	url := os.Getenv(outboxCrashURLEnv)
	if url == "" {
		t.Skip("the child process of TestOutboxCrash")
	}
	ctx := context.Background()
	s, err := postgres.Open(ctx, url, postgres.Config{})
	require.NoError(t, err)
	src, fakes := smallSource("acme")
	e, err := resync.New(ctx, resync.Config{
		Store: s, Connections: src, Connectors: fakes.Factories("fake"), Authorizer: resynctest.AllowAll,
		Directory: outboxAdmins("acme"), Notifier: stallingNotifier{}, InstanceID: "outbox-child", LeaseTTL: time.Second,
	})
	require.NoError(t, err)
	run, err := e.ResyncPersonnel(ctx, "acme", admin)
	require.NoError(t, err)
	fmt.Printf("RUN %s\n", run.ID())
	<-run.Done()
	fmt.Println("DONE")
	select {} // until the kill
}

// receiver is a notification receiver that honours Notification.ID: it
// keeps the first delivery of each ID and counts the others (and who
// delivered them).
type receiver struct {
	mu    sync.Mutex
	got   map[string]resync.Notification
	by    map[string][]string // ID -> the engines that delivered it
	ready chan struct{}       // closed when want IDs are received
	want  int
}

func newReceiver(want int) *receiver {
	return &receiver{got: map[string]resync.Notification{}, by: map[string][]string{}, ready: make(chan struct{}), want: want}
}

func (r *receiver) from(engine string) resync.Notifier {
	return notifyFunc(func(ctx context.Context, n resync.Notification) error {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.by[n.ID] = append(r.by[n.ID], engine)
		if _, ok := r.got[n.ID]; ok {
			return nil
		}
		r.got[n.ID] = n
		if len(r.got) == r.want {
			close(r.ready)
		}
		return nil
	})
}

func (r *receiver) wait(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case <-r.ready:
	case <-time.After(d):
		r.mu.Lock()
		defer r.mu.Unlock()
		t.Fatalf("the receiver has %d of %d notifications after %s", len(r.got), r.want, d)
	}
}

type notifyFunc func(context.Context, resync.Notification) error

func (f notifyFunc) Notify(ctx context.Context, n resync.Notification) error { return f(ctx, n) }

// TestOutboxCrash kills a process (kill -9) after its run completed and
// before the completion's notifications were delivered, then starts an
// engine on the database: every notification of the run is delivered, and
// none twice.
func TestOutboxCrash(t *testing.T) {
	s, dbURL := openStore(t, postgres.Config{})
	ctx := context.Background()
	cmd := exec.Command(os.Args[0], "-test.run=^TestOutboxCrashHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), outboxCrashURLEnv+"="+dbURL)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	recv := newReceiver(3) // started in-product; completed in-product and by email
	child := recv.from("child")
	var runID string
	done, stalled := false, false
	sc := bufio.NewScanner(stdout)
	for !done || !stalled {
		require.True(t, sc.Scan(), "the child ended before its run's completion was stored: %v", sc.Err())
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "RUN "):
			runID = strings.TrimPrefix(line, "RUN ")
		case strings.HasPrefix(line, "DELIVERED "):
			require.NoError(t, child.Notify(ctx, resync.Notification{ID: strings.TrimPrefix(line, "DELIVERED "), Kind: resync.NotifyRunStarted}))
		case line == "DONE":
			done = true
		case strings.HasPrefix(line, "STALLED "):
			stalled = true
		}
	}
	require.NoError(t, cmd.Process.Kill())
	_ = cmd.Wait()
	require.NotEmpty(t, runID)
	stored, err := s.GetRun(ctx, "acme", runID)
	require.NoError(t, err)
	require.Equal(t, resync.RunSucceeded, stored.Status, "the run completed before the kill")
	recv.mu.Lock()
	require.Len(t, recv.got, 1, "only the started notice was delivered before the kill")
	recv.mu.Unlock()

	// A new engine delivers the rest once the dead process's claim (two
	// of its 1s LeaseTTL, by the database clock) has expired.
	src, fakes := smallSource("acme")
	e, err := resync.New(ctx, resync.Config{
		Store: s, Connections: src, Connectors: fakes.Factories("fake"), Authorizer: resynctest.AllowAll,
		Directory: outboxAdmins("acme"), Notifier: recv.from("restarted"), InstanceID: "restarted",
		LeaseTTL: time.Second, LeasePoll: 50 * time.Millisecond,
	})
	require.NoError(t, err)
	defer func() { assert.NoError(t, e.Close(ctx)) }()
	recv.wait(t, 30*time.Second)
	recv.mu.Lock()
	defer recv.mu.Unlock()
	kinds := map[string]bool{}
	for id, n := range recv.got {
		assert.True(t, strings.HasPrefix(id, runID+"/"), "notification %q is about run %s", id, runID)
		assert.Len(t, recv.by[id], 1, "notification %q delivered by %v", id, recv.by[id])
		if n.Kind != resync.NotifyRunStarted {
			assert.Equal(t, resync.RunSucceeded, n.Run.Status, "the completion carries the run's final state")
			assert.GreaterOrEqual(t, n.Attempt, 2, "claimed by the dead process, again after the restart")
		}
		kinds[string(n.Kind)+"/"+string(n.Channel)] = true
	}
	assert.True(t, kinds["run_completed/in_app"] && kinds["run_completed/email"], "got %v", kinds)
}

// TestOutboxThreeEngines: three engines on one database, each starting
// runs of its own tenants, deliver every notification of every run once:
// claims with FOR UPDATE SKIP LOCKED give each to one engine.
func TestOutboxThreeEngines(t *testing.T) {
	s0, dbURL := openStore(t, postgres.Config{})
	_ = s0
	ctx := context.Background()
	var tenants []string
	for i := range 9 {
		tenants = append(tenants, fmt.Sprintf("t%d", i))
	}
	src, fakes := smallSource(tenants...)
	recv := newReceiver(3 * len(tenants))
	var engines []*resync.Engine
	for i := range 3 {
		s, err := postgres.Open(ctx, dbURL, postgres.Config{})
		require.NoError(t, err)
		t.Cleanup(s.Close)
		name := fmt.Sprintf("engine-%d", i)
		e, err := resync.New(ctx, resync.Config{
			Store: s, Connections: src, Connectors: fakes.Factories("fake"), Authorizer: resynctest.AllowAll,
			Directory: outboxAdmins(tenants...), Notifier: recv.from(name), InstanceID: name,
			LeaseTTL: 5 * time.Second, LeasePoll: 2 * time.Millisecond, MinReadInterval: -1,
		})
		require.NoError(t, err)
		engines = append(engines, e)
	}
	var runs []*resync.Run
	for i, tenant := range tenants {
		r, err := engines[i%3].ResyncPersonnel(ctx, tenant, admin)
		require.NoError(t, err)
		runs = append(runs, r)
	}
	for _, r := range runs {
		info, err := r.Wait(ctx)
		require.NoError(t, err)
		require.Equal(t, resync.RunSucceeded, info.Status)
	}
	recv.wait(t, time.Minute)
	for _, e := range engines {
		require.NoError(t, e.Close(ctx))
	}
	recv.mu.Lock()
	defer recv.mu.Unlock()
	perEngine := map[string]int{}
	for id, by := range recv.by {
		assert.Len(t, by, 1, "notification %q delivered by %v", id, by)
		perEngine[by[0]]++
	}
	assert.Len(t, recv.got, 3*len(tenants))
	t.Logf("deliveries per engine: %v", perEngine)
}

// EnqueueTx stores notifications in the caller's transaction: with it
// when it commits, once however often they are enqueued; not at all when
// it rolls back; a bad notification is an error that stores nothing.
func TestEnqueueTx(t *testing.T) {
	s, _ := openStore(t, postgres.Config{})
	ctx := context.Background()
	run := resync.RunInfo{ID: "r1", Tenant: "acme", Status: resync.RunRunning, Initiator: admin}
	note := func(id string) resync.Notification {
		return resync.Notification{ID: id, Kind: resync.NotifyRunStarted, Channel: resync.ChannelInApp, Tenant: "acme",
			Recipients: []resync.Principal{admin}, Run: run, At: time.Now()}
	}
	count := func() int {
		var n int
		require.NoError(t, s.Pool().QueryRow(ctx, `SELECT count(*) FROM resync.outbox`).Scan(&n))
		return n
	}
	// Rolled back: nothing.
	tx, err := s.Pool().Begin(ctx)
	require.NoError(t, err)
	enqueued := s.EnqueueTx(ctx, tx, []resync.Notification{note("n1")})
	require.NoError(t, tx.Rollback(ctx))
	require.NoError(t, enqueued)
	require.Zero(t, count())

	// Committed, twice: once.
	for range 2 {
		tx, err := s.Pool().Begin(ctx)
		require.NoError(t, err)
		enqueued := s.EnqueueTx(ctx, tx, []resync.Notification{note("n1"), note("n2")})
		require.NoError(t, tx.Commit(ctx))
		require.NoError(t, enqueued)
	}
	require.Equal(t, 2, count())

	// An ID PostgreSQL cannot hold: an error, nothing of the batch stored.
	tx, err = s.Pool().Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(ctx) }() // a failed check must not leave the pool busy
	err = s.EnqueueTx(ctx, tx, []resync.Notification{note("n3"), note("n\x00")})
	require.ErrorIs(t, err, resync.ErrInvalidRequest)
	require.NoError(t, tx.Commit(ctx))
	require.Equal(t, 2, count())
	require.NoError(t, s.EnqueueTx(ctx, nil, nil), "nothing to enqueue needs no transaction")
}
