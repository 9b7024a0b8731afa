package github_test

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
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

// ghServer is a stand-in for GitHub's REST API, speaking its documented
// wire format for the endpoints the connector reads:
//
//   - GET /orgs/{org}/members (filter=all|2fa_disabled, role=all|admin|member,
//     per_page, page): https://docs.github.com/rest/orgs/members#list-organization-members
//   - GET /orgs/{org}/outside_collaborators (filter, per_page, page):
//     https://docs.github.com/rest/orgs/outside-collaborators#list-outside-collaborators-for-an-organization
//   - GET /orgs/{org}/teams (per_page, page): https://docs.github.com/rest/teams/teams#list-teams
//   - GET /orgs/{org}/teams/{team_slug}/members (role, per_page, page):
//     https://docs.github.com/rest/teams/members#list-team-members
//   - POST /app/installations/{installation_id}/access_tokens, answered 201
//     with {"token","expires_at"} to a JWT (RS256, iss = app id) that the
//     app's public key verifies:
//     https://docs.github.com/rest/apps/apps#create-an-installation-access-token-for-an-app,
//     https://docs.github.com/apps/creating-github-apps/authenticating-with-a-github-app/generating-a-json-web-token-jwt-for-a-github-app
//
// Pages: Link headers with rel="next"/"last" carrying page and per_page,
// per_page capped at 100
// (https://docs.github.com/rest/using-the-rest-api/using-pagination-in-the-rest-api).
// Every response carries x-ratelimit-limit, -remaining, -used, -reset (UTC
// epoch seconds) and -resource; a spent quota is answered 403 with
// remaining 0, a secondary limit 403 with its message and, if set,
// retry-after (https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api).
// Errors have GitHub's body: {"message","documentation_url","status"}
// (https://docs.github.com/rest/using-the-rest-api/troubleshooting-the-rest-api).
// Served under /api/v3/, as GitHub Enterprise Server does.
type ghServer struct {
	*httptest.Server
	org string

	mu      sync.Mutex
	users   []*ghUser
	teams   []*ghTeam
	tokens  map[string]bool  // bearer tokens accepted on the API
	nameIDs map[int64]string // SAML NameIDs by user id; nil: the org has no SSO
	samlErr string           // a GraphQL error type to answer the SAML query with
	appID   string
	appKey  *rsa.PublicKey
	issued  int
	// tokenRequests counts the requests to the token endpoint, which
	// requests does not: they fetch credentials, not pages.
	tokenRequests int
	// tokenTTL is the lifetime of the installation tokens issued; 0 means
	// GitHub's hour.
	tokenTTL time.Duration
	limit    int // x-ratelimit-limit
	used     int
	reset    time.Time
	faults   []resynctest.ProviderFault
	requests int
	byQuery  map[string]int // "path?query" -> requests
	hook     func(w http.ResponseWriter, r *http.Request) bool
}

type ghUser struct {
	ID           int64
	Login        string
	Admin        bool
	TwoFAOff     bool
	Collaborator bool // an outside collaborator, not a member
}

type ghTeam struct {
	ID      int64
	Slug    string
	Name    string
	Members []int64
}

const testToken = "ghp_16C7e42F292c6912E7710c838347Ae178B4a"

func newGHServer(t testing.TB) *ghServer {
	t.Helper()
	s := &ghServer{org: "octo-org", tokens: map[string]bool{testToken: true}, limit: 5000,
		reset: time.Now().Add(time.Hour), byQuery: map[string]int{}}
	s.Server = httptest.NewTLSServer(http.HandlerFunc(s.serve))
	t.Cleanup(func() {
		s.Close()
		s.Client().CloseIdleConnections()
	})
	return s
}

func (s *ghServer) baseURL() string { return s.URL + "/api/v3/" }

// addMembers adds n members (ids from first), every tenth an admin, every
// seventh without 2FA.
func (s *ghServer) addMembers(first, n int) []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []int64
	for i := first; i < first+n; i++ {
		id := int64(1000 + i)
		s.users = append(s.users, &ghUser{ID: id, Login: fmt.Sprintf("user-%d", i), Admin: i%10 == 0, TwoFAOff: i%7 == 0})
		ids = append(ids, id)
	}
	return ids
}

func (s *ghServer) addCollaborators(n int) []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []int64
	for i := range n {
		id := int64(900000 + i)
		s.users = append(s.users, &ghUser{ID: id, Login: fmt.Sprintf("collab-%d", i), Collaborator: true, TwoFAOff: i%2 == 0})
		ids = append(ids, id)
	}
	return ids
}

