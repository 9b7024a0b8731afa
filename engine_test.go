package resync_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openresync/resync"
	"github.com/openresync/resync/connkit"
	"github.com/openresync/resync/resynctest"
)

// Rule 1: one connection's failure, timeout or panic never fails or cancels
// the others; the run ends partial with a result per connection.
func TestRule1_Isolation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, func(c *resync.Config) { c.ConnectionTimeout = time.Minute })
		good := h.conn("t1", "okta1", resync.IdP, "okta", resynctest.Identities("u", 30), 10)
		good.SetLatency(time.Second)
		bad := h.conn("t1", "gh1", resync.VersionControl, "github", resynctest.Identities("g", 30), 10)
		bad.AddFault(resynctest.Fault{Page: 1, Err: resync.Permanent(errors.New("bad credentials"))})
		boom := h.conn("t1", "hr1", resync.HRIS, "bamboohr", resynctest.Identities("h", 30), 10)
		boom.AddFault(resynctest.Fault{Page: 0, Panic: "connector bug"})
		slow := h.conn("t1", "aws1", resync.Infrastructure, "aws", resynctest.Identities("a", 30), 10)
		slow.SetLatency(2 * time.Minute) // beyond ConnectionTimeout

		info := h.personnel(alice)
		assert.Equal(t, resync.RunPartial, info.Status)
		r := result(t, info, "okta1")
		assert.Equal(t, resync.ConnSucceeded, r.Status)
		assert.Equal(t, 30, r.Added)
		assert.Len(t, h.live("t1", "okta1"), 30)

		r = result(t, info, "gh1")
		assert.Equal(t, resync.ConnFailed, r.Status)
		assert.Contains(t, r.Error, "bad credentials")
		assert.Equal(t, 10, r.Read, "page 0 was read before page 1 failed")

		r = result(t, info, "hr1")
		assert.Equal(t, resync.ConnFailed, r.Status)
		assert.Contains(t, r.Error, "connector bug")

		r = result(t, info, "aws1")
		assert.Equal(t, resync.ConnFailed, r.Status)
		assert.Contains(t, r.Error, "deadline exceeded")
		for _, id := range []string{"gh1", "hr1", "aws1"} {
			assert.Empty(t, h.live("t1", id), "failed connection %s applied records", id)
		}
		err := info.Err()
		var ce *resync.ConnectionError
		require.ErrorAs(t, err, &ce)
		assert.Len(t, strings.Split(err.Error(), "\n"), 3)
	})
}

// Rule 2: a transient failure on page 37 retries page 37 only.
func TestRule2_RetriesAtPageGranularity(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, nil)
		c := h.conn("t1", "okta1", resync.IdP, "okta", resynctest.Identities("u", 500), 10) // 50 pages
		c.AddFault(resynctest.Fault{Page: 37, Times: 2})
		info := h.personnel(alice)
		r := result(t, info, "okta1")
		require.Equal(t, resync.ConnSucceeded, r.Status, r.Error)
		assert.Equal(t, 3, c.PageReads(37), "page 37: two failures and one success")
		for p := 0; p < 50; p++ {
			if p != 37 {
				assert.Equal(t, 1, c.PageReads(p), "page %d re-read", p)
			}
		}
		assert.Equal(t, 52, r.Attempts)
		assert.Equal(t, 50, r.Pages)
		assert.Equal(t, 500, r.Added)
	})
}

// Rule 2: a throttle error carrying Retry-After waits at least that long
// (in virtual time), even though the backoff alone would be shorter.
func TestRule2_RetryAfterHonoured(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, nil) // backoff starts at 10ms
		c := h.conn("t1", "okta1", resync.IdP, "okta", resynctest.Identities("u", 30), 10)
		resp := &http.Response{StatusCode: http.StatusTooManyRequests, Header: http.Header{"Retry-After": {"3"}},
			Request: &http.Request{Method: "GET"}}
		throttle := connkit.ClassifyHTTP(resp, []byte(`{"errorCode":"E0000047"}`), nil)
		d, ok := resync.RetryDelay(throttle)
		require.True(t, ok)
		require.Equal(t, 3*time.Second, d)
		c.AddFault(resynctest.Fault{Page: 1, Err: throttle})
		var mu sync.Mutex
		var at []time.Time
		c.OnRead(func(page int) {
			if page == 1 {
				mu.Lock()
				at = append(at, time.Now())
				mu.Unlock()
			}
		})
		info := h.personnel(alice)
		require.Equal(t, resync.ConnSucceeded, result(t, info, "okta1").Status)
		require.Len(t, at, 2)
		assert.GreaterOrEqual(t, at[1].Sub(at[0]), 3*time.Second)
		assert.Less(t, at[1].Sub(at[0]), 4*time.Second, "waited far longer than asked")
	})
}

