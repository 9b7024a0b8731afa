package resync_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openresync/resync"
	"github.com/openresync/resync/connkit"
)

// pacedConnector serves pages of identities; after each page it asks for
// the next no earlier than wait from now (Page.NotBefore), and page
// failAt (1-based) fails once with failErr. It records when each page was
// asked for.
type pacedConnector struct {
	pages   int
	wait    time.Duration
	failAt  int
	failErr error

	mu     sync.Mutex
	calls  []time.Time
	pageAt map[int]int // page → ReadPage calls
}

func (c *pacedConnector) ReadPage(ctx context.Context, cursor string) (resync.Page, error) {
	n := 1
	if cursor != "" {
		n, _ = strconv.Atoi(cursor)
	}
	c.mu.Lock()
	c.calls = append(c.calls, time.Now())
	if c.pageAt == nil {
		c.pageAt = map[int]int{}
	}
	c.pageAt[n]++
	first := c.pageAt[n] == 1
	c.mu.Unlock()
	if n == c.failAt && first {
		return resync.Page{}, c.failErr
	}
	pg := resync.Page{Records: []resync.Record{&resync.Identity{Key: fmt.Sprintf("u%d", n), Status: resync.StatusActive}}}
	if n < c.pages {
		pg.Next = strconv.Itoa(n + 1)
		if c.wait > 0 {
			pg.NotBefore = time.Now().Add(c.wait)
		}
	}
	return pg, nil
}

func (c *pacedConnector) reads(page int) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pageAt[page]
}

func throttleHarness(t *testing.T, c *pacedConnector) *harness {
	h := newHarness(t, func(cfg *resync.Config) {
		cfg.ConnectionTimeout = 10 * time.Minute
		cfg.Connectors["paced"] = func(context.Context, resync.Connection) (resync.Connector, error) { return c, nil }
	})
	h.src.Add(resync.Connection{ID: "p1", Tenant: "t1", Type: resync.IdP, Provider: "paced", Name: "paced"})
	return h
}

// A page's NotBefore delays the next page without spending a retry.
func TestPageNotBeforeWaitsWithoutRetry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := &pacedConnector{pages: 3, wait: 2 * time.Minute} // each wait outlasts LeaseTTL: the lease is kept
		h := throttleHarness(t, c)
		info := h.personnel(alice)
		r := result(t, info, "p1")
		require.Equal(t, resync.ConnSucceeded, r.Status, r.Error)
		assert.Equal(t, 3, r.Added)
		assert.Equal(t, 3, r.Attempts, "waiting for NotBefore spent a retry attempt")
		require.Len(t, c.calls, 3)
		for i := 1; i < 3; i++ {
			gap := c.calls[i].Sub(c.calls[i-1])
			assert.GreaterOrEqual(t, gap, 2*time.Minute, "page %d asked for before NotBefore", i+1)
			assert.Less(t, gap, 3*time.Minute, "waited far longer than asked")
		}
	})
}

// A NotBefore past what is left of ConnectionTimeout ends the read at
// once as throttled, with the reset time, nothing applied.
func TestPageNotBeforeBeyondTimeoutIsThrottled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := &pacedConnector{pages: 3, wait: time.Hour}
		h := throttleHarness(t, c)
		start := time.Now()
		r0, err := h.engine.ResyncPersonnel(context.Background(), "t1", alice)
		require.NoError(t, err)
		info, err := r0.Wait(context.Background())
		require.NoError(t, err)
		r := result(t, info, "p1")
		assert.Equal(t, resync.ConnThrottled, r.Status)
		assert.WithinDuration(t, start.Add(time.Hour), r.RetryAt, time.Second)
		assert.Equal(t, 0, r.Added, "a throttled read applied changes")
		assert.Empty(t, h.live("t1", "p1"), "a throttled read stored records")
		assert.Equal(t, 0, c.reads(2), "the next page was asked for anyway")
		assert.Less(t, time.Since(start), time.Minute, "the read waited instead of ending")
		assert.ErrorIs(t, r0.Err(), resync.ErrThrottled)
		assert.ErrorIs(t, info.Err(), resync.ErrThrottled, "the stored run's Err")
		assert.Contains(t, r.Error, "throttled until")
		stored := h.runs("t1")
		require.Len(t, stored, 1)
		sr := result(t, stored[0], "p1")
		assert.Equal(t, resync.ConnThrottled, sr.Status, "the stored run")
		assert.True(t, sr.RetryAt.Equal(r.RetryAt), "the stored run's RetryAt")
	})
}

// A throttle error (RetryAfter, here from a 429 with the IETF RateLimit
// field: no quota left, reset in 45 minutes) whose wait
// is longer than what is left of the read ends it as throttled on the
// first attempt, instead of sleeping until the read times out.
func TestRetryAfterBeyondTimeoutIsThrottled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reset := time.Now().Add(45 * time.Minute).Truncate(time.Second)
		resp := &http.Response{StatusCode: http.StatusTooManyRequests, Request: &http.Request{Method: http.MethodGet},
			Header: http.Header{"Ratelimit": {`"default";r=0;t=2700`}, "Ratelimit-Policy": {`"default";q=100;w=3600`}}}
		throttle := connkit.ClassifyHTTP(resp, nil, nil)
		c := &pacedConnector{pages: 3, failAt: 2, failErr: throttle}
		h := throttleHarness(t, c)
		start := time.Now()
		info := h.personnel(alice)
		r := result(t, info, "p1")
		assert.Equal(t, resync.ConnThrottled, r.Status, r.Error)
		assert.WithinDuration(t, reset, r.RetryAt, time.Second)
		assert.Equal(t, 1, c.reads(2), "the throttled page was retried")
		assert.Empty(t, h.live("t1", "p1"))
		assert.Less(t, time.Since(start), time.Minute)
		assert.Equal(t, resync.RunFailed, info.Status, "the run's only connection was throttled")

		// A wait that fits in the read is waited out and the read succeeds.
		c2 := &pacedConnector{pages: 3, failAt: 2, failErr: resync.RetryAfter(errors.New("slow down"), 2*time.Minute)}
		h2 := throttleHarness(t, c2)
		r2 := result(t, h2.personnel(alice), "p1")
		assert.Equal(t, resync.ConnSucceeded, r2.Status, r2.Error)
		assert.Equal(t, 2, c2.reads(2))
	})
}
