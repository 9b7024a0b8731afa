package resync_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openresync/resync"
	"github.com/openresync/resync/memstore"
	"github.com/openresync/resync/resynctest"
	"github.com/openresync/resync/storage"
)

// The question an auditor asks, answered from the change log alone: who
// went from active to deprovisioned, in which run, when.
func TestChangesAnswerWhatChanged(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, nil)
	recs := resynctest.Identities("u", 150)
	c := h.conn("t1", "okta1", resync.IdP, "okta", recs, 50)
	h.personnel(alice)

	next := resynctest.Identities("u", 150)
	next[7].(*resync.Identity).Status = resync.StatusDeprovisioned
	c.SetRecords(next, 50)
	second := h.personnel(alice)

	key := next[7].(*resync.Identity).Key
	got, err := h.engine.Changes(ctx, "t1", alice, resync.ChangeQuery{Key: key, Op: resync.OpUpdate})
	require.NoError(t, err)
	require.Len(t, got, 1)
	e := got[0]
	assert.Equal(t, second.ID, e.RunID)
	assert.Equal(t, "okta1", e.ConnectionID)
	assert.False(t, e.At.IsZero())
	require.NotNil(t, e.Before)
	require.NotNil(t, e.After)
	assert.Equal(t, resync.StatusActive, e.Before.(*resync.Identity).Status)
	assert.Equal(t, resync.StatusDeprovisioned, e.After.(*resync.Identity).Status)

	// Limit 0 is 100; AfterSeq pages through the rest.
	page, err := h.engine.Changes(ctx, "t1", alice, resync.ChangeQuery{})
	require.NoError(t, err)
	require.Len(t, page, 100)
	rest, err := h.engine.Changes(ctx, "t1", alice, resync.ChangeQuery{AfterSeq: page[99].Seq})
	require.NoError(t, err)
	assert.Len(t, rest, 51, "150 adds and one update")

	// Another tenant's admin, a member without the right and a malformed
	// query get nothing.
	_, err = h.engine.Changes(ctx, "t1", dave, resync.ChangeQuery{})
	assert.ErrorIs(t, err, resync.ErrForbidden)
	_, err = h.engine.Changes(ctx, "t1", carol, resync.ChangeQuery{})
	assert.ErrorIs(t, err, resync.ErrForbidden)
	_, err = h.engine.Changes(ctx, "t1", alice, resync.ChangeQuery{Kind: "bogus"})
	assert.ErrorIs(t, err, resync.ErrInvalidRequest)
	now := time.Now()
	_, err = h.engine.Changes(ctx, "t1", alice, resync.ChangeQuery{Since: now, Until: now})
	assert.ErrorIs(t, err, resync.ErrInvalidRequest)
	// The tenant comes from the call, never from the query.
	got, err = h.engine.Changes(ctx, "t2", dave, resync.ChangeQuery{Tenant: "t1"})
	require.NoError(t, err)
	assert.Empty(t, got)
}

func TestErase(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, nil)
	erin := &resync.Identity{Key: "00u-erin", Email: "Erin@Example.com", Name: "Erin", Status: resync.StatusActive}
	frank := &resync.Identity{Key: "00u-frank", Email: "frank@example.com", Name: "Frank", Status: resync.StatusActive}
	h.conn("t1", "okta1", resync.IdP, "okta", []resync.Record{erin, frank}, 10)
	h.conn("t1", "aws1", resync.Infrastructure, "aws", []resync.Record{
		&resync.Account{Key: "erin-admin", OwnerEmail: "erin@example.com", Status: resync.StatusActive},
		&resync.Account{Key: "frank", OwnerEmail: "frank@example.com", Status: resync.StatusActive},
	}, 10)
	h.personnel(alice)
	// t2 has a person with the same email.
	h.conn("t2", "okta2", resync.IdP, "okta", []resync.Record{erin}, 10)
	run, err := h.engine.ResyncPersonnel(ctx, "t2", dave)
	require.NoError(t, err)
	_, err = run.Wait(ctx)
	require.NoError(t, err)

	_, err = h.engine.Erase(ctx, "t1", carol, "erin@example.com")
	require.ErrorIs(t, err, resync.ErrForbidden)
	_, err = h.engine.Erase(ctx, "t1", alice, "  ")
	require.ErrorIs(t, err, resync.ErrInvalidRequest)

	entries, err := h.engine.Erase(ctx, "t1", alice, "erin@example.com")
	require.NoError(t, err)
	require.Len(t, entries, 2, "her identity and her account")
	for _, e := range entries {
		assert.Equal(t, resync.OpErase, e.Op)
		assert.Equal(t, storage.Redacted, e.Key)
		assert.Equal(t, alice.Email, e.By)
		assert.Equal(t, entries[0].RunID, e.RunID)
	}
	assert.NotContains(t, h.live("t1", "okta1"), "00u-erin")
	assert.Contains(t, h.live("t1", "okta1"), "00u-frank")
	assert.NotContains(t, h.live("t1", "aws1"), "erin-admin")
	assert.Contains(t, h.live("t2", "okta2"), "00u-erin", "another tenant's person is another person")
	for _, e := range h.changes("t1") {
		assert.NotEqual(t, "00u-erin", e.Key)
		assert.NotEqual(t, "erin-admin", e.Key)
	}
	recorded, err := h.engine.Changes(ctx, "t1", alice, resync.ChangeQuery{RunID: entries[0].RunID})
	require.NoError(t, err)
	assert.Len(t, recorded, 2)

	// By identity key too; and the next read brings back who is still at
	// the provider, as a new add.
	entries, err = h.engine.Erase(ctx, "t1", bob, "00u-frank")
	require.NoError(t, err)
	require.Len(t, entries, 1, "the identity whose key it is (the account's key differs)")
	info := h.personnel(alice)
	i := slices.IndexFunc(info.Connections, func(c resync.ConnectionResult) bool { return c.ConnectionID == "okta1" })
	require.GreaterOrEqual(t, i, 0)
	assert.Equal(t, 2, info.Connections[i].Added)
}

