package linking_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openresync/resync"
	"github.com/openresync/resync/linking"
	"github.com/openresync/resync/memstore"
	"github.com/openresync/resync/resynctest"
	"github.com/openresync/resync/storage"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const tenant = "acme"

var admin = resync.Principal{ID: "u1", Email: "admin@acme.example"}

// env is an engine on memstore with a Linker on AfterRun, in virtual
// time.
type env struct {
	t     *testing.T
	ctx   context.Context
	clock *resynctest.Clock
	src   *resynctest.Source
	fakes *resynctest.Fakes
	store resync.Store
	eng   *resync.Engine
	lk    *linking.Linker
	seen  []linking.Finding
}

var t0 = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

// retention is the engine's Config.Retention (Engine.Prune).
const retention = 30 * 24 * time.Hour

// newEnv starts an engine and linker over store (nil: a memstore) with the
// connections given and cfg's linking settings.
func newEnv(t *testing.T, store resync.Store, cfg linking.Config, conns ...resync.Connection) *env {
	t.Helper()
	return newEnvGuard(t, store, cfg, resync.DeleteGuard{Disabled: true}, conns...)
}

// newEnvGuard is newEnv with the engine's delete guard.
func newEnvGuard(t *testing.T, store resync.Store, cfg linking.Config, guard resync.DeleteGuard, conns ...resync.Connection) *env {
	t.Helper()
	e := &env{t: t, ctx: t.Context(), clock: resynctest.NewClock(t0), src: resynctest.NewSource(), fakes: resynctest.NewFakes()}
	if store == nil {
		store = memstore.New(memstore.Config{Clock: e.clock})
	}
	e.store = store
	e.src.AddTenant(tenant)
	providers := map[string]bool{}
	for _, c := range conns {
		c.Tenant = tenant
		e.src.Add(c)
		providers[c.Provider] = true
		e.fakes.Set(tenant, c.ID, resynctest.NewConnector(nil, 0))
	}
	var ps []string
	for p := range providers {
		ps = append(ps, p)
	}
	cfg.Store, cfg.Connections, cfg.Clock = store, e.src, e.clock
	if cfg.Authorizer == nil {
		cfg.Authorizer = resynctest.AllowAll
	}
	cfg.OnFinding = func(f linking.Finding) { e.seen = append(e.seen, f) }
	lk, err := linking.New(cfg)
	require.NoError(t, err)
	e.lk = lk
	eng, err := resync.New(e.ctx, resync.Config{
		Store: store, Connections: e.src, Connectors: e.fakes.Factories(ps...), Authorizer: cfg.Authorizer,
		Clock: e.clock, MinReadInterval: -1, AfterRun: lk.AfterRun,
		DeleteGuard: guard, Retention: retention,
	})
	require.NoError(t, err)
	e.eng = eng
	t.Cleanup(func() { require.NoError(t, eng.Close(context.Background())) })
	return e
}

// set gives connection id these records for its next read.
func (e *env) set(id string, recs ...resync.Record) {
	e.fakes.Get(tenant, id).SetRecords(recs, 0)
}

// sync reads every connection of the tenant and returns the run's ID.
func (e *env) sync() string {
	e.t.Helper()
	return e.syncInfo().ID
}

// syncInfo reads every connection of the tenant and returns the run.
func (e *env) syncInfo() resync.RunInfo {
	e.t.Helper()
	run, err := e.eng.Start(e.ctx, resync.Request{Tenant: tenant, Initiator: admin, Scope: resync.Scope{Kind: resync.ScopeAll}})
	require.NoError(e.t, err)
	info, err := run.Wait(e.ctx)
	require.NoError(e.t, err)
	require.Equal(e.t, resync.RunSucceeded, info.Status, "%+v", info.Connections)
	return info
}

// link returns the link of an account.
func (e *env) link(conn, key string) linking.Link {
	e.t.Helper()
	links, _, err := e.lk.Links(e.ctx, tenant, admin, linking.LinkQuery{ConnectionID: conn, Limit: 1000})
	require.NoError(e.t, err)
	for _, k := range links {
		if k.AccountKey == key {
			return k
		}
	}
	e.t.Fatalf("no link of account %s/%s in %+v", conn, key, links)
	return linking.Link{}
}

func (e *env) findings(q linking.FindingQuery) []linking.Finding {
	e.t.Helper()
	fs, err := e.lk.Findings(e.ctx, tenant, admin, q)
	require.NoError(e.t, err)
	return fs
}

func active(key, email string) *resync.Identity {
	return &resync.Identity{Key: key, Email: email, Status: resync.StatusActive}
}

func acct(key string, f func(a *resync.Account)) *resync.Account {
	a := &resync.Account{Key: key, Status: resync.StatusActive}
	if f != nil {
		f(a)
	}
	return a
}

var (
	okta = resync.Connection{ID: "okta", Type: resync.IdP, Provider: "okta", Name: "Okta"}
	hris = resync.Connection{ID: "bamboo", Type: resync.HRIS, Provider: "bamboohr", Name: "BambooHR"}
	aws  = resync.Connection{ID: "aws", Type: resync.Infrastructure, Provider: "aws", Name: "AWS prod"}
	gh   = resync.Connection{ID: "gh", Type: resync.VersionControl, Provider: "github", Name: "GitHub"}
)

