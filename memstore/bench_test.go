package memstore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/openresync/resync"
	"github.com/openresync/resync/internal/cputime"
	"github.com/openresync/resync/memstore"
	"github.com/openresync/resync/resynctest"
)

// BenchmarkApply applies a change set of n adds (a first sync), n updates
// or n removes to a connection (loaded with the n records beforehand, not
// timed), and reports ns per changed record.
func BenchmarkApply(b *testing.B) {
	const n = 100_000
	recs := resynctest.Identities("user-", n)
	adds := make([]resync.Change, n)
	updates := make([]resync.Change, n)
	removes := make([]resync.Change, n)
	for i, r := range recs {
		fp := resync.Fingerprint(r)
		adds[i] = resync.Change{Op: resync.OpAdd, Kind: resync.KindIdentity, Key: r.(*resync.Identity).Key, Record: r, Fingerprint: fp}
		u := *r.(*resync.Identity)
		u.Title = "Engineer"
		updates[i] = resync.Change{Op: resync.OpUpdate, Kind: resync.KindIdentity, Key: u.Key, Record: &u,
			Fingerprint: resync.Fingerprint(&u), PrevFingerprint: fp}
		removes[i] = resync.Change{Op: resync.OpRemove, Kind: resync.KindIdentity, Key: u.Key, PrevFingerprint: fp}
	}
	for _, bc := range []struct {
		op      string
		changes []resync.Change
	}{{"add", adds}, {"update", updates}, {"remove", removes}} {
		b.Run(fmt.Sprintf("%s/%dk", bc.op, n/1000), func(b *testing.B) {
			ctx := context.Background()
			var cpu time.Duration
			for i := 0; b.Loop(); i++ {
				b.StopTimer()
				s := memstore.New()
				base := int64(0)
				if bc.op != "add" {
					require.NoError(b, s.Apply(ctx, &resync.ChangeSet{ID: "load", Tenant: "t", ConnectionID: "c", RunID: "load", Changes: adds}))
					base = 1
				}
				cs := &resync.ChangeSet{ID: "bench", Tenant: "t", ConnectionID: "c", RunID: "bench", BaseVersion: base, Changes: bc.changes}
				b.StartTimer()
				start := cputime.Process()
				require.NoError(b, s.Apply(ctx, cs))
				cpu += cputime.Process() - start
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/record")
			if cpu > 0 {
				b.ReportMetric(float64(cpu)/float64(b.N)/n, "cpu-ns/record")
			}
			b.ReportMetric(0, "ns/op")
		})
	}
}
