package ldap

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"hash/fnv"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/openresync/resync"
	"github.com/openresync/resync/connkit"
)

// Factory is the resync.ConnectorFactory of this package, for
// resync.Config.Connectors: it resolves "bind_password" with
// resync.Secret (so it may be a secret reference, "secret:<ref>", that the
// engine's Config.Secrets resolves) and calls New.
var Factory resync.ConnectorFactory = func(ctx context.Context, conn resync.Connection) (resync.Connector, error) {
	conn, err := connkit.ResolveSecrets(ctx, conn, "bind_password")
	if err != nil {
		return nil, fmt.Errorf("ldap connector: %w", err)
	}
	return New(conn)
}

// Connector reads the users and groups of one LDAP directory. It serves one
// read: the engine builds a new one per read (through Factory) and closes
// it after. Its methods are not safe for concurrent use, as the engine
// never calls them concurrently.
type Connector struct {
	cfg *config
	now func() time.Time

	conn *goldap.Conn // the connection of the current paged search
	aux  *goldap.Conn // nested-group lookups, so they do not disturb conn's cookie

	// pending is the one cursor whose cookie conn can resume: the Next of
	// the last page read with a cookie.
	pending string
	// digests sum the entries of each page read, by cursor id ("u3"), so
	// that reading an earlier page again can check the pages before it.
	digests map[string]uint64
	// users maps the normalized DN of every user read to its key, to turn
	// group members (DNs) into keys.
	users map[string]string
}

var (
	_ resync.Connector     = (*Connector)(nil)
	_ resync.HealthChecker = (*Connector)(nil)
)

// New returns a Connector for the directory described by conn.Settings
// (see the package doc). It validates the settings only; the server is
// first contacted by ReadPage or CheckHealth. A bad setting is a
// resync.Permanent error wrapping resync.ErrInvalidRequest.
func New(conn resync.Connection) (*Connector, error) {
	cfg, err := parseSettings(conn)
	if err != nil {
		return nil, err
	}
	return &Connector{cfg: cfg, now: time.Now, digests: map[string]uint64{}, users: map[string]string{}}, nil
}

// phase of a read: users, then groups.
const (
	phaseUsers  = 'u'
	phaseGroups = 'g'
)

// cursor is a parsed ReadPage cursor: "u3:<cookie>" is the fourth page of
// users, resumed with the server's paging cookie (base64url).
type cursor struct {
	phase  byte
	page   int
	cookie []byte
}

func (c cursor) String() string {
	return string(c.phase) + strconv.Itoa(c.page) + ":" + base64.RawURLEncoding.EncodeToString(c.cookie)
}

// id names the page: phase and number, without the cookie.
func (c cursor) id() string { return string(c.phase) + strconv.Itoa(c.page) }

func parseCursor(s string) (cursor, error) {
	if s == "" {
		return cursor{phase: phaseUsers}, nil
	}
	head, enc, ok := strings.Cut(s, ":")
	if !ok || len(head) < 2 || (head[0] != phaseUsers && head[0] != phaseGroups) {
		return cursor{}, fmt.Errorf("cursor %.40q was not issued by this connector", s)
	}
	n, err := strconv.Atoi(head[1:])
	if err != nil || n < 0 {
		return cursor{}, fmt.Errorf("cursor %.40q was not issued by this connector", s)
	}
	cookie, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil || (n > 0) != (len(cookie) > 0) {
		return cursor{}, fmt.Errorf("cursor %.40q was not issued by this connector", s)
	}
	return cursor{phase: head[0], page: n, cookie: cookie}, nil
}

