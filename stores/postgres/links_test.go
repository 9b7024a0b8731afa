package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openresync/resync"
	"github.com/openresync/resync/linking"
	"github.com/openresync/resync/resynctest"
	"github.com/openresync/resync/storage"
	"github.com/openresync/resync/stores/postgres"
)

// The offboarding scene on PostgreSQL: Jane deprovisioned at the IdP while
// still active in AWS opens a gap; the AWS resync that no longer sees
// her account closes it; an admin's decision and the findings survive a
// second store on the database.
func TestLinkingOffboardingScene(t *testing.T) {
	ctx := context.Background()
	clock := resynctest.NewClock(time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC))
	s, dbURL := openStore(t, postgres.Config{})
	src := resynctest.NewSource()
	src.Add(resync.Connection{ID: "okta", Tenant: "acme", Type: resync.IdP, Provider: "okta"},
		resync.Connection{ID: "aws", Tenant: "acme", Type: resync.Infrastructure, Provider: "aws"})
	fakes := resynctest.NewFakes()
	idp := resynctest.NewConnector([]resync.Record{
		&resync.Identity{Key: "00u1", Email: "jane@acme.example", Status: resync.StatusActive},
	}, 0)
	aws := resynctest.NewConnector([]resync.Record{
		&resync.Account{Key: "iam-jane", OwnerEmail: "Jane@ACME.example", Status: resync.StatusActive},
		&resync.Account{Key: "ci", Username: "ci", Status: resync.StatusActive},
	}, 0)
	fakes.Set("acme", "okta", idp)
	fakes.Set("acme", "aws", aws)
	admin := resync.Principal{ID: "u1", Email: "admin@acme.example"}

	start := func(store resync.Store) (*linking.Linker, *resync.Engine) {
		lk, err := linking.New(linking.Config{Store: store, Connections: src, Authorizer: resynctest.AllowAll, Clock: clock})
		require.NoError(t, err)
		e, err := resync.New(ctx, resync.Config{Store: store, Connections: src, Connectors: fakes.Factories("okta", "aws"),
			Authorizer: resynctest.AllowAll, Clock: clock, MinReadInterval: -1, AfterRun: lk.AfterRun,
			DeleteGuard: resync.DeleteGuard{Disabled: true}})
		require.NoError(t, err)
		return lk, e
	}
	resyncAll := func(e *resync.Engine) string {
		run, err := e.Start(ctx, resync.Request{Tenant: "acme", Initiator: admin, Scope: resync.Scope{Kind: resync.ScopeAll}})
		require.NoError(t, err)
		info, err := run.Wait(ctx)
		require.NoError(t, err)
		require.Equal(t, resync.RunSucceeded, info.Status)
		return info.ID
	}

	lk, e := start(s)
	resyncAll(e)
	_, err := lk.Decide(ctx, "acme", admin, linking.Decision{ConnectionID: "aws", AccountKey: "ci", Kind: linking.DecideService, Reason: "the CI's deploy user"})
	require.NoError(t, err)
	clock.Advance(time.Hour)
	idp.SetRecords([]resync.Record{&resync.Identity{Key: "00u1", Email: "jane@acme.example", Status: resync.StatusDeprovisioned}}, 0)
	opened := resyncAll(e)
	closeEngine(t, e)

	s2, err := postgres.Open(ctx, dbURL, postgres.Config{})
	require.NoError(t, err)
	t.Cleanup(s2.Close)
	lk, e = start(s2)
	defer closeEngine(t, e)
	links, _, err := lk.Links(ctx, "acme", admin, linking.LinkQuery{})
	require.NoError(t, err)
	require.Len(t, links, 2)
	assert.Equal(t, linking.ServiceAccount, links[0].Situation, "the decision survived the reopen")
	assert.Equal(t, linking.OffboardingGap, links[1].Situation)

	clock.Advance(time.Hour)
	aws.SetRecords([]resync.Record{&resync.Account{Key: "ci", Username: "ci", Status: resync.StatusActive}}, 0)
	run, err := e.ResyncAccounts(ctx, "acme", admin, resync.Infrastructure)
	require.NoError(t, err)
	_, err = run.Wait(ctx)
	require.NoError(t, err)

	gaps, err := lk.Findings(ctx, "acme", admin, linking.FindingQuery{Kind: linking.FindingOffboardingGap, PersonID: "okta:00u1"})
	require.NoError(t, err)
	require.Len(t, gaps, 1)
	assert.Equal(t, opened, gaps[0].OpenedRun)
	assert.Equal(t, run.ID(), gaps[0].ClosedRun)
	assert.Equal(t, clock.Now(), gaps[0].ClosedAt)
	ds, err := lk.Decisions(ctx, "acme", admin, linking.DecisionQuery{})
	require.NoError(t, err)
	require.Len(t, ds, 1)
	assert.Equal(t, admin, ds[0].By)

	// The run that opened the gap says so, as stored.
	stored, err := e.GetRun(ctx, "acme", opened, admin)
	require.NoError(t, err)
	assert.Equal(t, map[string]int{"offboarding_gap": 1}, stored.Findings)

	// Erasing Jane redacts the gap (kept, with its times) and forgets her.
	erased, err := e.Erase(ctx, "acme", admin, "jane@acme.example")
	require.NoError(t, err)
	require.Len(t, erased, 2, "her identity and her removed IAM user")
	gaps, err = lk.Findings(ctx, "acme", admin, linking.FindingQuery{Kind: linking.FindingOffboardingGap})
	require.NoError(t, err)
	require.Len(t, gaps, 1)
	assert.Equal(t, storage.Redacted, gaps[0].AccountKey)
	assert.Empty(t, gaps[0].PersonID)
	assert.Empty(t, gaps[0].Detail)
	assert.Equal(t, opened, gaps[0].OpenedRun)
	assert.Equal(t, run.ID(), gaps[0].ClosedRun, "closed before the erasure: its closing stays")
	_, err = lk.Access(ctx, "acme", admin, "jane@acme.example")
	assert.ErrorIs(t, err, resync.ErrNotFound)
}

func closeEngine(t testing.TB, e *resync.Engine) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, e.Close(ctx))
}
