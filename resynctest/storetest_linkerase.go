package resynctest

import (
	"fmt"
	"slices"
	"time"

	"github.com/openresync/resync"
	"github.com/openresync/resync/linking"
	"github.com/openresync/resync/storage"
)

// The checks of what an Eraser that is also a LinkStore does to link
// data: Erase removes and redacts what links, findings and decisions hold
// about the erased records, Prune deletes findings closed before the
// retention. A store without both capabilities skips them.

var (
	ruleLinkErase = rule{"Eraser.Erase contract: link data", "package storage"}
	ruleLinkPrune = rule{"Eraser.Prune contract: findings", "package storage"}
)

// linkEraser returns the store as both capabilities, or errSkipCheck.
func linkEraser(e *storeEnv) (storage.LinkStore, storage.Eraser, error) {
	ls, ok1 := e.s.(storage.LinkStore)
	er, ok2 := e.s.(storage.Eraser)
	if !ok1 || !ok2 {
		return nil, nil, errSkipCheck
	}
	return ls, er, nil
}

// linkFixture stores in tenant t: identities alice and bob in connection
// "okta"; accounts alice (Alice's email: erased with her), al-admin (not
// hers by email, linked to her) and bob in "aws"; links, findings and
// decisions about them.
func linkFixture(e *storeEnv, ls storage.LinkStore, t string) (map[string]linking.Finding, []linking.Decision, error) {
	if err := e.apply(newChangeSet(t, "okta", "cs-okta", "run1", 0, opAdd(testIdentity("alice", 1)), opAdd(testIdentity("bob", 1)))); err != nil {
		return nil, nil, err
	}
	if err := e.apply(newChangeSet(t, "aws", "cs-aws", "run1", 0,
		opAdd(testAccount("alice", 1)), opAdd(testAccount("al-admin", 1)), opAdd(testAccount("bob", 1)))); err != nil {
		return nil, nil, err
	}
	at := baseTime
	link := func(key string, s linking.Situation, person string, cands ...string) linking.Link {
		return linking.Link{Tenant: t, ConnectionID: "aws", AccountKey: key, Situation: s, PersonID: person, Candidates: cands,
			Rule: linking.RuleEmail, Active: true, UpdatedAt: at, RunID: "run1"}
	}
	fnd := func(kind linking.FindingKind, key, person, detail string) linking.Finding {
		return linking.Finding{Tenant: t, Kind: kind, ConnectionID: "aws", AccountKey: key, PersonID: person, Detail: detail,
			OpenedAt: at, OpenedRun: "run1", ConfirmedAt: at, ConfirmedRun: "run1"}
	}
	opened, err := ls.WriteLinks(e.ctx, linking.Write{Tenant: t, RunID: "run1", At: at,
		Put: []linking.Link{
			link("alice", linking.Linked, "okta:alice"), link("al-admin", linking.OffboardingGap, "okta:alice"),
			link("bob", linking.Linked, "okta:bob"), link("twin", linking.Ambiguous, "", "okta:alice", "okta:bob"),
		},
		Open: []linking.Finding{
			fnd(linking.FindingOrphaned, "alice", "", "no person matches"),
			fnd(linking.FindingNoMFA, "alice", "okta:alice", "MFA disabled"),
			fnd(linking.FindingOffboardingGap, "al-admin", "okta:alice", "okta:alice deprovisioned at okta"),
			fnd(linking.FindingOffboardingGap, "bob", "okta:bob", "okta:bob deprovisioned at okta"),
		}})
	if err != nil {
		return nil, nil, ruleLinks.errorf("WriteLinks: %v", err)
	}
	if len(opened) != 4 {
		return nil, nil, ruleLinks.errorf("WriteLinks opened %d findings, want 4", len(opened))
	}
	// The orphan finding closed in a later run: closed before the erasure.
	if _, err := ls.WriteLinks(e.ctx, linking.Write{Tenant: t, RunID: "run2", At: at.Add(time.Hour), Close: []int64{opened[0].Seq}}); err != nil {
		return nil, nil, ruleLinks.errorf("WriteLinks: %v", err)
	}
	fs := map[string]linking.Finding{}
	for i, name := range []string{"alice-orphan", "alice-mfa", "al-admin-gap", "bob-gap"} {
		fs[name] = opened[i]
	}
	orphan := fs["alice-orphan"]
	orphan.ClosedAt, orphan.ClosedRun = at.Add(time.Hour), "run2"
	fs["alice-orphan"] = orphan
	var ds []linking.Decision
	for _, d := range []linking.Decision{
		{Tenant: t, ConnectionID: "aws", AccountKey: "alice", Kind: linking.DecideLink, Person: "okta:alice", Reason: "Alice's IAM user"},
		{Tenant: t, ConnectionID: "aws", AccountKey: "al-admin", Kind: linking.DecideLink, Person: "okta:alice", Reason: "Alice's admin user"},
		{Tenant: t, ConnectionID: "aws", AccountKey: "bob", Kind: linking.DecideService, Person: "okta:bob", Reason: "Bob's build bot"},
	} {
		d.By, d.At = resync.Principal{ID: "u1", Email: "ada@example.com"}, at
		seq, err := ls.AddLinkDecision(e.ctx, d)
		if err != nil {
			return nil, nil, ruleLinks.errorf("AddLinkDecision: %v", err)
		}
		d.Seq = seq
		ds = append(ds, d)
	}
	return fs, ds, nil
}

