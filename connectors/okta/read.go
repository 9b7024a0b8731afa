package okta

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/openresync/resync"
	"github.com/openresync/resync/connkit"
)

// connector reads one connection. The engine builds one per read and uses
// it from one goroutine at a time (the resync.Connector contract), so the
// caches below need no lock; they hold what this read has fetched.
type connector struct {
	conn   resync.Connection
	client *connkit.Client
	now    func() time.Time

	readGroups, readMFA bool
	pageSize            int
	groupPageSize       int
	memberPageSize      int

	// groupsCache holds the groups pages of this read by URL ("" for the
	// first); a page's groups are read one ReadPage at a time.
	groupsCache map[string]*groupsPage
	// members are the member keys gathered so far of the groups whose
	// member lists span several pages.
	members map[string]map[string]struct{}
	// mfa is the MFA state of each user whose factors were read: a
	// retried page does not ask again.
	mfa map[string]resync.MFAState
}

var (
	_ resync.Connector     = (*connector)(nil)
	_ resync.HealthChecker = (*connector)(nil)
)

type groupsPage struct {
	groups []group
	next   string
}

// cursor is the position of a read. Its string form (url query encoding)
// is the cursor the engine keeps.
type cursor struct {
	phase   string // "u": users, "g": groups
	url     string // the users page, or the groups page ("" for the first)
	index   int    // groups: the group of the groups page being read
	members string // groups: the URL of the group's next members page ("" for the first)
}

func (c cursor) String() string {
	v := url.Values{"p": {c.phase}}
	if c.url != "" {
		v.Set("u", c.url)
	}
	if c.index > 0 {
		v.Set("i", strconv.Itoa(c.index))
	}
	if c.members != "" {
		v.Set("m", c.members)
	}
	return v.Encode()
}

// errBadCursor is wrapped by the error for a cursor this connector did not
// make.
var errBadCursor = errors.New("not a cursor of the okta connector")

func parseCursor(s string) (cursor, error) {
	if s == "" {
		return cursor{phase: "u"}, nil
	}
	v, err := url.ParseQuery(s)
	if err != nil {
		return cursor{}, errBadCursor
	}
	c := cursor{phase: v.Get("p"), url: v.Get("u"), members: v.Get("m")}
	num := func(k string) (int, error) {
		if v.Get(k) == "" {
			return 0, nil
		}
		n, err := strconv.Atoi(v.Get(k))
		if err != nil || n < 0 {
			return 0, errBadCursor
		}
		return n, nil
	}
	if c.index, err = num("i"); err != nil {
		return cursor{}, err
	}
	switch {
	case c.phase == "u" && c.index == 0 && c.members == "":
	case c.phase == "g":
	default:
		return cursor{}, errBadCursor
	}
	return c, nil
}

// ReadPage reads the page at cursor: users first, then groups, each
// group's members page by page.
func (c *connector) ReadPage(ctx context.Context, s string) (resync.Page, error) {
	if err := ctx.Err(); err != nil {
		return resync.Page{}, err
	}
	cur, err := parseCursor(s)
	if err != nil {
		return resync.Page{}, resync.Permanent(fmt.Errorf("okta: connection %q: cursor %.40q: %w", c.conn.ID, s, err))
	}
	if cur.phase == "g" {
		if !c.readGroups {
			return resync.Page{}, resync.Permanent(fmt.Errorf("okta: connection %q: %w (groups are not read)", c.conn.ID, errBadCursor))
		}
		return c.readGroupsPage(ctx, cur)
	}
	return c.readUsers(ctx, cur)
}

// usersQuery is the query of the first users page; the next pages' links
// carry it on.
func (c *connector) usersQuery(limit int) url.Values {
	return url.Values{"filter": {allStatuses}, "limit": {strconv.Itoa(limit)}}
}

func (c *connector) readUsers(ctx context.Context, cur cursor) (resync.Page, error) {
	var q url.Values
	path := cur.url
	if path == "" {
		path, q = "users", c.usersQuery(c.pageSize)
	}
	var raw []json.RawMessage
	resp, err := c.client.GetJSON(ctx, path, q, &raw)
	if err != nil {
		return resync.Page{}, wrapError(err)
	}
	page := resync.Page{NotBefore: c.pace(resp.RateLimit, 1)}
	users := make([]user, 0, len(raw))
	for i, r := range raw {
		u, err := decodeUser(r)
		if err != nil {
			page.Rejected = append(page.Rejected, &resync.RecordError{Kind: resync.KindIdentity, Key: u.ID,
				Reason: fmt.Sprintf("okta: GET users: user at position %d: %v", i+1, err)})
			continue
		}
		users = append(users, u)
	}
	if c.readMFA {
		// One request per user: Okta has no bulk read of factors. A
		// retried page asks only for the factors it has not read.
		var last *connkit.Response
		for _, u := range users {
			if _, done := c.mfa[u.ID]; done {
				continue
			}
			st, resp, err := c.factors(ctx, u.ID)
			if err != nil {
				return resync.Page{}, err
			}
			c.mfa[u.ID] = st
			if resp != nil {
				last = resp
			}
		}
		if last != nil {
			// The next page makes a users request and one per user.
			if nb := c.pace(last.RateLimit, 1+c.pageSize); nb.After(page.NotBefore) {
				page.NotBefore = nb
			}
		}
	}
	for _, u := range users {
		rec, err := c.identity(u)
		if err != nil {
			page.Rejected = append(page.Rejected, err)
			continue
		}
		page.Records = append(page.Records, rec)
	}
	switch next := resp.NextLink(); {
	case next != "":
		page.Next = cursor{phase: "u", url: next}.String()
	case c.readGroups:
		page.Next = cursor{phase: "g"}.String()
	}
	return page, nil
}

