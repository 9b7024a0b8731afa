package scim

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
	"time"

	"github.com/openresync/resync"
	"github.com/openresync/resync/connkit"
)

// Page sizes of the "page_size" and "group_page_size" settings.
const (
	// DefaultPageSize is the count of users asked for per request when
	// "page_size" is not set; most service providers cap it there or above.
	DefaultPageSize = 100
	// DefaultGroupPageSize is the count of groups asked for per request
	// when "group_page_size" is not set: small, as each group carries its
	// member list.
	DefaultGroupPageSize = 20
	// MaxPageSize is the largest accepted page size.
	MaxPageSize = 1000
)

// Schema URNs this package reads (RFC 7643 §8.7.1, RFC 7644 §3.4.2, §3.12).
const (
	// EnterpriseUserSchema is the enterprise extension of the User
	// resource (RFC 7643 §4.3).
	EnterpriseUserSchema = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	listResponseSchema   = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
	errorSchema          = "urn:ietf:params:scim:api:messages:2.0:Error"
)

// Config is what the host gives every connector of this package, beside
// each connection's settings.
type Config struct {
	// HTTPClient sends the requests. Nil means a client with a one-minute
	// timeout. Its transport decides which certificates are trusted.
	HTTPClient *http.Client
	// Logger receives one Debug line per request, credentials redacted.
	// Nil discards them.
	Logger *slog.Logger
}

// Factory is the resync.ConnectorFactory of this package with the zero
// Config.
var Factory = NewFactory(Config{})

// NewFactory returns a resync.ConnectorFactory building connectors with
// cfg, for resync.Config.Connectors.
func NewFactory(cfg Config) resync.ConnectorFactory {
	return func(ctx context.Context, conn resync.Connection) (resync.Connector, error) {
		// Credentials may be secret references ("secret:<ref>") that the
		// engine's Config.Secrets resolves.
		conn, err := connkit.ResolveSecrets(ctx, conn, "token", "username", "password")
		if err != nil {
			return nil, fmt.Errorf("scim connector: %w", err)
		}
		return New(conn, cfg)
	}
}

var defaultClient = &http.Client{Timeout: time.Minute}

// New returns a Connector reading the SCIM service provider that
// conn.Settings names (see the package doc). It checks the settings only;
// the provider is first asked by ReadPage or CheckHealth. A bad setting is
// a resync.Permanent error wrapping resync.ErrInvalidRequest, naming the
// setting and never quoting a credential.
func New(conn resync.Connection, cfg Config) (resync.Connector, error) {
	s := conn.Settings
	bad := func(format string, args ...any) error {
		return resync.Permanent(fmt.Errorf("%w: scim connector (connection %q): %s",
			resync.ErrInvalidRequest, conn.ID, fmt.Sprintf(format, args...)))
	}
	known := map[string]bool{"url": true, "token": true, "username": true, "password": true,
		"filter": true, "group_filter": true, "groups": true, "page_size": true, "group_page_size": true}
	for _, k := range slices.Sorted(maps.Keys(s)) {
		if !known[k] {
			return nil, bad("unknown setting %q", k)
		}
	}
	raw := strings.TrimSpace(s["url"])
	if raw == "" {
		return nil, bad(`set "url", the service provider's base URL (https://example.com/scim/v2)`)
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, bad(`setting "url" is not an https URL`) // it may hold a secret: not quoted
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, bad(`setting "url" holds credentials, a query or a fragment: give the base URL, and "token", or "username" and "password"`)
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/" // so that "Users" resolves below it
	}

	token, user, pass := s["token"], s["username"], s["password"]
	var auth connkit.Auth
	switch {
	case token != "" && (user != "" || pass != ""):
		return nil, bad(`set "token" (bearer) or "username" and "password" (basic), not both`)
	case token != "":
		auth = connkit.Bearer(token)
	case user != "" && pass != "":
		auth = connkit.Basic(user, pass)
	case user != "" || pass != "":
		return nil, bad(`"username" and "password" go together`)
	default:
		return nil, bad(`set "token" (bearer), or "username" and "password" (basic)`)
	}

	c := &connector{conn: conn, identities: conn.Type == resync.IdP || conn.Type == resync.HRIS,
		readGroups: true, userFilter: s["filter"], groupFilter: s["group_filter"]}
	if v := strings.TrimSpace(s["groups"]); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, bad(`setting "groups" is %q, want "true" or "false"`, v)
		}
		c.readGroups = b
	}
	if c.groupFilter != "" && !c.readGroups {
		return nil, bad(`setting "group_filter" is set but "groups" is false`)
	}
	size := func(name string, def int) (int, error) {
		v := strings.TrimSpace(s[name])
		if v == "" {
			return def, nil
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 2 || n > MaxPageSize {
			return 0, bad(`setting %q is %q, want a whole number from 2 to %d`, name, v, MaxPageSize)
		}
		return n, nil
	}
	if c.users.Count, err = size("page_size", DefaultPageSize); err != nil {
		return nil, err
	}
	if c.groups.Count, err = size("group_page_size", DefaultGroupPageSize); err != nil {
		return nil, err
	}
	c.users.ID, c.groups.ID = resourceID, resourceID

	hc := cfg.HTTPClient
	if hc == nil {
		hc = defaultClient
	}
	c.client = &connkit.Client{
		BaseURL:    u.String(),
		Auth:       auth,
		HTTPClient: hc,
		Header:     http.Header{"Accept": {"application/scim+json, application/json"}},
		Logger:     cfg.Logger,
	}
	return c, nil
}