func findingDiff(got, want linking.Finding) string {
	norm := func(f linking.Finding) linking.Finding {
		f.OpenedAt, f.ConfirmedAt, f.ClosedAt = normTime(f.OpenedAt), normTime(f.ConfirmedAt), normTime(f.ClosedAt)
		return f
	}
	if g, w := norm(got), norm(want); g != w {
		return fmt.Sprintf("got %+v, want %+v", g, w)
	}
	return ""
}

func linkDecisionDiff(got, want linking.Decision) string {
	got.At, want.At = normTime(got.At), normTime(want.At)
	if got != want {
		return fmt.Sprintf("got %+v, want %+v", got, want)
	}
	return ""
}

// checkLinkStoreErase: erasing Alice deletes the links of her account,
// of the account linked to her and of the one ambiguous between her and
// Bob; redacts and closes the findings of her account and about her;
// redacts the decisions on her account and naming her, keeping who
// decided and when; and leaves Bob's, and another tenant's, as they were.
func checkLinkStoreErase(e *storeEnv) error {
	ls, er, err := linkEraser(e)
	if err != nil {
		return err
	}
	t, other := e.tenant("a"), e.tenant("b")
	fs, ds, err := linkFixture(e, ls, t)
	if err != nil {
		return err
	}
	ofs, ods, err := linkFixture(e, ls, other)
	if err != nil {
		return err
	}
	if _, err := er.Erase(e.ctx, t, "erase-1", "Ada Admin", personOf("alice@example.com")); err != nil {
		return ruleErase.errorf("Erase: %v", err)
	}

	links, err := ls.Links(e.ctx, linking.LinkQuery{Tenant: t})
	if err != nil {
		return ruleLinks.errorf("Links: %v", err)
	}
	if got := linkKeys(links); !slices.Equal(got, []string{"aws/bob"}) {
		return ruleLinkErase.errorf("after erasing Alice, the tenant's links are %q; want only aws/bob (her account's, the one linked to her and the one ambiguous with her deleted)", got)
	}
	got, err := ls.Findings(e.ctx, linking.FindingQuery{Tenant: t})
	if err != nil {
		return ruleLinks.errorf("Findings: %v", err)
	}
	if len(got) != 4 {
		return ruleLinkErase.errorf("after erasing Alice, the tenant has %d findings, want the 4 it had (redacted, not deleted)", len(got))
	}
	want := map[int64]linking.Finding{}
	for name, f := range fs {
		switch name {
		case "alice-orphan":
			f.AccountKey, f.Detail = storage.Redacted, ""
		case "alice-mfa":
			f.AccountKey, f.PersonID, f.Detail, f.ClosedRun = storage.Redacted, "", "", "erase-1"
		case "al-admin-gap":
			f.PersonID, f.Detail, f.ClosedRun = "", "", "erase-1"
		}
		want[f.Seq] = f
	}
	for _, g := range got {
		w := want[g.Seq]
		if w.ClosedRun == "erase-1" {
			if g.ClosedAt.IsZero() {
				return ruleLinkErase.errorf("the open finding %d about Alice was not closed by the erasure: %+v", g.Seq, g)
			}
			w.ClosedAt = g.ClosedAt
		}
		if d := findingDiff(g, w); d != "" {
			return ruleLinkErase.errorf("finding %d after erasing Alice: %s", g.Seq, d)
		}
	}
	gotDs, err := ls.LinkDecisions(e.ctx, linking.DecisionQuery{Tenant: t})
	if err != nil {
		return ruleLinks.errorf("LinkDecisions: %v", err)
	}
	wantDs := slices.Clone(ds)
	wantDs[0].AccountKey, wantDs[0].Person, wantDs[0].Reason = storage.Redacted, "", storage.Redacted
	wantDs[1].Person, wantDs[1].Reason = "", storage.Redacted
	if len(gotDs) != len(wantDs) {
		return ruleLinkErase.errorf("after erasing Alice, the tenant has %d decisions, want %d (redacted, not deleted)", len(gotDs), len(wantDs))
	}
	for i := range gotDs {
		if d := linkDecisionDiff(gotDs[i], wantDs[i]); d != "" {
			return ruleLinkErase.errorf("decision %d after erasing Alice: %s", gotDs[i].Seq, d)
		}
	}

	// The other tenant keeps everything.
	links, err = ls.Links(e.ctx, linking.LinkQuery{Tenant: other})
	if err != nil {
		return ruleLinks.errorf("Links: %v", err)
	}
	if got := linkKeys(links); !slices.Equal(got, []string{"aws/al-admin", "aws/alice", "aws/bob", "aws/twin"}) {
		return ruleIsolation.errorf("erasing Alice in tenant %q changed tenant %q's links: %q", t, other, got)
	}
	got, err = ls.Findings(e.ctx, linking.FindingQuery{Tenant: other})
	if err != nil {
		return ruleLinks.errorf("Findings: %v", err)
	}
	for _, g := range got {
		for _, w := range ofs {
			if w.Seq == g.Seq {
				if d := findingDiff(g, w); d != "" {
					return ruleIsolation.errorf("erasing Alice in tenant %q changed a finding of tenant %q: %s", t, other, d)
				}
			}
		}
	}
	gotDs, err = ls.LinkDecisions(e.ctx, linking.DecisionQuery{Tenant: other})
	if err != nil {
		return ruleLinks.errorf("LinkDecisions: %v", err)
	}
	for i := range gotDs {
		if i >= len(ods) || linkDecisionDiff(gotDs[i], ods[i]) != "" {
			return ruleIsolation.errorf("erasing Alice in tenant %q changed tenant %q's decisions: %+v", t, other, gotDs)
		}
	}
	return nil
}

