package resynctest_test

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/openresync/resync"
	"github.com/openresync/resync/resynctest"
	"github.com/openresync/resync/storage"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func mixedRecords() []resync.Record {
	recs := resynctest.Identities("u", 120)
	for i := range 40 {
		k := "acct-" + strconv.Itoa(i)
		recs = append(recs, &resync.Account{Key: k, Username: k, Status: resync.StatusActive, Roles: []string{"dev"}})
	}
	// A group may share a key with an identity: keys are unique per kind.
	recs = append(recs, &resync.Group{Key: "u1", Name: "Group u1", Members: []string{"u1", "u2"}})
	return recs
}

func TestConnectorConformance(t *testing.T) {
	t.Run("paged", func(t *testing.T) {
		resynctest.TestConnector(t, func(*testing.T) resync.Connector {
			return resynctest.NewConnector(mixedRecords(), 25)
		}, resynctest.ConnectorOptions{WantRecords: 161})
	})
	t.Run("one page", func(t *testing.T) {
		resynctest.TestConnector(t, func(*testing.T) resync.Connector {
			return resynctest.NewConnector(resynctest.Identities("p", 3), 0)
		}, resynctest.ConnectorOptions{WantRecords: 3})
	})
	t.Run("empty", func(t *testing.T) {
		resynctest.TestConnector(t, func(*testing.T) resync.Connector {
			return resynctest.NewConnector(nil, 10)
		}, resynctest.ConnectorOptions{})
	})
}

func TestNotifierConformance(t *testing.T) {
	var mu sync.Mutex
	made := map[*testing.T]*resynctest.Notifier{}
	resynctest.TestNotifier(t, func(t *testing.T) resync.Notifier {
		n := &resynctest.Notifier{}
		mu.Lock()
		made[t] = n
		mu.Unlock()
		return n
	}, resynctest.NotifierOptions{Delivered: func(t *testing.T) int {
		mu.Lock()
		defer mu.Unlock()
		return len(made[t].Notifications())
	}})
	assert.Len(t, made, 3, "one notifier per check")
}

func TestSampleNotifications(t *testing.T) {
	ns := resynctest.SampleNotifications("acme")
	kinds := map[resync.NotificationKind]int{}
	channels := map[resync.Channel]int{}
	for _, n := range ns {
		kinds[n.Kind]++
		channels[n.Channel]++
		assert.Equal(t, "acme", n.Tenant)
		assert.Equal(t, "acme", n.Run.Tenant)
		assert.NotEmpty(t, n.Recipients)
		assert.NotEmpty(t, n.Run.ID)
		assert.Equal(t, n.Kind == resync.NotifyChangesHeld, n.Held != nil)
	}
	assert.Len(t, kinds, 3)
	assert.Equal(t, channels[resync.ChannelInApp], channels[resync.ChannelEmail])
}

func readAll(ctx context.Context, c resync.Connector) ([]resync.Record, int, error) {
	var out []resync.Record
	cursor, pages := "", 0
	for {
		p, err := c.ReadPage(ctx, cursor)
		if err != nil {
			return out, pages, err
		}
		pages++
		out = append(out, p.Records...)
		if p.Next == "" {
			return out, pages, nil
		}
		cursor = p.Next
	}
}

