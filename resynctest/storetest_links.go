package resynctest

import (
	"errors"
	"fmt"
	"reflect"
	"time"

	"github.com/openresync/resync"
	"github.com/openresync/resync/linking"
	"github.com/openresync/resync/storage"
)

// The checks of the optional storage.LinkStore capability. A store
// without it skips them: package linking refuses such a store.

var ruleLinks = rule{"LinkStore contract", "package storage"}

// checkLinkStore runs the LinkStore checks in turn.
func checkLinkStore(e *storeEnv) error {
	ls, ok := e.s.(storage.LinkStore)
	if !ok {
		return errSkipCheck
	}
	if err := errors.Join(checkLinks(e, ls), checkFindings(e, ls), checkLinkDecisions(e, ls)); err != nil {
		return err
	}
	return checkLinksDeleteTenant(e, ls)
}

// checkLinksDeleteTenant checks that an Eraser's DeleteTenant deletes the
// tenant's links, findings and decisions, and no other tenant's.
func checkLinksDeleteTenant(e *storeEnv, ls storage.LinkStore) error {
	er, ok := e.s.(storage.Eraser)
	if !ok {
		return nil
	}
	rule := rule{"Eraser.DeleteTenant contract", "package storage"}
	gone, kept := e.tenant("links"), e.tenant("links-other")
	if err := er.DeleteTenant(e.ctx, gone); err != nil {
		return rule.errorf("DeleteTenant: %v", err)
	}
	for _, c := range []struct {
		tenant string
		want   bool
	}{{gone, false}, {kept, true}} {
		links, err1 := ls.Links(e.ctx, linking.LinkQuery{Tenant: c.tenant})
		fs, err2 := ls.Findings(e.ctx, linking.FindingQuery{Tenant: e.tenant("findings")})
		if c.tenant == kept {
			fs, err2 = ls.Findings(e.ctx, linking.FindingQuery{Tenant: e.tenant("findings-other")})
		} else if err := er.DeleteTenant(e.ctx, e.tenant("findings")); err != nil {
			return rule.errorf("DeleteTenant: %v", err)
		} else {
			fs, err2 = ls.Findings(e.ctx, linking.FindingQuery{Tenant: e.tenant("findings")})
		}
		if err := errors.Join(err1, err2); err != nil {
			return rule.errorf("listing after DeleteTenant: %v", err)
		}
		if (len(links) > 0) != c.want || (len(fs) > 0) != c.want {
			return rule.errorf("after DeleteTenant of %q, tenant %q has %d links and %d findings", gone, c.tenant, len(links), len(fs))
		}
	}
	if err := er.DeleteTenant(e.ctx, e.tenant("decisions")); err != nil {
		return rule.errorf("DeleteTenant: %v", err)
	}
	ds, err := ls.LinkDecisions(e.ctx, linking.DecisionQuery{Tenant: e.tenant("decisions")})
	if err != nil {
		return rule.errorf("LinkDecisions: %v", err)
	}
	if len(ds) > 0 {
		return rule.errorf("after DeleteTenant, the tenant has %d link decisions", len(ds))
	}
	return nil
}

func linkKeys(ls []linking.Link) []string {
	out := make([]string, len(ls))
	for i, k := range ls {
		out[i] = k.ConnectionID + "/" + k.AccountKey
	}
	return out
}