// Each rule links on its own, in the configured order, and the rule that
// decided is reported.
func TestRules(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, linking.Config{
		DomainAliases: map[string]string{"Corp.Acme.Example": "acme.example"},
		Rules: func(c resync.Connection) []linking.Rule {
			if c.ID == "gh" {
				return []linking.Rule{linking.RuleUsername}
			}
			return nil
		},
	}, okta, hris, aws, gh)
	e.set("okta",
		&resync.Identity{Key: "00u1", Email: "Ada@Acme.example", Status: resync.StatusActive, ExternalID: "sso-ada"},
		&resync.Identity{Key: "00u2", Email: "alan@acme.example", Status: resync.StatusActive},
		&resync.Identity{Key: "00u3", Email: "grace@acme.example", Status: resync.StatusActive,
			Attributes: map[string]string{"username": "ghopper"}})
	e.set("bamboo", &resync.Identity{Key: "e1", EmployeeID: "E-7", Email: "edsger@acme.example", Status: resync.StatusActive})
	e.set("aws",
		acct("by-key", func(a *resync.Account) { a.ExternalID = "00u2" }),
		acct("by-subject", func(a *resync.Account) { a.ExternalID = "sso-ada" }),
		acct("by-emp", func(a *resync.Account) { a.EmployeeID = "E-7" }),
		acct("by-email", func(a *resync.Account) { a.OwnerEmail = " ALAN+aws@corp.acme.example " }),
		acct("by-username-email", func(a *resync.Account) { a.Username = "Grace@ACME.example" }),
		acct("first-rule-wins", func(a *resync.Account) { a.ExternalID = "00u1"; a.OwnerEmail = "alan@acme.example" }),
		acct("nobody", func(a *resync.Account) { a.Username = "ada"; a.OwnerEmail = "someone@else.example" }))
	e.set("gh",
		acct("1", func(a *resync.Account) { a.Username = "ADA"; a.OwnerEmail = "alan@acme.example" }),
		acct("2", func(a *resync.Account) { a.Username = "ghopper" }))
	e.sync()

	for _, c := range []struct {
		conn, key string
		person    string
		rule      linking.Rule
	}{
		{"aws", "by-key", "okta:00u2", linking.RuleExternalID},
		{"aws", "by-subject", "okta:00u1", linking.RuleExternalID},
		{"aws", "by-emp", "bamboo:e1", linking.RuleEmployeeID},
		{"aws", "by-email", "okta:00u2", linking.RuleEmail},
		{"aws", "by-username-email", "okta:00u3", linking.RuleEmail},
		{"aws", "first-rule-wins", "okta:00u1", linking.RuleExternalID},
		{"gh", "1", "okta:00u1", linking.RuleUsername}, // the email is not among gh's rules
		{"gh", "2", "okta:00u3", linking.RuleUsername},
	} {
		k := e.link(c.conn, c.key)
		assert.Equal(t, linking.Linked, k.Situation, "%s/%s", c.conn, c.key)
		assert.Equal(t, c.person, k.PersonID, "%s/%s", c.conn, c.key)
		assert.Equal(t, c.rule, k.Rule, "%s/%s", c.conn, c.key)
	}
	// The default rules have no username rule: "ada" links nobody.
	k := e.link("aws", "nobody")
	assert.Equal(t, linking.Unlinked, k.Situation)
	orphans := e.findings(linking.FindingQuery{Kind: linking.FindingOrphaned, OpenOnly: true})
	require.Len(t, orphans, 1)
	assert.Equal(t, "nobody", orphans[0].AccountKey)
}

func TestNormalizeEmail(t *testing.T) {
	t.Parallel()
	al := map[string]string{"corp.example.com": "example.com"}
	for in, want := range map[string]string{
		"Jane.Doe@Example.COM":            "jane.doe@example.com",
		" jane+aws@corp.example.com ":     "jane@example.com",
		"jane@other.example.com":          "jane@other.example.com",
		"+jane@example.com":               "+jane@example.com",
		"jane":                            "",
		"@example.com":                    "",
		"jane@":                           "",
		"first.last+x+y@CORP.example.com": "first.last@example.com",
	} {
		assert.Equal(t, want, linking.NormalizeEmail(in, al), "%q", in)
	}
}

// Two people with the same username in different systems: each system's
// account goes to its own person, by that system's rules; where only the
// username could tell, it is ambiguous, never guessed.
func TestSharedUsername(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, linking.Config{
		Rules: func(c resync.Connection) []linking.Rule {
			return []linking.Rule{linking.RuleExternalID, linking.RuleEmail, linking.RuleUsername}
		},
	}, okta, aws, gh)
	e.set("okta", active("00u1", "alex@acme.example"), active("00u2", "alex@subsidiary.example"))
	e.set("gh", acct("10", func(a *resync.Account) { a.Username = "alex"; a.OwnerEmail = "alex@acme.example" }))
	e.set("aws",
		acct("iam-alex", func(a *resync.Account) { a.Username = "alex"; a.ExternalID = "00u2" }),
		acct("iam-alex-2", func(a *resync.Account) { a.Username = "alex" }))
	e.sync()

	assert.Equal(t, "okta:00u1", e.link("gh", "10").PersonID)
	assert.Equal(t, "okta:00u2", e.link("aws", "iam-alex").PersonID)
	k := e.link("aws", "iam-alex-2")
	assert.Equal(t, linking.Ambiguous, k.Situation)
	assert.Empty(t, k.PersonID)
	assert.Equal(t, linking.RuleUsername, k.Rule)
	assert.Equal(t, []string{"okta:00u1", "okta:00u2"}, k.Candidates)
	assert.Empty(t, e.findings(linking.FindingQuery{Kind: linking.FindingOrphaned}), "an ambiguous account is not an orphan")
}

// The IdP and the HRIS disagree: they are joined by employee ID despite
// different emails; the HRIS decides employment, the IdP login; either
// one saying the person left opens a gap.
func TestIdPAndHRISDisagree(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, linking.Config{}, okta, hris, aws)
	e.set("okta", &resync.Identity{Key: "00u1", Email: "jane.doe@acme.example", EmployeeID: "42", Status: resync.StatusDeprovisioned})
	e.set("bamboo", &resync.Identity{Key: "b1", Email: "jdoe@acme.example", EmployeeID: "42", Status: resync.StatusActive, Name: "Jane Doe"})
	e.set("aws", acct("iam-jane", func(a *resync.Account) { a.OwnerEmail = "jdoe@acme.example" }))
	e.sync()

	acc, err := e.lk.Access(e.ctx, tenant, admin, "JANE.DOE@acme.example")
	require.NoError(t, err)
	p := acc.Person
	assert.Equal(t, "bamboo:b1", p.ID)
	assert.Equal(t, "Jane Doe", p.Name)
	assert.Equal(t, "jdoe@acme.example", p.Email, "the HRIS's email first")
	assert.Equal(t, resync.StatusActive, p.Status, "employment from the HRIS")
	assert.Equal(t, resync.StatusDeprovisioned, p.LoginStatus, "login from the IdP")
	assert.True(t, p.Offboarded)
	assert.Contains(t, p.OffboardedWhy, "identity provider")
	assert.Len(t, p.Identities, 2)
	require.Len(t, acc.Accounts, 1)
	assert.Equal(t, linking.OffboardingGap, acc.Accounts[0].Link.Situation)
	assert.Equal(t, "iam-jane", acc.Accounts[0].Account.Key)

	// The other way round: the HRIS terminates her, then the IdP
	// reactivates her (each seen by its own run: a run's connections are
	// correlated as each is applied).
	e.set("bamboo", &resync.Identity{Key: "b1", Email: "jdoe@acme.example", EmployeeID: "42", Status: resync.StatusDeprovisioned})
	e.sync()
	e.set("okta", &resync.Identity{Key: "00u1", Email: "jane.doe@acme.example", EmployeeID: "42", Status: resync.StatusActive})
	e.sync()
	acc, err = e.lk.Access(e.ctx, tenant, admin, "42")
	require.NoError(t, err)
	assert.Equal(t, resync.StatusDeprovisioned, acc.Person.Status)
	assert.Equal(t, resync.StatusActive, acc.Person.LoginStatus)
	assert.Contains(t, acc.Person.OffboardedWhy, "HRIS")
	assert.Equal(t, linking.OffboardingGap, e.link("aws", "iam-jane").Situation)
	gaps := e.findings(linking.FindingQuery{Kind: linking.FindingOffboardingGap})
	require.Len(t, gaps, 1, "the gap stayed open across the change of reason: one finding")
	assert.True(t, gaps[0].Open())
}

