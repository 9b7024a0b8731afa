package google

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	googleoauth "golang.org/x/oauth2/google"
	admin "google.golang.org/api/admin/directory/v1"
	"google.golang.org/api/option"

	"github.com/openresync/resync"
	"github.com/openresync/resync/connkit"
)

// Page sizes: the largest the Directory API accepts for each listing
// (users.list maxResults 1-500, groups.list and members.list 1-200).
const (
	// MaxUserPageSize is the largest users.list page, and the default.
	MaxUserPageSize = 500
	// MaxGroupPageSize is the largest groups.list and members.list page,
	// and the default.
	MaxGroupPageSize = 200
)

// DefaultEndpoint is the Directory API's root URL.
const DefaultEndpoint = "https://admin.googleapis.com/"

// DefaultThrottleWait is how long a read waits after a rate-limit error
// that carries no Retry-After, when Config.ThrottleWait is 0.
const DefaultThrottleWait = 10 * time.Second

// Scopes are the read-only OAuth scopes the connector asks for; the
// service account's client ID must be granted them in the Admin console
// (Security > API controls > Domain-wide delegation).
var Scopes = []string{admin.AdminDirectoryUserReadonlyScope, admin.AdminDirectoryGroupReadonlyScope}

// The fields asked for (partial response), so a page carries what the
// mapping reads and nothing more.
const (
	userFields   = "nextPageToken,users(id,primaryEmail,name/fullName,suspended,suspensionReason,archived,isAdmin,isDelegatedAdmin,isEnrolledIn2Sv,isEnforcedIn2Sv,lastLoginTime,creationTime,orgUnitPath,organizations,externalIds,relations)"
	groupFields  = "nextPageToken,groups(id,email,name,directMembersCount)"
	memberFields = "nextPageToken,members(id,type)"
)

// Config is what the host gives every connector of this package, beside
// each connection's settings.
type Config struct {
	// HTTPClient sends the requests, to the token endpoint and to the
	// API. Nil means a client with a one-minute timeout. Its transport
	// decides which certificates are trusted.
	HTTPClient *http.Client
	// Endpoint is the Directory API's root URL; "" means DefaultEndpoint.
	// Tests point it at a local server.
	Endpoint string
	// ThrottleWait is the wait after a rate-limit error without a
	// Retry-After (Google documents none; it asks for backoff); 0 means
	// DefaultThrottleWait.
	ThrottleWait time.Duration
	// Logger receives the library's request logs at Debug level; nil
	// discards them. Access tokens are not logged.
	Logger *slog.Logger
}

// Factory is the resync.ConnectorFactory of this package with the zero
// Config.
var Factory = NewFactory(Config{})

// NewFactory returns a resync.ConnectorFactory building connectors with
// cfg, for resync.Config.Connectors.
func NewFactory(cfg Config) resync.ConnectorFactory {
	return func(ctx context.Context, conn resync.Connection) (resync.Connector, error) {
		conn, err := connkit.ResolveSecrets(ctx, conn, "credentials_json")
		if err != nil {
			return nil, fmt.Errorf("google connector: %w", err)
		}
		return New(conn, cfg)
	}
}

var defaultClient = &http.Client{Timeout: time.Minute}

var knownSettings = map[string]bool{"credentials_json": true, "subject": true, "customer": true,
	"domain": true, "groups": true, "page_size": true, "group_page_size": true}