func checkLinks(e *storeEnv, ls storage.LinkStore) error {
	t, other := e.tenant("links"), e.tenant("links-other")
	at := baseTime
	mk := func(conn, key string, s linking.Situation, person string) linking.Link {
		return linking.Link{Tenant: t, ConnectionID: conn, AccountKey: key, Situation: s, PersonID: person,
			Rule: linking.RuleEmail, Active: true, UpdatedAt: at, RunID: "run1"}
	}
	amb := mk("b", "a odd 'key\" ü", linking.Ambiguous, "")
	amb.Candidates, amb.Rule = []string{"okta:1", "okta:2"}, linking.RuleUsername
	put := []linking.Link{mk("b", "2", linking.Linked, "okta:1"), mk("a", "9", linking.OffboardingGap, "okta:1"),
		mk("b", "10", linking.Unlinked, ""), amb, mk("a", "1", linking.ServiceAccount, "")}
	if _, err := ls.WriteLinks(e.ctx, linking.Write{Tenant: t, RunID: "run1", At: at, Put: put}); err != nil {
		return ruleLinks.errorf("WriteLinks: %v", err)
	}
	if _, err := ls.WriteLinks(e.ctx, linking.Write{Tenant: other, At: at, Put: []linking.Link{{Tenant: other, ConnectionID: "a", AccountKey: "1", Situation: linking.Linked, PersonID: "okta:1", UpdatedAt: at}}}); err != nil {
		return ruleLinks.errorf("WriteLinks: %v", err)
	}
	all, err := ls.Links(e.ctx, linking.LinkQuery{Tenant: t})
	if err != nil {
		return ruleLinks.errorf("Links: %v", err)
	}
	want := []string{"a/1", "a/9", "b/10", "b/2", "b/a odd 'key\" ü"}
	if got := linkKeys(all); !reflect.DeepEqual(got, want) {
		return ruleLinks.errorf("Links listed %q, want %q (by connection ID, then account key as bytes; tenant isolation)", got, want)
	}
	for _, k := range all {
		if k.AccountKey == amb.AccountKey && !reflect.DeepEqual(k, amb) {
			return ruleRoundTrip.errorf("Links returned %+v, stored %+v", k, amb)
		}
	}
	for _, c := range []struct {
		q    linking.LinkQuery
		want []string
	}{
		{linking.LinkQuery{ConnectionID: "a"}, []string{"a/1", "a/9"}},
		{linking.LinkQuery{PersonID: "okta:1"}, []string{"a/9", "b/2"}},
		{linking.LinkQuery{Situation: linking.Unlinked}, []string{"b/10"}},
		{linking.LinkQuery{After: linking.AccountRef{ConnectionID: "a", AccountKey: "9"}, Limit: 2}, []string{"b/10", "b/2"}},
		{linking.LinkQuery{After: linking.AccountRef{ConnectionID: "a"}}, []string{"b/10", "b/2", "b/a odd 'key\" ü"}},
		{linking.LinkQuery{ConnectionID: "b", After: linking.AccountRef{ConnectionID: "a", AccountKey: "zz"}, Limit: 1}, []string{"b/10"}},
		{linking.LinkQuery{ConnectionID: "b", After: linking.AccountRef{ConnectionID: "b", AccountKey: "10"}}, []string{"b/2", "b/a odd 'key\" ü"}},
		{linking.LinkQuery{ConnectionID: "b", After: linking.AccountRef{ConnectionID: "b"}}, []string{}},
		{linking.LinkQuery{ConnectionID: "a", After: linking.AccountRef{ConnectionID: "b", AccountKey: "1"}}, []string{}},
		{linking.LinkQuery{ConnectionID: "b", AccountKeys: []string{"2", "10", "404", "2"}}, []string{"b/10", "b/2"}},
		{linking.LinkQuery{ConnectionID: "b", AccountKeys: []string{}}, []string{}},
		{linking.LinkQuery{ConnectionID: "a", AccountKeys: []string{"2", "10"}}, []string{}},
		{linking.LinkQuery{ConnectionID: "b", AccountKeys: []string{"2", "10"}, Situation: linking.Unlinked}, []string{"b/10"}},
		{linking.LinkQuery{ConnectionID: "b", AccountKeys: []string{"a odd 'key\" ü", "2", "10"}, After: linking.AccountRef{ConnectionID: "b", AccountKey: "10"}, Limit: 1}, []string{"b/2"}},
	} {
		c.q.Tenant = t
		got, err := ls.Links(e.ctx, c.q)
		if err != nil {
			return ruleLinks.errorf("Links(%+v): %v", c.q, err)
		}
		if !reflect.DeepEqual(linkKeys(got), c.want) {
			return ruleLinks.errorf("Links(%+v) = %q, want %q", c.q, linkKeys(got), c.want)
		}
	}
	if _, err := ls.Links(e.ctx, linking.LinkQuery{Tenant: t, AccountKeys: []string{"2"}}); !errors.Is(err, resync.ErrInvalidRequest) {
		return ruleLinks.errorf("Links with AccountKeys and no ConnectionID: %v, want an error wrapping ErrInvalidRequest", err)
	}
	// Replace one, delete two (one unknown).
	upd := mk("b", "2", linking.OffboardingGap, "okta:7")
	upd.UpdatedAt, upd.RunID = at.Add(time.Minute), "run2"
	if _, err := ls.WriteLinks(e.ctx, linking.Write{Tenant: t, At: at, Put: []linking.Link{upd},
		Delete: []linking.AccountRef{{ConnectionID: "a", AccountKey: "9"}, {ConnectionID: "a", AccountKey: "404"}}}); err != nil {
		return ruleLinks.errorf("WriteLinks: %v", err)
	}
	all, err = ls.Links(e.ctx, linking.LinkQuery{Tenant: t, ConnectionID: "b", PersonID: "okta:7"})
	if err != nil {
		return ruleLinks.errorf("Links: %v", err)
	}
	if len(all) != 1 || !reflect.DeepEqual(all[0], upd) {
		return ruleLinks.errorf("after a Put of b/2, Links returned %+v, want %+v", all, upd)
	}
	all, _ = ls.Links(e.ctx, linking.LinkQuery{Tenant: t})
	if got := linkKeys(all); !reflect.DeepEqual(got, []string{"a/1", "b/10", "b/2", "b/a odd 'key\" ü"}) {
		return ruleLinks.errorf("after deleting a/9, Links listed %q", got)
	}
	// A Put said to be new that meets a link stored since (by another
	// process) replaces it all the same.
	put = []linking.Link{mk("c", "1", linking.Linked, "okta:3"), mk("b", "10", linking.Linked, "okta:3")}
	for i := range put {
		put[i].RunID = "run3"
	}
	if _, err := ls.WriteLinks(e.ctx, linking.Write{Tenant: t, At: at, Put: put, PutNew: true}); err != nil {
		return ruleLinks.errorf("WriteLinks with PutNew over a stored link: %v", err)
	}
	all, err = ls.Links(e.ctx, linking.LinkQuery{Tenant: t, PersonID: "okta:3"})
	if err != nil {
		return ruleLinks.errorf("Links: %v", err)
	}
	if !reflect.DeepEqual(all, []linking.Link{put[1], put[0]}) {
		return ruleLinks.errorf("after a Put with PutNew over the stored b/10, Links returned %+v, want %+v", all, []linking.Link{put[1], put[0]})
	}
	return nil
}