// A rehire: the old HRIS record terminated, a new one active, joined by
// employee ID: not offboarded. Past the end date of the current record:
// offboarded.
func TestRehireAndEndDate(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, linking.Config{}, hris, aws)
	e.set("bamboo",
		&resync.Identity{Key: "b1", EmployeeID: "7", Email: "sam@acme.example", Status: resync.StatusDeprovisioned,
			StartDate: t0.AddDate(-3, 0, 0), EndDate: t0.AddDate(-1, 0, 0)},
		&resync.Identity{Key: "b9", EmployeeID: "7", Email: "sam@acme.example", Status: resync.StatusActive,
			StartDate: t0.AddDate(0, -1, 0), EndDate: t0.AddDate(0, 0, 2)})
	e.set("aws", acct("iam-sam", func(a *resync.Account) { a.EmployeeID = "7" }))
	e.sync()
	k := e.link("aws", "iam-sam")
	assert.Equal(t, linking.Linked, k.Situation)
	assert.Equal(t, "bamboo:b1", k.PersonID)
	assert.Empty(t, e.findings(linking.FindingQuery{}))

	// Two days later the last day is over; the end date alone opens the gap.
	e.clock.Advance(3 * 24 * time.Hour)
	res, err := e.lk.Correlate(e.ctx, tenant, admin, "")
	require.NoError(t, err)
	assert.Equal(t, 1, res.Opened)
	assert.Equal(t, linking.OffboardingGap, e.link("aws", "iam-sam").Situation)
	acc, err := e.lk.Access(e.ctx, tenant, admin, "bamboo:b9")
	require.NoError(t, err)
	assert.Contains(t, acc.Person.OffboardedWhy, "end date")
}

// A renamed email with the same IdP ID: the account linked by the IdP's
// ID stays with the same person.
func TestRenamedEmail(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, linking.Config{}, okta, aws)
	e.set("okta", active("00u1", "jane.smith@acme.example"))
	e.set("aws",
		acct("iam-1", func(a *resync.Account) { a.ExternalID = "00u1" }),
		acct("iam-2", func(a *resync.Account) { a.OwnerEmail = "jane.smith@acme.example" }))
	e.sync()
	assert.Equal(t, "okta:00u1", e.link("aws", "iam-1").PersonID)
	assert.Equal(t, "okta:00u1", e.link("aws", "iam-2").PersonID)

	e.set("okta", active("00u1", "jane.jones@acme.example"))
	e.sync()
	assert.Equal(t, linking.Linked, e.link("aws", "iam-1").Situation)
	assert.Equal(t, "okta:00u1", e.link("aws", "iam-1").PersonID)
	// The account known only by the old email is now nobody's: surfaced.
	assert.Equal(t, linking.Unlinked, e.link("aws", "iam-2").Situation)
	acc, err := e.lk.Access(e.ctx, tenant, admin, "jane.jones@acme.example")
	require.NoError(t, err)
	require.Len(t, acc.Accounts, 1)
	assert.Equal(t, "iam-1", acc.Accounts[0].Link.AccountKey)
}

// The offboarding scene: Jane deprovisioned in the IdP while still active
// in AWS opens a gap in that run; the AWS resync that sees her account
// gone closes it. One query answers when each happened.
func TestOffboardingGapOpensAndCloses(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, linking.Config{}, okta, aws)
	jane := active("00u1", "jane@acme.example")
	e.set("okta", jane, active("00u2", "bob@acme.example"))
	e.set("aws",
		acct("iam-jane", func(a *resync.Account) { a.OwnerEmail = "jane@acme.example" }),
		acct("iam-bob", func(a *resync.Account) { a.OwnerEmail = "bob@acme.example" }))
	e.sync()
	require.Empty(t, e.findings(linking.FindingQuery{}))

	e.clock.Advance(time.Hour)
	e.set("okta", &resync.Identity{Key: "00u1", Email: "jane@acme.example", Status: resync.StatusDeprovisioned},
		active("00u2", "bob@acme.example"))
	opened := e.sync()
	openedAt := e.clock.Now()
	assert.Equal(t, linking.OffboardingGap, e.link("aws", "iam-jane").Situation)
	assert.Equal(t, linking.Linked, e.link("aws", "iam-bob").Situation)
	require.Len(t, e.findings(linking.FindingQuery{OpenedRun: opened, Kind: linking.FindingOffboardingGap}), 1)

	// A resync that changes nothing confirms it.
	e.clock.Advance(time.Hour)
	confirmed := e.sync()
	gaps := e.findings(linking.FindingQuery{Kind: linking.FindingOffboardingGap})
	require.Len(t, gaps, 1)
	assert.Equal(t, confirmed, gaps[0].ConfirmedRun)

	e.clock.Advance(time.Hour)
	e.set("aws", acct("iam-bob", func(a *resync.Account) { a.OwnerEmail = "bob@acme.example" }))
	run, err := e.eng.ResyncAccounts(e.ctx, tenant, admin, resync.Infrastructure)
	require.NoError(t, err)
	_, err = run.Wait(e.ctx)
	require.NoError(t, err)
	closedAt := e.clock.Now()

	gaps = e.findings(linking.FindingQuery{Kind: linking.FindingOffboardingGap, PersonID: "okta:00u1", ConnectionID: "aws"})
	require.Len(t, gaps, 1)
	g := gaps[0]
	assert.Equal(t, "iam-jane", g.AccountKey)
	assert.Equal(t, opened, g.OpenedRun)
	assert.Equal(t, openedAt, g.OpenedAt)
	assert.Equal(t, run.ID(), g.ClosedRun)
	assert.Equal(t, closedAt, g.ClosedAt)
	assert.Contains(t, g.Detail, "identity provider")
	// By time: opened or closed within a window.
	assert.Len(t, e.findings(linking.FindingQuery{Since: closedAt, Until: closedAt.Add(time.Second)}), 1)
	assert.Empty(t, e.findings(linking.FindingQuery{Since: closedAt.Add(time.Second)}))
	// OnFinding heard it open and close.
	require.Len(t, e.seen, 2)
	assert.True(t, e.seen[0].Open())
	assert.False(t, e.seen[1].Open())
	// Access no longer lists the account.
	acc, err := e.lk.Access(e.ctx, tenant, admin, "jane@acme.example")
	require.NoError(t, err)
	assert.Empty(t, acc.Accounts)
}