// Rule 2: permanent errors (401) are not retried.
func TestRule2_PermanentNotRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, nil)
		c := h.conn("t1", "okta1", resync.IdP, "okta", resynctest.Identities("u", 30), 10)
		resp := &http.Response{StatusCode: http.StatusUnauthorized, Request: &http.Request{Method: "GET"}}
		c.AddFault(resynctest.Fault{Page: 2, Times: 5, Err: connkit.ClassifyHTTP(resp, []byte(`{"errorCode":"E0000011","errorSummary":"Invalid token provided"}`), nil)})
		info := h.personnel(alice)
		r := result(t, info, "okta1")
		assert.Equal(t, resync.ConnFailed, r.Status)
		assert.Contains(t, r.Error, "401")
		assert.Contains(t, r.Error, "Invalid token provided")
		assert.Equal(t, 1, c.PageReads(2), "a 401 was retried")
		assert.Equal(t, 3, r.Attempts)
	})
}

// Rule 2: transient errors are retried a bounded number of times.
func TestRule2_TransientGivesUpAfterMaxAttempts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, func(c *resync.Config) { c.Retry.MaxAttempts = 4 })
		c := h.conn("t1", "okta1", resync.IdP, "okta", resynctest.Identities("u", 30), 10)
		c.AddFault(resynctest.Fault{Page: 1, Times: 100})
		info := h.personnel(alice)
		assert.Equal(t, resync.ConnFailed, result(t, info, "okta1").Status)
		assert.Equal(t, 4, c.PageReads(1))
	})
}

// Rule 3: a read that did not finish applies nothing; nothing is tombstoned.
func TestRule3_NothingLostOnFailedRead(t *testing.T) {
	h := newHarness(t, nil)
	c := h.conn("t1", "okta1", resync.IdP, "okta", resynctest.Identities("u", 50), 10)
	first := h.personnel(alice)
	require.Equal(t, resync.RunSucceeded, first.Status)
	before := h.all("t1", "okta1")
	changesBefore := len(h.changes("t1"))

	// The next read changes everything, then fails on page 3 of 5.
	c.SetRecords(resynctest.Identities("v", 50), 10)
	c.AddFault(resynctest.Fault{Page: 3, Err: resync.Permanent(errors.New("gone"))})
	info := h.personnel(alice)
	assert.Equal(t, resync.RunFailed, info.Status)
	assert.Equal(t, before, h.all("t1", "okta1"), "snapshot changed by a failed read")
	assert.Len(t, h.changes("t1"), changesBefore, "change log written by a failed read")
	for _, r := range h.all("t1", "okta1") {
		assert.False(t, !r.RemovedAt.IsZero(), "%s tombstoned by a failed read", r.Key)
	}
}

// Rule 3: removal is a tombstone carrying the run that saw the record
// gone; every applied change is in the change log; history stays.
func TestRule3_TombstonesAndChangeLog(t *testing.T) {
	h := newHarness(t, nil)
	recs := resynctest.Identities("u", 20)
	c := h.conn("t1", "okta1", resync.IdP, "okta", recs, 7)
	h.personnel(alice)

	next := append([]resync.Record{}, recs[2:]...)                                                  // u0, u1 removed
	next[0] = &resync.Identity{Key: "u2", Email: "new@example.com", Status: resync.StatusSuspended} // updated
	next = append(next, &resync.Identity{Key: "u99", Status: resync.StatusActive})                  // added
	c.SetRecords(next, 7)
	info := h.personnel(bob)
	r := result(t, info, "okta1")
	require.Equal(t, resync.ConnSucceeded, r.Status, r.Error)
	assert.Equal(t, []int{1, 1, 2, 17}, []int{r.Added, r.Updated, r.Removed, r.Unchanged})

	all := h.all("t1", "okta1")
	assert.Len(t, all, 21, "records are never hard-deleted")
	byKey := map[string]resync.StoredRecord{}
	for _, s := range all {
		byKey[s.Key] = s
	}
	for _, k := range []string{"u0", "u1"} {
		assert.True(t, !byKey[k].RemovedAt.IsZero())
		assert.Equal(t, info.ID, byKey[k].RemovedBy)
	}
	assert.Equal(t, resync.StatusSuspended, byKey["u2"].Record.(*resync.Identity).Status)

	log, err := h.store.Changes(context.Background(), resync.ChangeQuery{Tenant: "t1", RunID: info.ID})
	require.NoError(t, err)
	got := map[string]resync.ChangeOp{}
	for _, e := range log {
		got[e.Key] = e.Op
	}
	assert.Equal(t, map[string]resync.ChangeOp{"u0": resync.OpRemove, "u1": resync.OpRemove, "u2": resync.OpUpdate, "u99": resync.OpAdd}, got)

	// A removed record that comes back is revived, not duplicated.
	c.SetRecords(append(next, recs[0]), 7)
	info = h.personnel(alice)
	assert.Equal(t, 1, result(t, info, "okta1").Added)
	assert.True(t, h.live("t1", "okta1")["u0"].RemovedAt.IsZero())
	assert.Len(t, h.all("t1", "okta1"), 21)
}

