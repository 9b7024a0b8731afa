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

// source is one identity with what the join needs, read while the people
// are built: a slim copy, so that neither groups nor attributes are kept.
type source struct {
	conn, key, ref        string // ref is IdentityRef(conn, key)
	emp, ext, email, norm string // norm is email by NormalizeEmail
	name, username        string
	status                resync.LifecycleStatus
	start, end            time.Time
	removed, hris         bool
}

// newSource returns the source of identity r of connection conn.
func newSource(conn string, r resync.StoredRecord, idn *resync.Identity, hris bool, aliases map[string]string) source {
	return source{conn: conn, key: idn.Key, ref: IdentityRef(conn, idn.Key), emp: idn.EmployeeID,
		ext: idn.ExternalID, email: idn.Email, norm: NormalizeEmail(idn.Email, aliases),
		name: idn.Name, username: strings.ToLower(strings.TrimSpace(idn.Attributes["username"])),
		status: internStatus(idn.Status), start: idn.StartDate, end: idn.EndDate, removed: !r.RemovedAt.IsZero(), hris: hris}
}

// internStatus returns the constant equal to st, so that a decoded
// status does not keep a string of its own.
func internStatus(st resync.LifecycleStatus) resync.LifecycleStatus {
	for _, c := range []resync.LifecycleStatus{resync.StatusActive, resync.StatusSuspended, resync.StatusDeprovisioned, resync.StatusNotStarted} {
		if st == c {
			return c
		}
	}
	return st
}

// identRef names one identity of a person.
type identRef struct{ conn, key string }

// person is one person of the index: the fields of Person the
// correlation needs, and where their identities are in people.idents.
type person struct {
	ID, Name, Email, EmployeeID string
	Status, LoginStatus         resync.LifecycleStatus
	StartDate, EndDate          time.Time
	// first is the index of the person's first identity in
	// people.idents; nHRIS HRIS identities come first, then nIdP IdP
	// ones, each sorted by connection ID and key.
	first, nHRIS, nIdP int32
}

// people is the index of a tenant's people that correlation looks
// accounts up in. It is kept between correlations, for every account of
// the tenant, so it is compact: the people are one slice, a key found in
// one person (nearly every key) maps to a one-element slice of self
// instead of a slice of its own, and the strings are those of the
// identities, shared by the people and the maps.
type people struct {
	all     []person
	self    []*person  // self[i] is &all[i]
	idents  []identRef // the people's identities, a run per person
	byRef   map[string]*person
	byKey   map[string][]*person // identity Key and ExternalID
	byEmp   map[string][]*person
	byEmail map[string][]*person
	byUser  map[string][]*person
}

// identities returns the identities of p, HRIS ones first.
func (ps *people) identities(p *person) []identRef {
	return ps.idents[p.first : p.first+p.nHRIS+p.nIdP]
}

// buildPeople joins identities sharing a normalized email or an employee
// ID into people.
func buildPeople(srcs []source) *people {
	parent := make([]int32, len(srcs))
	for i := range parent {
		parent[i] = int32(i)
	}
	find := func(i int32) int32 {
		for parent[i] != i {
			parent[i] = parent[parent[i]]
			i = parent[i]
		}
		return i
	}
	union := func(a, b int32) {
		ra, rb := find(a), find(b)
		if ra != rb {
			parent[rb] = ra
		}
	}
	firstEmail := map[string]int32{}
	firstEmp := map[string]int32{}
	for i := range srcs {
		s := &srcs[i]
		if s.norm != "" {
			if j, ok := firstEmail[s.norm]; ok {
				union(j, int32(i))
			} else {
				firstEmail[s.norm] = int32(i)
			}
		}
		if emp := strings.TrimSpace(s.emp); emp != "" {
			if j, ok := firstEmp[emp]; ok {
				union(j, int32(i))
			} else {
				firstEmp[emp] = int32(i)
			}
		}
	}
	firstEmail, firstEmp = nil, nil
	// Number the people in the order of their first identity: of[i] is
	// the person of source i.
	of := make([]int32, len(srcs))
	num := make([]int32, len(srcs)) // by root: the person's number + 1
	var size []int32
	for i := range srcs {
		r := find(int32(i))
		if num[r] == 0 {
			size = append(size, 0)
			num[r] = int32(len(size))
		}
		of[i] = num[r] - 1
		size[of[i]]++
	}
	parent, num = nil, nil
	start := make([]int32, len(size)+1)
	for n, k := range size {
		start[n+1] = start[n] + k
	}
	order := make([]int32, len(srcs))
	fill := slices.Clone(start[:len(size)])
	for i := range srcs {
		order[fill[of[i]]] = int32(i)
		fill[of[i]]++
	}
	ps := &people{
		all: make([]person, len(size)), self: make([]*person, len(size)), idents: make([]identRef, len(srcs)),
		byRef: make(map[string]*person, len(srcs)), byKey: map[string][]*person{}, byEmp: map[string][]*person{},
		byEmail: map[string][]*person{}, byUser: map[string][]*person{},
	}
	for n := range ps.all {
		ps.self[n] = &ps.all[n]
	}
	for n := range ps.all {
		p := ps.self[n]
		mine := order[start[n]:start[n+1]]
		p.settle(srcs, mine, start[n])
		for j, i := range mine {
			s := &srcs[i]
			ps.idents[int(start[n])+j] = identRef{s.conn, s.key}
			ps.byRef[s.ref] = p
			ps.add(ps.byKey, s.key, n)
			ps.add(ps.byKey, s.ext, n)
			ps.add(ps.byEmp, strings.TrimSpace(s.emp), n)
			if s.norm != "" {
				ps.add(ps.byEmail, s.norm, n)
				ps.add(ps.byUser, s.norm[:strings.LastIndexByte(s.norm, '@')], n)
			}
			ps.add(ps.byUser, s.username, n)
		}
	}
	return ps
}

