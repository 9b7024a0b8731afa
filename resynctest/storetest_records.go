package resynctest

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/openresync/resync"
	"github.com/openresync/resync/storage"
)

// The checks of the optional storage.RecordSearcher capability. A store
// without it passes them: the engine falls back to Records.

var ruleSearch = rule{"RecordSearcher.SearchRecords contract", "package storage"}

func (e *storeEnv) searcher() (storage.RecordSearcher, bool) {
	rs, ok := e.s.(storage.RecordSearcher)
	return rs, ok
}

func searchRank(k resync.RecordKind) int {
	switch k {
	case resync.KindIdentity:
		return 1
	case resync.KindAccount:
		return 2
	case resync.KindGroup:
		return 3
	}
	return 0
}

func comparePlace(a, b resync.StoredRecord) int {
	if c := cmp.Compare(a.ConnectionID, b.ConnectionID); c != 0 {
		return c
	}
	if c := cmp.Compare(searchRank(a.Kind), searchRank(b.Kind)); c != 0 {
		return c
	}
	return cmp.Compare(a.Key, b.Key)
}

func place(r resync.StoredRecord) string {
	return r.ConnectionID + "/" + fmt.Sprint(r.Kind) + "/" + r.Key
}

func places(rs []resync.StoredRecord) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = place(r)
	}
	return out
}

// expectSearch is what SearchRecords must return for q, computed from
// Records of every connection: the oracle.
func (e *storeEnv) expectSearch(q resync.RecordQuery, conns []string, after resync.StoredRecord) ([]string, error) {
	var all []resync.StoredRecord
	for _, c := range conns {
		if q.ConnectionID != "" && c != q.ConnectionID {
			continue
		}
		recs, err := e.records(q.Tenant, c, q.Kind, q.IncludeRemoved)
		if err != nil {
			return nil, err
		}
		for _, r := range recs {
			r.ConnectionID = c
			email, key, status := storage.IndexFields(r.Record)
			if (q.Email != "" && email != q.Email) || (q.IdentityKey != "" && key != q.IdentityKey) || (q.Status != "" && status != q.Status) {
				continue
			}
			if after.ConnectionID != "" && comparePlace(r, after) <= 0 {
				continue
			}
			all = append(all, r)
		}
	}
	slices.SortFunc(all, comparePlace)
	if len(all) > q.Limit {
		all = all[:q.Limit]
	}
	return places(all), nil
}

func (e *storeEnv) search(q resync.RecordQuery, after resync.StoredRecord) ([]resync.StoredRecord, error) {
	rs, _ := e.searcher()
	got, err := rs.SearchRecords(e.ctx, q, after)
	if err != nil {
		return nil, ruleSearch.errorf("SearchRecords(%+v, after %q): %v", q, place(after), err)
	}
	for _, r := range got {
		if r.ConnectionID == "" || r.Record == nil {
			return nil, ruleSearch.errorf("SearchRecords(%+v) returned %s %q without its connection ID or record", q, r.Kind, r.Key)
		}
	}
	return got, nil
}

// personRecords applies, to connection conn of tenant, identities and
// accounts of a few people with emails in mixed case, statuses and
// external IDs, and groups; then removes some.
func (e *storeEnv) personRecords(tenant, conn string, shift int) error {
	var adds []resync.Change
	statuses := []resync.LifecycleStatus{resync.StatusActive, resync.StatusSuspended, resync.StatusDeprovisioned, resync.StatusNotStarted}
	for i := range 6 {
		name := []string{"alice", "bob", "carol", "dan", "erin", "frank"}[i]
		id := testIdentity(name+"-"+conn, i)
		id.Email = name + "@Example.COM"
		if i%2 == 1 {
			id.Email = strings.ToUpper(name) + "@example.com"
		}
		if name == "frank" {
			id.Email = "Frank.ÅSE@Example.com" // only ASCII letters fold
		}
		id.Status = statuses[(i+shift)%len(statuses)]
		adds = append(adds, opAdd(id))
		acct := testAccount("acct-"+name, i)
		acct.OwnerEmail = strings.ToUpper(id.Email)
		acct.ExternalID = "idp-" + name
		acct.Status = statuses[(i+shift+1)%len(statuses)]
		adds = append(adds, opAdd(acct))
	}
	svc := testAccount("svc", 9)
	svc.OwnerEmail, svc.ExternalID = "", ""
	adds = append(adds, opAdd(svc))
	idp := testIdentity("idp-alice", 1) // an identity keyed by what accounts carry as ExternalID
	idp.Email = "alice@example.com"
	adds = append(adds, opAdd(idp), opAdd(testGroup("alice@example.com", 1)), opAdd(testGroup("eng", 1)))
	if err := e.apply(newChangeSet(tenant, conn, "cs1-"+conn, "run1", 0, adds...)); err != nil {
		return err
	}
	return e.apply(newChangeSet(tenant, conn, "cs2-"+conn, "run2", 1,
		opRemove(resync.KindIdentity, "bob-"+conn, 0), opRemove(resync.KindAccount, "acct-carol", 0)))
}

