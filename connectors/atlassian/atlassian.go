package atlassian

import (
	"context"
	"errors"
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

	"github.com/openresync/resync"
	"github.com/openresync/resync/connkit"
)

// Page sizes: what the connector asks for. The server may answer fewer
// (Jira caps maxResults per endpoint and may lower its caps); the connector
// pages by what it is given, never by what it asked for.
const (
	// UserPageSize is maxResults for /rest/api/3/users/search (at most 1000).
	UserPageSize = 1000
	// GroupPageSize is maxResults for /rest/api/3/group/bulk (at most 50).
	GroupPageSize = 50
	// MemberPageSize is maxResults for /rest/api/3/group/member (at most 50).
	MemberPageSize = 50
)

// ErrMalformed is wrapped by the error of a response that is not what Jira
// documents. It is permanent.
var ErrMalformed = errors.New("atlassian: malformed response")

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

// NewFactory returns a resync.ConnectorFactory building connectors with cfg,
// for resync.Config.Connectors.
func NewFactory(cfg Config) resync.ConnectorFactory {
	return func(ctx context.Context, conn resync.Connection) (resync.Connector, error) {
		conn, err := connkit.ResolveSecrets(ctx, conn, "api_token", "token")
		if err != nil {
			return nil, fmt.Errorf("atlassian connector: %w", err)
		}
		return New(conn, cfg)
	}
}

var defaultClient = &http.Client{Timeout: time.Minute}

// New returns a Connector reading the Atlassian Cloud site that
// conn.Settings names (see the package doc). It checks the settings only;
// the site is first asked by ReadPage or CheckHealth. A bad setting is a
// resync.Permanent error wrapping resync.ErrInvalidRequest, naming the
// setting and never quoting a credential.
func New(conn resync.Connection, cfg Config) (resync.Connector, error) {
	s := conn.Settings
	bad := func(format string, args ...any) error {
		return resync.Permanent(fmt.Errorf("%w: atlassian connector (connection %q): %s",
			resync.ErrInvalidRequest, conn.ID, fmt.Sprintf(format, args...)))
	}
	known := map[string]bool{"url": true, "email": true, "api_token": true, "token": true, "groups": true}
	for _, k := range slices.Sorted(maps.Keys(s)) {
		if !known[k] {
			return nil, bad("unknown setting %q", k)
		}
	}
	raw := strings.TrimSpace(s["url"])
	if raw == "" {
		return nil, bad(`set "url", the site's URL (https://your-domain.atlassian.net)`)
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, bad(`setting "url" is not an https URL without credentials, query or fragment`)
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	var auth connkit.Auth
	email, apiToken, token := strings.TrimSpace(s["email"]), s["api_token"], s["token"]
	switch {
	case token != "" && (email != "" || apiToken != ""):
		return nil, bad(`set "email" and "api_token" (basic), or "token" (OAuth 2.0 bearer), not both`)
	case token != "":
		auth = connkit.Bearer(token)
	case email != "" && apiToken != "":
		auth = connkit.Basic(email, apiToken)
	case email != "" || apiToken != "":
		return nil, bad(`"email" and "api_token" go together`)
	default:
		return nil, bad(`set "email" and "api_token" (an API token of that Atlassian account), or "token" (OAuth 2.0 bearer)`)
	}
	c := &connector{conn: conn, groups: true, memberOf: map[string][]string{}}
	if v := strings.TrimSpace(s["groups"]); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, bad(`setting "groups" is %q, want "true" or "false"`, v)
		}
		c.groups = b
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = defaultClient
	}
	// The transport notes the RateLimit-Reason of a 429, which Jira sends
	// to say which limit was hit, so the error can say it.
	c.reasons = &reasonTransport{next: hc.Transport}
	if c.reasons.next == nil {
		c.reasons.next = http.DefaultTransport
	}
	wrapped := *hc
	wrapped.Transport = c.reasons
	c.client = &connkit.Client{
		BaseURL:    u.String(),
		Auth:       auth,
		HTTPClient: &wrapped,
		Header:     http.Header{"Accept": {"application/json"}},
		Logger:     cfg.Logger,
	}
	return c, nil
}

// connector reads one connection in phases: application roles (one
// request), groups, each group's members, then users, returned as accounts
// with the roles their groups grant. What the first phases gather (roles,
// groups, memberships) lives in this value, which the engine builds per
// read; a later phase's cursor asked of a value without it is answered
// with resync.RestartRead.
type connector struct {
	conn    resync.Connection
	client  *connkit.Client
	reasons *reasonTransport
	groups  bool

	roles     []appRole
	rolesOK   bool
	groupList []groupDetails      // in the order read
	groupsOK  bool                // the group listing was read to its end
	memberOf  map[string][]string // account ID → group IDs
	members   []string            // the current group's members, across its pages
	membersOK bool                // every group's members were read
}

var (
	_ resync.Connector     = (*connector)(nil)
	_ resync.HealthChecker = (*connector)(nil)
)

