// This file is a fake provider's HTTP API, for testing connectors end to
// end: paging styles, rate-limit fields, injected failures and a list that
// changes while it is read.

package resynctest

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
	"time"
)

// Paging is how a Provider pages its user list.
type Paging string

// Paging styles, each as the providers that use it write it.
const (
	// PagingLink: GET /users?limit=N returns a JSON array of users and a
	// Link: <...?after=ID&limit=N>; rel="next" header (Okta, GitHub).
	PagingLink Paging = "link"
	// PagingCursor: GET /users?cursor=C&limit=N returns
	// {"users": [...], "next_cursor": "..."}; "" on the last page (Slack).
	PagingCursor Paging = "cursor"
	// PagingOffset: GET /users?offset=O&limit=N returns
	// {"users": [...], "total": T}.
	PagingOffset Paging = "offset"
	// PagingPage: GET /users?page=P&per_page=N (P from 1) returns
	// {"users": [...], "total_pages": P}.
	PagingPage Paging = "page"
	// PagingStartIndex: GET /users?startIndex=S&count=N (S from 1) returns
	// a SCIM ListResponse (RFC 7644 §3.4.2): {"totalResults": T,
	// "startIndex": S, "itemsPerPage": n, "Resources": [...]}.
	PagingStartIndex Paging = "startIndex"
)

// RateLimitStyle is the spelling of the rate-limit fields a Provider sends
// on every response.
type RateLimitStyle string

// Rate-limit field spellings.
const (
	// RateLimitOkta: X-Rate-Limit-Limit, -Remaining, -Reset (Unix seconds).
	RateLimitOkta RateLimitStyle = "okta"
	// RateLimitGitHub: x-ratelimit-limit, -remaining, -used, -reset (Unix
	// seconds), and 403 when the quota is spent.
	RateLimitGitHub RateLimitStyle = "github"
	// RateLimitIETF: RateLimit-Policy: "default";q=N;w=S and
	// RateLimit: "default";r=N;t=S.
	RateLimitIETF RateLimitStyle = "ietf"
)

// ProviderUser is a user of a Provider's list, served as JSON with these
// field names.
type ProviderUser struct {
	ID     string `json:"id"`
	Email  string `json:"email"`
	Name   string `json:"name,omitempty"`
	Active bool   `json:"active"`
}

// ProviderConfig configures a Provider. Zero fields take the defaults
// noted.
type ProviderConfig struct {
	// Paging is the paging style; default PagingLink.
	Paging Paging
	// PageSize is the page size when the request asks for none, and the
	// largest it may ask for; default 50.
	PageSize int
	// Token, if set, is the bearer token every request must carry; others
	// get 401. SetToken changes it (a token expired, or rotated).
	Token string
	// RateLimit, if set, is the spelling of the rate-limit fields sent on
	// every response. Quota requests are allowed per Window (default 1000
	// per minute); past it the Provider answers 429 (403 for GitHub) until
	// the window ends.
	RateLimit RateLimitStyle
	Quota     int
	Window    time.Duration
	// Now is the Provider's clock, sent in Date and used for the rate
	// limit's window; default time.Now (virtual inside testing/synctest).
	Now func() time.Time
}

// ProviderFault is a scripted failure of requests for one page.
type ProviderFault struct {
	// Page is the 1-based page number hit: the request whose first item
	// is at offset (Page-1)·size, size being the page size it asked for.
	Page int
	// Times is how many requests for that page fail (0 means 1).
	Times int
	// Status is the HTTP status answered (429, 500, 401, ...).
	Status int
	// Header is added to the failing response (Retry-After, ...).
	Header http.Header
	// Body is the response body; default a JSON error naming the status.
	Body string
}

// Provider is a fake provider's HTTP API serving a user list, in ID order,
// on /users,
// for testing a connector end to end: its paging, its handling of the
// rate-limit fields on every response, and of failures injected at a given
// page. Its list may be changed while a read is under way. Its methods are
// safe for concurrent use.
type Provider struct {
	cfg ProviderConfig
	srv *httptest.Server

	mu          sync.Mutex
	users       []ProviderUser
	token       string
	faults      []ProviderFault
	hits        map[int]int // fault index → failures served
	byCursor    map[string]int
	requests    int
	throttled   int
	used        int
	windowStart time.Time
	onRequest   func(n int, users []ProviderUser) []ProviderUser
}