// Rule 3: re-applying the same change set is a no-op.
func TestRule3_ApplyIdempotentPerRun(t *testing.T) {
	h := newHarness(t, nil)
	h.conn("t1", "okta1", resync.IdP, "okta", resynctest.Identities("u", 10), 0)
	info := h.personnel(alice)
	log := h.changes("t1")
	require.Len(t, log, 10)
	cs := &resync.ChangeSet{ID: log[0].ChangeSetID, Tenant: "t1", ConnectionID: "okta1", RunID: info.ID, BaseVersion: 0}
	for _, e := range log {
		cs.Changes = append(cs.Changes, resync.Change{Op: e.Op, Kind: e.Kind, Key: e.Key, Fingerprint: e.Fingerprint,
			Record: &resync.Identity{Key: e.Key, Status: resync.StatusActive}})
	}
	require.NoError(t, h.store.Apply(context.Background(), cs))
	assert.Len(t, h.changes("t1"), 10, "re-applied change set wrote the change log again")
	assert.Equal(t, "Person u3", h.live("t1", "okta1")["u3"].Record.(*resync.Identity).Name)
}

// Rule 4: an empty read of a 1,000-record snapshot is held; approve applies
// it; reject discards it.
func TestRule4_DeleteGuardEmptyRead(t *testing.T) {
	h := newHarness(t, nil)
	recs := resynctest.Identities("u", 1000)
	c := h.conn("t1", "okta1", resync.IdP, "okta", recs, 100)
	h.personnel(alice)
	h.notifier.Reset()

	c.SetRecords(nil, 100)
	info := h.personnel(alice)
	r := result(t, info, "okta1")
	assert.Equal(t, resync.ConnHeld, r.Status)
	assert.Equal(t, resync.RunPartial, info.Status)
	assert.Contains(t, r.Error, "no records")
	require.NotEmpty(t, r.HeldID)
	assert.Len(t, h.live("t1", "okta1"), 1000, "held change set was applied")
	assert.ErrorIs(t, info.Err(), resync.ErrHeld)

	var heldNotes []resync.Notification
	for _, n := range h.notifier.Notifications() {
		if n.Kind == resync.NotifyChangesHeld {
			heldNotes = append(heldNotes, n)
		}
	}
	require.Len(t, heldNotes, 2, "admins get the held alert in-product and by email")
	for _, n := range heldNotes {
		assert.ElementsMatch(t, []resync.Principal{alice, bob}, n.Recipients)
		assert.Equal(t, 1000, n.Held.Removed)
	}

	held, err := h.engine.HeldChangeSets(context.Background(), "t1", alice)
	require.NoError(t, err)
	require.Len(t, held, 1)
	assert.Equal(t, r.HeldID, held[0].ID)

	// Only admins may approve.
	_, err = h.engine.Approve(context.Background(), "t1", r.HeldID, carol, "")
	require.ErrorIs(t, err, resync.ErrForbidden)

	sum, err := h.engine.Approve(context.Background(), "t1", r.HeldID, bob, "HR confirmed the layoffs")
	require.NoError(t, err)
	assert.Equal(t, 1000, sum.Removed)
	assert.Empty(t, h.live("t1", "okta1"))
	assert.Len(t, h.all("t1", "okta1"), 1000, "approved removal tombstones, never deletes")
	_, err = h.engine.Approve(context.Background(), "t1", r.HeldID, bob, "")
	assert.ErrorIs(t, err, resync.ErrConflict, "a change set decided already is no longer held")

	// Rebuild, hold again, reject: nothing changes.
	c.SetRecords(recs, 100)
	require.Equal(t, resync.RunSucceeded, h.personnel(alice).Status)
	c.SetRecords(nil, 100)
	info = h.personnel(alice)
	heldID := result(t, info, "okta1").HeldID
	_, err = h.engine.Reject(context.Background(), "t1", heldID, alice, "")
	require.NoError(t, err)
	assert.Len(t, h.live("t1", "okta1"), 1000)
	held, err = h.engine.HeldChangeSets(context.Background(), "t1", alice)
	require.NoError(t, err)
	assert.Empty(t, held)
}

