package okta_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openresync/resync/resynctest"
)

// The fake org below speaks Okta's management API as its reference
// documents it:
//
//   - List users, GET /api/v1/users with limit, after and filter (without
//     a filter DEPROVISIONED users are left out; a filter on status lists
//     them):
//     https://developer.okta.com/docs/api/openapi/okta-management/management/tag/User/#tag/User/operation/listUsers
//   - List groups, GET /api/v1/groups, and list group members, GET
//     /api/v1/groups/{groupId}/users:
//     https://developer.okta.com/docs/api/openapi/okta-management/management/tag/Group/#tag/Group/operation/listGroups
//     https://developer.okta.com/docs/api/openapi/okta-management/management/tag/Group/#tag/Group/operation/listGroupUsers
//   - List factors, GET /api/v1/users/{userId}/factors:
//     https://developer.okta.com/docs/api/openapi/okta-management/management/tag/UserFactor/#tag/UserFactor/operation/listFactors
//   - Pagination by Link headers (rel="self", rel="next", the after
//     cursor): https://developer.okta.com/docs/api/#pagination
//   - X-Rate-Limit-Limit, X-Rate-Limit-Remaining and X-Rate-Limit-Reset
//     (UTC epoch seconds) on every response, 429 with errorCode E0000047
//     past the limit:
//     https://developer.okta.com/docs/reference/rl-best-practices/ and
//     https://developer.okta.com/docs/reference/rate-limits/
//   - Error bodies (errorCode, errorSummary, errorLink, errorId,
//     errorCauses), E0000011 for an invalid token:
//     https://developer.okta.com/docs/reference/error-codes/
//   - Authorization: SSWS <API token>, or Bearer <OAuth 2.0 access token>:
//     https://developer.okta.com/docs/guides/create-an-api-token/main/ and
//     https://developer.okta.com/docs/guides/implement-oauth-for-okta-serviceapp/main/

const (
	testToken  = "00okta-api-token-5Jq8zR2w"
	testAccess = "eyJraWQiOi-okta-access-token-Xy"
)

type fakeUser struct {
	ID, Status, Login, Email, First, Last string
	Factors                               []string // factor statuses
}

type fakeGroup struct {
	ID, Name string
	Members  []string
}

// fault is a scripted failure of the requests a predicate matches.
type fault struct {
	match  func(r *http.Request) bool
	times  int
	status int
	header http.Header
	body   string
}

type oktaServer struct {
	*httptest.Server
	mu     sync.Mutex
	users  map[string]*fakeUser
	groups map[string]*fakeGroup
	faults []*fault
	// requests counts requests by path and after cursor.
	requests map[string]int
	total    int
	// rate limit: limit per window of window length.
	limit     int
	window    time.Duration
	windowEnd time.Time
	used      int
	maxLimit  int // the largest limit honoured on users
}

func newOktaServer(t testing.TB) *oktaServer {
	s := &oktaServer{users: map[string]*fakeUser{}, groups: map[string]*fakeGroup{}, requests: map[string]int{},
		limit: 100000, window: time.Minute, maxLimit: 200}
	s.Server = httptest.NewTLSServer(http.HandlerFunc(s.serve))
	t.Cleanup(func() {
		s.Client().CloseIdleConnections()
		s.Close()
	})
	return s
}

func (s *oktaServer) orgURL() string { return s.URL }

func (s *oktaServer) addUser(id, status string, factors ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users[id] = &fakeUser{ID: id, Status: status, Login: id + "@acme.example", Email: id + "@acme.example",
		First: "First" + id, Last: "Last", Factors: factors}
}

func (s *oktaServer) addGroup(id, name string, members ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.groups[id] = &fakeGroup{ID: id, Name: name, Members: members}
}

func (s *oktaServer) setStatus(id, status string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users[id].Status = status
}

func (s *oktaServer) deleteUser(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.users, id)
	for _, g := range s.groups {
		g.Members = slices.DeleteFunc(g.Members, func(m string) bool { return m == id })
	}
}

func (s *oktaServer) addFault(f *fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, f)
}

