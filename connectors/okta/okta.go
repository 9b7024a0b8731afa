package okta

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

// Page sizes of the "page_size", "group_page_size" and
// "member_page_size" settings.
const (
	// MaxPageSize is the largest (and default) count of users asked for
	// per request: Okta's maximum for GET /api/v1/users.
	MaxPageSize = 200
	// DefaultGroupPageSize is the default count of groups asked for per
	// request.
	DefaultGroupPageSize = 1000
	// MaxGroupPageSize is the largest accepted "group_page_size".
	MaxGroupPageSize = 10000
	// MaxMemberPageSize is the largest (and default) count of members
	// asked for per request: Okta's maximum for GET
	// /api/v1/groups/{groupId}/users.
	MaxMemberPageSize = 1000
	// DefaultMFAPageSize is the default count of users asked for per
	// request when "mfa" is on: a page then also reads each user's
	// factors, a request each, and 26 requests a page keep it short.
	DefaultMFAPageSize = 25
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
	// Auth, if set, authenticates every request in place of the "token"
	// and "access_token" settings: connkit.OAuth2 with a token source for
	// an Okta service app (client credentials with private_key_jwt, built
	// with golang.org/x/oauth2 in the host's module), renewed on a 401.
	Auth connkit.Auth
	// Now is the clock the pacing is measured on; nil means time.Now.
	Now func() time.Time
}

// Factory is the resync.ConnectorFactory of this package with the zero
// Config.
var Factory = NewFactory(Config{})

// NewFactory returns a resync.ConnectorFactory building connectors with
// cfg, for resync.Config.Connectors.
func NewFactory(cfg Config) resync.ConnectorFactory {
	return func(ctx context.Context, conn resync.Connection) (resync.Connector, error) {
		conn, err := connkit.ResolveSecrets(ctx, conn, "token", "access_token")
		if err != nil {
			return nil, fmt.Errorf("okta connector: %w", err)
		}
		return New(conn, cfg)
	}
}

var defaultClient = &http.Client{Timeout: time.Minute}

// allStatuses is the filter that lists users of every status: without a
// filter Okta leaves DEPROVISIONED users out of the list.
const allStatuses = `status eq "STAGED" or status eq "PROVISIONED" or status eq "ACTIVE" or status eq "RECOVERY" or ` +
	`status eq "PASSWORD_EXPIRED" or status eq "LOCKED_OUT" or status eq "SUSPENDED" or status eq "DEPROVISIONED"`

// New returns a Connector reading the Okta org that conn.Settings names
// (see the package doc). It checks the settings only; Okta is first asked
// by ReadPage or CheckHealth. A bad setting is a resync.Permanent error
// wrapping resync.ErrInvalidRequest, naming the setting and never quoting
// a credential.
func New(conn resync.Connection, cfg Config) (resync.Connector, error) {
	s := conn.Settings
	bad := func(format string, args ...any) error {
		return resync.Permanent(fmt.Errorf("%w: okta connector (connection %q): %s",
			resync.ErrInvalidRequest, conn.ID, fmt.Sprintf(format, args...)))
	}
	known := map[string]bool{"url": true, "token": true, "access_token": true, "groups": true, "mfa": true,
		"page_size": true, "group_page_size": true, "member_page_size": true}
	for _, k := range slices.Sorted(maps.Keys(s)) {
		if !known[k] {
			return nil, bad("unknown setting %q", k)
		}
	}
	raw := strings.TrimSpace(s["url"])
	if raw == "" {
		return nil, bad(`set "url", the org's URL (https://acme.okta.com)`)
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, bad(`setting "url" is not an https URL`) // it may hold a secret: not quoted
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" || strings.Trim(u.Path, "/") != "" {
		return nil, bad(`setting "url" must be the org's URL alone (https://acme.okta.com), without a path, query or credentials`)
	}
	u.Path = "/api/v1/"

	token, access := s["token"], s["access_token"]
	auth := cfg.Auth
	switch {
	case auth != nil && (token != "" || access != ""):
		return nil, bad(`the host authenticates this connector (Config.Auth): remove "token" and "access_token"`)
	case auth != nil:
	case token != "" && access != "":
		return nil, bad(`set "token" (an API token) or "access_token" (an OAuth 2.0 access token), not both`)
	case token != "":
		auth = ssws(token)
	case access != "":
		auth = connkit.Bearer(access)
	default:
		return nil, bad(`set "token" (an API token, sent as SSWS) or "access_token" (an OAuth 2.0 access token)`)
	}

	c := &connector{conn: conn, readGroups: true,
		groupsCache: map[string]*groupsPage{}, members: map[string]map[string]struct{}{}, mfa: map[string]resync.MFAState{}}
	boolean := func(name string, def bool) (bool, error) {
		v := strings.TrimSpace(s[name])
		if v == "" {
			return def, nil
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			return false, bad(`setting %q is %q, want "true" or "false"`, name, v)
		}
		return b, nil
	}
	if c.readGroups, err = boolean("groups", true); err != nil {
		return nil, err
	}
	if c.readMFA, err = boolean("mfa", false); err != nil {
		return nil, err
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
	defPage := MaxPageSize
	if c.readMFA {
		defPage = DefaultMFAPageSize
	}
	if c.pageSize, err = size("page_size", defPage, MaxPageSize); err != nil {
		return nil, err
	}
	if c.groupPageSize, err = size("group_page_size", DefaultGroupPageSize, MaxGroupPageSize); err != nil {
		return nil, err
	}
	if c.memberPageSize, err = size("member_page_size", MaxMemberPageSize, MaxMemberPageSize); err != nil {
		return nil, err
	}

	hc := cfg.HTTPClient
	if hc == nil {
		hc = defaultClient
	}
	c.now = cfg.Now
	if c.now == nil {
		c.now = time.Now
	}
	c.client = &connkit.Client{
		BaseURL:    u.String(),
		Auth:       auth,
		HTTPClient: hc,
		Header:     http.Header{"Accept": {"application/json"}},
		Logger:     cfg.Logger,
		Now:        c.now,
	}
	return c, nil
}

// ssws is Okta's API token scheme: Authorization: SSWS <token>.
type ssws string

func (t ssws) Apply(req *http.Request, _ bool) (bool, error) {
	req.Header.Set("Authorization", "SSWS "+string(t))
	return false, nil // a rejected API token stays rejected
}
