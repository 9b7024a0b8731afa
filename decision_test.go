package resync_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openresync/resync"
	"github.com/openresync/resync/resynctest"
)

// heldRun syncs 100 identities into okta1 of t1, then reads 20 of them:
// the delete guard holds the removal of 80. It returns the run that held it.
func heldRun(t *testing.T, h *harness) (resync.RunInfo, *resynctest.Connector, []resync.Record) {
	t.Helper()
	recs := resynctest.Identities("u", 100)
	c := h.conn("t1", "okta1", resync.IdP, "okta", recs, 50)
	require.Equal(t, resync.RunSucceeded, h.personnel(alice).Status)
	c.SetRecords(recs[:20], 50)
	info := h.personnel(alice)
	require.Equal(t, resync.ConnHeld, result(t, info, "okta1").Status)
	require.Equal(t, resync.RunPartial, info.Status)
	h.waitNotes(8) // 3 of the first run, 5 of this one (started, held twice, completed twice)
	h.notifier.Reset()
	return info, c, recs
}

// decidedNotes waits until want NotifyHeldDecided notifications were
// delivered (5 seconds at most) and returns them.
func decidedNotes(h *harness, want int) []resync.Notification {
	h.t.Helper()
	var out []resync.Notification
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for {
		got := h.notifier.Notifications()
		out = out[:0]
		for _, n := range got {
			if n.Kind == resync.NotifyHeldDecided {
				out = append(out, n)
			}
		}
		if len(out) >= want {
			return out
		}
		if _, err := h.notifier.WaitFor(ctx, len(got)+1); err != nil {
			return out
		}
	}
}

func TestApproveRecordsTheDecision(t *testing.T) {
	h := newHarness(t, nil)
	info, _, _ := heldRun(t, h)
	heldID := result(t, info, "okta1").HeldID
	ctx := context.Background()

	before := time.Now()
	sum, err := h.engine.Approve(ctx, "t1", heldID, bob, "HR confirmed the layoffs")
	require.NoError(t, err)
	after := time.Now()
	assert.Equal(t, 80, sum.Removed)
	assert.Equal(t, resync.ConnApplied, sum.Decision.Kind)
	assert.Equal(t, bob, sum.Decision.By)
	assert.Equal(t, "HR confirmed the layoffs", sum.Decision.Reason)
	assert.False(t, sum.Decision.At.Before(before) || sum.Decision.At.After(after), "decided at %v, not between %v and %v", sum.Decision.At, before, after)
	assert.Len(t, h.live("t1", "okta1"), 20, "the approved removal was applied")

	// On the run: the result moved from held to applied, and the run's
	// outcome was recomputed.
	got, err := h.engine.GetRun(ctx, "t1", info.ID, alice)
	require.NoError(t, err)
	r := result(t, got, "okta1")
	assert.Equal(t, resync.ConnApplied, r.Status)
	assert.Equal(t, sum.Decision, r.Decision)
	assert.Equal(t, heldID, r.HeldID)
	assert.Empty(t, r.Error)
	assert.Equal(t, resync.RunSucceeded, got.Status, "every connection succeeded or was approved")
	assert.NoError(t, got.Err())

	// On the change set: no longer held, listed as decided.
	held, err := h.engine.HeldChangeSets(ctx, "t1", alice)
	require.NoError(t, err)
	assert.Empty(t, held)
	decided, err := h.engine.DecidedChangeSets(ctx, "t1", alice, 0)
	require.NoError(t, err)
	require.Len(t, decided, 1)
	assert.Equal(t, sum, decided[0])

	// The admins heard of it, in-product and by email.
	notes := decidedNotes(h, 2)
	require.Len(t, notes, 2)
	for _, n := range notes {
		assert.ElementsMatch(t, []resync.Principal{alice, bob}, n.Recipients)
		require.NotNil(t, n.Held)
		assert.Equal(t, sum.Decision, n.Held.Decision)
		assert.Equal(t, 80, n.Held.Removed)
		assert.Equal(t, "okta1", n.Held.ConnectionID)
		assert.Equal(t, info.ID, n.Run.ID, "the notification carries the run that held the set")
		assert.Equal(t, resync.ConnApplied, result(t, n.Run, "okta1").Status, "as the decision left it")
	}

	// A decision on a set that is no longer held is a conflict, and
	// changes nothing.
	_, err = h.engine.Reject(ctx, "t1", heldID, alice, "too late")
	require.ErrorIs(t, err, resync.ErrConflict)
	_, err = h.engine.Approve(ctx, "t1", heldID, alice, "")
	require.ErrorIs(t, err, resync.ErrConflict)
	decided, err = h.engine.DecidedChangeSets(ctx, "t1", alice, 0)
	require.NoError(t, err)
	require.Len(t, decided, 1)
	assert.Equal(t, bob, decided[0].Decision.By)
	_, err = h.engine.Approve(ctx, "t1", "no-such-set", alice, "")
	require.ErrorIs(t, err, resync.ErrNotFound)
}

