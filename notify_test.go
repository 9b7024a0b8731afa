package resync_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openresync/resync"
	"github.com/openresync/resync/resynctest"
)

type sent struct {
	kind    resync.NotificationKind
	channel resync.Channel
	to      []string
}

func summarize(ns []resync.Notification) []sent {
	var out []sent
	for _, n := range ns {
		s := sent{kind: n.Kind, channel: n.Channel}
		for _, p := range n.Recipients {
			s.to = append(s.to, p.ID)
		}
		out = append(out, s)
	}
	return out
}

// The product's rules: in-product started and completed to the initiator;
// on completion an email to every admin (personnel) or to the initiator
// only (accounts).
func TestNotifications_PersonnelAndAccounts(t *testing.T) {
	h := newHarness(t, nil)
	h.conn("t1", "okta1", resync.IdP, "okta", resynctest.Identities("u", 5), 0)
	h.conn("t1", "aws1", resync.Infrastructure, "aws", resynctest.Identities("a", 5), 0)

	info := h.personnel(bob)
	require.Equal(t, resync.RunSucceeded, info.Status)
	h.waitNotes(3)
	assert.Equal(t, []sent{
		{resync.NotifyRunStarted, resync.ChannelInApp, []string{"bob"}},
		{resync.NotifyRunCompleted, resync.ChannelInApp, []string{"bob"}},
		{resync.NotifyRunCompleted, resync.ChannelEmail, []string{"alice", "bob"}},
	}, summarize(h.notifier.Notifications()))
	last := h.notifier.Notifications()[2]
	assert.Equal(t, resync.RunSucceeded, last.Run.Status)
	assert.Equal(t, resync.ScopePersonnel, last.Run.Scope.Kind)
	assert.Equal(t, bob, last.Run.Initiator)
	okta := result(t, last.Run, "okta1")
	assert.Equal(t, []any{resync.ConnSucceeded, 5, 5}, []any{okta.Status, okta.Read, okta.Added}, "the email carries each connection's outcome")

	h.notifier.Reset()
	r, err := h.engine.ResyncAccounts(context.Background(), "t1", alice, resync.Infrastructure)
	require.NoError(t, err)
	info, err = r.Wait(context.Background())
	require.NoError(t, err)
	require.Equal(t, resync.RunSucceeded, info.Status)
	h.waitNotes(3)
	assert.Equal(t, []sent{
		{resync.NotifyRunStarted, resync.ChannelInApp, []string{"alice"}},
		{resync.NotifyRunCompleted, resync.ChannelInApp, []string{"alice"}},
		{resync.NotifyRunCompleted, resync.ChannelEmail, []string{"alice"}},
	}, summarize(h.notifier.Notifications()))
	last = h.notifier.Notifications()[2]
	assert.Equal(t, resync.AccountsScope(resync.Infrastructure), last.Run.Scope)
	assert.Equal(t, resync.RunSucceeded, last.Run.Status)
}

// Every notification carries an ID that tells it apart from every other:
// another event, channel or run.
func TestNotifications_IDsAreDistinct(t *testing.T) {
	h := newHarness(t, nil)
	h.conn("t1", "okta1", resync.IdP, "okta", resynctest.Identities("u", 5), 0)
	h.personnel(bob)
	h.personnel(bob)
	ns := h.waitNotes(6)
	require.Len(t, ns, 6)
	seen := map[string]bool{}
	for _, n := range ns {
		require.NotEmpty(t, n.ID)
		assert.False(t, seen[n.ID], "duplicate notification ID %q", n.ID)
		seen[n.ID] = true
	}
}

// Scheduled runs notify nobody by default; NotifyScheduled chooses which
// completed ones email the admins, seeing the run's final state.
func TestNotifications_Scheduled(t *testing.T) {
	failures := func(r resync.RunInfo) bool { return r.Status != resync.RunSucceeded }
	all := func(resync.RunInfo) bool { return true }
	for _, tc := range []struct {
		name   string
		policy func(resync.RunInfo) bool
		fail   bool
		want   []sent
	}{
		{"default success", nil, false, nil},
		{"default failure", nil, true, nil},
		{"failures policy, success", failures, false, nil},
		{"failures policy, failure", failures, true,
			[]sent{{resync.NotifyRunCompleted, resync.ChannelEmail, []string{"alice", "bob"}}}},
		{"all policy, success", all, false,
			[]sent{{resync.NotifyRunCompleted, resync.ChannelEmail, []string{"alice", "bob"}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, func(c *resync.Config) { c.NotifyScheduled = tc.policy })
			c := h.conn("t1", "okta1", resync.IdP, "okta", resynctest.Identities("u", 5), 0)
			if tc.fail {
				c.AddFault(resynctest.Fault{Page: 0, Err: resync.Permanent(errors.New("revoked"))})
			}
			r, err := h.engine.Start(context.Background(), resync.Request{Tenant: "t1", Initiator: resync.SystemPrincipal,
				Scope: resync.Scope{Kind: resync.ScopeAll}, Trigger: resync.TriggerScheduled})
			require.NoError(t, err)
			_, err = r.Wait(context.Background())
			require.NoError(t, err)
			assert.Equal(t, tc.want, summarize(h.waitNotes(len(tc.want))))
		})
	}
}