func (s *ghServer) addTeam(id int64, slug string, members ...int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.teams = append(s.teams, &ghTeam{ID: id, Slug: slug, Name: strings.ToUpper(slug), Members: members})
}

func (s *ghServer) user(id int64) *ghUser {
	for _, u := range s.users {
		if u.ID == id {
			return u
		}
	}
	return nil
}

func (s *ghServer) edit(f func(s *ghServer)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s)
}

// Fail makes the next f.Times requests for page f.Page (of any listing)
// fail as f says: resynctest.ConnectorOptions.Fail.
func (s *ghServer) Fail(f resynctest.ProviderFault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f.Times == 0 {
		f.Times = 1
	}
	s.faults = append(s.faults, f)
}

// Requests counts the requests served: resynctest.ConnectorOptions.Requests.
func (s *ghServer) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// requestsFor counts the requests for path?query (the query as sorted by
// url.Values.Encode).
func (s *ghServer) requestsFor(pathQuery string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.byQuery[pathQuery]
}

func (s *ghServer) setHook(h func(w http.ResponseWriter, r *http.Request) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hook = h
}

// ghError writes GitHub's error body.
func ghError(w http.ResponseWriter, status int, message, doc string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"message": message, "documentation_url": doc, "status": strconv.Itoa(status)})
}

func (s *ghServer) rateHeaders(h http.Header) {
	h.Set("x-ratelimit-limit", strconv.Itoa(s.limit))
	h.Set("x-ratelimit-remaining", strconv.Itoa(max(s.limit-s.used, 0)))
	h.Set("x-ratelimit-used", strconv.Itoa(s.used))
	h.Set("x-ratelimit-reset", strconv.FormatInt(s.reset.Unix(), 10))
	h.Set("x-ratelimit-resource", "core")
}

func (s *ghServer) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if strings.HasPrefix(r.URL.Path, "/api/v3/app/") {
		s.tokenRequests++
	} else {
		s.requests++
	}
	q := r.URL.Query()
	s.byQuery[r.URL.Path+"?"+q.Encode()]++
	w.Header().Set("Date", time.Now().UTC().Format(http.TimeFormat))
	w.Header().Set("X-GitHub-Api-Version-Selected", "2022-11-28")
	w.Header().Set("X-GitHub-Media-Type", "github.v3; format=json")
	if r.URL.Path == "/api/graphql" && r.Method == http.MethodPost {
		s.graphql(w, r)
		return
	}
	path, ok := strings.CutPrefix(r.URL.Path, "/api/v3")
	if !ok {
		ghError(w, http.StatusNotFound, "Not Found", "https://docs.github.com/rest")
		return
	}
	if h := s.hook; h != nil {
		s.mu.Unlock()
		done := h(w, r)
		s.mu.Lock()
		if done {
			return
		}
	}
	if r.Method == http.MethodPost && strings.HasPrefix(path, "/app/installations/") {
		s.accessToken(w, r, path)
		return
	}
	tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !s.tokens[tok] {
		ghError(w, http.StatusUnauthorized, "Bad credentials", "https://docs.github.com/rest")
		return
	}
	s.used++
	s.rateHeaders(w.Header())
	page, per := 1, 30
	if v := q.Get("page"); v != "" {
		page, _ = strconv.Atoi(v)
	}
	if v := q.Get("per_page"); v != "" {
		per, _ = strconv.Atoi(v)
	}
	per = min(max(per, 1), 100)
	if s.fault(w, page) {
		return
	}
	if s.used > s.limit {
		w.Header().Set("x-ratelimit-remaining", "0")
		ghError(w, http.StatusForbidden, "API rate limit exceeded for user ID 1.",
			"https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-rate-limits")
		return
	}
	if path == "/orgs/"+s.org && r.Method == http.MethodGet {
		// https://docs.github.com/rest/orgs/orgs#get-an-organization
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		_ = json.NewEncoder(w).Encode(map[string]any{"login": s.org, "id": 1, "node_id": "MDEyOk9yZ2FuaXphdGlvbjE=",
			"url": s.baseURL() + "orgs/" + s.org, "description": "A great organization", "type": "Organization",
			"two_factor_requirement_enabled": true})
		return
	}
	orgPrefix := "/orgs/" + s.org + "/"
	rest, ok := strings.CutPrefix(path, orgPrefix)
	if !ok || r.Method != http.MethodGet {
		ghError(w, http.StatusNotFound, "Not Found", "https://docs.github.com/rest")
		return
	}
	var items []any
	switch {
	case rest == "members":
		for _, u := range s.users {
			if u.Collaborator || (q.Get("filter") == "2fa_disabled" && !u.TwoFAOff) ||
				(q.Get("role") == "admin" && !u.Admin) || (q.Get("role") == "member" && u.Admin) {
				continue
			}
			items = append(items, u)
		}
	case rest == "outside_collaborators":
		for _, u := range s.users {
			if u.Collaborator && (q.Get("filter") != "2fa_disabled" || u.TwoFAOff) {
				items = append(items, u)
			}
		}
	case rest == "teams":
		for _, t := range s.teams {
			items = append(items, map[string]any{"id": t.ID, "node_id": fmt.Sprintf("MDQ6VGVhbT%d", t.ID), "slug": t.Slug,
				"name": t.Name, "description": "", "privacy": "closed", "permission": "pull",
				"url": fmt.Sprintf("%sorganizations/1/team/%d", s.baseURL(), t.ID)})
		}
	case strings.HasPrefix(rest, "teams/") && strings.HasSuffix(rest, "/members"):
		slug := strings.TrimSuffix(strings.TrimPrefix(rest, "teams/"), "/members")
		var team *ghTeam
		for _, t := range s.teams {
			if t.Slug == slug {
				team = t
			}
		}
		if team == nil {
			ghError(w, http.StatusNotFound, "Not Found", "https://docs.github.com/rest/teams/members#list-team-members")
			return
		}
		for _, id := range team.Members {
			if u := s.user(id); u != nil {
				items = append(items, u)
			}
		}
	default:
		ghError(w, http.StatusNotFound, "Not Found", "https://docs.github.com/rest")
		return
	}
	last := max((len(items)+per-1)/per, 1)
	from, to := min((page-1)*per, len(items)), min(page*per, len(items))
	link := func(p int, rel string) string {
		v := url.Values{}
		for k, vs := range q {
			v[k] = vs
		}
		v.Set("page", strconv.Itoa(p))
		return fmt.Sprintf(`<%s%s?%s>; rel="%s"`, s.URL, r.URL.Path, v.Encode(), rel)
	}
	var links []string
	if page < last {
		links = append(links, link(page+1, "next"), link(last, "last"))
	}
	if page > 1 {
		links = append(links, link(1, "first"), link(page-1, "prev"))
	}
	if len(links) > 0 {
		w.Header().Set("Link", strings.Join(links, ", "))
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	out := []any{}
	for _, it := range items[from:to] {
		if u, ok := it.(*ghUser); ok {
			it = simpleUser(u)
		}
		out = append(out, it)
	}
	_ = json.NewEncoder(w).Encode(out)
}