func TestRejectRecordsTheDecision(t *testing.T) {
	h := newHarness(t, nil)
	info, _, _ := heldRun(t, h)
	heldID := result(t, info, "okta1").HeldID
	ctx := context.Background()

	sum, err := h.engine.Reject(ctx, "t1", heldID, bob, "the HRIS export was cut short")
	require.NoError(t, err)
	assert.Equal(t, resync.ConnRejected, sum.Decision.Kind)
	assert.Len(t, h.live("t1", "okta1"), 100, "a rejected removal is not applied")

	got, err := h.engine.GetRun(ctx, "t1", info.ID, alice)
	require.NoError(t, err)
	r := result(t, got, "okta1")
	assert.Equal(t, resync.ConnRejected, r.Status)
	assert.Equal(t, sum.Decision, r.Decision)
	assert.Contains(t, r.Error, "rejected by bob@t1.example: the HRIS export was cut short")
	assert.Equal(t, resync.RunPartial, got.Status, "the run's read of okta1 was never applied")

	decided, err := h.engine.DecidedChangeSets(ctx, "t1", alice, 0)
	require.NoError(t, err)
	require.Len(t, decided, 1)
	assert.Equal(t, resync.ConnRejected, decided[0].Decision.Kind)
	require.Len(t, decidedNotes(h, 2), 2)

	_, err = h.engine.Approve(ctx, "t1", heldID, bob, "")
	require.ErrorIs(t, err, resync.ErrConflict)
	assert.Len(t, h.live("t1", "okta1"), 100)
}

// A later complete read replaces a hold: the earlier run no longer says
// held forever, and the stale set can no longer be approved (approving it
// would remove people the provider returned again).
func TestLaterReadSupersedesHold(t *testing.T) {
	h := newHarness(t, nil)
	info, c, recs := heldRun(t, h)
	heldID := result(t, info, "okta1").HeldID
	ctx := context.Background()

	c.SetRecords(recs, 50) // the provider is whole again
	second := h.personnel(alice)
	require.Equal(t, resync.RunSucceeded, second.Status)

	got, err := h.engine.GetRun(ctx, "t1", info.ID, alice)
	require.NoError(t, err)
	r := result(t, got, "okta1")
	assert.Equal(t, resync.ConnSuperseded, r.Status)
	assert.Equal(t, resync.SystemPrincipal, r.Decision.By)
	assert.Contains(t, r.Decision.Reason, second.ID)
	assert.Equal(t, resync.RunPartial, got.Status)

	held, err := h.engine.HeldChangeSets(ctx, "t1", alice)
	require.NoError(t, err)
	assert.Empty(t, held)
	_, err = h.engine.Approve(ctx, "t1", heldID, bob, "")
	require.ErrorIs(t, err, resync.ErrConflict)
	assert.Len(t, h.live("t1", "okta1"), 100, "the superseded removal must never be applied")

	decided, err := h.engine.DecidedChangeSets(ctx, "t1", alice, 0)
	require.NoError(t, err)
	require.Len(t, decided, 1)
	assert.Equal(t, resync.ConnSuperseded, decided[0].Decision.Kind)
	notes := decidedNotes(h, 1)
	require.Len(t, notes, 1, "a supersession is told in-product only")
	assert.Equal(t, resync.ChannelInApp, notes[0].Channel)

	// A hold that replaces a hold supersedes it too.
	c.SetRecords(recs[:10], 50)
	third := h.personnel(alice)
	require.Equal(t, resync.ConnHeld, result(t, third, "okta1").Status)
	c.SetRecords(recs[:5], 50)
	fourth := h.personnel(alice)
	require.Equal(t, resync.ConnHeld, result(t, fourth, "okta1").Status)
	got, err = h.engine.GetRun(ctx, "t1", third.ID, alice)
	require.NoError(t, err)
	assert.Equal(t, resync.ConnSuperseded, result(t, got, "okta1").Status)
	held, err = h.engine.HeldChangeSets(ctx, "t1", alice)
	require.NoError(t, err)
	require.Len(t, held, 1)
	assert.Equal(t, result(t, fourth, "okta1").HeldID, held[0].ID)
}