// checkLinkStorePrune: Prune deletes the findings closed before its time,
// and keeps open ones (however old), those closed later, links and
// decisions, and another tenant's; the store goes on closing the open
// findings that are left, by Seq.
func checkLinkStorePrune(e *storeEnv) error {
	ls, er, err := linkEraser(e)
	if err != nil {
		return err
	}
	t, other := e.tenant("a"), e.tenant("b")
	fs, ds, err := linkFixture(e, ls, t) // the orphan finding closed at baseTime+1h
	if err != nil {
		return err
	}
	if _, _, err := linkFixture(e, ls, other); err != nil {
		return err
	}
	// Bob's gap closes at +3h.
	if _, err := ls.WriteLinks(e.ctx, linking.Write{Tenant: t, RunID: "run3", At: baseTime.Add(3 * time.Hour), Close: []int64{fs["bob-gap"].Seq}}); err != nil {
		return ruleLinks.errorf("WriteLinks: %v", err)
	}
	if err := er.Prune(e.ctx, t, baseTime.Add(2*time.Hour)); err != nil {
		return ruleLinkPrune.errorf("Prune: %v", err)
	}
	got, err := ls.Findings(e.ctx, linking.FindingQuery{Tenant: t})
	if err != nil {
		return ruleLinks.errorf("Findings: %v", err)
	}
	wantSeqs := []int64{fs["alice-mfa"].Seq, fs["al-admin-gap"].Seq, fs["bob-gap"].Seq}
	slices.Sort(wantSeqs)
	if !slices.Equal(seqs(got), wantSeqs) {
		return ruleLinkPrune.errorf("after Prune at +2h the findings are %v; want %v (the one closed at +1h deleted; open ones and the one closed at +3h kept)", seqs(got), wantSeqs)
	}
	if got, err := ls.Findings(e.ctx, linking.FindingQuery{Tenant: other}); err != nil || len(got) != 4 {
		return ruleIsolation.errorf("Prune of tenant %q left tenant %q %d findings (%v), want 4", t, other, len(got), err)
	}
	links, err := ls.Links(e.ctx, linking.LinkQuery{Tenant: t})
	if err != nil || len(links) != 4 {
		return ruleLinkPrune.errorf("Prune changed the links: %d left (%v), want 4", len(links), err)
	}
	gotDs, err := ls.LinkDecisions(e.ctx, linking.DecisionQuery{Tenant: t})
	if err != nil || len(gotDs) != len(ds) {
		return ruleLinkPrune.errorf("Prune changed the linking decisions: %d left (%v), want %d", len(gotDs), err, len(ds))
	}
	// The findings left still close by Seq.
	closeAt := baseTime.Add(4 * time.Hour)
	if _, err := ls.WriteLinks(e.ctx, linking.Write{Tenant: t, RunID: "run4", At: closeAt, Close: []int64{fs["al-admin-gap"].Seq}}); err != nil {
		return ruleLinks.errorf("WriteLinks: %v", err)
	}
	got, err = ls.Findings(e.ctx, linking.FindingQuery{Tenant: t, OpenOnly: true})
	if err != nil {
		return ruleLinks.errorf("Findings: %v", err)
	}
	if !slices.Equal(seqs(got), []int64{fs["alice-mfa"].Seq}) {
		return ruleLinkPrune.errorf("after Prune, closing finding %d left open %v; want only %d", fs["al-admin-gap"].Seq, seqs(got), fs["alice-mfa"].Seq)
	}
	return nil
}
