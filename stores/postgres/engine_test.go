package postgres_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openresync/resync"
	"github.com/openresync/resync/internal/pgserver"
	"github.com/openresync/resync/resynctest"
	"github.com/openresync/resync/stores/postgres"
)

var admin = resync.Principal{ID: "admin", Email: "admin@example.com"}

// newEngine starts an engine on store for the source's connections, all of
// provider "fake", and closes it when the test ends.
func newEngine(t *testing.T, store resync.Store, src *resynctest.Source, factory resync.ConnectorFactory, instance string, ttl time.Duration) *resync.Engine {
	t.Helper()
	e, err := resync.New(context.Background(), resync.Config{
		Store: store, Connections: src, Connectors: map[string]resync.ConnectorFactory{"fake": factory},
		Authorizer: resynctest.AllowAll, InstanceID: instance, LeaseTTL: ttl, LeasePoll: 5 * time.Millisecond,
		Retry: resync.RetryPolicy{MaxAttempts: 1},
		// These tests read a connection again at once to see what changed.
		MinReadInterval: -1,
	})
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		assert.NoError(t, e.Close(ctx))
	})
	return e
}

func resyncAndWait(t *testing.T, e *resync.Engine, tenant string) resync.RunInfo {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	run, err := e.ResyncPersonnel(ctx, tenant, admin)
	require.NoError(t, err)
	info, err := run.Wait(ctx)
	require.NoError(t, err)
	return info
}

func liveCount(t *testing.T, s resync.Store, tenant, conn string) (int, int64) {
	t.Helper()
	n := 0
	v, err := s.Snapshot(context.Background(), tenant, conn, func(resync.RecordKind, string, uint64, uint64) error { n++; return nil })
	require.NoError(t, err)
	return n, v
}

// assertCleanLog checks that no change was logged twice and that each
// key's entries chain: every entry's previous fingerprint is the
// fingerprint the key had after the entry before it.
func assertCleanLog(t *testing.T, s resync.Store, tenant string) []resync.ChangeLogEntry {
	t.Helper()
	log, err := s.Changes(context.Background(), resync.ChangeQuery{Tenant: tenant})
	require.NoError(t, err)
	type k struct {
		cs, conn, key string
		kind          resync.RecordKind
	}
	seen := map[k]bool{}
	last := map[k]uint64{}
	for _, e := range log {
		id := k{e.ChangeSetID, e.ConnectionID, e.Key, e.Kind}
		require.False(t, seen[id], "change of %s %q logged twice in change set %q", e.Kind, e.Key, e.ChangeSetID)
		seen[id] = true
		rk := k{conn: e.ConnectionID, key: e.Key, kind: e.Kind}
		require.Equal(t, last[rk], e.PrevFingerprint, "entry %d (%s %q): previous fingerprint does not follow the entry before it", e.Seq, e.Op, e.Key)
		last[rk] = e.Fingerprint
	}
	return log
}

// ---- kill -9 during a 100k-record apply ----

const (
	crashURLEnv  = "RESYNC_PG_CRASH_URL"
	crashApp     = "resync_crash_child"
	crashRecords = 100_000
)

// announcingStore tells its parent process when Apply begins.
type announcingStore struct {
	*postgres.Store
	out io.Writer
}

func (s announcingStore) Apply(ctx context.Context, cs *resync.ChangeSet) error {
	fmt.Fprintf(s.out, "APPLYING %d\n", len(cs.Changes))
	return s.Store.Apply(ctx, cs)
}

func crashSource() *resynctest.Source {
	src := resynctest.NewSource()
	src.Add(resync.Connection{ID: "big", Tenant: "acme", Provider: "fake", Type: resync.IdP, Name: "Big IdP"})
	return src
}

