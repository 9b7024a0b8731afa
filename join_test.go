package resync_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openresync/resync"
	"github.com/openresync/resync/memstore"
	"github.com/openresync/resync/resynctest"
)

// slowStarts delays the delivery of every run_started notification.
type slowStarts struct {
	*resynctest.Notifier
	delay time.Duration
}

func (n slowStarts) Notify(ctx context.Context, msg resync.Notification) error {
	if msg.Kind == resync.NotifyRunStarted {
		time.Sleep(n.delay)
	}
	return n.Notifier.Notify(ctx, msg)
}

// A request that joins a run whose connection is already being read makes
// the connection be read once more, and the run's result counts both
// reads, even when the join comes before the run has begun to wait for
// its reads (its "started" notice still being delivered).
func TestJoin_ReadsCountsEveryRead(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &resynctest.Notifier{}
		h := newHarness(t, func(c *resync.Config) { c.Notifier = slowStarts{rec, time.Minute} })
		okta := h.conn("t1", "okta1", resync.IdP, "okta", resynctest.Identities("u", 20), 10)
		okta.Block()
		ra, err := h.engine.ResyncPersonnel(context.Background(), "t1", alice)
		require.NoError(t, err)
		synctest.Wait() // page 0 requested; the started notice is being delivered
		require.Equal(t, 1, okta.Reads())
		rb, err := h.engine.ResyncPersonnel(context.Background(), "t1", bob)
		require.NoError(t, err)
		require.Equal(t, ra.ID(), rb.ID())
		okta.Unblock()
		info, err := ra.Wait(context.Background())
		require.NoError(t, err)
		assert.Equal(t, resync.RunSucceeded, info.Status)
		assert.Equal(t, 2, okta.Reads())
		assert.Equal(t, okta.Reads(), result(t, info, "okta1").Reads, "the run reports every read made for it")
	})
}

// With a slow IdP keeping the run open, every click re-reads the fast
// connection: the run's result says how many times.
func TestJoin_ReadsCountedWhileAnotherConnectionIsSlow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, nil)
		okta := h.conn("t1", "okta1", resync.IdP, "okta", resynctest.Identities("u", 20), 10)
		okta.SetLatency(10 * time.Second)
		gh := h.conn("t1", "gh1", resync.VersionControl, "github", resynctest.Identities("g", 5), 0)
		first, err := h.engine.ResyncPersonnel(context.Background(), "t1", alice)
		require.NoError(t, err)
		for i := range 50 {
			time.Sleep(300 * time.Millisecond)
			by := alice
			if i%2 == 0 {
				by = bob
			}
			r, err := h.engine.ResyncPersonnel(context.Background(), "t1", by)
			require.NoError(t, err)
			require.Equal(t, first.ID(), r.ID(), "click %d joined another run", i)
		}
		info, err := first.Wait(context.Background())
		require.NoError(t, err)
		assert.Greater(t, gh.Reads(), 2)
		assert.Equal(t, gh.Reads(), result(t, info, "gh1").Reads)
		assert.Equal(t, okta.Reads(), result(t, info, "okta1").Reads)
	})
}

// Every requester is acknowledged in-product when its request is accepted,
// before the completion; the completion goes in-product to every requester.
func TestJoin_EveryRequesterAcknowledged(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, nil)
		okta := h.conn("t1", "okta1", resync.IdP, "okta", resynctest.Identities("u", 20), 10)
		okta.Block()
		r, err := h.engine.ResyncPersonnel(context.Background(), "t1", alice)
		require.NoError(t, err)
		synctest.Wait()
		_, err = h.engine.ResyncPersonnel(context.Background(), "t1", bob)
		require.NoError(t, err)
		synctest.Wait()
		started := func() []string {
			var ids []string
			for _, n := range h.notifier.Notifications() {
				if n.Kind == resync.NotifyRunStarted {
					assert.Equal(t, resync.ChannelInApp, n.Channel)
					for _, p := range n.Recipients {
						ids = append(ids, p.ID)
					}
				}
			}
			return ids
		}
		assert.Equal(t, []string{"alice", "bob"}, started(), "bob's request was accepted: he is told so now")
		// A repeated request by a requester already acknowledged is not
		// acknowledged twice.
		_, err = h.engine.ResyncPersonnel(context.Background(), "t1", bob)
		require.NoError(t, err)
		okta.Unblock()
		_, err = r.Wait(context.Background())
		require.NoError(t, err)
		synctest.Wait()
		assert.Equal(t, []string{"alice", "bob"}, started())

		ns := h.notifier.Notifications()
		var completedInApp []string
		for i, n := range ns {
			if n.Kind == resync.NotifyRunCompleted && n.Channel == resync.ChannelInApp {
				for _, p := range n.Recipients {
					completedInApp = append(completedInApp, p.ID)
				}
				for _, m := range ns[i:] {
					assert.NotEqual(t, resync.NotifyRunStarted, m.Kind, "a started notice after the completion")
				}
			}
		}
		slices.Sort(completedInApp)
		assert.Equal(t, []string{"alice", "bob"}, completedInApp, "the in-product completion reaches every requester")
	})
}

