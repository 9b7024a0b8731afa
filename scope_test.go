package resync

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestScopeNormalize(t *testing.T) {
	t.Parallel()
	def := []ConnectionType{HRIS, IdP}
	cases := []struct {
		name string
		in   Scope
		want Scope
	}{
		{"personnel default", PersonnelScope(), Scope{Kind: ScopePersonnel, Types: []ConnectionType{IdP, HRIS}}},
		{"personnel sorted and deduplicated", PersonnelScope(VersionControl, IdP, VersionControl, HRIS, IdP),
			Scope{Kind: ScopePersonnel, Types: []ConnectionType{IdP, HRIS, VersionControl}}},
		{"accounts sorted and deduplicated", Scope{Kind: ScopeAccounts, Types: []ConnectionType{Infrastructure},
			Providers: []string{"gcp", "aws", "gcp"}, ConnectionIDs: []string{"c2", "c1", "c2"}},
			Scope{Kind: ScopeAccounts, Types: []ConnectionType{Infrastructure}, Providers: []string{"aws", "gcp"}, ConnectionIDs: []string{"c1", "c2"}}},
		{"accounts all providers", AccountsScope(AccessReview), Scope{Kind: ScopeAccounts, Types: []ConnectionType{AccessReview}}},
		{"accounts observability", AccountsScope(Observability, "datadog"), Scope{Kind: ScopeAccounts, Types: []ConnectionType{Observability}, Providers: []string{"datadog"}}},
		{"all", Scope{Kind: ScopeAll}, Scope{Kind: ScopeAll}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := c.in.normalize(def)
			require.NoError(t, err)
			assert.Equal(t, c.want, got)
			again, err := got.normalize(def)
			require.NoError(t, err)
			assert.Equal(t, got.key(), again.key(), "normalize must be idempotent")
		})
	}
	// The default list is not modified by sorting.
	assert.Equal(t, []ConnectionType{HRIS, IdP}, def)

	// Equal requests written differently have the same key.
	a, err := Scope{Kind: ScopeAccounts, Types: []ConnectionType{Infrastructure}, Providers: []string{"gcp", "aws"}}.normalize(def)
	require.NoError(t, err)
	b, err := Scope{Kind: ScopeAccounts, Types: []ConnectionType{Infrastructure}, Providers: []string{"aws", "gcp", "aws"}}.normalize(def)
	require.NoError(t, err)
	assert.Equal(t, a.key(), b.key())
	p1, _ := PersonnelScope().normalize(def)
	p2, _ := PersonnelScope(IdP, HRIS).normalize(def)
	assert.Equal(t, p1.key(), p2.key())
	assert.NotEqual(t, p1.key(), a.key())
}