func checkSearchFilters(e *storeEnv) error {
	if _, ok := e.searcher(); !ok {
		return nil
	}
	a := e.tenant("a")
	conns := []string{"c1", "c2", "c3"}
	for i, c := range conns {
		if err := e.personRecords(a, c, i); err != nil {
			return err
		}
	}
	cases := []struct {
		q     resync.RecordQuery
		least int // the oracle must find at least this many, so that no case is empty by mistake
	}{
		{resync.RecordQuery{}, 40},
		{resync.RecordQuery{IncludeRemoved: true}, 45},
		{resync.RecordQuery{Email: "alice@example.com"}, 9},
		{resync.RecordQuery{Email: "bob@example.com"}, 3},
		{resync.RecordQuery{Email: "bob@example.com", IncludeRemoved: true}, 6},
		{resync.RecordQuery{Email: "carol@example.com", Kind: resync.KindAccount, IncludeRemoved: true}, 3},
		{resync.RecordQuery{Email: "nobody@example.com"}, 0},
		{resync.RecordQuery{Email: storage.FoldEmail("FRANK.ÅSE@EXAMPLE.COM")}, 6},
		{resync.RecordQuery{Email: "frank.åse@example.com"}, 0},
		{resync.RecordQuery{IdentityKey: "alice-c2"}, 1},
		{resync.RecordQuery{IdentityKey: "idp-alice"}, 6},
		{resync.RecordQuery{IdentityKey: "idp-alice", Kind: resync.KindIdentity}, 3},
		{resync.RecordQuery{IdentityKey: "eng"}, 0},
		{resync.RecordQuery{Status: resync.StatusActive}, 6},
		{resync.RecordQuery{Status: resync.StatusSuspended, IncludeRemoved: true}, 6},
		{resync.RecordQuery{Status: resync.StatusNotStarted, ConnectionID: "c2"}, 2},
		{resync.RecordQuery{Status: resync.StatusDeprovisioned, Kind: resync.KindAccount}, 2},
		{resync.RecordQuery{Kind: resync.KindGroup}, 6},
		{resync.RecordQuery{Kind: resync.KindAccount, ConnectionID: "c3"}, 6},
		{resync.RecordQuery{ConnectionID: "c2"}, 14},
		{resync.RecordQuery{ConnectionID: "c9"}, 0},
		{resync.RecordQuery{Email: "dan@example.com", Status: resync.StatusActive}, 1},
		{resync.RecordQuery{Email: "erin@example.com", IdentityKey: "idp-erin", ConnectionID: "c1"}, 1},
	}
	for _, c := range cases {
		q := c.q
		q.Tenant, q.Limit = a, 1000
		want, err := e.expectSearch(q, conns, resync.StoredRecord{})
		if err != nil {
			return err
		}
		if len(want) < c.least {
			return fmt.Errorf("resynctest: the check's own data gives %d records for %+v, want at least %d", len(want), c.q, c.least)
		}
		got, err := e.search(q, resync.StoredRecord{})
		if err != nil {
			return err
		}
		if g := places(got); !slices.Equal(g, want) {
			return ruleSearch.errorf("SearchRecords(%+v) returned %v, want %v (matching records, by connection, kind, key)", c.q, g, want)
		}
		for _, r := range got {
			if r.Kind == resync.KindIdentity && q.Email != "" {
				if id := r.Record.(*resync.Identity); storage.FoldEmail(id.Email) != q.Email {
					return ruleSearch.errorf("SearchRecords(%+v) returned identity %q with email %q", c.q, r.Key, id.Email)
				}
			}
		}
	}
	// An email changed after the searches above: found by the new one
	// only (an index kept as records change, not built once).
	moved := testIdentity("alice-c1", 7)
	moved.Email = "Alice.New@example.com"
	recs, err := e.records(a, "c1", resync.KindIdentity, false)
	if err != nil {
		return err
	}
	old, _ := findRecord(recs, resync.KindIdentity, "alice-c1")
	if err := e.apply(newChangeSet(a, "c1", "cs3-c1", "run3", 2, opUpdate(moved, old.Fingerprint))); err != nil {
		return err
	}
	for _, c := range []struct {
		email string
		want  bool
	}{{"alice.new@example.com", true}, {"alice@example.com", false}} {
		got, err := e.search(resync.RecordQuery{Tenant: a, Email: c.email, ConnectionID: "c1", Limit: 100}, resync.StoredRecord{})
		if err != nil {
			return err
		}
		_, found := findRecord(got, resync.KindIdentity, "alice-c1")
		if found != c.want {
			return ruleSearch.errorf("after alice-c1's email changed to %q, SearchRecords(Email %q) found it: %v, want %v", moved.Email, c.email, found, c.want)
		}
	}

	// A page ends at its limit and the next starts after its last record.
	q := resync.RecordQuery{Tenant: a, Kind: resync.KindIdentity, IncludeRemoved: true, Limit: 4}
	first, err := e.search(q, resync.StoredRecord{})
	if err != nil {
		return err
	}
	if len(first) != 4 {
		return ruleSearch.errorf("SearchRecords(Limit 4) returned %d records of 21", len(first))
	}
	last := first[3]
	next, err := e.search(q, resync.StoredRecord{ConnectionID: last.ConnectionID, Kind: last.Kind, Key: last.Key})
	if err != nil {
		return err
	}
	want, err := e.expectSearch(q, conns, last)
	if err != nil {
		return err
	}
	if g := places(next); !slices.Equal(g, want) {
		return ruleSearch.errorf("SearchRecords after %q returned %v, want %v", place(last), g, want)
	}
	return nil
}