// slowCreate is a memstore whose storing of tenant t1's runs waits until
// released: a database slow to take the write.
type slowCreate struct {
	*memstore.Store
	entered chan struct{} // gets a value when a t1 run's store begins
	release chan struct{} // closed to let it go on
}

func (s *slowCreate) hold(tenant string) {
	if tenant == "t1" {
		s.entered <- struct{}{}
		<-s.release
	}
}

func (s *slowCreate) CreateRun(ctx context.Context, ri resync.RunInfo) error {
	s.hold(ri.Tenant)
	return s.Store.CreateRun(ctx, ri)
}

func (s *slowCreate) CreateRunNotify(ctx context.Context, ri resync.RunInfo, ns []resync.Notification) error {
	s.hold(ri.Tenant)
	return s.Store.CreateRunNotify(ctx, ri, ns)
}

// A run being stored holds up neither another tenant's request, which
// starts meanwhile, nor an identical request, which waits for it and
// joins it: one run, two requesters.
func TestStartNotHeldUpByAnotherTenantsStore(t *testing.T) {
	for _, outbox := range []bool{true, false} {
		t.Run(fmt.Sprintf("outbox=%v", outbox), func(t *testing.T) {
			slow := &slowCreate{entered: make(chan struct{}, 2), release: make(chan struct{})}
			h := newHarness(t, func(c *resync.Config) {
				slow.Store = c.Store.(*memstore.Store)
				c.Store = slow
				if !outbox {
					c.Notifier, c.Directory = nil, nil
				}
			})
			okta1 := h.conn("t1", "okta1", resync.IdP, "okta", resynctest.Identities("u", 3), 10)
			okta1.Block() // t1's run cannot end before both requests are in
			h.conn("t2", "okta2", resync.IdP, "okta", resynctest.Identities("v", 3), 10)
			type started struct {
				r   *resync.Run
				err error
			}
			first, second := make(chan started, 1), make(chan started, 1)
			go func() {
				r, err := h.engine.ResyncPersonnel(context.Background(), "t1", alice)
				first <- started{r, err}
			}()
			<-slow.entered
			go func() {
				r, err := h.engine.ResyncPersonnel(context.Background(), "t1", bob)
				second <- started{r, err}
			}()
			t.Cleanup(func() {
				select {
				case <-slow.release:
				default:
					close(slow.release)
				}
				okta1.Unblock()
			})
			// t2 starts and ends while t1's run is still being stored.
			other := make(chan started, 1)
			go func() {
				r, err := h.engine.ResyncPersonnel(context.Background(), "t2", dave)
				other <- started{r, err}
			}()
			var o started
			select {
			case o = <-other:
			case <-time.After(10 * time.Second):
				t.Fatal("t2's request waited for t1's run to be stored")
			}
			require.NoError(t, o.err)
			info2, err := o.r.Wait(context.Background())
			require.NoError(t, err)
			require.Equal(t, resync.RunSucceeded, info2.Status)
			select {
			case <-second:
				t.Fatal("the identical request went ahead of the run it should join")
			default:
			}
			close(slow.release)
			a, b := <-first, <-second
			require.NoError(t, a.err)
			require.NoError(t, b.err)
			require.Equal(t, a.r.ID(), b.r.ID(), "the identical request joined")
			okta1.Unblock()
			info, err := a.r.Wait(context.Background())
			require.NoError(t, err)
			require.Equal(t, resync.RunSucceeded, info.Status)
			require.Len(t, info.Requesters, 2)
			require.Len(t, slow.entered, 0, "one run stored for t1")
		})
	}
}