// Rule 4: thresholds — more than 20% of a snapshot and more than 2 records,
// or more than 500 records, is held; less is applied. Small connections
// are protected too.
func TestRule4_DeleteGuardThresholds(t *testing.T) {
	cases := []struct {
		name       string
		size, keep int
		held       bool
	}{
		{"10% of 1000 applied", 1000, 900, false},
		{"25% of 1000 held", 1000, 750, true},
		{"the 50-person HRIS that returns 20: held", 50, 20, true},
		{"2 of 50 removed: applied", 50, 48, false},
		{"1 of 3 removed: applied", 3, 2, false},
		{"10 of 50 removed (20%): applied", 50, 40, false},
		{"600 of 10000 held: over 500", 10000, 9400, true},
		{"400 of 10000 applied", 10000, 9600, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, nil)
			recs := resynctest.Identities("u", tc.size)
			c := h.conn("t1", "okta1", resync.IdP, "okta", recs, 1000)
			h.personnel(alice)
			c.SetRecords(recs[:tc.keep], 1000)
			r := result(t, h.personnel(alice), "okta1")
			if tc.held {
				assert.Equal(t, resync.ConnHeld, r.Status)
				assert.Len(t, h.live("t1", "okta1"), tc.size)
			} else {
				assert.Equal(t, resync.ConnSucceeded, r.Status, r.Error)
				assert.Len(t, h.live("t1", "okta1"), tc.keep)
			}
		})
	}
}

// Rule 4: a held change set whose snapshot moved on cannot be approved.
func TestRule4_StaleHoldRefused(t *testing.T) {
	h := newHarness(t, nil)
	h.conn("t1", "okta1", resync.IdP, "okta", resynctest.Identities("u", 5), 0)
	h.personnel(alice) // snapshot at version 1
	stale := &resync.ChangeSet{ID: "old/okta1/1", Tenant: "t1", ConnectionID: "okta1", RunID: "old", BaseVersion: 0,
		Changes: []resync.Change{{Op: resync.OpRemove, Kind: resync.KindIdentity, Key: "u1"}}, HoldReason: "test"}
	require.NoError(t, h.store.Hold(context.Background(), stale))
	_, err := h.engine.Approve(context.Background(), "t1", stale.ID, alice, "")
	require.ErrorIs(t, err, resync.ErrConflict)
	assert.Len(t, h.live("t1", "okta1"), 5)
	held, _ := h.store.HeldChangeSets(context.Background(), "t1")
	assert.Empty(t, held, "stale held change set kept")
}

// Rule 5: 100 concurrent identical requests give one run.
func TestRule5_ConcurrentIdenticalRequestsOneRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, nil)
		var conns []*resynctest.Connector
		for i := range 4 {
			c := h.conn("t1", fmt.Sprintf("c%d", i), resync.IdP, "okta", resynctest.Identities("u", 50), 10)
			c.SetLatency(100 * time.Millisecond)
			conns = append(conns, c)
		}
		var wg sync.WaitGroup
		ids := make([]string, 100)
		for i := range ids {
			wg.Add(1)
			go func() {
				defer wg.Done()
				admin := alice
				if i%2 == 1 {
					admin = bob
				}
				r, err := h.engine.ResyncPersonnel(context.Background(), "t1", admin)
				if assert.NoError(t, err) {
					ids[i] = r.ID()
				}
			}()
		}
		wg.Wait()
		for _, id := range ids {
			assert.Equal(t, ids[0], id)
		}
		r, err := h.engine.ResyncPersonnel(context.Background(), "t1", alice)
		require.NoError(t, err)
		info, err := r.Wait(context.Background())
		require.NoError(t, err)
		assert.Equal(t, resync.RunSucceeded, info.Status)
		assert.Len(t, h.runs("t1"), 1)
		assert.ElementsMatch(t, []resync.Principal{alice, bob}, info.Requesters)
		for i, c := range conns {
			assert.LessOrEqual(t, c.Reads(), 2, "connection c%d read more than once after the first", i)
		}
	})
}

