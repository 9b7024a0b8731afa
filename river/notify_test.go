package river_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/openresync/resync"
	"github.com/openresync/resync/resynctest"
)

// Runs on River send the engine's notifications through the outbox: the
// "started" ones stored with the run by the process that submits it, the
// "completed" ones with the run's end by the worker that completes it,
// each delivered once though three worker engines deliver from the one
// outbox. That worker calls Config.AfterRun once per run, before the
// run's final state is stored.
func TestNotificationsAndAfterRunOnRiver(t *testing.T) {
	db := freshDB(t)
	notifier := &resynctest.Notifier{}
	var mu sync.Mutex
	after := map[string]int{}                   // run ID → AfterRun calls
	storedThen := map[string]resync.RunStatus{} // the stored status while AfterRun ran
	var nodes []*node
	afterRun := func(ctx context.Context, run *resync.RunInfo) error {
		stored, err := nodes[0].store.GetRun(ctx, run.Tenant, run.ID)
		require.NoError(t, err)
		mu.Lock()
		defer mu.Unlock()
		after[run.ID]++
		storedThen[run.ID] = stored.Status
		run.Findings = map[string]int{"orphan": 1}
		return nil
	}
	conns := func(n *node) {
		n.conn("okta1", resync.IdP, "okta", resynctest.Identities("u", 30), 10)
		n.conn("gh1", resync.VersionControl, "github", resynctest.Identities("g", 20), 10)
		n.conn("aws1", resync.Infrastructure, "aws", resynctest.Identities("a", 20), 10)
	}
	for range 3 {
		nodes = append(nodes, newNode(t, db, nodeOpts{workers: 2, conns: conns, notifier: notifier, afterRun: afterRun}))
	}
	// Three runs at once, one submitted by each node: their reads are
	// shared or follow each other, and any worker may end any run.
	var runs []*resync.Run
	for _, n := range nodes {
		runs = append(runs, n.start())
	}
	ids := map[string]bool{}
	for _, r := range runs {
		info := wait(t, r)
		require.Equal(t, resync.RunSucceeded, info.Status)
		require.Equal(t, map[string]int{"orphan": 1}, info.Findings, "what AfterRun found is stored with the run")
		ids[info.ID] = true
	}
	require.Len(t, ids, 3)

	mu.Lock()
	require.Len(t, after, 3)
	for id := range ids {
		require.Equal(t, 1, after[id], "AfterRun once for run %s", id)
		require.Equal(t, resync.RunRunning, storedThen[id], "AfterRun ran before run %s's end was stored", id)
	}
	mu.Unlock()

	// Per run: "started" in-app to alice, "completed" in-app to alice and
	// by email to the admins (alice).
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := notifier.WaitFor(ctx, 9)
	require.NoError(t, err)
	eventually(t, "the outbox delivered", func() bool {
		var pending int
		require.NoError(t, nodes[0].store.Pool().QueryRow(context.Background(),
			`SELECT count(*) FROM resync.outbox WHERE state = 'pending'`).Scan(&pending))
		return pending == 0
	})
	got := notifier.Notifications()
	byKey := map[string]int{}
	for _, n := range got {
		require.True(t, ids[n.Run.ID], "a notification of run %s", n.Run.ID)
		byKey[n.Run.ID+" "+string(n.Kind)+" "+string(n.Channel)]++
		if n.Kind == resync.NotifyRunCompleted {
			require.Equal(t, resync.RunSucceeded, n.Run.Status)
			require.Equal(t, map[string]int{"orphan": 1}, n.Run.Findings, "the completion notice tells what AfterRun found")
		}
	}
	for id := range ids {
		require.Equal(t, 1, byKey[id+" run_started in_app"], "run %s started: %v", id, byKey)
		require.Equal(t, 1, byKey[id+" run_completed in_app"], "run %s completed in-app: %v", id, byKey)
		require.Equal(t, 1, byKey[id+" run_completed email"], "run %s completed by email: %v", id, byKey)
	}
	require.Len(t, got, 9, "each notification delivered once")
	var stored int
	require.NoError(t, nodes[0].store.Pool().QueryRow(context.Background(), `SELECT count(*) FROM resync.outbox`).Scan(&stored))
	require.Equal(t, 9, stored, "each notification stored once")
}

