package datadog_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/openresync/resync/resynctest"
)

// ddServer is a local stand-in for Datadog's API v2 users list. It follows:
//
//   - List all users: https://docs.datadoghq.com/api/latest/users/#list-all-users
//     (GET /api/v2/users; page[size] at most 100, page[number] from 0; a
//     JSON:API document with data, included roles and
//     meta.page.total_count; status Active, Pending or Disabled;
//     relationships.roles)
//   - Authentication: https://docs.datadoghq.com/api/latest/authentication/
//     (DD-API-KEY and DD-APPLICATION-KEY headers; 403 {"errors":["Forbidden"]})
//   - Rate limits: https://docs.datadoghq.com/api/latest/rate-limits/
//     (X-RateLimit-Limit, -Period, -Remaining, -Reset in seconds, -Name on
//     every response; 429 when the period's quota is spent)
type ddServer struct {
	*httptest.Server
	t testing.TB

	mu       sync.Mutex
	users    []map[string]any
	roles    map[string]string // id → name
	apiKey   string
	appKey   string
	requests int
	perPage  map[int]int // requests by page[number]
	faults   []resynctest.ProviderFault
	onPage   func(n int) // called (lock held) before a page is served
	// quota: limit requests per period; the window starts at the first
	// request of a period.
	limit       int
	period      time.Duration
	windowStart time.Time
	used        int
	throttled   int // 429s answered for the quota
}

const (
	testAPIKey = "dd-api-0123456789abcdef0123456789abcdef"
	testAppKey = "dd-app-0123456789abcdef0123456789abcdef01234567"
)

func newDDServer(t testing.TB) *ddServer {
	t.Helper()
	s := &ddServer{t: t, apiKey: testAPIKey, appKey: testAppKey, perPage: map[int]int{},
		roles: map[string]string{
			"a1b2c3d4-0000-11ee-8000-000000000001": "Datadog Admin Role",
			"a1b2c3d4-0000-11ee-8000-000000000002": "Datadog Standard Role",
			"a1b2c3d4-0000-11ee-8000-000000000003": "Datadog Read Only Role",
		},
		limit: 1000, period: time.Minute}
	s.Server = httptest.NewTLSServer(http.HandlerFunc(s.serve))
	t.Cleanup(func() {
		s.Close()
		s.Client().CloseIdleConnections()
	})
	return s
}

func userID(i int) string { return fmt.Sprintf("6b2f5a3c-%04x-11ee-9a00-%012x", i%0x10000, i) }

// addUser adds a user; i decides its id, email and the role it has.
func (s *ddServer) addUser(i int, mutate ...func(u map[string]any)) string {
	id := userID(i)
	role := []string{"a1b2c3d4-0000-11ee-8000-000000000001", "a1b2c3d4-0000-11ee-8000-000000000002", "a1b2c3d4-0000-11ee-8000-000000000003"}[i%3]
	u := map[string]any{
		"type": "users", "id": id,
		"attributes": map[string]any{
			"name": "User " + strconv.Itoa(i), "handle": fmt.Sprintf("user%d@example.com", i), "email": fmt.Sprintf("user%d@example.com", i),
			"created_at": "2025-01-15T09:30:00.123456+00:00", "modified_at": "2025-06-01T10:00:00+00:00",
			"disabled": false, "verified": true, "service_account": false, "status": "Active",
			"icon": "https://secure.gravatar.com/avatar/x", "title": nil, "mfa_enabled": i%2 == 0,
		},
		"relationships": map[string]any{
			"roles": map[string]any{"data": []any{map[string]any{"type": "roles", "id": role}}},
			"org":   map[string]any{"data": map[string]any{"type": "orgs", "id": "0f0e0d0c-0000-11ee-8000-00000000000a"}},
		},
	}
	for _, m := range mutate {
		m(u)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users = append(s.users, u)
	return id
}

func attrs(u map[string]any) map[string]any { return u["attributes"].(map[string]any) }

func (s *ddServer) setUser(id string, mutate func(u map[string]any)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, u := range s.users {
		if u["id"] == id {
			mutate(u)
			return
		}
	}
	s.t.Fatalf("no user %s", id)
}

func (s *ddServer) removeUser(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users = slices.DeleteFunc(s.users, func(u map[string]any) bool { return u["id"] == id })
}

// Fail makes the next requests for page f.Page (1-based, as resynctest
// counts) fail as f says.
func (s *ddServer) Fail(f resynctest.ProviderFault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f.Times == 0 {
		f.Times = 1
	}
	s.faults = append(s.faults, f)
}

// Requests counts the requests to the users list.
func (s *ddServer) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

func (s *ddServer) writeErrors(w http.ResponseWriter, status int, msgs ...string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"errors": msgs})
}

