package entra

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/openresync/resync"
	"github.com/openresync/resync/connkit"
)

// connector reads one connection. The engine builds one per read and uses
// it from one goroutine at a time (the resync.Connector contract), so the
// state below needs no lock; it holds what this read has fetched.
type connector struct {
	conn   resync.Connection
	client *connkit.Client

	signIn, readMFA         optional
	readGroups, readDeleted bool
	pageSize                int

	// mfa is the registration report, read before the users; mfaRead is
	// set once its last page has been read.
	mfa     map[string]mfaState
	mfaRead bool
	// groupsCache holds the groups pages of this read by URL ("" for the
	// first), ids and names only, so that a cursor into one can be read
	// again.
	groupsCache map[string]*groupsPage
	// members are the member keys gathered so far of the groups whose
	// member lists span several pages.
	members map[string]map[string]struct{}
}

var (
	_ resync.Connector     = (*connector)(nil)
	_ resync.HealthChecker = (*connector)(nil)
)

type mfaState struct {
	registered, capable bool
}

type groupsPage struct {
	groups []group
	next   string
}

// list is a Graph collection page (https://learn.microsoft.com/en-us/graph/paging).
type list struct {
	NextLink string            `json:"@odata.nextLink"`
	Value    []json.RawMessage `json:"value"`
}

// Phases of a read, in order.
const (
	phaseMFA     = "m" // the registration report
	phaseUsers   = "u"
	phaseDeleted = "d" // deleted users, still restorable
	phaseGroups  = "g"
)

// cursor is the position of a read; its string form (url query encoding)
// is the cursor the engine keeps.
type cursor struct {
	phase   string
	url     string // the page's @odata.nextLink; "" for a phase's first page
	index   int    // groups: the group of the groups page being read
	members string // groups: the group's next members page ("" for the first)
	// noSignIn and noMFA record that the tenant's licence refused
	// signInActivity or the registration report, for the rest of the read.
	noSignIn, noMFA bool
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
	if c.noSignIn {
		v.Set("s", "0")
	}
	if c.noMFA {
		v.Set("f", "0")
	}
	return v.Encode()
}

// errBadCursor is wrapped by the error for a cursor this connector did not
// make.
var errBadCursor = errors.New("not a cursor of the entra connector")

func parseCursor(s string) (cursor, error) {
	v, err := url.ParseQuery(s)
	if err != nil {
		return cursor{}, errBadCursor
	}
	c := cursor{phase: v.Get("p"), url: v.Get("u"), members: v.Get("m"), noSignIn: v.Get("s") == "0", noMFA: v.Get("f") == "0"}
	if i := v.Get("i"); i != "" {
		if c.index, err = strconv.Atoi(i); err != nil || c.index < 0 {
			return cursor{}, errBadCursor
		}
	}
	for _, k := range []string{"s", "f"} {
		if x := v.Get(k); x != "" && x != "0" {
			return cursor{}, errBadCursor
		}
	}
	switch c.phase {
	case phaseGroups:
	case phaseMFA, phaseUsers, phaseDeleted:
		if c.index != 0 || c.members != "" {
			return cursor{}, errBadCursor
		}
	default:
		return cursor{}, errBadCursor
	}
	return c, nil
}

// ReadPage reads the page at cursor: the MFA registration report, users,
// deleted users, then groups and each group's members page by page.
func (c *connector) ReadPage(ctx context.Context, s string) (resync.Page, error) {
	if err := ctx.Err(); err != nil {
		return resync.Page{}, err
	}
	var cur cursor
	if s == "" {
		cur = c.first()
	} else {
		var err error
		if cur, err = parseCursor(s); err != nil {
			return resync.Page{}, resync.Permanent(fmt.Errorf("entra: connection %q: cursor %.40q: %w", c.conn.ID, s, err))
		}
	}
	switch cur.phase {
	case phaseMFA:
		if c.readMFA != optOff {
			return c.readReport(ctx, cur)
		}
	case phaseUsers, phaseDeleted:
		if cur.phase == phaseUsers || c.readDeleted {
			return c.readUsers(ctx, cur)
		}
	case phaseGroups:
		if c.readGroups {
			return c.readGroupsPage(ctx, cur)
		}
	}
	return resync.Page{}, resync.Permanent(fmt.Errorf("entra: connection %q: %w (phase %q is not read)", c.conn.ID, errBadCursor, cur.phase))
}

func (c *connector) first() cursor {
	if c.readMFA != optOff {
		return cursor{phase: phaseMFA}
	}
	return cursor{phase: phaseUsers}
}