func TestScopeNormalizeErrors(t *testing.T) {
	t.Parallel()
	def := defaultPersonnelTypes()
	cases := []struct {
		name string
		in   Scope
		is   error
		msg  string
	}{
		{"zero kind", Scope{}, ErrInvalidRequest, `unknown scope kind ""`},
		{"unknown kind", Scope{Kind: "everything"}, ErrInvalidRequest, `unknown scope kind "everything" (want personnel, accounts or all)`},
		{"personnel invalid type", PersonnelScope(IdP, ""), ErrInvalidRequest, `unknown connection type ""`},
		{"personnel type spelled as shown", PersonnelScope("Version Control"), ErrInvalidRequest, `unknown connection type "Version Control" (want one of idp, hris,`},
		{"personnel with providers", Scope{Kind: ScopePersonnel, Providers: []string{"okta"}}, ErrInvalidRequest, "selects by type only"},
		{"personnel with connections", Scope{Kind: ScopePersonnel, ConnectionIDs: []string{"c1"}}, ErrInvalidRequest, "selects by type only"},
		{"accounts no type", Scope{Kind: ScopeAccounts}, ErrInvalidRequest, "exactly one connection type, got 0"},
		{"accounts two types", Scope{Kind: ScopeAccounts, Types: []ConnectionType{Infrastructure, AccessReview}}, ErrInvalidRequest, "got 2"},
		{"accounts invalid type", AccountsScope(""), ErrInvalidRequest, `unknown connection type ""`},
		{"accounts of HRIS", AccountsScope(HRIS), ErrInvalidRequest, "hris"},
		{"accounts of IdP", AccountsScope(IdP, "okta"), ErrInvalidRequest, "idp"},
		{"accounts empty provider", AccountsScope(Infrastructure, "aws", ""), ErrInvalidRequest, "empty provider"},
		{"accounts empty connection ID", Scope{Kind: ScopeAccounts, Types: []ConnectionType{Infrastructure}, ConnectionIDs: []string{""}}, ErrInvalidRequest, "empty connection ID"},
		{"all with types", Scope{Kind: ScopeAll, Types: []ConnectionType{IdP}}, ErrInvalidRequest, "full scope"},
		{"all with providers", Scope{Kind: ScopeAll, Providers: []string{"aws"}}, ErrInvalidRequest, "full scope"},
		{"all with connections", Scope{Kind: ScopeAll, ConnectionIDs: []string{"c1"}}, ErrInvalidRequest, "full scope"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := c.in.normalize(def)
			require.Error(t, err)
			assert.ErrorIs(t, err, c.is)
			assert.Contains(t, err.Error(), c.msg)
			assert.Equal(t, Scope{}, got)
		})
	}
	// The accounts-type error names the types that are allowed.
	_, err := AccountsScope(MDM).normalize(def)
	assert.ErrorContains(t, err, "access_review, infrastructure and observability only")
}

func planConns() []Connection {
	return []Connection{
		{ID: "okta1", Tenant: "t1", Type: IdP, Provider: "okta", Name: "Okta"},
		{ID: "bamboo1", Tenant: "t1", Type: HRIS, Provider: "bamboohr"},
		{ID: "aws-prod", Tenant: "t1", Type: Infrastructure, Provider: "aws", Name: "AWS prod"},
		{ID: "aws-dev", Tenant: "t1", Type: Infrastructure, Provider: "aws", Name: "AWS dev"},
		{ID: "gcp1", Tenant: "t1", Type: Infrastructure, Provider: "gcp"},
		{ID: "aws-old", Tenant: "t1", Type: Infrastructure, Provider: "aws", Disabled: true},
		{ID: "azure1", Tenant: "t1", Type: Infrastructure, Provider: "azure"}, // no connector
		{ID: "kandji1", Tenant: "t1", Type: MDM, Provider: "kandji"},
	}
}

func hasConnector(p string) bool { return p != "azure" }

func planIDs(p *Plan) (sync []string, skip map[string]string) {
	skip = map[string]string{}
	for _, c := range p.Sync {
		sync = append(sync, c.ID)
	}
	for _, s := range p.Skip {
		skip[s.Connection.ID] = s.Reason
	}
	return sync, skip
}

func mustNormalize(t *testing.T, s Scope) Scope {
	t.Helper()
	n, err := s.normalize(defaultPersonnelTypes())
	require.NoError(t, err)
	return n
}

func TestPlanScopePersonnel(t *testing.T) {
	t.Parallel()
	p, err := planScope("t1", mustNormalize(t, PersonnelScope(IdP, HRIS, Infrastructure)), planConns(), hasConnector)
	require.NoError(t, err)
	sync, skip := planIDs(p)
	// Source order is kept.
	assert.Equal(t, []string{"okta1", "bamboo1", "aws-prod", "aws-dev", "gcp1"}, sync)
	assert.Equal(t, map[string]string{
		"aws-old": "connection is disabled",
		"azure1":  `no connector registered for provider "azure"`,
		"kandji1": "type mdm is not in the personnel scope",
	}, skip)
	names := make([]string, len(p.Sync))
	for i, c := range p.Sync {
		names[i] = c.label()
	}
	assert.Equal(t, []string{"Okta", "bamboohr/bamboo1", "AWS prod", "AWS dev", "gcp/gcp1"}, names)
	assert.Equal(t, "t1", p.Tenant)
}