func checkSearchPaging(e *storeEnv) error {
	if _, ok := e.searcher(); !ok {
		return nil
	}
	a := e.tenant("a")
	conns := []string{"p1", "p2", "p3"}
	versions := map[string]int64{}
	for _, c := range conns {
		var adds []resync.Change
		for i := range 60 {
			k := fmt.Sprintf("k%03d", i*2) // even keys: odd ones are inserted between pages
			adds = append(adds, opAdd(testIdentity(k, i)), opAdd(testAccount(k, i)))
		}
		if err := e.apply(newChangeSet(a, c, "cs0-"+c, "run0", 0, adds...)); err != nil {
			return err
		}
		versions[c] = 1
	}
	original, err := e.expectSearch(resync.RecordQuery{Tenant: a, Limit: 1 << 20}, conns, resync.StoredRecord{})
	if err != nil {
		return err
	}
	var seen []string
	var after resync.StoredRecord
	inserted := map[string]bool{} // inserted after the position, so a later page must return them
	for page := 0; ; page++ {
		got, err := e.search(resync.RecordQuery{Tenant: a, Limit: 17}, after)
		if err != nil {
			return err
		}
		seen = append(seen, places(got)...)
		if len(got) < 17 {
			break
		}
		if page > 100 {
			return ruleSearch.errorf("paging with Limit 17 did not end after %d pages", page)
		}
		after = got[len(got)-1]
		after = resync.StoredRecord{ConnectionID: after.ConnectionID, Kind: after.Kind, Key: after.Key}
		// Between pages: a record before the position, one after it, and
		// a removal of a record after it.
		for _, c := range conns {
			before := fmt.Sprintf("k%03d", page*2+1)
			beyond := fmt.Sprintf("k%03d", 119-page*2)
			changes := []resync.Change{opAdd(testIdentity(before+"-"+strconv.Itoa(page), page))}
			if c > after.ConnectionID {
				changes = append(changes, opAdd(testAccount(beyond+"-new", page)))
				inserted[c+"/"+fmt.Sprint(resync.KindAccount)+"/"+beyond+"-new"] = true
			}
			if err := e.apply(newChangeSet(a, c, fmt.Sprintf("cs%d-%s", page+1, c), "run", versions[c], changes...)); err != nil {
				return err
			}
			versions[c]++
		}
	}
	index := map[string]int{}
	for i, p := range seen {
		if j, dup := index[p]; dup {
			return ruleSearch.errorf("paging returned %s twice (positions %d and %d)", p, j, i)
		}
		index[p] = i
	}
	for _, p := range original {
		if _, ok := index[p]; !ok {
			return ruleSearch.errorf("paging with inserts between pages missed %s, stored before the first page", p)
		}
	}
	for p := range inserted {
		if _, ok := index[p]; !ok {
			return ruleSearch.errorf("paging missed %s, inserted after the position of an earlier page", p)
		}
	}
	// The pages came in order.
	for i := 1; i < len(seen); i++ {
		if placeLess(seen[i], seen[i-1]) {
			return ruleSearch.errorf("paging returned %s after %s: not ordered by connection, kind, key", seen[i], seen[i-1])
		}
	}
	return nil
}

