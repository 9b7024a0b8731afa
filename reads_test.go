package resync_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openresync/resync"
	"github.com/openresync/resync/resynctest"
)

// readStarts records when each full read of a fake began (its page 0
// requests).
type readStarts struct {
	mu sync.Mutex
	at []time.Time
}

func startsOf(c *resynctest.Connector) *readStarts {
	s := &readStarts{}
	c.OnRead(func(page int) {
		if page == 0 {
			s.mu.Lock()
			s.at = append(s.at, time.Now())
			s.mu.Unlock()
		}
	})
	return s
}

func (s *readStarts) list() []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Time(nil), s.at...)
}

// staff returns n people of whom the first off are offboarded.
func staff(n, off int) []resync.Record {
	recs := resynctest.Identities("u", n)
	for _, r := range recs[:off] {
		r.(*resync.Identity).Status = resync.StatusDeprovisioned
	}
	return recs
}

// repoAccounts returns n GitHub accounts less the first off, removed by offboarding.
func repoAccounts(n, off int) []resync.Record {
	var recs []resync.Record
	for i := off; i < n; i++ {
		recs = append(recs, &resync.Account{Key: fmt.Sprint("a", i), Username: fmt.Sprint("dev", i), Status: resync.StatusActive})
	}
	return recs
}

// Repeated clicks: while a slow IdP keeps a run open, 50 clicks two
// seconds apart cost each connection at most one read per
// MinReadInterval, and each click is served by reads that began after it:
// the person the admin offboarded just before clicking is offboarded in
// the store when the click's run ends.
func TestRepeatedClicksReadOncePerInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const (
			clicks   = 50
			gap      = 2 * time.Second
			interval = 30 * time.Second // the default
			people   = 1000
		)
		h := newHarness(t, func(c *resync.Config) { c.MinReadInterval = 0 })
		idp := h.conn("t1", "okta", resync.IdP, "okta", staff(people, 0), 250)
		idp.SetLatency(15 * time.Second) // a one-minute read
		gh := h.conn("t1", "gh", resync.VersionControl, "github", repoAccounts(people, 0), 250)
		gh.SetLatency(100 * time.Millisecond)
		idpStarts, ghStarts := startsOf(idp), startsOf(gh)
		ctx := context.Background()

		first := time.Now()
		var wg sync.WaitGroup
		runs := map[string]bool{}
		for i := range clicks {
			// The admin offboards person i in both systems, then clicks.
			idp.SetRecords(staff(people, i+1), 250)
			gh.SetRecords(repoAccounts(people, i+1), 250)
			by := alice
			if i%2 == 1 {
				by = bob
			}
			clicked := time.Now()
			r, err := h.engine.ResyncPersonnel(ctx, "t1", by)
			require.NoError(t, err)
			runs[r.ID()] = true
			wg.Go(func() {
				info, err := r.Wait(ctx)
				if !assert.NoError(t, err) {
					return
				}
				assert.Equal(t, resync.RunSucceeded, info.Status, "click %d: %v", i, info.Err())
				for _, res := range info.Connections {
					assert.False(t, res.StartedAt.Before(clicked), "click %d at %v served by a read of %s begun at %v", i, clicked, res.ConnectionID, res.StartedAt)
				}
				people, err := h.store.Records(ctx, resync.RecordQuery{Tenant: "t1", ConnectionID: "okta"})
				if assert.NoError(t, err) {
					k := slices.IndexFunc(people, func(r resync.StoredRecord) bool { return r.Key == fmt.Sprint("u", i) })
					if assert.GreaterOrEqual(t, k, 0) {
						assert.Equal(t, resync.StatusDeprovisioned, people[k].Record.(*resync.Identity).Status, "click %d: person %d offboarded before it", i, i)
					}
				}
				accounts, err := h.store.Records(ctx, resync.RecordQuery{Tenant: "t1", ConnectionID: "gh"})
				if assert.NoError(t, err) {
					assert.False(t, slices.ContainsFunc(accounts, func(r resync.StoredRecord) bool { return r.Key == fmt.Sprint("a", i) }),
						"click %d: account %d removed before it", i, i)
				}
			})
			time.Sleep(gap)
		}
		span := time.Since(first) - gap // from the first click to the last
		wg.Wait()

		// The first read, one per whole interval while the clicks come,
		// and the one that serves the last clicks.
		bound := 2 + int(span/interval)
		for name, starts := range map[string][]time.Time{"okta": idpStarts.list(), "gh": ghStarts.list()} {
			assert.LessOrEqual(t, len(starts), bound, "%s: %d reads for %d clicks over %v", name, len(starts), clicks, span)
			for k := 1; k < len(starts); k++ {
				assert.GreaterOrEqual(t, starts[k].Sub(starts[k-1]), interval, "%s: reads %d and %d began too close", name, k-1, k)
			}
		}
		t.Logf("%d clicks over %v: %d runs, okta read %d times, github %d times (bound %d)",
			clicks, span, len(runs), len(idpStarts.list()), len(ghStarts.list()), bound)
	})
}