func (s *ddServer) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests++
	if r.URL.Path != "/api/v2/users" || r.Method != http.MethodGet {
		s.writeErrors(w, http.StatusNotFound, "Not found")
		return
	}
	q := r.URL.Query()
	size, number := 10, 0
	if v := q.Get("page[size]"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			s.writeErrors(w, http.StatusBadRequest, "page[size] must be between 1 and 100")
			return
		}
		size = n
	}
	if v := q.Get("page[number]"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			s.writeErrors(w, http.StatusBadRequest, "invalid page[number]")
			return
		}
		number = n
	}
	s.perPage[number]++

	// The rate limit, sent on every response.
	now := time.Now()
	if s.windowStart.IsZero() || now.Sub(s.windowStart) >= s.period {
		s.windowStart, s.used = now, 0
	}
	s.used++
	reset := max(int((s.period-now.Sub(s.windowStart)+time.Second-1)/time.Second), 1)
	h := w.Header()
	h.Set("X-RateLimit-Limit", strconv.Itoa(s.limit))
	h.Set("X-RateLimit-Period", strconv.Itoa(int(s.period/time.Second)))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(max(s.limit-s.used, 0)))
	h.Set("X-RateLimit-Reset", strconv.Itoa(reset))
	h.Set("X-RateLimit-Name", "user_list")
	if s.used > s.limit {
		s.throttled++
		s.writeErrors(w, http.StatusTooManyRequests, "Too many requests")
		return
	}

	for i := range s.faults {
		f := &s.faults[i]
		if f.Times > 0 && f.Page == number+1 {
			f.Times--
			for k, v := range f.Header {
				h[k] = v
			}
			if f.Body != "" {
				h.Set("Content-Type", "application/json")
				w.WriteHeader(f.Status)
				_, _ = w.Write([]byte(f.Body))
				return
			}
			s.writeErrors(w, f.Status, http.StatusText(f.Status))
			return
		}
	}
	if r.Header.Get("DD-API-KEY") != s.apiKey || r.Header.Get("DD-APPLICATION-KEY") != s.appKey {
		s.writeErrors(w, http.StatusForbidden, "Forbidden")
		return
	}
	if s.onPage != nil {
		s.onPage(number)
	}
	data := []any{}
	included := []any{}
	seenRole := map[string]bool{}
	for i := number * size; i < min((number+1)*size, len(s.users)); i++ {
		u := s.users[i]
		data = append(data, u)
		for _, rd := range u["relationships"].(map[string]any)["roles"].(map[string]any)["data"].([]any) {
			id := rd.(map[string]any)["id"].(string)
			if name, ok := s.roles[id]; ok && !seenRole[id] {
				seenRole[id] = true
				included = append(included, map[string]any{"type": "roles", "id": id,
					"attributes":    map[string]any{"name": name, "created_at": "2020-01-01T00:00:00+00:00", "modified_at": "2020-01-01T00:00:00+00:00"},
					"relationships": map[string]any{"permissions": map[string]any{"data": []any{}}}})
			}
		}
	}
	h.Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"data": data, "included": included,
		"meta": map[string]any{"page": map[string]any{"total_count": len(s.users), "total_filtered_count": len(s.users)}},
	})
}