// add adds person n to m[k] once, for a non-empty k.
func (ps *people) add(m map[string][]*person, k string, n int) {
	if k == "" {
		return
	}
	p := ps.self[n]
	l, ok := m[k]
	switch {
	case !ok:
		m[k] = ps.self[n : n+1 : n+1]
	case l[len(l)-1] == p || slices.Contains(l, p):
	default:
		// A one-element slice of self has no room: append copies it.
		m[k] = append(l, p)
	}
}

// state is the status of an identity: a removed one counts as
// deprovisioned.
func (s *source) state() resync.LifecycleStatus {
	if s.removed {
		return resync.StatusDeprovisioned
	}
	return s.status
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

// settle sets the person's ID and fields from their sources (mine,
// indexes into srcs; first is where their identities start in
// people.idents), by the precedence Person documents, and sorts mine:
// HRIS identities first, each by connection ID and key.
func (p *person) settle(srcs []source, mine []int32, first int32) {
	bySource := func(a, b *source) int {
		return cmp.Or(cmp.Compare(a.conn, b.conn), cmp.Compare(a.key, b.key))
	}
	slices.SortFunc(mine, func(i, j int32) int {
		a, b := &srcs[i], &srcs[j]
		if a.hris != b.hris {
			if a.hris {
				return -1
			}
			return 1
		}
		return bySource(a, b)
	})
	p.first = first
	for _, i := range mine {
		if srcs[i].hris {
			p.nHRIS++
		} else {
			p.nIdP++
		}
	}
	hris, idp := mine[:p.nHRIS], mine[p.nHRIS:]
	p.ID = srcs[mine[0]].ref
	for _, i := range mine {
		s := &srcs[i]
		if p.EmployeeID == "" {
			p.EmployeeID = s.emp
		}
		if p.Name == "" {
			p.Name = s.name
		}
		if p.Email == "" {
			p.Email = s.email
		}
	}
	if len(idp) > 0 {
		best := srcs[idp[0]].state()
		for _, i := range idp[1:] {
			if st := srcs[i].state(); statusRank(st) < statusRank(best) {
				best = st
			}
		}
		p.LoginStatus = best
		p.Status = best
	}
	if len(hris) > 0 {
		cur := &srcs[slices.MinFunc(hris, func(i, j int32) int {
			a, b := &srcs[i], &srcs[j]
			return cmp.Or(cmp.Compare(statusRank(a.state()), statusRank(b.state())),
				b.start.Compare(a.start), bySource(a, b))
		})]
		p.Status, p.StartDate, p.EndDate = cur.state(), cur.start, cur.end
		if cur.name != "" {
			p.Name = cur.name
		}
		if cur.email != "" {
			p.Email = cur.email
		}
	}
}

// offboarded says whether the person is offboarded at now, and why.
func (p *person) offboarded(now time.Time) (bool, string) {
	if p.nHRIS > 0 {
		if p.Status == resync.StatusDeprovisioned {
			return true, "terminated at the HRIS"
		}
		// EndDate is the last day of work: the whole day counts.
		if !p.EndDate.IsZero() && !now.Before(p.EndDate.Add(24*time.Hour)) {
			return true, "past the end date " + p.EndDate.Format(time.DateOnly)
		}
	}
	if p.nIdP > 0 && p.LoginStatus == resync.StatusDeprovisioned {
		return true, "deprovisioned at the identity provider"
	}
	return false, ""
}

// view returns the Person as of now, without Identities.
func (p *person) view(now time.Time) Person {
	v := Person{ID: p.ID, Name: p.Name, Email: p.Email, EmployeeID: p.EmployeeID, Status: p.Status,
		StartDate: p.StartDate, EndDate: p.EndDate, LoginStatus: p.LoginStatus}
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