// factors reads a user's enrolled factors: MFA is enabled when one is
// ACTIVE. A user gone since the list (404) has unknown MFA.
func (c *connector) factors(ctx context.Context, id string) (resync.MFAState, *connkit.Response, error) {
	var fs []struct {
		FactorType string `json:"factorType"`
		Status     string `json:"status"`
	}
	resp, err := c.client.GetJSON(ctx, "users/"+url.PathEscape(id)+"/factors", nil, &fs)
	if err != nil {
		var he *connkit.HTTPError
		if errors.As(err, &he) && he.StatusCode == http.StatusNotFound {
			return resync.MFAUnknown, nil, nil
		}
		return "", nil, wrapError(err)
	}
	for _, f := range fs {
		if f.Status == "ACTIVE" {
			return resync.MFAEnabled, resp, nil
		}
	}
	return resync.MFADisabled, resp, nil
}

func (c *connector) fetchGroups(ctx context.Context, ref string) (*groupsPage, error) {
	if p, ok := c.groupsCache[ref]; ok {
		return p, nil
	}
	var q url.Values
	path := ref
	if ref == "" {
		path, q = "groups", url.Values{"limit": {strconv.Itoa(c.groupPageSize)}}
	}
	var gs []group
	resp, err := c.client.GetJSON(ctx, path, q, &gs)
	if err != nil {
		return nil, wrapError(err)
	}
	p := &groupsPage{groups: gs, next: resp.NextLink()}
	// Every groups page of the read is kept (ids and names only), so a
	// cursor into one can be read again.
	c.groupsCache[ref] = p
	return p, nil
}

func (c *connector) readGroupsPage(ctx context.Context, cur cursor) (resync.Page, error) {
	if _, ok := c.groupsCache[cur.url]; !ok && (cur.index > 0 || cur.members != "") {
		return resync.Page{}, resync.RestartRead(fmt.Errorf("okta: connection %q: groups page no longer held", c.conn.ID))
	}
	gp, err := c.fetchGroups(ctx, cur.url)
	if err != nil {
		return resync.Page{}, err
	}
	if cur.index >= len(gp.groups) {
		if cur.index > 0 || gp.next == "" {
			return resync.Page{}, nil // the last groups page, or an empty one
		}
		return resync.Page{Next: cursor{phase: "g", url: gp.next}.String()}, nil
	}
	g := gp.groups[cur.index]
	set := c.members[g.ID]
	if cur.members != "" && set == nil {
		return resync.Page{}, resync.RestartRead(fmt.Errorf("okta: connection %q: members of group %s no longer held", c.conn.ID, g.ID))
	}
	if set == nil {
		set = map[string]struct{}{}
		c.members[g.ID] = set
	}
	var q url.Values
	path := cur.members
	if path == "" {
		path, q = "groups/"+url.PathEscape(g.ID)+"/users", url.Values{"limit": {strconv.Itoa(c.memberPageSize)}}
	}
	var ms []struct {
		ID string `json:"id"`
	}
	resp, err := c.client.GetJSON(ctx, path, q, &ms)
	if err != nil {
		return resync.Page{}, wrapError(err)
	}
	for _, m := range ms {
		if m.ID != "" {
			set[m.ID] = struct{}{}
		}
	}
	page := resync.Page{NotBefore: c.pace(resp.RateLimit, 1)}
	if next := resp.NextLink(); next != "" {
		page.Next = cursor{phase: "g", url: cur.url, index: cur.index, members: next}.String()
		return page, nil
	}
	members := make([]string, 0, len(set))
	for k := range set {
		members = append(members, k)
	}
	slices.Sort(members)
	delete(c.members, g.ID)
	rec := &resync.Group{Key: g.ID, Name: g.Profile.Name, Members: members}
	if g.ID == "" {
		page.Rejected = append(page.Rejected, &resync.RecordError{Kind: resync.KindGroup,
			Reason: fmt.Sprintf("okta: GET groups: group at position %d has no id", cur.index+1)})
	} else {
		page.Records = append(page.Records, rec)
	}
	switch {
	case cur.index+1 < len(gp.groups):
		page.Next = cursor{phase: "g", url: cur.url, index: cur.index + 1}.String()
	case gp.next != "":
		page.Next = cursor{phase: "g", url: gp.next}.String()
	}
	return page, nil
}

// reserveShare is the share of each rate-limit window the connector leaves
// to the org's other API clients: a tenth of the limit.
const reserveShare = 10

// pace is when the next request may go, from a response's rate-limit
// fields, when the next page will make need requests: Retry-After, or
// the window's reset once what remains would not cover need and the
// reserve; zero when there is no need to wait.
func (c *connector) pace(rl connkit.RateLimit, need int) time.Time {
	if t := rl.NotBefore(); !t.IsZero() {
		return t
	}
	if rl.Remaining < 0 || rl.Limit <= 0 || rl.Reset.IsZero() || !rl.Reset.After(c.now()) {
		return time.Time{}
	}
	if rl.Remaining < rl.Limit/reserveShare+need {
		return rl.Reset
	}
	return time.Time{}
}

// CheckHealth asks for one user: it fails as a read would on a bad
// token, a missing scope or an unreachable org.
func (c *connector) CheckHealth(ctx context.Context) error {
	var raw []json.RawMessage
	_, err := c.client.GetJSON(ctx, "users", url.Values{"limit": {"1"}}, &raw)
	return wrapError(err)
}
