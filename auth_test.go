package resync_test

import (
	"context"
	"fmt"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openresync/resync"
	"github.com/openresync/resync/resynctest"
)

var allActions = []resync.Action{
	resync.ActionResyncPersonnel, resync.ActionResyncAccounts, resync.ActionResyncAll,
	resync.ActionReviewHeld, resync.ActionViewRuns, resync.ActionCheckConnection,
}

// Every engine operation asks the Authorizer for its own action: a
// principal granted exactly that action is let through, and one granted
// every other action is refused with ErrForbidden before anything happens.
func TestAuthorization_EachOperationAsksForItsAction(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		grants := resynctest.Grants{"t1": {}}
		only := func(a resync.Action) resync.Principal { return resync.Principal{ID: "only-" + string(a)} }
		allBut := func(a resync.Action) resync.Principal { return resync.Principal{ID: "allbut-" + string(a)} }
		for _, a := range allActions {
			grants["t1"][only(a).ID] = []resync.Action{a}
			for _, b := range allActions {
				if b != a {
					grants["t1"][allBut(a).ID] = append(grants["t1"][allBut(a).ID], b)
				}
			}
		}
		grants["t1"]["admin"] = allActions
		admin := resync.Principal{ID: "admin"}
		h := newHarness(t, func(c *resync.Config) { c.Authorizer = grants })
		okta := h.conn("t1", "okta1", resync.IdP, "okta", resynctest.Identities("u", 3), 0)
		aws := h.conn("t1", "aws1", resync.Infrastructure, "aws", resynctest.Identities("a", 3), 0)
		okta.Block()
		aws.Block()
		ctx := context.Background()
		personnel, err := h.engine.ResyncPersonnel(ctx, "t1", admin)
		require.NoError(t, err)
		accounts, err := h.engine.ResyncAccounts(ctx, "t1", admin, resync.Infrastructure)
		require.NoError(t, err)
		synctest.Wait()

		ops := []struct {
			name   string
			action resync.Action
			call   func(p resync.Principal) error
		}{
			{"ResyncPersonnel", resync.ActionResyncPersonnel, func(p resync.Principal) error {
				_, err := h.engine.ResyncPersonnel(ctx, "t1", p)
				return err
			}},
			{"ResyncAccounts", resync.ActionResyncAccounts, func(p resync.Principal) error {
				_, err := h.engine.ResyncAccounts(ctx, "t1", p, resync.Infrastructure, "aws")
				return err
			}},
			{"Plan personnel", resync.ActionResyncPersonnel, func(p resync.Principal) error {
				_, err := h.engine.Plan(ctx, resync.Request{Tenant: "t1", Initiator: p, Scope: resync.PersonnelScope()})
				return err
			}},
			{"Plan accounts", resync.ActionResyncAccounts, func(p resync.Principal) error {
				_, err := h.engine.Plan(ctx, resync.Request{Tenant: "t1", Initiator: p, Scope: resync.AccountsScope(resync.Infrastructure)})
				return err
			}},
			{"GetRun", resync.ActionViewRuns, func(p resync.Principal) error {
				_, err := h.engine.GetRun(ctx, "t1", personnel.ID(), p)
				return err
			}},
			{"Runs", resync.ActionViewRuns, func(p resync.Principal) error {
				_, err := h.engine.Runs(ctx, "t1", p, resync.RunQuery{})
				return err
			}},
			{"HeldChangeSets", resync.ActionViewRuns, func(p resync.Principal) error {
				_, err := h.engine.HeldChangeSets(ctx, "t1", p)
				return err
			}},
			{"DecidedChangeSets", resync.ActionViewRuns, func(p resync.Principal) error {
				_, err := h.engine.DecidedChangeSets(ctx, "t1", p, 0)
				return err
			}},
			{"Approve", resync.ActionReviewHeld, func(p resync.Principal) error {
				_, err := h.engine.Approve(ctx, "t1", "no-such-hold", p, "")
				return err
			}},
			{"Reject", resync.ActionReviewHeld, func(p resync.Principal) error {
				_, err := h.engine.Reject(ctx, "t1", "no-such-hold", p, "")
				return err
			}},
			{"CheckConnection", resync.ActionCheckConnection, func(p resync.Principal) error {
				return h.engine.CheckConnection(ctx, "t1", "no-such-connection", p)
			}},
			{"Cancel personnel run", resync.ActionResyncPersonnel, func(p resync.Principal) error {
				return h.engine.Cancel(ctx, "t1", "no-such-run-"+p.ID, p) // not live: needs the view action
			}},
		}
		for _, op := range ops {
			if op.name == "Cancel personnel run" {
				// Cancel of a run that is not live is a lookup.
				assert.ErrorIs(t, op.call(allBut(resync.ActionViewRuns)), resync.ErrForbidden, op.name)
				assert.ErrorIs(t, op.call(only(resync.ActionViewRuns)), resync.ErrNotFound, op.name)
				continue
			}
			err := op.call(allBut(op.action))
			assert.ErrorIs(t, err, resync.ErrForbidden, "%s: granted everything but %s", op.name, op.action)
			err = op.call(only(op.action))
			assert.NotErrorIs(t, err, resync.ErrForbidden, "%s: granted %s only", op.name, op.action)
		}

		// Cancelling a live run needs the right to start one of its scope.
		assert.ErrorIs(t, h.engine.Cancel(ctx, "t1", accounts.ID(), only(resync.ActionResyncPersonnel)), resync.ErrForbidden)
		assert.ErrorIs(t, h.engine.Cancel(ctx, "t1", personnel.ID(), only(resync.ActionResyncAccounts)), resync.ErrForbidden)
		assert.Equal(t, resync.RunRunning, personnel.Info().Status)
		require.NoError(t, h.engine.Cancel(ctx, "t1", accounts.ID(), only(resync.ActionResyncAccounts)))
		require.NoError(t, h.engine.Cancel(ctx, "t1", personnel.ID(), only(resync.ActionResyncPersonnel)))
		okta.Unblock()
		aws.Unblock()
		for _, r := range []*resync.Run{personnel, accounts} {
			info, err := r.Wait(ctx)
			require.NoError(t, err)
			assert.Equal(t, resync.RunCanceled, info.Status, fmt.Sprint(info.Scope))
		}
	})
}

// An accounts resync by a member who is not an admin is refused, as a
// personnel resync is, and starts nothing.
func TestAuthorization_AccountsResyncForbidden(t *testing.T) {
	h := newHarness(t, nil)
	aws := h.conn("t1", "aws1", resync.Infrastructure, "aws", resynctest.Identities("a", 3), 0)
	_, err := h.engine.ResyncAccounts(context.Background(), "t1", carol, resync.Infrastructure)
	require.ErrorIs(t, err, resync.ErrForbidden)
	_, err = h.engine.Start(context.Background(), resync.Request{Tenant: "t1", Initiator: carol,
		Scope: resync.Scope{Kind: resync.ScopeAccounts, Types: []resync.ConnectionType{resync.Infrastructure}, ConnectionIDs: []string{"aws1"}}})
	require.ErrorIs(t, err, resync.ErrForbidden)
	_, err = h.engine.ResyncAccounts(context.Background(), "t1", dave, resync.Infrastructure) // t2's admin
	require.ErrorIs(t, err, resync.ErrForbidden)
	assert.Zero(t, aws.Reads())
	assert.Empty(t, h.runs("t1"))
}