// New returns a Connector reading the Google Workspace account that
// conn.Settings names (see the package doc). It checks the settings and
// the service account key only; Google is first asked by ReadPage or
// CheckHealth. A bad setting is a resync.Permanent error wrapping
// resync.ErrInvalidRequest, naming the setting and never quoting a
// credential.
func New(conn resync.Connection, cfg Config) (resync.Connector, error) {
	s := conn.Settings
	bad := func(format string, args ...any) error {
		return resync.Permanent(fmt.Errorf("%w: google connector (connection %q): %s",
			resync.ErrInvalidRequest, conn.ID, fmt.Sprintf(format, args...)))
	}
	for _, k := range slices.Sorted(maps.Keys(s)) {
		if !knownSettings[k] {
			return nil, bad("unknown setting %q", k)
		}
	}
	key := strings.TrimSpace(s["credentials_json"])
	if key == "" {
		return nil, bad(`set "credentials_json", the service account's JSON key`)
	}
	subject := strings.TrimSpace(s["subject"])
	if subject == "" || !strings.Contains(subject, "@") {
		return nil, bad(`set "subject", the email of the admin the service account acts as (domain-wide delegation)`)
	}
	jwtCfg, err := googleoauth.JWTConfigFromJSON([]byte(key), Scopes...)
	if err != nil {
		// The library's message may quote the key: it is not passed on.
		return nil, bad(`setting "credentials_json" is not a service account JSON key with a private key`)
	}
	jwtCfg.Subject = subject

	c := &connector{conn: conn, identities: conn.Type == resync.IdP || conn.Type == resync.HRIS,
		readGroups: true, userPage: MaxUserPageSize, groupPage: MaxGroupPageSize,
		throttleWait: cfg.ThrottleWait, groupPages: map[string]*groupsPage{}, gathered: map[string]map[string]bool{}}
	if c.throttleWait <= 0 {
		c.throttleWait = DefaultThrottleWait
	}
	customer, domain := strings.TrimSpace(s["customer"]), strings.TrimSpace(s["domain"])
	switch {
	case customer != "" && domain != "":
		return nil, bad(`set "customer" or "domain", not both`)
	case domain != "":
		c.domain = domain
	case customer != "":
		c.customer = customer
	default:
		c.customer = "my_customer"
	}
	if v := strings.TrimSpace(s["groups"]); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, bad(`setting "groups" is %q, want "true" or "false"`, v)
		}
		c.readGroups = b
	}
	size := func(name string, def, maxSize int) (int, error) {
		v := strings.TrimSpace(s[name])
		if v == "" {
			return def, nil
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxSize {
			return 0, bad(`setting %q is %q, want a whole number from 1 to %d`, name, v, maxSize)
		}
		return n, nil
	}
	if c.userPage, err = size("page_size", MaxUserPageSize, MaxUserPageSize); err != nil {
		return nil, err
	}
	if c.groupPage, err = size("group_page_size", MaxGroupPageSize, MaxGroupPageSize); err != nil {
		return nil, err
	}

	hc := cfg.HTTPClient
	if hc == nil {
		hc = defaultClient
	}
	// The token source outlives the factory's context: it fetches tokens
	// during the read, through hc.
	tokenCtx := context.WithValue(context.Background(), oauth2.HTTPClient, hc)
	c.tokens = &recordingSource{src: jwtCfg.TokenSource(tokenCtx)}
	base := hc.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	apiClient := &http.Client{Transport: &oauth2.Transport{Source: c.tokens, Base: base},
		Timeout: hc.Timeout, CheckRedirect: hc.CheckRedirect, Jar: hc.Jar}
	endpoint := cfg.Endpoint
	if endpoint == "" {
		endpoint = DefaultEndpoint
	}
	opts := []option.ClientOption{option.WithHTTPClient(apiClient), option.WithEndpoint(endpoint)}
	if cfg.Logger != nil {
		opts = append(opts, option.WithLogger(cfg.Logger))
	}
	// NewService with WithHTTPClient does no I/O: the client is used as it
	// is, credentials and all.
	c.svc, err = admin.NewService(context.Background(), opts...)
	if err != nil {
		return nil, bad("building the Directory API client: %v", err)
	}
	return c, nil
}

// recordingSource is a token source that remembers the access tokens it
// handed out, so that an error quoting one (a server echoing the
// Authorization header) has it removed.
type recordingSource struct {
	src    oauth2.TokenSource
	mu     sync.Mutex
	tokens []string
}

func (r *recordingSource) Token() (*oauth2.Token, error) {
	t, err := r.src.Token()
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	if !slices.Contains(r.tokens, t.AccessToken) {
		r.tokens = append(r.tokens, t.AccessToken)
	}
	r.mu.Unlock()
	return t, nil
}

func (r *recordingSource) scrub(s string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, t := range r.tokens {
		if t != "" {
			s = strings.ReplaceAll(s, t, "REDACTED")
		}
	}
	return s
}

// connector reads one connection. The engine builds one per read and uses
// it from one goroutine at a time (the resync.Connector contract).
type connector struct {
	conn         resync.Connection
	svc          *admin.Service
	tokens       *recordingSource
	identities   bool // IdP and HRIS connections: identities; others: accounts
	readGroups   bool
	customer     string
	domain       string
	userPage     int
	groupPage    int
	throttleWait time.Duration

	// groupPages holds the groups.list pages read, by page token, so that
	// member cursors need not ask for them again.
	groupPages map[string]*groupsPage
	// gathered holds the member keys read so far of each group whose
	// member list spans several pages, by group ID.
	gathered map[string]map[string]bool
}