// Fail is resynctest's fault hook: it fails the next requests for the
// first users page.
func (s *oktaServer) Fail(pf resynctest.ProviderFault) {
	times := pf.Times
	if times == 0 {
		times = 1
	}
	body := pf.Body
	if body == "" {
		body = oktaError(pf.Status)
	}
	s.addFault(&fault{match: func(r *http.Request) bool {
		return r.URL.Path == "/api/v1/users" && r.URL.Query().Get("after") == ""
	}, times: times, status: pf.Status, header: pf.Header, body: body})
}

// Requests is the number of requests served.
func (s *oktaServer) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.total
}

// requestsFor is the number of requests for a path and after cursor.
func (s *oktaServer) requestsFor(path, after string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests[path+"?after="+after]
}

func oktaError(status int) string {
	code, summary := "E0000009", "Internal Server Error"
	switch status {
	case http.StatusUnauthorized:
		code, summary = "E0000011", "Invalid token provided"
	case http.StatusForbidden:
		code, summary = "E0000006", "You do not have permission to perform the requested action"
	case http.StatusTooManyRequests:
		code, summary = "E0000047", "API call exceeded rate limit due to too many requests."
	case http.StatusServiceUnavailable:
		code, summary = "E0000010", "Service is in read only mode"
	}
	return fmt.Sprintf(`{"errorCode":%q,"errorSummary":%q,"errorLink":%q,"errorId":"oae%d","errorCauses":[]}`, code, summary, code, status)
}