// TestCrashHelper is the child process of TestCrashDuringApply; it does
// nothing in a normal run.
func TestCrashHelper(t *testing.T) {
	if os.Getenv(crashChildEnv) == "" {
		t.Skip("the child process of TestCrashDuringApply")
	}
	ctx := context.Background()
	s, err := postgres.Open(ctx, os.Getenv(crashURLEnv), postgres.Config{})
	require.NoError(t, err)
	fakes := resynctest.NewFakes()
	fakes.Set("acme", "big", resynctest.NewConnector(resynctest.Identities("p", crashRecords), 10_000))
	e, err := resync.New(ctx, resync.Config{
		Store: announcingStore{s, os.Stdout}, Connections: crashSource(),
		Connectors: fakes.Factories("fake"), Authorizer: resynctest.AllowAll,
		InstanceID: "crash-child", LeaseTTL: 2 * time.Second,
	})
	require.NoError(t, err)
	run, err := e.ResyncPersonnel(ctx, "acme", admin)
	require.NoError(t, err)
	fmt.Printf("RUN %s\n", run.ID())
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	info, _ := run.Wait(wctx)
	fmt.Printf("DONE %s\n", info.Status)
	<-wctx.Done() // wait to be killed
}

func TestCrashDuringApply(t *testing.T) {
	s, dbURL := openStore(t, postgres.Config{})
	ctx := context.Background()
	// A first, small apply, so the child's apply takes the staged path of a
	// connection that already has records.
	var seed []resync.Change
	for _, r := range resynctest.Identities("p", 10) {
		seed = append(seed, addChange(r))
	}
	require.NoError(t, s.Apply(ctx, &resync.ChangeSet{ID: "seed", Tenant: "acme", ConnectionID: "big", RunID: "seed", Changes: seed}))

	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashChildEnv+"=1", crashURLEnv+"="+dbURL+"&application_name="+crashApp)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	lines := make(chan string, 16)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	var runID string
	deadline := time.After(3 * time.Minute)
wait:
	for {
		select {
		case l, ok := <-lines:
			require.True(t, ok, "the child ended before applying")
			if id, ok := strings.CutPrefix(l, "RUN "); ok {
				runID = id
			}
			if strings.HasPrefix(l, "APPLYING") {
				break wait
			}
		case <-deadline:
			_ = cmd.Process.Kill()
			t.Fatal("the child did not begin applying within 3 minutes")
		}
	}
	require.NotEmpty(t, runID)
	// Kill as soon as the server shows the child's apply transaction
	// writing (COPY or the apply statement), or at once if it is over.
	var during bool
	for range 500 {
		var n int
		require.NoError(t, s.Pool().QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE application_name = $1 AND state = 'active' AND (query ILIKE 'copy%' OR query ILIKE 'with up%')`, crashApp).Scan(&n))
		if n > 0 {
			during = true
			break
		}
		time.Sleep(2 * time.Millisecond) // polling the server's state, not waiting for a timer
	}
	require.NoError(t, cmd.Process.Kill())
	_ = cmd.Wait()
	for range lines {
	}
	t.Logf("child killed with its apply in progress on the server: %v", during)
	// Wait for the server to notice the dead client and end its transaction.
	require.Eventually(t, func() bool {
		var n int
		_ = s.Pool().QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE application_name = $1`, crashApp).Scan(&n)
		return n == 0
	}, time.Minute, 10*time.Millisecond)

	// The snapshot is entirely before or entirely after the apply.
	live, version := liveCount(t, s, "acme", "big")
	switch version {
	case 1:
		assert.Equal(t, 10, live, "before the apply: the seed only")
	case 2:
		assert.Equal(t, crashRecords, live, "after the apply: every record")
	default:
		t.Fatalf("version %d after the crash", version)
	}
	log := assertCleanLog(t, s, "acme")
	assert.Len(t, log, 10+(live-10))
	t.Logf("after the kill: %d live records at version %d", live, version)

	stored, err := s.GetRun(ctx, "acme", runID)
	require.NoError(t, err)
	require.Equal(t, resync.RunRunning, stored.Status, "the child's run is left running by the crash")

	// Let the child's 2s instance lease lapse by the database clock without
	// waiting for it: move its expiry into the past.
	tag, err := s.Pool().Exec(ctx, `UPDATE resync.leases SET expires_at = now() - interval '1 second' WHERE name = $1`,
		"instance/"+strconv.Quote(stored.Owner))
	require.NoError(t, err)
	require.EqualValues(t, 1, tag.RowsAffected(), "the child held an instance lease named after its run's owner")
	fakes := resynctest.NewFakes()
	fakes.Set("acme", "big", resynctest.NewConnector(resynctest.Identities("p", crashRecords), 10_000))
	e := newEngine(t, s, crashSource(), fakes.Factory(), "recoverer", 30*time.Second)
	stored, err = s.GetRun(ctx, "acme", runID)
	require.NoError(t, err)
	assert.Equal(t, resync.RunInterrupted, stored.Status, "a new engine marks the dead instance's run interrupted")
	assert.False(t, stored.FinishedAt.IsZero())
	require.Len(t, stored.Connections, 1)
	assert.Equal(t, resync.ConnFailed, stored.Connections[0].Status)
	assert.Contains(t, stored.Connections[0].Error, "interrupted")

	info := resyncAndWait(t, e, "acme")
	require.Equal(t, resync.RunSucceeded, info.Status, "%v", info.Err())
	live, _ = liveCount(t, s, "acme", "big")
	assert.Equal(t, crashRecords, live, "the following resync completes the state")
	log = assertCleanLog(t, s, "acme")
	assert.Len(t, log, crashRecords, "each record's add is logged once, by whichever apply committed")
}

