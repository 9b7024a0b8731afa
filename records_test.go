package resync_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openresync/resync"
	"github.com/openresync/resync/memstore"
	"github.com/openresync/resync/resynctest"
	"github.com/openresync/resync/storage"
)

// seed applies records to a connection of a tenant, as a read would.
func seed(t testing.TB, s resync.Store, tenant, conn string, recs ...resync.Record) {
	t.Helper()
	var changes []resync.Change
	for _, r := range recs {
		changes = append(changes, resync.Change{Op: resync.OpAdd, Kind: storage.KindOfRecord(r), Key: storage.KeyOf(r),
			Record: r, Fingerprint: resync.Fingerprint(r)})
	}
	require.NoError(t, s.Apply(context.Background(), &resync.ChangeSet{ID: "seed-" + conn, Tenant: tenant, ConnectionID: conn, RunID: "seed", Changes: changes}))
}

// offboarded seeds tenant t1 with Mallory, who left: deprovisioned at the
// IdP and the HRIS, but with accounts left at GitHub (by email), AWS (by
// her IdP key), at a disabled Datadog connection and at a connection that
// was deleted. Tenant t2 has a connection "okta" too, and a Mallory with
// the same email, active.
func offboarded(t testing.TB, s resync.Store, src *resynctest.Source) {
	src.Add(
		resync.Connection{ID: "okta", Tenant: "t1", Type: resync.IdP, Provider: "okta", Settings: map[string]string{"token": "ref:okta"}},
		resync.Connection{ID: "bamboo", Tenant: "t1", Type: resync.HRIS, Provider: "bamboohr"},
		resync.Connection{ID: "github", Tenant: "t1", Type: resync.VersionControl, Provider: "github"},
		resync.Connection{ID: "aws-prod", Tenant: "t1", Type: resync.Infrastructure, Provider: "aws"},
		resync.Connection{ID: "aws-dev", Tenant: "t1", Type: resync.Infrastructure, Provider: "aws"},
		resync.Connection{ID: "datadog", Tenant: "t1", Type: resync.Observability, Provider: "datadog", Disabled: true},
		resync.Connection{ID: "okta", Tenant: "t2", Type: resync.IdP, Provider: "okta"},
	)
	seed(t, s, "t1", "okta",
		&resync.Identity{Key: "00u-mal", Email: "Mallory@Example.com", Status: resync.StatusDeprovisioned},
		&resync.Identity{Key: "00u-ann", Email: "ann@example.com", Status: resync.StatusActive},
		&resync.Group{Key: "eng", Members: []string{"00u-mal", "00u-ann"}})
	seed(t, s, "t1", "bamboo",
		&resync.Identity{Key: "e-17", Email: "mallory@example.com", Status: resync.StatusDeprovisioned},
		&resync.Identity{Key: "e-18", Email: "ann@example.com", Status: resync.StatusActive})
	seed(t, s, "t1", "github",
		&resync.Account{Key: "gh-1", Username: "mal", OwnerEmail: "MALLORY@example.com", Status: resync.StatusActive},
		&resync.Account{Key: "gh-2", Username: "ann", OwnerEmail: "ann@example.com", Status: resync.StatusActive})
	seed(t, s, "t1", "aws-prod",
		&resync.Account{Key: "arn:mal", ExternalID: "00u-mal", Status: resync.StatusSuspended},
		&resync.Account{Key: "arn:ann", ExternalID: "00u-ann", Status: resync.StatusActive})
	seed(t, s, "t1", "aws-dev",
		&resync.Account{Key: "arn:dev-mal", OwnerEmail: "mallory@example.com", Status: resync.StatusActive})
	seed(t, s, "t1", "datadog",
		&resync.Account{Key: "dd-mal", OwnerEmail: "mallory@example.com", Status: resync.StatusActive})
	seed(t, s, "t1", "old-slack", // no longer in the source: deleted
		&resync.Account{Key: "U123", OwnerEmail: "mallory@example.com", Status: resync.StatusActive})
	seed(t, s, "t2", "okta",
		&resync.Identity{Key: "00u-mal", Email: "mallory@example.com", Status: resync.StatusActive},
		&resync.Account{Key: "gh-1", OwnerEmail: "mallory@example.com", Status: resync.StatusActive})
}

func places(recs []resync.StoredRecord) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = fmt.Sprintf("%s/%s/%s", r.ConnectionID, r.Kind, r.Key)
	}
	return out
}

// noSearch hides the RecordSearcher of a memstore, for the engine's
// fallback.
type noSearch struct{ resync.Store }

func recordsEngine(t *testing.T, store resync.Store, auth resync.Authorizer) (*resync.Engine, *resynctest.Source) {
	src := resynctest.NewSource()
	src.AddTenant("t1")
	src.AddTenant("t2")
	e, err := resync.New(context.Background(), resync.Config{Store: store, Connections: src, Authorizer: auth,
		Connectors: resynctest.NewFakes().Factories("okta")})
	require.NoError(t, err)
	t.Cleanup(func() { _ = e.Close(context.Background()) })
	offboarded(t, store, src)
	return e, src
}

