package github_test

import (
	"context"
	"testing"
	"time"

	gh "github.com/google/go-github/v93/github"
	"github.com/stretchr/testify/require"
)

// BenchmarkFullRead compares a full read of an org of 5,000 members
// through the connector (2FA listing, owners, members, pages of 100) with
// go-github's own paged listing of the same three listings on its own
// (ListMembers page by page, over the same TLS client, no kit, no records).
// Both alternate in every iteration so that both see the same load. It
// reports both times per read, their ratio, and the ratio of the fastest
// read of each (steadier on a busy machine).
//
//	cd connectors/github && go test -run '^$' -bench FullRead -benchtime 20x -count 3 .
func BenchmarkFullRead(b *testing.B) {
	const members = 5000
	srv := newGHServer(b)
	srv.addMembers(0, members)
	srv.edit(func(s *ghServer) { s.limit = 1 << 30 })
	hc := srv.Client()
	base := srv.baseURL()
	bareClient, err := gh.NewClient(gh.WithHTTPClient(hc), gh.WithURLs(&base, &base), gh.WithAuthToken(testToken))
	require.NoError(b, err)
	bare := func() int {
		n := 0
		for _, o := range []gh.ListMembersOptions{{Filter: "2fa_disabled", Role: "all"}, {Role: "admin"}, {Role: "member"}} {
			o.PerPage = 100
			for o.Page = 1; ; {
				users, resp, err := bareClient.Organizations.ListMembers(context.Background(), srv.org, &o)
				require.NoError(b, err)
				if o.Role != "all" {
					n += len(users)
				}
				if resp.NextPage == 0 {
					break
				}
				o.Page = resp.NextPage
			}
		}
		return n
	}
	connector := func() int {
		c := connect(b, srv, "teams", "false", "outside_collaborators", "false")
		n := 0
		for cur := ""; ; {
			p, err := c.ReadPage(context.Background(), cur)
			require.NoError(b, err)
			n += len(p.Records)
			if p.Next == "" {
				return n
			}
			cur = p.Next
		}
	}
	require.Equal(b, members, bare())
	require.Equal(b, members, connector())

	var tBare, tConn time.Duration
	minBare, minConn := time.Duration(1<<62), time.Duration(1<<62)
	i := 0
	for b.Loop() {
		first, second, d1, d2 := bare, connector, &tBare, &tConn
		if i%2 == 1 {
			first, second, d1, d2 = connector, bare, &tConn, &tBare
		}
		i++
		t0 := time.Now()
		first()
		t1 := time.Now()
		second()
		e1, e2 := t1.Sub(t0), time.Since(t1)
		*d1 += e1
		*d2 += e2
		if i%2 == 1 {
			minBare, minConn = min(minBare, e1), min(minConn, e2)
		} else {
			minConn, minBare = min(minConn, e1), min(minBare, e2)
		}
	}
	n := float64(i)
	b.ReportMetric(float64(tBare.Microseconds())/1000/n, "bare-ms/read")
	b.ReportMetric(float64(tConn.Microseconds())/1000/n, "connector-ms/read")
	b.ReportMetric(float64(members)*n/tConn.Seconds(), "connector-records/s")
	b.ReportMetric(float64(tConn)/float64(tBare), "ratio")
	// The fastest read of each: what is left when the machine's other load
	// is least in the way.
	b.ReportMetric(float64(minConn)/float64(minBare), "ratio-of-fastest")
}
