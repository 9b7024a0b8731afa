package hris

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// The top-level keys of the wrapped JSON shapes: Workday's
// Report-as-a-Service ({"Report_Entry":[...]}) and BambooHR's directory and
// reports ({"fields":[...],"employees":[...]}).
const (
	keyWorkday  = "Report_Entry"
	keyBambooHR = "employees"
)

// jsonEntry is one entry of a JSON export as read: its values by field
// (column) number, in the order written.
type jsonEntry struct {
	n    int // 1-based
	vals []jsonVal
}

type jsonVal struct {
	col    int
	s      string
	nested bool // an object or array, kept as its JSON text
}

// jsonReader reads the entries of one JSON export, numbering the field
// names in the order they first appear.
type jsonReader struct {
	p       *parser
	dec     *json.Decoder
	names   []string       // field names, by column
	byName  map[string]int // column of each name
	seen    []int          // the entry in which each column was last seen
	entries []jsonEntry
	raw     json.RawMessage // reused for each value
}

// parseJSON reads an HRIS JSON export: an array of objects, one employee
// each, at the top level, or under the "Report_Entry" key (Workday) or the
// "employees" key (BambooHR) of an object. The field names of all entries
// together are the header the mapping is resolved against, and each entry
// is then a row. An entry that is malformed (not an object, a field named
// twice, an object or array in a mapped field, broken JSON) is an error
// naming the entry and the field: JSON gives no safe place to resume, so
// the read stores nothing. The decoder streams the document token by
// token, keeping only the entries' values.
func (p *parser) parseJSON(data []byte) (*parsed, error) {
	data = bytes.TrimPrefix(data, []byte("\ufeff"))
	jr := &jsonReader{p: p, dec: json.NewDecoder(bytes.NewReader(data)), byName: map[string]int{}}
	if err := jr.document(); err != nil {
		return nil, err
	}
	if len(jr.entries) == 0 {
		return &parsed{}, nil
	}
	cols, err := p.m.resolve(jr.names, "fields")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p.src, err)
	}
	mapped := make([]bool, len(jr.names))
	for _, i := range cols.idx {
		if i >= 0 {
			mapped[i] = true
		}
	}

	out := &parsed{items: make([]item, 0, len(jr.entries))}
	row := make([]string, len(jr.names))
	for k := range jr.entries {
		e := &jr.entries[k]
		clear(row)
		for _, v := range e.vals {
			if v.nested && mapped[v.col] {
				return nil, fmt.Errorf("%s entry %d (field %q): %s, want a string, number or boolean (the field is mapped to %s)",
					p.src, e.n, jr.names[v.col], kindOf(v.s), mappedTo(cols, v.col))
			}
			row[v.col] = v.s
		}
		jr.entries[k].vals = nil // done with: the record holds the strings it needs
		if blank(row) {
			continue // {} or every field null or empty
		}
		at := func(col int) string {
			if col < 0 || col >= len(jr.names) {
				return fmt.Sprintf("%s entry %d", p.src, e.n)
			}
			return fmt.Sprintf("%s entry %d (field %q)", p.src, e.n, jr.names[col])
		}
		id, bad := p.row(row, at, cols)
		out.items = append(out.items, item{rec: id, bad: bad, line: e.n})
	}
	p.dedupe(out, "entry")
	p.managers(out, cols)
	return out, nil
}

// document reads the whole document: the entries, wherever they are, and
// nothing but white space after it.
func (jr *jsonReader) document() error {
	tok, err := jr.dec.Token()
	if errors.Is(err, io.EOF) {
		return fmt.Errorf("%s: empty, want a JSON array of employees", jr.p.src)
	}
	if err != nil {
		return jr.syntax(err, 0, "")
	}
	const want = `want an array of employees, or an object with a "Report_Entry" (Workday) or "employees" (BambooHR) array`
	switch tok {
	case json.Delim('['):
		if err := jr.array(); err != nil {
			return err
		}
	case json.Delim('{'):
		found := ""
		for jr.dec.More() {
			tok, err := jr.dec.Token()
			if err != nil {
				return jr.syntax(err, 0, "")
			}
			key, _ := tok.(string)
			if key != keyWorkday && key != keyBambooHR {
				if err := jr.dec.Decode(&jr.raw); err != nil { // BambooHR's "fields", "title"
					return jr.syntax(err, 0, key)
				}
				continue
			}
			if found != "" {
				return fmt.Errorf("%s: both %q and %q at the top level; %s, not both", jr.p.src, found, key, want)
			}
			found = key
			tok, err = jr.dec.Token()
			if err != nil {
				return jr.syntax(err, 0, key)
			}
			if tok != json.Delim('[') {
				return fmt.Errorf("%s: %q is %s, want an array of employees", jr.p.src, key, tokenKind(tok))
			}
			if err := jr.array(); err != nil {
				return err
			}
		}
		if _, err := jr.dec.Token(); err != nil { // the closing brace
			return jr.syntax(err, 0, "")
		}
		if found == "" {
			return fmt.Errorf("%s: a JSON object without a %q or %q key; %s", jr.p.src, keyWorkday, keyBambooHR, want)
		}
	default:
		return fmt.Errorf("%s: the document is %s; %s", jr.p.src, tokenKind(tok), want)
	}
	if _, err := jr.dec.Token(); !errors.Is(err, io.EOF) {
		if err == nil {
			err = errors.New("more after the end of the document")
		}
		return jr.syntax(err, 0, "")
	}
	return nil
}