func TestFakeConnectorPaging(t *testing.T) {
	ctx := t.Context()
	c := resynctest.NewConnector(resynctest.Identities("u", 10), 4)
	recs, pages, err := readAll(ctx, c)
	require.NoError(t, err)
	assert.Len(t, recs, 10)
	assert.Equal(t, 3, pages)
	p, err := c.ReadPage(ctx, "2")
	require.NoError(t, err)
	assert.Len(t, p.Records, 2)
	assert.Empty(t, p.Next, "last page")
	assert.Equal(t, 10, p.Total)

	_, err = c.ReadPage(ctx, "x")
	assert.True(t, resync.IsPermanent(err), "bad cursor: %v", err)
	_, err = c.ReadPage(ctx, "-1")
	assert.True(t, resync.IsPermanent(err), "negative cursor: %v", err)
	_, err = c.ReadPage(ctx, "3")
	assert.True(t, resync.IsPermanent(err), "cursor beyond the pages: %v", err)

	c.SetPages(nil)
	p, err = c.ReadPage(ctx, "")
	require.NoError(t, err)
	assert.Empty(t, p.Records)
	assert.Empty(t, p.Next, "no pages is one empty page")

	c.SetRecords(resynctest.Identities("v", 3), 0)
	recs, pages, err = readAll(ctx, c)
	require.NoError(t, err)
	assert.Equal(t, 1, pages)
	assert.Equal(t, "v2", storage.KeyOf(recs[2]))

	// Pages returned are copies: appending to one does not reach the fake.
	p, err = c.ReadPage(ctx, "")
	require.NoError(t, err)
	p.Records[0] = nil
	p2, err := c.ReadPage(ctx, "")
	require.NoError(t, err)
	assert.NotNil(t, p2.Records[0])
}

func TestPaginate(t *testing.T) {
	recs := resynctest.Identities("u", 5)
	assert.Len(t, resynctest.Paginate(recs, 0), 1)
	assert.Len(t, resynctest.Paginate(recs, 5), 1)
	pages := resynctest.Paginate(recs, 2)
	require.Len(t, pages, 3)
	assert.Len(t, pages[2], 1)
	assert.Equal(t, 2, cap(pages[0]), "pages do not share spare capacity")
	assert.Len(t, resynctest.Paginate(nil, 3), 1)
}

func TestFakeConnectorFaults(t *testing.T) {
	ctx := t.Context()
	perm := resync.Permanent(errors.New("401 Unauthorized"))
	throttled := resync.RetryAfter(errors.New("429 Too Many Requests"), 3*time.Second)
	c := resynctest.NewConnector(resynctest.Identities("u", 6), 2)
	c.AddFault(resynctest.Fault{Page: 1, Times: 2})
	c.AddFault(resynctest.Fault{Page: 2, Err: throttled})

	_, err := c.ReadPage(ctx, "")
	require.NoError(t, err)
	for range 2 {
		_, err = c.ReadPage(ctx, "1")
		require.Error(t, err, "page 1 fails twice")
		assert.False(t, resync.IsPermanent(err), "a fault without Err is transient")
		_, ok := resync.RetryDelay(err)
		assert.False(t, ok)
	}
	_, err = c.ReadPage(ctx, "1")
	require.NoError(t, err, "the third read of page 1 succeeds")

	_, err = c.ReadPage(ctx, "2")
	d, ok := resync.RetryDelay(err)
	assert.True(t, ok)
	assert.Equal(t, 3*time.Second, d)
	_, err = c.ReadPage(ctx, "2")
	require.NoError(t, err, "Times 0 means one failure")

	assert.Equal(t, 3, c.PageReads(1))
	assert.Equal(t, 2, c.PageReads(2))
	assert.Equal(t, 1, c.PageReads(0))
	assert.Equal(t, 6, c.TotalPageReads())
	assert.Equal(t, 1, c.Reads())

	c.ClearFaults()
	c.AddFault(resynctest.Fault{Page: 0, Err: perm})
	_, err = c.ReadPage(ctx, "")
	assert.True(t, resync.IsPermanent(err))
	assert.ErrorIs(t, err, perm)
	c.ClearFaults()
	_, _, err = readAll(ctx, c)
	require.NoError(t, err, "ClearFaults removes the faults")
	assert.Equal(t, 3, c.Reads())
}

