// This file is how hosts read the stored state: records of a tenant across
// its connections, and a person everywhere.

package resync

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

const (
	// defaultRecordLimit is a page of Engine.Records when
	// RecordQuery.Limit is zero; maxRecordLimit the largest page.
	defaultRecordLimit = 100
	maxRecordLimit     = 1000
	// personTerms bounds the emails and keys Engine.Person follows.
	personTerms = 64
)

// recordSearcher is the method set of storage.RecordSearcher, which
// documents it; the engine finds it on its Store by type assertion.
type recordSearcher interface {
	SearchRecords(ctx context.Context, q RecordQuery, after StoredRecord) ([]StoredRecord, error)
}

// Records returns a page of the tenant's records matching q (q.Tenant is
// set from tenant), across its connections, ordered by connection ID, kind
// and key, and the cursor of the next page ("" after the last one). Pass
// that cursor as q.Cursor, with the same filters, for the next page. Each
// record says its connection (StoredRecord.ConnectionID and Connection:
// nil for a connection the ConnectionSource no longer lists) and whether it
// is still active (StoredRecord.Active).
//
// It needs ActionViewRecords. Malformed queries (an unknown kind, type or
// status, a limit out of range, a cursor Records did not return) fail
// with ErrInvalidRequest.
//
// With a Store implementing storage.RecordSearcher (memstore, stores/sqlite
// and stores/postgres do), the filters are answered by the store's
// indexes. With another Store, the engine reads every record of the
// tenant's listed connections and filters them itself: the same results,
// except that records of deleted connections cannot be found.
func (e *Engine) Records(ctx context.Context, tenant string, by Principal, q RecordQuery) ([]StoredRecord, string, error) {
	if err := needTenant("Records", tenant); err != nil {
		return nil, "", err
	}
	if err := e.authorize(ctx, tenant, by, ActionViewRecords); err != nil {
		return nil, "", err
	}
	q.Tenant = tenant
	if err := validateRecordQuery(q); err != nil {
		return nil, "", err
	}
	limit := q.Limit
	if limit == 0 {
		limit = defaultRecordLimit
	}
	after, err := decodeCursor(q.Cursor)
	if err != nil {
		return nil, "", err
	}
	conns, err := e.connections(ctx, tenant)
	if err != nil {
		return nil, "", err
	}
	q.Email = foldEmail(q.Email)
	page, err := e.searchRecords(ctx, q, conns, after, limit+1)
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(page) > limit {
		page = page[:limit]
		next = encodeCursor(page[limit-1])
	}
	annotate(page, conns)
	return page, next, nil
}

// Person answers "is this person still active anywhere?" in one call: it
// returns every identity and account of the tenant that belongs to
// person (an email address, or the key of one of the person's identities),
// in every connection, removed ones included, ordered by connection ID,
// kind and key. A record belongs to the person when:
//   - an identity's Key is person, or its Email is person (ignoring the
//     case of ASCII letters), or
//   - an account's OwnerEmail is person (ignoring case) or its ExternalID
//     is person (the account's owner at their identity provider),
//
// and, one step further, when the record matches in the same way the
// email or key of an identity found so: the accounts of an IdP user found
// by key are found by the user's email too.
//
// Each record says its status (the Record's Status; RemovedAt for a
// removed one) and its connection's (StoredRecord.Connection: nil when the
// ConnectionSource no longer lists it, Disabled when disabled). The person
// is still active somewhere if and only if some record has
// StoredRecord.Active set; a record of a deleted or disabled connection
// never has. It needs ActionViewRecords.
func (e *Engine) Person(ctx context.Context, tenant string, by Principal, person string) ([]StoredRecord, error) {
	if err := needTenant("Person", tenant); err != nil {
		return nil, err
	}
	person = strings.TrimSpace(person)
	if person == "" {
		return nil, invalidArg("Person needs an email or an identity key")
	}
	if err := e.authorize(ctx, tenant, by, ActionViewRecords); err != nil {
		return nil, err
	}
	conns, err := e.connections(ctx, tenant)
	if err != nil {
		return nil, err
	}
	type term struct{ email, key string }
	seen := map[term]bool{}
	found := map[recordPos]StoredRecord{}
	var queue []term
	push := func(t term) {
		if (t.email != "" || t.key != "") && !seen[t] && len(seen) < personTerms {
			seen[t] = true
			queue = append(queue, t)
		}
	}
	push(term{email: foldEmail(person)})
	push(term{key: person})
	for round := 0; round < 2 && len(queue) > 0; round++ {
		terms := queue
		queue = nil
		for _, t := range terms {
			q := RecordQuery{Tenant: tenant, Email: t.email, IdentityKey: t.key, IncludeRemoved: true}
			recs, err := e.searchAll(ctx, q, conns)
			if err != nil {
				return nil, err
			}
			for _, r := range recs {
				if r.Kind != KindIdentity && r.Kind != KindAccount {
					continue
				}
				found[posOf(r)] = r
				if id, ok := r.Record.(*Identity); ok && round == 0 {
					push(term{email: foldEmail(id.Email)})
					push(term{key: id.Key})
				}
			}
		}
	}
	out := make([]StoredRecord, 0, len(found))
	for _, r := range found {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b StoredRecord) int { return comparePos(posOf(a), posOf(b)) })
	annotate(out, conns)
	return out, nil
}