// A run with a held connection and a good one is partial until the hold
// is approved.
func TestApproveRecomputesRunStatus(t *testing.T) {
	h := newHarness(t, nil)
	h.conn("t1", "bamboo1", resync.HRIS, "bamboohr", resynctest.Identities("b", 5), 0)
	info, _, _ := heldRun(t, h)
	require.Equal(t, resync.ConnSucceeded, result(t, info, "bamboo1").Status)
	require.Equal(t, resync.RunPartial, info.Status)
	_, err := h.engine.Approve(context.Background(), "t1", result(t, info, "okta1").HeldID, alice, "")
	require.NoError(t, err)
	runs, err := h.engine.Runs(context.Background(), "t1", alice, resync.RunQuery{})
	require.NoError(t, err)
	var got resync.RunInfo
	for _, r := range runs {
		if r.ID == info.ID {
			got = r
		}
	}
	assert.Equal(t, resync.RunSucceeded, got.Status)
	assert.Equal(t, resync.ConnApplied, result(t, got, "okta1").Status)
	assert.Equal(t, resync.ConnSucceeded, result(t, got, "bamboo1").Status)
}

// Deciding needs ActionReviewHeld and nothing else does: a principal
// granted only the view action may list but not decide.
func TestDecisionAuthorization(t *testing.T) {
	grants := resynctest.Grants{"t1": {
		"alice": {resync.ActionResyncPersonnel, resync.ActionViewRuns, resync.ActionReviewHeld},
		"bob":   {resync.ActionViewRuns, resync.ActionResyncPersonnel, resync.ActionResyncAccounts, resync.ActionCheckConnection},
		"carol": {resync.ActionReviewHeld},
	}}
	h := newHarness(t, func(c *resync.Config) { c.Authorizer = grants })
	info, _, _ := heldRun(t, h)
	heldID := result(t, info, "okta1").HeldID
	ctx := context.Background()

	_, err := h.engine.Approve(ctx, "t1", heldID, bob, "")
	require.ErrorIs(t, err, resync.ErrForbidden, "every action but review_held is not enough")
	_, err = h.engine.Reject(ctx, "t1", heldID, bob, "")
	require.ErrorIs(t, err, resync.ErrForbidden)
	_, err = h.engine.Approve(ctx, "t1", heldID, resync.SystemPrincipal, "")
	require.ErrorIs(t, err, resync.ErrForbidden)
	_, err = h.engine.DecidedChangeSets(ctx, "t1", carol, 0)
	require.ErrorIs(t, err, resync.ErrForbidden, "listing decisions needs view_runs")
	held, err := h.engine.HeldChangeSets(ctx, "t1", bob)
	require.NoError(t, err)
	require.Len(t, held, 1, "a refused decision changes nothing")

	_, err = h.engine.Reject(ctx, "t1", heldID, carol, "")
	require.NoError(t, err, "review_held alone is enough to decide")
	decided, err := h.engine.DecidedChangeSets(ctx, "t1", bob, 0)
	require.NoError(t, err)
	require.Len(t, decided, 1)
	assert.Equal(t, carol, decided[0].Decision.By)
}