// NewProvider starts a Provider serving users. Close it when done
// (t.Cleanup(p.Close) in a test).
func NewProvider(cfg ProviderConfig, users []ProviderUser) *Provider {
	if cfg.Paging == "" {
		cfg.Paging = PagingLink
	}
	if cfg.PageSize <= 0 {
		cfg.PageSize = 50
	}
	if cfg.Quota <= 0 {
		cfg.Quota = 1000
	}
	if cfg.Window <= 0 {
		cfg.Window = time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	p := &Provider{cfg: cfg, users: sortUsers(slices.Clone(users)), token: cfg.Token, hits: map[int]int{}, byCursor: map[string]int{}}
	return p
}

// Transport is an http.RoundTripper that hands requests to the Provider
// in process, without the network: use it as the Transport of the
// connector's http.Client inside testing/synctest, where a wait for a
// Retry-After or a reset then passes in virtual time (a goroutine blocked
// on a real connection would keep virtual time from advancing).
func (p *Provider) Transport() http.RoundTripper { return providerTransport{p} }

type providerTransport struct{ p *Provider }

func (t providerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := req.Context().Err(); err != nil {
		return nil, err
	}
	rec := httptest.NewRecorder()
	r := req.Clone(req.Context())
	if r.Host == "" {
		r.Host = req.URL.Host
	}
	t.p.serve(rec, r)
	resp := rec.Result()
	resp.Request = req
	return resp, nil
}

// Throttled returns how many requests the Provider refused for the quota
// (429, or 403 for GitHub), injected faults not included.
func (p *Provider) Throttled() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.throttled
}

// Close shuts the Provider's server down, if it was started.
func (p *Provider) Close() {
	p.mu.Lock()
	srv := p.srv
	p.mu.Unlock()
	if srv != nil {
		srv.Close()
	}
}

// ProviderUsers returns n active users with IDs prefix0001, prefix0002, ...
func ProviderUsers(prefix string, n int) []ProviderUser {
	out := make([]ProviderUser, n)
	for i := range out {
		id := fmt.Sprintf("%s%04d", prefix, i+1)
		out[i] = ProviderUser{ID: id, Email: id + "@example.com", Name: "User " + id, Active: true}
	}
	return out
}

// URL is the base URL of the Provider's API; the list is at URL + "/users".
// The first call starts its server on loopback. A test that reaches the
// Provider only through Transport needs no server (nor URL): any base URL
// will do.
func (p *Provider) URL() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.srv == nil {
		p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	}
	return p.srv.URL
}

// SetToken changes the bearer token the Provider accepts.
func (p *Provider) SetToken(token string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.token = token
}

// Fail adds a scripted failure.
func (p *Provider) Fail(f ProviderFault) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.faults = append(p.faults, f)
}

// Update runs f on the user list under the Provider's lock: remove,
// add or change users, as between two pages of a read.
func (p *Provider) Update(f func(users []ProviderUser) []ProviderUser) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.users = sortUsers(f(p.users))
}

// sortUsers keeps the list in ID order, as the Link style's after=ID
// cursor needs.
func sortUsers(users []ProviderUser) []ProviderUser {
	slices.SortFunc(users, func(a, b ProviderUser) int { return strings.Compare(a.ID, b.ID) })
	return users
}

// OnRequest sets a function called before each request is answered, with
// the request's number (from 1) and the user list; what it returns is the
// list from then on. Change the list there to change it mid-read.
func (p *Provider) OnRequest(f func(n int, users []ProviderUser) []ProviderUser) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.onRequest = f
}

// Requests returns how many requests the Provider has answered.
func (p *Provider) Requests() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.requests
}

// RequestsFor returns how many requests asked for the page starting at
// offset (0-based), failed ones included: more than one means a retry
// or a re-read.
func (p *Provider) RequestsFor(offset int) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.byCursor[strconv.Itoa(offset)]
}

func (p *Provider) serve(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.requests++
	if p.onRequest != nil {
		p.users = sortUsers(p.onRequest(p.requests, p.users))
	}
	now := p.cfg.Now()
	w.Header().Set("Date", now.UTC().Format(http.TimeFormat))
	w.Header().Set("Content-Type", "application/json")
	if p.token != "" && r.Header.Get("Authorization") != "Bearer "+p.token {
		writeError(w, http.StatusUnauthorized, `{"error":"invalid_token"}`)
		return
	}
	if !strings.HasSuffix(r.URL.Path, "/users") && !strings.HasSuffix(r.URL.Path, "/Users") {
		writeError(w, http.StatusNotFound, `{"error":"not found"}`)
		return
	}
	if p.rateLimited(w, now) {
		return
	}
	q := r.URL.Query()
	offset, size, err := p.window(q)
	if err != nil {
		writeError(w, http.StatusBadRequest, fmt.Sprintf(`{"error":%q}`, err.Error()))
		return
	}
	p.byCursor[strconv.Itoa(offset)]++
	page := offset/size + 1
	for i, f := range p.faults {
		if f.Page == page && p.hits[i] < max(f.Times, 1) {
			p.hits[i]++
			for k, vs := range f.Header {
				w.Header()[k] = vs
			}
			body := f.Body
			if body == "" {
				body = fmt.Sprintf(`{"error":%q}`, http.StatusText(f.Status))
			}
			writeError(w, f.Status, body)
			return
		}
	}
	from := min(offset, len(p.users))
	to := min(from+size, len(p.users))
	items := p.users[from:to]
	more := to < len(p.users)
	var body any
	switch p.cfg.Paging {
	case PagingLink:
		if more && len(items) > 0 {
			next := *r.URL
			next.Scheme, next.Host = "http", r.Host
			if r.URL.Scheme != "" { // through Transport
				next.Scheme = r.URL.Scheme
			}
			nq := url.Values{"after": {items[len(items)-1].ID}, "limit": {strconv.Itoa(size)}}
			next.RawQuery = nq.Encode()
			w.Header().Add("Link", fmt.Sprintf(`<%s>; rel="self"`, r.URL.String()))
			w.Header().Add("Link", fmt.Sprintf(`<%s>; rel="next"`, next.String()))
		}
		body = items
	case PagingCursor:
		next := ""
		if more {
			next = base64.RawURLEncoding.EncodeToString([]byte(strconv.Itoa(to)))
		}
		body = map[string]any{"users": items, "next_cursor": next}
	case PagingOffset:
		body = map[string]any{"users": items, "total": len(p.users)}
	case PagingPage:
		body = map[string]any{"users": items, "total_pages": (len(p.users) + size - 1) / size}
	case PagingStartIndex:
		body = map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:ListResponse"},
			"totalResults": len(p.users), "startIndex": offset + 1, "itemsPerPage": len(items), "Resources": items}
	}
	_ = json.NewEncoder(w).Encode(body)
}