// stores gives each test a memstore with and without its RecordSearcher:
// the engine must answer the same from both.
var stores = []struct {
	name string
	new  func() resync.Store
}{
	{"searcher", func() resync.Store { return memstore.New() }},
	{"fallback", func() resync.Store { return noSearch{memstore.New()} }},
}

func TestPersonEverywhere(t *testing.T) {
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			ctx := context.Background()
			e, _ := recordsEngine(t, st.new(), resynctest.Grants{"t1": {"auditor": {resync.ActionViewRecords}}})
			auditor := resync.Principal{ID: "auditor"}
			want := []string{
				"aws-dev/account/arn:dev-mal", "aws-prod/account/arn:mal", "bamboo/identity/e-17",
				"datadog/account/dd-mal", "github/account/gh-1", "okta/identity/00u-mal",
			}
			if st.name == "searcher" {
				want = append(want, "old-slack/account/U123") // the fallback cannot see deleted connections
				slices.Sort(want)
			}
			for _, person := range []string{"mallory@example.com", "MALLORY@EXAMPLE.COM", "00u-mal"} {
				recs, err := e.Person(ctx, "t1", auditor, person)
				require.NoError(t, err, person)
				require.Equal(t, want, places(recs), "every identity and account of %s, by email or key, one step through her identities", person)
				var active []string
				for _, r := range recs {
					if r.Active {
						active = append(active, r.ConnectionID)
					}
				}
				assert.Equal(t, []string{"aws-dev", "github"}, active, "%s: still active at GitHub and AWS dev only", person)
			}

			recs, err := e.Person(ctx, "t1", auditor, "mallory@example.com")
			require.NoError(t, err)
			byConn := map[string]resync.StoredRecord{}
			for _, r := range recs {
				byConn[r.ConnectionID] = r
			}
			dd := byConn["datadog"]
			require.NotNil(t, dd.Connection, "a disabled connection is listed")
			assert.True(t, dd.Connection.Disabled, "the record says its connection is disabled")
			assert.False(t, dd.Active, "an active account of a disabled connection does not count")
			if st.name == "searcher" {
				slack := byConn["old-slack"]
				assert.Nil(t, slack.Connection, "the record says its connection was deleted")
				assert.False(t, slack.Active, "an active account of a deleted connection does not count")
			}
			okta := byConn["okta"]
			require.NotNil(t, okta.Connection)
			assert.Equal(t, resync.IdP, okta.Connection.Type)
			assert.Nil(t, okta.Connection.Settings, "settings are not handed out with records")
			assert.False(t, okta.Active, "deprovisioned")
			assert.Equal(t, resync.StatusSuspended, byConn["aws-prod"].Record.(*resync.Account).Status)

			ann, err := e.Person(ctx, "t1", auditor, "ann@example.com")
			require.NoError(t, err)
			for _, r := range ann {
				assert.NotContains(t, places([]resync.StoredRecord{r})[0], "mal", "another person's records")
			}
			nobody, err := e.Person(ctx, "t1", auditor, "nobody@example.com")
			require.NoError(t, err)
			assert.Empty(t, nobody)
			_, err = e.Person(ctx, "t1", auditor, "  ")
			assert.ErrorIs(t, err, resync.ErrInvalidRequest)
		})
	}
}

func TestRecordsAuthorization(t *testing.T) {
	ctx := context.Background()
	grants := resynctest.Grants{
		"t1": {
			"auditor": {resync.ActionViewRecords},
			"viewer":  {resync.ActionViewRuns, resync.ActionResyncPersonnel, resync.ActionReviewHeld},
		},
		"t2": {"other": {resync.ActionViewRecords}},
	}
	e, _ := recordsEngine(t, memstore.New(), grants)
	for _, p := range []string{"viewer", "other", "nobody"} {
		by := resync.Principal{ID: p}
		_, _, err := e.Records(ctx, "t1", by, resync.RecordQuery{})
		assert.ErrorIs(t, err, resync.ErrForbidden, "%s: Records needs ActionViewRecords on the tenant", p)
		_, err = e.Person(ctx, "t1", by, "mallory@example.com")
		assert.ErrorIs(t, err, resync.ErrForbidden, "%s: Person needs ActionViewRecords on the tenant", p)
	}
	// The auditor may read records, and nothing else.
	auditor := resync.Principal{ID: "auditor"}
	_, _, err := e.Records(ctx, "t1", auditor, resync.RecordQuery{})
	require.NoError(t, err)
	_, err = e.Runs(ctx, "t1", auditor, resync.RunQuery{})
	assert.ErrorIs(t, err, resync.ErrForbidden, "ActionViewRecords does not show runs")

	// Another tenant's data is never returned: t2 has a connection "okta"
	// and a Mallory of the same email and key.
	other := resync.Principal{ID: "other"}
	for _, q := range []resync.RecordQuery{{}, {ConnectionID: "okta"}, {Email: "mallory@example.com"}, {IdentityKey: "00u-mal"}, {ConnectionType: resync.IdP}} {
		recs, _, err := e.Records(ctx, "t2", other, q)
		require.NoError(t, err)
		assert.Equal(t, []string{"okta/identity/00u-mal", "okta/account/gh-1"}[:len(recs)], places(recs), "%+v", q)
		for _, r := range recs {
			assert.Equal(t, "okta", r.ConnectionID)
			assert.True(t, r.Active, "%s: active in t2", r.Key)
		}
	}
	recs, err := e.Person(ctx, "t2", other, "00u-mal")
	require.NoError(t, err)
	assert.Equal(t, []string{"okta/identity/00u-mal", "okta/account/gh-1"}, places(recs))
	_, err = e.Person(ctx, "t1", other, "00u-mal")
	assert.ErrorIs(t, err, resync.ErrForbidden, "a principal of t2 on t1")
}