// Rule 5: a request that arrives while a connection is being read gets
// exactly one follow-up read of it, however many requests arrive.
func TestRule5_RequestDuringReadGetsOneFollowUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, nil)
		okta := h.conn("t1", "okta1", resync.IdP, "okta", resynctest.Identities("u", 20), 10)
		aws := h.conn("t1", "aws1", resync.Infrastructure, "aws", resynctest.Identities("a", 20), 10)
		okta.Block()
		aws.Block()
		r1, err := h.engine.ResyncPersonnel(context.Background(), "t1", alice)
		require.NoError(t, err)
		synctest.Wait() // both reads are in flight, blocked on page 0
		require.Equal(t, 1, okta.Reads())

		// The admin changes something and asks again, five times.
		var joined []*resync.Run
		for range 5 {
			r, err := h.engine.ResyncPersonnel(context.Background(), "t1", bob)
			require.NoError(t, err)
			joined = append(joined, r)
		}
		// An accounts resync of the AWS connection arrives too: a different
		// scope, so a different run, but the same follow-up read.
		r3, err := h.engine.ResyncAccounts(context.Background(), "t1", alice, resync.Infrastructure)
		require.NoError(t, err)
		assert.NotEqual(t, r1.ID(), r3.ID())
		for _, r := range joined {
			assert.Equal(t, r1.ID(), r.ID())
		}
		okta.Unblock()
		aws.Unblock()
		info, err := r1.Wait(context.Background())
		require.NoError(t, err)
		info3, err := r3.Wait(context.Background())
		require.NoError(t, err)
		assert.Equal(t, resync.RunSucceeded, info.Status)
		assert.Equal(t, resync.RunSucceeded, info3.Status)
		assert.Equal(t, 2, okta.Reads(), "okta: one read, one follow-up")
		assert.Equal(t, 2, aws.Reads(), "aws: one read, one follow-up shared by both runs")
		assert.Equal(t, 2, result(t, info, "okta1").Reads)
	})
}

// Rule 5: a connection is never read twice at the same time.
func TestRule5_OneReadPerConnectionAtATime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, nil)
		c := h.conn("t1", "aws1", resync.Infrastructure, "aws", resynctest.Identities("a", 30), 10)
		h.conn("t1", "okta1", resync.IdP, "okta", resynctest.Identities("u", 30), 10)
		c.SetLatency(50 * time.Millisecond)
		var mu sync.Mutex
		inflight, maxInflight := 0, 0
		c.OnRead(func(page int) {
			mu.Lock()
			defer mu.Unlock()
			if page == 0 {
				inflight++
				maxInflight = max(maxInflight, inflight)
			}
			if page == 2 {
				inflight--
			}
		})
		var runs []*resync.Run
		for i := range 20 {
			var r *resync.Run
			var err error
			if i%2 == 0 {
				r, err = h.engine.ResyncPersonnel(context.Background(), "t1", alice)
			} else {
				r, err = h.engine.ResyncAccounts(context.Background(), "t1", bob, resync.Infrastructure, "aws")
			}
			require.NoError(t, err)
			runs = append(runs, r)
			time.Sleep(30 * time.Millisecond)
		}
		for _, r := range runs {
			info, err := r.Wait(context.Background())
			require.NoError(t, err)
			assert.Equal(t, resync.RunSucceeded, info.Status)
		}
		assert.Equal(t, 1, maxInflight)
		assert.Less(t, c.Reads(), 20, "queued requests were not coalesced")
	})
}

// Rule 6: bad records are rejected and counted, and nothing is stored from
// them; a duplicated key keeps the stored version.
func TestRule6_BadRecordsRejected(t *testing.T) {
	h := newHarness(t, nil)
	c := h.conn("t1", "okta1", resync.IdP, "okta", resynctest.Identities("u", 5), 0)
	h.personnel(alice)
	recs := resynctest.Identities("u", 5)
	recs[4] = &resync.Identity{Key: "u4", Name: "Changed", Status: "bogus"} // known key, invalid: stored version stays
	recs = append(recs,
		&resync.Identity{Key: "", Status: resync.StatusActive},
		&resync.Identity{Key: "bad-utf8", Name: "\xff\xfe", Status: resync.StatusActive},
		&resync.Identity{Key: "huge", Title: strings.Repeat("x", 9000), Status: resync.StatusActive},
		&resync.Identity{Key: "u1", Name: "Impostor", Status: resync.StatusActive}, // duplicate of u1
		&resync.Account{Key: "acct", Status: "weird"},
		&resync.Identity{Key: "ok-new", Status: resync.StatusActive},
	)
	c.SetRecords(recs, 3)
	info := h.personnel(alice)
	r := result(t, info, "okta1")
	require.Equal(t, resync.ConnSucceeded, r.Status, r.Error)
	assert.Equal(t, 7, r.Rejected, "empty key, bad UTF-8, oversized, two bad statuses, and both copies of u1")
	assert.Equal(t, 11, r.Read)
	assert.Equal(t, 1, r.Added)
	assert.NotEmpty(t, r.RejectedSamples)
	live := h.live("t1", "okta1")
	assert.Len(t, live, 6)
	assert.Equal(t, "Person u1", live["u1"].Record.(*resync.Identity).Name, "duplicate key overwrote the stored record")
	assert.Equal(t, "Person u4", live["u4"].Record.(*resync.Identity).Name, "an invalid copy of u4 removed or changed it")
	assert.Zero(t, r.Removed)
	for _, k := range []string{"", "bad-utf8", "huge", "acct"} {
		assert.NotContains(t, live, k)
	}
}

