package hris

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/openresync/resync"
)

// defaultLayouts are the date forms always accepted, after the "date_layout"
// setting and the preset's: ISO 8601 dates and date-times.
var defaultLayouts = []string{
	"2006-01-02", time.RFC3339, "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006/01/02",
}

// item is one row of an export: a record, or why the row was rejected.
type item struct {
	rec *resync.Identity
	bad *resync.RecordError
	// line is the row's first line in the export, for duplicates.
	line int
}

// parsed is an export turned into items, in file order.
type parsed struct {
	items []item
	// ambiguous counts the rows of each manager value that matched more
	// than one person; unknown counts those that matched no one.
	ambiguous map[string]int
	unknown   map[string]int
}

// parser turns one export into records, with the mapping resolved against
// its header and the status rules applied at today.
type parser struct {
	src     string // the file or URL, for messages
	m       *mapping
	today   time.Time
	layouts []string
}

// parse reads an HRIS CSV export: a header row, then one employee per row.
// A row that cannot be turned into a record is an item with bad set; an
// export that cannot be read at all (no header, a header that does not fit
// the mapping, a quote left open to the end of the file) is an error.
func (p *parser) parse(data []byte) (*parsed, error) {
	data = bytes.TrimPrefix(data, []byte("\ufeff"))
	r := csv.NewReader(bytes.NewReader(data))
	r.FieldsPerRecord = -1

	header, err := r.Read()
	if errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: empty, want a CSV header row", p.src)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: header: %w", p.src, err)
	}
	for i, h := range header {
		if !utf8.ValidString(h) {
			return nil, fmt.Errorf("%s line 1: column %d of the header is not UTF-8 (export the file as UTF-8)", p.src, i+1)
		}
	}
	cols, err := p.m.resolve(header, "header")
	if err != nil {
		return nil, fmt.Errorf("%s line 1: %w", p.src, err)
	}

	out := &parsed{}
	for {
		start := r.InputOffset()
		row, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		var pe *csv.ParseError
		if err != nil && !errors.As(err, &pe) {
			return nil, fmt.Errorf("%s: %w", p.src, err)
		}
		if pe != nil && pe.Line > pe.StartLine {
			// A broken quote in a row that spans lines: those lines may be
			// rows of their own, and rejecting them as one would lose them.
			return nil, fmt.Errorf("%s lines %d to %d: %v at line %d, column %d (a quote opened on line %d is closed later or never)",
				p.src, pe.StartLine, pe.Line, pe.Err, pe.Line, pe.Column, pe.StartLine)
		}
		if pe != nil {
			// A broken quote within one line: the reader skips the rest of
			// the line. Recover the key leniently, so the stored record is
			// kept.
			key := lenientKey(data[start:r.InputOffset()], cols.idx[fEmployeeID])
			out.items = append(out.items, item{line: pe.StartLine, bad: &resync.RecordError{
				Kind: resync.KindIdentity, Key: key,
				Reason: fmt.Sprintf("%s line %d, column %d: %v", p.src, pe.Line, pe.Column, pe.Err),
			}})
			continue
		}
		if blank(row) {
			continue // an empty row a spreadsheet left behind
		}
		line, _ := r.FieldPos(0)
		at := func(col int) string {
			where := fmt.Sprintf("%s line %d", p.src, line)
			if col >= len(row) && col < len(cols.names) {
				return where + fmt.Sprintf(" (%s, missing from the row)", cols.names[col])
			} else if col >= 0 {
				l, cc := r.FieldPos(col)
				where = fmt.Sprintf("%s line %d, column %d", p.src, l, cc)
				if col < len(cols.names) && cols.names[col] != "" {
					where += fmt.Sprintf(" (%s)", cols.names[col])
				}
			}
			return where
		}
		id, bad := p.row(row, at, cols)
		out.items = append(out.items, item{rec: id, bad: bad, line: line})
	}
	p.dedupe(out, "line")
	p.managers(out, cols)
	return out, nil
}

