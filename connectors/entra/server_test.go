package entra_test

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

// The fake tenant below speaks Microsoft Graph v1.0 and the Microsoft
// identity platform's token endpoint as their references document them:
//
//   - The client credentials grant, POST /{tenant}/oauth2/v2.0/token with
//     client_id, client_secret, scope=https://graph.microsoft.com/.default,
//     grant_type=client_credentials; its answer (token_type, expires_in,
//     access_token) and its errors (400/401 with error, error_description
//     "AADSTS7000215: Invalid client secret provided...", error_codes):
//     https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-client-creds-grant-flow
//   - List users, GET /v1.0/users with $select and $top (at most 999; with
//     signInActivity at most 120 a page, and 403
//     Authentication_RequestFromNonPremiumTenantOrB2CTenant for a tenant
//     without Entra ID P1/P2):
//     https://learn.microsoft.com/en-us/graph/api/user-list?view=graph-rest-1.0
//     https://learn.microsoft.com/en-us/graph/api/resources/signinactivity?view=graph-rest-1.0
//   - Deleted users, GET /v1.0/directory/deletedItems/microsoft.graph.user:
//     https://learn.microsoft.com/en-us/graph/api/directory-deleteditems-list?view=graph-rest-1.0
//   - List userRegistrationDetails, GET
//     /v1.0/reports/authenticationMethods/userRegistrationDetails (id,
//     isMfaRegistered, isMfaCapable; licence-gated as above):
//     https://learn.microsoft.com/en-us/graph/api/authenticationmethodsroot-list-userregistrationdetails?view=graph-rest-1.0
//   - List groups, GET /v1.0/groups, and transitive members, GET
//     /v1.0/groups/{id}/transitiveMembers (users, and nested groups with
//     their users, each with @odata.type):
//     https://learn.microsoft.com/en-us/graph/api/group-list?view=graph-rest-1.0
//     https://learn.microsoft.com/en-us/graph/api/group-list-transitivemembers?view=graph-rest-1.0
//   - Paging: "value" and "@odata.nextLink" with an opaque $skiptoken:
//     https://learn.microsoft.com/en-us/graph/paging
//   - Throttling: 429 (and 503) with Retry-After in seconds:
//     https://learn.microsoft.com/en-us/graph/throttling
//   - The error body {"error": {"code", "message", "innerError":
//     {"date", "request-id", "client-request-id"}}}:
//     https://learn.microsoft.com/en-us/graph/errors

const (
	testTenant   = "contoso.onmicrosoft.com"
	testClientID = "6731de76-14a6-49ae-97bc-6eba6914391e"
	testSecret   = "qWgdYAmab0YSkuL1qKv5bPX~secret"
)

type fakeUser struct {
	ID, Name, Mail string
	Enabled        bool
	Deleted        bool
	MFA            *bool // nil: not in the report
	LastSignIn     time.Time
}

type fakeGroup struct {
	ID, Name string
	Members  []string // user ids, or group ids of nested groups
}

type fault struct {
	match  func(r *http.Request) bool
	times  int
	status int
	header http.Header
	body   string
}

type graphServer struct {
	*httptest.Server
	mu       sync.Mutex
	users    map[string]*fakeUser
	groups   map[string]*fakeGroup
	faults   []*fault
	licensed bool
	tokens   map[string]bool // issued access tokens
	// reportPage is the report's own page size.
	reportPage int
	// counts
	graphRequests, tokenRequests int
	requests                     map[string]int // by path and $skiptoken
}

func newGraphServer(t testing.TB) *graphServer {
	s := &graphServer{users: map[string]*fakeUser{}, groups: map[string]*fakeGroup{}, licensed: true,
		tokens: map[string]bool{}, reportPage: 500, requests: map[string]int{}}
	s.Server = httptest.NewTLSServer(http.HandlerFunc(s.serve))
	t.Cleanup(func() {
		s.Client().CloseIdleConnections()
		s.Close()
	})
	return s
}

func (s *graphServer) addUser(u fakeUser) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users[u.ID] = &u
}

func (s *graphServer) addGroup(id, name string, members ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.groups[id] = &fakeGroup{ID: id, Name: name, Members: members}
}

func (s *graphServer) update(id string, f func(u *fakeUser)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s.users[id])
}

func (s *graphServer) addFault(f *fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, f)
}

// Fail is resynctest's fault hook: it fails the next requests of a
// read's first page, the registration report's first.
func (s *graphServer) Fail(pf resynctest.ProviderFault) {
	times := pf.Times
	if times == 0 {
		times = 1
	}
	body := pf.Body
	if body == "" {
		body = graphError(pf.Status, "")
	}
	s.addFault(&fault{match: func(r *http.Request) bool {
		return r.URL.Path == "/v1.0/reports/authenticationMethods/userRegistrationDetails" && r.URL.Query().Get("$skiptoken") == ""
	}, times: times, status: pf.Status, header: pf.Header, body: body})
}