// array reads the entries of the array whose opening bracket was read,
// and its closing bracket.
func (jr *jsonReader) array() error {
	for n := 1; jr.dec.More(); n++ {
		tok, err := jr.dec.Token()
		if err != nil {
			return jr.syntax(err, n, "")
		}
		if tok != json.Delim('{') {
			if d, ok := tok.(json.Delim); ok && d == '[' {
				return fmt.Errorf("%s entry %d: an array, want an object (one employee)", jr.p.src, n)
			}
			return fmt.Errorf("%s entry %d: %s, want an object (one employee)", jr.p.src, n, tokenKind(tok))
		}
		if err := jr.entry(n); err != nil {
			return err
		}
	}
	if _, err := jr.dec.Token(); err != nil { // the closing bracket
		return jr.syntax(err, 0, "")
	}
	return nil
}

// entry reads the fields of entry n, whose opening brace was read, and its
// closing brace.
func (jr *jsonReader) entry(n int) error {
	e := jsonEntry{n: n}
	for jr.dec.More() {
		tok, err := jr.dec.Token()
		if err != nil {
			return jr.syntax(err, n, "")
		}
		name, _ := tok.(string)
		col, ok := jr.byName[name]
		if !ok {
			col = len(jr.names)
			jr.names = append(jr.names, name)
			jr.byName[name] = col
			jr.seen = append(jr.seen, 0)
		}
		if jr.seen[col] == n {
			return fmt.Errorf("%s entry %d (field %q): the field appears twice in the entry", jr.p.src, n, name)
		}
		jr.seen[col] = n
		if err := jr.dec.Decode(&jr.raw); err != nil {
			return jr.syntax(err, n, name)
		}
		v, ok := jr.value(jr.raw)
		if ok {
			v.col = col
			e.vals = append(e.vals, v)
		}
	}
	if _, err := jr.dec.Token(); err != nil { // the closing brace
		return jr.syntax(err, n, "")
	}
	jr.entries = append(jr.entries, e)
	return nil
}

// value turns one raw JSON value into the text of a field: a string as it
// is, a number as written, a boolean as "true" or "false", an object or
// array as its compact JSON text. null is no value (ok false). A string
// that is not valid UTF-8 is kept as written, for the row's check to
// reject, rather than silently repaired.
func (jr *jsonReader) value(raw json.RawMessage) (jsonVal, bool) {
	switch raw[0] {
	case 'n':
		return jsonVal{}, false
	case '"':
		inner := raw[1 : len(raw)-1]
		if bytes.IndexByte(inner, '\\') < 0 || !utf8.Valid(inner) {
			return jsonVal{s: string(inner)}, true
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return jsonVal{s: string(inner)}, true // cannot happen: the decoder checked it
		}
		return jsonVal{s: s}, true
	case '{', '[':
		var b bytes.Buffer
		if err := json.Compact(&b, raw); err != nil {
			return jsonVal{s: string(raw), nested: true}, true
		}
		return jsonVal{s: b.String(), nested: true}, true
	}
	return jsonVal{s: string(raw)}, true // a number, true, false
}

// syntax describes a decoding error of entry n (0: outside the entries)
// and field (if known), with its byte offset.
func (jr *jsonReader) syntax(err error, n int, field string) error {
	where := jr.p.src
	if n > 0 {
		where += fmt.Sprintf(" entry %d", n)
	}
	if field != "" {
		where += fmt.Sprintf(" (field %q)", field)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return fmt.Errorf("%s: the JSON document ends early (cut off?)", where)
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("%s: invalid JSON at byte %d: %v", where, se.Offset, se)
	}
	return fmt.Errorf("%s: invalid JSON at byte %d: %v", where, jr.dec.InputOffset(), err)
}

// tokenKind names a JSON token for messages.
func tokenKind(tok json.Token) string {
	switch v := tok.(type) {
	case json.Delim:
		if v == '[' {
			return "an array"
		}
		return "an object"
	case string:
		return "a string"
	case float64, json.Number:
		return "a number"
	case bool:
		return "a boolean"
	}
	return "null"
}

func kindOf(text string) string {
	if strings.HasPrefix(text, "[") {
		return "an array"
	}
	return "an object"
}

func mappedTo(c *columns, col int) field {
	for f, i := range c.idx {
		if i == col {
			return field(f)
		}
	}
	return fEmployeeID
}