// row builds the identity of one row, its fields in header order. bad is
// set, naming the row and field (at gives where field col is, for a
// message; col -1 for the row) and the employee ID when it has one, if the
// row cannot become a record.
func (p *parser) row(row []string, at func(col int) string, c *columns) (*resync.Identity, *resync.RecordError) {
	get := func(f field) string {
		i := c.idx[f]
		if i < 0 || i >= len(row) {
			return ""
		}
		return strings.TrimSpace(row[i])
	}
	key := get(fEmployeeID)
	fail := func(col int, format string, args ...any) *resync.RecordError {
		return &resync.RecordError{Kind: resync.KindIdentity, Key: key,
			Reason: at(col) + ": " + fmt.Sprintf(format, args...)}
	}
	for i, v := range row {
		if !utf8.ValidString(v) {
			if i == c.idx[fEmployeeID] {
				key = ""
			}
			return nil, fail(i, "not UTF-8 (export the file as UTF-8)")
		}
	}
	for i := len(c.names); i < len(row); i++ {
		if strings.TrimSpace(row[i]) != "" {
			return nil, fail(i, "%d fields, the header has %d (an unquoted comma?)", len(row), len(c.names))
		}
	}
	if key == "" {
		return nil, fail(c.idx[fEmployeeID], "empty employee ID")
	}

	id := &resync.Identity{
		Key:        key,
		EmployeeID: get(fEmployeeNumber),
		Email:      strings.ToLower(get(fEmail)),
		Department: get(fDepartment),
		Title:      get(fTitle),
		Manager:    get(fManager), // resolved once every row is read
	}
	if id.EmployeeID == "" {
		id.EmployeeID = key
	}
	id.Name = strings.TrimSpace(get(fFirstName) + " " + get(fLastName))
	if id.Name == "" {
		id.Name = get(fName)
	}
	setAttr := func(name, v string) {
		if v == "" || name == "" {
			return
		}
		if id.Attributes == nil {
			id.Attributes = map[string]string{}
		}
		id.Attributes[name] = v
	}
	for i, a := range c.attr {
		if a != "" && i < len(row) {
			setAttr(a, strings.TrimSpace(row[i]))
		}
	}
	if id.Name != "" && c.idx[fName] >= 0 && get(fName) != id.Name {
		setAttr(c.names[c.idx[fName]], get(fName))
	}
	setAttr("location", get(fLocation))

	var dates [2]time.Time
	for j, f := range []field{fStartDate, fEndDate} {
		v := get(f)
		t, ok := p.date(v)
		if !ok {
			return nil, fail(c.idx[f], "%s %q is not a date (want YYYY-MM-DD%s)", f, v, p.layoutHint())
		}
		dates[j] = t
	}
	id.StartDate, id.EndDate = dates[0], dates[1]
	if !id.EndDate.IsZero() && !id.StartDate.IsZero() && id.EndDate.Before(id.StartDate) {
		// The end of an earlier employment, before a rehire: not this
		// one's. The value stays in Attributes.
		setAttr(c.names[c.idx[fEndDate]], get(fEndDate))
		id.EndDate = time.Time{}
	}

	explicit := resync.LifecycleStatus("")
	if v := get(fStatus); v != "" {
		st, ok := statusOf(v)
		if !ok {
			return nil, fail(c.idx[fStatus], "status %q is not one of active, terminated (inactive), leave or pre-hire", v)
		}
		explicit = st
		setAttr(c.names[c.idx[fStatus]], v) // the vendor's own word stays
	}
	id.Status = p.status(explicit, id.StartDate, id.EndDate)
	return id, nil
}

// status applies the precedence of the package doc.
func (p *parser) status(explicit resync.LifecycleStatus, start, end time.Time) resync.LifecycleStatus {
	switch {
	case explicit == resync.StatusDeprovisioned:
		return resync.StatusDeprovisioned
	case !end.IsZero() && end.Before(p.today):
		return resync.StatusDeprovisioned
	case explicit == resync.StatusSuspended, explicit == resync.StatusNotStarted:
		return explicit
	case !start.IsZero() && start.After(p.today):
		return resync.StatusNotStarted
	}
	return resync.StatusActive
}

// statusOf maps an HRIS status word to a lifecycle status.
func statusOf(s string) (resync.LifecycleStatus, bool) {
	switch normName(s) {
	case "active", "employed", "current", "fulltime", "parttime", "regular", "contractor", "contract",
		"intern", "temporary", "temp", "seasonal", "true", "yes", "y", "1":
		return resync.StatusActive, true
	case "terminated", "inactive", "former", "deprovisioned", "offboarded", "separated",
		"false", "no", "n", "0":
		return resync.StatusDeprovisioned, true
	case "leave", "onleave", "leaveofabsence", "loa", "suspended":
		return resync.StatusSuspended, true
	case "prehire", "pending", "notstarted", "hired", "offeraccepted":
		return resync.StatusNotStarted, true
	}
	return "", false
}

// date parses a date with the configured layouts; "" and BambooHR's
// 0000-00-00 are no date. The result is the calendar date, at midnight UTC.
func (p *parser) date(s string) (time.Time, bool) {
	if s == "" || s == "0000-00-00" {
		return time.Time{}, true
	}
	for _, l := range p.layouts {
		if t, err := time.Parse(l, s); err == nil {
			y, m, d := t.Date() // the date as written, whatever its offset
			return time.Date(y, m, d, 0, 0, 0, 0, time.UTC), true
		}
	}
	return time.Time{}, false
}

func (p *parser) layoutHint() string {
	if len(p.m.layouts) > 0 {
		return fmt.Sprintf(" or %q", p.m.layouts[0])
	}
	return `; set "date_layout" for another form`
}