// ReadPage reads one page of users or groups with the Simple Paged Results
// control: the cursor carries the server's paging cookie. Users come
// first, then groups (whose members are the keys of the users read).
//
// The cursor of the page after the last one read is resumed with its
// cookie. An earlier cursor is read again by paging from the first page on
// the same connection, checking that each page before it holds the same
// entries as when it was first read. A cursor whose cookie cannot be
// resumed (its connection is gone, the server refuses the cookie, or the
// pages before it changed) returns a resync.RestartRead error.
func (c *Connector) ReadPage(ctx context.Context, cur string) (resync.Page, error) {
	if err := ctx.Err(); err != nil {
		return resync.Page{}, err
	}
	cs, err := parseCursor(cur)
	if err != nil {
		return resync.Page{}, resync.Permanent(c.wrap(err))
	}
	alive := c.conn != nil && !c.conn.IsClosing()
	if len(cs.cookie) > 0 && !alive {
		return resync.Page{}, resync.RestartRead(c.wrap(fmt.Errorf("the paging cookie of %s page %d belongs to a connection that is gone", phaseName(cs.phase), cs.page)))
	}
	if !alive {
		conn, err := c.dial(ctx)
		if err != nil {
			return resync.Page{}, err
		}
		c.conn = conn
	}
	if len(cs.cookie) > 0 && cur != c.pending {
		if cs.cookie, err = c.replay(ctx, cs); err != nil {
			return resync.Page{}, err
		}
	}
	res, err := c.searchPage(ctx, cs)
	if err != nil {
		return resync.Page{}, err
	}
	c.digests[cs.id()] = c.digest(cs.phase, res.Entries)

	var page resync.Page
	now := c.now()
	if cs.phase == phaseUsers {
		page.Records = make([]resync.Record, 0, len(res.Entries))
		for _, e := range res.Entries {
			id, key, err := c.cfg.toIdentity(e, now)
			if err != nil {
				page.Rejected = append(page.Rejected, &resync.RecordError{Kind: resync.KindIdentity, Key: key,
					Reason: fmt.Sprintf("ldap user %q: %v", e.DN, err)})
				continue
			}
			c.users[normDN(e.DN)] = id.Key
			page.Records = append(page.Records, id)
		}
	} else {
		if err := c.groupRecords(ctx, res.Entries, &page); err != nil {
			// The server has moved past this page's cookie: a retry of
			// the cursor pages to it again rather than resume it.
			c.pending = ""
			return resync.Page{}, err
		}
	}

	switch next := pagingCookie(res); {
	case len(next) > 0:
		page.Next = cursor{phase: cs.phase, page: cs.page + 1, cookie: next}.String()
		c.pending = page.Next
	case cs.phase == phaseUsers && c.cfg.readGroups:
		page.Next = cursor{phase: phaseGroups}.String()
		c.pending = ""
	default:
		c.pending = ""
	}
	return page, nil
}

// searchPage runs the paged search of cs's phase from cs's cookie on the
// connector's connection.
func (c *Connector) searchPage(ctx context.Context, cs cursor) (*goldap.SearchResult, error) {
	base, filter, attrs := c.cfg.userBase, c.cfg.userFilter, c.cfg.userAttrs
	if cs.phase == phaseGroups {
		base, filter, attrs = c.cfg.groupBase, c.cfg.groupFilter, c.cfg.groupAttrs
	}
	paging := &goldap.ControlPaging{PagingSize: c.cfg.pageSize, Cookie: cs.cookie}
	req := goldap.NewSearchRequest(base, goldap.ScopeWholeSubtree, goldap.NeverDerefAliases, 0, 0, false,
		filter, attrs, []goldap.Control{paging})
	res, err := c.search(ctx, c.conn, req)
	if err != nil {
		if ctx.Err() != nil {
			c.closeConn()
			return nil, c.wrap(fmt.Errorf("%s page %d: %w", phaseName(cs.phase), cs.page, ctx.Err()))
		}
		return nil, c.searchError(err, cs, base)
	}
	return res, nil
}

// replay pages from the first page of cs's phase up to cs, checking that
// every page before it holds what it held when first read, and returns the
// cookie that reads cs's page.
func (c *Connector) replay(ctx context.Context, cs cursor) ([]byte, error) {
	at := cursor{phase: cs.phase}
	for at.page < cs.page {
		want, ok := c.digests[at.id()]
		if !ok {
			return nil, resync.RestartRead(c.wrap(fmt.Errorf("%s page %d was not read by this connector", phaseName(cs.phase), cs.page)))
		}
		res, err := c.searchPage(ctx, at)
		if err != nil {
			return nil, err
		}
		next := pagingCookie(res)
		if c.digest(cs.phase, res.Entries) != want || len(next) == 0 {
			return nil, resync.RestartRead(c.wrap(fmt.Errorf("reading %s page %d again: page %d holds other entries than when it was first read", phaseName(cs.phase), cs.page, at.page)))
		}
		at = cursor{phase: cs.phase, page: at.page + 1, cookie: next}
	}
	return at.cookie, nil
}

