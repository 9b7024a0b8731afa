package github

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

	gh "github.com/google/go-github/v93/github"

	"github.com/openresync/resync"
	"github.com/openresync/resync/connkit"
)

// DefaultBaseURL is the API of github.com (and of GitHub Enterprise Cloud).
const DefaultBaseURL = "https://api.github.com/"

// MaxPageSize is GitHub's largest per_page, and the default.
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
// cfg, for resync.Config.Connectors. It resolves the credential settings
// ("token", "private_key") with connkit.ResolveSecrets first.
func NewFactory(cfg Config) resync.ConnectorFactory {
	return func(ctx context.Context, conn resync.Connection) (resync.Connector, error) {
		conn, err := connkit.ResolveSecrets(ctx, conn, "token", "private_key")
		if err != nil {
			return nil, fmt.Errorf("github connector: %w", err)
		}
		return New(conn, cfg)
	}
}

var defaultClient = &http.Client{Timeout: time.Minute}

// New returns a Connector reading the GitHub organization that
// conn.Settings names (see the package doc). It checks the settings only;
// GitHub is first asked by ReadPage. A bad setting is a resync.Permanent
// error wrapping resync.ErrInvalidRequest, naming the setting and never
// quoting a credential.
func New(conn resync.Connection, cfg Config) (resync.Connector, error) {
	s := conn.Settings
	bad := func(format string, args ...any) error {
		return resync.Permanent(fmt.Errorf("%w: github connector (connection %q): %s",
			resync.ErrInvalidRequest, conn.ID, fmt.Sprintf(format, args...)))
	}
	known := map[string]bool{"org": true, "base_url": true, "token": true, "app_id": true,
		"installation_id": true, "private_key": true, "two_factor": true,
		"outside_collaborators": true, "teams": true, "saml": true, "page_size": true}
	for _, k := range slices.Sorted(maps.Keys(s)) {
		if !known[k] {
			return nil, bad("unknown setting %q", k)
		}
	}
	c := &connector{org: strings.TrimSpace(s["org"]), twoFactor: true, collaborators: true, teams: true,
		pageSize: MaxPageSize, seen: map[string]string{}, members2FAOff: map[int64]bool{},
		collab2FAOff: map[int64]bool{}, nameIDs: map[int64]string{}, teamPages: map[int][]team{}, teamsNext: map[int]int{}, teamMembers: map[int64]map[string]bool{}}
	if c.org == "" || strings.ContainsAny(c.org, "/?#% ") {
		return nil, bad(`set "org", the organization's login (octo-org)`)
	}
	base := strings.TrimSpace(s["base_url"])
	if base == "" {
		base = DefaultBaseURL
	}
	u, err := url.Parse(base)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, bad(`setting "base_url" is not an https URL without credentials or a query (https://api.github.com/, or https://HOST/api/v3/ for GitHub Enterprise Server)`)
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	base = u.String()
	for name, dst := range map[string]*bool{"two_factor": &c.twoFactor, "outside_collaborators": &c.collaborators, "teams": &c.teams, "saml": &c.saml} {
		if v := strings.TrimSpace(s[name]); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return nil, bad(`setting %q is %q, want "true" or "false"`, name, v)
			}
			*dst = b
		}
	}
	if v := strings.TrimSpace(s["page_size"]); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxPageSize {
			return nil, bad(`setting "page_size" is %q, want a whole number from 1 to %d`, v, MaxPageSize)
		}
		c.pageSize = n
	}

	hc := cfg.HTTPClient
	if hc == nil {
		hc = defaultClient
	}
	kit := func(auth connkit.Auth) *connkit.Client {
		return &connkit.Client{BaseURL: base, Auth: auth, HTTPClient: hc, Logger: cfg.Logger}
	}
	token, appID, inst, key := s["token"], strings.TrimSpace(s["app_id"]), strings.TrimSpace(s["installation_id"]), s["private_key"]
	var auth connkit.Auth
	switch {
	case token != "" && (appID != "" || inst != "" || key != ""):
		return nil, bad(`set "token", or "app_id", "installation_id" and "private_key" (a GitHub App), not both`)
	case token != "":
		auth = connkit.Bearer(token)
	case appID != "" && inst != "" && key != "":
		id, err := strconv.ParseInt(inst, 10, 64)
		if err != nil || id <= 0 {
			return nil, bad(`setting "installation_id" is %q, want the installation's numeric id`, inst)
		}
		pk, err := parsePrivateKey(key)
		if err != nil {
			return nil, bad(`setting "private_key" is not the app's private key: %v`, err)
		}
		jwtClient, err := newClient(kit(jwtAuth{key: pk, issuer: appID}), base)
		if err != nil {
			return nil, bad("%v", err)
		}
		auth = &appAuth{client: jwtClient, installation: id}
	case appID != "" || inst != "" || key != "":
		return nil, bad(`a GitHub App needs "app_id", "installation_id" and "private_key" together`)
	default:
		return nil, bad(`set "token" (a personal access token or an installation token), or "app_id", "installation_id" and "private_key" (a GitHub App)`)
	}
	c.kit, c.graphql = kit(auth), graphqlURL(base)
	if c.client, err = newClient(c.kit, base); err != nil {
		return nil, bad("%v", err)
	}
	return c, nil
}

