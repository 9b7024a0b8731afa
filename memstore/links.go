package memstore

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	resync "github.com/openresync/resync"
	"github.com/openresync/resync/linking"
	"github.com/openresync/resync/storage"
)

var _ storage.LinkStore = (*Store)(nil)

// linkState is what storage.LinkStore keeps, under its own lock.
type linkState struct {
	mu      sync.Mutex
	tenants map[string]*tenantLinks
	seq     int64
}

type tenantLinks struct {
	conns     map[string]*connLinks
	findings  []linking.Finding // by Seq
	at        map[int64]int     // Seq -> index in findings
	decisions []linking.Decision
}

type connLinks struct {
	links  map[string]linking.Link
	sorted []string // keys in order; nil after a change
}

func (ls *linkState) tenant(t string) *tenantLinks {
	if ls.tenants == nil {
		ls.tenants = map[string]*tenantLinks{}
	}
	tl := ls.tenants[t]
	if tl == nil {
		tl = &tenantLinks{conns: map[string]*connLinks{}, at: map[int64]int{}}
		ls.tenants[t] = tl
	}
	return tl
}

// WriteLinks implements storage.LinkStore.
func (s *Store) WriteLinks(ctx context.Context, w linking.Write) ([]linking.Finding, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ls := &s.links
	ls.mu.Lock()
	defer ls.mu.Unlock()
	tl := ls.tenant(w.Tenant)
	for _, k := range w.Put {
		c := tl.conns[k.ConnectionID]
		if c == nil {
			c = &connLinks{links: map[string]linking.Link{}}
			tl.conns[k.ConnectionID] = c
		}
		if _, ok := c.links[k.AccountKey]; !ok {
			c.sorted = nil
		}
		k.Tenant = w.Tenant
		k.Candidates = slices.Clone(k.Candidates)
		c.links[k.AccountKey] = k
	}
	for _, a := range w.Delete {
		if c := tl.conns[a.ConnectionID]; c != nil {
			if _, ok := c.links[a.AccountKey]; ok {
				delete(c.links, a.AccountKey)
				c.sorted = nil
			}
		}
	}
	opened := make([]linking.Finding, 0, len(w.Open))
	for _, f := range w.Open {
		ls.seq++
		f.Seq, f.Tenant, f.ClosedAt, f.ClosedRun = ls.seq, w.Tenant, time.Time{}, ""
		tl.at[f.Seq] = len(tl.findings)
		tl.findings = append(tl.findings, f)
		opened = append(opened, f)
	}
	for _, seq := range w.Close {
		if i, ok := tl.at[seq]; ok && tl.findings[i].Open() {
			tl.findings[i].ClosedAt, tl.findings[i].ClosedRun = w.At, w.RunID
		}
	}
	for _, seq := range w.Confirm {
		if i, ok := tl.at[seq]; ok && tl.findings[i].Open() {
			tl.findings[i].ConfirmedAt, tl.findings[i].ConfirmedRun = w.At, w.RunID
		}
	}
	return opened, nil
}

