package gitlab_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	gl "gitlab.com/gitlab-org/api/client-go/v2"
	"golang.org/x/oauth2"
)

// BenchmarkFullRead compares a full read of an instance of 5,000 users
// through the connector ("users", keyset pages of 100) with client-go's own
// keyset listing of the same users on its own (ListUsers page by page over
// the same TLS client, no kit, no records, its retries and limiter as they
// come). Both alternate in every iteration so that both see the same load.
// It reports both times per read, their ratio, and the ratio of the
// fastest read of each (steadier on a busy machine).
//
//	cd connectors/gitlab && go test -run '^$' -bench FullRead -benchtime 10x -count 3 .
func BenchmarkFullRead(b *testing.B) {
	const users = 5000
	srv := newGLServer(b)
	srv.addUsers(0, users)
	srv.edit(func(s *glServer) { s.limit = 1 << 30 })
	hc := srv.Client()
	bareClient, err := gl.NewAuthSourceClient(gl.OAuthTokenSource{TokenSource: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: testToken})},
		gl.WithBaseURL(srv.baseURL()), gl.WithHTTPClient(hc))
	require.NoError(b, err)
	bare := func() int {
		n := 0
		opts := []gl.RequestOptionFunc{gl.WithContext(context.Background())}
		for {
			us, resp, err := bareClient.Users.ListUsers(&gl.ListUsersOptions{ExcludeInternal: new(true),
				ListOptions: gl.ListOptions{Pagination: "keyset", OrderBy: "id", Sort: "asc", PerPage: 100}}, opts...)
			require.NoError(b, err)
			n += len(us)
			if resp.NextLink == "" {
				return n
			}
			opts = []gl.RequestOptionFunc{gl.WithContext(context.Background()), gl.WithKeysetPaginationParameters(resp.NextLink)}
		}
	}
	connector := func() int {
		c := connect(b, srv, "group", "", "users", "true")
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
	require.Equal(b, users, bare())
	require.Equal(b, users, connector())

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
	b.ReportMetric(float64(users)*n/tConn.Seconds(), "connector-records/s")
	b.ReportMetric(float64(tConn)/float64(tBare), "ratio")
	// The fastest read of each: what is left when the machine's other load
	// is least in the way.
	b.ReportMetric(float64(minConn)/float64(minBare), "ratio-of-fastest")
}