// Admins' decisions override the rules, survive resyncs, are audited and
// are undone only by an admin's clear.
func TestDecisions(t *testing.T) {
	t.Parallel()
	grants := resynctest.Grants{tenant: {
		"u1":     {resync.ActionLinkAccounts, resync.ActionViewRecords, resync.ActionResyncAll},
		"viewer": {resync.ActionViewRecords},
	}}
	e := newEnv(t, nil, linking.Config{Authorizer: grants}, okta, aws)
	e.set("okta", active("00u1", "jane@acme.example"), active("00u2", "bob@acme.example"))
	e.set("aws",
		acct("deploy-bot", func(a *resync.Account) { a.Username = "deploy" }),
		acct("shared", func(a *resync.Account) { a.Username = "shared-admin" }),
		acct("iam-bob", func(a *resync.Account) { a.OwnerEmail = "bob@acme.example" }),
		acct("typed-bot", func(a *resync.Account) { a.Type = resync.AccountTypeService; a.MFA = resync.MFADisabled }))
	e.sync()
	assert.Equal(t, linking.Unlinked, e.link("aws", "deploy-bot").Situation)
	assert.Equal(t, linking.ServiceAccount, e.link("aws", "typed-bot").Situation)
	require.Len(t, e.findings(linking.FindingQuery{OpenOnly: true}), 2, "two orphans; a typed service account is neither orphan nor without MFA")

	viewer := resync.Principal{ID: "viewer"}
	_, err := e.lk.Decide(e.ctx, tenant, viewer, linking.Decision{ConnectionID: "aws", AccountKey: "shared", Kind: linking.DecideLink, Person: "okta:00u1", Reason: "x"})
	require.ErrorIs(t, err, resync.ErrForbidden)
	for _, bad := range []linking.Decision{
		{ConnectionID: "aws", AccountKey: "shared", Kind: linking.DecideLink, Reason: "no person"},
		{ConnectionID: "aws", AccountKey: "shared", Kind: linking.DecideLink, Person: "okta:00u1"},
		{ConnectionID: "aws", AccountKey: "shared", Kind: "adopt", Reason: "x"},
		{ConnectionID: "okta", AccountKey: "00u1", Kind: linking.DecideUnlink, Reason: "an identity"},
	} {
		_, err := e.lk.Decide(e.ctx, tenant, admin, bad)
		assert.ErrorIs(t, err, resync.ErrInvalidRequest, "%+v", bad)
	}
	_, err = e.lk.Decide(e.ctx, tenant, admin, linking.Decision{ConnectionID: "aws", AccountKey: "shared", Kind: linking.DecideLink, Person: "okta:404", Reason: "x"})
	assert.ErrorIs(t, err, resync.ErrNotFound)
	_, err = e.lk.Decide(e.ctx, tenant, resync.SystemPrincipal, linking.Decision{ConnectionID: "aws", AccountKey: "shared", Kind: linking.DecideUnlink, Reason: "x"})
	assert.Error(t, err)

	decide := func(key string, kind linking.DecisionKind, person, why string) {
		t.Helper()
		_, err := e.lk.Decide(e.ctx, tenant, admin, linking.Decision{ConnectionID: "aws", AccountKey: key, Kind: kind, Person: person, Reason: why})
		require.NoError(t, err)
	}
	decide("shared", linking.DecideLink, "okta:00u1", "Jane owns the shared admin login (ticket 12)")
	decide("deploy-bot", linking.DecideService, "", "CI deploys")
	decide("iam-bob", linking.DecideUnlink, "", "Bob's account was handed to a contractor")
	// At once, without a resync.
	assert.Equal(t, linking.Linked, e.link("aws", "shared").Situation)
	assert.Equal(t, "okta:00u1", e.link("aws", "shared").PersonID)
	assert.Equal(t, linking.RuleManual, e.link("aws", "shared").Rule)

	// Jane leaves: the account she was linked to by hand is a gap; the
	// service account is not, nor an orphan.
	e.set("okta", &resync.Identity{Key: "00u1", Email: "jane@acme.example", Status: resync.StatusDeprovisioned}, active("00u2", "bob@acme.example"))
	e.sync()
	e.sync()
	assert.Equal(t, linking.OffboardingGap, e.link("aws", "shared").Situation)
	assert.Equal(t, linking.ServiceAccount, e.link("aws", "deploy-bot").Situation)
	assert.Equal(t, linking.Unlinked, e.link("aws", "iam-bob").Situation)
	open := e.findings(linking.FindingQuery{OpenOnly: true})
	kinds := map[string]linking.FindingKind{}
	for _, f := range open {
		kinds[f.AccountKey] = f.Kind
	}
	assert.Equal(t, map[string]linking.FindingKind{"shared": linking.FindingOffboardingGap, "iam-bob": linking.FindingOrphaned}, kinds)

	// The audit: who, when, why; then undone.
	decide("iam-bob", linking.DecideClear, "", "the contractor left; back to the rules")
	assert.Equal(t, linking.Linked, e.link("aws", "iam-bob").Situation)
	ds, err := e.lk.Decisions(e.ctx, tenant, viewer, linking.DecisionQuery{AccountKey: "iam-bob"})
	require.NoError(t, err)
	require.Len(t, ds, 2)
	assert.Equal(t, linking.DecideUnlink, ds[0].Kind)
	assert.Equal(t, admin, ds[0].By)
	assert.Equal(t, e.clock.Now(), ds[1].At)
	assert.Equal(t, "Bob's account was handed to a contractor", ds[0].Reason)
	cur, err := e.lk.Decisions(e.ctx, tenant, viewer, linking.DecisionQuery{Current: true})
	require.NoError(t, err)
	assert.Len(t, cur, 2, "shared and deploy-bot; iam-bob's was cleared")
	_, err = e.lk.Decisions(e.ctx, tenant, resync.Principal{ID: "stranger"}, linking.DecisionQuery{})
	assert.ErrorIs(t, err, resync.ErrForbidden)
}

