package postgres_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openresync/resync"
	"github.com/openresync/resync/internal/linkscene"
	"github.com/openresync/resync/linking"
	"github.com/openresync/resync/stores/postgres"
)

// The offboarding scene on PostgreSQL: Jane deprovisioned at the IdP while
// still active in AWS opens a gap; the AWS resync that no longer sees
// her account closes it; an admin's decision and the findings survive a
// second store on the database.
func TestLinkingOffboardingScene(t *testing.T) {
	var dbURL string
	linkscene.Offboarding(t, func(resync.Clock) resync.Store {
		if dbURL == "" {
			s, u := openStore(t, postgres.Config{})
			dbURL = u
			return s
		}
		s, err := postgres.Open(context.Background(), dbURL, postgres.Config{})
		require.NoError(t, err)
		t.Cleanup(s.Close)
		return s
	})
}

// A large Put of accounts without links goes straight into account_links
// by COPY. When another correlation adds one of those links first (here,
// a transaction that commits while the COPY waits on its row), the COPY
// is undone and the links are merged instead: the write succeeds and its
// links replace the other's.
// It is so whether the write says its links are new (PutNew: no lookup
// before the COPY) or not (a lookup, which cannot see the other's link
// before it commits).
func TestWriteLinksCopyMeetsConcurrentLink(t *testing.T) {
	for _, putNew := range []bool{false, true} {
		t.Run(fmt.Sprintf("PutNew=%v", putNew), func(t *testing.T) { testCopyMeetsConcurrentLink(t, putNew) })
	}
}

func testCopyMeetsConcurrentLink(t *testing.T, putNew bool) {
	ctx := context.Background()
	s, dbURL := openStore(t, postgres.Config{})
	s.SetCopyMin(1)
	at := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	mk := func(key, person, run string) linking.Link {
		return linking.Link{Tenant: "acme", ConnectionID: "aws", AccountKey: key, Situation: linking.Linked, PersonID: person,
			Rule: linking.RuleEmail, Active: true, UpdatedAt: at, RunID: run}
	}
	other, err := pgx.Connect(ctx, dbURL)
	require.NoError(t, err)
	defer func() { _ = other.Close(ctx) }()
	tx, err := other.Begin(ctx)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, `INSERT INTO resync.account_links (tenant, connection_id, account_key, situation, person_id, rule,
		active, updated_at, run_id) VALUES ('acme', 'aws', 'k2', 'unlinked', '', '', true, 1, 'other')`)
	require.NoError(t, err)

	put := []linking.Link{mk("k1", "okta:1", "mine"), mk("k2", "okta:2", "mine"), mk("k3", "okta:3", "mine")}
	done := make(chan error, 1)
	go func() {
		_, err := s.WriteLinks(ctx, linking.Write{Tenant: "acme", RunID: "mine", At: at, Put: put, PutNew: putNew})
		done <- err
	}()
	// The COPY waits for the other transaction's k2.
	require.Eventually(t, func() bool {
		var n int
		err := s.Pool().QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&n)
		return err == nil && n > 0
	}, 10*time.Second, 5*time.Millisecond)
	require.NoError(t, tx.Commit(ctx))
	require.NoError(t, <-done)

	got, err := s.Links(ctx, linking.LinkQuery{Tenant: "acme"})
	require.NoError(t, err)
	assert.Equal(t, put, got)
}

// A listing of the links in a situation other than Linked (few of a
// tenant's links) reads them from the partial index of those situations;
// a listing of the linked, nearly all of them, from the primary key.
func TestUnsettledLinksPlan(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t, postgres.Config{})
	for _, sit := range []linking.Situation{linking.Unlinked, linking.Ambiguous, linking.OffboardingGap, linking.ServiceAccount} {
		for _, q := range []linking.LinkQuery{
			{Tenant: "t", Situation: sit, Limit: 100},
			{Tenant: "t", Situation: sit, ConnectionID: "c", After: linking.AccountRef{ConnectionID: "c", AccountKey: "k"}, Limit: 100},
		} {
			plan, err := s.PlanLinks(ctx, q)
			require.NoError(t, err)
			require.Contains(t, plan, "account_links_unsettled", "%+v", q)
		}
	}
	plan, err := s.PlanLinks(ctx, linking.LinkQuery{Tenant: "t", Situation: linking.Linked, Limit: 100})
	require.NoError(t, err)
	require.Contains(t, plan, "account_links_pkey")
}
