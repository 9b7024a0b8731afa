package hris

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"mime"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/openresync/resync"
	"github.com/openresync/resync/connkit"
)

// Page sizes of the "page_size" setting.
const (
	// DefaultPageSize is the number of rows a page holds when "page_size"
	// is not set.
	DefaultPageSize = 500
	// MaxPageSize is the largest accepted "page_size".
	MaxPageSize = 100_000
)

// DefaultMaxBytes bounds an export when "max_bytes" is not set: 256 MiB.
const DefaultMaxBytes = 256 << 20

// ErrMalformed is wrapped by the errors of an export that cannot be read
// as a whole: no header, a header that does not fit the column mapping, a
// broken quote across lines, a file over the size limit. Such errors
// are also resync.Permanent.
var ErrMalformed = errors.New("hris: malformed export")

// Config is what the host gives every connector of this package, beside
// each connection's settings.
type Config struct {
	// Clock tells the date against which start and end dates are judged:
	// give it the engine's Config.Clock, so one clock drives both. Nil
	// means the system clock.
	Clock resync.Clock
	// HTTPClient fetches exports in URL mode. Nil means a client with a
	// five-minute timeout. Its transport decides which certificates are
	// trusted.
	HTTPClient *http.Client
	// Logger receives one Warn report per read of the manager values that
	// matched several people or no one, and in URL mode one Debug line per
	// request. Nil discards them.
	Logger *slog.Logger
	// Fetch, if set, gets the export in place of the "path" and "url"
	// settings, which must then be absent, as must the credentials: it
	// returns the export's bytes and media type ("" to detect the format),
	// or an error already classified for the engine, which the read
	// returns as it is. A connector for an HRIS API (connectors/bamboohr)
	// fetches its report with it and leaves the mapping, the status rules
	// and the paging to this package. Messages name the export as the
	// connection's provider's report.
	Fetch func(ctx context.Context) (data []byte, contentType string, err error)
}

// Factory is the resync.ConnectorFactory of this package with the zero
// Config: the system clock, the default HTTP client, no logs.
var Factory = NewFactory(Config{})

// NewFactory returns a resync.ConnectorFactory building connectors with
// cfg, for resync.Config.Connectors.
func NewFactory(cfg Config) resync.ConnectorFactory {
	return func(ctx context.Context, conn resync.Connection) (resync.Connector, error) {
		// Credentials may be secret references ("secret:..."), resolved
		// by the engine's Config.Secrets; the resolved values never leave
		// this copy of the settings.
		conn, err := connkit.ResolveSecrets(ctx, conn, "token", "username", "password")
		if err != nil {
			return nil, fmt.Errorf("hris connector: %w", err)
		}
		return New(conn, cfg)
	}
}