// connector reads one connection. The engine builds one per read and uses
// it from one goroutine at a time (the resync.Connector contract); the
// StartIndex pagers remember what the read has returned.
type connector struct {
	conn       resync.Connection
	client     *connkit.Client
	identities bool // IdP and HRIS connections: identities; others: accounts
	readGroups bool

	userFilter, groupFilter string

	users, groups connkit.StartIndex[resource]
	usersTotal    int
}

var (
	_ resync.Connector     = (*connector)(nil)
	_ resync.HealthChecker = (*connector)(nil)
)

// Cursor prefixes: the users phase, then the groups phase.
const (
	usersCursor  = "u:"
	groupsCursor = "g:"
)

// ReadPage reads the page at cursor: users first, then groups.
func (c *connector) ReadPage(ctx context.Context, cursor string) (resync.Page, error) {
	if err := ctx.Err(); err != nil {
		return resync.Page{}, err
	}
	switch {
	case cursor == "" || strings.HasPrefix(cursor, usersCursor):
		return c.readUsers(ctx, strings.TrimPrefix(cursor, usersCursor))
	case strings.HasPrefix(cursor, groupsCursor) && c.readGroups:
		return c.readGroupsPage(ctx, strings.TrimPrefix(cursor, groupsCursor))
	}
	return resync.Page{}, resync.Permanent(fmt.Errorf("scim: connection %q: cursor %q is not one of this connector's", c.conn.ID, truncate(cursor, 40)))
}

func (c *connector) readUsers(ctx context.Context, inner string) (resync.Page, error) {
	q := url.Values{}
	if c.userFilter != "" {
		q.Set("filter", c.userFilter)
	}
	if c.readGroups {
		// Memberships are read from the groups' members, the
		// authoritative side; a user's groups attribute can be costly.
		q.Set("excludedAttributes", "groups")
	}
	var last *connkit.Response
	items, next, err := c.users.Page(ctx, inner, c.fetch("Users", q, &c.usersTotal, &last))
	if err != nil {
		return resync.Page{}, err
	}
	page := resync.Page{Total: max(c.usersTotal, 0)}
	if last != nil {
		page.NotBefore = last.NotBefore()
	}
	for _, it := range items {
		rec, err := c.userRecord(it)
		if err != nil {
			page.Rejected = append(page.Rejected, err)
			continue
		}
		page.Records = append(page.Records, rec)
	}
	switch {
	case next != "":
		page.Next = usersCursor + next
	case c.readGroups:
		page.Next = groupsCursor
	}
	return page, nil
}

func (c *connector) readGroupsPage(ctx context.Context, inner string) (resync.Page, error) {
	q := url.Values{}
	if c.groupFilter != "" {
		q.Set("filter", c.groupFilter)
	}
	var total int
	var last *connkit.Response
	items, next, err := c.groups.Page(ctx, inner, c.fetch("Groups", q, &total, &last))
	if err != nil {
		return resync.Page{}, err
	}
	page := resync.Page{Total: max(c.usersTotal, 0) + max(total, 0)}
	if last != nil {
		page.NotBefore = last.NotBefore()
	}
	for _, it := range items {
		g, err := groupRecord(it)
		if err != nil {
			page.Rejected = append(page.Rejected, err)
			continue
		}
		page.Records = append(page.Records, g)
	}
	if next != "" {
		page.Next = groupsCursor + next
	}
	return page, nil
}

// fetch is the connkit.Fetch of an endpoint: one request. A service
// provider may return fewer resources than the count asked for (RFC 7644
// §3.4.2.4: it caps count at its own maximum); StartIndex then asks for
// the rest on the next page, until totalResults or an empty answer.
func (c *connector) fetch(endpoint string, q url.Values, total *int, last **connkit.Response) connkit.Fetch[resource] {
	return func(ctx context.Context, startIndex, count int) ([]resource, int, error) {
		qq := maps.Clone(q)
		qq.Set("startIndex", strconv.Itoa(startIndex))
		qq.Set("count", strconv.Itoa(count))
		resp, err := c.client.Get(ctx, endpoint, qq)
		if err != nil {
			return nil, 0, wrapError(err)
		}
		*last = resp
		lr, err := decodeList(resp.Body)
		if err != nil {
			return nil, 0, resync.Permanent(fmt.Errorf("scim: GET %s (startIndex %d): %w", endpoint, startIndex, err))
		}
		if lr.start > 0 && lr.start != startIndex && len(lr.resources) > 0 {
			// A provider that ignores startIndex would have every
			// page repeat the first, and the read end with one page.
			return nil, 0, resync.Permanent(fmt.Errorf("scim: GET %s: %w: asked for startIndex %d, answered startIndex %d",
				endpoint, ErrMalformed, startIndex, lr.start))
		}
		*total = lr.total
		return lr.resources, lr.total, nil
	}
}

// CheckHealth asks for one user: it fails as a read would on bad
// credentials, an unreachable provider or a filter it refuses.
func (c *connector) CheckHealth(ctx context.Context) error {
	q := url.Values{"startIndex": {"1"}, "count": {"1"}}
	if c.userFilter != "" {
		q.Set("filter", c.userFilter)
	}
	resp, err := c.client.Get(ctx, "Users", q)
	if err != nil {
		return wrapError(err)
	}
	if _, err := decodeList(resp.Body); err != nil {
		return resync.Permanent(fmt.Errorf("scim: GET Users: %w", err))
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
