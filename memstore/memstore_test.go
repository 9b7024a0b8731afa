package memstore_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/openresync/resync"
	"github.com/openresync/resync/memstore"
	"github.com/openresync/resync/resynctest"
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
