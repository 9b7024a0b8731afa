package datadog

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

// Page sizes of the "page_size" setting.
const (
	// MaxPageSize is the largest page[size] Datadog accepts for the users
	// list, and the default.
	MaxPageSize = 100
)

// Sites maps each Datadog site, as the DD_SITE variable of Datadog's own
// tools spells it, to the base URL of its API
// (https://docs.datadoghq.com/getting_started/site/).
var Sites = map[string]string{
	"datadoghq.com":     "https://api.datadoghq.com/",
	"us3.datadoghq.com": "https://api.us3.datadoghq.com/",
	"us5.datadoghq.com": "https://api.us5.datadoghq.com/",
	"datadoghq.eu":      "https://api.datadoghq.eu/",
	"ap1.datadoghq.com": "https://api.ap1.datadoghq.com/",
	"ap2.datadoghq.com": "https://api.ap2.datadoghq.com/",
	"uk1.datadoghq.com": "https://api.uk1.datadoghq.com/",
	"ddog-gov.com":      "https://api.ddog-gov.com/",
	"us2.ddog-gov.com":  "https://api.us2.ddog-gov.com/",
}

// siteAliases are the short names Datadog's docs use for the sites.
var siteAliases = map[string]string{
	"us1": "datadoghq.com", "us3": "us3.datadoghq.com", "us5": "us5.datadoghq.com",
	"eu1": "datadoghq.eu", "eu": "datadoghq.eu", "ap1": "ap1.datadoghq.com", "ap2": "ap2.datadoghq.com",
	"uk1": "uk1.datadoghq.com", "us1-fed": "ddog-gov.com", "gov": "ddog-gov.com", "us2-fed": "us2.ddog-gov.com",
	"app.datadoghq.com": "datadoghq.com", "app.datadoghq.eu": "datadoghq.eu", "app.ddog-gov.com": "ddog-gov.com",
}

// Config is what the host gives every connector of this package, beside
// each connection's settings.
type Config struct {
	// HTTPClient sends the requests. Nil means a client with a one-minute
	// timeout.
	HTTPClient *http.Client
	// BaseURL, if set, replaces the site's API URL for every connection:
	// a proxy, or a local server in tests. The keys are sent to it.
	BaseURL string
	// Logger receives one Debug line per request, keys redacted. Nil
	// discards them.
	Logger *slog.Logger
}

// Factory is the resync.ConnectorFactory of this package with the zero
// Config.
var Factory = NewFactory(Config{})

// NewFactory returns a resync.ConnectorFactory building connectors with
// cfg, for resync.Config.Connectors.
func NewFactory(cfg Config) resync.ConnectorFactory {
	return func(ctx context.Context, conn resync.Connection) (resync.Connector, error) {
		conn, err := connkit.ResolveSecrets(ctx, conn, "api_key", "application_key")
		if err != nil {
			return nil, fmt.Errorf("datadog connector: %w", err)
		}
		return New(conn, cfg)
	}
}

var defaultClient = &http.Client{Timeout: time.Minute}

