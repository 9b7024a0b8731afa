package atlassian_test

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
	"time"

	"github.com/openresync/resync/resynctest"
)

// site is a Jira Cloud site's REST API v3 as its reference documents it
// (https://developer.atlassian.com/cloud/jira/platform/rest/v3/):
//   - "Basic auth for REST APIs": an Atlassian account's email and API token;
//   - "Users: Get all users": GET /rest/api/3/users/search?startAt&maxResults,
//     a bare JSON array of users (accountId, accountType, emailAddress,
//     displayName, active), maxResults capped by the server;
//   - "Groups: Bulk get groups": GET /rest/api/3/group/bulk, a PageBean
//     (startAt, maxResults, total, isLast, values of {groupId, name}),
//     at most 50 a page;
//   - "Groups: Get users from group": GET /rest/api/3/group/member?groupId&
//     includeInactiveUsers, a PageBean of users, at most 50 a page;
//   - "Application roles: Get all application roles": GET
//     /rest/api/3/applicationrole (key, name, groupDetails);
//   - "Rate limiting" (https://developer.atlassian.com/cloud/jira/platform/rate-limiting/):
//     429 with Retry-After, X-RateLimit-Limit/-Remaining, X-RateLimit-Reset
//     as an ISO 8601 time, and RateLimit-Reason naming the limit hit;
//   - errors as {"errorMessages": [...], "errors": {}}.
type site struct {
	*httptest.Server
	email, apiToken string
	userCap         int // the most users/search returns, whatever is asked

	mu       sync.Mutex
	users    map[string]map[string]any
	groups   map[string]string   // groupId → name
	members  map[string][]string // groupId → accountIds
	roles    []map[string]any
	faults   []resynctest.ProviderFault
	hits     map[string]int
	requests int
}

func newSite(t testing.TB) *site {
	s := &site{email: "admin@example.com", apiToken: "ATATT3xFfGF0-test-token", userCap: 100,
		users: map[string]map[string]any{}, groups: map[string]string{}, members: map[string][]string{}, hits: map[string]int{}}
	s.Server = httptest.NewTLSServer(http.HandlerFunc(s.serve))
	t.Cleanup(func() {
		s.Client().CloseIdleConnections()
		s.Close()
	})
	return s
}

func accountID(n int) string { return fmt.Sprintf("5b10ac8d82e05b22cc7d%04d", n) }

func (s *site) addUser(n int, typ string, active bool, groups ...string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := accountID(n)
	s.users[id] = map[string]any{"self": s.URL + "/rest/api/3/user?accountId=" + id, "accountId": id, "accountType": typ,
		"emailAddress": fmt.Sprintf("user%d@example.com", n), "displayName": "User " + strconv.Itoa(n),
		"active": active, "timeZone": "Europe/Berlin", "locale": "en_US",
		"avatarUrls": map[string]string{"48x48": "https://avatar.example/48"}}
	for _, g := range groups {
		s.members[g] = append(s.members[g], id)
	}
	return id
}

func (s *site) addGroup(id, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.groups[id] = name
}

func (s *site) addRole(key, name string, groups ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var details []map[string]string
	for _, g := range groups {
		details = append(details, map[string]string{"groupId": g, "name": s.groups[g]})
	}
	s.roles = append(s.roles, map[string]any{"key": key, "name": name, "groups": []string{}, "groupDetails": details,
		"defaultGroups": []string{}, "selectedByDefault": false, "defined": true, "numberOfSeats": 100,
		"remainingSeats": 10, "userCount": 90, "userCountDescription": "users", "hasUnlimitedSeats": false, "platform": false})
}

func (s *site) Fail(f resynctest.ProviderFault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f.Times == 0 {
		f.Times = 1
	}
	s.faults = append(s.faults, f)
}

func (s *site) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

func (s *site) Hits(key string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits[key]
}

func jsonReply(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func jiraError(w http.ResponseWriter, status int, msg string) {
	jsonReply(w, status, map[string]any{"errorMessages": []string{msg}, "errors": map[string]string{}})
}

func (s *site) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests++
	q := r.URL.Query()
	startAt, _ := strconv.Atoi(q.Get("startAt"))
	asked, _ := strconv.Atoi(q.Get("maxResults"))
	path := strings.TrimPrefix(r.URL.Path, "/rest/api/3/")
	hit := path
	if g := q.Get("groupId"); g != "" {
		hit += "?groupId=" + g
	}
	hit += "@" + strconv.Itoa(startAt)
	s.hits[hit]++

	if user, pass, ok := r.BasicAuth(); !ok || user != s.email || pass != s.apiToken {
		jiraError(w, http.StatusUnauthorized, "Client must be authenticated to access this resource.")
		return
	}
	limit := map[string]int{"users/search": s.userCap, "group/bulk": 50, "group/member": 50}[path]
	if asked <= 0 {
		asked = 50
	}
	size := asked
	if limit > 0 {
		size = min(asked, limit)
	}
	page := startAt/size + 1
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
		if f.Status == http.StatusTooManyRequests {
			w.Header().Set("X-RateLimit-Limit", "100")
			w.Header().Set("X-RateLimit-Remaining", "0")
			w.Header().Set("X-RateLimit-Reset", time.Now().Add(time.Minute).UTC().Format(time.RFC3339))
			w.Header().Set("RateLimit-Reason", "jira-quota-tenant-based")
		}
		if f.Body != "" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(f.Status)
			_, _ = w.Write([]byte(f.Body))
			return
		}
		jiraError(w, f.Status, http.StatusText(f.Status))
		return
	}
	window := func(n int) (int, int) {
		from := min(startAt, n)
		return from, min(from+size, n)
	}
	bean := func(values []any, total int) map[string]any {
		return map[string]any{"self": s.URL + r.URL.String(), "startAt": startAt, "maxResults": size, "total": total,
			"isLast": startAt+len(values) >= total, "values": values}
	}
	switch path {
	case "applicationrole":
		jsonReply(w, http.StatusOK, s.roles)
	case "users/search":
		ids := slices.Sorted(func(yield func(string) bool) {
			for id := range s.users {
				if !yield(id) {
					return
				}
			}
		})
		from, to := window(len(ids))
		out := make([]any, 0, to-from)
		for _, id := range ids[from:to] {
			out = append(out, s.users[id])
		}
		jsonReply(w, http.StatusOK, out)
	case "group/bulk":
		ids := slices.Sorted(func(yield func(string) bool) {
			for id := range s.groups {
				if !yield(id) {
					return
				}
			}
		})
		from, to := window(len(ids))
		out := make([]any, 0, to-from)
		for _, id := range ids[from:to] {
			out = append(out, map[string]string{"groupId": id, "name": s.groups[id]})
		}
		jsonReply(w, http.StatusOK, bean(out, len(ids)))
	case "group/member":
		g := q.Get("groupId")
		if _, ok := s.groups[g]; !ok {
			jiraError(w, http.StatusNotFound, "Specified group does not exist.")
			return
		}
		var ids []string
		for _, id := range s.members[g] {
			if u, ok := s.users[id]; ok && (u["active"] == true || q.Get("includeInactiveUsers") == "true") {
				ids = append(ids, id)
			}
		}
		slices.Sort(ids)
		from, to := window(len(ids))
		out := make([]any, 0, to-from)
		for _, id := range ids[from:to] {
			out = append(out, s.users[id])
		}
		jsonReply(w, http.StatusOK, bean(out, len(ids)))
	default:
		jiraError(w, http.StatusNotFound, "Not found")
	}
}