// connections lists the tenant's connections by ID.
func (e *Engine) connections(ctx context.Context, tenant string) (map[string]Connection, error) {
	list, err := e.cfg.Connections.Connections(ctx, tenant)
	if err != nil {
		return nil, fmt.Errorf("resync: listing connections of tenant %q: %w", tenant, err)
	}
	m := make(map[string]Connection, len(list))
	for _, c := range list {
		if c.Tenant == tenant || c.Tenant == "" {
			m[c.ID] = c
		}
	}
	return m, nil
}

// searchAll returns every record matching q, reading page after page.
func (e *Engine) searchAll(ctx context.Context, q RecordQuery, conns map[string]Connection) ([]StoredRecord, error) {
	var out []StoredRecord
	var after StoredRecord
	for {
		page, err := e.searchRecords(ctx, q, conns, after, maxRecordLimit)
		if err != nil {
			return nil, err
		}
		out = append(out, page...)
		if len(page) < maxRecordLimit {
			return out, nil
		}
		after = page[len(page)-1]
	}
}

// searchRecords returns at most n records matching q (Email folded) after
// the position of after, in order. A ConnectionType filter is resolved
// here, into the connections of that type; the Store sees one connection
// or all of them.
func (e *Engine) searchRecords(ctx context.Context, q RecordQuery, conns map[string]Connection, after StoredRecord, n int) ([]StoredRecord, error) {
	q.Cursor, q.Limit = "", n
	var ids []string // nil: every connection
	switch {
	case !isZero(q.ConnectionType):
		for id, c := range conns {
			if c.Type == q.ConnectionType && (q.ConnectionID == "" || q.ConnectionID == id) {
				ids = append(ids, id)
			}
		}
		if len(ids) == 0 {
			return nil, nil
		}
		slices.Sort(ids)
	case q.ConnectionID != "":
		ids = []string{q.ConnectionID}
	}
	var zeroType ConnectionType
	q.ConnectionType = zeroType
	s := ungated(e.cfg.Store)
	if err := live(ctx, "searching records of tenant %q", q.Tenant); err != nil {
		return nil, err
	}
	rs, ok := s.(recordSearcher)
	if !ok {
		if ids == nil {
			for id := range conns {
				ids = append(ids, id)
			}
			slices.Sort(ids)
		}
		return e.scanRecords(ctx, q, ids, after, n)
	}
	if ids == nil {
		q.ConnectionID = ""
		recs, err := rs.SearchRecords(ctx, q, after)
		return recs, wrap(err, "searching records of tenant %q", q.Tenant)
	}
	var out []StoredRecord
	for _, id := range ids {
		if id < after.ConnectionID {
			continue
		}
		from := after
		if id != after.ConnectionID {
			from = StoredRecord{}
		}
		q.ConnectionID, q.Limit = id, n-len(out)
		recs, err := rs.SearchRecords(ctx, q, from)
		if err != nil {
			return nil, wrap(err, "searching records of connection %q of tenant %q", id, q.Tenant)
		}
		out = append(out, recs...)
		if len(out) >= n {
			break
		}
	}
	return out, nil
}

// scanRecords is searchRecords for a Store without storage.RecordSearcher:
// it reads the listed connections' records and filters them.
func (e *Engine) scanRecords(ctx context.Context, q RecordQuery, ids []string, after StoredRecord, n int) ([]StoredRecord, error) {
	from := posOf(after)
	var out []StoredRecord
	for _, id := range ids {
		if id < after.ConnectionID {
			continue
		}
		recs, err := e.cfg.Store.Records(ctx, RecordQuery{Tenant: q.Tenant, ConnectionID: id, Kind: q.Kind, IncludeRemoved: q.IncludeRemoved})
		if err != nil {
			return nil, err
		}
		slices.SortFunc(recs, func(a, b StoredRecord) int { return comparePos(posOf(a), posOf(b)) })
		for _, r := range recs {
			if (after.ConnectionID != "" && comparePos(posOf(r), from) <= 0) || !matchRecord(q, r) {
				continue
			}
			out = append(out, r)
			if len(out) == n {
				return out, nil
			}
		}
	}
	return out, nil
}