// Cursors: "r" roles; "g:<startAt>" groups; "m:<group index>:<startAt>"
// members; "u:<startAt>" users.
func (c *connector) ReadPage(ctx context.Context, cursor string) (resync.Page, error) {
	if err := ctx.Err(); err != nil {
		return resync.Page{}, err
	}
	if cursor == "" {
		cursor = "u:0"
		if c.groups {
			cursor = "r"
		}
	}
	phase, rest, _ := strings.Cut(cursor, ":")
	parts := strings.Split(rest, ":")
	nums := make([]int, 0, 2)
	for _, p := range parts {
		if p == "" && phase == "r" {
			continue
		}
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return resync.Page{}, badCursor(cursor)
		}
		nums = append(nums, n)
	}
	lost := func(what string) (resync.Page, error) {
		return resync.Page{}, resync.RestartRead(fmt.Errorf("atlassian connector: the %s gathered for this read are gone; reading again from the first page", what))
	}
	switch {
	case phase == "r" && len(nums) == 0 && c.groups:
		return c.readRoles(ctx)
	case phase == "g" && len(nums) == 1 && c.groups:
		if !c.rolesOK {
			return lost("application roles")
		}
		return c.readGroups(ctx, nums[0])
	case phase == "m" && len(nums) == 2 && c.groups:
		if !c.groupsOK || nums[0] >= len(c.groupList) {
			return lost("groups")
		}
		if nums[1] > 0 && len(c.members) == 0 {
			return lost("group members")
		}
		return c.readMembers(ctx, nums[0], nums[1])
	case phase == "u" && len(nums) == 1:
		if c.groups && !c.membersOK {
			return lost("group memberships")
		}
		return c.readUsers(ctx, nums[0])
	}
	return resync.Page{}, badCursor(cursor)
}

func badCursor(cursor string) error {
	return resync.Permanent(fmt.Errorf("%w: atlassian connector: cursor %q is not one this connector made", resync.ErrInvalidRequest, cursor))
}

// get requests path into v, classifying a body that is not the JSON
// documented as malformed and naming the limit a 429 hit.
func (c *connector) get(ctx context.Context, path string, q url.Values, v any) (*connkit.Response, error) {
	resp, err := c.client.GetJSON(ctx, path, q, v)
	switch {
	case err != nil && resp != nil:
		return nil, resync.Permanent(fmt.Errorf("atlassian connector: %w: %w", ErrMalformed, err))
	case err != nil:
		if reason := c.reasons.take(); reason != "" {
			return nil, fmt.Errorf("atlassian connector: %w (RateLimit-Reason: %s)", err, reason)
		}
		return nil, fmt.Errorf("atlassian connector: %w", err)
	}
	return resp, nil
}

func (c *connector) readRoles(ctx context.Context) (resync.Page, error) {
	var roles []appRole
	resp, err := c.get(ctx, "rest/api/3/applicationrole", nil, &roles)
	if err != nil {
		return resync.Page{}, err
	}
	c.roles, c.rolesOK = roles, true
	return resync.Page{Next: "g:0", NotBefore: resp.NotBefore()}, nil
}

func (c *connector) readGroups(ctx context.Context, startAt int) (resync.Page, error) {
	var page pageBean[groupDetails]
	resp, err := c.get(ctx, "rest/api/3/group/bulk", url.Values{"startAt": {strconv.Itoa(startAt)}, "maxResults": {strconv.Itoa(GroupPageSize)}}, &page)
	if err != nil {
		return resync.Page{}, err
	}
	if startAt == 0 {
		c.groupList = c.groupList[:0]
	}
	for _, g := range page.Values {
		if g.GroupID == "" {
			return resync.Page{}, resync.Permanent(fmt.Errorf("%w: a group without groupId at startAt %d", ErrMalformed, startAt))
		}
	}
	// A retried page may be read twice: keep the list as of this page.
	c.groupList = append(c.groupList[:min(startAt, len(c.groupList))], page.Values...)
	out := resync.Page{NotBefore: resp.NotBefore()}
	if page.IsLast || len(page.Values) == 0 {
		c.groupsOK = true
		out.Next = "m:0:0"
		if len(c.groupList) == 0 {
			c.membersOK = true
			out.Next = "u:0"
		}
	} else {
		out.Next = "g:" + strconv.Itoa(startAt+len(page.Values))
	}
	return out, nil
}