func TestDecisionBadInput(t *testing.T) {
	h := newHarness(t, nil)
	info, _, _ := heldRun(t, h)
	heldID := result(t, info, "okta1").HeldID
	ctx := context.Background()
	for name, reason := range map[string]string{
		"invalid UTF-8": "ok \xff",
		"NUL":           "a\x00b",
		"too long":      string(make([]byte, 5000)),
	} {
		_, err := h.engine.Reject(ctx, "t1", heldID, alice, reason)
		assert.ErrorIs(t, err, resync.ErrInvalidRequest, name)
	}
	_, err := h.engine.Reject(ctx, "t1", heldID, resync.Principal{Name: "nobody"}, "")
	assert.ErrorIs(t, err, resync.ErrInvalidRequest)
	held, err := h.engine.HeldChangeSets(ctx, "t1", alice)
	require.NoError(t, err)
	assert.Len(t, held, 1, "bad input decided nothing")
}

// withoutDecider hides the store's HeldDecider capability.
type withoutDecider struct{ resync.Store }

// A store without storage.HeldDecider keeps today's behaviour: Approve
// applies, Reject discards, and the decision is kept on the run only.
func TestDecisionsWithoutStoreCapability(t *testing.T) {
	h := newHarness(t, func(c *resync.Config) { c.Store = withoutDecider{c.Store} })
	info, _, _ := heldRun(t, h)
	ctx := context.Background()
	sum, err := h.engine.Approve(ctx, "t1", result(t, info, "okta1").HeldID, bob, "fine")
	require.NoError(t, err)
	assert.Equal(t, resync.ConnApplied, sum.Decision.Kind)
	assert.Len(t, h.live("t1", "okta1"), 20)
	got, err := h.engine.GetRun(ctx, "t1", info.ID, alice)
	require.NoError(t, err)
	assert.Equal(t, resync.ConnApplied, result(t, got, "okta1").Status)
	assert.Equal(t, resync.RunSucceeded, got.Status)
	_, err = h.engine.DecidedChangeSets(ctx, "t1", alice, 0)
	assert.ErrorIs(t, err, resync.ErrInvalidRequest)
	_, err = h.engine.Approve(ctx, "t1", result(t, info, "okta1").HeldID, bob, "")
	assert.ErrorIs(t, err, resync.ErrNotFound, "without the capability a decided set is simply gone")
}

// heldGate blocks the first held alert until released.
type heldGate struct {
	*resynctest.Notifier
	once     sync.Once
	reached  chan struct{}
	released chan struct{}
}

func (g *heldGate) Notify(ctx context.Context, n resync.Notification) error {
	if n.Kind == resync.NotifyChangesHeld {
		g.once.Do(func() {
			close(g.reached)
			<-g.released
		})
	}
	return g.Notifier.Notify(ctx, n)
}

// A decision made while the read that held the set is still alerting the
// admins (before the run has its result) is not lost: the run records it.
// The read alerts them itself only with a store that keeps no outbox.
func TestDecisionBeforeTheRunHasItsResult(t *testing.T) {
	gate := &heldGate{Notifier: &resynctest.Notifier{}, reached: make(chan struct{}), released: make(chan struct{})}
	h := newHarness(t, func(c *resync.Config) {
		c.Notifier = gate
		c.Store = withoutOutbox(c.Store)
	})
	recs := resynctest.Identities("u", 50)
	c := h.conn("t1", "okta1", resync.IdP, "okta", recs, 0)
	h.personnel(alice)
	c.SetRecords(recs[:20], 0)
	ctx := context.Background()
	run, err := h.engine.ResyncPersonnel(ctx, "t1", alice)
	require.NoError(t, err)
	<-gate.reached
	held, err := h.engine.HeldChangeSets(ctx, "t1", alice)
	require.NoError(t, err)
	require.Len(t, held, 1)
	_, err = h.engine.Approve(ctx, "t1", held[0].ID, bob, "expected")
	require.NoError(t, err)
	close(gate.released)
	info, err := run.Wait(ctx)
	require.NoError(t, err)
	r := result(t, info, "okta1")
	assert.Equal(t, resync.ConnApplied, r.Status)
	assert.Equal(t, bob, r.Decision.By)
	assert.Equal(t, resync.RunSucceeded, info.Status)
	stored, err := h.store.GetRun(ctx, "t1", run.ID())
	require.NoError(t, err)
	assert.Equal(t, resync.ConnApplied, result(t, stored, "okta1").Status)
}