// Requests counts Graph requests (the token endpoint's are apart).
func (s *graphServer) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.graphRequests
}

func (s *graphServer) tokenCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tokenRequests
}

func (s *graphServer) requestsFor(path, skiptoken string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests[path+"?"+skiptoken]
}

func graphError(status int, code string) string {
	msg := "An error occurred."
	switch {
	case code != "":
	case status == http.StatusUnauthorized:
		code, msg = "InvalidAuthenticationToken", "Access token validation failure. Invalid audience."
	case status == http.StatusForbidden:
		code, msg = "Authorization_RequestDenied", "Insufficient privileges to complete the operation."
	case status == http.StatusTooManyRequests:
		code, msg = "TooManyRequests", "Too many requests."
	case status == http.StatusServiceUnavailable:
		code, msg = "serviceNotAvailable", "The service is temporarily unavailable."
	default:
		code = "generalException"
	}
	if code == "Authentication_RequestFromNonPremiumTenantOrB2CTenant" {
		msg = "Neither tenant is B2C or tenant doesn't have premium license"
	}
	return fmt.Sprintf(`{"error":{"code":%q,"message":%q,"innerError":{"date":"2026-12-03T10:00:00","request-id":"b3c8c0a5-%d","client-request-id":"b3c8c0a5"}}}`,
		code, msg, status)
}

func (s *graphServer) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if r.URL.Path == "/"+testTenant+"/oauth2/v2.0/token" {
		s.tokenRequests++
		s.token(w, r)
		return
	}
	s.graphRequests++
	q := r.URL.Query()
	s.requests[r.URL.Path+"?"+q.Get("$skiptoken")]++
	for _, f := range s.faults {
		if f.times > 0 && f.match(r) {
			f.times--
			for k, vs := range f.header {
				w.Header()[k] = vs
			}
			w.WriteHeader(f.status)
			_, _ = w.Write([]byte(f.body))
			return
		}
	}
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || !s.tokens[tok] {
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(graphError(http.StatusUnauthorized, "")))
		return
	}
	sel := strings.Split(q.Get("$select"), ",")
	top, err := strconv.Atoi(q.Get("$top"))
	if err != nil || top < 1 {
		top = 100
	}
	if top > 999 {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(graphError(http.StatusBadRequest, "Request_UnsupportedQuery")))
		return
	}
	licenceRefused := func() bool {
		if !s.licensed {
			w.WriteHeader(http.StatusForbidden)
			_, _ = w.Write([]byte(graphError(http.StatusForbidden, "Authentication_RequestFromNonPremiumTenantOrB2CTenant")))
			return true
		}
		return false
	}
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/v1.0/"), "/")
	var items []any
	var ids []string
	switch {
	case r.URL.Path == "/v1.0/users" || r.URL.Path == "/v1.0/directory/deletedItems/microsoft.graph.user":
		deleted := r.URL.Path != "/v1.0/users"
		if slices.Contains(sel, "signInActivity") {
			if licenceRefused() {
				return
			}
			top = min(top, 120)
		}
		for id, u := range s.users {
			if u.Deleted == deleted {
				ids = append(ids, id)
			}
		}
		page, next := pageOf(ids, q.Get("$skiptoken"), top)
		for _, id := range page {
			items = append(items, userJSON(s.users[id], sel))
		}
		s.writeList(w, r, items, next)
	case r.URL.Path == "/v1.0/reports/authenticationMethods/userRegistrationDetails":
		if licenceRefused() {
			return
		}
		for id, u := range s.users {
			if u.MFA != nil && !u.Deleted {
				ids = append(ids, id)
			}
		}
		page, next := pageOf(ids, q.Get("$skiptoken"), s.reportPage)
		for _, id := range page {
			u := s.users[id]
			items = append(items, map[string]any{"id": id, "userPrincipalName": u.Mail, "isAdmin": false,
				"isMfaRegistered": *u.MFA, "isMfaCapable": *u.MFA, "methodsRegistered": []string{}})
		}
		s.writeList(w, r, items, next)
	case r.URL.Path == "/v1.0/groups":
		for id := range s.groups {
			ids = append(ids, id)
		}
		page, next := pageOf(ids, q.Get("$skiptoken"), top)
		for _, id := range page {
			items = append(items, map[string]any{"id": id, "displayName": s.groups[id].Name})
		}
		s.writeList(w, r, items, next)
	case len(parts) == 3 && parts[0] == "groups" && parts[2] == "transitiveMembers":
		g, ok := s.groups[parts[1]]
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(graphError(http.StatusNotFound, "Request_ResourceNotFound")))
			return
		}
		kinds := map[string]string{}
		s.flatten(g, kinds, map[string]bool{})
		for id := range kinds {
			ids = append(ids, id)
		}
		page, next := pageOf(ids, q.Get("$skiptoken"), top)
		for _, id := range page {
			items = append(items, map[string]any{"@odata.type": kinds[id], "id": id})
		}
		s.writeList(w, r, items, next)
	default:
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(graphError(http.StatusNotFound, "Request_ResourceNotFound")))
	}
}