// Rule 6: requests naming what does not exist, or not allowed, fail before
// anything starts, and no run is recorded.
func TestRule6_BadRequestsStartNothing(t *testing.T) {
	h := newHarness(t, nil)
	h.conn("t1", "okta1", resync.IdP, "okta", resynctest.Identities("u", 5), 0)
	h.conn("t1", "aws1", resync.Infrastructure, "aws", resynctest.Identities("a", 5), 0)
	h.conn("t2", "aws2", resync.Infrastructure, "aws", resynctest.Identities("b", 5), 0)
	ctx := context.Background()
	cases := []struct {
		name string
		req  resync.Request
		want error
		text string
	}{
		{"unauthorized caller", resync.Request{Tenant: "t1", Initiator: carol, Scope: resync.PersonnelScope()}, resync.ErrForbidden, "carol"},
		{"admin of another tenant", resync.Request{Tenant: "t1", Initiator: dave, Scope: resync.PersonnelScope()}, resync.ErrForbidden, "dave"},
		{"other tenant's connection", resync.Request{Tenant: "t1", Initiator: alice,
			Scope: resync.Scope{Kind: resync.ScopeAccounts, Types: []resync.ConnectionType{resync.Infrastructure}, ConnectionIDs: []string{"aws2"}}},
			resync.ErrInvalidRequest, `"aws2"`},
		{"unknown provider", resync.Request{Tenant: "t1", Initiator: alice, Scope: resync.AccountsScope(resync.Infrastructure, "gcp")},
			resync.ErrInvalidRequest, `"gcp"`},
		{"accounts of HRIS", resync.Request{Tenant: "t1", Initiator: alice, Scope: resync.AccountsScope(resync.HRIS)},
			resync.ErrInvalidRequest, "hris"},
		{"unknown tenant", resync.Request{Tenant: "nope", Initiator: alice, Scope: resync.PersonnelScope()}, resync.ErrForbidden, "nope"},
		{"no connections in scope", resync.Request{Tenant: "t1", Initiator: alice, Scope: resync.AccountsScope(resync.Observability)},
			resync.ErrNoConnections, "observability"},
		{"empty tenant", resync.Request{Initiator: alice, Scope: resync.PersonnelScope()}, resync.ErrInvalidRequest, "tenant"},
		{"system principal ad hoc", resync.Request{Tenant: "t1", Initiator: resync.SystemPrincipal, Scope: resync.Scope{Kind: resync.ScopeAll}}, resync.ErrForbidden, "scheduled"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := h.engine.Start(ctx, tc.req)
			require.ErrorIs(t, err, tc.want)
			assert.Contains(t, err.Error(), tc.text)
		})
	}
	assert.Empty(t, h.runs("t1"))
	assert.Empty(t, h.runs("t2"))
	assert.Empty(t, h.notifier.Notifications())
	assert.Equal(t, 0, h.fakes.Get("t2", "aws2").Reads())
}

// Rule 6: a tenant the connection source does not know is ErrNotFound
// (for a caller the authorizer lets through).
func TestRule6_UnknownTenant(t *testing.T) {
	h := newHarness(t, func(c *resync.Config) { c.Authorizer = resynctest.AllowAll })
	_, err := h.engine.ResyncPersonnel(context.Background(), "ghost", alice)
	require.ErrorIs(t, err, resync.ErrNotFound)
	assert.Contains(t, err.Error(), "ghost")
}