// A click right after a read, on an idle connection, waits for the rest
// of the interval; a click after the interval is served at once.
func TestMinReadIntervalOnIdleConnection(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, func(c *resync.Config) { c.MinReadInterval = 10 * time.Second })
		starts := startsOf(h.conn("t1", "okta", resync.IdP, "okta", resynctest.Identities("u", 5), 0))
		t0 := time.Now()
		h.personnel(alice)
		time.Sleep(4 * time.Second)
		h.personnel(bob)
		time.Sleep(15 * time.Second)
		clicked := time.Now()
		info := h.personnel(alice)
		got := starts.list()
		require.Len(t, got, 3)
		assert.Equal(t, t0, got[0])
		assert.Equal(t, t0.Add(10*time.Second), got[1], "the second read waits for the interval")
		assert.Equal(t, clicked, got[2], "past the interval a read starts at once")
		assert.Equal(t, clicked, result(t, info, "okta").StartedAt)
	})
}

// Engines sharing a store keep the interval too: the engine that read a
// connection last keeps its read lease until the interval is over.
func TestMinReadIntervalAcrossEngines(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, func(c *resync.Config) { c.MinReadInterval = 0 }) // 30s
		starts := startsOf(h.conn("t1", "okta", resync.IdP, "okta", resynctest.Identities("u", 5), 0))
		h.personnel(alice)

		cfg := h.cfg
		cfg.InstanceID = "replica-2"
		replica, err := resync.New(context.Background(), cfg)
		require.NoError(t, err)
		defer func() { require.NoError(t, replica.Close(context.Background())) }()
		time.Sleep(5 * time.Second)
		clicked := time.Now()
		r, err := replica.ResyncPersonnel(context.Background(), "t1", bob)
		require.NoError(t, err)
		info, err := r.Wait(context.Background())
		require.NoError(t, err)
		require.Equal(t, resync.RunSucceeded, info.Status)

		got := starts.list()
		require.Len(t, got, 2)
		gapBetween := got[1].Sub(got[0])
		assert.GreaterOrEqual(t, gapBetween, 30*time.Second, "the other engine began its read within the interval")
		assert.LessOrEqual(t, gapBetween, 30*time.Second+time.Second, "served within one lease poll of the interval's end")
		assert.False(t, result(t, info, "okta").StartedAt.Before(clicked))
	})
}

// A single page slower than the read lease's TTL does not let another
// engine on the same store read the connection at the same time: the
// lease is renewed for the whole read, not between pages only.
func TestReadLeaseRenewedDuringSlowPage(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const page = 20 * time.Second
		h := newHarness(t, func(c *resync.Config) { c.LeaseTTL = 3 * time.Second })
		c := h.conn("t1", "okta", resync.IdP, "okta", resynctest.Identities("u", 5), 0) // one page
		c.SetLatency(page)
		starts := startsOf(c)
		r1, err := h.engine.ResyncPersonnel(context.Background(), "t1", alice)
		require.NoError(t, err)
		synctest.Wait() // page 0 in flight

		cfg := h.cfg
		cfg.InstanceID = "replica-2"
		replica, err := resync.New(context.Background(), cfg)
		require.NoError(t, err)
		defer func() { require.NoError(t, replica.Close(context.Background())) }()
		r2, err := replica.ResyncPersonnel(context.Background(), "t1", bob)
		require.NoError(t, err)
		for _, r := range []*resync.Run{r1, r2} {
			info, err := r.Wait(context.Background())
			require.NoError(t, err)
			assert.Equal(t, resync.RunSucceeded, info.Status, "%v", info.Err())
		}
		got := starts.list()
		require.Len(t, got, 2)
		assert.GreaterOrEqual(t, got[1].Sub(got[0]), page, "the second engine read the connection while the first was still on its page")
	})
}

// leaseFailingStore fails every renewal of a read lease after the first
// take.
type leaseFailingStore struct {
	resync.Store
	mu    sync.Mutex
	taken map[string]bool
}

func (s *leaseFailingStore) AcquireLease(ctx context.Context, name, owner string, ttl time.Duration) (bool, error) {
	if strings.HasPrefix(name, "read") {
		s.mu.Lock()
		again := s.taken[name]
		s.taken[name] = true
		s.mu.Unlock()
		if again {
			return false, errors.New("store unavailable")
		}
	}
	return s.Store.AcquireLease(ctx, name, owner, ttl)
}

// A read whose lease cannot be renewed within its TTL stops and applies
// nothing: another engine may be reading the connection by then.
func TestReadStopsWhenLeaseCannotBeRenewed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var h *harness
		h = newHarness(t, func(c *resync.Config) {
			c.LeaseTTL = 3 * time.Second
			c.Store = &leaseFailingStore{Store: c.Store, taken: map[string]bool{}}
		})
		c := h.conn("t1", "okta", resync.IdP, "okta", resynctest.Identities("u", 5), 0)
		c.SetLatency(20 * time.Second)
		start := time.Now()
		info := h.personnel(alice)
		res := result(t, info, "okta")
		assert.Equal(t, resync.ConnFailed, res.Status)
		assert.Contains(t, res.Error, "read lease lost")
		assert.Less(t, time.Since(start), 20*time.Second, "the read stopped when its lease ran out, not after its page")
		assert.Empty(t, h.live("t1", "okta"), "nothing applied")
	})
}