// ---- three engines, one database ----

// trackingFactory wraps fakes and records how many reads of each
// connection are open at once, from the factory call (made after the read
// lease is taken) to the connector's Close (after the read).
type trackingFactory struct {
	fakes  *resynctest.Fakes
	mu     sync.Mutex
	active map[string]int
	max    map[string]int
}

type trackedConnector struct {
	*resynctest.Connector
	f    *trackingFactory
	conn string
}

func (c *trackedConnector) Close() error {
	c.f.mu.Lock()
	defer c.f.mu.Unlock()
	c.f.active[c.conn]--
	return nil
}

func (f *trackingFactory) factory(ctx context.Context, conn resync.Connection) (resync.Connector, error) {
	c := f.fakes.Get(conn.Tenant, conn.ID)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.active[conn.ID]++
	f.max[conn.ID] = max(f.max[conn.ID], f.active[conn.ID])
	return &trackedConnector{Connector: c, f: f, conn: conn.ID}, nil
}

func staffRecords(n, version int) []resync.Record {
	recs := resynctest.Identities("u", n)
	for _, r := range recs {
		r.(*resync.Identity).Title = fmt.Sprint("title v", version)
	}
	return recs
}

func TestThreeEnginesOneDatabase(t *testing.T) {
	s0, dbURL := openStore(t, postgres.Config{})
	ctx := context.Background()
	src := resynctest.NewSource()
	conns := []string{"okta", "workday", "aws"}
	types := []resync.ConnectionType{resync.IdP, resync.HRIS, resync.Infrastructure}
	tf := &trackingFactory{fakes: resynctest.NewFakes(), active: map[string]int{}, max: map[string]int{}}
	for i, id := range conns {
		src.Add(resync.Connection{ID: id, Tenant: "acme", Provider: "fake", Type: types[i]})
		c := resynctest.NewConnector(staffRecords(200, 0), 40)
		c.SetLatency(3 * time.Millisecond)
		tf.fakes.Set("acme", id, c)
	}
	var engines []*resync.Engine
	for i := range 3 {
		s := s0
		if i > 0 {
			var err error
			s, err = postgres.Open(ctx, dbURL, postgres.Config{}) // a separate pool, as another replica has
			require.NoError(t, err)
			t.Cleanup(s.Close)
		}
		engines = append(engines, newEngine(t, s, src, tf.factory, fmt.Sprint("replica-", i), 10*time.Second))
	}

	// 100 requests in ten waves; the providers' data changes before each
	// wave, and each wave's requests race across the three engines.
	const requests, waves = 100, 10
	var wg sync.WaitGroup
	infos := make([]resync.RunInfo, requests)
	for i := range requests {
		if i%(requests/waves) == 0 {
			wg.Wait()
			for _, id := range conns {
				tf.fakes.Get("acme", id).SetRecords(staffRecords(200, i), 40)
			}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			wctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
			defer cancel()
			run, err := engines[i%3].ResyncPersonnel(wctx, "acme", admin)
			if !assert.NoError(t, err) {
				return
			}
			infos[i], err = run.Wait(wctx)
			assert.NoError(t, err)
		}()
	}
	wg.Wait()
	for i, info := range infos {
		assert.Equal(t, resync.RunSucceeded, info.Status, "request %d: %v", i, info.Err())
	}
	for _, id := range conns {
		assert.Equal(t, 1, tf.max[id], "connection %s was read by more than one engine at a time", id)
	}
	// A last resync reads the final data.
	final := resyncAndWait(t, engines[0], "acme")
	require.Equal(t, resync.RunSucceeded, final.Status)

	log := assertCleanLog(t, s0, "acme")
	sets := map[string]bool{}
	for _, e := range log {
		sets[e.ChangeSetID] = true
	}
	assert.GreaterOrEqual(t, len(sets), waves*len(conns), "the data changed before each wave, so each connection was applied once per wave at least")
	for _, id := range conns {
		recs, err := s0.Records(ctx, resync.RecordQuery{Tenant: "acme", ConnectionID: id})
		require.NoError(t, err)
		require.Len(t, recs, 200)
		want := tf.fakes.Get("acme", id)
		p, err := want.ReadPage(ctx, "")
		require.NoError(t, err)
		assert.Equal(t, p.Records[0].(*resync.Identity).Title, recs[0].Record.(*resync.Identity).Title, "the snapshot holds the providers' last data")
	}
}