// Links implements storage.LinkStore.
func (s *Store) Links(ctx context.Context, q linking.LinkQuery) ([]linking.Link, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if q.AccountKeys != nil && q.ConnectionID == "" {
		return nil, fmt.Errorf("%w: memstore: listing links: AccountKeys needs a ConnectionID", resync.ErrInvalidRequest)
	}
	ls := &s.links
	ls.mu.Lock()
	defer ls.mu.Unlock()
	tl := ls.tenant(q.Tenant)
	ids := make([]string, 0, len(tl.conns))
	for id := range tl.conns {
		if (q.ConnectionID == "" || id == q.ConnectionID) && id >= q.After.ConnectionID {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	var out []linking.Link
	for _, id := range ids {
		c := tl.conns[id]
		var keys []string
		if q.AccountKeys != nil {
			keys = slices.Compact(slices.Sorted(slices.Values(q.AccountKeys)))
		} else {
			if c.sorted == nil {
				c.sorted = make([]string, 0, len(c.links))
				for k := range c.links {
					c.sorted = append(c.sorted, k)
				}
				slices.Sort(c.sorted)
			}
			keys = c.sorted
		}
		if id == q.After.ConnectionID {
			if q.After.AccountKey == "" {
				continue
			}
			i, found := slices.BinarySearch(keys, q.After.AccountKey)
			if found {
				i++
			}
			keys = keys[i:]
		}
		for _, key := range keys {
			k, ok := c.links[key]
			if !ok {
				continue
			}
			if (q.Situation != "" && k.Situation != q.Situation) || (q.PersonID != "" && k.PersonID != q.PersonID) {
				continue
			}
			k.Candidates = slices.Clone(k.Candidates)
			out = append(out, k)
			if q.Limit > 0 && len(out) == q.Limit {
				return out, nil
			}
		}
	}
	return out, nil
}

// Findings implements storage.LinkStore.
func (s *Store) Findings(ctx context.Context, q linking.FindingQuery) ([]linking.Finding, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ls := &s.links
	ls.mu.Lock()
	defer ls.mu.Unlock()
	tl := ls.tenant(q.Tenant)
	i, _ := slices.BinarySearchFunc(tl.findings, q.AfterSeq+1, func(f linking.Finding, seq int64) int { return cmp.Compare(f.Seq, seq) })
	var out []linking.Finding
	for _, f := range tl.findings[i:] {
		if !matchFinding(q, f) {
			continue
		}
		out = append(out, f)
		if q.Limit > 0 && len(out) == q.Limit {
			break
		}
	}
	return out, nil
}

func matchFinding(q linking.FindingQuery, f linking.Finding) bool {
	if (q.Kind != "" && f.Kind != q.Kind) || (q.ConnectionID != "" && f.ConnectionID != q.ConnectionID) ||
		(q.AccountKey != "" && f.AccountKey != q.AccountKey) || (q.PersonID != "" && f.PersonID != q.PersonID) ||
		(q.OpenedRun != "" && f.OpenedRun != q.OpenedRun) || (q.OpenOnly && !f.Open()) {
		return false
	}
	if q.Since.IsZero() && q.Until.IsZero() {
		return true
	}
	within := func(at linking.Finding, closed bool) bool {
		t := at.OpenedAt
		if closed {
			if at.ClosedAt.IsZero() {
				return false
			}
			t = at.ClosedAt
		}
		return (q.Since.IsZero() || !t.Before(q.Since)) && (q.Until.IsZero() || t.Before(q.Until))
	}
	return within(f, false) || within(f, true)
}

// AddLinkDecision implements storage.LinkStore.
func (s *Store) AddLinkDecision(ctx context.Context, d linking.Decision) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	ls := &s.links
	ls.mu.Lock()
	defer ls.mu.Unlock()
	tl := ls.tenant(d.Tenant)
	ls.seq++
	d.Seq = ls.seq
	tl.decisions = append(tl.decisions, d)
	return d.Seq, nil
}

// LinkDecisions implements storage.LinkStore.
func (s *Store) LinkDecisions(ctx context.Context, q linking.DecisionQuery) ([]linking.Decision, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ls := &s.links
	ls.mu.Lock()
	defer ls.mu.Unlock()
	tl := ls.tenant(q.Tenant)
	latest := map[linking.AccountRef]int64{}
	if q.Current {
		for _, d := range tl.decisions {
			latest[linking.AccountRef{ConnectionID: d.ConnectionID, AccountKey: d.AccountKey}] = d.Seq
		}
	}
	var out []linking.Decision
	for _, d := range tl.decisions {
		if d.Seq <= q.AfterSeq || (q.ConnectionID != "" && d.ConnectionID != q.ConnectionID) ||
			(q.AccountKey != "" && d.AccountKey != q.AccountKey) {
			continue
		}
		if q.Current && (latest[linking.AccountRef{ConnectionID: d.ConnectionID, AccountKey: d.AccountKey}] != d.Seq || d.Kind == linking.DecideClear) {
			continue
		}
		out = append(out, d)
		if q.Limit > 0 && len(out) == q.Limit {
			break
		}
	}
	return out, nil
}

// deleteTenant drops a tenant's links, findings and decisions.
func (ls *linkState) deleteTenant(tenant string) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	delete(ls.tenants, tenant)
}

// erase removes and redacts what the tenant's links, findings and
// decisions hold about erased accounts and people (identity references),
// as storage.Eraser documents.
func (ls *linkState) erase(tenant, id string, now time.Time, accounts map[linking.AccountRef]bool, people map[string]bool) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	tl := ls.tenants[tenant]
	if tl == nil {
		return
	}
	for connID, c := range tl.conns {
		for key, k := range c.links {
			if accounts[linking.AccountRef{ConnectionID: connID, AccountKey: key}] || people[k.PersonID] ||
				slices.ContainsFunc(k.Candidates, func(p string) bool { return people[p] }) {
				delete(c.links, key)
				c.sorted = nil
			}
		}
	}
	for i := range tl.findings {
		f := &tl.findings[i]
		account := accounts[linking.AccountRef{ConnectionID: f.ConnectionID, AccountKey: f.AccountKey}]
		if !account && !people[f.PersonID] {
			continue
		}
		if account {
			f.AccountKey = storage.Redacted
		}
		f.PersonID, f.Detail = "", ""
		if f.Open() {
			f.ClosedAt, f.ClosedRun = now, id
		}
	}
	for i := range tl.decisions {
		d := &tl.decisions[i]
		account := accounts[linking.AccountRef{ConnectionID: d.ConnectionID, AccountKey: d.AccountKey}]
		if !account && !people[d.Person] {
			continue
		}
		if account {
			d.AccountKey = storage.Redacted
		}
		if people[d.Person] {
			d.Person = ""
		}
		d.Reason = storage.Redacted
	}
}

// prune deletes the tenant's findings closed before before.
func (ls *linkState) prune(tenant string, before time.Time) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	tl := ls.tenants[tenant]
	if tl == nil {
		return
	}
	tl.findings = slices.DeleteFunc(tl.findings, func(f linking.Finding) bool { return !f.Open() && f.ClosedAt.Before(before) })
	clear(tl.at)
	for i, f := range tl.findings {
		tl.at[f.Seq] = i
	}
}