// New returns a Connector reading the export conn.Settings names (see the
// package doc). It validates the settings only: the export is first read by
// ReadPage or CheckHealth. A bad setting is a resync.Permanent error
// wrapping resync.ErrInvalidRequest, naming the setting.
func New(conn resync.Connection, cfg Config) (resync.Connector, error) {
	s := conn.Settings
	bad := func(format string, args ...any) error {
		return resync.Permanent(fmt.Errorf("%w: hris connector (connection %q): %s",
			resync.ErrInvalidRequest, conn.ID, fmt.Sprintf(format, args...)))
	}
	known := map[string]bool{"path": true, "url": true, "preset": true, "page_size": true, "date_layout": true,
		"max_bytes": true, "format": true, "token": true, "username": true, "password": true}
	for f := range numFields {
		known["column."+f.String()] = true
	}
	for _, k := range slices.Sorted(maps.Keys(s)) {
		if !known[k] {
			return nil, bad("unknown setting %q", k)
		}
	}
	c := &connector{conn: conn, cfg: cfg, pageSize: DefaultPageSize, maxBytes: DefaultMaxBytes}
	switch f := strings.ToLower(strings.TrimSpace(s["format"])); f {
	case "":
	case "csv", "hris-csv":
		c.format = formatCSV
	case "json":
		c.format = formatJSON
	default:
		return nil, bad(`setting "format" is %q, want "csv" (or "hris-csv") or "json", or no setting to detect it`, s["format"])
	}
	if c.cfg.Clock == nil {
		c.cfg.Clock = systemClock{}
	}
	if c.cfg.Logger == nil {
		c.cfg.Logger = slog.New(slog.DiscardHandler)
	}
	path, rawURL := strings.TrimSpace(s["path"]), strings.TrimSpace(s["url"])
	switch {
	case cfg.Fetch != nil:
		if path != "" || rawURL != "" || s["token"] != "" || s["username"] != "" || s["password"] != "" {
			return nil, bad(`"path", "url" and credentials are not settings of a connection whose export Config.Fetch gets`)
		}
		c.src = strings.TrimSpace(conn.Provider + " report")
	case path == "" && rawURL == "":
		return nil, bad(`set "path" (a file) or "url" (an https URL)`)
	case path != "" && rawURL != "":
		return nil, bad(`set "path" or "url", not both`)
	case path != "":
		c.path, c.src = path, path
		if s["token"] != "" || s["username"] != "" || s["password"] != "" {
			return nil, bad(`credentials are for "url" only`)
		}
	default:
		u, err := url.Parse(rawURL)
		if err != nil || u.Scheme != "https" || u.Host == "" {
			return nil, bad(`setting "url" is not an https URL`) // the URL may hold a secret: not quoted
		}
		if u.User != nil {
			return nil, bad(`setting "url" holds credentials: use "token", or "username" and "password"`)
		}
		c.url = u
		c.src = redactURL(u)
		c.token, c.user, c.pass = s["token"], s["username"], s["password"]
		if c.token != "" && (c.user != "" || c.pass != "") {
			return nil, bad(`set "token" (bearer) or "username" and "password" (basic), not both`)
		}
		if (c.user == "") != (c.pass == "") {
			return nil, bad(`"username" and "password" go together`)
		}
	}

	name := strings.ToLower(strings.TrimSpace(s["preset"]))
	if name == "" {
		name = PresetGeneric
	}
	pre, ok := presets[name]
	if !ok {
		return nil, bad(`setting "preset" is %q, want one of %s`, s["preset"], presetNames())
	}
	m := &mapping{preset: name, cands: pre.columns}
	for f := range numFields {
		m.explicit[f] = strings.TrimSpace(s["column."+f.String()])
	}
	if l := s["date_layout"]; strings.TrimSpace(l) != "" {
		m.layouts = []string{l}
	}
	c.mapping = m
	c.layouts = slices.Concat(m.layouts, pre.layouts, defaultLayouts)

	if v := strings.TrimSpace(s["page_size"]); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxPageSize {
			return nil, bad(`setting "page_size" is %q, want a whole number from 1 to %d`, v, MaxPageSize)
		}
		c.pageSize = n
	}
	if v := strings.TrimSpace(s["max_bytes"]); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			return nil, bad(`setting "max_bytes" is %q, want a positive whole number of bytes`, v)
		}
		c.maxBytes = n
	}
	return c, nil
}

// connector serves one export. It is used by one goroutine at a time (the
// resync.Connector contract).
type connector struct {
	conn     resync.Connection
	cfg      Config
	mapping  *mapping
	layouts  []string
	pageSize int
	maxBytes int64

	path string   // file mode
	url  *url.URL // URL mode
	src  string   // path or redacted URL, for messages

	token, user, pass string
	format            string // formatCSV, formatJSON, or "" to detect

	loaded bool
	items  []item
}

var (
	_ resync.Connector     = (*connector)(nil)
	_ resync.HealthChecker = (*connector)(nil)
)

// load fetches and parses the export, resolving managers and reporting
// the ones it could not resolve, once.
func (c *connector) load(ctx context.Context) (*parsed, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	data, ctype, err := c.fetch(ctx)
	if err != nil {
		return nil, err
	}
	y, m, d := c.cfg.Clock.Now().UTC().Date()
	p := &parser{src: c.src, m: c.mapping, layouts: c.layouts, today: time.Date(y, m, d, 0, 0, 0, 0, time.UTC)}
	var out *parsed
	if c.formatOf(data, ctype) == formatJSON {
		out, err = p.parseJSON(data)
	} else {
		out, err = p.parse(data)
	}
	if err != nil {
		return nil, resync.Permanent(fmt.Errorf("%w: %w", ErrMalformed, err))
	}
	if len(out.ambiguous) > 0 || len(out.unknown) > 0 {
		c.cfg.Logger.LogAttrs(ctx, slog.LevelWarn, "hris: manager values not resolved to one person; kept in attributes",
			slog.String("connection", c.conn.ID), slog.String("export", c.src),
			slog.Any("ambiguous", summary(out.ambiguous)), slog.Any("unknown", summary(out.unknown)))
	}
	return out, nil
}

