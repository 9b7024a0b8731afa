package linking

import (
	"context"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/openresync/resync"
)

const (
	defaultLimit = 100
	maxLimit     = 1000
)

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: linking: %s", resync.ErrInvalidRequest, fmt.Sprintf(format, args...))
}

// Decide records an admin's decision on one account (d.ConnectionID,
// d.AccountKey) of the tenant and correlates the account again at once.
// d.Kind is required, d.Person too for DecideLink, d.Reason always; By
// and At are set from by and the clock, Tenant from tenant. The account
// need not be stored yet: the decision applies when it appears. The
// decision holds through every later resync and correlation until an
// admin decides again on the account (DecideClear to give it back to the
// rules). It needs resync.ActionLinkAccounts, and the system principal
// may not decide.
func (l *Linker) Decide(ctx context.Context, tenant string, by resync.Principal, d Decision) (Decision, error) {
	if err := l.authorize(ctx, tenant, by, resync.ActionLinkAccounts); err != nil {
		return Decision{}, err
	}
	d.Tenant, d.By, d.At, d.Seq = tenant, by, l.cfg.Clock.Now(), 0
	d.Reason = strings.TrimSpace(d.Reason)
	d.Person = strings.TrimSpace(d.Person)
	switch {
	case by.System:
		return Decision{}, invalid("the system principal may not decide on accounts")
	case d.ConnectionID == "" || d.AccountKey == "":
		return Decision{}, invalid("a decision needs ConnectionID and AccountKey")
	case d.Kind != DecideLink && d.Kind != DecideUnlink && d.Kind != DecideService && d.Kind != DecideClear:
		return Decision{}, invalid("decision kind %q is not link, unlink, service or clear", d.Kind)
	case d.Kind == DecideLink && d.Person == "":
		return Decision{}, invalid("a link decision needs Person")
	case (d.Kind == DecideUnlink || d.Kind == DecideClear) && d.Person != "":
		return Decision{}, invalid("an %s decision names no Person", d.Kind)
	case d.Reason == "":
		return Decision{}, invalid("a decision needs a Reason")
	}
	conns, err := l.connections(ctx, tenant)
	if err != nil {
		return Decision{}, err
	}
	c, ok := conns[d.ConnectionID]
	if !ok {
		return Decision{}, fmt.Errorf("%w: linking: tenant %q has no connection %q", resync.ErrNotFound, tenant, d.ConnectionID)
	}
	if definesPeople(c.Type) {
		return Decision{}, invalid("connection %q is an %s connection: its identities are people, not accounts", c.ID, c.Type)
	}
	ts := l.tenant(tenant)
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if err := l.forgetErased(ctx, ts, tenant); err != nil {
		return Decision{}, err
	}
	if d.Person != "" {
		var res Result
		ps, err := l.peopleOf(ctx, ts, tenant, conns, &res)
		if err != nil {
			return Decision{}, err
		}
		if ps.byRef[d.Person] == nil {
			return Decision{}, fmt.Errorf("%w: linking: tenant %q has no person %q", resync.ErrNotFound, tenant, d.Person)
		}
	}
	seq, err := l.store.AddLinkDecision(ctx, d)
	if err != nil {
		return Decision{}, fmt.Errorf("linking: storing decision: %w", err)
	}
	d.Seq = seq
	recs, err := l.cfg.Store.Records(ctx, resync.RecordQuery{Tenant: tenant, ConnectionID: c.ID, Kind: resync.KindAccount})
	if err != nil {
		return d, fmt.Errorf("linking: reading accounts of connection %q: %w", c.ID, err)
	}
	i := slices.IndexFunc(recs, func(r resync.StoredRecord) bool { return r.Key == d.AccountKey })
	if i < 0 {
		return d, nil
	}
	var res Result
	p, err := l.newPass(ctx, ts, tenant, "", conns, &res)
	if err != nil {
		return d, err
	}
	return d, p.connection(ctx, c, records(recs[i:i+1]), nil, false, []string{d.AccountKey})
}

// Decisions returns the tenant's decisions matching q (q.Tenant is set
// from tenant), oldest first: the audit of who decided what, when and
// why. It needs resync.ActionViewRecords.
func (l *Linker) Decisions(ctx context.Context, tenant string, by resync.Principal, q DecisionQuery) ([]Decision, error) {
	if err := l.authorize(ctx, tenant, by, resync.ActionViewRecords); err != nil {
		return nil, err
	}
	if q.Limit < 0 || q.AfterSeq < 0 {
		return nil, invalid("Decisions: negative limit or AfterSeq")
	}
	q.Tenant = tenant
	return l.store.LinkDecisions(ctx, q)
}