// Rule 7: canceling a run stops its reads between pages and applies nothing.
func TestRule7_CancelAppliesNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, nil)
		c := h.conn("t1", "okta1", resync.IdP, "okta", resynctest.Identities("u", 100), 10)
		c.SetLatency(time.Second)
		r, err := h.engine.ResyncPersonnel(context.Background(), "t1", alice)
		require.NoError(t, err)
		time.Sleep(3500 * time.Millisecond) // in the middle of page 3
		assert.Equal(t, 30, r.Info().Connections[0].Read, "progress shows records read so far")
		assert.Equal(t, resync.ConnRunning, r.Info().Connections[0].Status)
		r.Cancel()
		info, err := r.Wait(context.Background())
		require.NoError(t, err)
		assert.Equal(t, resync.RunCanceled, info.Status)
		assert.Equal(t, resync.ConnCanceled, info.Connections[0].Status)
		assert.Less(t, c.TotalPageReads(), 10, "reads went on after cancel")
		assert.Empty(t, h.live("t1", "okta1"))
		stored, err := h.store.GetRun(context.Background(), "t1", r.ID())
		require.NoError(t, err)
		assert.Equal(t, resync.RunCanceled, stored.Status)
	})
}

// Rule 7: Close waits for runs that finish within its deadline, cancels
// the others, and leaves no goroutine behind (goleak in TestMain).
func TestRule7_CloseDrainsOrCancels(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, nil)
		c := h.conn("t1", "okta1", resync.IdP, "okta", resynctest.Identities("u", 30), 10)
		c.SetLatency(time.Second)
		r, err := h.engine.ResyncPersonnel(context.Background(), "t1", alice)
		require.NoError(t, err)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		require.NoError(t, h.engine.Close(ctx))
		cancel()
		assert.Equal(t, resync.RunSucceeded, r.Info().Status, "Close did not drain")
		_, err = h.engine.ResyncPersonnel(context.Background(), "t1", alice)
		assert.ErrorIs(t, err, resync.ErrClosed)

		h2 := newHarness(t, nil)
		c2 := h2.conn("t1", "okta1", resync.IdP, "okta", resynctest.Identities("u", 100), 10)
		c2.SetLatency(time.Second)
		r2, err := h2.engine.ResyncPersonnel(context.Background(), "t1", alice)
		require.NoError(t, err)
		ctx, cancel = context.WithTimeout(context.Background(), 2500*time.Millisecond)
		err = h2.engine.Close(ctx)
		cancel()
		require.ErrorIs(t, err, context.DeadlineExceeded)
		info := r2.Info()
		assert.Equal(t, resync.RunCanceled, info.Status)
		assert.Empty(t, h2.live("t1", "okta1"))
		assert.Less(t, c2.TotalPageReads(), 5)
	})
}

// Rule 8: a run left running by a dead instance is marked interrupted when
// an engine starts on the store; a live instance's run is left alone; the
// next run repairs the state.
func TestRule8_CrashRecovery(t *testing.T) {
	h := newHarness(t, nil)
	h.conn("t1", "okta1", resync.IdP, "okta", resynctest.Identities("u", 10), 0)
	ctx := context.Background()
	dead := resync.RunInfo{ID: "dead-run", Tenant: "t1", Status: resync.RunRunning, Owner: "crashed-instance", Trigger: resync.TriggerAdhoc,
		Scope: resync.PersonnelScope(), Initiator: alice, CreatedAt: time.Now(),
		Connections: []resync.ConnectionResult{{ConnectionID: "okta1", Provider: "okta", Status: resync.ConnRunning}}}
	live := dead
	live.ID, live.Owner = "live-run", "other-live-instance"
	live.Connections = []resync.ConnectionResult{{ConnectionID: "okta1", Provider: "okta", Status: resync.ConnRunning}}
	require.NoError(t, h.store.CreateRun(ctx, dead))
	require.NoError(t, h.store.CreateRun(ctx, live))
	ok, err := h.store.AcquireLease(ctx, resync.InstanceLease("other-live-instance"), "other-live-instance", time.Hour)
	require.NoError(t, err)
	require.True(t, ok)

	h.start() // a second engine on the same store, as after a restart
	got, err := h.store.GetRun(ctx, "t1", "dead-run")
	require.NoError(t, err)
	assert.Equal(t, resync.RunInterrupted, got.Status)
	assert.Equal(t, resync.ConnFailed, got.Connections[0].Status)
	assert.False(t, got.FinishedAt.IsZero())
	got, err = h.store.GetRun(ctx, "t1", "live-run")
	require.NoError(t, err)
	assert.Equal(t, resync.RunRunning, got.Status, "a live instance's run was interrupted")

	info := h.personnel(alice)
	assert.Equal(t, resync.RunSucceeded, info.Status)
	assert.Len(t, h.live("t1", "okta1"), 10)
}

