package river_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/openresync/resync"
	"github.com/openresync/resync/resynctest"
)

// queryCounter counts the statements a pool sends.
type queryCounter struct{ n atomic.Int64 }

func (q *queryCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	q.n.Add(1)
	return ctx
}

func (*queryCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

const (
	benchConns   = 1000
	benchPages   = 20
	benchPerPage = 5
	benchLatency = 20 * time.Millisecond
)

func benchConnections(n *node) {
	for i := range benchConns {
		c := n.conn(fmt.Sprintf("c%04d", i), resync.IdP, "okta", resynctest.Identities(fmt.Sprintf("u%04d-", i), benchPages*benchPerPage), benchPerPage)
		c.SetLatency(benchLatency)
	}
}

// BenchmarkRiverVsInProcess is the wall time of a resync of 1,000
// connections (20 pages of 20 ms each) on River with three worker nodes of
// concurrency 16, against the in-process engine at concurrency 48, on the
// same database in the same run, each after an untimed resync of its own;
// it reports the ratio and PostgreSQL statements per read.
func BenchmarkRiverVsInProcess(b *testing.B) {
	db := freshDB(b)
	waitFor = 5 * time.Minute
	defer func() { waitFor = 30 * time.Second }()
	var qIn, qRiver queryCounter
	in := newNode(b, db, nodeOpts{inProcess: true, concurrency: 48, tracer: &qIn, conns: benchConnections, pollEvery: 100 * time.Millisecond})
	var workers []*node
	for range 3 {
		workers = append(workers, newNode(b, db, nodeOpts{workers: 16, tracer: &qRiver, conns: benchConnections, pollEvery: 100 * time.Millisecond}))
	}
	run := func(n *node, q *queryCounter) (time.Duration, int64) {
		before := q.n.Load()
		start := time.Now()
		r := n.start()
		b.Logf("submitted in %s", time.Since(start))
		info := wait(b, r)
		d := time.Since(start)
		b.Logf("%s: %s, %+v", info.ID, d, info.Totals())
		require.Equal(b, resync.RunSucceeded, info.Status)
		return d, q.n.Load() - before
	}
	// Both sides read connections whose records are stored already: the
	// first sync (every record added) is done once, untimed. The River
	// side then resyncs once untimed too, so that both are timed warm:
	// the workers' pools hold their connections, with their statements
	// prepared, as a long-running worker's do. (Cold, a worker's first
	// jobs wait up to 1.4 s for connections to be opened.)
	run(in, &qIn)
	run(workers[0], &qRiver)
	var tIn, tRiver time.Duration
	var nIn, nRiver int64
	for b.Loop() {
		d, q := run(in, &qIn)
		tIn, nIn = tIn+d, nIn+q
		d, q = run(workers[0], &qRiver)
		tRiver, nRiver = tRiver+d, nRiver+q
	}
	var split []int
	for _, w := range workers {
		n := 0
		for i := range benchConns {
			n += w.fakes.Get("t1", fmt.Sprintf("c%04d", i)).Reads()
		}
		split = append(split, n)
	}
	b.Logf("reads per River worker node: %v", split)
	b.ReportMetric(tIn.Seconds()/float64(b.N), "inprocess-s/op")
	b.ReportMetric(tRiver.Seconds()/float64(b.N), "river-s/op")
	b.ReportMetric(float64(tRiver)/float64(tIn), "river/inprocess")
	b.ReportMetric(float64(nIn)/float64(b.N*benchConns), "inprocess-queries/read")
	b.ReportMetric(float64(nRiver)/float64(b.N*benchConns), "river-queries/read")
}

// BenchmarkTenantsAtScale is a personnel resync of each of 1,000 tenants
// with three connections, requested at once, on three worker nodes of
// concurrency 16: every run completes, each connection is read once, no
// change is logged twice, and the reads split over the three nodes.
func BenchmarkTenantsAtScale(b *testing.B) {
	const tenants = 1000
	db := freshDB(b)
	waitFor = 5 * time.Minute
	defer func() { waitFor = 30 * time.Second }()
	add := func(n *node) {
		for i := range tenants {
			tn := fmt.Sprintf("t%04d", i)
			n.src.AddTenant(tn)
			for j, p := range []string{"okta", "github", "aws"} {
				typ := []resync.ConnectionType{resync.IdP, resync.VersionControl, resync.Infrastructure}[j]
				n.fakes.Set(tn, p+"1", resynctest.NewConnector(resynctest.Identities(p, 20), 10))
				n.src.Add(resync.Connection{ID: p + "1", Tenant: tn, Type: typ, Provider: p, Name: p})
			}
		}
	}
	var nodes []*node
	for range 3 {
		nodes = append(nodes, newNode(b, db, nodeOpts{workers: 16, conns: add, pollEvery: 200 * time.Millisecond}))
	}
	for b.Loop() {
		start := time.Now()
		runs := make([]*resync.Run, 0, tenants)
		for i := range tenants {
			r, err := nodes[i%3].e.Start(context.Background(), resync.Request{
				Tenant: fmt.Sprintf("t%04d", i), Scope: resync.Scope{Kind: resync.ScopeAll},
				Trigger: resync.TriggerScheduled, Initiator: resync.SystemPrincipal,
			})
			require.NoError(b, err)
			runs = append(runs, r)
		}
		submitted := time.Since(start)
		for _, r := range runs {
			require.Equal(b, resync.RunSucceeded, wait(b, r).Status)
		}
		b.Logf("%d runs submitted in %s, all completed in %s", tenants, submitted, time.Since(start))
	}
	var split []int
	for _, n := range nodes {
		reads := 0
		for i := range tenants {
			for _, p := range []string{"okta", "github", "aws"} {
				reads += n.fakes.Get(fmt.Sprintf("t%04d", i), p+"1").Reads()
			}
		}
		split = append(split, reads)
	}
	b.Logf("reads per worker node: %v", split)
	var logged, distinct int
	require.NoError(b, nodes[0].store.Pool().QueryRow(context.Background(),
		`SELECT count(*), count(DISTINCT (tenant, connection_id, key)) FROM resync.changes`).Scan(&logged, &distinct))
	require.Equal(b, logged, distinct, "no change logged twice")
	require.Equal(b, 3*20*tenants, logged)
	require.Equal(b, 3*tenants*b.N, split[0]+split[1]+split[2], "each connection read once per run")
}