// matchRecord reports whether r matches q's person and status filters
// (q.Email folded).
func matchRecord(q RecordQuery, r StoredRecord) bool {
	email, key, status := indexFields(r.Record)
	return (q.Email == "" || email == q.Email) &&
		(q.IdentityKey == "" || key == q.IdentityKey) &&
		(q.Status == "" || status == q.Status)
}

// indexFields returns what Engine.Records filters a record by: its folded
// email (an identity's Email, an account's OwnerEmail), its identity key
// (an identity's Key, an account's ExternalID) and its status. Groups
// have none. storage.IndexFields is the same for stores.
func indexFields(r Record) (email, identityKey string, status LifecycleStatus) {
	switch r := r.(type) {
	case *Identity:
		return foldEmail(r.Email), r.Key, r.Status
	case *Account:
		return foldEmail(r.OwnerEmail), r.ExternalID, r.Status
	}
	return "", "", ""
}

// foldEmail lowers the ASCII letters of an email address, as the stores'
// indexes (and SQL's lower() in the C locale) do; other characters stay.
// storage.FoldEmail is the same for stores.
func foldEmail(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// annotate sets each record's Connection and Active from the tenant's
// connections as listed now.
func annotate(recs []StoredRecord, conns map[string]Connection) {
	for i := range recs {
		r := &recs[i]
		r.Connection, r.Active = nil, false
		if c, ok := conns[r.ConnectionID]; ok {
			c.Settings = nil
			r.Connection = &c
		}
		_, _, status := indexFields(r.Record)
		r.Active = r.Connection != nil && !r.Connection.Disabled && r.RemovedAt.IsZero() && status == StatusActive
	}
}

func validateRecordQuery(q RecordQuery) error {
	switch {
	case q.Limit < 0 || q.Limit > maxRecordLimit:
		return invalidArg("Records: limit %d is not between 0 and %d", q.Limit, maxRecordLimit)
	case !isZero(q.Kind) && kindRank(q.Kind) == 0:
		return invalidArg("Records: unknown kind %v", q.Kind)
	case !isZero(q.ConnectionType) && !q.ConnectionType.Valid():
		return invalidArg("Records: unknown connection type %v", q.ConnectionType)
	case q.Status != "" && !q.Status.valid():
		return invalidArg("Records: status %q is not %s", q.Status, statusValues)
	}
	return nil
}

func isZero[T comparable](v T) bool {
	var zero T
	return v == zero
}

// recordPos is a record's place in the order of Engine.Records.
type recordPos struct {
	conn string
	kind int
	key  string
}

func posOf(r StoredRecord) recordPos { return recordPos{r.ConnectionID, kindRank(r.Kind), r.Key} }

func comparePos(a, b recordPos) int {
	if c := cmp.Compare(a.conn, b.conn); c != 0 {
		return c
	}
	if c := cmp.Compare(a.kind, b.kind); c != 0 {
		return c
	}
	return cmp.Compare(a.key, b.key)
}

// recordKinds are the kinds in the order of Engine.Records (and of the
// stores' kind codes).
var recordKinds = []RecordKind{KindIdentity, KindAccount, KindGroup}

// kindRank returns 1, 2 and 3 for identities, accounts and groups, 0 for
// anything else.
func kindRank(k RecordKind) int { return slices.Index(recordKinds, k) + 1 }

// A cursor is the position of the last record of a page: its connection
// ID, kind and key, as a JSON array in URL-safe base64. Hosts treat it as
// opaque.
func encodeCursor(r StoredRecord) string {
	b, _ := json.Marshal([]string{r.ConnectionID, fmt.Sprint(r.Kind), r.Key})
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string) (StoredRecord, error) {
	if s == "" {
		return StoredRecord{}, nil
	}
	bad := invalidArg("Records: cursor %q was not returned by Records", truncate(s, 40))
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return StoredRecord{}, bad
	}
	var parts []string
	if json.Unmarshal(b, &parts) != nil || len(parts) != 3 || parts[0] == "" || parts[2] == "" {
		return StoredRecord{}, bad
	}
	i := slices.IndexFunc(recordKinds, func(k RecordKind) bool { return fmt.Sprint(k) == parts[1] })
	if i < 0 {
		return StoredRecord{}, bad
	}
	return StoredRecord{ConnectionID: parts[0], Kind: recordKinds[i], Key: parts[2]}, nil
}