// fault answers the request for page as the first fault for it says, if
// there is one.
func (s *ghServer) fault(w http.ResponseWriter, page int) bool {
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
			if f.Body != "" {
				w.WriteHeader(f.Status)
				fmt.Fprint(w, f.Body)
			} else {
				ghError(w, f.Status, http.StatusText(f.Status), "https://docs.github.com/rest")
			}
			return true
		}
	}
	return false
}

// simpleUser is GitHub's simple-user object.
func simpleUser(u *ghUser) map[string]any {
	return map[string]any{"login": u.Login, "id": u.ID, "node_id": fmt.Sprintf("MDQ6VXNlcj%d", u.ID),
		"avatar_url": "https://github.com/images/error/octocat_happy.gif", "gravatar_id": "",
		"url": "https://api.github.com/users/" + u.Login, "html_url": "https://github.com/" + u.Login,
		"type": "User", "site_admin": false, "user_view_type": "public"}
}

// accessToken answers POST /app/installations/{id}/access_tokens.
func (s *ghServer) accessToken(w http.ResponseWriter, r *http.Request, path string) {
	id := strings.TrimSuffix(strings.TrimPrefix(path, "/app/installations/"), "/access_tokens")
	jwt, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if s.appKey == nil || !verifyJWT(jwt, s.appKey, s.appID) {
		ghError(w, http.StatusUnauthorized, "A JSON web token could not be decoded", "https://docs.github.com/rest")
		return
	}
	if id != "42" {
		ghError(w, http.StatusNotFound, "Not Found", "https://docs.github.com/rest/apps/apps#create-an-installation-access-token-for-an-app")
		return
	}
	s.issued++
	tok := fmt.Sprintf("ghs_installation%dtoken", s.issued)
	s.tokens[tok] = true
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusCreated)
	ttl := s.tokenTTL
	if ttl == 0 {
		ttl = time.Hour
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"token": tok, "expires_at": time.Now().Add(ttl).UTC().Format(time.RFC3339),
		"permissions": map[string]string{"members": "read", "organization_administration": "read"}, "repository_selection": "all"})
}

