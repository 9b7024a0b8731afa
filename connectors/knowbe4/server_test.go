package knowbe4_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/openresync/resync/resynctest"
)

// kb4 is a KnowBe4 Reporting API server as its reference documents it
// (https://developer.knowbe4.com/): "Base URL", "Authentication" (a bearer
// API key), "Pagination" (page and per_page, at most 500, default 100, no
// totals or links: a short page is the last), "Users" (GET /v1/users with
// status=active|archived), "Groups" (GET /v1/groups), "Training" (GET
// /v1/training/enrollments), "Rate Limiting" (429 once the daily or burst
// limit is spent) and "Errors" (401 for a bad key, JSON message bodies).
type kb4 struct {
	*httptest.Server
	token string

	mu          sync.Mutex
	users       map[int64]map[string]any
	groups      map[int64]map[string]any
	enrollments map[int64]map[string]any
	faults      []resynctest.ProviderFault
	hits        map[string]int // by path?status&page
	requests    int
}

func newKB4(t testing.TB) *kb4 {
	s := &kb4{token: "kb4-test-token-7f3a", users: map[int64]map[string]any{}, groups: map[int64]map[string]any{},
		enrollments: map[int64]map[string]any{}, hits: map[string]int{}}
	s.Server = httptest.NewTLSServer(http.HandlerFunc(s.serve))
	t.Cleanup(func() {
		s.Client().CloseIdleConnections()
		s.Close()
	})
	return s
}

func (s *kb4) baseURL() string { return s.URL + "/v1/" }

// addUser adds user n (ID 1000+n) in the given groups; archived users
// have status "archived" and an archived_at.
func (s *kb4) addUser(n int, archived bool, groups ...int64) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := int64(1000 + n)
	u := map[string]any{
		"id": id, "employee_number": fmt.Sprintf("E%05d", n), "first_name": "User", "last_name": strconv.Itoa(n),
		"job_title": "Engineer", "email": fmt.Sprintf("user%d@example.com", n), "phish_prone_percentage": 14.2,
		"location": "Office A", "division": "R&D", "manager_name": nil, "manager_email": "boss@example.com",
		"provisioning_managed": false, "provisioning_guid": nil, "groups": groups, "current_risk_score": 45.7,
		"aliases": []string{}, "joined_on": "2025-04-02T15:02:38.000Z", "last_sign_in": "2026-11-30T08:12:00.000Z",
		"status": "active", "organization": "Example", "department": "Engineering", "language": "English - United States",
		"employee_start_date": "2025-04-01T00:00:00.000Z", "archived_at": nil,
	}
	if archived {
		u["status"], u["archived_at"] = "archived", "2026-10-01T09:00:00.000Z"
	}
	s.users[id] = u
	return id
}

func (s *kb4) addGroup(id int64, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.groups[id] = map[string]any{"id": id, "name": name, "group_type": "console_group", "provisioning_guid": nil,
		"member_count": 0, "current_risk_score": 42.5, "status": "active"}
}

// enroll adds an enrollment of user in campaign's module; completed is
// its completion time or "".
func (s *kb4) enroll(id, user int64, campaign, module, status, completed string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var done any
	if completed != "" {
		done = completed
	}
	s.enrollments[id] = map[string]any{"enrollment_id": id, "content_type": "Training Module", "module_name": module,
		"user":          map[string]any{"id": user, "first_name": "User", "last_name": "x", "email": "x@example.com"},
		"campaign_name": campaign, "enrollment_date": "2026-01-05T10:00:00.000Z", "start_date": nil,
		"completion_date": done, "status": status, "time_spent": 0, "policy_acknowledged": false}
}

func (s *kb4) update(id int64, f func(u map[string]any)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s.users[id])
}

func (s *kb4) remove(id int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.users, id)
}

// Fail scripts a failure (resynctest.ConnectorOptions.Fail): the next
// f.Times requests for page f.Page, of any listing, answer f.Status.
func (s *kb4) Fail(f resynctest.ProviderFault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f.Times == 0 {
		f.Times = 1
	}
	s.faults = append(s.faults, f)
}

// Requests counts the requests served.
func (s *kb4) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// Hits counts the requests for one page: "users?status=active&page=2".
func (s *kb4) Hits(page string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits[page]
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (s *kb4) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests++
	q := r.URL.Query()
	page, _ := strconv.Atoi(q.Get("page"))
	if page < 1 {
		page = 1
	}
	size, _ := strconv.Atoi(q.Get("per_page"))
	if size < 1 {
		size = 100
	}
	size = min(size, 500)
	path := strings.TrimPrefix(r.URL.Path, "/v1/")
	hit := path + "?"
	if st := q.Get("status"); st != "" {
		hit += "status=" + st + "&"
	}
	hit += "page=" + strconv.Itoa(page)
	s.hits[hit]++

	if r.Header.Get("Authorization") != "Bearer "+s.token {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"message": "Unauthorized: the API key is missing or wrong"})
		return
	}
	for i, f := range s.faults {
		if f.Page != page {
			continue
		}
		if f.Times--; f.Times == 0 {
			s.faults = slices.Delete(s.faults, i, i+1)
		} else {
			s.faults[i] = f
		}
		for k, vs := range f.Header {
			w.Header()[k] = vs
		}
		if f.Body != "" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(f.Status)
			_, _ = w.Write([]byte(f.Body))
			return
		}
		writeJSON(w, f.Status, map[string]any{"message": http.StatusText(f.Status)})
		return
	}

	var all map[int64]map[string]any
	switch path {
	case "users":
		all = map[int64]map[string]any{}
		want := q.Get("status")
		for id, u := range s.users {
			if want == "" || u["status"] == want {
				all[id] = u
			}
		}
	case "groups":
		all = s.groups
	case "training/enrollments":
		all = s.enrollments
	default:
		writeJSON(w, http.StatusNotFound, map[string]any{"message": "Not Found"})
		return
	}
	ids := make([]int64, 0, len(all))
	for id := range all {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	from := min((page-1)*size, len(ids))
	to := min(from+size, len(ids))
	out := make([]map[string]any, 0, to-from)
	for _, id := range ids[from:to] {
		out = append(out, all[id])
	}
	writeJSON(w, http.StatusOK, out)
}
