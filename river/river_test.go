package river_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/openresync/resync"
	"github.com/openresync/resync/resynctest"
)

// A run on River: each connection read by a job, page retries inside the
// job (one attempt each), a permanent failure isolated to its connection,
// the run completed by its last job.
func TestRunOnRiver(t *testing.T) {
	db := freshDB(t)
	var gh *resynctest.Connector
	w := newNode(t, db, nodeOpts{workers: 4, conns: func(n *node) {
		n.conn("okta1", resync.IdP, "okta", resynctest.Identities("u", 30), 10)
		gh = n.conn("gh1", resync.VersionControl, "github", resynctest.Identities("g", 20), 10)
		gh.AddFault(resynctest.Fault{Page: 1, Times: 2})
		aws := n.conn("aws1", resync.Infrastructure, "aws", resynctest.Identities("a", 5), 10)
		aws.AddFault(resynctest.Fault{Page: 0, Err: resync.Permanent(errors.New("403 forbidden"))})
	}})
	info := wait(t, w.start())
	require.Equal(t, resync.RunPartial, info.Status)
	require.Equal(t, "executor", info.Owner)
	require.Equal(t, resync.ConnSucceeded, result(t, info, "okta1").Status)
	require.Equal(t, 30, result(t, info, "okta1").Added)
	g := result(t, info, "gh1")
	require.Equal(t, resync.ConnSucceeded, g.Status)
	require.Equal(t, 2, g.Pages)
	require.Equal(t, 4, g.Attempts, "page 2 retried twice inside the job")
	require.Equal(t, resync.ConnFailed, result(t, info, "aws1").Status)
	for _, c := range []string{"okta1", "gh1", "aws1"} {
		require.Equal(t, map[string]int{"completed": 1}, settledJobs(t, w, c), c)
	}
	var attempts int
	require.NoError(t, w.store.Pool().QueryRow(context.Background(),
		`SELECT max(attempt) FROM resync_river.river_job WHERE kind = 'resync_read'`).Scan(&attempts))
	require.Equal(t, 1, attempts, "no job retried by River")
	ch, err := w.store.Changes(context.Background(), resync.ChangeQuery{Tenant: "t1", Limit: 1000})
	require.NoError(t, err)
	require.Len(t, ch, 50)
}

// Runs requested before a read starts join its one job, from any process:
// one read serves them all.
func TestPendingReadIsJoined(t *testing.T) {
	db := freshDB(t)
	add := func(n *node) { n.conn("okta1", resync.IdP, "okta", resynctest.Identities("u", 30), 10) }
	s1 := newNode(t, db, nodeOpts{conns: add})
	s2 := newNode(t, db, nodeOpts{conns: add})
	r1, r2 := s1.start(), s2.start()
	require.NotEqual(t, r1.ID(), r2.ID())
	require.Equal(t, map[string]int{"available": 1}, jobs(t, s1, "okta1"))

	var c *resynctest.Connector
	newNode(t, db, nodeOpts{workers: 2, conns: func(n *node) {
		c = n.conn("okta1", resync.IdP, "okta", resynctest.Identities("u", 30), 10)
	}})
	i1, i2 := wait(t, r1), wait(t, r2)
	require.Equal(t, resync.RunSucceeded, i1.Status)
	require.Equal(t, resync.RunSucceeded, i2.Status)
	require.Equal(t, 1, c.Reads(), "one read for both runs")
	require.Equal(t, 30, result(t, i2, "okta1").Added)
}