// Accounts without MFA, and unused for UnusedAfter where the provider
// reports last use; a service account the host marks has neither MFA
// finding nor gap.
func TestMFAAndUnused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, linking.Config{
		UnusedAfter:    30 * 24 * time.Hour,
		ServiceAccount: func(c resync.Connection, a *resync.Account) bool { return strings.HasPrefix(a.Username, "svc-") },
	}, okta, aws)
	e.set("okta", active("00u1", "jane@acme.example"))
	e.set("aws",
		acct("a1", func(a *resync.Account) { a.OwnerEmail = "jane@acme.example"; a.MFA = resync.MFADisabled }),
		acct("a2", func(a *resync.Account) {
			a.OwnerEmail = "jane@acme.example"
			a.LastLogin = t0.AddDate(0, 0, -40)
			a.LastUsed = map[string]time.Time{"AKIA1": t0.AddDate(0, 0, -10)}
		}),
		acct("a3", func(a *resync.Account) { a.OwnerEmail = "jane@acme.example"; a.LastLogin = t0.AddDate(0, 0, -31) }),
		acct("svc", func(a *resync.Account) { a.Username = "svc-ci"; a.MFA = resync.MFADisabled }),
		acct("off", func(a *resync.Account) {
			a.OwnerEmail = "jane@acme.example"
			a.MFA = resync.MFADisabled
			a.Status = resync.StatusSuspended
		}))
	e.sync()
	got := map[string]linking.FindingKind{}
	for _, f := range e.findings(linking.FindingQuery{OpenOnly: true}) {
		got[f.AccountKey] = f.Kind
	}
	assert.Equal(t, map[string]linking.FindingKind{"a1": linking.FindingNoMFA, "a3": linking.FindingUnused}, got)
	assert.Equal(t, linking.ServiceAccount, e.link("aws", "svc").Situation)
	assert.False(t, e.link("aws", "off").Active)
}

// The CSV export lists every account with its person and situation.
func TestWriteCSV(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, linking.Config{}, okta, aws)
	e.set("okta", &resync.Identity{Key: "00u1", Email: "jane@acme.example", Name: "Jane, \"JD\" Doe", Status: resync.StatusActive})
	e.set("aws", acct("iam-1", func(a *resync.Account) { a.OwnerEmail = "jane@acme.example"; a.Username = "jane" }),
		acct("iam-2", nil))
	e.sync()
	var buf bytes.Buffer
	require.NoError(t, e.lk.WriteCSV(e.ctx, tenant, admin, &buf))
	rows, err := csv.NewReader(&buf).ReadAll()
	require.NoError(t, err)
	require.Len(t, rows, 3)
	assert.Equal(t, "connection_id", rows[0][0])
	assert.Equal(t, []string{"aws", "infrastructure", "aws", "AWS prod", "iam-1", "jane", "jane@acme.example", "active",
		"linked", "email", "okta:00u1", "Jane, \"JD\" Doe", "jane@acme.example", "2026-12-01T09:00:00Z"}, rows[1])
	assert.Equal(t, "unlinked", rows[2][8])
	err = e.lk.WriteCSV(e.ctx, tenant, resync.Principal{ID: "x"}, &buf)
	assert.NoError(t, err, "AllowAll")
}

func TestNewNeedsLinkStore(t *testing.T) {
	t.Parallel()
	_, err := linking.New(linking.Config{Store: struct{ resync.Store }{memstore.New()}, Connections: resynctest.NewSource(), Authorizer: resynctest.AllowAll})
	require.ErrorIs(t, err, resync.ErrInvalidRequest)
	assert.Contains(t, err.Error(), "storage.LinkStore")
	_, err = linking.New(linking.Config{})
	assert.True(t, errors.Is(err, resync.ErrInvalidRequest))
}

// A run that changed accounts only correlates those, against the cached
// people; one that changed the IdP correlates the whole tenant.
func TestIncremental(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, linking.Config{}, okta, aws)
	var recs []resync.Record
	for i := range 50 {
		recs = append(recs, acct(fmt.Sprintf("a%d", i), func(a *resync.Account) { a.OwnerEmail = fmt.Sprintf("p%d@acme.example", i) }))
	}
	e.set("okta", active("00u1", "p1@acme.example"), active("00u2", "p2@acme.example"))
	e.set("aws", recs...)
	e.sync()
	recs[7] = acct("a7", func(a *resync.Account) { a.OwnerEmail = "p2@acme.example" })
	recs = slices.Delete(recs, 9, 10)
	e.set("aws", recs...)
	run, err := e.eng.ResyncAccounts(e.ctx, tenant, admin, resync.Infrastructure)
	require.NoError(t, err)
	info, err := run.Wait(e.ctx)
	require.NoError(t, err)
	assert.Equal(t, "okta:00u2", e.link("aws", "a7").PersonID)
	_, _, err = e.lk.Links(e.ctx, tenant, admin, linking.LinkQuery{})
	require.NoError(t, err)
	// Correlating the run again shows the work: one account evaluated,
	// and the stored link of it read (the removed a9's is gone), not the
	// connection's 49.
	res, err := e.lk.CorrelateRun(e.ctx, info)
	require.NoError(t, err)
	assert.Equal(t, linking.Result{Accounts: 1, People: 2, LinksRead: 1}, res)
	orphans := e.findings(linking.FindingQuery{Kind: linking.FindingOrphaned})
	closed := 0
	for _, f := range orphans {
		if !f.Open() {
			closed++
			assert.Contains(t, []string{"a7", "a9"}, f.AccountKey)
			assert.Equal(t, info.ID, f.ClosedRun)
		}
	}
	assert.Equal(t, 2, closed, "a7 now linked, a9 gone")

	e.set("okta", active("00u1", "p1@acme.example"), active("00u2", "p2@acme.example"), active("00u3", "p3@acme.example"))
	info2 := e.syncInfo()
	res, err = e.lk.CorrelateRun(e.ctx, info2)
	require.NoError(t, err)
	assert.True(t, res.Rebuilt)
	assert.Equal(t, 49, res.Accounts, "the whole tenant, as stored")
	assert.Equal(t, "okta:00u3", e.link("aws", "a3").PersonID)
}

// Links of a connection the source no longer lists go, with their
// findings, at the next full correlation.
func TestConnectionGone(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, linking.Config{}, okta, aws, gh)
	e.set("okta", active("00u1", "jane@acme.example"))
	e.set("aws", acct("x", nil))
	e.set("gh", acct("y", nil))
	e.sync()
	require.Len(t, e.findings(linking.FindingQuery{OpenOnly: true}), 2)
	e.src.Remove(tenant)
	for _, c := range []resync.Connection{okta, aws} {
		c.Tenant = tenant
		e.src.Add(c)
	}
	res, err := e.lk.Correlate(e.ctx, tenant, admin, "")
	require.NoError(t, err)
	assert.Equal(t, 1, res.Closed)
	links, _, err := e.lk.Links(e.ctx, tenant, admin, linking.LinkQuery{})
	require.NoError(t, err)
	require.Len(t, links, 1)
	assert.Equal(t, "aws", links[0].ConnectionID)
}

