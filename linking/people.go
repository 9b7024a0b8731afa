package linking

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/openresync/resync"
)

// IdentityRef returns the reference of an identity: its connection ID and
// key joined by a colon. A Person's ID is one; Decision.Person takes any.
func IdentityRef(connectionID, key string) string { return connectionID + ":" + key }

// NormalizeEmail returns the form in which RuleEmail compares work emails:
// surrounding space trimmed, lower case, a "+tag" after the local part
// dropped, and the domain replaced by aliases[domain] when aliases has
// it (keys in lower case: "corp.example.com" -> "example.com"). It
// returns "" for a string without an "@" between a local part and a
// domain.
func NormalizeEmail(email string, aliases map[string]string) string {
	e := strings.ToLower(strings.TrimSpace(email))
	at := strings.LastIndexByte(e, '@')
	if at <= 0 || at == len(e)-1 {
		return ""
	}
	local, domain := e[:at], e[at+1:]
	if i := strings.IndexByte(local, '+'); i > 0 {
		local = local[:i]
	}
	if d, ok := aliases[domain]; ok && d != "" {
		domain = d
	}
	return local + "@" + domain
}

// source is one identity with what the join needs: a slim copy, so that
// the cached people do not keep groups and attributes.
type source struct {
	conn     string
	id       *resync.Identity
	username string
	removed  bool
	hris     bool
}

// newSource returns the source of identity r of connection conn.
func newSource(conn string, r resync.StoredRecord, idn *resync.Identity, hris bool) *source {
	return &source{conn: conn, hris: hris, removed: !r.RemovedAt.IsZero(), username: idn.Attributes["username"],
		id: &resync.Identity{Key: idn.Key, EmployeeID: idn.EmployeeID, ExternalID: idn.ExternalID, Email: idn.Email,
			Name: idn.Name, Status: idn.Status, StartDate: idn.StartDate, EndDate: idn.EndDate}}
}

// person is a Person being built, with its sources.
type person struct {
	Person
	hris, idp []*source
}

// people is the index of a tenant's people that correlation looks
// accounts up in.
type people struct {
	all     []*person
	byRef   map[string]*person
	byKey   map[string][]*person // identity Key and ExternalID
	byEmp   map[string][]*person
	byEmail map[string][]*person
	byUser  map[string][]*person
}

// buildPeople joins identities sharing a normalized email or an employee
// ID into people.
func buildPeople(srcs []*source, aliases map[string]string) *people {
	parent := make([]int, len(srcs))
	for i := range parent {
		parent[i] = i
	}
	var find func(int) int
	find = func(i int) int {
		for parent[i] != i {
			parent[i] = parent[parent[i]]
			i = parent[i]
		}
		return i
	}
	union := func(a, b int) {
		ra, rb := find(a), find(b)
		if ra != rb {
			parent[rb] = ra
		}
	}
	firstEmail := map[string]int{}
	firstEmp := map[string]int{}
	for i, s := range srcs {
		if e := NormalizeEmail(s.id.Email, aliases); e != "" {
			if j, ok := firstEmail[e]; ok {
				union(j, i)
			} else {
				firstEmail[e] = i
			}
		}
		if emp := strings.TrimSpace(s.id.EmployeeID); emp != "" {
			if j, ok := firstEmp[emp]; ok {
				union(j, i)
			} else {
				firstEmp[emp] = i
			}
		}
	}
	groups := map[int]*person{}
	var order []int
	for i, s := range srcs {
		r := find(i)
		p := groups[r]
		if p == nil {
			p = &person{}
			groups[r] = p
			order = append(order, r)
		}
		if s.hris {
			p.hris = append(p.hris, s)
		} else {
			p.idp = append(p.idp, s)
		}
	}
	ps := &people{
		byRef: map[string]*person{}, byKey: map[string][]*person{}, byEmp: map[string][]*person{},
		byEmail: map[string][]*person{}, byUser: map[string][]*person{},
	}
	for _, r := range order {
		p := groups[r]
		p.settle()
		ps.all = append(ps.all, p)
		for _, s := range append(slices.Clone(p.hris), p.idp...) {
			ps.byRef[IdentityRef(s.conn, s.id.Key)] = p
			add(ps.byKey, s.id.Key, p)
			add(ps.byKey, s.id.ExternalID, p)
			add(ps.byEmp, strings.TrimSpace(s.id.EmployeeID), p)
			if e := NormalizeEmail(s.id.Email, aliases); e != "" {
				add(ps.byEmail, e, p)
				add(ps.byUser, e[:strings.LastIndexByte(e, '@')], p)
			}
			add(ps.byUser, strings.ToLower(strings.TrimSpace(s.username)), p)
		}
	}
	return ps
}

