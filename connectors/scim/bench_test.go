package scim_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/openresync/resync"
	"github.com/openresync/resync/connectors/scim"
)

// BenchmarkFullRead compares a full read of 5,000 users (pages of 100,
// the server's maximum) through the connector with a bare client of the
// same server: GET /Users page by page (RFC 7644 §3.4.2.4), each page
// decoded into a struct of the same attributes, no overlap, no records.
// Both run over one TLS client, alternating in every iteration so that
// both see the same load. It reports both times per read and their ratio.
//
//	cd connectors/scim && go test -run '^$' -bench FullRead -benchtime 20x -count 3 .
func BenchmarkFullRead(b *testing.B) {
	const users = 5000
	srv := newSCIMServer(b, 100)
	for i := range users {
		srv.addUser(b, i, i%10 != 0)
	}
	hc := srv.Client()
	type bareUser struct {
		ID         string `json:"id"`
		ExternalID string `json:"externalId"`
		UserName   string `json:"userName"`
		Active     *bool  `json:"active"`
		Emails     []struct {
			Value   string `json:"value"`
			Primary bool   `json:"primary"`
		} `json:"emails"`
	}
	bare := func() int {
		n := 0
		for start := 1; ; start += 100 {
			req, err := http.NewRequest(http.MethodGet, srv.baseURL()+"/Users?startIndex="+strconv.Itoa(start)+"&count=100", nil)
			require.NoError(b, err)
			req.Header.Set("Authorization", "Bearer "+testToken)
			resp, err := hc.Do(req)
			require.NoError(b, err)
			var lr struct {
				TotalResults int        `json:"totalResults"`
				Resources    []bareUser `json:"Resources"`
			}
			err = json.NewDecoder(resp.Body).Decode(&lr)
			resp.Body.Close()
			require.NoError(b, err)
			n += len(lr.Resources)
			if len(lr.Resources) == 0 || start+len(lr.Resources)-1 >= lr.TotalResults {
				return n
			}
		}
	}
	connector := func() int {
		c := connect(b, srv, resync.IdP, scim.Config{HTTPClient: hc}, "groups", "false")
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
	b.ReportMetric(float64(users)*n/tConn.Seconds(), "connector-records/s")
	b.ReportMetric(float64(tConn)/float64(tBare), "ratio")
}