func TestFakeConnectorPanic(t *testing.T) {
	c := resynctest.NewConnector(resynctest.Identities("u", 4), 2)
	c.AddFault(resynctest.Fault{Page: 1, Panic: "connector bug", Err: errors.New("ignored")})
	_, err := c.ReadPage(t.Context(), "")
	require.NoError(t, err)
	assert.PanicsWithValue(t, "connector bug", func() { _, _ = c.ReadPage(t.Context(), "1") })
	_, err = c.ReadPage(t.Context(), "1")
	assert.NoError(t, err, "the panic fault is used up")
}

func TestFakeConnectorCanceled(t *testing.T) {
	c := resynctest.NewConnector(resynctest.Identities("u", 4), 2)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := c.ReadPage(ctx, "")
	assert.ErrorIs(t, err, context.Canceled)
}

func TestFakeConnectorBlock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := resynctest.NewConnector(resynctest.Identities("u", 4), 2)
		c.Block()
		done := make(chan error, 1)
		go func() {
			_, err := c.ReadPage(t.Context(), "")
			done <- err
		}()
		synctest.Wait()
		select {
		case err := <-done:
			t.Fatalf("page 0 returned (%v) while blocked", err)
		default:
		}
		_, err := c.ReadPage(t.Context(), "1")
		require.NoError(t, err, "Block holds page 0 only")
		c.Unblock()
		synctest.Wait()
		select {
		case err := <-done:
			require.NoError(t, err)
		default:
			t.Fatal("page 0 still blocked after Unblock")
		}
		c.Unblock() // a second Unblock is harmless

		// A blocked read ends with its context.
		c.Block()
		ctx, cancel := context.WithCancel(t.Context())
		go func() {
			_, err := c.ReadPage(ctx, "")
			done <- err
		}()
		synctest.Wait()
		cancel()
		assert.ErrorIs(t, <-done, context.Canceled)
		c.Unblock()
	})
}

func TestFakeConnectorLatency(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := resynctest.NewConnector(resynctest.Identities("u", 6), 2)
		c.SetLatency(time.Second)
		var pages []int
		c.OnRead(func(page int) { pages = append(pages, page) })
		start := time.Now()
		_, n, err := readAll(t.Context(), c)
		require.NoError(t, err)
		assert.Equal(t, 3, n)
		assert.Equal(t, 3*time.Second, time.Since(start), "one second per page, virtual time")
		assert.Equal(t, []int{0, 1, 2}, pages)

		ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
		defer cancel()
		_, err = c.ReadPage(ctx, "")
		assert.ErrorIs(t, err, context.DeadlineExceeded, "latency ends with the context")
	})
}

func TestFakes(t *testing.T) {
	ctx := t.Context()
	f := resynctest.NewFakes()
	c := resynctest.NewConnector(nil, 0)
	other := resynctest.NewConnector(nil, 0)
	f.Set("acme", "okta", c)
	f.Set("globex", "okta", other)
	assert.Same(t, c, f.Get("acme", "okta"))
	assert.Same(t, other, f.Get("globex", "okta"), "the same connection ID in another tenant is another fake")
	assert.Nil(t, f.Get("acme", "conn-2"))
	assert.Nil(t, f.Get("initech", "okta"))
	facs := f.Factories("okta", "github")
	require.Len(t, facs, 2)
	got, err := facs["github"](ctx, resync.Connection{ID: "okta", Tenant: "acme", Provider: "github"})
	require.NoError(t, err)
	assert.Same(t, c, got)
	got, err = facs["okta"](ctx, resync.Connection{ID: "okta", Tenant: "globex", Provider: "okta"})
	require.NoError(t, err)
	assert.Same(t, other, got)
	_, err = f.Factory()(ctx, resync.Connection{ID: "okta", Tenant: "initech"})
	assert.True(t, resync.IsPermanent(err))
}

