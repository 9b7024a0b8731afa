package resync_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openresync/resync"
	"github.com/openresync/resync/memstore"
	"github.com/openresync/resync/resynctest"
)

// A connector factory's transient error (a secret store briefly down) is
// retried like a page's; a permanent one fails the connection at once.
func TestFactoryErrorsRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var calls, ghCalls atomic.Int32
		fake := resynctest.NewConnector(resynctest.Identities("u", 3), 0)
		h := newHarness(t, func(c *resync.Config) {
			c.Connectors = map[string]resync.ConnectorFactory{
				"okta": func(ctx context.Context, conn resync.Connection) (resync.Connector, error) {
					if calls.Add(1) <= 2 {
						return nil, errors.New("secret store unavailable")
					}
					return fake, nil
				},
				"github": func(ctx context.Context, conn resync.Connection) (resync.Connector, error) {
					ghCalls.Add(1)
					return nil, resync.Permanent(errors.New("no credentials configured"))
				},
			}
		})
		h.src.Add(resync.Connection{ID: "okta1", Tenant: "t1", Type: resync.IdP, Provider: "okta"},
			resync.Connection{ID: "gh1", Tenant: "t1", Type: resync.VersionControl, Provider: "github"})
		info := h.personnel(alice)
		assert.Equal(t, resync.ConnSucceeded, result(t, info, "okta1").Status)
		assert.Len(t, h.live("t1", "okta1"), 3)
		gh := result(t, info, "gh1")
		assert.Equal(t, resync.ConnFailed, gh.Status)
		assert.Contains(t, gh.Error, "no credentials configured")
		assert.Equal(t, int32(3), calls.Load(), "two transient failures, then the connector")
		assert.Equal(t, int32(1), ghCalls.Load(), "the permanent error was retried")
	})
}

// A Notifier without a Directory would drop the personnel completion email
// silently: New refuses it.
func TestNewRefusesNotifierWithoutDirectory(t *testing.T) {
	_, err := resync.New(context.Background(), resync.Config{
		Store: memstore.New(), Connections: resynctest.NewSource(), Authorizer: resynctest.AllowAll,
		Connectors: resynctest.NewFakes().Factories("okta"), Notifier: &resynctest.Notifier{},
	})
	require.ErrorIs(t, err, resync.ErrInvalidRequest)
	assert.Contains(t, err.Error(), "Directory")
}

// A tenant never sees another tenant's run, live or stored; errors name
// the run once.
func TestGetRunStaysInItsTenant(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, nil)
		okta := h.conn("t1", "okta1", resync.IdP, "okta", resynctest.Identities("u", 3), 0)
		okta.Block()
		r, err := h.engine.ResyncPersonnel(context.Background(), "t1", alice)
		require.NoError(t, err)
		synctest.Wait()

		_, err = h.engine.GetRun(context.Background(), "t2", r.ID(), dave)
		assert.ErrorIs(t, err, resync.ErrNotFound, "t2 saw t1's live run")
		list, err := h.engine.Runs(context.Background(), "t2", dave, resync.RunQuery{})
		require.NoError(t, err)
		assert.Empty(t, list)
		assert.ErrorIs(t, h.engine.Cancel(context.Background(), "t2", r.ID(), dave), resync.ErrNotFound)
		got, err := h.engine.GetRun(context.Background(), "t1", r.ID(), alice)
		require.NoError(t, err)
		assert.Equal(t, resync.RunRunning, got.Status)

		okta.Unblock()
		_, err = r.Wait(context.Background())
		require.NoError(t, err)
		_, err = h.engine.GetRun(context.Background(), "t2", r.ID(), dave)
		assert.ErrorIs(t, err, resync.ErrNotFound, "t2 saw t1's stored run")

		_, err = h.engine.GetRun(context.Background(), "t1", "nope", alice)
		require.ErrorIs(t, err, resync.ErrNotFound)
		assert.Equal(t, 1, strings.Count(err.Error(), `"nope"`), "context added twice: %v", err)
		_, err = h.engine.Approve(context.Background(), "t1", "nope", alice, "")
		require.ErrorIs(t, err, resync.ErrNotFound)
		assert.Equal(t, 1, strings.Count(err.Error(), `"nope"`), "context added twice: %v", err)
	})
}

// panickyStore panics in Apply for one connection.
type panickyStore struct {
	*memstore.Store
	conn string
}

func (s panickyStore) Apply(ctx context.Context, cs *resync.ChangeSet) error {
	if cs.ConnectionID == s.conn {
		panic("store bug")
	}
	return s.Store.Apply(ctx, cs)
}