// pagingCookie returns the cookie of a paged search's result; a server
// that ignores the control (it is not critical) returns the whole result
// at once, without a cookie: that is the last page.
func pagingCookie(res *goldap.SearchResult) []byte {
	if ctl, ok := goldap.FindControl(res.Controls, goldap.ControlTypePaging).(*goldap.ControlPaging); ok {
		return ctl.Cookie
	}
	return nil
}

// digest sums the identities of a page's entries, in order: their key
// attribute's raw value, or their DN when they have none.
func (c *Connector) digest(phase byte, entries []*goldap.Entry) uint64 {
	key := c.cfg.m.key
	if phase == phaseGroups {
		key = c.cfg.m.groupKey
	}
	h := fnv.New64a()
	for _, e := range entries {
		v := indexEntry(e).firstRaw(key)
		if v == nil {
			v = []byte(e.DN)
		}
		h.Write(v)
		h.Write([]byte{0})
	}
	return h.Sum64()
}

func phaseName(p byte) string {
	if p == phaseGroups {
		return "groups"
	}
	return "users"
}

// groupRecords maps group entries, turning member DNs into user keys.
func (c *Connector) groupRecords(ctx context.Context, entries []*goldap.Entry, page *resync.Page) error {
	page.Records = make([]resync.Record, 0, len(entries))
	for _, e := range entries {
		g, members, err := c.cfg.toGroup(e)
		if err != nil {
			page.Rejected = append(page.Rejected, &resync.RecordError{Kind: resync.KindGroup,
				Reason: fmt.Sprintf("ldap group %q: %v", e.DN, err)})
			continue
		}
		if c.cfg.nested {
			keys, err := c.nestedMembers(ctx, e.DN)
			if err != nil {
				return err
			}
			g.Members = keys
		} else {
			seen := make(map[string]bool, len(members))
			for _, v := range members {
				// Members that are not users of this read (nested groups,
				// entries outside the user base or filter) are left out.
				if key, ok := c.users[normDN(memberDN(v, c.cfg.memberSuffix))]; ok && !seen[key] {
					seen[key] = true
					g.Members = append(g.Members, key)
				}
			}
		}
		page.Records = append(page.Records, g)
	}
	return nil
}

// nestedMembers returns the keys of the users in group dn directly or
// through nested groups, with LDAP_MATCHING_RULE_IN_CHAIN.
func (c *Connector) nestedMembers(ctx context.Context, dn string) ([]string, error) {
	if c.aux == nil || c.aux.IsClosing() {
		conn, err := c.dial(ctx)
		if err != nil {
			return nil, err
		}
		c.aux = conn
	}
	filter := nestedFilter(c.cfg.userFilter, dn)
	var keys []string
	var cookie []byte
	for {
		req := goldap.NewSearchRequest(c.cfg.userBase, goldap.ScopeWholeSubtree, goldap.NeverDerefAliases, 0, 0, false,
			filter, []string{c.cfg.m.key}, []goldap.Control{&goldap.ControlPaging{PagingSize: c.cfg.pageSize, Cookie: cookie}})
		res, err := c.search(ctx, c.aux, req)
		if err != nil {
			if ctx.Err() != nil {
				return nil, c.wrap(fmt.Errorf("members of group %q: %w", dn, ctx.Err()))
			}
			if isConnError(err) {
				c.aux.Close()
				c.aux = nil
			}
			// The group page is read again from its own cursor, which
			// the aux connection does not touch: a plain retry.
			return nil, c.classify(fmt.Errorf("members of group %q: %w", dn, err), false)
		}
		for _, e := range res.Entries {
			if key, err := entryKey(indexEntry(e), c.cfg.m.key, c.cfg.keyIsGUID); err == nil {
				keys = append(keys, key)
			}
		}
		ctl, ok := goldap.FindControl(res.Controls, goldap.ControlTypePaging).(*goldap.ControlPaging)
		if !ok || len(ctl.Cookie) == 0 {
			slices.Sort(keys)
			return slices.Compact(keys), nil
		}
		cookie = ctl.Cookie
	}
}