// An approved held change set is correlated like a read's: the gap it
// removes closes.
func TestApprovedHeldCorrelates(t *testing.T) {
	t.Parallel()
	e := newEnvGuard(t, nil, linking.Config{}, resync.DeleteGuard{}, okta, aws)
	e.set("okta", &resync.Identity{Key: "00u1", Email: "jane@acme.example", Status: resync.StatusDeprovisioned})
	e.set("aws", acct("iam-jane", func(a *resync.Account) { a.OwnerEmail = "jane@acme.example" }))
	e.sync()
	require.Len(t, e.findings(linking.FindingQuery{OpenOnly: true, Kind: linking.FindingOffboardingGap}), 1)
	e.set("aws")
	run, err := e.eng.ResyncAccounts(e.ctx, tenant, admin, resync.Infrastructure)
	require.NoError(t, err)
	info, err := run.Wait(e.ctx)
	require.NoError(t, err)
	require.Equal(t, resync.ConnHeld, info.Connections[0].Status)
	require.Len(t, e.findings(linking.FindingQuery{OpenOnly: true}), 1, "held: nothing applied, the gap stays")
	_, err = e.eng.Approve(e.ctx, tenant, info.Connections[0].HeldID, admin, "Jane's user was deleted")
	require.NoError(t, err)
	assert.Empty(t, e.findings(linking.FindingQuery{OpenOnly: true}))
}

// gapNotifier counts, when a run's completion is notified, the
// offboarding gaps the run opened: correlation ends before the notice.
type gapNotifier struct {
	lk   *linking.Linker
	mu   sync.Mutex
	gaps map[string]int // run ID -> gaps it opened
	// counted is the run's Findings as the notice carries them.
	counted map[string]map[string]int
	done    chan struct{}
}

func (n *gapNotifier) Notify(ctx context.Context, msg resync.Notification) error {
	if msg.Kind != resync.NotifyRunCompleted || msg.Channel != resync.ChannelEmail {
		return nil
	}
	fs, err := n.lk.Findings(ctx, msg.Tenant, admin, linking.FindingQuery{OpenedRun: msg.Run.ID, Kind: linking.FindingOffboardingGap})
	if err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.gaps[msg.Run.ID] = len(fs)
	n.counted[msg.Run.ID] = msg.Run.Findings
	select {
	case n.done <- struct{}{}:
	default:
	}
	return nil
}

// A run's completion notice can say how many offboarding gaps it opened.
func TestCompletionNoticeCountsNewGaps(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	src := resynctest.NewSource()
	for _, c := range []resync.Connection{okta, aws} {
		c.Tenant = tenant
		src.Add(c)
	}
	fakes := resynctest.NewFakes()
	idp := resynctest.NewConnector([]resync.Record{
		&resync.Identity{Key: "00u1", Email: "jane@acme.example", Status: resync.StatusDeprovisioned},
		&resync.Identity{Key: "00u2", Email: "joe@acme.example", Status: resync.StatusDeprovisioned},
	}, 0)
	fakes.Set(tenant, "okta", idp)
	fakes.Set(tenant, "aws", resynctest.NewConnector([]resync.Record{
		acct("1", func(a *resync.Account) { a.OwnerEmail = "jane@acme.example" }),
		acct("2", func(a *resync.Account) { a.OwnerEmail = "joe@acme.example" }),
	}, 0))
	store := memstore.New()
	admins := resynctest.Admins{tenant: {admin}}
	lk, err := linking.New(linking.Config{Store: store, Connections: src, Authorizer: admins})
	require.NoError(t, err)
	n := &gapNotifier{lk: lk, gaps: map[string]int{}, counted: map[string]map[string]int{}, done: make(chan struct{}, 1)}
	eng, err := resync.New(ctx, resync.Config{Store: store, Connections: src, Connectors: fakes.Factories("okta", "aws"),
		Authorizer: admins, Directory: admins, Notifier: n, AfterRun: lk.AfterRun, MinReadInterval: -1})
	require.NoError(t, err)
	run, err := eng.ResyncPersonnel(ctx, tenant, admin)
	require.NoError(t, err)
	_, err = run.Wait(ctx)
	require.NoError(t, err)
	select { // the email is delivered after the run ends
	case <-n.done:
	case <-ctx.Done():
		t.Fatal("no completion email")
	}
	require.NoError(t, eng.Close(ctx))
	n.mu.Lock()
	defer n.mu.Unlock()
	assert.Equal(t, map[string]int{run.ID(): 2}, n.gaps)
	// The Linker's AfterRun counted them on the run: in the notice, on
	// the run and in the stored run.
	assert.Equal(t, map[string]map[string]int{run.ID(): {"offboarding_gap": 2}}, n.counted)
	assert.Equal(t, map[string]int{"offboarding_gap": 2}, run.Info().Findings)
	stored, err := store.GetRun(ctx, tenant, run.ID())
	require.NoError(t, err)
	assert.Equal(t, map[string]int{"offboarding_gap": 2}, stored.Findings)
}

// Findings counts each kind the run opened, and a run that opens nothing
// counts nothing.
func TestRunFindingsByKind(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, linking.Config{}, okta, aws)
	e.set("okta",
		&resync.Identity{Key: "00u1", Email: "jane@acme.example", Status: resync.StatusDeprovisioned},
		&resync.Identity{Key: "00u2", Email: "joe@acme.example", Status: resync.StatusActive})
	e.set("aws",
		acct("jane", func(a *resync.Account) { a.OwnerEmail = "jane@acme.example"; a.MFA = resync.MFADisabled }),
		acct("joe", func(a *resync.Account) { a.OwnerEmail = "joe@acme.example" }),
		acct("nobody", func(a *resync.Account) { a.OwnerEmail = "ghost@acme.example" }))
	info := e.syncInfo()
	assert.Equal(t, map[string]int{"offboarding_gap": 1, "no_mfa": 1, "orphaned": 1}, info.Findings)
	stored, err := e.store.GetRun(e.ctx, tenant, info.ID)
	require.NoError(t, err)
	assert.Equal(t, info.Findings, stored.Findings)
	// The same state again: the findings are confirmed, none opened.
	info = e.syncInfo()
	assert.Nil(t, info.Findings)
}