type groupsPage struct {
	groups []*admin.Group
	next   string
}

var (
	_ resync.Connector     = (*connector)(nil)
	_ resync.HealthChecker = (*connector)(nil)
)

// ReadPage reads the page at cursor: users, then groups and their members.
func (c *connector) ReadPage(ctx context.Context, cursor string) (resync.Page, error) {
	if err := ctx.Err(); err != nil {
		return resync.Page{}, err
	}
	cur, err := parseCursor(cursor)
	if err != nil {
		return resync.Page{}, resync.Permanent(fmt.Errorf("google: connection %q: %w", c.conn.ID, err))
	}
	switch cur.phase {
	case phaseUsers:
		return c.readUsers(ctx, cur.token)
	case phaseGroups:
		if c.readGroups {
			return c.readGroupsPage(ctx, cur.token)
		}
	case phaseMembers:
		if c.readGroups {
			return c.readMembers(ctx, cur)
		}
	}
	return resync.Page{}, resync.Permanent(fmt.Errorf("google: connection %q: cursor %q is not one of this connector's", c.conn.ID, truncate(cursor, 40)))
}

func (c *connector) usersCall(ctx context.Context, token string, size int) *admin.UsersListCall {
	call := c.svc.Users.List().Context(ctx).MaxResults(int64(size)).Projection("basic").ViewType("admin_view")
	if c.domain != "" {
		call = call.Domain(c.domain)
	} else {
		call = call.Customer(c.customer)
	}
	if token != "" {
		call = call.PageToken(token)
	}
	return call
}

func (c *connector) readUsers(ctx context.Context, token string) (resync.Page, error) {
	res, err := c.usersCall(ctx, token, c.userPage).Fields(userFields).Do()
	if err != nil {
		return resync.Page{}, c.classify(ctx, "users.list", err)
	}
	page := resync.Page{}
	for _, u := range res.Users {
		rec, err := c.userRecord(u)
		if err != nil {
			page.Rejected = append(page.Rejected, err)
			continue
		}
		page.Records = append(page.Records, rec)
	}
	switch {
	case res.NextPageToken != "":
		page.Next = cursorState{phase: phaseUsers, token: res.NextPageToken}.String()
	case c.readGroups:
		page.Next = cursorState{phase: phaseGroups}.String()
	}
	return page, nil
}

func (c *connector) groupsCall(ctx context.Context, token string) *admin.GroupsListCall {
	call := c.svc.Groups.List().Context(ctx).MaxResults(int64(c.groupPage)).Fields(groupFields)
	if c.domain != "" {
		call = call.Domain(c.domain)
	} else {
		call = call.Customer(c.customer)
	}
	if token != "" {
		call = call.PageToken(token)
	}
	return call
}

// groups returns the groups.list page at token, from the pages already
// read or from Google.
func (c *connector) groups(ctx context.Context, token string, fresh bool) (*groupsPage, error) {
	if gp := c.groupPages[token]; gp != nil && !fresh {
		return gp, nil
	}
	res, err := c.groupsCall(ctx, token).Do()
	if err != nil {
		return nil, c.classify(ctx, "groups.list", err)
	}
	gp := &groupsPage{groups: res.Groups, next: res.NextPageToken}
	c.groupPages[token] = gp
	return gp, nil
}

func (c *connector) readGroupsPage(ctx context.Context, token string) (resync.Page, error) {
	gp, err := c.groups(ctx, token, true)
	if err != nil {
		return resync.Page{}, err
	}
	var page resync.Page
	c.advance(&page, gp, token, 0)
	return page, nil
}

// advance yields the groups of gp from index i on that have no members
// (directMembersCount 0: no request for their member list), and sets the
// page's Next to the member list of the first that has, or to the next
// groups page.
func (c *connector) advance(page *resync.Page, gp *groupsPage, token string, i int) {
	for ; i < len(gp.groups); i++ {
		g := gp.groups[i]
		if g.DirectMembersCount > 0 {
			page.Next = cursorState{phase: phaseMembers, groups: token, index: i}.String()
			return
		}
		if rec, err := groupRecord(g, nil); err != nil {
			page.Rejected = append(page.Rejected, err)
		} else {
			page.Records = append(page.Records, rec)
		}
	}
	if gp.next != "" {
		page.Next = cursorState{phase: phaseGroups, token: gp.next}.String()
	}
}