// A notifier error is retried, with backoff, until Config.NotifyGiveUp
// after the notification was made; then it is recorded on the stored run.
// It never fails the run.
func TestNotifications_FailuresNeverFailTheRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, func(c *resync.Config) { c.NotifyGiveUp = 10 * time.Minute })
		h.conn("t1", "okta1", resync.IdP, "okta", resynctest.Identities("u", 5), 0)
		h.notifier.FailNext(2, nil) // two deliveries fail, then they go through
		info := h.personnel(alice)
		assert.Equal(t, resync.RunSucceeded, info.Status)
		time.Sleep(time.Minute) // virtual time: the retries are due
		synctest.Wait()
		assert.Len(t, h.notifier.Notifications(), 3)
		stored, err := h.store.GetRun(context.Background(), "t1", info.ID)
		require.NoError(t, err)
		assert.Empty(t, stored.NotifyErrors)

		h.notifier.Reset()
		h.notifier.FailNext(1000, errors.New("smtp: 451 try later"))
		start := time.Now()
		info = h.personnel(alice)
		assert.Equal(t, resync.RunSucceeded, info.Status)
		assert.Empty(t, info.NotifyErrors, "the run ends before any delivery")
		time.Sleep(9 * time.Minute)
		synctest.Wait()
		stored, err = h.store.GetRun(context.Background(), "t1", info.ID)
		require.NoError(t, err)
		assert.Empty(t, stored.NotifyErrors, "still retrying before NotifyGiveUp")
		time.Sleep(2 * time.Minute)
		synctest.Wait()
		stored, err = h.store.GetRun(context.Background(), "t1", info.ID)
		require.NoError(t, err)
		require.Len(t, stored.NotifyErrors, 3, "started, completed in-app, completed email")
		for _, e := range stored.NotifyErrors {
			assert.Contains(t, e, "451 try later")
		}
		assert.Empty(t, h.notifier.Notifications())
		h.notifier.FailNext(0, nil)
		time.Sleep(time.Hour)
		synctest.Wait()
		assert.Empty(t, h.notifier.Notifications(), "given up: never delivered after")
		assert.Less(t, time.Since(start), 2*time.Hour)
	})
}

type panicky struct{}

func (panicky) Notify(context.Context, resync.Notification) error { panic("template bug") }

// A panicking notifier is contained like a failing one, and not retried:
// the failure is recorded on the run at once.
func TestNotifications_PanickingNotifier(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, func(c *resync.Config) {
			c.Notifier = panicky{}
		})
		h.conn("t1", "okta1", resync.IdP, "okta", resynctest.Identities("u", 5), 0)
		info := h.personnel(alice)
		assert.Equal(t, resync.RunSucceeded, info.Status)
		synctest.Wait()
		stored, err := h.store.GetRun(context.Background(), "t1", info.ID)
		require.NoError(t, err)
		require.Len(t, stored.NotifyErrors, 3)
		assert.Contains(t, stored.NotifyErrors[0], "template bug")
	})
}

func TestPlan(t *testing.T) {
	h := newHarness(t, nil)
	h.conn("t1", "okta1", resync.IdP, "okta", nil, 0)
	h.conn("t1", "gh1", resync.VersionControl, "github", nil, 0)
	h.conn("t1", "aws-prod", resync.Infrastructure, "aws", nil, 0)
	h.conn("t1", "aws-dev", resync.Infrastructure, "aws", nil, 0)
	h.conn("t1", "dd1", resync.Observability, "datadog", nil, 0)
	h.conn("t1", "mdm1", resync.MDM, "kandji", nil, 0)
	h.src.Add(resync.Connection{ID: "off", Tenant: "t1", Type: resync.IdP, Provider: "okta", Disabled: true},
		resync.Connection{ID: "gcp1", Tenant: "t1", Type: resync.Infrastructure, Provider: "gcp"})
	ctx := context.Background()

	p, err := h.engine.Plan(ctx, resync.Request{Tenant: "t1", Initiator: alice, Scope: resync.PersonnelScope()})
	require.NoError(t, err)
	assert.Equal(t, []string{"okta1", "gh1", "aws-prod", "aws-dev"}, planIDs(p))
	reasons := map[string]string{}
	for _, s := range p.Skip {
		reasons[s.Connection.ID] = s.Reason
	}
	assert.Equal(t, map[string]string{
		"dd1":  "type observability is not in the personnel scope",
		"mdm1": "type mdm is not in the personnel scope",
		"off":  "connection is disabled",
		"gcp1": `no connector registered for provider "gcp"`,
	}, reasons)

	p, err = h.engine.Plan(ctx, resync.Request{Tenant: "t1", Initiator: alice, Scope: resync.PersonnelScope(resync.AllConnectionTypes()...)})
	require.NoError(t, err)
	assert.Len(t, p.Sync, 6, "the classic preset covers every type")

	p, err = h.engine.Plan(ctx, resync.Request{Tenant: "t1", Initiator: alice,
		Scope: resync.Scope{Kind: resync.ScopeAccounts, Types: []resync.ConnectionType{resync.Infrastructure}, ConnectionIDs: []string{"aws-dev"}}})
	require.NoError(t, err)
	assert.Equal(t, []string{"aws-dev"}, planIDs(p))

	_, err = h.engine.Plan(ctx, resync.Request{Tenant: "t1", Initiator: alice,
		Scope: resync.Scope{Kind: resync.ScopeAccounts, Types: []resync.ConnectionType{resync.Infrastructure}, ConnectionIDs: []string{"dd1"}}})
	require.ErrorIs(t, err, resync.ErrInvalidRequest)
	assert.Contains(t, err.Error(), "observability")

	_, err = h.engine.Plan(ctx, resync.Request{Tenant: "t1", Initiator: carol, Scope: resync.PersonnelScope()})
	require.ErrorIs(t, err, resync.ErrForbidden)
	assert.Empty(t, h.runs("t1"), "planning started a run")
}

// planIDs returns the IDs of the connections a plan syncs, in order.
func planIDs(p *resync.Plan) []string {
	out := make([]string, len(p.Sync))
	for i, c := range p.Sync {
		out[i] = c.ID
	}
	return out
}
