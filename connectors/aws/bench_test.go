package aws_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/stretchr/testify/require"

	"github.com/openresync/resync"
)

// readWhole reads each response body before the SDK does, as the
// connector does (the SDK otherwise loses large bodies now and then:
// TestLargePages).
type readWhole struct{ c *http.Client }

func (r readWhole) Do(req *http.Request) (*http.Response, error) {
	resp, err := r.c.Do(req)
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(b))
	return resp, err
}

// BenchmarkFullRead compares a full read of 5,000 IAM users and 50 groups
// (pages of 1,000, IAM's maximum) through the connector with the bare SDK
// making the same calls to the same local server: GenerateCredentialReport,
// GetCredentialReport, then GetAccountAuthorizationDetails for groups and
// for users page by page, no CSV decoding, no records. Both use one HTTP
// client and alternate in every iteration so that both see the same load.
// It reports both times per read and their ratio.
//
//	cd connectors/aws && go test -run '^$' -bench FullRead -benchtime 20x -count 3 .
func BenchmarkFullRead(b *testing.B) {
	const users, groups = 5000, 50
	f := newFakeAWS(b)
	f.addUsers("u", users, groups)
	client := iam.NewFromConfig(awssdk.Config{Region: "us-east-1", HTTPClient: readWhole{f.srv.Client()},
		BaseEndpoint: awssdk.String(f.URL()), Retryer: func() awssdk.Retryer { return awssdk.NopRetryer{} },
		Credentials: credentials.NewStaticCredentialsProvider(testKeyID, testSecret, "")})
	ctx := context.Background()
	bare := func() int {
		_, err := client.GenerateCredentialReport(ctx, &iam.GenerateCredentialReportInput{})
		require.NoError(b, err)
		_, err = client.GetCredentialReport(ctx, &iam.GetCredentialReportInput{})
		require.NoError(b, err)
		n := 0
		for _, filter := range []iamtypes.EntityType{iamtypes.EntityTypeGroup, iamtypes.EntityTypeUser} {
			p := iam.NewGetAccountAuthorizationDetailsPaginator(client, &iam.GetAccountAuthorizationDetailsInput{
				Filter: []iamtypes.EntityType{filter}, MaxItems: awssdk.Int32(1000)})
			for p.HasMorePages() {
				out, err := p.NextPage(ctx)
				require.NoError(b, err)
				n += len(out.UserDetailList) + len(out.GroupDetailList)
			}
		}
		return n + 1 // the root user, for the same count
	}
	connector := func() int {
		c := connect(b, f, resync.Infrastructure, staticSettings())
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
	require.Equal(b, users+groups+1, bare())
	require.Equal(b, users+groups+1, connector())

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
	b.ReportMetric(float64(users+groups+1)*n/tConn.Seconds(), "connector-records/s")
	b.ReportMetric(float64(tConn)/float64(tBare), "ratio")
}