func TestSource(t *testing.T) {
	ctx := t.Context()
	s := resynctest.NewSource()
	_, err := s.Connections(ctx, "acme")
	assert.ErrorIs(t, err, resync.ErrNotFound)
	s.AddTenant("empty")
	conns, err := s.Connections(ctx, "empty")
	require.NoError(t, err)
	assert.Empty(t, conns)
	s.Add(resync.Connection{ID: "c1", Tenant: "acme", Type: resync.IdP, Provider: "okta"},
		resync.Connection{ID: "c2", Tenant: "acme", Type: resync.HRIS, Provider: "bamboohr"})
	s.AddTenant("acme") // keeps its connections
	conns, err = s.Connections(ctx, "acme")
	require.NoError(t, err)
	require.Len(t, conns, 2)
	conns[0].ID = "changed"
	again, _ := s.Connections(ctx, "acme")
	assert.Equal(t, "c1", again[0].ID, "Connections returns a copy")
	assert.Equal(t, []string{"acme", "empty"}, s.Tenants())
	s.Remove("acme")
	_, err = s.Connections(ctx, "acme")
	assert.ErrorIs(t, err, resync.ErrNotFound)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err = s.Connections(cctx, "empty")
	assert.ErrorIs(t, err, context.Canceled)
}

func TestAuthorizers(t *testing.T) {
	ctx := t.Context()
	p := resync.Principal{ID: "u1"}
	ok, err := resynctest.AllowAll.Authorize(ctx, "t", p, resync.ActionResyncPersonnel)
	require.NoError(t, err)
	assert.True(t, ok)
	ok, err = resynctest.DenyAll.Authorize(ctx, "t", p, resync.ActionResyncPersonnel)
	require.NoError(t, err)
	assert.False(t, ok)

	admins := resynctest.Admins{"acme": {{ID: "u1", Email: "a@example.com"}}}
	ok, _ = admins.Authorize(ctx, "acme", resync.Principal{ID: "u1"}, resync.ActionReviewHeld)
	assert.True(t, ok)
	ok, _ = admins.Authorize(ctx, "other", resync.Principal{ID: "u1"}, resync.ActionReviewHeld)
	assert.False(t, ok, "admin of another tenant")
	ok, _ = admins.Authorize(ctx, "acme", resync.Principal{ID: "u2"}, resync.ActionReviewHeld)
	assert.False(t, ok)
	list, err := admins.Admins(ctx, "acme")
	require.NoError(t, err)
	assert.Equal(t, []resync.Principal{{ID: "u1", Email: "a@example.com"}}, list)
	list[0].ID = "changed"
	again, _ := admins.Admins(ctx, "acme")
	assert.Equal(t, "u1", again[0].ID, "Admins returns a copy")
}

func TestFakeNotifier(t *testing.T) {
	ctx := t.Context()
	n := &resynctest.Notifier{}
	msg := resynctest.SampleNotifications("acme")[0]
	boom := errors.New("smtp down")
	n.FailNext(2, boom)
	assert.ErrorIs(t, n.Notify(ctx, msg), boom)
	assert.ErrorIs(t, n.Notify(ctx, msg), boom)
	require.NoError(t, n.Notify(ctx, msg))
	assert.Len(t, n.Notifications(), 1, "failed deliveries are not recorded")

	n.FailNext(1, nil)
	assert.Error(t, n.Notify(ctx, msg), "nil error means a generic one")
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	assert.ErrorIs(t, n.Notify(cctx, msg), context.Canceled)
	assert.Len(t, n.Notifications(), 1)
	n.Reset()
	assert.Empty(t, n.Notifications())
}

func TestIdentities(t *testing.T) {
	recs := resynctest.Identities("emp-", 50)
	require.Len(t, recs, 50)
	emails := map[string]bool{}
	for i, r := range recs {
		require.NoError(t, resync.ValidateRecord(r, resync.Limits{}))
		id := r.(*resync.Identity)
		assert.Equal(t, "emp-"+strconv.Itoa(i), id.Key)
		emails[id.Email] = true
	}
	assert.Len(t, emails, 50)
}
