package gitlab

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
	"time"

	gl "gitlab.com/gitlab-org/api/client-go/v2"

	"github.com/openresync/resync"
	"github.com/openresync/resync/connkit"
)

// DefaultBaseURL is the REST API of GitLab.com.
const DefaultBaseURL = "https://gitlab.com/api/v4/"

// MaxPageSize is GitLab's largest per_page, and the default.
const MaxPageSize = 100

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
// cfg, for resync.Config.Connectors. It resolves the "token" setting with
// connkit.ResolveSecrets first.
func NewFactory(cfg Config) resync.ConnectorFactory {
	return func(ctx context.Context, conn resync.Connection) (resync.Connector, error) {
		conn, err := connkit.ResolveSecrets(ctx, conn, "token")
		if err != nil {
			return nil, fmt.Errorf("gitlab connector: %w", err)
		}
		return New(conn, cfg)
	}
}

var defaultClient = &http.Client{Timeout: time.Minute}

// New returns a Connector reading the GitLab group or instance that
// conn.Settings names (see the package doc). It checks the settings only;
// GitLab is first asked by ReadPage. A bad setting is a resync.Permanent
// error wrapping resync.ErrInvalidRequest, naming the setting and never
// quoting the token.
func New(conn resync.Connection, cfg Config) (resync.Connector, error) {
	s := conn.Settings
	bad := func(format string, args ...any) error {
		return resync.Permanent(fmt.Errorf("%w: gitlab connector (connection %q): %s",
			resync.ErrInvalidRequest, conn.ID, fmt.Sprintf(format, args...)))
	}
	known := map[string]bool{"base_url": true, "token": true, "group": true, "users": true, "page_size": true}
	for _, k := range slices.Sorted(maps.Keys(s)) {
		if !known[k] {
			return nil, bad("unknown setting %q", k)
		}
	}
	c := &connector{group: strings.Trim(strings.TrimSpace(s["group"]), "/"), pageSize: MaxPageSize,
		levels: map[int64]*gl.GroupMember{}, seen: map[string]string{}}
	if strings.ContainsAny(c.group, "?#% ") || strings.Contains(c.group, "..") {
		return nil, bad(`setting "group" is not a group ID or full path (my-org/my-group)`)
	}
	if v := strings.TrimSpace(s["users"]); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, bad(`setting "users" is %q, want "true" or "false"`, v)
		}
		c.users = b
	}
	if c.group == "" && !c.users {
		return nil, bad(`set "group" (a group ID or full path), or "users" to "true" (an instance's users, with an administrator's token), or both`)
	}
	base := strings.TrimSpace(s["base_url"])
	if base == "" {
		base = DefaultBaseURL
	}
	u, err := url.Parse(base)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, bad(`setting "base_url" is not an https URL without credentials or a query (https://gitlab.com/api/v4/, or https://HOST/api/v4/)`)
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	if v := strings.TrimSpace(s["page_size"]); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxPageSize {
			return nil, bad(`setting "page_size" is %q, want a whole number from 1 to %d`, v, MaxPageSize)
		}
		c.pageSize = n
	}
	token := s["token"]
	if token == "" {
		return nil, bad(`set "token": a personal, group or project access token, or an OAuth token`)
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = defaultClient
	}
	kit := &connkit.Client{BaseURL: u.String(), Auth: connkit.Bearer(token), HTTPClient: hc, Logger: cfg.Logger}
	c.client, err = gl.NewAuthSourceClient(gl.Unauthenticated{},
		gl.WithBaseURL(u.String()),
		gl.WithHTTPClient(&http.Client{Transport: kit.Transport()}),
		gl.WithoutRetries(),
		gl.WithCustomLimiter(noLimiter{}),
		gl.WithUserAgent("resync-gitlab-connector"),
		gl.WithURLWarningLogger(slog.New(slog.DiscardHandler)),
	)
	if err != nil {
		return nil, bad("%v", err)
	}
	return c, nil
}

// connector reads one group, or one instance's users. The engine builds
// one per read and uses it from one goroutine at a time (the
// resync.Connector contract).
type connector struct {
	client   *gl.Client
	group    string // the setting: an ID or a full path
	users    bool
	pageSize int

	// What the read has gathered so far: the group (from its first
	// request), its members by user ID (their access level, for the
	// group's record and, reading users, for their roles), whether the
	// member list is complete, and the cursor that yielded each account (a
	// list that shifts between pages can return a user twice; the second
	// is dropped, and a page read again returns what it returned before).
	info        *gl.Group
	levels      map[int64]*gl.GroupMember
	membersDone bool
	seen        map[string]string
}

var _ resync.Connector = (*connector)(nil)

