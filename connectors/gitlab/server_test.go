package gitlab_test

import (
	"encoding/base64"
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

// glServer is a stand-in for GitLab's REST API (v4), speaking its
// documented wire format for the endpoints the connector reads:
//
//   - GET /api/v4/groups/:id (a numeric ID or a URL-encoded full path):
//     https://docs.gitlab.com/api/groups/#get-a-single-group
//   - GET /api/v4/groups/:id/members/all (page, per_page), inherited members
//     included, offset pagination with X-Page, X-Per-Page, X-Next-Page,
//     X-Prev-Page, X-Total, X-Total-Pages and Link (rel prev, next, first,
//     last): https://docs.gitlab.com/api/members/#list-all-members-of-a-group-or-project,
//     https://docs.gitlab.com/api/rest/#offset-based-pagination
//   - GET /api/v4/users?pagination=keyset&order_by=id&sort=asc&per_page=N
//     (exclude_internal), the administrator's view (state, email,
//     two_factor_enabled, last_activity_on, current_sign_in_at,
//     identities, is_admin, bot), keyset pagination with an opaque cursor
//     in the Link rel="next" URL and no totals:
//     https://docs.gitlab.com/api/users/#list-users,
//     https://docs.gitlab.com/api/rest/#keyset-based-pagination
//
// Every response carries RateLimit-Name, RateLimit-Limit (per minute),
// RateLimit-Observed, RateLimit-Remaining, RateLimit-Reset (Unix time) and
// RateLimit-ResetTime (an HTTP date); a throttled request is answered 429
// with Retry-After and the plain-text body "Retry later"
// (https://docs.gitlab.com/administration/settings/user_and_ip_rate_limits/#response-headers).
// Errors have GitLab's body, {"message": "401 Unauthorized"}
// (https://docs.gitlab.com/api/rest/troubleshooting/#status-codes).
type glServer struct {
	*httptest.Server

	mu       sync.Mutex
	groupID  int64
	path     string
	users    []*glUser // in id order
	members  map[int64]int
	limit    int
	observed int
	reset    time.Time
	faults   []resynctest.ProviderFault
	requests int
	byQuery  map[string]int
	hook     func(w http.ResponseWriter, r *http.Request) bool
	// tokenAdmin says whether the token's user is an administrator.
	tokenAdmin bool
	// publicView answers GET /users as GitLab answers a user who is not an
	// administrator: the public fields only.
	publicView bool
}

type glUser struct {
	ID       int64
	Username string
	State    string
	TwoFA    bool
	Admin    bool
	Bot      bool
	SAMLUID  string
}

const testToken = "glpat-ab12CD34ef56GH78ij90"

func newGLServer(t testing.TB) *glServer {
	t.Helper()
	s := &glServer{groupID: 4242, path: "acme/platform", members: map[int64]int{}, limit: 2000,
		reset: time.Now().Add(time.Minute), byQuery: map[string]int{}}
	s.Server = httptest.NewTLSServer(http.HandlerFunc(s.serve))
	t.Cleanup(func() {
		s.Close()
		s.Client().CloseIdleConnections()
	})
	return s
}

func (s *glServer) baseURL() string { return s.URL + "/api/v4/" }

// addUsers adds n users with ids from first; every fifth without 2FA,
// every tenth an owner of the group, every other one a member (developer).
func (s *glServer) addUsers(first, n int) []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []int64
	for i := first; i < first+n; i++ {
		id := int64(100 + i)
		s.users = append(s.users, &glUser{ID: id, Username: fmt.Sprintf("user%d", i), State: "active", TwoFA: i%5 != 0,
			SAMLUID: fmt.Sprintf("saml-%d", i)})
		switch {
		case i%10 == 0:
			s.members[id] = 50
		case i%2 == 0:
			s.members[id] = 30
		}
		ids = append(ids, id)
	}
	return ids
}

func (s *glServer) edit(f func(s *glServer)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s)
}

func (s *glServer) user(id int64) *glUser {
	for _, u := range s.users {
		if u.ID == id {
			return u
		}
	}
	return nil
}

// Fail makes the next f.Times requests for page f.Page fail as f says.
func (s *glServer) Fail(f resynctest.ProviderFault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f.Times == 0 {
		f.Times = 1
	}
	s.faults = append(s.faults, f)
}

// Requests counts the requests served.
func (s *glServer) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

func (s *glServer) requestsFor(pathQuery string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.byQuery[pathQuery]
}

func (s *glServer) setHook(h func(w http.ResponseWriter, r *http.Request) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hook = h
}