// flatten adds g's transitive members: users, and nested groups with
// their members.
func (s *graphServer) flatten(g *fakeGroup, kinds map[string]string, seen map[string]bool) {
	if seen[g.ID] {
		return
	}
	seen[g.ID] = true
	for _, m := range g.Members {
		if u, ok := s.users[m]; ok && !u.Deleted {
			kinds[m] = "#microsoft.graph.user"
		} else if ng, ok := s.groups[m]; ok {
			kinds[m] = "#microsoft.graph.group"
			s.flatten(ng, kinds, seen)
		}
	}
}

func (s *graphServer) token(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.ParseForm() != nil || r.PostForm.Get("grant_type") != "client_credentials" {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"error":"unsupported_grant_type","error_description":"AADSTS70003: The app requested an unsupported grant type.","error_codes":[70003]}`)
		return
	}
	if r.PostForm.Get("client_id") != testClientID || r.PostForm.Get("client_secret") != testSecret {
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprintf(w, `{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '%s'. Trace ID: 0a1b Correlation ID: 2c3d Timestamp: 2026-12-03 10:00:00Z","error_codes":[7000215],"timestamp":"2026-12-03 10:00:00Z","trace_id":"0a1b","correlation_id":"2c3d","error_uri":"https://login.microsoftonline.com/error?code=7000215"}`, testClientID)
		return
	}
	if r.PostForm.Get("scope") != s.URL+"/.default" {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"error":"invalid_scope","error_description":"AADSTS1002012: The provided value for scope is not valid.","error_codes":[1002012]}`)
		return
	}
	tok := fmt.Sprintf("eyJ0eXAiOiJKV1Qi.graph-token-%d", len(s.tokens)+1)
	s.tokens[tok] = true
	fmt.Fprintf(w, `{"token_type":"Bearer","expires_in":3599,"ext_expires_in":3599,"access_token":%q}`, tok)
}

// pageOf returns the page after skiptoken (the base64 of the last id of
// the previous page) and the next skiptoken.
func pageOf(ids []string, skiptoken string, top int) ([]string, string) {
	slices.Sort(ids)
	from := 0
	if skiptoken != "" {
		raw, _ := base64.RawURLEncoding.DecodeString(skiptoken)
		from, _ = slices.BinarySearch(ids, string(raw))
		if from < len(ids) && ids[from] == string(raw) {
			from++
		}
	}
	end := min(from+top, len(ids))
	page := ids[from:end]
	if end < len(ids) && len(page) > 0 {
		return page, base64.RawURLEncoding.EncodeToString([]byte(page[len(page)-1]))
	}
	return page, ""
}

func (s *graphServer) writeList(w http.ResponseWriter, r *http.Request, items []any, next string) {
	out := map[string]any{"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#" + strings.TrimPrefix(r.URL.Path, "/v1.0/"),
		"value": items}
	if items == nil {
		out["value"] = []any{}
	}
	if next != "" {
		q := r.URL.Query()
		q.Set("$skiptoken", next)
		out["@odata.nextLink"] = (&url.URL{Scheme: "https", Host: r.Host, Path: r.URL.Path, RawQuery: q.Encode()}).String()
	}
	_ = json.NewEncoder(w).Encode(out)
}

func userJSON(u *fakeUser, sel []string) map[string]any {
	all := map[string]any{
		"id": u.ID, "accountEnabled": u.Enabled, "displayName": u.Name, "givenName": u.Name, "surname": "Doe",
		"mail": u.Mail, "userPrincipalName": u.Mail, "employeeId": "E" + u.ID[:4], "jobTitle": "Engineer",
		"department": "R&D", "companyName": nil, "officeLocation": "18/2111", "userType": "Member",
		"createdDateTime": "2024-01-15T10:00:00Z", "onPremisesImmutableId": nil,
		"signInActivity": map[string]any{"lastSignInDateTime": u.LastSignIn.Format(time.RFC3339), "lastSignInRequestId": "c7df2760",
			"lastNonInteractiveSignInDateTime": nil, "lastSuccessfulSignInDateTime": nil},
	}
	if u.Deleted {
		all["deletedDateTime"] = "2026-11-20T08:00:00Z"
	}
	out := map[string]any{}
	for _, k := range sel {
		if v, ok := all[k]; ok {
			out[k] = v
		}
	}
	return out
}