// Cursors: "" (the group), "members:<page>", "users:" (the first page of
// users) and "users:<the next page's URL>".
const (
	membersCursor = "members:"
	usersCursor   = "users:"
)

// ReadPage reads the page at cursor (see the package doc's Capabilities
// for the order).
func (c *connector) ReadPage(ctx context.Context, cursor string) (resync.Page, error) {
	if err := ctx.Err(); err != nil {
		return resync.Page{}, err
	}
	cur, err := parseCursor(cursor)
	switch {
	case err != nil:
		return resync.Page{}, resync.Permanent(fmt.Errorf("gitlab connector: %w", err))
	case cur.kind == cursorStart && c.group != "":
		return c.readGroup(ctx)
	case cur.kind == cursorStart, cur.kind == cursorUsers && c.users:
		return c.readUsers(ctx, cur.next)
	case cur.kind == cursorMembers && c.group != "":
		return c.readMembers(ctx, cursor, cur.page)
	}
	return resync.Page{}, resync.Permanent(fmt.Errorf("gitlab connector: cursor %q is not one of this connection's", cursor))
}

// The kinds of cursor.
const (
	cursorStart = iota
	cursorMembers
	cursorUsers
)

// cursor is a parsed cursor.
type cursor struct {
	kind int
	page int64  // cursorMembers: the page number, from 1
	next string // cursorUsers: the next page's URL, "" for the first page
}

// errCursor is a cursor this connector did not make.
var errCursor = errors.New("malformed cursor")

// parseCursor reads a cursor: "", "members:<page>", "users:" or
// "users:<absolute URL>".
func parseCursor(s string) (cursor, error) {
	switch {
	case s == "":
		return cursor{kind: cursorStart}, nil
	case strings.HasPrefix(s, membersCursor):
		p := strings.TrimPrefix(s, membersCursor)
		n, err := strconv.ParseInt(p, 10, 64)
		if err == nil && n >= 1 && strconv.FormatInt(n, 10) == p {
			return cursor{kind: cursorMembers, page: n}, nil
		}
	case strings.HasPrefix(s, usersCursor):
		next := strings.TrimPrefix(s, usersCursor)
		if next == "" {
			return cursor{kind: cursorUsers}, nil
		}
		if u, err := url.Parse(next); err == nil && u.IsAbs() && u.Host != "" {
			return cursor{kind: cursorUsers, next: next}, nil
		}
	}
	return cursor{}, fmt.Errorf("%w %q", errCursor, s)
}

// readGroup reads the group itself: its ID (the group record's key) and
// name. It also checks the token and the group before the members.
func (c *connector) readGroup(ctx context.Context) (resync.Page, error) {
	g, resp, err := c.client.Groups.GetGroup(c.group, &gl.GetGroupOptions{WithProjects: new(false)}, gl.WithContext(ctx))
	if err != nil {
		return resync.Page{}, c.wrap(err)
	}
	if g.ID == 0 {
		return resync.Page{}, resync.Permanent(fmt.Errorf("gitlab connector: group %q: the answer has no id", c.group))
	}
	c.info = g
	return resync.Page{Next: membersCursor + "1", NotBefore: pace(resp)}, nil
}

// readMembers reads a page of the group's members, inherited ones
// included (GET /groups/:id/members/all). Without "users" they are the
// accounts; with it, they give the accounts their roles. The group's record
// comes with the last page.
func (c *connector) readMembers(ctx context.Context, cursor string, page int64) (resync.Page, error) {
	if c.info == nil {
		return resync.Page{}, resync.RestartRead(fmt.Errorf("gitlab connector: cursor %q continues a read this connector has not begun", cursor))
	}
	members, resp, err := c.client.Groups.ListAllGroupMembers(c.info.ID, &gl.ListGroupMembersOptions{
		ListOptions: gl.ListOptions{Page: page, PerPage: int64(c.pageSize)}}, gl.WithContext(ctx))
	if err != nil {
		return resync.Page{}, c.wrap(err)
	}
	out := resync.Page{NotBefore: pace(resp)}
	for _, m := range members {
		if m == nil || m.ID == 0 {
			continue
		}
		c.levels[m.ID] = m
		if !c.users {
			if a := memberAccount(m); c.firstSeen(a.Key, cursor) {
				out.Records = append(out.Records, a)
			}
		}
	}
	if resp.NextPage > 0 {
		out.Next = membersCursor + strconv.FormatInt(resp.NextPage, 10)
		return out, nil
	}
	c.membersDone = true
	keys := make([]string, 0, len(c.levels))
	for id := range c.levels {
		keys = append(keys, strconv.FormatInt(id, 10))
	}
	slices.Sort(keys)
	name := c.info.FullPath
	if name == "" {
		name = c.info.Name
	}
	out.Records = append(out.Records, &resync.Group{Key: strconv.FormatInt(c.info.ID, 10), Name: name, Members: keys})
	if c.users {
		out.Next = usersCursor
	}
	return out, nil
}

