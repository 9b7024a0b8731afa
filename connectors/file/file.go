package file

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"syscall"

	"github.com/openresync/resync"
	"github.com/openresync/resync/storage"
)

// Formats accepted by the "format" setting.
const (
	// FormatHRISCSV is an HRIS employee export as CSV with a header row.
	FormatHRISCSV = "hris-csv"
	// FormatIdPJSON is an identity provider export of users and groups as JSON.
	FormatIdPJSON = "idp-json"
	// FormatAccountsJSON is a cloud IAM-like export of accounts as JSON.
	FormatAccountsJSON = "accounts-json"
)

// Page sizes of the "page_size" setting.
const (
	// DefaultPageSize is the page size when "page_size" is not set.
	DefaultPageSize = 100
	// MaxPageSize is the largest accepted "page_size".
	MaxPageSize = 100_000
)

// ErrMalformed is wrapped by the errors of an export that cannot be parsed
// as a whole (no header, broken JSON, a missing top-level array). Such
// errors are also marked resync.Permanent.
var ErrMalformed = errors.New("file: malformed export")

// Factory is the resync.ConnectorFactory of this package, for
// resync.Config.Connectors: it calls New.
var Factory resync.ConnectorFactory = func(_ context.Context, conn resync.Connection) (resync.Connector, error) {
	return New(conn)
}

// New returns a Connector reading the export named by conn.Settings (see
// the package doc). It validates the settings only; the file is first read
// by ReadPage or CheckHealth. A bad setting is a resync.Permanent error
// wrapping resync.ErrInvalidRequest.
func New(conn resync.Connection) (resync.Connector, error) {
	bad := func(format string, args ...any) error {
		return resync.Permanent(fmt.Errorf("%w: file connector (connection %q): %s",
			resync.ErrInvalidRequest, conn.ID, fmt.Sprintf(format, args...)))
	}
	path := strings.TrimSpace(conn.Settings["path"])
	if path == "" {
		return nil, bad(`setting "path" is required`)
	}
	format := strings.ToLower(strings.TrimSpace(conn.Settings["format"]))
	var parse parser
	switch format {
	case FormatHRISCSV:
		parse = parseHRIS
	case FormatIdPJSON:
		parse = parseIdP
	case FormatAccountsJSON:
		parse = parseAccounts
	case "":
		return nil, bad(`setting "format" is required (%s, %s or %s)`, FormatHRISCSV, FormatIdPJSON, FormatAccountsJSON)
	default:
		return nil, bad(`setting "format" is %q, want %s, %s or %s`, conn.Settings["format"], FormatHRISCSV, FormatIdPJSON, FormatAccountsJSON)
	}
	pageSize := DefaultPageSize
	if v := strings.TrimSpace(conn.Settings["page_size"]); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxPageSize {
			return nil, bad(`setting "page_size" is %q, want a whole number from 1 to %d`, v, MaxPageSize)
		}
		pageSize = n
	}
	return &connector{path: path, format: format, parse: parse, pageSize: pageSize}, nil
}

// parser turns a file's content into records. A malformed row or element
// comes back as a record with an empty key, at its place in the file, and
// its problem (with the record's kind and key, where known) in problems, in
// the same order; a file that cannot be parsed at all is an error (wrapping
// ErrMalformed).
type parser func(path string, data []byte) (records []resync.Record, problems []*resync.RecordError, err error)

// item is one record of the file, or the problem of a malformed one.
type item struct {
	rec resync.Record
	bad *resync.RecordError
}

// connector serves one export file. It is used by one goroutine at a time
// (the resync.Connector contract).
type connector struct {
	path     string
	format   string
	parse    parser
	pageSize int

	loaded bool
	items  []item
}

var (
	_ resync.Connector     = (*connector)(nil)
	_ resync.HealthChecker = (*connector)(nil)
)

// load reads and parses the file into items, in file order.
func (c *connector) load(ctx context.Context) ([]item, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(c.path)
	if err != nil {
		err = fmt.Errorf("file: reading %s export %s: %w", c.format, c.path, err)
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EISDIR) {
			return nil, resync.Permanent(err)
		}
		return nil, err // perhaps transient (I/O error): the engine retries
	}
	recs, problems, err := c.parse(c.path, data)
	if err != nil {
		return nil, resync.Permanent(err)
	}
	items := make([]item, len(recs))
	j := 0
	for i, r := range recs {
		if storage.KeyOf(r) == "" && j < len(problems) {
			items[i].bad = problems[j]
			j++
			continue
		}
		items[i].rec = r
	}
	return items, nil
}

// ReadPage implements resync.Connector. The empty cursor (re)reads the file;
// other cursors are offsets into the records read then. Malformed rows are
// reported in Page.Rejected, naming the file, the line or element, and the
// record's key when it has one (so its stored version is kept).
func (c *connector) ReadPage(ctx context.Context, cursor string) (resync.Page, error) {
	if err := ctx.Err(); err != nil {
		return resync.Page{}, err
	}
	off := 0
	if cursor != "" {
		n, err := strconv.Atoi(cursor)
		if err != nil || n < 0 {
			return resync.Page{}, resync.Permanent(fmt.Errorf("%w: file: cursor %q is not a record offset", resync.ErrInvalidRequest, cursor))
		}
		off = n
	}
	if cursor == "" || !c.loaded {
		items, err := c.load(ctx)
		if err != nil {
			c.items, c.loaded = nil, false // never serve a former read's pages
			return resync.Page{}, err
		}
		c.items, c.loaded = items, true
	}
	if off > len(c.items) {
		return resync.Page{}, resync.Permanent(fmt.Errorf("%w: file: cursor %d is beyond the %d records of %s",
			resync.ErrInvalidRequest, off, len(c.items), c.path))
	}
	end := min(off+c.pageSize, len(c.items))
	p := resync.Page{Total: len(c.items)}
	for _, it := range c.items[off:end] {
		if it.bad != nil {
			bad := *it.bad
			p.Rejected = append(p.Rejected, &bad)
			continue
		}
		p.Records = append(p.Records, cloneRecord(it.rec))
	}
	if end < len(c.items) {
		p.Next = strconv.Itoa(end)
	}
	return p, nil
}

// CheckHealth implements resync.HealthChecker: the file is readable and
// parses as its format, every record included. The error names the file
// and the first problems (line or element, field).
func (c *connector) CheckHealth(ctx context.Context) error {
	items, err := c.load(ctx)
	if err != nil {
		return err
	}
	var problems []string
	for _, it := range items {
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
	return fmt.Errorf("%w: %s: %d of %d records are malformed and would be rejected: %s",
		ErrMalformed, c.path, len(problems), len(items), msg)
}

// cloneRecord copies a record so that a page handed to the engine never
// shares memory with the connector's copy (re-reading a cursor returns
// equal, not identical, records).
func cloneRecord(r resync.Record) resync.Record {
	switch v := r.(type) {
	case *resync.Identity:
		c := *v
		c.Groups = cloneStrings(v.Groups)
		c.Attributes = cloneMap(v.Attributes)
		return &c
	case *resync.Account:
		c := *v
		c.Roles = cloneStrings(v.Roles)
		c.Attributes = cloneMap(v.Attributes)
		return &c
	case *resync.Group:
		c := *v
		c.Members = cloneStrings(v.Members)
		return &c
	}
	return r
}

func cloneStrings(s []string) []string {
	if s == nil {
		return nil
	}
	return append([]string(nil), s...)
}

func cloneMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// normName lowers s and drops everything but letters and digits, so that
// "Employee ID", "employee_id" and "employeeId" compare equal.
func normName(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		}
	}
	return b.String()
}