// newClient returns a go-github client at base whose requests the kit
// sends. Its own rate-limit bookkeeping is off: it would refuse requests
// from what it saw earlier, without asking GitHub, and the engine already
// waits as the responses said.
func newClient(kit *connkit.Client, base string) (*gh.Client, error) {
	return gh.NewClient(
		gh.WithHTTPClient(&http.Client{Transport: kit.Transport()}),
		gh.WithURLs(&base, &base),
		gh.WithDisableRateLimitCheck(),
		gh.WithUserAgent("resync-github-connector"),
	)
}

// team is what a read keeps of a team between its pages.
type team struct {
	id   int64
	slug string
	name string
}

// connector reads one organization. The engine builds one per read and
// uses it from one goroutine at a time (the resync.Connector contract).
type connector struct {
	client  *gh.Client
	kit     *connkit.Client // the client's transport, for GraphQL
	graphql string          // the GraphQL endpoint
	org     string

	twoFactor, collaborators, teams bool
	saml                            bool
	pageSize                        int

	// What the read has gathered so far: the members without 2FA (read
	// before the members, so each member's record carries its state), the
	// teams of each page of teams, each team's members read so far, and
	// the cursor that yielded each account (a list that shifts between
	// pages can return a user twice; the second is dropped, and a page
	// read again still returns what it returned the first time).
	members2FAOff, collab2FAOff map[int64]bool
	members2FADone, collab2FA   bool
	teamPages                   map[int][]team
	teamsNext                   map[int]int
	teamMembers                 map[int64]map[string]bool
	seen                        map[string]string
	// nameIDs are the SAML NameIDs of the users linked to one, read before
	// the members when "saml" is set.
	nameIDs  map[int64]string
	samlDone bool
}

var _ resync.Connector = (*connector)(nil)

