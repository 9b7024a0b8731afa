package google_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
	googleoauth "golang.org/x/oauth2/google"
	admin "google.golang.org/api/admin/directory/v1"
	"google.golang.org/api/option"

	"github.com/openresync/resync"
	"github.com/openresync/resync/connectors/google"
)

// BenchmarkFullRead compares a full read of 5,000 users (pages of 500,
// Google's maximum) through the connector with the bare client library's
// paged listing of the same server (UsersListCall.Pages, the same fields,
// no records made). Both use one TLS client and one token; they alternate
// in every iteration so that both see the same load. It reports both times
// per read and their ratio.
//
//	cd connectors/google && go test -run '^$' -bench FullRead -benchtime 20x -count 3 .
func BenchmarkFullRead(b *testing.B) {
	const users = 5000
	d := newDirectory(b)
	for i := range users {
		d.addUser(i)
	}
	ctx := context.Background()
	jwtCfg, err := googleoauth.JWTConfigFromJSON([]byte(d.credentials()), google.Scopes...)
	require.NoError(b, err)
	jwtCfg.Subject = testSubject
	ts := jwtCfg.TokenSource(context.WithValue(ctx, oauth2.HTTPClient, d.Client()))
	svc, err := admin.NewService(ctx, option.WithHTTPClient(oauth2.NewClient(context.WithValue(ctx, oauth2.HTTPClient, d.Client()), ts)),
		option.WithEndpoint(d.URL+"/"))
	require.NoError(b, err)
	bare := func() int {
		n := 0
		err := svc.Users.List().Customer("my_customer").MaxResults(500).Projection("basic").ViewType("admin_view").
			Fields("nextPageToken,users(id,primaryEmail,name/fullName,suspended,suspensionReason,archived,isAdmin,isDelegatedAdmin,isEnrolledIn2Sv,isEnforcedIn2Sv,lastLoginTime,creationTime,orgUnitPath,organizations,externalIds,relations)").
			Pages(ctx, func(u *admin.Users) error { n += len(u.Users); return nil })
		require.NoError(b, err)
		return n
	}
	c := connect(b, d, resync.IdP, "groups", "false")
	connector := func() int {
		n := 0
		for cur := ""; ; {
			p, err := c.ReadPage(ctx, cur)
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
		*d1 += t1.Sub(t0)
		*d2 += time.Since(t1)
	}
	n := float64(i)
	b.ReportMetric(float64(tBare.Microseconds())/1000/n, "bare-ms/read")
	b.ReportMetric(float64(tConn.Microseconds())/1000/n, "connector-ms/read")
	b.ReportMetric(float64(tConn)/float64(tBare), "ratio")
}
