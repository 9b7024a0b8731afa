package ldap_test

import (
	"context"
	"testing"
	"time"

	goldap "github.com/go-ldap/ldap/v3"
	"github.com/stretchr/testify/require"

	"github.com/openresync/resync"
	"github.com/openresync/resync/connectors/ldap"
)

// BenchmarkFullRead compares a full read of the generated directory (5,000
// users and 200 groups, pages of 500) through the connector with a bare
// go-ldap paged search of the same entries and attributes, on one
// connection each, alternating in every iteration so that both see the
// same server load. It reports both times per read and their ratio.
//
//	eval "$(bash .ci/slapd.sh)"
//	cd connectors/ldap && go test -run '^$' -bench FullRead -benchtime 10x -count 3 .
//
// The 50k case (50,000 users, 2,000 groups) loads its directory on first use.
func BenchmarkFullRead(b *testing.B) {
	s := requireServer(b)
	b.Run("users=5k", func(b *testing.B) { benchFullRead(b, s, directory(b, s), dirUsers+dirGroups) })
	b.Run("users=50k", func(b *testing.B) { benchFullRead(b, s, largeDirectory(b, s), 52_000) })
}

func benchFullRead(b *testing.B, s server, base string, want int) {
	settings := s.settings(base, "page_size", "500")
	// The attributes the connector asks for under the default preset.
	userAttrs := []string{"entryUUID", "mail", "displayName", "cn", "employeeNumber", "departmentNumber", "title", "manager", "pwdAccountLockedTime", "uid", "givenName", "sn"}
	groupAttrs := []string{"entryUUID", "cn", "member"}

	bare := func() int {
		c, err := goldap.DialURL(s.url)
		require.NoError(b, err)
		defer c.Close()
		require.NoError(b, c.Bind(s.bindDN, s.password))
		n := 0
		for _, q := range []struct {
			base, filter string
			attrs        []string
		}{
			{"ou=people," + base, "(objectClass=inetOrgPerson)", userAttrs},
			{"ou=groups," + base, "(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames))", groupAttrs},
		} {
			res, err := c.SearchWithPaging(goldap.NewSearchRequest(q.base, goldap.ScopeWholeSubtree, goldap.NeverDerefAliases, 0, 0, false, q.filter, q.attrs, nil), 500)
			require.NoError(b, err)
			n += len(res.Entries)
		}
		return n
	}
	connector := func() int {
		c, err := ldapNew(settings)
		require.NoError(b, err)
		defer c.Close()
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
	require.Equal(b, want, bare())
	require.Equal(b, want, connector())

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
	b.ReportMetric(float64(want)*n/tConn.Seconds(), "connector-records/s")
	b.ReportMetric(float64(tConn)/float64(tBare), "ratio")
}

func ldapNew(settings map[string]string) (*ldap.Connector, error) {
	return ldap.New(resync.Connection{ID: "bench", Settings: settings})
}