func (s *oktaServer) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.total++
	s.requests[r.URL.Path+"?after="+r.URL.Query().Get("after")]++
	now := time.Now()
	if now.After(s.windowEnd) {
		s.windowEnd, s.used = now.Add(s.window), 0
	}
	s.used++
	remaining := max(s.limit-s.used, 0)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Rate-Limit-Limit", strconv.Itoa(s.limit))
	h.Set("X-Rate-Limit-Remaining", strconv.Itoa(remaining))
	h.Set("X-Rate-Limit-Reset", strconv.FormatInt(s.windowEnd.Unix()+1, 10)) // whole seconds, rounded up
	for _, f := range s.faults {
		if f.times > 0 && f.match(r) {
			f.times--
			for k, vs := range f.header {
				for _, v := range vs {
					h.Set(k, v)
				}
			}
			w.WriteHeader(f.status)
			_, _ = w.Write([]byte(f.body))
			return
		}
	}
	if a := r.Header.Get("Authorization"); a != "SSWS "+testToken && a != "Bearer "+testAccess {
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(oktaError(http.StatusUnauthorized)))
		return
	}
	if s.used > s.limit {
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = w.Write([]byte(oktaError(http.StatusTooManyRequests)))
		return
	}
	q := r.URL.Query()
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/api/v1/"), "/")
	switch {
	case len(parts) == 1 && parts[0] == "users":
		statuses, ok := parseStatusFilter(q.Get("filter"))
		if !ok {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"errorCode":"E0000031","errorSummary":"Invalid search criteria.","errorLink":"E0000031","errorId":"oae31","errorCauses":[]}`)
			return
		}
		var ids []string
		for id, u := range s.users {
			if statuses == nil && u.Status != "DEPROVISIONED" || statuses[u.Status] {
				ids = append(ids, id)
			}
		}
		page, next := s.pageOf(ids, q, s.maxLimit)
		out := []any{}
		for _, id := range page {
			out = append(out, userJSON(s.users[id]))
		}
		s.writeList(w, r, out, next)
	case len(parts) == 3 && parts[0] == "users" && parts[2] == "factors":
		u, ok := s.users[parts[1]]
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprintf(w, `{"errorCode":"E0000007","errorSummary":"Not found: Resource not found: %s (User)","errorLink":"E0000007","errorId":"oae7","errorCauses":[]}`, parts[1])
			return
		}
		out := []any{}
		for i, st := range u.Factors {
			out = append(out, map[string]any{"id": fmt.Sprintf("mbl%d", i), "factorType": "token:software:totp",
				"provider": "GOOGLE", "status": st})
		}
		_ = json.NewEncoder(w).Encode(out)
	case len(parts) == 1 && parts[0] == "groups":
		var ids []string
		for id := range s.groups {
			ids = append(ids, id)
		}
		page, next := s.pageOf(ids, q, 10000)
		out := []any{}
		for _, id := range page {
			g := s.groups[id]
			out = append(out, map[string]any{"id": g.ID, "type": "OKTA_GROUP",
				"profile": map[string]any{"name": g.Name, "description": ""}})
		}
		s.writeList(w, r, out, next)
	case len(parts) == 3 && parts[0] == "groups" && parts[2] == "users":
		g, ok := s.groups[parts[1]]
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"errorCode":"E0000007","errorSummary":"Not found: Resource not found (UserGroup)","errorLink":"E0000007","errorId":"oae7","errorCauses":[]}`)
			return
		}
		page, next := s.pageOf(g.Members, q, 1000)
		out := []any{}
		for _, id := range page {
			if u := s.users[id]; u != nil {
				out = append(out, userJSON(u))
			}
		}
		s.writeList(w, r, out, next)
	default:
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"errorCode":"E0000022","errorSummary":"The endpoint does not support the provided HTTP method","errorLink":"E0000022","errorId":"oae22","errorCauses":[]}`)
	}
}

// parseStatusFilter reads a filter of `status eq "X"` terms joined by
// "or"; nil (all but DEPROVISIONED) for no filter.
func parseStatusFilter(f string) (map[string]bool, bool) {
	if f == "" {
		return nil, true
	}
	out := map[string]bool{}
	for term := range strings.SplitSeq(f, " or ") {
		v, ok := strings.CutPrefix(strings.TrimSpace(term), "status eq ")
		if !ok || len(v) < 3 || v[0] != '"' || v[len(v)-1] != '"' {
			return nil, false
		}
		out[v[1:len(v)-1]] = true
	}
	return out, true
}

// pageOf sorts ids and returns the page after the after cursor (the last
// id of the previous page, as Okta's cursors are), and the next cursor.
func (s *oktaServer) pageOf(ids []string, q url.Values, maxLimit int) ([]string, string) {
	ids = slices.Clone(ids)
	slices.Sort(ids)
	limit, err := strconv.Atoi(q.Get("limit"))
	if err != nil || limit <= 0 || limit > maxLimit {
		limit = maxLimit
	}
	after := q.Get("after")
	from, _ := slices.BinarySearch(ids, after)
	if after != "" && from < len(ids) && ids[from] == after {
		from++
	}
	end := min(from+limit, len(ids))
	page := ids[from:end]
	if end < len(ids) && len(page) > 0 {
		return page, page[len(page)-1]
	}
	return page, ""
}

func (s *oktaServer) writeList(w http.ResponseWriter, r *http.Request, out []any, next string) {
	self := *r.URL
	self.Scheme, self.Host = "https", r.Host
	w.Header().Add("Link", "<"+self.String()+`>; rel="self"`)
	if next != "" {
		q := r.URL.Query()
		q.Set("after", next)
		n := self
		n.RawQuery = q.Encode()
		w.Header().Add("Link", "<"+n.String()+`>; rel="next"`)
	}
	_ = json.NewEncoder(w).Encode(out)
}

func userJSON(u *fakeUser) map[string]any {
	return map[string]any{
		"id": u.ID, "status": u.Status, "created": "2013-07-02T21:36:25.344Z", "activated": nil,
		"statusChanged": nil, "lastLogin": "2026-11-30T09:12:00.000Z", "lastUpdated": "2013-07-02T21:36:25.344Z",
		"passwordChanged": "2013-07-02T21:36:25.344Z", "type": map[string]any{"id": "oty1"},
		"profile": map[string]any{"firstName": u.First, "lastName": u.Last, "email": u.Email, "login": u.Login,
			"mobilePhone": nil, "title": "Engineer", "department": "R&D", "employeeNumber": "E-" + u.ID},
		"credentials": map[string]any{"provider": map[string]any{"type": "OKTA", "name": "OKTA"}},
		"_links":      map[string]any{"self": map[string]any{"href": "https://acme.okta.com/api/v1/users/" + u.ID}},
	}
}
