package google_test

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/openresync/resync/resynctest"
)

// directory is a local stand-in for the Google Workspace Admin SDK
// Directory API and the OAuth 2.0 token endpoint a service account uses.
// It follows these references:
//
//   - users.list: https://developers.google.com/workspace/admin/directory/reference/rest/v1/users/list
//     (GET /admin/directory/v1/users, customer or domain, maxResults
//     1-500, pageToken/nextPageToken) and the User resource,
//     https://developers.google.com/workspace/admin/directory/reference/rest/v1/users
//   - groups.list: https://developers.google.com/workspace/admin/directory/reference/rest/v1/groups/list
//     (maxResults 1-200; directMembersCount is an int64 sent as a string)
//   - members.list: https://developers.google.com/workspace/admin/directory/reference/rest/v1/members/list
//     (GET /admin/directory/v1/groups/{groupKey}/members, maxResults 1-200)
//   - errors: https://developers.google.com/workspace/admin/directory/v1/limits
//     (403 userRateLimitExceeded / quotaExceeded) and the JSON error body
//     {"error":{"code","message","errors":[{"domain","reason","message"}],"status"}}
//     of https://cloud.google.com/apis/design/errors
//   - the token endpoint of the service account flow with a JWT assertion
//     (RFC 7523; grant_type urn:ietf:params:oauth:grant-type:jwt-bearer):
//     https://developers.google.com/identity/protocols/oauth2/service-account#httprest
//
// Page tokens are opaque strings the server decodes (here an offset,
// base64-encoded with a salt, so a client cannot make them up).
type directory struct {
	*httptest.Server
	t   testing.TB
	key *rsa.PrivateKey

	mu      sync.Mutex
	users   []map[string]any
	groups  []dirGroup
	tokens  int            // token requests
	api     int            // Directory API requests
	perPage map[string]int // API requests by path and page token
	faults  []fault
	issued  map[string]bool // access tokens issued
	subject string          // the admin the JWT must name
	revoked bool            // the token endpoint answers invalid_grant
	maxMax  map[string]int  // largest maxResults accepted, by listing
}

type dirGroup struct {
	id, email, name string
	members         []string // user IDs
	nested          []string // group IDs (type GROUP)
}

// fault is a scripted failure of the API requests that match.
type fault struct {
	match  func(r *http.Request) bool
	times  int
	status int
	header http.Header
	reason string
	body   string
}

const (
	testSubject = "admin@example.com"
	pathPrefix  = "/admin/directory/v1/"
)

var (
	keyOnce sync.Once
	rsaKey  *rsa.PrivateKey
)

func newDirectory(t testing.TB) *directory {
	t.Helper()
	keyOnce.Do(func() {
		var err error
		rsaKey, err = rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
	})
	d := &directory{t: t, key: rsaKey, perPage: map[string]int{}, issued: map[string]bool{}, subject: testSubject,
		maxMax: map[string]int{"users": 500, "groups": 200, "members": 200}}
	d.Server = httptest.NewTLSServer(http.HandlerFunc(d.serve))
	t.Cleanup(func() {
		d.Close()
		d.Client().CloseIdleConnections()
	})
	return d
}

// credentials is the service account's JSON key, as the Cloud console
// downloads it, with token_uri pointing at this server.
func (d *directory) credentials() string {
	der, err := x509.MarshalPKCS8PrivateKey(d.key)
	require.NoError(d.t, err)
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	b, err := json.Marshal(map[string]string{
		"type": "service_account", "project_id": "resync-test", "private_key_id": "k1",
		"private_key": string(pemKey), "client_email": "resync@resync-test.iam.gserviceaccount.com",
		"client_id": "1234567890", "auth_uri": "https://accounts.google.com/o/oauth2/auth",
		"token_uri": d.URL + "/token",
	})
	require.NoError(d.t, err)
	return string(b)
}