func TestNewValidatesConfig(t *testing.T) {
	_, err := resync.New(context.Background(), resync.Config{Concurrency: -1})
	require.ErrorIs(t, err, resync.ErrInvalidRequest)
	for _, want := range []string{"Store", "Connections", "Connectors", "Authorizer", "negative"} {
		assert.Contains(t, err.Error(), want)
	}
}

func TestCancelByID(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, nil)
		c := h.conn("t1", "okta1", resync.IdP, "okta", resynctest.Identities("u", 50), 10)
		c.SetLatency(time.Second)
		r, err := h.engine.ResyncPersonnel(context.Background(), "t1", alice)
		require.NoError(t, err)
		ctx := context.Background()
		require.ErrorIs(t, h.engine.Cancel(ctx, "t1", r.ID(), carol), resync.ErrForbidden)
		require.ErrorIs(t, h.engine.Cancel(ctx, "t2", r.ID(), dave), resync.ErrNotFound, "a run is canceled through its own tenant only")
		require.NoError(t, h.engine.Cancel(ctx, "t1", r.ID(), bob))
		info, err := r.Wait(ctx)
		require.NoError(t, err)
		assert.Equal(t, resync.RunCanceled, info.Status)
		require.ErrorIs(t, h.engine.Cancel(ctx, "t1", r.ID(), bob), resync.ErrNotFound)

		got, err := h.engine.GetRun(ctx, "t1", r.ID(), alice)
		require.NoError(t, err)
		assert.Equal(t, resync.RunCanceled, got.Status)
		_, err = h.engine.GetRun(ctx, "t2", r.ID(), dave)
		require.ErrorIs(t, err, resync.ErrNotFound)
		list, err := h.engine.Runs(ctx, "t1", alice, resync.RunQuery{})
		require.NoError(t, err)
		require.Len(t, list, 1)
		assert.Equal(t, r.ID(), list[0].ID)
	})
}

// Rule 6: input a connector could not parse is counted with its reason;
// naming the record keeps its stored version.
func TestRule6_ConnectorRejectedInput(t *testing.T) {
	h := newHarness(t, func(c *resync.Config) {
		c.Connectors["custom"] = func(context.Context, resync.Connection) (resync.Connector, error) {
			return connectorFunc(func(ctx context.Context, cursor string) (resync.Page, error) {
				return resync.Page{
					Records: []resync.Record{&resync.Identity{Key: "e1", Status: resync.StatusActive}},
					Rejected: []error{
						errors.New("hris.csv line 3: 5 columns, want 9"),
						&resync.RecordError{Kind: resync.KindIdentity, Key: "e2", Reason: "hris.csv line 4: bad start_date \"31/02\""},
					},
				}, nil
			}), nil
		}
	})
	h.src.Add(resync.Connection{ID: "hr1", Tenant: "t1", Type: resync.HRIS, Provider: "custom"})
	require.NoError(t, h.store.Apply(context.Background(), &resync.ChangeSet{ID: "seed", Tenant: "t1", ConnectionID: "hr1", RunID: "seed",
		Changes: []resync.Change{
			{Op: resync.OpAdd, Kind: resync.KindIdentity, Key: "e2", Record: &resync.Identity{Key: "e2", Status: resync.StatusActive}},
			{Op: resync.OpAdd, Kind: resync.KindIdentity, Key: "e3", Record: &resync.Identity{Key: "e3", Status: resync.StatusActive}},
		}}))
	r := result(t, h.personnel(alice), "hr1")
	require.Equal(t, resync.ConnSucceeded, r.Status, r.Error)
	assert.Equal(t, 3, r.Read)
	assert.Equal(t, 2, r.Rejected)
	assert.Equal(t, []int{1, 0, 1}, []int{r.Added, r.Updated, r.Removed}, "e1 added, e3 removed, e2 kept")
	assert.Contains(t, r.RejectedSamples, "hris.csv line 3: 5 columns, want 9")
	live := h.live("t1", "hr1")
	assert.Contains(t, live, "e2")
	assert.NotContains(t, live, "e3")
}

type connectorFunc func(ctx context.Context, cursor string) (resync.Page, error)

func (f connectorFunc) ReadPage(ctx context.Context, cursor string) (resync.Page, error) {
	return f(ctx, cursor)
}