// nestedFilter is the user filter restricted to transitive members of the
// group dn.
func nestedFilter(userFilter, dn string) string {
	return "(&" + userFilter + "(memberOf:" + matchingRuleInChain + ":=" + goldap.EscapeFilter(dn) + "))"
}

// search runs req on conn, closing conn if ctx ends first (go-ldap's
// synchronous calls take no context).
func (c *Connector) search(ctx context.Context, conn *goldap.Conn, req *goldap.SearchRequest) (*goldap.SearchResult, error) {
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	res, err := conn.Search(req)
	if !stop() {
		return nil, ctx.Err()
	}
	return res, err
}

// dial connects, upgrades to TLS if configured and binds.
func (c *Connector) dial(ctx context.Context) (*goldap.Conn, error) {
	cfg := c.cfg
	d := net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	raw, err := d.DialContext(ctx, "tcp", cfg.url.Host)
	if err != nil {
		if err := ctxErr(ctx); err != nil {
			return nil, c.wrap(fmt.Errorf("connecting to %s: %w", cfg.url.Host, err))
		}
		return nil, c.wrap(fmt.Errorf("connecting to %s: %w", cfg.url.Host, err))
	}
	isTLS := false
	if cfg.url.Scheme == "ldaps" {
		tc := tls.Client(raw, cfg.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			raw.Close()
			return nil, c.tlsError(ctx, err)
		}
		raw, isTLS = tc, true
	}
	conn := goldap.NewConn(raw, isTLS)
	conn.Start()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	err = func() error {
		if cfg.startTLS {
			if err := conn.StartTLS(cfg.tls); err != nil {
				return c.tlsError(ctx, err)
			}
		}
		if cfg.bindDN == "" {
			return nil
		}
		if err := conn.Bind(cfg.bindDN, cfg.password); err != nil {
			if ctx.Err() != nil {
				return c.wrap(fmt.Errorf("binding: %w", ctx.Err()))
			}
			return c.classify(fmt.Errorf("binding as %q: %w", cfg.bindDN, err), false)
		}
		return nil
	}()
	if !stop() && err == nil {
		err = c.wrap(fmt.Errorf("binding: %w", ctx.Err()))
	}
	if err != nil {
		conn.Close()
		return nil, err
	}
	return conn, nil
}

// ctxErr is ctx.Err(), or context.DeadlineExceeded once ctx's deadline
// has passed: a dial or handshake bounded by that deadline can fail with a
// timeout a moment before ctx itself reports it.
func ctxErr(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
		return context.DeadlineExceeded
	}
	return nil
}

// CheckHealth binds and reads the user base DN's entry: a cheap test of
// the URL, TLS, credentials and base DN. Its errors are classified like
// ReadPage's.
func (c *Connector) CheckHealth(ctx context.Context) error {
	conn, err := c.dial(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	req := goldap.NewSearchRequest(c.cfg.userBase, goldap.ScopeBaseObject, goldap.NeverDerefAliases, 1, 0, false,
		"(objectClass=*)", []string{"1.1"}, nil)
	if _, err := c.search(ctx, conn, req); err != nil {
		if ctx.Err() != nil {
			return c.wrap(ctx.Err())
		}
		if goldap.IsErrorWithCode(err, goldap.LDAPResultNoSuchObject) {
			return resync.Permanent(c.wrap(fmt.Errorf("user base DN %q does not exist: %w", c.cfg.userBase, err)))
		}
		return c.classify(fmt.Errorf("reading user base DN %q: %w", c.cfg.userBase, err), false)
	}
	return nil
}

// Close closes the connector's connections. It is safe to call more than
// once.
func (c *Connector) Close() error {
	c.closeConn()
	if c.aux != nil {
		c.aux.Close()
		c.aux = nil
	}
	return nil
}

func (c *Connector) closeConn() {
	if c.conn != nil {
		c.conn.Close()
		c.conn = nil
	}
	c.pending = ""
}