// An approved held change set that opens gaps adds them to the run that
// held it, as stored.
func TestApprovedHeldCountsFindings(t *testing.T) {
	t.Parallel()
	e := newEnvGuard(t, nil, linking.Config{}, resync.DeleteGuard{}, okta, aws)
	e.set("okta", &resync.Identity{Key: "00u1", Email: "jane@acme.example", Status: resync.StatusActive})
	e.set("aws", acct("iam-jane", func(a *resync.Account) { a.OwnerEmail = "jane@acme.example" }))
	require.Nil(t, e.syncInfo().Findings)
	e.set("okta") // Jane's IdP user deleted: an empty read is held
	run, err := e.eng.ResyncPersonnel(e.ctx, tenant, admin)
	require.NoError(t, err)
	info, err := run.Wait(e.ctx)
	require.NoError(t, err)
	i := slices.IndexFunc(info.Connections, func(c resync.ConnectionResult) bool { return c.ConnectionID == "okta" })
	require.Equal(t, resync.ConnHeld, info.Connections[i].Status)
	require.Nil(t, info.Findings)
	_, err = e.eng.Approve(e.ctx, tenant, info.Connections[i].HeldID, admin, "Jane left")
	require.NoError(t, err)
	require.Len(t, e.findings(linking.FindingQuery{OpenOnly: true, Kind: linking.FindingOffboardingGap, OpenedRun: info.ID}), 1)
	stored, err := e.store.GetRun(e.ctx, tenant, info.ID)
	require.NoError(t, err)
	assert.Equal(t, map[string]int{"offboarding_gap": 1}, stored.Findings)
}

// Erasing a person (Engine.Erase) removes what the links, findings and
// decisions hold about them, keeping who decided and when; the Linker
// forgets the person at once, and the next resync correlates the
// accounts that were linked to them. Prune then deletes the findings
// closed before the retention.
func TestEraseAndPrune(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, linking.Config{}, okta, aws)
	e.set("okta",
		&resync.Identity{Key: "00u1", Email: "jane@acme.example", Name: "Jane Doe", Status: resync.StatusDeprovisioned},
		&resync.Identity{Key: "00u2", Email: "kim@acme.example", Status: resync.StatusActive})
	e.set("aws",
		acct("iam-jane", func(a *resync.Account) { a.OwnerEmail = "jane@acme.example" }),
		acct("iam-jadmin", func(a *resync.Account) { a.OwnerEmail = "ops@acme.example" }),
		acct("iam-kim", func(a *resync.Account) { a.OwnerEmail = "kim@acme.example" }))
	e.sync()
	_, err := e.lk.Decide(e.ctx, tenant, admin, linking.Decision{ConnectionID: "aws", AccountKey: "iam-jadmin",
		Kind: linking.DecideLink, Person: "jane@acme.example", Reason: "Jane Doe's admin user"})
	require.Error(t, err, "a decision names a person by ID or identity reference, not by email")
	d, err := e.lk.Decide(e.ctx, tenant, admin, linking.Decision{ConnectionID: "aws", AccountKey: "iam-jadmin",
		Kind: linking.DecideLink, Person: linking.IdentityRef("okta", "00u1"), Reason: "Jane Doe's admin user"})
	require.NoError(t, err)
	require.Equal(t, linking.OffboardingGap, e.link("aws", "iam-jadmin").Situation)
	require.Len(t, e.findings(linking.FindingQuery{OpenOnly: true, Kind: linking.FindingOffboardingGap}), 2)
	_, err = e.lk.Access(e.ctx, tenant, admin, "jane@acme.example")
	require.NoError(t, err, "the Linker has Jane's person cached")

	e.set("okta", &resync.Identity{Key: "00u2", Email: "kim@acme.example", Status: resync.StatusActive})
	e.set("aws", // erased at the provider first
		acct("iam-jadmin", func(a *resync.Account) { a.OwnerEmail = "ops@acme.example" }),
		acct("iam-kim", func(a *resync.Account) { a.OwnerEmail = "kim@acme.example" }))
	erased, err := e.eng.Erase(e.ctx, tenant, admin, "jane@acme.example")
	require.NoError(t, err)
	require.Len(t, erased, 2, "Jane's identity and her IAM user")
	eraseID := erased[0].RunID

	// Links: hers and the one linked to her are gone.
	links, _, err := e.lk.Links(e.ctx, tenant, admin, linking.LinkQuery{})
	require.NoError(t, err)
	require.Len(t, links, 1)
	assert.Equal(t, "iam-kim", links[0].AccountKey)
	// Findings: kept, redacted, closed by the erasure.
	fs := e.findings(linking.FindingQuery{Kind: linking.FindingOffboardingGap})
	require.Len(t, fs, 2)
	for _, f := range fs {
		assert.Empty(t, f.PersonID)
		assert.Empty(t, f.Detail)
		assert.False(t, f.Open())
		assert.Equal(t, eraseID, f.ClosedRun)
		assert.Equal(t, t0, f.OpenedAt, "when it was learned stays")
	}
	assert.ElementsMatch(t, []string{storage.Redacted, "iam-jadmin"}, []string{fs[0].AccountKey, fs[1].AccountKey})
	// Decisions: who and when stay; the person and reason go.
	ds, err := e.lk.Decisions(e.ctx, tenant, admin, linking.DecisionQuery{})
	require.NoError(t, err)
	require.Len(t, ds, 1)
	assert.Equal(t, linking.Decision{Seq: d.Seq, Tenant: tenant, ConnectionID: "aws", AccountKey: "iam-jadmin", Kind: linking.DecideLink,
		By: admin, At: d.At, Reason: storage.Redacted}, ds[0])
	// The Linker no longer knows her, nor does its export.
	_, err = e.lk.Access(e.ctx, tenant, admin, "jane@acme.example")
	require.ErrorIs(t, err, resync.ErrNotFound)
	var export bytes.Buffer
	require.NoError(t, e.lk.WriteCSV(e.ctx, tenant, admin, &export))
	assert.NotContains(t, export.String(), "jane")
	assert.NotContains(t, export.String(), "Jane")

	// The next resync changes nothing in the IdP (Jane is already gone from
	// the store) yet correlates the account linked to her: the admin's
	// link names no one now, so it belongs to nobody.
	e.clock.Advance(time.Hour)
	info := e.syncInfo()
	k := e.link("aws", "iam-jadmin")
	assert.Equal(t, linking.Unlinked, k.Situation)
	assert.Equal(t, linking.RuleManual, k.Rule)
	assert.Equal(t, map[string]int{"orphaned": 1}, info.Findings)

	// Retention: the findings closed by the erasure go once they are older
	// than it; the open orphan finding stays.
	e.clock.Advance(retention)
	require.NoError(t, e.eng.Prune(e.ctx, tenant, admin))
	fs = e.findings(linking.FindingQuery{})
	require.Len(t, fs, 1)
	assert.Equal(t, linking.FindingOrphaned, fs[0].Kind)
	assert.True(t, fs[0].Open())
}

func TestRedactedIsStorageRedacted(t *testing.T) {
	// linking finds erasures by the key storage.Redacted.
	assert.Equal(t, storage.Redacted, linking.RedactedForTest)
}