// verifyJWT checks an RS256 JWT's signature, its issuer and its times as
// GitHub does (exp at most ten minutes ahead, iat in the past).
func verifyJWT(tok string, key *rsa.PublicKey, issuer string) bool {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return false
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return false
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if rsa.VerifyPKCS1v15(key, crypto.SHA256, sum[:], sig) != nil {
		return false
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return false
	}
	var c struct {
		IAT, EXP int64
		ISS      string
	}
	if json.Unmarshal(raw, &c) != nil {
		return false
	}
	now := time.Now().Unix()
	return c.ISS == issuer && c.IAT <= now && c.EXP > now && c.EXP-now <= 600
}

// graphql answers the SAML identities query at POST /api/graphql (GitHub
// Enterprise Server's GraphQL endpoint), as GraphQL answers: status 200,
// {"data": ...}, and "errors" for what it could not resolve; the
// identities paged by an opaque cursor with pageInfo
// (https://docs.github.com/graphql/guides/forming-calls-with-graphql,
// https://docs.github.com/graphql/guides/using-pagination-in-the-graphql-api,
// https://docs.github.com/graphql/reference/objects#externalidentity).
func (s *ghServer) graphql(w http.ResponseWriter, r *http.Request) {
	tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !s.tokens[tok] {
		ghError(w, http.StatusUnauthorized, "Bad credentials", "https://docs.github.com/graphql")
		return
	}
	s.used++
	s.rateHeaders(w.Header())
	w.Header().Set("x-ratelimit-resource", "graphql")
	var req struct {
		Query     string
		Variables struct {
			Login string
			First int
			After string
		}
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || !strings.Contains(req.Query, "samlIdentityProvider") ||
		!strings.Contains(req.Query, "externalIdentities(first: $first, after: $after)") || req.Variables.First < 1 || req.Variables.First > 100 {
		ghError(w, http.StatusBadRequest, "Problems parsing JSON", "https://docs.github.com/graphql")
		return
	}
	from := 0
	if a := req.Variables.After; a != "" {
		raw, _ := base64.StdEncoding.DecodeString(a)
		n, err := strconv.Atoi(strings.TrimPrefix(string(raw), "cursor:v2:"))
		if err != nil {
			_ = json.NewEncoder(w).Encode(map[string]any{"data": nil, "errors": []any{map[string]any{
				"type": "INVALID_CURSOR_ARGUMENTS", "message": "`" + a + "` does not appear to be a valid cursor."}}})
			return
		}
		from = n
	}
	if s.fault(w, from/req.Variables.First+1) {
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	if req.Variables.Login != s.org {
		_ = json.NewEncoder(w).Encode(map[string]any{"data": map[string]any{"organization": nil}, "errors": []any{map[string]any{
			"type": "NOT_FOUND", "path": []string{"organization"},
			"message": "Could not resolve to an Organization with the login of '" + req.Variables.Login + "'."}}})
		return
	}
	if s.samlErr != "" {
		_ = json.NewEncoder(w).Encode(map[string]any{"data": map[string]any{"organization": map[string]any{"samlIdentityProvider": nil}},
			"errors": []any{map[string]any{"type": s.samlErr, "path": []string{"organization", "samlIdentityProvider"},
				"message": "Resource not accessible by personal access token"}}})
		return
	}
	if s.nameIDs == nil {
		_ = json.NewEncoder(w).Encode(map[string]any{"data": map[string]any{"organization": map[string]any{"samlIdentityProvider": nil}}})
		return
	}
	ids := slices.Sorted(maps.Keys(s.nameIDs))
	to := min(from+req.Variables.First, len(ids))
	edges := []any{}
	for _, id := range ids[min(from, to):to] {
		edges = append(edges, map[string]any{"node": map[string]any{"guid": fmt.Sprintf("guid-%d", id),
			"samlIdentity": map[string]any{"nameId": s.nameIDs[id]}, "user": map[string]any{"databaseId": id}}})
	}
	end := base64.StdEncoding.EncodeToString([]byte("cursor:v2:" + strconv.Itoa(to)))
	_ = json.NewEncoder(w).Encode(map[string]any{"data": map[string]any{"organization": map[string]any{
		"samlIdentityProvider": map[string]any{"externalIdentities": map[string]any{
			"pageInfo": map[string]any{"hasNextPage": to < len(ids), "endCursor": end}, "edges": edges}}}}})
}
