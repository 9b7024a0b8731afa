package bamboohr

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/openresync/resync"
	"github.com/openresync/resync/connectors/hris"
	"github.com/openresync/resync/connkit"
)

// defaultBaseURL is BambooHR's API root; the company's subdomain and
// "/v1/" follow it.
const defaultBaseURL = "https://api.bamboohr.com/api/gateway.php/"

// reportFields are the employee fields the connector asks BambooHR's custom
// report for: those the hris package's BambooHR preset maps (see the
// package doc), by their API names. Fields named by "column.<field>"
// settings are asked for too.
var reportFields = []string{
	"id", "employeeNumber", "firstName", "lastName", "displayName", "workEmail",
	"supervisorEId", "department", "jobTitle", "hireDate", "terminationDate",
	"status", "employmentHistoryStatus", "location",
}

// Config is what the host gives every connector of this package, beside
// each connection's settings.
type Config struct {
	// Clock tells the date against which hire and termination dates are
	// judged: give it the engine's Config.Clock. Nil means the system
	// clock.
	Clock resync.Clock
	// HTTPClient sends the requests. Nil means a client with a
	// five-minute timeout.
	HTTPClient *http.Client
	// Logger receives one Debug line per request and one Warn report per
	// read of the manager values that matched no one. Nil discards them.
	Logger *slog.Logger
}

// Factory is the resync.ConnectorFactory of this package with the zero
// Config.
var Factory = NewFactory(Config{})

// NewFactory returns a resync.ConnectorFactory building connectors with
// cfg, for resync.Config.Connectors. The "api_key" setting may be a secret
// reference ("secret:<ref>"), resolved by the engine's Config.Secrets.
func NewFactory(cfg Config) resync.ConnectorFactory {
	return func(ctx context.Context, conn resync.Connection) (resync.Connector, error) {
		conn, err := connkit.ResolveSecrets(ctx, conn, "api_key")
		if err != nil {
			return nil, fmt.Errorf("bamboohr connector: %w", err)
		}
		return New(conn, cfg)
	}
}

var (
	defaultClient = &http.Client{Timeout: 5 * time.Minute}
	subdomain     = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9-]{0,62}$`)
)

// passed are the settings handed to the hris package as they are.
var passed = map[string]bool{"page_size": true, "date_layout": true, "max_bytes": true}

// New returns a Connector reading conn's BambooHR company (see the package
// doc). It validates the settings only. A bad setting is a
// resync.Permanent error wrapping resync.ErrInvalidRequest, naming the
// setting but never the key.
func New(conn resync.Connection, cfg Config) (resync.Connector, error) {
	s := conn.Settings
	bad := func(format string, args ...any) error {
		return resync.Permanent(fmt.Errorf("%w: bamboohr connector (connection %q): %s",
			resync.ErrInvalidRequest, conn.ID, fmt.Sprintf(format, args...)))
	}
	hs := map[string]string{"preset": hris.PresetBambooHR}
	fields := slices.Clone(reportFields)
	for _, k := range slices.Sorted(maps.Keys(s)) {
		v := s[k]
		switch {
		case k == "company_domain" || k == "api_key" || k == "base_url":
		case passed[k]:
			hs[k] = v
		case strings.HasPrefix(k, "column."):
			hs[k] = v
			if f := strings.TrimSpace(v); f != "" && !slices.Contains(fields, f) {
				fields = append(fields, f)
			}
		default:
			return nil, bad("unknown setting %q", k)
		}
	}
	domain := strings.TrimSpace(s["company_domain"])
	if !subdomain.MatchString(domain) {
		return nil, bad(`setting "company_domain" is %q, want the company's BambooHR subdomain (acme for acme.bamboohr.com)`, domain)
	}
	key := strings.TrimSpace(s["api_key"])
	if key == "" {
		return nil, bad(`setting "api_key" is required`)
	}
	base := defaultBaseURL
	if v := strings.TrimSpace(s["base_url"]); v != "" {
		u, err := url.Parse(v)
		if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil {
			return nil, bad(`setting "base_url" is not an https URL`)
		}
		base = strings.TrimSuffix(v, "/") + "/"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = defaultClient
	}
	var now func() time.Time
	if cfg.Clock != nil {
		now = cfg.Clock.Now
	}
	client := &connkit.Client{
		BaseURL: base + url.PathEscape(domain) + "/v1/",
		// BambooHR's API keys authenticate as HTTP basic's user name,
		// with any password
		// (https://documentation.bamboohr.com/docs/getting-started#authentication).
		Auth:         connkit.Basic(key, "x"),
		HTTPClient:   cfg.HTTPClient,
		Header:       http.Header{"Accept": {"application/json"}},
		MaxBodyBytes: hris.DefaultMaxBytes,
		Logger:       cfg.Logger,
		Now:          now,
	}
	body, err := json.Marshal(map[string][]string{"fields": fields})
	if err != nil {
		return nil, err
	}
	fetch := func(ctx context.Context) ([]byte, string, error) {
		// One request for every employee, Active and Inactive: the
		// custom report has no paging.
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, "reports/custom?format=JSON&onlyCurrent=true", bytes.NewReader(body))
		if err != nil {
			return nil, "", resync.Permanent(err)
		}
		// Exactly this value: BambooHR reads any other as XML.
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			if ctxErr := ctx.Err(); ctxErr != nil {
				return nil, "", ctxErr
			}
			return nil, "", fmt.Errorf("bamboohr: %w", err)
		}
		return resp.Body, "application/json", nil
	}
	c, err := hris.New(resync.Connection{ID: conn.ID, Tenant: conn.Tenant, Type: conn.Type, Provider: "BambooHR",
		Name: conn.Name, Settings: hs}, hris.Config{Clock: cfg.Clock, Logger: cfg.Logger, Fetch: fetch})
	if err != nil {
		return nil, fmt.Errorf("bamboohr connector: %w", err)
	}
	return c, nil
}
