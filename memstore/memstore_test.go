package memstore_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/openresync/resync"
	"github.com/openresync/resync/memstore"
	"github.com/openresync/resync/resynctest"
	"github.com/openresync/resync/storage"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestConformance(t *testing.T) {
	resynctest.TestStore(t, func(*testing.T) resync.Store { return memstore.New() })
}

// A store shared by every check passes too: the suite keeps its tenants and
// leases apart.
func TestConformanceShared(t *testing.T) {
	s := memstore.New()
	resynctest.TestStore(t, func(*testing.T) resync.Store { return s })
}

// Config.Clock drives lease expiry and timestamps, so hosts can test
// expiry without waiting.
func TestConfigClock(t *testing.T) {
	ctx := t.Context()
	clock := resynctest.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	s := memstore.New(memstore.Config{Clock: clock})

	ok, err := s.AcquireLease(ctx, "l", "a", time.Minute)
	require.NoError(t, err)
	require.True(t, ok)
	clock.Advance(59 * time.Second)
	ok, err = s.AcquireLease(ctx, "l", "b", time.Minute)
	require.NoError(t, err)
	assert.False(t, ok, "lease still live one second before expiry")
	clock.Advance(time.Second)
	ok, err = s.AcquireLease(ctx, "l", "b", time.Minute)
	require.NoError(t, err)
	assert.True(t, ok, "lease free at its expiry")

	cs := &resync.ChangeSet{ID: "cs", Tenant: "t", ConnectionID: "c", RunID: "r", Changes: []resync.Change{{
		Op: resync.OpAdd, Kind: resync.KindGroup, Key: "g", Record: &resync.Group{Key: "g"},
	}}}
	require.NoError(t, s.Apply(ctx, cs))
	recs, err := s.Records(ctx, resync.RecordQuery{Tenant: "t", ConnectionID: "c"})
	require.NoError(t, err)
	require.Len(t, recs, 1)
	assert.Equal(t, clock.Now(), recs[0].UpdatedAt)
}

// The change log is kept in blocks of a few thousand entries: paging,
// erasure and pruning give the same answers across block boundaries.
func TestChangeLogAcrossBlocks(t *testing.T) {
	ctx := t.Context()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := resynctest.NewClock(t0)
	s := memstore.New(memstore.Config{Clock: clock})
	const n = 10_000
	recs := resynctest.Identities("user-", n)
	// Three change sets an hour apart, one of them to a second connection.
	for i, part := range [][2]int{{0, 3000}, {3000, 7000}, {7000, n}} {
		changes := make([]resync.Change, 0, part[1]-part[0])
		for _, r := range recs[part[0]:part[1]] {
			changes = append(changes, resync.Change{Op: resync.OpAdd, Kind: resync.KindIdentity,
				Key: r.(*resync.Identity).Key, Record: r, Fingerprint: resync.Fingerprint(r)})
		}
		conn, base := "c", int64(0)
		switch i {
		case 1:
			conn = "d"
		case 2:
			base = 1
		}
		require.NoError(t, s.Apply(ctx, &resync.ChangeSet{ID: fmt.Sprint("cs", i), Tenant: "t", ConnectionID: conn,
			RunID: "r", BaseVersion: base, Changes: changes}))
		clock.Advance(time.Hour)
	}

	page := func(q resync.ChangeQuery) []resync.ChangeLogEntry {
		var all []resync.ChangeLogEntry
		for {
			got, err := s.Changes(ctx, q)
			require.NoError(t, err)
			all = append(all, got...)
			if len(got) < q.Limit {
				return all
			}
			q.AfterSeq = got[len(got)-1].Seq
		}
	}
	all := page(resync.ChangeQuery{Tenant: "t", Limit: 777})
	require.Len(t, all, n)
	for i, e := range all {
		require.Equal(t, int64(i+1), e.Seq)
		require.Equal(t, recs[i].(*resync.Identity).Key, e.Key)
	}
	for _, after := range []int64{4094, 4095, 4096, 4097, 8191, 8192, n - 1, n, 1 << 62} {
		got, err := s.Changes(ctx, resync.ChangeQuery{Tenant: "t", AfterSeq: after, Limit: 1})
		require.NoError(t, err)
		if after >= n {
			assert.Empty(t, got, "after %d", after)
			continue
		}
		require.Len(t, got, 1, "after %d", after)
		assert.Equal(t, after+1, got[0].Seq)
	}
	assert.Len(t, page(resync.ChangeQuery{Tenant: "t", ConnectionID: "c", Limit: 500}), 6000)

	// Erase a record logged in the second block.
	key := recs[5000].(*resync.Identity).Key
	erased, err := s.Erase(ctx, "t", "erase", "dpo", func(r resync.Record) bool { return r.(*resync.Identity).Key == key })
	require.NoError(t, err)
	require.Len(t, erased, 1)
	assert.Equal(t, int64(n+1), erased[0].Seq)
	all = page(resync.ChangeQuery{Tenant: "t", Limit: 1000})
	require.Len(t, all, n+1)
	assert.Equal(t, storage.Redacted, all[5000].Key)
	assert.Nil(t, all[5000].After)
	assert.Equal(t, recs[5001].(*resync.Identity).Key, all[5001].Key)
	assert.Equal(t, resync.OpErase, all[n].Op)

	// Prune the first change set: the rest keep their sequence numbers.
	require.NoError(t, s.Prune(ctx, "t", t0.Add(time.Hour)))
	all = page(resync.ChangeQuery{Tenant: "t", Limit: 1000})
	require.Len(t, all, n+1-3000)
	assert.Equal(t, int64(3001), all[0].Seq)
	got, err := s.Changes(ctx, resync.ChangeQuery{Tenant: "t", AfterSeq: 4096, Limit: 1})
	require.NoError(t, err)
	require.Len(t, got, 1)
	assert.Equal(t, int64(4097), got[0].Seq)

	require.NoError(t, s.DeleteTenant(ctx, "t"))
	got, err = s.Changes(ctx, resync.ChangeQuery{Tenant: "t"})
	require.NoError(t, err)
	assert.Empty(t, got)
}