// ReadPage reads the page at cursor (see the package doc's Capabilities
// for the phases).
func (c *connector) ReadPage(ctx context.Context, cursor string) (resync.Page, error) {
	if err := ctx.Err(); err != nil {
		return resync.Page{}, err
	}
	if c.saml && (cursor == "" || strings.HasPrefix(cursor, samlCursor)) {
		return c.readSAML(ctx, strings.TrimPrefix(cursor, samlCursor))
	}
	cur, err := parseCursor(cursor)
	if err != nil {
		return resync.Page{}, resync.Permanent(fmt.Errorf("github connector: %w", err))
	}
	if cur.phase == phaseStart {
		cur = c.first(phase2FA)
	}
	var (
		users []*gh.User
		resp  *gh.Response
	)
	list := gh.ListOptions{Page: cur.page, PerPage: c.pageSize}
	switch cur.phase {
	case phase2FA:
		users, resp, err = c.client.Organizations.ListMembers(ctx, c.org, &gh.ListMembersOptions{Filter: "2fa_disabled", Role: "all", ListOptions: list})
	case phaseAdmins, phaseMembers:
		if c.saml && !c.samlDone {
			return resync.Page{}, resync.RestartRead(fmt.Errorf("github connector: cursor %q needs the SAML identities, which this connector has not read", cursor))
		}
		if c.twoFactor && !c.members2FADone {
			return resync.Page{}, resync.RestartRead(fmt.Errorf("github connector: cursor %q needs the 2FA listing, which this connector has not read", cursor))
		}
		role := "admin"
		if cur.phase == phaseMembers {
			role = "member"
		}
		users, resp, err = c.client.Organizations.ListMembers(ctx, c.org, &gh.ListMembersOptions{Role: role, ListOptions: list})
	case phaseCollab2FA:
		users, resp, err = c.client.Organizations.ListOutsideCollaborators(ctx, c.org, &gh.ListOutsideCollaboratorsOptions{Filter: "2fa_disabled", ListOptions: list})
	case phaseCollabs:
		if c.twoFactor && !c.collab2FA {
			return resync.Page{}, resync.RestartRead(fmt.Errorf("github connector: cursor %q needs the 2FA listing, which this connector has not read", cursor))
		}
		users, resp, err = c.client.Organizations.ListOutsideCollaborators(ctx, c.org, &gh.ListOutsideCollaboratorsOptions{Filter: "all", ListOptions: list})
	case phaseTeams:
		return c.readTeams(ctx, cur)
	case phaseTeamMembers:
		return c.readTeamMembers(ctx, cur)
	}
	if err != nil {
		return resync.Page{}, c.wrap(err)
	}
	page := resync.Page{Next: c.next(cur, resp), NotBefore: pace(resp.Header)}
	switch cur.phase {
	case phase2FA, phaseCollab2FA:
		off := c.members2FAOff
		if cur.phase == phaseCollab2FA {
			off = c.collab2FAOff
		}
		for _, u := range users {
			off[u.GetID()] = true
		}
		if resp.NextPage == 0 {
			if cur.phase == phase2FA {
				c.members2FADone = true
			} else {
				c.collab2FA = true
			}
		}
	default:
		for _, u := range users {
			if r := c.record(u, cur.phase); r != nil && c.firstSeen(r, cursor) {
				page.Records = append(page.Records, r)
			}
		}
	}
	return page, nil
}

// firstSeen reports whether the account r may be yielded on the page at
// cursor: it has not been yielded before, or it was yielded by this very
// cursor (a page read again returns the same records).
func (c *connector) firstSeen(r *resync.Account, cursor string) bool {
	key := r.Key
	if prev, ok := c.seen[key]; ok && prev != cursor {
		return false
	}
	c.seen[key] = cursor
	return true
}

// record maps a member or an outside collaborator.
func (c *connector) record(u *gh.User, phase string) *resync.Account {
	if u.GetID() == 0 {
		return nil
	}
	key := strconv.FormatInt(u.GetID(), 10)
	attrs := map[string]string{"login": u.GetLogin()}
	if u.GetNodeID() != "" {
		attrs["node_id"] = u.GetNodeID()
	}
	if u.GetType() != "" {
		attrs["type"] = u.GetType()
	}
	if u.GetSiteAdmin() {
		attrs["site_admin"] = "true"
	}
	var role string
	mfa := resync.MFAUnknown
	switch phase {
	case phaseAdmins, phaseMembers:
		role = "member"
		if phase == phaseAdmins {
			role = "admin"
		}
		attrs["org_role"], attrs["affiliation"] = role, "member"
		if c.twoFactor {
			mfa = resync.MFAEnabled
			if c.members2FAOff[u.GetID()] {
				mfa = resync.MFADisabled
			}
		}
	default:
		role = "outside_collaborator"
		attrs["affiliation"] = role
		if c.twoFactor {
			mfa = resync.MFAEnabled
			if c.collab2FAOff[u.GetID()] {
				mfa = resync.MFADisabled
			}
		}
	}
	if mfa != resync.MFAUnknown {
		attrs["two_factor"] = string(mfa)
	}
	nameID := c.nameIDs[u.GetID()]
	typ := resync.AccountTypeHuman
	if u.GetType() == "Bot" {
		typ = resync.AccountTypeService
	}
	return &resync.Account{Key: key, Username: u.GetLogin(), DisplayName: u.GetName(), OwnerEmail: u.GetEmail(),
		Status: resync.StatusActive, Type: typ, Roles: []string{role}, MFA: mfa, ExternalID: nameID, Attributes: attrs}
}