func glError(w http.ResponseWriter, status int, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"message": message})
}

// rateHeaders writes GitLab's RateLimit-* fields.
func rateHeaders(h http.Header, limit, observed int, reset time.Time) {
	h.Set("RateLimit-Name", "throttle_authenticated_api")
	h.Set("RateLimit-Limit", strconv.Itoa(limit))
	h.Set("RateLimit-Observed", strconv.Itoa(observed))
	h.Set("RateLimit-Remaining", strconv.Itoa(max(limit-observed, 0)))
	h.Set("RateLimit-Reset", strconv.FormatInt(reset.Unix(), 10))
	h.Set("RateLimit-ResetTime", reset.UTC().Format(http.TimeFormat))
}

// keysetCursor is GitLab's opaque keyset cursor: base64 of the last id.
func keysetCursor(id int64) string {
	return base64.StdEncoding.EncodeToString(fmt.Appendf(nil, `{"id":"%d","_kd":"n"}`, id))
}

func parseKeyset(c string) int64 {
	raw, err := base64.StdEncoding.DecodeString(c)
	if err != nil {
		return -1
	}
	var v struct{ ID string }
	if json.Unmarshal(raw, &v) != nil {
		return -1
	}
	n, _ := strconv.ParseInt(v.ID, 10, 64)
	return n
}

func (s *glServer) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests++
	q := r.URL.Query()
	s.byQuery[r.URL.EscapedPath()+"?"+q.Encode()]++
	w.Header().Set("Date", time.Now().UTC().Format(http.TimeFormat))
	if h := s.hook; h != nil {
		s.mu.Unlock()
		done := h(w, r)
		s.mu.Lock()
		if done {
			return
		}
	}
	if r.Header.Get("Authorization") != "Bearer "+testToken {
		glError(w, http.StatusUnauthorized, "401 Unauthorized")
		return
	}
	s.observed++
	rateHeaders(w.Header(), s.limit, s.observed, s.reset)
	per := 20
	if v := q.Get("per_page"); v != "" {
		per, _ = strconv.Atoi(v)
	}
	per = min(max(per, 1), 100)
	page := 1
	if v := q.Get("page"); v != "" {
		page, _ = strconv.Atoi(v)
	}
	// The keyset list's items before the cursor.
	var users []*glUser
	for _, u := range s.users {
		if u.State != "internal" || q.Get("exclude_internal") != "true" {
			users = append(users, u)
		}
	}
	from := 0
	if c := q.Get("cursor"); c != "" {
		last := parseKeyset(c)
		from = len(users)
		for i, u := range users {
			if u.ID > last {
				from = i
				break
			}
		}
		page = from/per + 1
	}
	for i, f := range s.faults {
		if f.Page == page {
			if f.Times--; f.Times <= 0 {
				s.faults = slices.Delete(s.faults, i, i+1)
			} else {
				s.faults[i] = f
			}
			for k, vs := range f.Header {
				w.Header()[k] = vs
			}
			switch {
			case f.Body != "":
				w.WriteHeader(f.Status)
				fmt.Fprint(w, f.Body)
			case f.Status == http.StatusTooManyRequests:
				w.Header().Set("Content-Type", "text/plain")
				w.WriteHeader(f.Status)
				fmt.Fprint(w, "Retry later\n")
			default:
				glError(w, f.Status, fmt.Sprintf("%d %s", f.Status, http.StatusText(f.Status)))
			}
			return
		}
	}
	path := r.URL.EscapedPath()
	groupRefs := []string{strconv.FormatInt(s.groupID, 10), url.PathEscape(s.path)}
	w.Header().Set("Content-Type", "application/json")
	switch {
	case path == "/api/v4/user":
		// https://docs.gitlab.com/api/users/#retrieve-the-current-user
		_ = json.NewEncoder(w).Encode(adminUser(&glUser{ID: 1, Username: "root", State: "active", Admin: s.tokenAdmin}))
	case path == "/api/v4/users":
		if q.Get("pagination") != "keyset" || q.Get("order_by") != "id" {
			glError(w, http.StatusBadRequest, "400 Bad request - this test server pages users by keyset on id")
			return
		}
		to := min(from+per, len(users))
		var out []any
		for _, u := range users[from:to] {
			a := adminUser(u)
			if s.publicView {
				a = map[string]any{"id": a["id"], "username": a["username"], "name": a["name"], "state": a["state"],
					"locked": a["locked"], "avatar_url": a["avatar_url"], "web_url": a["web_url"]}
			}
			out = append(out, a)
		}
		if to < len(users) {
			v := url.Values{}
			for k, vs := range q {
				v[k] = vs
			}
			v.Set("cursor", keysetCursor(users[to-1].ID))
			w.Header().Set("Link", fmt.Sprintf(`<%s%s?%s>; rel="next"`, s.URL, path, v.Encode()))
		}
		if out == nil {
			out = []any{}
		}
		_ = json.NewEncoder(w).Encode(out)
	case slices.Contains(groupRefs, strings.TrimPrefix(path, "/api/v4/groups/")):
		_ = json.NewEncoder(w).Encode(map[string]any{"id": s.groupID, "name": "Platform", "path": "platform",
			"full_name": "Acme / Platform", "full_path": s.path, "visibility": "private", "parent_id": 7,
			"web_url": s.URL + "/groups/" + s.path})
	case strings.HasPrefix(path, "/api/v4/groups/") && strings.HasSuffix(path, "/members/all") &&
		slices.Contains(groupRefs, strings.TrimSuffix(strings.TrimPrefix(path, "/api/v4/groups/"), "/members/all")):
		var all []any
		for _, u := range s.users {
			if lvl, ok := s.members[u.ID]; ok {
				all = append(all, member(u, lvl))
			}
		}
		total := len(all)
		pages := max((total+per-1)/per, 1)
		h := w.Header()
		h.Set("X-Page", strconv.Itoa(page))
		h.Set("X-Per-Page", strconv.Itoa(per))
		h.Set("X-Total", strconv.Itoa(total))
		h.Set("X-Total-Pages", strconv.Itoa(pages))
		h.Set("X-Next-Page", "")
		h.Set("X-Prev-Page", "")
		link := func(p int, rel string) string {
			v := url.Values{}
			for k, vs := range q {
				v[k] = vs
			}
			v.Set("page", strconv.Itoa(p))
			return fmt.Sprintf(`<%s%s?%s>; rel="%s"`, s.URL, path, v.Encode(), rel)
		}
		links := []string{link(1, "first"), link(pages, "last")}
		if page < pages {
			h.Set("X-Next-Page", strconv.Itoa(page+1))
			links = append(links, link(page+1, "next"))
		}
		if page > 1 {
			h.Set("X-Prev-Page", strconv.Itoa(page-1))
			links = append(links, link(page-1, "prev"))
		}
		h.Set("Link", strings.Join(links, ", "))
		from, to := min((page-1)*per, total), min(page*per, total)
		out := all[from:to]
		if out == nil {
			out = []any{}
		}
		_ = json.NewEncoder(w).Encode(out)
	default:
		glError(w, http.StatusNotFound, "404 Group Not Found")
	}
}