// placeLess compares two places of the suite's data (connection IDs and
// keys without "/").
func placeLess(x, y string) bool {
	px, py := strings.SplitN(x, "/", 3), strings.SplitN(y, "/", 3)
	rank := func(k string) int {
		for _, kind := range []resync.RecordKind{resync.KindIdentity, resync.KindAccount, resync.KindGroup} {
			if fmt.Sprint(kind) == k {
				return searchRank(kind)
			}
		}
		return 0
	}
	if px[0] != py[0] {
		return px[0] < py[0]
	}
	if rank(px[1]) != rank(py[1]) {
		return rank(px[1]) < rank(py[1])
	}
	return px[2] < py[2]
}

func checkSearchIsolation(e *storeEnv) error {
	if _, ok := e.searcher(); !ok {
		return nil
	}
	a, b := e.tenant("a"), e.tenant("b")
	// Same connection IDs, same people in both tenants.
	for _, t := range []string{a, b} {
		if err := e.personRecords(t, "c1", 0); err != nil {
			return err
		}
	}
	if err := e.personRecords(b, "only-b", 1); err != nil {
		return err
	}
	for _, q := range []resync.RecordQuery{
		{}, {IncludeRemoved: true}, {Email: "alice@example.com"}, {IdentityKey: "idp-alice"},
		{Status: resync.StatusActive}, {ConnectionID: "only-b"}, {Kind: resync.KindGroup},
	} {
		q.Tenant, q.Limit = a, 1000
		got, err := e.search(q, resync.StoredRecord{})
		if err != nil {
			return err
		}
		want, err := e.expectSearch(q, []string{"c1"}, resync.StoredRecord{})
		if err != nil {
			return err
		}
		if g := places(got); !slices.Equal(g, want) {
			return ruleIsolation.errorf("SearchRecords(%+v) of tenant a returned %v, want %v: another tenant's records leak", q, g, want)
		}
	}
	return nil
}

// checkSearchAfterErase checks that records a storage.Eraser erased are
// found no more, by person or otherwise, also where a search had indexed
// them before.
func checkSearchAfterErase(e *storeEnv) error {
	er, ok := e.s.(storage.Eraser)
	if _, searches := e.searcher(); !ok || !searches {
		return nil
	}
	a := e.tenant("a")
	if err := e.personRecords(a, "c1", 0); err != nil {
		return err
	}
	q := resync.RecordQuery{Tenant: a, Email: "alice@example.com", IncludeRemoved: true, Limit: 100}
	before, err := e.search(q, resync.StoredRecord{})
	if err != nil {
		return err
	}
	if len(before) == 0 {
		return fmt.Errorf("resynctest: the check's own data has no record of alice@example.com")
	}
	if _, err := er.Erase(e.ctx, a, "erasure-1", "dpo", func(r resync.Record) bool {
		email, _, _ := storage.IndexFields(r)
		return email == "alice@example.com"
	}); err != nil {
		return ruleSearch.errorf("Erase: %v", err)
	}
	for _, q := range []resync.RecordQuery{q, {Tenant: a, IncludeRemoved: true, Limit: 1000}} {
		got, err := e.search(q, resync.StoredRecord{})
		if err != nil {
			return err
		}
		for _, r := range got {
			if email, _, _ := storage.IndexFields(r.Record); email == "alice@example.com" {
				return ruleSearch.errorf("SearchRecords(%+v) returned %s, erased", q, place(r))
			}
		}
	}
	return nil
}