// New returns a Connector reading the users of the Datadog organization
// that conn.Settings names (see the package doc). It checks the settings
// only; Datadog is first asked by ReadPage or CheckHealth. A bad setting is
// a resync.Permanent error wrapping resync.ErrInvalidRequest, naming the
// setting and never quoting a key.
func New(conn resync.Connection, cfg Config) (resync.Connector, error) {
	s := conn.Settings
	bad := func(format string, args ...any) error {
		return resync.Permanent(fmt.Errorf("%w: datadog connector (connection %q): %s",
			resync.ErrInvalidRequest, conn.ID, fmt.Sprintf(format, args...)))
	}
	known := map[string]bool{"api_key": true, "application_key": true, "site": true, "page_size": true}
	for _, k := range slices.Sorted(maps.Keys(s)) {
		if !known[k] {
			return nil, bad("unknown setting %q", k)
		}
	}
	apiKey, appKey := strings.TrimSpace(s["api_key"]), strings.TrimSpace(s["application_key"])
	if apiKey == "" || appKey == "" {
		return nil, bad(`set "api_key" and "application_key" (an application key with the user_access_read scope)`)
	}
	site := strings.ToLower(strings.TrimSpace(s["site"]))
	if site == "" {
		site = "datadoghq.com"
	}
	if a, ok := siteAliases[site]; ok {
		site = a
	}
	base, ok := Sites[site]
	if !ok {
		return nil, bad(`setting "site" is %q, want one of %s`, truncate(s["site"], 40), strings.Join(slices.Sorted(maps.Keys(Sites)), ", "))
	}
	if cfg.BaseURL != "" {
		base = cfg.BaseURL
	}
	c := &connector{conn: conn, size: MaxPageSize, firstPage: map[string]int{}}
	if v := strings.TrimSpace(s["page_size"]); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxPageSize {
			return nil, bad(`setting "page_size" is %q, want a whole number from 1 to %d`, v, MaxPageSize)
		}
		c.size = n
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = defaultClient
	}
	c.client = &connkit.Client{
		BaseURL:    base,
		Auth:       keys{api: apiKey, app: appKey},
		HTTPClient: hc,
		Header:     http.Header{"Accept": {"application/json"}},
		Logger:     cfg.Logger,
	}
	return c, nil
}

// keys authenticates with Datadog's two keys
// (https://docs.datadoghq.com/api/latest/authentication/).
type keys struct{ api, app string }

func (k keys) Apply(req *http.Request, refresh bool) (bool, error) {
	req.Header.Set("DD-API-KEY", k.api)
	req.Header.Set("DD-APPLICATION-KEY", k.app)
	return false, nil // static keys: a 401 or 403 stands
}

// connector reads one connection; the engine builds one per read and uses
// it from one goroutine at a time.
type connector struct {
	conn   resync.Connection
	client *connkit.Client
	size   int
	// firstPage is the page each user ID was first read on in this read:
	// a user that a later page returns again (the list shifted forward
	// when a user was invited meanwhile) is not yielded twice.
	firstPage map[string]int
}

var (
	_ resync.Connector     = (*connector)(nil)
	_ resync.HealthChecker = (*connector)(nil)
)

// ReadPage reads the users page at cursor, a 0-based page number.
func (c *connector) ReadPage(ctx context.Context, cursor string) (resync.Page, error) {
	if err := ctx.Err(); err != nil {
		return resync.Page{}, err
	}
	n, err := connkit.ParsePage(cursor, 0)
	if err != nil {
		return resync.Page{}, fmt.Errorf("datadog: connection %q: %w", c.conn.ID, err)
	}
	q := url.Values{"page[size]": {strconv.Itoa(c.size)}, "page[number]": {strconv.Itoa(n)}}
	resp, err := c.client.Get(ctx, "api/v2/users", q)
	if err != nil {
		return resync.Page{}, err
	}
	list, err := decodeUsers(resp.Body)
	if err != nil {
		return resync.Page{}, resync.Permanent(fmt.Errorf("datadog: GET api/v2/users (page %d): %w", n, err))
	}
	page := resync.Page{NotBefore: resp.NotBefore(), Total: max(list.total, 0)}
	for _, u := range list.users {
		if u.ID != "" {
			if first, seen := c.firstPage[u.ID]; seen && first != n {
				continue
			}
			c.firstPage[u.ID] = n
		}
		rec, err := u.record(list.roles)
		if err != nil {
			page.Rejected = append(page.Rejected, err)
			continue
		}
		page.Records = append(page.Records, rec)
	}
	last := -1
	if list.total >= 0 {
		last = (list.total+c.size-1)/c.size - 1
	}
	page.Next = connkit.NextPage(n, len(list.users), c.size, last)
	return page, nil
}

// CheckHealth asks for one user: it fails as a read would on a rejected
// key, a missing scope or an unreachable site.
func (c *connector) CheckHealth(ctx context.Context) error {
	resp, err := c.client.Get(ctx, "api/v2/users", url.Values{"page[size]": {"1"}, "page[number]": {"0"}})
	if err != nil {
		return err
	}
	if _, err := decodeUsers(resp.Body); err != nil {
		return resync.Permanent(fmt.Errorf("datadog: GET api/v2/users: %w", err))
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