// readUsers reads a page of the instance's users (GET /users, keyset
// paging by id), with the fields an administrator sees.
func (c *connector) readUsers(ctx context.Context, next string) (resync.Page, error) {
	cursor := usersCursor + next
	if c.group != "" && !c.membersDone {
		return resync.Page{}, resync.RestartRead(fmt.Errorf("gitlab connector: cursor %q needs the group's members, which this connector has not read", cursor))
	}
	opts := []gl.RequestOptionFunc{gl.WithContext(ctx)}
	if next != "" {
		opts = append(opts, gl.WithKeysetPaginationParameters(next))
	}
	users, resp, err := c.client.Users.ListUsers(&gl.ListUsersOptions{
		ListOptions:     gl.ListOptions{Pagination: "keyset", OrderBy: "id", Sort: "asc", PerPage: int64(c.pageSize)},
		ExcludeInternal: new(true),
	}, opts...)
	if err != nil {
		return resync.Page{}, c.wrap(err)
	}
	if !adminView(users) {
		return resync.Page{}, resync.Permanent(fmt.Errorf("gitlab connector: GET /users answered without the fields only an administrator sees (email, two_factor_enabled): \"users\" needs an administrator's token"))
	}
	out := resync.Page{NotBefore: pace(resp)}
	if resp.NextLink != "" {
		out.Next = usersCursor + resp.NextLink
	}
	for _, u := range users {
		if u == nil || u.ID == 0 {
			continue
		}
		a := userAccount(u, c.levels[u.ID])
		if c.firstSeen(a.Key, cursor) {
			out.Records = append(out.Records, a)
		}
	}
	return out, nil
}

// adminView reports whether a page of users is what an administrator
// sees: GitLab answers anyone's GET /users, but leaves out email, state
// details and two_factor_enabled for a user who is not an administrator,
// and a false two_factor_enabled would then read as 2FA disabled for all.
// Every GitLab user has an email, so a page without any is not the
// administrator's view.
func adminView(users []*gl.User) bool {
	if len(users) == 0 {
		return true
	}
	for _, u := range users {
		if u != nil && u.Email != "" {
			return true
		}
	}
	return false
}

// firstSeen reports whether the account key may be yielded on the page at
// cursor: it has not been yielded before, or it was yielded by this very
// cursor (a page read again returns the same records).
func (c *connector) firstSeen(key, cursor string) bool {
	if prev, ok := c.seen[key]; ok && prev != cursor {
		return false
	}
	c.seen[key] = cursor
	return true
}

// wrap classifies a client-go error and names the connector.
func (c *connector) wrap(err error) error {
	what := "instance users"
	if c.group != "" {
		what = "group " + c.group
	}
	return fmt.Errorf("gitlab connector (%s): %w", what, classify(err))
}

// pace returns when the next request may go, from the response's
// RateLimit-* fields: the reset time once the quota is spent and, while
// less than a tenth of it is left, the time to the reset shared out over
// the requests left, so a long read slows down before GitLab refuses it.
func pace(resp *gl.Response) time.Time {
	if resp == nil || resp.Response == nil {
		return time.Time{}
	}
	now := time.Now()
	rl := connkit.ParseRateLimit(resp.Header, now)
	if nb := rl.NotBefore(); !nb.IsZero() {
		return nb
	}
	if rl.Remaining < 0 || rl.Limit <= 0 || rl.Reset.IsZero() || !rl.Reset.After(now) {
		return time.Time{}
	}
	if low := max(rl.Limit/10, 1); rl.Remaining >= low {
		return time.Time{}
	}
	return now.Add(rl.Reset.Sub(now) / time.Duration(rl.Remaining+1))
}

var _ resync.HealthChecker = (*connector)(nil)

// CheckHealth checks the base URL and the token with one request: GET
// /groups/:id for a group, and, for "users", GET /user, whose is_admin must
// be true (only an administrator sees the users' state and 2FA).
func (c *connector) CheckHealth(ctx context.Context) error {
	if c.group != "" {
		if _, _, err := c.client.Groups.GetGroup(c.group, &gl.GetGroupOptions{WithProjects: new(false)}, gl.WithContext(ctx)); err != nil {
			return c.wrap(err)
		}
	}
	if c.users {
		u, _, err := c.client.Users.CurrentUser(gl.WithContext(ctx))
		if err != nil {
			return c.wrap(err)
		}
		if !u.IsAdmin {
			return resync.Permanent(fmt.Errorf("gitlab connector: the token's user %q is not an administrator, as \"users\" needs", u.Username))
		}
	}
	return nil
}