// addUser adds a user with Google's fields; id is a numeric string like
// Google's.
func (d *directory) addUser(i int, mutate ...func(u map[string]any)) string {
	id := fmt.Sprintf("1%020d", i)
	u := map[string]any{
		"kind": "admin#directory#user", "id": id, "etag": `"e` + strconv.Itoa(i) + `"`,
		"primaryEmail": fmt.Sprintf("user%d@example.com", i),
		"name":         map[string]any{"givenName": "User", "familyName": strconv.Itoa(i), "fullName": "User " + strconv.Itoa(i)},
		"isAdmin":      false, "isDelegatedAdmin": false, "suspended": false, "archived": false,
		"isEnrolledIn2Sv": i%2 == 0, "isEnforcedIn2Sv": i%4 == 0,
		"lastLoginTime": "1970-01-01T00:00:00.000Z", "creationTime": "2024-03-01T10:00:00.000Z",
		"orgUnitPath": "/Engineering", "customerId": "C01abcd",
		"organizations": []any{map[string]any{"title": "Engineer", "department": "R&D", "primary": true, "customType": ""}},
		"externalIds":   []any{map[string]any{"value": "E" + strconv.Itoa(i), "type": "organization"}},
		"relations":     []any{map[string]any{"value": "boss@example.com", "type": "manager"}},
	}
	for _, m := range mutate {
		m(u)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.users = append(d.users, u)
	return id
}

func (d *directory) setUser(id string, mutate func(u map[string]any)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, u := range d.users {
		if u["id"] == id {
			mutate(u)
			return
		}
	}
	d.t.Fatalf("no user %s", id)
}

func (d *directory) removeUser(id string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.users = slices.DeleteFunc(d.users, func(u map[string]any) bool { return u["id"] == id })
}

func (d *directory) addGroup(i int, members ...string) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	id := fmt.Sprintf("0%dgroup%04d", i%10, i)
	d.groups = append(d.groups, dirGroup{id: id, email: fmt.Sprintf("group%d@example.com", i), name: "Group " + strconv.Itoa(i), members: members})
	return id
}

func (d *directory) fail(f fault) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if f.times == 0 {
		f.times = 1
	}
	d.faults = append(d.faults, f)
}

// Fail is the resynctest fault hook: the next requests for the first
// page of users fail as f says.
func (d *directory) Fail(f resynctest.ProviderFault) {
	reason := map[int]string{401: "authError", 403: "forbidden", 429: "rateLimitExceeded", 500: "backendError", 503: "backendError"}[f.Status]
	d.fail(fault{match: func(r *http.Request) bool {
		return r.URL.Path == pathPrefix+"users" && r.URL.Query().Get("pageToken") == ""
	}, times: max(f.Times, 1), status: f.Status, header: f.Header, reason: reason, body: f.Body})
}

// Requests counts the Directory API requests (not the token requests).
func (d *directory) Requests() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.api
}

func (d *directory) tokenRequests() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.tokens
}

func (d *directory) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/token" {
		d.serveToken(w, r)
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.api++
	q := r.URL.Query()
	d.perPage[r.URL.Path+"?"+q.Get("pageToken")]++
	auth := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	for i := range d.faults {
		f := &d.faults[i]
		if f.times > 0 && f.match(r) {
			f.times--
			for k, v := range f.header {
				w.Header()[k] = v
			}
			if f.body != "" {
				w.Header().Set("Content-Type", "application/json; charset=UTF-8")
				w.WriteHeader(f.status)
				_, _ = w.Write([]byte(f.body))
				return
			}
			writeError(w, f.status, f.reason, "injected: "+http.StatusText(f.status))
			return
		}
	}
	if !d.issued[auth] {
		w.Header().Set("WWW-Authenticate", `Bearer realm="https://accounts.google.com/", error="invalid_token"`)
		writeError(w, http.StatusUnauthorized, "authError", "Invalid Credentials")
		return
	}
	if r.Method != http.MethodGet || q.Get("alt") != "json" {
		writeError(w, http.StatusBadRequest, "invalid", "unexpected request "+r.Method+" "+r.URL.String())
		return
	}
	rest := strings.TrimPrefix(r.URL.Path, pathPrefix)
	switch {
	case rest == "users" || rest == "groups":
		if q.Get("customer") == "" && q.Get("domain") == "" {
			writeError(w, http.StatusBadRequest, "badRequest", "Bad Request")
			return
		}
		if rest == "users" {
			d.list(w, q, "users", "admin#directory#users", len(d.users), 100, func(i int) any { return d.users[i] })
			return
		}
		d.list(w, q, "groups", "admin#directory#groups", len(d.groups), 200, func(i int) any {
			g := d.groups[i]
			return map[string]any{"kind": "admin#directory#group", "id": g.id, "email": g.email, "name": g.name,
				"directMembersCount": strconv.Itoa(len(g.members) + len(g.nested)), "adminCreated": true}
		})
	case strings.HasPrefix(rest, "groups/") && strings.HasSuffix(rest, "/members"):
		key := strings.TrimSuffix(strings.TrimPrefix(rest, "groups/"), "/members")
		i := slices.IndexFunc(d.groups, func(g dirGroup) bool { return g.id == key || g.email == key })
		if i < 0 {
			writeError(w, http.StatusNotFound, "notFound", "Resource Not Found: groupKey")
			return
		}
		g := d.groups[i]
		d.list(w, q, "members", "admin#directory#members", len(g.members)+len(g.nested), 200, func(j int) any {
			if j < len(g.members) {
				return map[string]any{"kind": "admin#directory#member", "id": g.members[j], "email": "m@example.com",
					"role": "MEMBER", "type": "USER", "status": "ACTIVE"}
			}
			return map[string]any{"kind": "admin#directory#member", "id": g.nested[j-len(g.members)], "role": "MEMBER", "type": "GROUP"}
		})
	default:
		writeError(w, http.StatusNotFound, "notFound", "Not Found")
	}
}