// A connection's changes are written a bounded number at a time: with
// one link or finding per write, two resyncs (the first opening findings,
// the second removing, changing and confirming accounts) leave the same
// links and findings, and report the same findings, as with one write
// per connection.
func TestCorrelationWritesInChunks(t *testing.T) {
	scene := func(chunk int) ([]linking.Link, []linking.Finding, []linking.Finding) {
		defer linking.SetWriteChunk(chunk)()
		e := newEnv(t, nil, linking.Config{},
			resync.Connection{ID: "okta", Type: resync.IdP, Provider: "okta"},
			resync.Connection{ID: "aws", Type: resync.Infrastructure, Provider: "aws"})
		var people []resync.Record
		for i := range 6 {
			st := resync.StatusActive
			if i%3 == 0 {
				st = resync.StatusDeprovisioned
			}
			people = append(people, &resync.Identity{Key: fmt.Sprintf("00u%d", i), Email: fmt.Sprintf("p%d@acme.example", i), Status: st})
		}
		e.set("okta", people...)
		accounts := func(n int, mfa resync.MFAState) []resync.Record {
			var out []resync.Record
			for i := range n {
				out = append(out, &resync.Account{Key: fmt.Sprintf("a%d", i), OwnerEmail: fmt.Sprintf("p%d@acme.example", i),
					Status: resync.StatusActive, MFA: mfa})
			}
			return out
		}
		e.set("aws", accounts(9, resync.MFADisabled)...) // three orphans, two gaps, nine without MFA
		run1 := e.sync()
		e.set("aws", accounts(5, resync.MFAEnabled)...) // four removed, MFA turned on
		run2 := e.sync()
		// Run IDs are random: name them by their order.
		name := strings.NewReplacer(run1, "run1", run2, "run2").Replace
		links, _, err := e.lk.Links(e.ctx, tenant, admin, linking.LinkQuery{Limit: 1000})
		require.NoError(t, err)
		for i := range links {
			links[i].RunID = name(links[i].RunID)
		}
		fs, err := e.lk.Findings(e.ctx, tenant, admin, linking.FindingQuery{Limit: 1000})
		require.NoError(t, err)
		for _, l := range [][]linking.Finding{fs, e.seen} {
			for i := range l {
				l[i].OpenedRun, l[i].ConfirmedRun, l[i].ClosedRun = name(l[i].OpenedRun), name(l[i].ConfirmedRun), name(l[i].ClosedRun)
			}
		}
		return links, fs, e.seen
	}
	links, fs, seen := scene(1)
	wantLinks, wantFs, wantSeen := scene(10000)
	require.Len(t, wantLinks, 5)
	require.Len(t, wantFs, 14)
	require.Len(t, wantSeen, 14+12) // each opened, then all closed but the two gaps
	assert.Equal(t, wantLinks, links)
	assert.Equal(t, wantFs, fs)
	assert.ElementsMatch(t, wantSeen, seen)
}

// flakyLinks is a memstore whose WriteLinks fails once armed, after ok
// more writes.
type flakyLinks struct {
	*memstore.Store
	mu    sync.Mutex
	armed bool
	ok    int
}

func (s *flakyLinks) WriteLinks(ctx context.Context, w linking.Write) ([]linking.Finding, error) {
	s.mu.Lock()
	if s.armed {
		if s.ok == 0 {
			s.armed = false
			s.mu.Unlock()
			return nil, errors.New("write failed")
		}
		s.ok--
	}
	s.mu.Unlock()
	return s.Store.WriteLinks(ctx, w)
}

// A correlation that fails part way through a connection is finished by
// the next run, even one that changed nothing.
func TestFailedCorrelationFinishedByNextRun(t *testing.T) {
	defer linking.SetWriteChunk(1)()
	store := &flakyLinks{Store: memstore.New(memstore.Config{})}
	e := newEnv(t, store, linking.Config{}, okta, aws)
	var people, accounts []resync.Record
	for i := range 5 {
		people = append(people, active(fmt.Sprintf("00u%d", i), fmt.Sprintf("p%d@acme.example", i)))
		accounts = append(accounts, acct(fmt.Sprintf("a%d", i), func(a *resync.Account) { a.OwnerEmail = fmt.Sprintf("p%d@acme.example", i) }))
	}
	e.set("okta", people...)
	e.sync()
	store.mu.Lock()
	store.armed, store.ok = true, 2
	store.mu.Unlock()
	e.set("aws", accounts...)
	e.sync() // its correlation stores two links, then fails
	linked := func() int {
		links, _, err := e.lk.Links(e.ctx, tenant, admin, linking.LinkQuery{ConnectionID: "aws"})
		require.NoError(t, err)
		n := 0
		for _, l := range links {
			if l.Situation == linking.Linked {
				n++
			}
		}
		return n
	}
	require.Equal(t, 2, linked(), "the failed correlation stored part of its links")
	e.sync() // nothing changed
	assert.Equal(t, 5, linked(), "the next run stored the rest")
}

// putsLog is a memstore that logs, for each WriteLinks that puts links,
// whether it said they were new.
type putsLog struct {
	*memstore.Store
	mu  sync.Mutex
	log []bool
}

func (s *putsLog) WriteLinks(ctx context.Context, w linking.Write) ([]linking.Finding, error) {
	if len(w.Put) > 0 {
		s.mu.Lock()
		s.log = append(s.log, w.PutNew)
		s.mu.Unlock()
	}
	return s.Store.WriteLinks(ctx, w)
}

// A write says its links are new only when no account in it had a
// stored link: a store may then insert them without looking first.
func TestWriteSaysWhenLinksAreNew(t *testing.T) {
	store := &putsLog{Store: memstore.New(memstore.Config{})}
	e := newEnv(t, store, linking.Config{}, okta, aws)
	e.set("okta", active("00u1", "p1@acme.example"), active("00u2", "p2@acme.example"))
	owned := func(key, email string) *resync.Account {
		return acct(key, func(a *resync.Account) { a.OwnerEmail = email })
	}
	e.set("aws", owned("a1", "p1@acme.example"), owned("a2", "p2@acme.example"))
	e.sync()
	e.set("aws", owned("a1", "p2@acme.example"), owned("a2", "p2@acme.example"), owned("a3", "p1@acme.example"))
	e.sync() // a1 relinked, a3 new: one write with both
	e.set("aws", owned("a1", "p2@acme.example"), owned("a2", "p2@acme.example"), owned("a3", "p1@acme.example"), owned("a4", "p1@acme.example"))
	e.sync() // a4 new
	store.mu.Lock()
	defer store.mu.Unlock()
	assert.Equal(t, []bool{true, false, true}, store.log)
	assert.Equal(t, "okta:00u2", e.link("aws", "a1").PersonID)
}