// after is the cursor of the first page of the phase after cur's.
func (c *connector) after(cur cursor) string {
	next := cursor{noSignIn: cur.noSignIn, noMFA: cur.noMFA}
	switch cur.phase {
	case phaseMFA:
		next.phase = phaseUsers
	case phaseUsers:
		if c.readDeleted {
			next.phase = phaseDeleted
			break
		}
		fallthrough
	case phaseDeleted:
		if !c.readGroups {
			return ""
		}
		next.phase = phaseGroups
	default:
		return ""
	}
	return next.String()
}

func (c *connector) get(ctx context.Context, ref string, q url.Values) (*connkit.Response, list, error) {
	var l list
	resp, err := c.client.GetJSON(ctx, ref, q, &l)
	if err != nil {
		return nil, l, wrapError(err)
	}
	return resp, l, nil
}

// readReport reads a page of the authentication methods registration
// report into c.mfa; it returns no records.
func (c *connector) readReport(ctx context.Context, cur cursor) (resync.Page, error) {
	ref, q := cur.url, url.Values(nil)
	if ref == "" {
		ref, q = "reports/authenticationMethods/userRegistrationDetails", url.Values{"$select": {"id,isMfaRegistered,isMfaCapable"}}
	}
	resp, l, err := c.get(ctx, ref, q)
	if err != nil {
		if c.readMFA == optAuto && isLicence(err) {
			// No Entra ID P1/P2: MFA stays unknown; read on without it.
			cur.noMFA = true
			return resync.Page{Next: c.after(cur)}, nil
		}
		return resync.Page{}, err
	}
	page := resync.Page{NotBefore: resp.NotBefore()}
	for i, raw := range l.Value {
		var d struct {
			ID              string `json:"id"`
			IsMfaRegistered bool   `json:"isMfaRegistered"`
			IsMfaCapable    bool   `json:"isMfaCapable"`
		}
		if err := json.Unmarshal(raw, &d); err != nil || d.ID == "" {
			// The user keeps an unknown MFA state; the read goes on. No
			// key: the user's own record, read later, is not at fault.
			page.Rejected = append(page.Rejected, &resync.RecordError{Kind: resync.KindIdentity,
				Reason: fmt.Sprintf("entra: userRegistrationDetails entry %.40q at position %d is not one: %v", d.ID, i+1, err)})
			continue
		}
		c.mfa[d.ID] = mfaState{registered: d.IsMfaRegistered, capable: d.IsMfaCapable}
	}
	if l.NextLink != "" {
		page.Next = cursor{phase: phaseMFA, url: l.NextLink}.String()
		return page, nil
	}
	c.mfaRead = true
	page.Next = c.after(cur)
	return page, nil
}

// userFields are the user properties read ($select), signInActivity aside.
const userFields = "id,accountEnabled,displayName,givenName,surname,mail,userPrincipalName,employeeId,jobTitle,department," +
	"companyName,officeLocation,userType,createdDateTime,onPremisesImmutableId"

// readUsers reads a page of users, or of deleted users.
func (c *connector) readUsers(ctx context.Context, cur cursor) (resync.Page, error) {
	if c.readMFA != optOff && !cur.noMFA && !c.mfaRead {
		// The report was read by another connector value (another
		// process): this one has no MFA states to give the users.
		return resync.Page{}, resync.RestartRead(fmt.Errorf("entra: connection %q: MFA registration report no longer held", c.conn.ID))
	}
	deleted := cur.phase == phaseDeleted
	signIn := !deleted && c.signIn != optOff && !cur.noSignIn
	ref, q := cur.url, url.Values(nil)
	if ref == "" {
		sel := userFields
		if deleted {
			ref, sel = "directory/deletedItems/microsoft.graph.user", userFields+",deletedDateTime"
		} else {
			ref = "users"
			if signIn {
				sel += ",signInActivity"
			}
		}
		q = url.Values{"$select": {sel}, "$top": {strconv.Itoa(c.pageSize)}}
	}
	resp, l, err := c.get(ctx, ref, q)
	if err != nil {
		if signIn && c.signIn == optAuto && cur.url == "" && isLicence(err) {
			// No Entra ID P1/P2: read the users without signInActivity.
			cur.noSignIn = true
			return resync.Page{Next: cur.String()}, nil
		}
		return resync.Page{}, err
	}
	page := resync.Page{NotBefore: resp.NotBefore()}
	for i, raw := range l.Value {
		u, err := decodeUser(raw)
		if err != nil {
			page.Rejected = append(page.Rejected, &resync.RecordError{Kind: resync.KindIdentity, Key: u.ID,
				Reason: fmt.Sprintf("entra: GET %s: user at position %d: %v", ref, i+1, err)})
			continue
		}
		page.Records = append(page.Records, c.identity(u, deleted, cur.noMFA))
	}
	if l.NextLink != "" {
		page.Next = cursor{phase: cur.phase, url: l.NextLink, noSignIn: cur.noSignIn, noMFA: cur.noMFA}.String()
		return page, nil
	}
	page.Next = c.after(cur)
	return page, nil
}