// Requests during a read get exactly one follow-up read, which starts
// after the first ends.
func TestRequestsDuringReadGetOneFollowUp(t *testing.T) {
	db := freshDB(t)
	var c *resynctest.Connector
	reading := make(chan struct{}, 10)
	w := newNode(t, db, nodeOpts{workers: 4, conns: func(n *node) {
		c = n.conn("okta1", resync.IdP, "okta", resynctest.Identities("u", 30), 10)
		c.OnRead(func(page int) {
			if page == 0 {
				reading <- struct{}{}
			}
		})
		c.Block()
	}})
	add := func(n *node) { n.conn("okta1", resync.IdP, "okta", resynctest.Identities("u", 30), 10) }
	s1 := newNode(t, db, nodeOpts{conns: add})
	s2 := newNode(t, db, nodeOpts{conns: add})
	r0 := w.start()
	<-reading
	r1, r2 := s1.start(), s2.start()
	// The follow-up may be fetched meanwhile: it then snoozes, joinable.
	js := jobs(t, w, "okta1")
	require.Equal(t, 2, js["running"]+js["available"], "%v", js)
	c.Unblock()
	i0, i1, i2 := wait(t, r0), wait(t, r1), wait(t, r2)
	for _, i := range []resync.RunInfo{i0, i1, i2} {
		require.Equal(t, resync.RunSucceeded, i.Status)
	}
	require.Equal(t, 2, c.Reads(), "the read under way and one follow-up")
	require.Equal(t, map[string]int{"completed": 2}, settledJobs(t, w, "okta1"))
	require.False(t, result(t, i1, "okta1").StartedAt.Before(result(t, i0, "okta1").FinishedAt),
		"the follow-up starts after the first read ends")
}

// Cancel from another process marks the run canceled, cancels its job
// with River's job cancel, and applies nothing.
func TestCancelFromAnotherProcess(t *testing.T) {
	db := freshDB(t)
	var c *resynctest.Connector
	reading := make(chan struct{}, 10)
	w := newNode(t, db, nodeOpts{workers: 2, conns: func(n *node) {
		c = n.conn("okta1", resync.IdP, "okta", resynctest.Identities("u", 30), 10)
		c.OnRead(func(int) { reading <- struct{}{} })
		c.Block()
	}})
	s := newNode(t, db, nodeOpts{conns: func(n *node) {
		n.conn("okta1", resync.IdP, "okta", resynctest.Identities("u", 30), 10)
	}})
	r := w.start()
	<-reading
	require.NoError(t, s.e.Cancel(context.Background(), "t1", r.ID(), alice))
	info := wait(t, r)
	require.Equal(t, resync.RunCanceled, info.Status)
	require.Equal(t, resync.ConnCanceled, result(t, info, "okta1").Status)
	eventually(t, "the job canceled", func() bool { return jobs(t, w, "okta1")["cancelled"] == 1 })
	recs, err := w.store.Records(context.Background(), resync.RecordQuery{Tenant: "t1", ConnectionID: "okta1"})
	require.NoError(t, err)
	require.Empty(t, recs)
	c.Unblock()
}

// A read requested within the minimum interval of the last read's start
// is scheduled for when it is over, and later requests join it.
func TestMinReadIntervalSchedulesTheRead(t *testing.T) {
	db := freshDB(t)
	w := newNode(t, db, nodeOpts{workers: 2, interval: time.Hour, conns: func(n *node) {
		n.conn("okta1", resync.IdP, "okta", resynctest.Identities("u", 30), 10)
	}})
	add := func(n *node) { n.conn("okta1", resync.IdP, "okta", resynctest.Identities("u", 30), 10) }
	s := newNode(t, db, nodeOpts{interval: time.Hour, conns: add})
	require.Equal(t, resync.RunSucceeded, wait(t, w.start()).Status)
	r1, r2 := w.start(), s.start()
	require.Equal(t, map[string]int{"completed": 1, "scheduled": 1}, settledJobs(t, w, "okta1"))
	var at time.Time
	require.NoError(t, w.store.Pool().QueryRow(context.Background(), `SELECT scheduled_at FROM resync_river.river_job
		WHERE kind = 'resync_read' AND state = 'scheduled'`).Scan(&at))
	require.WithinDuration(t, time.Now().Add(time.Hour), at, time.Minute)
	for _, r := range []*resync.Run{r1, r2} {
		r.Cancel()
		require.Equal(t, resync.RunCanceled, wait(t, r).Status)
	}
	require.Equal(t, map[string]int{"completed": 1, "cancelled": 1}, settledJobs(t, w, "okta1"))
}

