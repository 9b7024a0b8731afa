package datadog_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// BenchmarkFullRead compares a full read of 5,000 users (pages of 100,
// Datadog's maximum) through the connector with a bare client of the same
// server: GET /api/v2/users page by page, each page decoded into a struct
// of the same fields, no records made. Both use one TLS client and
// alternate in every iteration so that both see the same load. It reports
// both times per read and their ratio.
//
//	go test -run '^$' -bench FullRead -benchtime 20x -count 3 ./connectors/datadog
func BenchmarkFullRead(b *testing.B) {
	const users = 5000
	s := newDDServer(b)
	for i := range users {
		s.addUser(i)
	}
	s.limit = 1 << 30
	hc := s.Client()
	type bareUser struct {
		ID         string `json:"id"`
		Attributes struct {
			Email, Handle, Status    string
			Name, Title              *string
			Disabled, ServiceAccount bool
			MFAEnabled               *bool `json:"mfa_enabled"`
		} `json:"attributes"`
		Relationships struct {
			Roles struct {
				Data []struct{ ID string } `json:"data"`
			} `json:"roles"`
		} `json:"relationships"`
	}
	bare := func() int {
		n := 0
		for page := 0; ; page++ {
			req, err := http.NewRequest(http.MethodGet, s.URL+"/api/v2/users?page%5Bsize%5D=100&page%5Bnumber%5D="+strconv.Itoa(page), nil)
			require.NoError(b, err)
			req.Header.Set("DD-API-KEY", testAPIKey)
			req.Header.Set("DD-APPLICATION-KEY", testAppKey)
			resp, err := hc.Do(req)
			require.NoError(b, err)
			var doc struct {
				Data     []bareUser `json:"data"`
				Included []struct {
					ID         string
					Attributes struct{ Name string }
				} `json:"included"`
				Meta struct {
					Page struct {
						TotalCount int `json:"total_count"`
					} `json:"page"`
				} `json:"meta"`
			}
			// Read to the end, so that the connection is reused.
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			require.NoError(b, err)
			require.NoError(b, json.Unmarshal(body, &doc))
			n += len(doc.Data)
			if len(doc.Data) < 100 || (page+1)*100 >= doc.Meta.Page.TotalCount {
				return n
			}
		}
	}
	connector := func() int {
		c := connect(b, s)
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
	b.ReportMetric(float64(tConn)/float64(tBare), "ratio")
}