func (c *connector) readMembers(ctx context.Context, gi, startAt int) (resync.Page, error) {
	g := c.groupList[gi]
	var page pageBean[user]
	resp, err := c.get(ctx, "rest/api/3/group/member", url.Values{"groupId": {g.GroupID}, "includeInactiveUsers": {"true"},
		"startAt": {strconv.Itoa(startAt)}, "maxResults": {strconv.Itoa(MemberPageSize)}}, &page)
	if err != nil {
		return resync.Page{}, err
	}
	if startAt == 0 {
		c.members = c.members[:0]
	}
	c.members = c.members[:min(startAt, len(c.members))] // a retried page is read again
	for _, u := range page.Values {
		if u.AccountID == "" {
			return resync.Page{}, resync.Permanent(fmt.Errorf("%w: a member of group %s without accountId", ErrMalformed, g.GroupID))
		}
		c.members = append(c.members, u.AccountID)
	}
	out := resync.Page{NotBefore: resp.NotBefore()}
	if !page.IsLast && len(page.Values) > 0 {
		out.Next = "m:" + strconv.Itoa(gi) + ":" + strconv.Itoa(startAt+len(page.Values))
		return out, nil
	}
	// The group is complete: return it, and note its members' groups.
	members := slices.Clone(c.members)
	slices.Sort(members)
	members = slices.Compact(members)
	for _, m := range members {
		if !slices.Contains(c.memberOf[m], g.GroupID) {
			c.memberOf[m] = append(c.memberOf[m], g.GroupID)
		}
	}
	out.Records = []resync.Record{&resync.Group{Key: g.GroupID, Name: g.Name, Members: members}}
	c.members = c.members[:0]
	if gi+1 < len(c.groupList) {
		out.Next = "m:" + strconv.Itoa(gi+1) + ":0"
	} else {
		c.membersOK = true
		out.Next = "u:0"
	}
	return out, nil
}

func (c *connector) readUsers(ctx context.Context, startAt int) (resync.Page, error) {
	var users []user
	resp, err := c.get(ctx, "rest/api/3/users/search", url.Values{"startAt": {strconv.Itoa(startAt)}, "maxResults": {strconv.Itoa(UserPageSize)}}, &users)
	if err != nil {
		return resync.Page{}, err
	}
	out := resync.Page{NotBefore: resp.NotBefore(), Records: make([]resync.Record, 0, len(users))}
	for _, u := range users {
		if u.AccountID == "" {
			return resync.Page{}, resync.Permanent(fmt.Errorf("%w: a user without accountId at startAt %d", ErrMalformed, startAt))
		}
		out.Records = append(out.Records, c.account(u))
	}
	// users/search returns a bare array with no total, and the server may
	// return fewer than asked: only an empty page ends the listing.
	if len(users) > 0 {
		out.Next = "u:" + strconv.Itoa(startAt+len(users))
	}
	return out, nil
}

// Account types of Jira's accountType field.
const (
	accountAtlassian = "atlassian" // a person's Atlassian account
	accountApp       = "app"       // an app or bot
	accountCustomer  = "customer"  // a Jira Service Management customer
)

func (c *connector) account(u user) *resync.Account {
	a := &resync.Account{
		Key:         u.AccountID,
		Username:    u.EmailAddress,
		OwnerEmail:  u.EmailAddress,
		DisplayName: u.DisplayName,
		Status:      resync.StatusActive,
		Attributes:  map[string]string{"account_type": u.AccountType, "active": strconv.FormatBool(u.Active)},
	}
	if !u.Active {
		a.Status = resync.StatusSuspended
	}
	switch u.AccountType {
	case accountAtlassian, accountCustomer:
		a.Type = resync.AccountTypeHuman
	case accountApp:
		a.Type = resync.AccountTypeService
	}
	if !c.groups {
		return a
	}
	groups := c.memberOf[u.AccountID]
	for _, r := range c.roles {
		for _, g := range r.GroupDetails {
			if slices.Contains(groups, g.GroupID) {
				a.Roles = append(a.Roles, r.Key)
				break
			}
		}
	}
	slices.Sort(a.Roles)
	if len(groups) > 0 {
		names := make([]string, 0, len(groups))
		for _, id := range groups {
			for _, g := range c.groupList {
				if g.GroupID == id {
					names = append(names, g.Name)
					break
				}
			}
		}
		slices.Sort(names)
		a.Attributes["groups"] = strings.Join(names, ",")
	}
	return a
}

// CheckHealth asks for one user, which proves the URL and credentials.
func (c *connector) CheckHealth(ctx context.Context) error {
	var users []user
	_, err := c.get(ctx, "rest/api/3/users/search", url.Values{"maxResults": {"1"}}, &users)
	return err
}

// reasonTransport notes the RateLimit-Reason header of the last 429.
type reasonTransport struct {
	next   http.RoundTripper
	mu     sync.Mutex
	reason string
}

func (t *reasonTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err == nil && resp.StatusCode == http.StatusTooManyRequests {
		t.mu.Lock()
		t.reason = resp.Header.Get("RateLimit-Reason")
		t.mu.Unlock()
	}
	return resp, err
}

// CloseIdleConnections closes the idle connections of the transport it wraps.
func (t *reasonTransport) CloseIdleConnections() {
	if ci, ok := t.next.(interface{ CloseIdleConnections() }); ok {
		ci.CloseIdleConnections()
	}
}

func (t *reasonTransport) take() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	r := t.reason
	t.reason = ""
	return r
}