func TestPlanScopeAccounts(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		scope    Scope
		sync     []string
		skipWhy  map[string]string
		notSkips []string
	}{
		{"all providers", AccountsScope(Infrastructure), []string{"aws-prod", "aws-dev", "gcp1"},
			map[string]string{"okta1": "type idp is not infrastructure", "aws-old": "connection is disabled", "azure1": `no connector registered for provider "azure"`}, nil},
		{"by provider", AccountsScope(Infrastructure, "aws"), []string{"aws-prod", "aws-dev"},
			map[string]string{"gcp1": "not selected", "azure1": "not selected", "aws-old": "connection is disabled", "kandji1": "type mdm is not infrastructure"}, nil},
		{"by ID", Scope{Kind: ScopeAccounts, Types: []ConnectionType{Infrastructure}, ConnectionIDs: []string{"gcp1"}}, []string{"gcp1"},
			map[string]string{"aws-prod": "not selected", "aws-dev": "not selected"}, nil},
		{"provider or ID", Scope{Kind: ScopeAccounts, Types: []ConnectionType{Infrastructure}, Providers: []string{"gcp"}, ConnectionIDs: []string{"aws-dev"}},
			[]string{"aws-dev", "gcp1"}, map[string]string{"aws-prod": "not selected"}, nil},
		{"selected but disabled", Scope{Kind: ScopeAccounts, Types: []ConnectionType{Infrastructure}, ConnectionIDs: []string{"aws-old", "aws-prod"}},
			[]string{"aws-prod"}, map[string]string{"aws-old": "connection is disabled"}, nil},
		{"selected without connector", AccountsScope(Infrastructure, "azure"), nil,
			map[string]string{"azure1": `no connector registered for provider "azure"`}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := planScope("t1", mustNormalize(t, c.scope), planConns(), hasConnector)
			require.NoError(t, err)
			sync, skip := planIDs(p)
			assert.Equal(t, c.sync, sync)
			for id, why := range c.skipWhy {
				assert.Equal(t, why, skip[id], id)
			}
			assert.Len(t, p.Sync, len(c.sync))
			assert.Equal(t, len(planConns()), len(p.Sync)+len(p.Skip), "every connection is either synced or skipped")
		})
	}
}

func TestPlanScopeAll(t *testing.T) {
	t.Parallel()
	p, err := planScope("t1", mustNormalize(t, Scope{Kind: ScopeAll}), planConns(), hasConnector)
	require.NoError(t, err)
	sync, skip := planIDs(p)
	assert.Equal(t, []string{"okta1", "bamboo1", "aws-prod", "aws-dev", "gcp1", "kandji1"}, sync)
	assert.Len(t, skip, 2)
}