// dedupe rejects every row of an employee ID that appears more than once
// (rejected rows included), naming the others by unit ("line" or "entry")
// and number: which of them is right cannot be told, and the stored
// record is kept.
func (p *parser) dedupe(out *parsed, unit string) {
	const show = 5
	keyOf := func(it item) string {
		switch {
		case it.rec != nil:
			return it.rec.Key
		case it.bad != nil:
			return it.bad.Key // a rejected row with an ID is a copy too
		}
		return ""
	}
	count := make(map[string]int, len(out.items))
	dups := false
	for _, it := range out.items {
		if k := keyOf(it); k != "" {
			count[k]++
			dups = dups || count[k] > 1
		}
	}
	if !dups {
		return
	}
	prep := "on" // on line 3, in entry 3
	if unit != "line" {
		prep = "in"
	}
	first := map[string][]int{} // the first show+1 lines of each duplicated ID
	for _, it := range out.items {
		if k := keyOf(it); count[k] > 1 && len(first[k]) <= show {
			first[k] = append(first[k], it.line)
		}
	}
	for i, it := range out.items {
		if it.rec == nil || count[it.rec.Key] < 2 {
			continue
		}
		k := it.rec.Key
		var s []string
		for _, l := range first[k] {
			if l != it.line && len(s) < show {
				s = append(s, fmt.Sprint(l))
			}
		}
		also := strings.Join(s, ", ")
		if more := count[k] - 1 - len(s); more > 0 {
			also += fmt.Sprintf(" and %d more", more)
		}
		out.items[i] = item{line: it.line, bad: &resync.RecordError{Kind: resync.KindIdentity, Key: k,
			Reason: fmt.Sprintf("%s %s %d: employee ID %q is also %s %s %s; none of its rows is used",
				p.src, unit, it.line, k, prep, unit, also)}}
	}
}

// managers resolves each Manager, as read, to the manager's record key:
// by employee ID (the key, then the employee number), by email, by name.
// One that matches no one or several people is moved to Attributes under
// the manager column's name, and counted for the one report of the read.
func (p *parser) managers(out *parsed, c *columns) {
	if c.idx[fManager] < 0 {
		return
	}
	col := c.names[c.idx[fManager]]
	// Each index is built on first use: an export whose managers are all
	// keys never normalizes a name.
	var keys map[string]bool
	var byNumber, byEmail, byName map[string]match
	index := func(by func(*resync.Identity) string) map[string]match {
		m := make(map[string]match, len(out.items))
		for _, it := range out.items {
			if it.rec != nil {
				if v := by(it.rec); v != "" {
					e := m[v]
					m[v] = match{key: it.rec.Key, n: e.n + 1}
				}
			}
		}
		return m
	}
	out.ambiguous, out.unknown = map[string]int{}, map[string]int{}
	for _, it := range out.items {
		id := it.rec
		if id == nil || id.Manager == "" {
			continue
		}
		raw := id.Manager
		if keys == nil {
			keys = make(map[string]bool, len(out.items))
			for _, it := range out.items {
				if it.rec != nil {
					keys[it.rec.Key] = true
				}
			}
			byNumber = index(func(id *resync.Identity) string {
				if id.EmployeeID == id.Key {
					return ""
				}
				return id.EmployeeID
			})
		}
		var found match
		switch {
		case keys[raw]:
			found = match{key: raw, n: 1}
		case byNumber[raw].n > 0:
			found = byNumber[raw]
		case strings.Contains(raw, "@"):
			if byEmail == nil {
				byEmail = index(func(id *resync.Identity) string { return id.Email })
			}
			found = byEmail[strings.ToLower(raw)]
		default:
			if byName == nil {
				byName = index(func(id *resync.Identity) string { return personName(id.Name) })
			}
			found = byName[personName(raw)]
		}
		switch {
		case found.n == 1:
			id.Manager = found.key
			continue
		case found.n == 0 && strings.Contains(raw, "@"):
			id.Manager = strings.ToLower(raw) // an email is a manager too
			continue
		case found.n == 0:
			out.unknown[raw]++
		default:
			out.ambiguous[raw]++
		}
		id.Manager = ""
		if id.Attributes == nil {
			id.Attributes = map[string]string{}
		}
		id.Attributes[col] = raw
	}
}

// match is who a manager value matches: the key of the first person and
// how many people it matches.
type match struct {
	key string
	n   int
}

// personName normalizes a person's name for matching: "Doe, Jane" and
// "jane  doe" are one name.
func personName(s string) string {
	if last, first, ok := strings.Cut(s, ","); ok {
		s = first + " " + last
	}
	return strings.Join(strings.Fields(strings.ToLower(s)), " ")
}

// blank reports whether every field of row is empty.
func blank(row []string) bool {
	for _, v := range row {
		if strings.TrimSpace(v) != "" {
			return false
		}
	}
	return true
}

// lenientKey reads field i of one raw CSV record with lazy quotes, for the
// key of a row the strict reader rejected; "" if it cannot.
func lenientKey(raw []byte, i int) string {
	r := csv.NewReader(bytes.NewReader(raw))
	r.LazyQuotes = true
	r.FieldsPerRecord = -1
	row, err := r.Read()
	if err != nil || i < 0 || i >= len(row) {
		return ""
	}
	k := strings.TrimSpace(row[i])
	if strings.ContainsAny(k, "\"\n") {
		return "" // the key's own field is what is broken: do not guess
	}
	return k
}