// ---- database restarted during a run ----

// The server restarts while a read is held: the apply meets a dead server
// and the run fails cleanly, nothing applied; the same engine goes on once
// it is back. The test runs a server of its own, so that restarting it
// disturbs no other package's tests.
func TestDatabaseRestartDuringRun(t *testing.T) {
	srv := pgserver.Private(t)
	s, err := postgres.Open(context.Background(), srv.URL, postgres.Config{})
	require.NoError(t, err)
	t.Cleanup(s.Close)
	ctx := context.Background()
	src := resynctest.NewSource()
	src.Add(resync.Connection{ID: "okta", Tenant: "acme", Provider: "fake", Type: resync.IdP})
	fake := resynctest.NewConnector(staffRecords(500, 1), 100)
	fakes := resynctest.NewFakes()
	fakes.Set("acme", "okta", fake)
	e := newEngine(t, s, src, fakes.Factory(), "replica", 30*time.Second)

	first := resyncAndWait(t, e, "acme")
	require.Equal(t, resync.RunSucceeded, first.Status)
	_, version := liveCount(t, s, "acme", "okta")
	require.Equal(t, int64(1), version)

	// The next read blocks on its first page; the server goes down while
	// it is held, so the apply meets a dead server.
	fake.SetRecords(staffRecords(500, 2), 100)
	began := make(chan struct{})
	var once sync.Once
	fake.OnRead(func(page int) { once.Do(func() { close(began) }) })
	fake.Block()
	run, err := e.ResyncPersonnel(ctx, "acme", admin)
	require.NoError(t, err)
	<-began
	srv.Stop(t)
	restarted := false
	defer func() {
		if !restarted {
			srv.Start(t)
		}
	}()
	fake.Unblock()
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	failed, err := run.Wait(wctx)
	require.NoError(t, err)
	assert.Equal(t, resync.RunFailed, failed.Status)
	require.Len(t, failed.Connections, 1)
	assert.Contains(t, failed.Connections[0].Error, "applying")
	srv.Start(t)
	restarted = true

	// Nothing of the failed run was applied.
	_, version = liveCount(t, s, "acme", "okta")
	assert.Equal(t, int64(1), version)
	log, err := s.Changes(ctx, resync.ChangeQuery{Tenant: "acme", RunID: failed.ID})
	require.NoError(t, err)
	assert.Empty(t, log)
	recs, err := s.Records(ctx, resync.RecordQuery{Tenant: "acme", ConnectionID: "okta"})
	require.NoError(t, err)
	for _, r := range recs {
		require.Equal(t, "title v1", r.Record.(*resync.Identity).Title)
	}

	// The same engine and store go on once the server is back.
	fake.OnRead(nil)
	next := resyncAndWait(t, e, "acme")
	require.Equal(t, resync.RunSucceeded, next.Status, "%v", next.Err())
	recs, err = s.Records(ctx, resync.RecordQuery{Tenant: "acme", ConnectionID: "okta"})
	require.NoError(t, err)
	require.Len(t, recs, 500)
	for _, r := range recs {
		require.Equal(t, "title v2", r.Record.(*resync.Identity).Title)
	}
	assertCleanLog(t, s, "acme")
}