// A run canceled on River ends through the engine too: AfterRun is
// called, and its requesters hear of the end.
func TestCancelNotifiesAndCallsAfterRun(t *testing.T) {
	db := freshDB(t)
	notifier := &resynctest.Notifier{}
	var mu sync.Mutex
	var after []resync.RunInfo
	var open []int
	var queries string
	var s *node
	s = newNode(t, db, nodeOpts{
		conns:    func(n *node) { n.conn("okta1", resync.IdP, "okta", resynctest.Identities("u", 30), 10) },
		notifier: notifier,
		afterRun: func(ctx context.Context, run *resync.RunInfo) error {
			n, q, err := openTxs(ctx, s)
			mu.Lock()
			defer mu.Unlock()
			after = append(after, *run)
			open, queries = append(open, n), queries+q
			return err
		},
	})
	r := s.start() // no worker: the read stays pending
	require.NoError(t, s.e.Cancel(context.Background(), "t1", r.ID(), alice))
	info := wait(t, r)
	require.Equal(t, resync.RunCanceled, info.Status)
	mu.Lock()
	require.Len(t, after, 1)
	require.Equal(t, resync.RunCanceled, after[0].Status)
	require.Equal(t, []int{0}, open, "no transaction of the executor open while AfterRun ran: %s", queries)
	mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	got, err := notifier.WaitFor(ctx, 3)
	require.NoError(t, err)
	kinds := map[resync.NotificationKind]int{}
	for _, n := range got {
		kinds[n.Kind]++
	}
	require.Equal(t, map[resync.NotificationKind]int{resync.NotifyRunStarted: 1, resync.NotifyRunCompleted: 2}, kinds)
}

// AfterRun runs with no transaction of the worker ending the run open
// (which would hold one of the store's pool's connections while AfterRun
// needs another): workers ending runs at once cannot leave AfterRun
// without a connection.
func TestAfterRunHoldsNoTransaction(t *testing.T) {
	db := freshDB(t)
	var mu sync.Mutex
	var seen []resync.RunStatus
	var open []int
	var queries string
	var self *node
	self = newNode(t, db, nodeOpts{
		workers: 2,
		conns: func(n *node) {
			n.conn("okta1", resync.IdP, "okta", resynctest.Identities("u", 30), 10)
			n.conn("gh1", resync.VersionControl, "github", resynctest.Identities("g", 20), 10)
		},
		afterRun: func(ctx context.Context, run *resync.RunInfo) error {
			stored, err := self.store.GetRun(ctx, run.Tenant, run.ID)
			if err != nil {
				return err
			}
			n, q, err := openTxs(ctx, self)
			if err != nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			seen = append(seen, stored.Status)
			open, queries = append(open, n), queries+q
			return nil
		},
	})
	info := wait(t, self.start())
	require.Equal(t, resync.RunSucceeded, info.Status)
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, []resync.RunStatus{resync.RunRunning}, seen, "AfterRun read the run before its end was stored")
	require.Equal(t, []int{0}, open, "no transaction of the executor open while AfterRun ran: %s", queries)
}

// openTxs counts the executor's transactions open and waiting on n's
// database (River's own, on its river_* tables, are not the executor's),
// and returns their last statements.
func openTxs(ctx context.Context, n *node) (int, string, error) {
	var c int
	var queries string
	err := n.store.Pool().QueryRow(ctx, `SELECT count(*), coalesce(string_agg(query, ' | '), '') FROM pg_stat_activity
		WHERE datname = current_database() AND state = 'idle in transaction' AND query LIKE '%resync_%'
		AND query NOT LIKE '%river\_%'`).Scan(&c, &queries)
	return c, queries, err
}

// brokenDirectory cannot list admins.
type brokenDirectory struct{}

func (brokenDirectory) Admins(context.Context, string) ([]resync.Principal, error) {
	return nil, errors.New("directory down")
}

// When the tenant's admins cannot be listed at a run's end, the run says
// so (RunInfo.NotifyErrors) and its requester still hears of the end.
func TestEndWithoutAdminsIsRecorded(t *testing.T) {
	db := freshDB(t)
	notifier := &resynctest.Notifier{}
	w := newNode(t, db, nodeOpts{
		workers: 2, notifier: notifier, directory: brokenDirectory{},
		conns: func(n *node) { n.conn("okta1", resync.IdP, "okta", resynctest.Identities("u", 30), 10) },
	})
	info := wait(t, w.start())
	require.Equal(t, resync.RunSucceeded, info.Status)
	require.Len(t, info.NotifyErrors, 1)
	require.Contains(t, info.NotifyErrors[0], "directory down")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	got, err := notifier.WaitFor(ctx, 2)
	require.NoError(t, err)
	require.Equal(t, resync.NotifyRunStarted, got[0].Kind)
	require.Equal(t, resync.NotifyRunCompleted, got[1].Kind)
	require.Equal(t, resync.ChannelInApp, got[1].Channel, "in-app to the requester; no email without admins")
}