func seqs(fs []linking.Finding) []int64 {
	out := make([]int64, len(fs))
	for i, f := range fs {
		out[i] = f.Seq
	}
	return out
}

func checkFindings(e *storeEnv, ls storage.LinkStore) error {
	t, other := e.tenant("findings"), e.tenant("findings-other")
	at := baseTime
	f := func(kind linking.FindingKind, conn, key, person string) linking.Finding {
		return linking.Finding{Tenant: t, Kind: kind, ConnectionID: conn, AccountKey: key, PersonID: person,
			Detail: "why 'it' is", OpenedAt: at, OpenedRun: "run1", ConfirmedAt: at, ConfirmedRun: "run1"}
	}
	open := []linking.Finding{f(linking.FindingOffboardingGap, "aws", "jane", "okta:jane"), f(linking.FindingOrphaned, "aws", "bot", ""),
		f(linking.FindingNoMFA, "gh", "jane", "okta:jane"), f(linking.FindingUnused, "gh", "bob", "okta:bob")}
	opened, err := ls.WriteLinks(e.ctx, linking.Write{Tenant: t, RunID: "run1", At: at, Open: open})
	if err != nil {
		return ruleLinks.errorf("WriteLinks: %v", err)
	}
	if len(opened) != len(open) {
		return ruleLinks.errorf("WriteLinks returned %d findings for %d opened", len(opened), len(open))
	}
	for i, o := range opened {
		want := open[i]
		want.Seq = o.Seq
		if !reflect.DeepEqual(o, want) || (i > 0 && o.Seq <= opened[i-1].Seq) {
			return ruleLinks.errorf("WriteLinks returned %+v for %+v (Seqs increasing, in Open's order)", o, open[i])
		}
	}
	if _, err := ls.WriteLinks(e.ctx, linking.Write{Tenant: other, At: at, Open: []linking.Finding{{Tenant: other, Kind: linking.FindingOrphaned, ConnectionID: "aws", AccountKey: "x", OpenedAt: at, ConfirmedAt: at}}}); err != nil {
		return ruleLinks.errorf("WriteLinks: %v", err)
	}
	got, err := ls.Findings(e.ctx, linking.FindingQuery{Tenant: t})
	if err != nil {
		return ruleLinks.errorf("Findings: %v", err)
	}
	if !reflect.DeepEqual(got, opened) {
		return ruleRoundTrip.errorf("Findings returned %+v, want %+v (by Seq, tenant isolation)", got, opened)
	}
	later := at.Add(time.Hour)
	// Close the gap; confirm the orphan; an unknown Seq and a Seq of
	// another tenant's change nothing.
	if _, err := ls.WriteLinks(e.ctx, linking.Write{Tenant: t, RunID: "run2", At: later,
		Close: []int64{opened[0].Seq, 1 << 60}, Confirm: []int64{opened[1].Seq}}); err != nil {
		return ruleLinks.errorf("WriteLinks: %v", err)
	}
	// Closing or confirming a closed finding changes nothing.
	if _, err := ls.WriteLinks(e.ctx, linking.Write{Tenant: t, RunID: "run3", At: later.Add(time.Hour),
		Close: []int64{opened[0].Seq}, Confirm: []int64{opened[0].Seq}}); err != nil {
		return ruleLinks.errorf("WriteLinks: %v", err)
	}
	got, _ = ls.Findings(e.ctx, linking.FindingQuery{Tenant: t})
	gap, orphan := got[0], got[1]
	if !gap.ClosedAt.Equal(later) || gap.ClosedRun != "run2" || gap.ConfirmedRun != "run1" {
		return ruleLinks.errorf("closed finding is %+v, want ClosedAt %v by run2, confirmed by run1", gap, later)
	}
	if !orphan.ConfirmedAt.Equal(later) || orphan.ConfirmedRun != "run2" || !orphan.Open() {
		return ruleLinks.errorf("confirmed finding is %+v, want open, ConfirmedAt %v by run2", orphan, later)
	}
	s := func(fs ...linking.Finding) []int64 { return seqs(fs) }
	for _, c := range []struct {
		q    linking.FindingQuery
		want []int64
	}{
		{linking.FindingQuery{OpenOnly: true}, s(got[1], got[2], got[3])},
		{linking.FindingQuery{Kind: linking.FindingOffboardingGap}, s(got[0])},
		{linking.FindingQuery{ConnectionID: "gh"}, s(got[2], got[3])},
		{linking.FindingQuery{AccountKey: "jane"}, s(got[0], got[2])},
		{linking.FindingQuery{PersonID: "okta:jane", OpenOnly: true}, s(got[2])},
		{linking.FindingQuery{OpenedRun: "run1", Limit: 2}, s(got[0], got[1])},
		{linking.FindingQuery{AfterSeq: got[1].Seq}, s(got[2], got[3])},
		{linking.FindingQuery{Since: later}, s(got[0])},
		{linking.FindingQuery{Since: at, Until: later}, s(got[0], got[1], got[2], got[3])},
		{linking.FindingQuery{Until: at}, nil},
		{linking.FindingQuery{Since: later.Add(time.Microsecond)}, nil},
	} {
		c.q.Tenant = t
		res, err := ls.Findings(e.ctx, c.q)
		if err != nil {
			return ruleLinks.errorf("Findings(%+v): %v", c.q, err)
		}
		if g := seqs(res); !(len(g) == 0 && len(c.want) == 0) && !reflect.DeepEqual(g, c.want) {
			return ruleLinks.errorf("Findings(%+v) = %v, want %v", c.q, g, c.want)
		}
	}
	return nil
}

