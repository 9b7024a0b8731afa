package entra

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

// Defaults of the settings.
const (
	// DefaultAuthority is the Microsoft identity platform of the global
	// cloud, whose /{tenant}/oauth2/v2.0/token endpoint issues the tokens.
	DefaultAuthority = "https://login.microsoftonline.com"
	// DefaultGraphURL is Microsoft Graph in the global cloud.
	DefaultGraphURL = "https://graph.microsoft.com"
	// MaxPageSize is the largest (and default) $top asked for: Graph's
	// maximum for users, groups and members. With signInActivity
	// selected Graph answers at most 120 users a page whatever $top says.
	MaxPageSize = 999
)

// Config is what the host gives every connector of this package, beside
// each connection's settings.
type Config struct {
	// HTTPClient sends the requests, to Graph and to the token endpoint.
	// Nil means a client with a one-minute timeout.
	HTTPClient *http.Client
	// Logger receives one Debug line per request, credentials redacted.
	// Nil discards them.
	Logger *slog.Logger
	// Auth, if set, authenticates every Graph request in place of the
	// "client_id" and "client_secret" settings: connkit.OAuth2 with a
	// token source of the host's (a certificate credential, a managed
	// identity), renewed on a 401.
	Auth connkit.Auth
	// Now is the clock tokens expire on; nil means time.Now.
	Now func() time.Time
}

// Factory is the resync.ConnectorFactory of this package with the zero
// Config.
var Factory = NewFactory(Config{})

// NewFactory returns a resync.ConnectorFactory building connectors with
// cfg, for resync.Config.Connectors.
func NewFactory(cfg Config) resync.ConnectorFactory {
	return func(ctx context.Context, conn resync.Connection) (resync.Connector, error) {
		conn, err := connkit.ResolveSecrets(ctx, conn, "client_secret")
		if err != nil {
			return nil, fmt.Errorf("entra connector: %w", err)
		}
		return New(conn, cfg)
	}
}

var defaultClient = &http.Client{Timeout: time.Minute}

// optional is a setting that may be on, off, or on where the tenant's
// licence allows.
type optional int

const (
	optAuto optional = iota
	optOn
	optOff
)

// New returns a Connector reading the Microsoft Entra tenant that
// conn.Settings names (see the package doc). It checks the settings only;
// neither the token endpoint nor Graph is asked before ReadPage or
// CheckHealth. A bad setting is a resync.Permanent error wrapping
// resync.ErrInvalidRequest, naming the setting and never quoting a
// credential.
func New(conn resync.Connection, cfg Config) (resync.Connector, error) {
	s := conn.Settings
	bad := func(format string, args ...any) error {
		return resync.Permanent(fmt.Errorf("%w: entra connector (connection %q): %s",
			resync.ErrInvalidRequest, conn.ID, fmt.Sprintf(format, args...)))
	}
	known := map[string]bool{"tenant_id": true, "client_id": true, "client_secret": true, "authority": true,
		"graph_url": true, "sign_in_activity": true, "mfa": true, "groups": true, "deleted_users": true, "page_size": true}
	for _, k := range slices.Sorted(maps.Keys(s)) {
		if !known[k] {
			return nil, bad("unknown setting %q", k)
		}
	}
	origin := func(name, def string) (*url.URL, error) {
		raw := strings.TrimSpace(s[name])
		if raw == "" {
			raw = def
		}
		u, err := url.Parse(raw)
		if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" ||
			strings.Trim(u.Path, "/") != "" {
			return nil, bad(`setting %q must be an https origin without a path (%s)`, name, def)
		}
		u.Path = ""
		return u, nil
	}
	graph, err := origin("graph_url", DefaultGraphURL)
	if err != nil {
		return nil, err
	}
	tenant := strings.TrimSpace(s["tenant_id"])
	if tenant == "" || strings.ContainsAny(tenant, "/?#% ") {
		return nil, bad(`set "tenant_id", the directory (tenant) ID or a verified domain (contoso.onmicrosoft.com)`)
	}
	auth := cfg.Auth
	id, secret := strings.TrimSpace(s["client_id"]), s["client_secret"]
	switch {
	case auth != nil && (id != "" || secret != ""):
		return nil, bad(`the host authenticates this connector (Config.Auth): remove "client_id" and "client_secret"`)
	case auth == nil && (id == "" || secret == ""):
		return nil, bad(`set "client_id" and "client_secret", the app registration's application ID and client secret`)
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = defaultClient
	}
	if auth == nil {
		authority, err := origin("authority", DefaultAuthority)
		if err != nil {
			return nil, err
		}
		auth = &clientCredentials{
			token: &connkit.Client{BaseURL: authority.String() + "/", HTTPClient: hc, Logger: cfg.Logger, Now: now,
				Header: http.Header{"Accept": {"application/json"}}},
			path:   url.PathEscape(tenant) + "/oauth2/v2.0/token",
			id:     id,
			secret: secret,
			scope:  graph.String() + "/.default",
			now:    now,
		}
	}

	c := &connector{conn: conn, readGroups: true, readDeleted: true,
		groupsCache: map[string]*groupsPage{}, members: map[string]map[string]struct{}{}, mfa: map[string]mfaState{}}
	opt := func(name string) (optional, error) {
		switch v := strings.ToLower(strings.TrimSpace(s[name])); v {
		case "", "auto":
			return optAuto, nil
		case "true":
			return optOn, nil
		case "false":
			return optOff, nil
		default:
			return 0, bad(`setting %q is %q, want "auto", "true" or "false"`, name, v)
		}
	}
	if c.signIn, err = opt("sign_in_activity"); err != nil {
		return nil, err
	}
	if c.readMFA, err = opt("mfa"); err != nil {
		return nil, err
	}
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
	if c.readDeleted, err = boolean("deleted_users", true); err != nil {
		return nil, err
	}
	c.pageSize = MaxPageSize
	if v := strings.TrimSpace(s["page_size"]); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxPageSize {
			return nil, bad(`setting "page_size" is %q, want a whole number from 1 to %d`, v, MaxPageSize)
		}
		c.pageSize = n
	}
	c.client = &connkit.Client{
		BaseURL:    graph.String() + "/v1.0/",
		Auth:       auth,
		HTTPClient: hc,
		Header:     http.Header{"Accept": {"application/json"}},
		Logger:     cfg.Logger,
		Now:        now,
	}
	return c, nil
}