func TestPlanScopeErrors(t *testing.T) {
	t.Parallel()
	t.Run("unknown provider", func(t *testing.T) {
		_, err := planScope("t1", mustNormalize(t, AccountsScope(Infrastructure, "aws", "oracle")), planConns(), hasConnector)
		require.ErrorIs(t, err, ErrInvalidRequest)
		assert.Contains(t, err.Error(), `"oracle"`)
		assert.NotContains(t, err.Error(), `"aws"`)
	})
	t.Run("provider of another type", func(t *testing.T) {
		// kandji exists, but only as an MDM connection.
		_, err := planScope("t1", mustNormalize(t, AccountsScope(Infrastructure, "kandji")), planConns(), hasConnector)
		require.ErrorIs(t, err, ErrInvalidRequest)
		assert.Contains(t, err.Error(), `"kandji"`)
	})
	t.Run("unknown connection", func(t *testing.T) {
		s := Scope{Kind: ScopeAccounts, Types: []ConnectionType{Infrastructure}, ConnectionIDs: []string{"aws-prod", "nope"}}
		_, err := planScope("t1", mustNormalize(t, s), planConns(), hasConnector)
		require.ErrorIs(t, err, ErrInvalidRequest)
		assert.Contains(t, err.Error(), `"nope"`)
	})
	t.Run("connection of another type", func(t *testing.T) {
		s := Scope{Kind: ScopeAccounts, Types: []ConnectionType{Infrastructure}, ConnectionIDs: []string{"okta1"}}
		_, err := planScope("t1", mustNormalize(t, s), planConns(), hasConnector)
		require.ErrorIs(t, err, ErrInvalidRequest)
		assert.Contains(t, err.Error(), `"okta1"`)
	})
	t.Run("two unknowns joined", func(t *testing.T) {
		s := Scope{Kind: ScopeAccounts, Types: []ConnectionType{Infrastructure}, Providers: []string{"oracle"}, ConnectionIDs: []string{"ghost"}}
		_, err := planScope("t1", mustNormalize(t, s), planConns(), hasConnector)
		require.Error(t, err)
		assert.ErrorIs(t, err, ErrInvalidRequest)
		assert.ErrorIs(t, err, ErrInvalidRequest)
		assert.Contains(t, err.Error(), `"oracle"`)
		assert.Contains(t, err.Error(), `"ghost"`)
		var joined interface{ Unwrap() []error }
		require.True(t, errors.As(err, &joined))
		assert.Len(t, joined.Unwrap(), 2)
	})
	t.Run("connection of another tenant", func(t *testing.T) {
		conns := append(planConns(), Connection{ID: "x", Tenant: "t2", Type: IdP, Provider: "okta"})
		p, err := planScope("t1", mustNormalize(t, PersonnelScope()), conns, hasConnector)
		require.Error(t, err)
		assert.Nil(t, p)
		assert.Contains(t, err.Error(), `"t2"`)
		assert.Contains(t, err.Error(), "cross tenants")
	})
	t.Run("duplicate IDs", func(t *testing.T) {
		conns := append(planConns(), Connection{ID: "okta1", Tenant: "t1", Type: IdP, Provider: "okta"})
		_, err := planScope("t1", mustNormalize(t, PersonnelScope()), conns, hasConnector)
		require.Error(t, err)
		assert.Contains(t, err.Error(), `"okta1" twice`)
	})
	t.Run("empty ID", func(t *testing.T) {
		conns := append(planConns(), Connection{Tenant: "t1", Type: IdP, Provider: "okta"})
		_, err := planScope("t1", mustNormalize(t, PersonnelScope()), conns, hasConnector)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "empty ID")
	})
	t.Run("no connections is an empty plan", func(t *testing.T) {
		p, err := planScope("t1", mustNormalize(t, PersonnelScope()), nil, hasConnector)
		require.NoError(t, err)
		assert.Empty(t, p.Sync)
		assert.Empty(t, p.Skip)
	})
}

func TestScopeString(t *testing.T) {
	t.Parallel()
	s := Scope{Kind: ScopeAccounts, Types: []ConnectionType{Infrastructure}, Providers: []string{"aws"}, ConnectionIDs: []string{"c1"}}
	assert.Equal(t, "accounts types=infrastructure providers=aws connections=c1", s.String())
	assert.Equal(t, "all", Scope{Kind: ScopeAll}.String())
}

func TestPlanSkipsInvalidConnectionType(t *testing.T) {
	t.Parallel()
	conns := []Connection{{ID: "ok", Tenant: "t", Type: IdP, Provider: "p"}, {ID: "bad", Tenant: "t", Type: "Okta", Provider: "p"}}
	p, err := planScope("t", Scope{Kind: ScopeAll}, conns, func(string) bool { return true })
	require.NoError(t, err)
	require.Len(t, p.Sync, 1)
	require.Len(t, p.Skip, 1)
	assert.Equal(t, "bad", p.Skip[0].Connection.ID)
	assert.Equal(t, `unknown connection type "Okta"`, p.Skip[0].Reason)
}