// window reads the request's page: its 0-based offset and size.
func (p *Provider) window(q url.Values) (offset, size int, err error) {
	size = p.cfg.PageSize
	num := func(name string, def, least int) (int, error) {
		v := q.Get(name)
		if v == "" {
			return def, nil
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < least {
			return 0, fmt.Errorf("bad %s %q", name, v)
		}
		return n, nil
	}
	sizeParam := map[Paging]string{PagingPage: "per_page", PagingStartIndex: "count"}[p.cfg.Paging]
	if sizeParam == "" {
		sizeParam = "limit"
	}
	if size, err = num(sizeParam, size, 1); err != nil {
		return 0, 0, err
	}
	size = min(size, p.cfg.PageSize)
	switch p.cfg.Paging {
	case PagingLink:
		if after := q.Get("after"); after != "" {
			// The first user after the cursor's, gone or not: the list
			// is in ID order, so a change elsewhere shifts nothing.
			i, found := slices.BinarySearchFunc(p.users, after, func(u ProviderUser, id string) int { return strings.Compare(u.ID, id) })
			if found {
				i++
			}
			return i, size, nil
		}
		return 0, size, nil
	case PagingCursor:
		c := q.Get("cursor")
		if c == "" {
			return 0, size, nil
		}
		raw, derr := base64.RawURLEncoding.DecodeString(c)
		n, aerr := strconv.Atoi(string(raw))
		if derr != nil || aerr != nil || n < 0 {
			return 0, 0, fmt.Errorf("bad cursor %q", c)
		}
		return n, size, nil
	case PagingOffset:
		offset, err = num("offset", 0, 0)
		return offset, size, err
	case PagingPage:
		page, err := num("page", 1, 1)
		return (page - 1) * size, size, err
	default:
		start, err := num("startIndex", 1, 1)
		return start - 1, size, err
	}
}

// rateLimited sends the rate-limit fields and, with the quota spent,
// answers the request as throttled.
func (p *Provider) rateLimited(w http.ResponseWriter, now time.Time) bool {
	if p.cfg.RateLimit == "" {
		return false
	}
	if p.windowStart.IsZero() || !now.Before(p.windowStart.Add(p.cfg.Window)) {
		p.windowStart, p.used = now, 0
	}
	reset := p.windowStart.Add(p.cfg.Window)
	spent := p.used >= p.cfg.Quota
	if !spent {
		p.used++
	}
	remaining := p.cfg.Quota - p.used
	h := w.Header()
	secs := int(reset.Sub(now).Round(time.Second) / time.Second)
	switch p.cfg.RateLimit {
	case RateLimitOkta:
		h.Set("X-Rate-Limit-Limit", strconv.Itoa(p.cfg.Quota))
		h.Set("X-Rate-Limit-Remaining", strconv.Itoa(remaining))
		h.Set("X-Rate-Limit-Reset", strconv.FormatInt(reset.Unix(), 10))
	case RateLimitGitHub:
		h.Set("X-Ratelimit-Limit", strconv.Itoa(p.cfg.Quota))
		h.Set("X-Ratelimit-Remaining", strconv.Itoa(remaining))
		h.Set("X-Ratelimit-Used", strconv.Itoa(p.used))
		h.Set("X-Ratelimit-Reset", strconv.FormatInt(reset.Unix(), 10))
	case RateLimitIETF:
		h.Set("RateLimit-Policy", fmt.Sprintf(`"default";q=%d;w=%d`, p.cfg.Quota, int(p.cfg.Window/time.Second)))
		h.Set("RateLimit", fmt.Sprintf(`"default";r=%d;t=%d`, remaining, secs))
	}
	if !spent {
		return false
	}
	p.throttled++
	status := http.StatusTooManyRequests
	if p.cfg.RateLimit == RateLimitGitHub {
		status = http.StatusForbidden
	}
	writeError(w, status, `{"error":"rate limit exceeded"}`)
	return true
}

func writeError(w http.ResponseWriter, status int, body string) {
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}