func checkLinkDecisions(e *storeEnv, ls storage.LinkStore) error {
	t, other := e.tenant("decisions"), e.tenant("decisions-other")
	by := resync.Principal{ID: "u1", Email: "admin@example.com", Name: "Ada 'Admin'"}
	d := func(key string, kind linking.DecisionKind, person string, i int) linking.Decision {
		return linking.Decision{Tenant: t, ConnectionID: "aws", AccountKey: key, Kind: kind, Person: person, By: by,
			At: baseTime.Add(time.Duration(i) * time.Minute), Reason: fmt.Sprintf("reason %d", i)}
	}
	in := []linking.Decision{d("a", linking.DecideLink, "okta:1", 0), d("b", linking.DecideUnlink, "", 1),
		d("a", linking.DecideService, "", 2), d("b", linking.DecideClear, "", 3), d("c", linking.DecideLink, "okta:2", 4)}
	var last int64
	for i := range in {
		seq, err := ls.AddLinkDecision(e.ctx, in[i])
		if err != nil {
			return ruleLinks.errorf("AddLinkDecision: %v", err)
		}
		if seq <= last {
			return ruleLinks.errorf("AddLinkDecision gave Seq %d after %d (must increase)", seq, last)
		}
		in[i].Seq, last = seq, seq
	}
	if _, err := ls.AddLinkDecision(e.ctx, linking.Decision{Tenant: other, ConnectionID: "aws", AccountKey: "a", Kind: linking.DecideUnlink, By: by, At: baseTime, Reason: "x"}); err != nil {
		return ruleLinks.errorf("AddLinkDecision: %v", err)
	}
	got, err := ls.LinkDecisions(e.ctx, linking.DecisionQuery{Tenant: t})
	if err != nil {
		return ruleLinks.errorf("LinkDecisions: %v", err)
	}
	if !reflect.DeepEqual(got, in) {
		return ruleRoundTrip.errorf("LinkDecisions returned %+v, want %+v", got, in)
	}
	for _, c := range []struct {
		q    linking.DecisionQuery
		want []linking.Decision
	}{
		{linking.DecisionQuery{Current: true}, []linking.Decision{in[2], in[4]}},
		{linking.DecisionQuery{AccountKey: "b"}, []linking.Decision{in[1], in[3]}},
		{linking.DecisionQuery{ConnectionID: "gh"}, nil},
		{linking.DecisionQuery{AfterSeq: in[2].Seq, Limit: 1}, []linking.Decision{in[3]}},
		{linking.DecisionQuery{Current: true, AccountKey: "a"}, []linking.Decision{in[2]}},
	} {
		c.q.Tenant = t
		res, err := ls.LinkDecisions(e.ctx, c.q)
		if err != nil {
			return ruleLinks.errorf("LinkDecisions(%+v): %v", c.q, err)
		}
		if !(len(res) == 0 && len(c.want) == 0) && !reflect.DeepEqual(res, c.want) {
			return ruleLinks.errorf("LinkDecisions(%+v) = %+v, want %+v", c.q, res, c.want)
		}
	}
	return nil
}