func TestRecordsFiltersAndPaging(t *testing.T) {
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			ctx := context.Background()
			e, _ := recordsEngine(t, st.new(), resynctest.AllowAll)
			by := resync.Principal{ID: "auditor"}
			list := func(q resync.RecordQuery) []string {
				t.Helper()
				recs, next, err := e.Records(ctx, "t1", by, q)
				require.NoError(t, err)
				require.Empty(t, next, "one page")
				return places(recs)
			}
			assert.Equal(t, []string{"aws-dev/account/arn:dev-mal", "aws-prod/account/arn:ann", "aws-prod/account/arn:mal"},
				list(resync.RecordQuery{ConnectionType: resync.Infrastructure}))
			assert.Equal(t, []string{"aws-prod/account/arn:mal"},
				list(resync.RecordQuery{ConnectionType: resync.Infrastructure, Status: resync.StatusSuspended}))
			assert.Equal(t, []string{"aws-prod/account/arn:ann"},
				list(resync.RecordQuery{ConnectionType: resync.Infrastructure, ConnectionID: "aws-prod", IdentityKey: "00u-ann"}))
			assert.Empty(t, list(resync.RecordQuery{ConnectionType: resync.HRIS, ConnectionID: "okta"}))
			assert.Equal(t, []string{"bamboo/identity/e-17", "okta/identity/00u-mal"},
				list(resync.RecordQuery{Kind: resync.KindIdentity, Status: resync.StatusDeprovisioned}))
			assert.Equal(t, []string{"okta/group/eng"}, list(resync.RecordQuery{Kind: resync.KindGroup}))
			assert.Equal(t, []string{"bamboo/identity/e-18", "github/account/gh-2", "okta/identity/00u-ann"},
				list(resync.RecordQuery{Email: "ANN@example.com"}))

			// Pages of two, in order, with the Connection of each record set.
			var all []string
			q := resync.RecordQuery{Limit: 2}
			for pages := 0; ; pages++ {
				require.Less(t, pages, 20)
				recs, next, err := e.Records(ctx, "t1", by, q)
				require.NoError(t, err)
				require.LessOrEqual(t, len(recs), 2)
				all = append(all, places(recs)...)
				if next == "" {
					break
				}
				q.Cursor = next
			}
			want := list(resync.RecordQuery{Limit: 1000})
			assert.Equal(t, want, all)
			if st.name == "searcher" {
				assert.Len(t, all, 12, "every record of t1, the deleted connection's included")
				assert.Equal(t, "old-slack/account/U123", all[len(all)-1])
			} else {
				assert.Len(t, all, 11, "every record of t1's listed connections")
			}

			// Pages of one across the connections of a type.
			var infra []string
			q = resync.RecordQuery{ConnectionType: resync.Infrastructure, Limit: 1}
			for pages := 0; ; pages++ {
				require.Less(t, pages, 10)
				recs, next, err := e.Records(ctx, "t1", by, q)
				require.NoError(t, err)
				infra = append(infra, places(recs)...)
				if next == "" {
					break
				}
				q.Cursor = next
			}
			assert.Equal(t, []string{"aws-dev/account/arn:dev-mal", "aws-prod/account/arn:ann", "aws-prod/account/arn:mal"}, infra)

			for _, bad := range []resync.RecordQuery{
				{Limit: -1}, {Limit: 1001}, {Kind: "person"}, {Status: "gone"}, {ConnectionType: "crm"}, {Cursor: "not-a-cursor"},
			} {
				_, _, err := e.Records(ctx, "t1", by, bad)
				assert.ErrorIs(t, err, resync.ErrInvalidRequest, "%+v", bad)
			}
			_, _, err := e.Records(ctx, "nope", by, resync.RecordQuery{})
			assert.True(t, errors.Is(err, resync.ErrNotFound), "an unknown tenant: %v", err)
		})
	}
}