// summary lists values with their row counts, at most ten, sorted.
func summary(m map[string]int) []string {
	keys := slices.Sorted(maps.Keys(m))
	out := make([]string, 0, min(len(keys), 11))
	for i, k := range keys {
		if i == 10 {
			out = append(out, fmt.Sprintf("and %d more", len(keys)-10))
			break
		}
		out = append(out, fmt.Sprintf("%q (%d rows)", k, m[k]))
	}
	return out
}

// ReadPage implements resync.Connector. The empty cursor fetches and parses
// the export; other cursors are row offsets into what it read. Rows that
// cannot be records are reported in Page.Rejected, naming the export, line,
// column and the employee ID when the row has one.
func (c *connector) ReadPage(ctx context.Context, cursor string) (resync.Page, error) {
	if err := ctx.Err(); err != nil {
		return resync.Page{}, err
	}
	off := 0
	if cursor != "" {
		n, err := strconv.Atoi(cursor)
		if err != nil || n < 0 {
			return resync.Page{}, resync.Permanent(fmt.Errorf("%w: hris: cursor %q is not a row offset", resync.ErrInvalidRequest, cursor))
		}
		off = n
	}
	if cursor == "" || !c.loaded {
		out, err := c.load(ctx)
		if err != nil {
			c.items, c.loaded = nil, false // never serve a former read's pages
			return resync.Page{}, err
		}
		c.items, c.loaded = out.items, true
	}
	if off > len(c.items) {
		return resync.Page{}, resync.Permanent(fmt.Errorf("%w: hris: cursor %d is beyond the %d rows of %s",
			resync.ErrInvalidRequest, off, len(c.items), c.src))
	}
	end := min(off+c.pageSize, len(c.items))
	p := resync.Page{Total: len(c.items)}
	for _, it := range c.items[off:end] {
		if it.bad != nil {
			bad := *it.bad
			p.Rejected = append(p.Rejected, &bad)
			continue
		}
		p.Records = append(p.Records, clone(it.rec))
	}
	if end < len(c.items) {
		p.Next = strconv.Itoa(end)
	}
	return p, nil
}

// CheckHealth implements resync.HealthChecker: the export can be fetched,
// its header fits the mapping and every row becomes a record. The error
// names the first rows that would be rejected.
func (c *connector) CheckHealth(ctx context.Context) error {
	out, err := c.load(ctx)
	if err != nil {
		return err
	}
	var problems []string
	for _, it := range out.items {
		if it.bad != nil {
			problems = append(problems, it.bad.Reason)
		}
	}
	if len(problems) == 0 {
		return nil
	}
	const show = 3
	msg := strings.Join(problems[:min(show, len(problems))], "; ")
	if len(problems) > show {
		msg += fmt.Sprintf("; and %d more", len(problems)-show)
	}
	return fmt.Errorf("%w: %s: %d of %d rows would be rejected: %s", ErrMalformed, c.src, len(problems), len(out.items), msg)
}

// Export formats.
const (
	formatCSV  = "csv"
	formatJSON = "json"
)

// formatOf is the export's format: the "format" setting; else the
// response's Content-Type when it names JSON or CSV; else the extension of
// the file or of the URL's path (.json, .csv); else JSON if the first byte
// that is not white space (after a byte order mark) opens an array or an
// object, CSV otherwise.
func (c *connector) formatOf(data []byte, ctype string) string {
	if c.format != "" {
		return c.format
	}
	if mt, _, err := mime.ParseMediaType(ctype); err == nil {
		switch {
		case mt == "application/json", mt == "text/json", strings.HasSuffix(mt, "+json"):
			return formatJSON
		case mt == "text/csv", mt == "application/csv", mt == "text/comma-separated-values":
			return formatCSV
		}
	}
	name := c.path
	if c.url != nil {
		name = c.url.Path
	}
	switch strings.ToLower(filepath.Ext(name)) {
	case ".json":
		return formatJSON
	case ".csv":
		return formatCSV
	}
	rest := bytes.TrimLeft(bytes.TrimPrefix(data, []byte("\ufeff")), " \t\r\n")
	if len(rest) > 0 && (rest[0] == '[' || rest[0] == '{') {
		return formatJSON
	}
	return formatCSV
}

// clone copies an identity, so a page handed to the engine shares no
// memory with the connector's copy.
func clone(id *resync.Identity) *resync.Identity {
	c := *id
	c.Attributes = maps.Clone(id.Attributes)
	c.Groups = slices.Clone(id.Groups)
	return &c
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

func (systemClock) NewTimer(d time.Duration) (<-chan time.Time, func() bool) {
	t := time.NewTimer(d)
	return t.C, t.Stop
}