// Links returns a page of the tenant's links matching q, ordered by
// connection ID and account key, and the cursor of the next page (""
// after the last one). It needs resync.ActionViewRecords.
func (l *Linker) Links(ctx context.Context, tenant string, by resync.Principal, q LinkQuery) ([]Link, string, error) {
	if err := l.authorize(ctx, tenant, by, resync.ActionViewRecords); err != nil {
		return nil, "", err
	}
	limit, err := pageLimit(q.Limit)
	if err != nil {
		return nil, "", err
	}
	if q.Situation != "" && !slices.Contains([]Situation{Linked, Unlinked, Ambiguous, OffboardingGap, ServiceAccount}, q.Situation) {
		return nil, "", invalid("Links: unknown situation %q", q.Situation)
	}
	if err := checkAccountKeys(q); err != nil {
		return nil, "", err
	}
	q.Tenant, q.Limit = tenant, limit+1
	if q.After, err = decodeCursor(q.Cursor); err != nil {
		return nil, "", err
	}
	q.Cursor = ""
	page, err := l.store.Links(ctx, q)
	if err != nil {
		return nil, "", fmt.Errorf("linking: listing links of tenant %q: %w", tenant, err)
	}
	next := ""
	if len(page) > limit {
		page = page[:limit]
		last := page[limit-1]
		next = encodeCursor(AccountRef{last.ConnectionID, last.AccountKey})
	}
	return page, next, nil
}

// maxAccountKeys bounds LinkQuery.AccountKeys.
const maxAccountKeys = 1000

// checkAccountKeys checks q.AccountKeys: they need a ConnectionID, and
// there are at most maxAccountKeys.
func checkAccountKeys(q LinkQuery) error {
	switch {
	case q.AccountKeys == nil:
	case q.ConnectionID == "":
		return invalid("Links: AccountKeys needs a ConnectionID")
	case len(q.AccountKeys) > maxAccountKeys:
		return invalid("Links: %d AccountKeys, at most %d", len(q.AccountKeys), maxAccountKeys)
	}
	return nil
}

// Findings returns the tenant's findings matching q (q.Tenant is set from
// tenant), by Seq, at most q.Limit (0: 100). For the next page, set
// q.AfterSeq to the Seq of the last finding returned. "When did we learn
// that Jane still had AWS access, and when was it removed" is
//
//	linker.Findings(ctx, tenant, by, linking.FindingQuery{
//		Kind: linking.FindingOffboardingGap, PersonID: jane.ID, ConnectionID: "aws"})
//
// whose findings' OpenedAt and ClosedAt answer it. It needs
// resync.ActionViewRecords.
func (l *Linker) Findings(ctx context.Context, tenant string, by resync.Principal, q FindingQuery) ([]Finding, error) {
	if err := l.authorize(ctx, tenant, by, resync.ActionViewRecords); err != nil {
		return nil, err
	}
	limit, err := pageLimit(q.Limit)
	if err != nil {
		return nil, err
	}
	if q.Kind != "" && !slices.Contains(allKinds, q.Kind) {
		return nil, invalid("Findings: unknown kind %q", q.Kind)
	}
	if q.AfterSeq < 0 {
		return nil, invalid("Findings: negative AfterSeq")
	}
	q.Tenant, q.Limit = tenant, limit
	return l.store.Findings(ctx, q)
}

func pageLimit(n int) (int, error) {
	switch {
	case n < 0 || n > maxLimit:
		return 0, invalid("limit %d is not between 0 and %d", n, maxLimit)
	case n == 0:
		return defaultLimit, nil
	}
	return n, nil
}

func encodeCursor(a AccountRef) string {
	b, _ := json.Marshal([]string{a.ConnectionID, a.AccountKey})
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string) (AccountRef, error) {
	if s == "" {
		return AccountRef{}, nil
	}
	bad := invalid("cursor %q was not returned by Links", s)
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return AccountRef{}, bad
	}
	var parts []string
	if json.Unmarshal(b, &parts) != nil || len(parts) != 2 || parts[0] == "" {
		return AccountRef{}, bad
	}
	return AccountRef{parts[0], parts[1]}, nil
}