// add appends p to m[k] once, for a non-empty k.
func add(m map[string][]*person, k string, p *person) {
	if k == "" {
		return
	}
	if l := m[k]; len(l) > 0 && l[len(l)-1] == p || slices.Contains(l, p) {
		return
	}
	m[k] = append(m[k], p)
}

// status is the status of an identity: a removed one counts as
// deprovisioned.
func (s *source) status() resync.LifecycleStatus {
	if s.removed {
		return resync.StatusDeprovisioned
	}
	return s.id.Status
}

func statusRank(st resync.LifecycleStatus) int {
	switch st {
	case resync.StatusActive:
		return 0
	case resync.StatusNotStarted:
		return 1
	case resync.StatusSuspended:
		return 2
	}
	return 3
}

// settle sets the person's ID and fields from their sources, by the
// precedence Person documents.
func (p *person) settle() {
	bySource := func(a, b *source) int {
		return cmp.Or(cmp.Compare(a.conn, b.conn), cmp.Compare(a.id.Key, b.id.Key))
	}
	slices.SortFunc(p.hris, bySource)
	slices.SortFunc(p.idp, bySource)
	first := append(slices.Clone(p.hris), p.idp...)
	p.ID = IdentityRef(first[0].conn, first[0].id.Key)
	for _, s := range first {
		if p.EmployeeID == "" {
			p.EmployeeID = s.id.EmployeeID
		}
		if p.Name == "" {
			p.Name = s.id.Name
		}
		if p.Email == "" {
			p.Email = s.id.Email
		}
	}
	if len(p.idp) > 0 {
		best := p.idp[0].status()
		for _, s := range p.idp[1:] {
			if st := s.status(); statusRank(st) < statusRank(best) {
				best = st
			}
		}
		p.LoginStatus = best
		p.Status = best
	}
	if len(p.hris) > 0 {
		cur := slices.MinFunc(p.hris, func(a, b *source) int {
			return cmp.Or(cmp.Compare(statusRank(a.status()), statusRank(b.status())),
				b.id.StartDate.Compare(a.id.StartDate), bySource(a, b))
		})
		p.Status, p.StartDate, p.EndDate = cur.status(), cur.id.StartDate, cur.id.EndDate
		if cur.id.Name != "" {
			p.Name = cur.id.Name
		}
		if cur.id.Email != "" {
			p.Email = cur.id.Email
		}
	}
}

// offboarded says whether the person is offboarded at now, and why.
func (p *person) offboarded(now time.Time) (bool, string) {
	if len(p.hris) > 0 {
		if p.Status == resync.StatusDeprovisioned {
			return true, "terminated at the HRIS"
		}
		// EndDate is the last day of work: the whole day counts.
		if !p.EndDate.IsZero() && !now.Before(p.EndDate.Add(24*time.Hour)) {
			return true, "past the end date " + p.EndDate.Format(time.DateOnly)
		}
	}
	if len(p.idp) > 0 && p.LoginStatus == resync.StatusDeprovisioned {
		return true, "deprovisioned at the identity provider"
	}
	return false, ""
}

// view returns the Person as of now, without Identities.
func (p *person) view(now time.Time) Person {
	v := p.Person
	v.Offboarded, v.OffboardedWhy = p.offboarded(now)
	return v
}

// match applies rules in order to account a and returns the rule that
// matched and the people it found (more than one: ambiguous), or no
// people.
func (ps *people) match(a *resync.Account, rules []Rule, aliases map[string]string) (Rule, []*person) {
	for _, r := range rules {
		var found []*person
		switch r {
		case RuleExternalID:
			found = ps.byKey[strings.TrimSpace(a.ExternalID)]
		case RuleEmployeeID:
			found = ps.byEmp[strings.TrimSpace(a.EmployeeID)]
		case RuleEmail:
			e := NormalizeEmail(a.OwnerEmail, aliases)
			if e == "" {
				e = NormalizeEmail(a.Username, aliases)
			}
			found = ps.byEmail[e]
		case RuleUsername:
			u := strings.ToLower(strings.TrimSpace(a.Username))
			if !strings.Contains(u, "@") {
				found = ps.byUser[u]
			}
		}
		if len(found) > 0 {
			return r, found
		}
	}
	return "", nil
}