// list writes one page of a listing: maxResults (default def, at most
// the listing's maximum) items from the pageToken's offset.
func (d *directory) list(w http.ResponseWriter, q map[string][]string, name, kind string, n, def int, item func(i int) any) {
	size := def
	if v := first(q["maxResults"]); v != "" {
		m, err := strconv.Atoi(v)
		if err != nil || m < 1 || m > d.maxMax[name] {
			writeError(w, http.StatusBadRequest, "invalid", "Invalid value for maxResults")
			return
		}
		size = m
	}
	off := 0
	if tok := first(q["pageToken"]); tok != "" {
		raw, err := base64.RawURLEncoding.DecodeString(tok)
		after, ok := strings.CutPrefix(string(raw), "offset:")
		if err != nil || !ok {
			writeError(w, http.StatusBadRequest, "invalid", "Invalid page token")
			return
		}
		if off, err = strconv.Atoi(after); err != nil {
			writeError(w, http.StatusBadRequest, "invalid", "Invalid page token")
			return
		}
	}
	items := []any{}
	for i := off; i < min(off+size, n); i++ {
		items = append(items, item(i))
	}
	body := map[string]any{"kind": kind, "etag": `"list"`, name: items}
	if off+size < n {
		body["nextPageToken"] = base64.RawURLEncoding.EncodeToString([]byte("offset:" + strconv.Itoa(off+size)))
	}
	if len(items) == 0 {
		delete(body, name) // Google leaves out an empty list
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	_ = json.NewEncoder(w).Encode(body)
}

func first(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

// writeError writes Google's JSON error body.
func writeError(w http.ResponseWriter, status int, reason, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(status)
	domain := "global"
	if strings.Contains(reason, "RateLimit") || reason == "quotaExceeded" {
		domain = "usageLimits"
	}
	s := map[int]string{400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
		429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}[status]
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{
		"code": status, "message": msg, "status": s,
		"errors": []any{map[string]any{"message": msg, "domain": domain, "reason": reason}},
	}})
}

// serveToken is the OAuth 2.0 token endpoint: it checks the JWT
// assertion's signature and claims and issues an access token.
func (d *directory) serveToken(w http.ResponseWriter, r *http.Request) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.tokens++
	tokenErr := func(code, desc string) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
	}
	if err := r.ParseForm(); err != nil || r.Method != http.MethodPost {
		tokenErr("invalid_request", "bad request")
		return
	}
	if r.PostForm.Get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
		tokenErr("unsupported_grant_type", "Invalid grant_type")
		return
	}
	if d.revoked {
		tokenErr("invalid_grant", "Invalid JWT Signature.")
		return
	}
	parts := strings.Split(r.PostForm.Get("assertion"), ".")
	if len(parts) != 3 {
		tokenErr("invalid_grant", "Invalid JWT")
		return
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err != nil || rsa.VerifyPKCS1v15(&d.key.PublicKey, crypto.SHA256, sum[:], sig) != nil {
		tokenErr("invalid_grant", "Invalid JWT Signature.")
		return
	}
	raw, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var claims struct {
		Iss, Sub, Aud, Scope string
	}
	if json.Unmarshal(raw, &claims) != nil || claims.Aud != d.URL+"/token" || claims.Iss == "" {
		tokenErr("invalid_grant", "Invalid JWT claims")
		return
	}
	if claims.Sub != d.subject {
		tokenErr("unauthorized_client", "Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested.")
		return
	}
	if !strings.Contains(claims.Scope, "admin.directory.user.readonly") || !strings.Contains(claims.Scope, "admin.directory.group.readonly") {
		tokenErr("unauthorized_client", "scopes not granted")
		return
	}
	tok := fmt.Sprintf("ya29.test-%d-%x", d.tokens, sum[:6])
	d.issued[tok] = true
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": 3599})
}