// adminUser is a user as an administrator sees it in GET /users.
func adminUser(u *glUser) map[string]any {
	var ids []any
	if u.SAMLUID != "" {
		ids = append(ids, map[string]any{"provider": "saml", "extern_uid": u.SAMLUID})
	}
	return map[string]any{"id": u.ID, "username": u.Username, "name": strings.ToUpper(u.Username), "state": u.State,
		"locked": false, "avatar_url": "", "web_url": "https://gitlab.example.com/" + u.Username,
		"created_at": "2012-05-23T08:00:58Z", "bio": "", "public_email": "",
		"last_sign_in_at": "2015-03-01T10:12:37Z", "confirmed_at": "2012-05-23T09:05:22Z",
		"last_activity_on": "2026-11-20", "email": u.Username + "@example.com",
		"current_sign_in_at": "2026-11-19T08:00:00Z", "identities": ids,
		"two_factor_enabled": u.TwoFA, "external": false, "private_profile": false,
		"is_admin": u.Admin, "bot": u.Bot, "namespace_id": u.ID + 1000}
}

// member is a member as GET /groups/:id/members/all lists it.
func member(u *glUser, level int) map[string]any {
	m := map[string]any{"id": u.ID, "username": u.Username, "name": strings.ToUpper(u.Username), "state": u.State,
		"avatar_url": "", "web_url": "https://gitlab.example.com/" + u.Username, "access_level": level,
		"created_at": "2012-10-22T14:13:35Z", "created_by": map[string]any{"id": 1, "username": "root"},
		"expires_at": nil, "group_saml_identity": nil, "membership_state": "active"}
	if u.SAMLUID != "" {
		m["group_saml_identity"] = map[string]any{"extern_uid": u.SAMLUID, "provider": "group_saml", "saml_provider_id": 10}
	}
	return m
}