func (c *connector) readMembers(ctx context.Context, cur cursorState) (resync.Page, error) {
	gp, err := c.groups(ctx, cur.groups, false)
	if err != nil {
		return resync.Page{}, err
	}
	if cur.index >= len(gp.groups) {
		// The groups page changed since the cursor was made (it was read
		// again in another process): the position means nothing now.
		return resync.Page{}, resync.RestartRead(fmt.Errorf("google: connection %q: group %d of a groups page that has %d", c.conn.ID, cur.index, len(gp.groups)))
	}
	g := gp.groups[cur.index]
	if g.Id == "" {
		// Nothing to ask for; the group is rejected by groupRecord.
		var page resync.Page
		_, err := groupRecord(g, nil)
		page.Rejected = append(page.Rejected, err)
		c.advance(&page, gp, cur.groups, cur.index+1)
		return page, nil
	}
	call := c.svc.Members.List(g.Id).Context(ctx).MaxResults(int64(c.groupPage)).Fields(memberFields)
	if cur.token != "" {
		call = call.PageToken(cur.token)
	}
	set := c.gathered[g.Id]
	if cur.token != "" && set == nil {
		return resync.Page{}, resync.RestartRead(fmt.Errorf("google: connection %q: the members of group %s read so far are not known to this connector", c.conn.ID, g.Id))
	}
	res, err := call.Do()
	if err != nil {
		return resync.Page{}, c.classify(ctx, "members.list", err)
	}
	if cur.token == "" {
		set = map[string]bool{}
	}
	for _, m := range res.Members {
		// Nested groups, the whole customer and external members are not
		// identities of this connection.
		if strings.EqualFold(m.Type, "USER") && m.Id != "" {
			set[m.Id] = true
		}
	}
	var page resync.Page
	if res.NextPageToken != "" {
		c.gathered[g.Id] = set
		page.Next = cursorState{phase: phaseMembers, groups: cur.groups, index: cur.index, token: res.NextPageToken}.String()
		return page, nil
	}
	// The set is kept: a retry of this cursor yields the group again.
	if cur.token != "" {
		c.gathered[g.Id] = set
	}
	rec, err := groupRecord(g, slices.Sorted(maps.Keys(set)))
	if err != nil {
		page.Rejected = append(page.Rejected, err)
	} else {
		page.Records = append(page.Records, rec)
	}
	c.advance(&page, gp, cur.groups, cur.index+1)
	return page, nil
}

// CheckHealth lists one user: it fails as a read would on a rejected key,
// a missing delegation or scope, or an unreachable API.
func (c *connector) CheckHealth(ctx context.Context) error {
	if _, err := c.usersCall(ctx, "", 1).Fields("users(id)").Do(); err != nil {
		return c.classify(ctx, "users.list", err)
	}
	return nil
}

// Cursor phases.
const (
	phaseUsers   = "u"
	phaseGroups  = "g"
	phaseMembers = "m"
)

// cursorState is a position in the read: a users page, a groups page, or
// a page of one group's member list (the group by its groups page and
// index there).
type cursorState struct {
	phase  string
	token  string // the page token of the users, groups or members page
	groups string // phaseMembers: the groups page's token
	index  int    // phaseMembers: the group's index in that page
}

// String encodes the cursor: "u", "g", "m" followed by a query string.
func (s cursorState) String() string {
	q := url.Values{}
	if s.token != "" {
		q.Set("t", s.token)
	}
	if s.phase == phaseMembers {
		q.Set("g", s.groups)
		q.Set("i", strconv.Itoa(s.index))
	}
	if len(q) == 0 {
		return s.phase
	}
	return s.phase + "?" + q.Encode()
}

func parseCursor(cursor string) (cursorState, error) {
	if cursor == "" {
		return cursorState{phase: phaseUsers}, nil
	}
	phase, rawQuery, _ := strings.Cut(cursor, "?")
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return cursorState{}, fmt.Errorf("cursor %q is not one of this connector's", truncate(cursor, 40))
	}
	s := cursorState{phase: phase, token: q.Get("t")}
	switch phase {
	case phaseUsers, phaseGroups:
	case phaseMembers:
		s.groups = q.Get("g")
		s.index, err = strconv.Atoi(q.Get("i"))
		if err != nil || s.index < 0 {
			return cursorState{}, fmt.Errorf("cursor %q is not one of this connector's", truncate(cursor, 40))
		}
	default:
		return cursorState{}, fmt.Errorf("cursor %q is not one of this connector's", truncate(cursor, 40))
	}
	return s, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