// eraserless hides memstore's Eraser.
type eraserless struct{ resync.Store }

func TestEraseNeedsTheCapability(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, func(c *resync.Config) { c.Store = eraserless{memstore.New()} })
	_, err := h.engine.Erase(ctx, "t1", alice, "erin@example.com")
	require.ErrorIs(t, err, errors.ErrUnsupported)
	require.ErrorIs(t, h.engine.DeleteTenant(ctx, "t1", alice), errors.ErrUnsupported)
}

func TestDeleteTenant(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, nil)
	c := h.conn("t1", "okta1", resync.IdP, "okta", resynctest.Identities("u", 5), 10)
	h.conn("t2", "okta2", resync.IdP, "okta", resynctest.Identities("u", 5), 10)
	h.personnel(alice)
	run, err := h.engine.ResyncPersonnel(ctx, "t2", dave)
	require.NoError(t, err)
	_, err = run.Wait(ctx)
	require.NoError(t, err)

	// A run in progress would write again: refused.
	c.Block()
	live, err := h.engine.ResyncPersonnel(ctx, "t1", alice)
	require.NoError(t, err)
	require.ErrorIs(t, h.engine.DeleteTenant(ctx, "t1", alice), resync.ErrConflict)
	c.Unblock()
	_, err = live.Wait(ctx)
	require.NoError(t, err)

	require.ErrorIs(t, h.engine.DeleteTenant(ctx, "t1", dave), resync.ErrForbidden)
	require.NoError(t, h.engine.DeleteTenant(ctx, "t1", alice))
	assert.Empty(t, h.runs("t1"))
	assert.Empty(t, h.changes("t1"))
	assert.Empty(t, h.all("t1", "okta1"))
	assert.Len(t, h.runs("t2"), 1)
	assert.Len(t, h.changes("t2"), 5)
}

func TestPrune(t *testing.T) {
	ctx := context.Background()
	clk := resynctest.NewClock(time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC))
	store := memstore.New(memstore.Config{Clock: clk})
	h := newHarness(t, func(c *resync.Config) {
		c.Store, c.Clock, c.Retention = store, clk, 30*24*time.Hour
	})
	c := h.conn("t1", "okta1", resync.IdP, "okta", resynctest.Identities("u", 3), 10)
	old := h.personnel(alice)
	clk.Advance(31 * 24 * time.Hour)
	c.SetRecords(resynctest.Identities("u", 4), 10)
	recent := h.personnel(alice)

	require.ErrorIs(t, h.engine.Prune(ctx, "t1", carol), resync.ErrForbidden)
	require.NoError(t, h.engine.Prune(ctx, "t1", alice))
	runs, err := h.engine.Runs(ctx, "t1", alice, resync.RunQuery{})
	require.NoError(t, err)
	require.Len(t, runs, 1)
	assert.Equal(t, recent.ID, runs[0].ID)
	_, err = h.engine.GetRun(ctx, "t1", old.ID, alice)
	assert.ErrorIs(t, err, resync.ErrNotFound)
	log, err := h.engine.Changes(ctx, "t1", alice, resync.ChangeQuery{})
	require.NoError(t, err)
	require.Len(t, log, 1, "only the recent run's add is kept")
	assert.Equal(t, recent.ID, log[0].RunID)
	recs, err := store.Records(ctx, resync.RecordQuery{Tenant: "t1", ConnectionID: "okta1"})
	require.NoError(t, err)
	assert.Len(t, recs, 4, "records stay")

	h2 := newHarness(t, nil)
	require.ErrorIs(t, h2.engine.Prune(ctx, "t1", alice), resync.ErrInvalidRequest, "no retention configured")
}