func (c *connector) fetchGroups(ctx context.Context, ref string) (*groupsPage, error) {
	if p, ok := c.groupsCache[ref]; ok {
		return p, nil
	}
	path, q := ref, url.Values(nil)
	if ref == "" {
		path, q = "groups", url.Values{"$select": {"id,displayName"}, "$top": {strconv.Itoa(c.pageSize)}}
	}
	_, l, err := c.get(ctx, path, q)
	if err != nil {
		return nil, err
	}
	p := &groupsPage{next: l.NextLink}
	for _, raw := range l.Value {
		var g group
		if json.Unmarshal(raw, &g) == nil && g.ID != "" {
			p.groups = append(p.groups, g)
		}
	}
	c.groupsCache[ref] = p
	return p, nil
}

func (c *connector) readGroupsPage(ctx context.Context, cur cursor) (resync.Page, error) {
	if _, ok := c.groupsCache[cur.url]; !ok && (cur.index > 0 || cur.members != "") {
		return resync.Page{}, resync.RestartRead(fmt.Errorf("entra: connection %q: groups page no longer held", c.conn.ID))
	}
	gp, err := c.fetchGroups(ctx, cur.url)
	if err != nil {
		return resync.Page{}, err
	}
	nextGroup := func() string {
		switch {
		case cur.index+1 < len(gp.groups):
			return cursor{phase: phaseGroups, url: cur.url, index: cur.index + 1}.String()
		case gp.next != "":
			return cursor{phase: phaseGroups, url: gp.next}.String()
		}
		return ""
	}
	if cur.index >= len(gp.groups) {
		if cur.index > 0 || gp.next == "" {
			return resync.Page{}, nil // the last groups page, or an empty one
		}
		return resync.Page{Next: cursor{phase: phaseGroups, url: gp.next}.String()}, nil
	}
	g := gp.groups[cur.index]
	set := c.members[g.ID]
	if cur.members != "" && set == nil {
		return resync.Page{}, resync.RestartRead(fmt.Errorf("entra: connection %q: members of group %s no longer held", c.conn.ID, g.ID))
	}
	if set == nil {
		set = map[string]struct{}{}
		c.members[g.ID] = set
	}
	path, q := cur.members, url.Values(nil)
	if path == "" {
		// Transitive: the users of nested groups are members too.
		path, q = "groups/"+url.PathEscape(g.ID)+"/transitiveMembers", url.Values{"$select": {"id"}, "$top": {strconv.Itoa(c.pageSize)}}
	}
	resp, l, err := c.get(ctx, path, q)
	if err != nil {
		if isNotFound(err) {
			// Deleted since the groups page was read: not a group any more.
			delete(c.members, g.ID)
			return resync.Page{Next: nextGroup()}, nil
		}
		return resync.Page{}, err
	}
	for _, raw := range l.Value {
		var m struct {
			Type string `json:"@odata.type"`
			ID   string `json:"id"`
		}
		// Nested groups, devices and service principals are not people.
		if json.Unmarshal(raw, &m) == nil && m.ID != "" && strings.EqualFold(m.Type, "#microsoft.graph.user") {
			set[m.ID] = struct{}{}
		}
	}
	page := resync.Page{NotBefore: resp.NotBefore()}
	if l.NextLink != "" {
		page.Next = cursor{phase: phaseGroups, url: cur.url, index: cur.index, members: l.NextLink}.String()
		return page, nil
	}
	members := make([]string, 0, len(set))
	for k := range set {
		members = append(members, k)
	}
	slices.Sort(members)
	delete(c.members, g.ID)
	page.Records = append(page.Records, &resync.Group{Key: g.ID, Name: g.DisplayName, Members: members})
	page.Next = nextGroup()
	return page, nil
}

// CheckHealth gets a token and asks for one user: it fails as a read
// would on a bad secret, a missing permission or an unreachable tenant.
func (c *connector) CheckHealth(ctx context.Context) error {
	_, _, err := c.get(ctx, "users", url.Values{"$select": {"id"}, "$top": {"1"}})
	return err
}