// Access returns a person's access across every system: the person (as of
// now) and every account linked to them, with its record. person is a
// person's ID, the reference of one of their identities (IdentityRef),
// a work email or an employee ID. It fails with resync.ErrNotFound when
// no person matches, and resync.ErrInvalidRequest when an email or
// employee ID matches more than one. It needs resync.ActionViewRecords.
func (l *Linker) Access(ctx context.Context, tenant string, by resync.Principal, who string) (Access, error) {
	if err := l.authorize(ctx, tenant, by, resync.ActionViewRecords); err != nil {
		return Access{}, err
	}
	who = strings.TrimSpace(who)
	if who == "" {
		return Access{}, invalid("Access needs a person")
	}
	_, ps, err := l.currentPeople(ctx, tenant)
	if err != nil {
		return Access{}, err
	}
	var found []*person
	if p := ps.byRef[who]; p != nil {
		found = []*person{p}
	} else if f := ps.byEmail[NormalizeEmail(who, l.cfg.DomainAliases)]; len(f) > 0 {
		found = f
	} else {
		found = ps.byEmp[who]
	}
	switch len(found) {
	case 0:
		return Access{}, fmt.Errorf("%w: linking: tenant %q has no person %q", resync.ErrNotFound, tenant, who)
	case 1:
	default:
		return Access{}, invalid("%q matches %d people", who, len(found))
	}
	p := found[0]
	out := Access{Person: p.view(l.cfg.Clock.Now())}
	for _, s := range ps.identities(p) {
		err := l.eachRecord(ctx, resync.RecordQuery{Tenant: tenant, ConnectionID: s.conn, Kind: resync.KindIdentity, IdentityKey: s.key, IncludeRemoved: true},
			func(r resync.StoredRecord) error {
				if r.Key == s.key {
					r.ConnectionID = s.conn
					out.Person.Identities = append(out.Person.Identities, r)
				}
				return nil
			})
		if err != nil {
			return Access{}, fmt.Errorf("linking: reading identities of connection %q: %w", s.conn, err)
		}
	}
	q := LinkQuery{Tenant: tenant, PersonID: p.ID, Limit: maxLimit}
	byConn := map[string]map[string]resync.StoredRecord{}
	for {
		page, err := l.store.Links(ctx, q)
		if err != nil {
			return Access{}, err
		}
		for _, k := range page {
			recs, ok := byConn[k.ConnectionID]
			if !ok {
				all, err := l.cfg.Store.Records(ctx, resync.RecordQuery{Tenant: tenant, ConnectionID: k.ConnectionID, Kind: resync.KindAccount})
				if err != nil {
					return Access{}, err
				}
				recs = make(map[string]resync.StoredRecord, len(all))
				for _, r := range all {
					r.ConnectionID = k.ConnectionID
					recs[r.Key] = r
				}
				byConn[k.ConnectionID] = recs
			}
			out.Accounts = append(out.Accounts, AccountAccess{Link: k, Account: recs[k.AccountKey]})
		}
		if len(page) < q.Limit {
			return out, nil
		}
		q.After = AccountRef{page[len(page)-1].ConnectionID, page[len(page)-1].AccountKey}
	}
}

// WriteCSV writes the tenant's accounts with their linked person and
// situation as CSV, for auditors: a header line, then one line per link
// ordered by connection and account key, with the connection's ID, type,
// provider and name, the account's key, username, owner email and
// status, the situation, the rule, the person's ID, name and email, and
// when the link last changed. It needs resync.ActionViewRecords.
func (l *Linker) WriteCSV(ctx context.Context, tenant string, by resync.Principal, w io.Writer) error {
	if err := l.authorize(ctx, tenant, by, resync.ActionViewRecords); err != nil {
		return err
	}
	conns, ps, err := l.currentPeople(ctx, tenant)
	if err != nil {
		return err
	}
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"connection_id", "connection_type", "provider", "connection_name", "account_key", "username",
		"owner_email", "account_status", "situation", "rule", "person_id", "person_name", "person_email", "updated_at"})
	q := LinkQuery{Tenant: tenant, Limit: maxLimit}
	var cur string
	var recs map[string]*resync.Account
	for {
		page, err := l.store.Links(ctx, q)
		if err != nil {
			return err
		}
		for _, k := range page {
			if k.ConnectionID != cur {
				cur = k.ConnectionID
				all, err := l.cfg.Store.Records(ctx, resync.RecordQuery{Tenant: tenant, ConnectionID: cur, Kind: resync.KindAccount})
				if err != nil {
					return err
				}
				recs = make(map[string]*resync.Account, len(all))
				for _, r := range all {
					if a, ok := r.Record.(*resync.Account); ok {
						recs[r.Key] = a
					}
				}
			}
			c := conns[k.ConnectionID]
			a := recs[k.AccountKey]
			if a == nil {
				a = &resync.Account{}
			}
			var pname, pemail string
			if p := ps.byRef[k.PersonID]; p != nil {
				pname, pemail = p.Name, p.Email
			}
			if err := cw.Write([]string{k.ConnectionID, string(c.Type), c.Provider, c.Name, k.AccountKey, a.Username,
				a.OwnerEmail, string(a.Status), string(k.Situation), string(k.Rule), k.PersonID, pname, pemail,
				k.UpdatedAt.UTC().Format(time.RFC3339)}); err != nil {
				return err
			}
		}
		if len(page) < q.Limit {
			break
		}
		q.After = AccountRef{page[len(page)-1].ConnectionID, page[len(page)-1].AccountKey}
	}
	cw.Flush()
	return cw.Error()
}

// currentPeople returns the tenant's connections and its people, as
// cached (built if the Linker has none yet).
func (l *Linker) currentPeople(ctx context.Context, tenant string) (map[string]resync.Connection, *people, error) {
	conns, err := l.connections(ctx, tenant)
	if err != nil {
		return nil, nil, err
	}
	ts := l.tenant(tenant)
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if err := l.forgetErased(ctx, ts, tenant); err != nil {
		return nil, nil, err
	}
	var res Result
	ps, err := l.peopleOf(ctx, ts, tenant, conns, &res)
	return conns, ps, err
}