// A panic outside the connector (here in the Store's Apply) fails that
// connection with the panic as its error, and only that connection.
func TestPanicOutsideConnectorFailsTheConnection(t *testing.T) {
	var store panickyStore
	h := newHarness(t, func(c *resync.Config) {
		store = panickyStore{Store: c.Store.(*memstore.Store), conn: "okta1"}
		c.Store = store
	})
	h.conn("t1", "okta1", resync.IdP, "okta", resynctest.Identities("u", 3), 0)
	h.conn("t1", "gh1", resync.VersionControl, "github", resynctest.Identities("g", 3), 0)
	info := h.personnel(alice)
	assert.Equal(t, resync.RunPartial, info.Status)
	okta := result(t, info, "okta1")
	assert.Equal(t, resync.ConnFailed, okta.Status)
	assert.Contains(t, okta.Error, "store bug")
	assert.Equal(t, resync.ConnSucceeded, result(t, info, "gh1").Status)
	assert.Len(t, h.live("t1", "gh1"), 3)
	var pe *resync.PanicError
	r, err := h.engine.ResyncPersonnel(context.Background(), "t1", alice)
	require.NoError(t, err)
	_, err = r.Wait(context.Background())
	require.NoError(t, err)
	assert.ErrorAs(t, r.Err(), &pe)
}

// stubborn ignores its context: each page returns only when the test
// releases it.
type stubborn struct {
	release chan struct{}
	pages   atomic.Int32
}

func (s *stubborn) ReadPage(ctx context.Context, cursor string) (resync.Page, error) {
	s.pages.Add(1)
	<-s.release
	next := cursor + "x"
	if len(next) > 4 {
		next = ""
	}
	return resync.Page{Records: resynctest.Identities("u"+cursor, 2), Next: next}, nil
}

// A connector that ignores cancellation is asked for no further page once
// its run is canceled, and nothing of its read is applied.
func TestCancelStopsAConnectorThatIgnoresItsContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := &stubborn{release: make(chan struct{})}
		h := newHarness(t, func(cfg *resync.Config) {
			cfg.Connectors = map[string]resync.ConnectorFactory{"okta": func(context.Context, resync.Connection) (resync.Connector, error) { return c, nil }}
		})
		h.src.Add(resync.Connection{ID: "okta1", Tenant: "t1", Type: resync.IdP, Provider: "okta"})
		r, err := h.engine.ResyncPersonnel(context.Background(), "t1", alice)
		require.NoError(t, err)
		c.release <- struct{}{} // page 1
		synctest.Wait()
		require.Equal(t, int32(2), c.pages.Load())
		r.Cancel()
		close(c.release) // page 2 returns after the cancel, with a next cursor
		info, err := r.Wait(context.Background())
		require.NoError(t, err)
		require.NoError(t, h.engine.Close(context.Background()))
		assert.Equal(t, int32(2), c.pages.Load(), "a page was requested after Cancel")
		assert.Equal(t, resync.RunCanceled, info.Status)
		assert.Empty(t, h.live("t1", "okta1"))
	})
}

// Run.Cancel releases the run's reads: the engine closes at once
// afterwards, with nothing left to wait for.
func TestCancelReleasesReads(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, nil)
		okta := h.conn("t1", "okta1", resync.IdP, "okta", resynctest.Identities("u", 30), 10)
		okta.Block()
		r, err := h.engine.ResyncPersonnel(context.Background(), "t1", alice)
		require.NoError(t, err)
		synctest.Wait()
		r.Cancel()
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
		defer cancel()
		require.NoError(t, h.engine.Close(ctx), "Close had to cancel reads that Cancel should have released")
		assert.Zero(t, time.Since(start), "Close waited")
		info := r.Info()
		assert.Equal(t, resync.RunCanceled, info.Status)
		assert.Equal(t, 1, okta.TotalPageReads())
	})
}

// Tenant "a/b" with connection "c" and tenant "a" with connection "b/c" are
// different connections: one's read never waits for the other's.
func TestTenantAndConnectionIDsDoNotCollide(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, func(c *resync.Config) { c.Authorizer = resynctest.AllowAll })
		h.src.AddTenant("a/b")
		h.src.AddTenant("a")
		first := h.conn("a/b", "c", resync.IdP, "okta", resynctest.Identities("u", 3), 0)
		h.conn("a", "b/c", resync.IdP, "okta", resynctest.Identities("v", 3), 0)
		first.Block()
		r1, err := h.engine.ResyncPersonnel(context.Background(), "a/b", alice)
		require.NoError(t, err)
		synctest.Wait()
		// A second replica on the same store: reads of one connection by
		// two replicas exclude each other through the store's read lease.
		cfg := h.cfg
		cfg.InstanceID = "replica-2"
		replica, err := resync.New(context.Background(), cfg)
		require.NoError(t, err)
		defer func() { require.NoError(t, replica.Close(context.Background())) }()
		r2, err := replica.ResyncPersonnel(context.Background(), "a", alice)
		require.NoError(t, err)
		// Well within the read lease's TTL (30s), after which a blocked
		// read's lease would expire anyway.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		info, err := r2.Wait(ctx)
		require.NoError(t, err, "tenant a's read waited for tenant a/b's")
		assert.Equal(t, resync.RunSucceeded, info.Status)
		first.Unblock()
		_, err = r1.Wait(context.Background())
		require.NoError(t, err)
	})
}
