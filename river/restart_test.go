package river_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/openresync/resync"
	"github.com/openresync/resync/internal/pgserver"
	"github.com/openresync/resync/resynctest"
)

// PostgreSQL restarted while a read is under way: the read meets a dead
// server and fails as a whole, applying nothing; River retries its job
// once the server is back, and the run completes, each record applied
// once, every job completed. The test runs a server of its own, so that
// restarting it disturbs no other package's tests.
func TestPostgresRestartMidRun(t *testing.T) {
	srv := pgserver.Private(t)
	began := make(chan struct{})
	var once sync.Once
	var okta *resynctest.Connector
	failed := &failWatch{failed: make(chan struct{})}
	opts := nodeOpts{
		workers: 3, jobTimeout: crashJobTimeout, rescueAfter: crashRescueAfter,
		conns: func(n *node) {
			okta = n.conn("okta1", resync.IdP, "okta", resynctest.Identities("u", 200), 10)
			okta.OnRead(func(int) { once.Do(func() { close(began) }) })
			okta.Block()
			n.conn("gh1", resync.VersionControl, "github", resynctest.Identities("g", 20), 10)
			n.conn("aws1", resync.Infrastructure, "aws", resynctest.Identities("a", 20), 10)
		},
		wrapStore: func(s resync.Store) resync.Store { failed.Store = s; return failed },
	}
	w := newNode(t, srv.URL, opts)
	r := w.start()
	<-began

	// The server goes down while okta1's read is held on its first page;
	// released, the read meets the dead server.
	srv.Stop(t)
	down := time.Now()
	restarted := false
	defer func() {
		if !restarted {
			srv.Start(t)
		}
	}()
	okta.Unblock()
	select {
	case <-failed.failed:
	case <-time.After(20 * time.Second):
		t.Fatal("the read did not meet the dead server")
	}
	srv.Start(t)
	restarted = true
	up := time.Now()

	info := wait(t, r)
	completed := time.Since(up)
	require.Equal(t, resync.RunSucceeded, info.Status, "%+v", info.Connections)
	res := result(t, info, "okta1")
	require.Equal(t, 200, res.Added, "nothing of the failed attempt was applied")
	require.Equal(t, 1, res.Reads)
	ch, err := w.store.Changes(context.Background(), resync.ChangeQuery{Tenant: "t1", Limit: 10000})
	require.NoError(t, err)
	require.Len(t, ch, 240, "each record added once")
	for _, c := range []string{"okta1", "gh1", "aws1"} {
		require.Equal(t, map[string]int{"completed": 1}, settledJobs(t, w, c), c)
	}
	var attempt int
	require.NoError(t, w.store.Pool().QueryRow(context.Background(),
		`SELECT attempt FROM resync_river.river_job WHERE kind = 'resync_read' AND args->>'connection' = 'okta1'`).Scan(&attempt))
	require.GreaterOrEqual(t, attempt, 2, "okta1's job was tried again")
	var live int
	require.NoError(t, w.store.Pool().QueryRow(context.Background(),
		`SELECT count(*) FROM resync_river.resync_runs WHERE NOT done`).Scan(&live))
	require.Zero(t, live, "no run left running")

	// The same processes go on.
	next := wait(t, w.start())
	require.Equal(t, resync.RunSucceeded, next.Status)
	t.Logf("server down for %s; the run completed %s after it was back, okta1's job in %d attempts",
		up.Sub(down).Round(10*time.Millisecond), completed.Round(10*time.Millisecond), attempt)
}

// failWatch is the engine's store, telling when a read first failed on it.
type failWatch struct {
	resync.Store
	once   sync.Once
	failed chan struct{}
}

func (s *failWatch) fail(err error) error {
	if err != nil {
		s.once.Do(func() { close(s.failed) })
	}
	return err
}

func (s *failWatch) Snapshot(ctx context.Context, tenant, conn string, fn func(resync.RecordKind, string, uint64, uint64) error) (int64, error) {
	v, err := s.Store.Snapshot(ctx, tenant, conn, fn)
	return v, s.fail(err)
}

func (s *failWatch) Apply(ctx context.Context, cs *resync.ChangeSet) error {
	return s.fail(s.Store.Apply(ctx, cs))
}

func (s *failWatch) AcquireLease(ctx context.Context, name, owner string, ttl time.Duration) (bool, error) {
	ok, err := s.Store.AcquireLease(ctx, name, owner, ttl)
	return ok, s.fail(err)
}