// A run on River belongs to no engine: the engine that submitted it
// closing, and another starting (which marks the runs of dead engines
// interrupted), leave it alone; the workers complete it.
func TestSubmitterGoneRunCompletes(t *testing.T) {
	db := freshDB(t)
	add := func(n *node) { n.conn("okta1", resync.IdP, "okta", resynctest.Identities("u", 30), 10) }
	s := newNode(t, db, nodeOpts{conns: add})
	id := s.start().ID()
	require.NoError(t, s.e.Close(context.Background()))
	w := newNode(t, db, nodeOpts{workers: 2, conns: add})
	var info resync.RunInfo
	eventually(t, "the run completed", func() bool {
		var err error
		info, err = w.store.GetRun(context.Background(), "t1", id)
		require.NoError(t, err)
		return info.Status.Final()
	})
	require.Equal(t, resync.RunSucceeded, info.Status)
	require.Equal(t, 30, result(t, info, "okta1").Added)
}

// A read whose last attempt times out is recorded as failed: its run ends.
func TestLastAttemptTimeoutIsRecorded(t *testing.T) {
	db := freshDB(t)
	// The timeout leaves room for the job's own queries on a loaded
	// machine: the read itself is blocked, and times out whatever it is.
	w := newNode(t, db, nodeOpts{workers: 2, maxAttempts: 1, jobTimeout: 2 * time.Second, rescueAfter: 5 * time.Second, conns: func(n *node) {
		n.conn("okta1", resync.IdP, "okta", resynctest.Identities("u", 30), 10).Block()
	}})
	info := wait(t, w.start())
	require.Equal(t, resync.RunFailed, info.Status)
	require.Equal(t, resync.ConnFailed, result(t, info, "okta1").Status)
	require.Contains(t, result(t, info, "okta1").Error, "deadline exceeded")
	require.Equal(t, map[string]int{"completed": 1}, settledJobs(t, w, "okta1"))
}

// A read whose job ends without recording a result (River discarded it
// after its last attempt, or an operator canceled or deleted it) is
// recorded failed by a worker's sweep, with what River knows of it: the
// run waiting for it ends, with the connection's failure, and its other
// reads' results.
func TestLostReadIsRecordedFailed(t *testing.T) {
	for _, c := range []struct {
		name, lose, want string
	}{
		{"discarded", `UPDATE resync_river.river_job SET state = 'discarded', finalized_at = now(), attempt = 5,
			errors = ARRAY[jsonb_build_object('at', now(), 'attempt', 5, 'error', 'worker killed')] WHERE id = $1`,
			"was discarded after 5 attempts; its last error: worker killed"},
		{"canceled", `UPDATE resync_river.river_job SET state = 'cancelled', finalized_at = now() WHERE id = $1`, "was canceled"},
		{"deleted", `DELETE FROM resync_river.river_job WHERE id = $1`, "was deleted"},
	} {
		t.Run(c.name, func(t *testing.T) {
			db := freshDB(t)
			add := func(n *node) {
				n.conn("okta1", resync.IdP, "okta", resynctest.Identities("u", 30), 10)
				n.conn("okta2", resync.IdP, "okta", resynctest.Identities("v", 20), 10)
			}
			s := newNode(t, db, nodeOpts{conns: add}) // submits; works nothing
			r := s.start()
			var job int64
			require.NoError(t, s.store.Pool().QueryRow(context.Background(), `SELECT id FROM resync_river.river_job
				WHERE kind = 'resync_read' AND args->>'connection' = 'okta1'`).Scan(&job))
			_, err := s.store.Pool().Exec(context.Background(), c.lose, job)
			require.NoError(t, err)
			newNode(t, db, nodeOpts{workers: 2, conns: add, sweepEvery: 50 * time.Millisecond})
			info := wait(t, r)
			require.Equal(t, resync.RunPartial, info.Status)
			lost := result(t, info, "okta1")
			require.Equal(t, resync.ConnFailed, lost.Status)
			require.Contains(t, lost.Error, fmt.Sprintf("River job %d %s", job, c.want))
			require.Equal(t, 20, result(t, info, "okta2").Added)
		})
	}
}