// readTeams reads a page of the organization's teams and goes on to the
// members of the first team on it.
func (c *connector) readTeams(ctx context.Context, cur cursor) (resync.Page, error) {
	teams, resp, err := c.client.Teams.ListTeams(ctx, c.org, &gh.ListOptions{Page: cur.page, PerPage: c.pageSize})
	if err != nil {
		return resync.Page{}, c.wrap(err)
	}
	ts := make([]team, 0, len(teams))
	for _, t := range teams {
		if t.GetID() != 0 && t.GetSlug() != "" {
			ts = append(ts, team{id: t.GetID(), slug: t.GetSlug(), name: t.GetName()})
		}
	}
	c.teamPages[cur.page] = ts
	c.teamsNext[cur.page] = resp.NextPage
	page := resync.Page{NotBefore: pace(resp.Header)}
	switch {
	case len(ts) > 0:
		page.Next = cursor{phase: phaseTeamMembers, teamsPage: cur.page, page: 1}.String()
	case resp.NextPage > 0:
		page.Next = cursor{phase: phaseTeams, page: resp.NextPage}.String()
	}
	return page, nil
}

// readTeamMembers reads a page of one team's members (child teams'
// members included, as GitHub lists them) and yields the team on the page
// that completes its list.
func (c *connector) readTeamMembers(ctx context.Context, cur cursor) (resync.Page, error) {
	ts, ok := c.teamPages[cur.teamsPage]
	if !ok || cur.team >= len(ts) {
		return resync.Page{}, resync.RestartRead(fmt.Errorf("github connector: cursor %q names a page of teams this connector has not read", cur))
	}
	t := ts[cur.team]
	members := c.teamMembers[t.id]
	if members == nil {
		if cur.page != 1 {
			return resync.Page{}, resync.RestartRead(fmt.Errorf("github connector: cursor %q continues a member list this connector has not read", cur))
		}
		members = map[string]bool{}
		c.teamMembers[t.id] = members
	}
	users, resp, err := c.client.Teams.ListTeamMembersBySlug(ctx, c.org, t.slug,
		&gh.TeamListTeamMembersOptions{Role: "all", ListOptions: gh.ListOptions{Page: cur.page, PerPage: c.pageSize}})
	if err != nil {
		return resync.Page{}, c.wrap(err)
	}
	for _, u := range users {
		if u.GetID() != 0 {
			members[strconv.FormatInt(u.GetID(), 10)] = true
		}
	}
	page := resync.Page{NotBefore: pace(resp.Header)}
	if resp.NextPage > 0 {
		page.Next = cursor{phase: phaseTeamMembers, teamsPage: cur.teamsPage, team: cur.team, page: resp.NextPage}.String()
		return page, nil
	}
	page.Records = []resync.Record{&resync.Group{Key: strconv.FormatInt(t.id, 10), Name: t.name,
		Members: slices.Sorted(maps.Keys(members))}}
	switch {
	case cur.team+1 < len(ts):
		page.Next = cursor{phase: phaseTeamMembers, teamsPage: cur.teamsPage, team: cur.team + 1, page: 1}.String()
	case c.teamsNext[cur.teamsPage] > 0:
		page.Next = cursor{phase: phaseTeams, page: c.teamsNext[cur.teamsPage]}.String()
	}
	return page, nil
}

// wrap classifies a go-github error and names the connector.
func (c *connector) wrap(err error) error {
	return fmt.Errorf("github connector (org %s): %w", c.org, classify(err))
}

var _ resync.HealthChecker = (*connector)(nil)

// CheckHealth asks GitHub for the organization (GET /orgs/{org}): one
// request that checks the base URL, the credentials (a GitHub App's
// installation token is fetched) and that the token sees the organization.
func (c *connector) CheckHealth(ctx context.Context) error {
	if _, _, err := c.client.Organizations.Get(ctx, c.org); err != nil {
		return c.wrap(err)
	}
	return nil
}
