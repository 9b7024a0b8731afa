package file

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/openresync/resync"
)

// object is a JSON object whose field names are matched liberally: by
// normName, so "owner_email", "ownerEmail" and "OwnerEmail" are one field.
type object struct {
	fields map[string]objField
	order  []string // normalized names, in file order
	used   map[string]bool
}

type objField struct {
	name string // as written in the file
	raw  json.RawMessage
}

func parseObject(raw json.RawMessage) (*object, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return nil, fmt.Errorf("is %s, want an object", jsonKind(raw))
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	o := &object{fields: make(map[string]objField, len(m)), used: map[string]bool{}}
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	slices.Sort(names) // deterministic choice when two names normalize alike
	for _, k := range names {
		n := normName(k)
		if _, dup := o.fields[n]; dup {
			continue
		}
		o.fields[n] = objField{name: k, raw: m[k]}
		o.order = append(o.order, n)
	}
	return o, nil
}

func jsonKind(raw json.RawMessage) string {
	if len(raw) == 0 {
		return "empty"
	}
	switch raw[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

// get returns a field's raw value (nil if absent or null) and marks it used.
func (o *object) get(name string) (json.RawMessage, string) {
	n := normName(name)
	f, ok := o.fields[n]
	if !ok {
		return nil, name
	}
	o.used[n] = true
	if string(f.raw) == "null" {
		return nil, f.name
	}
	return f.raw, f.name
}

// str returns a string field; numbers are accepted as their text.
func (o *object) str(name string) (string, error) {
	raw, field := o.get(name)
	if raw == nil {
		return "", nil
	}
	switch raw[0] {
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", fmt.Errorf("%s: %w", field, err)
		}
		return strings.TrimSpace(s), nil
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return string(raw), nil
	}
	return "", fmt.Errorf("%s is %s, want a string", field, jsonKind(raw))
}

// strs returns a list of strings; a single string is a list of one.
func (o *object) strs(name string) ([]string, error) {
	raw, field := o.get(name)
	if raw == nil {
		return nil, nil
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, fmt.Errorf("%s: %w", field, err)
		}
		return []string{s}, nil
	}
	var out []string
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, fmt.Errorf("%s is %s, want a list of strings", field, jsonKind(raw))
	}
	return out, nil
}

// obj returns a nested object, or nil if absent.
func (o *object) obj(name string) (*object, error) {
	raw, field := o.get(name)
	if raw == nil {
		return nil, nil
	}
	sub, err := parseObject(raw)
	if err != nil {
		return nil, fmt.Errorf("%s %w", field, err)
	}
	return sub, nil
}

// rest returns the fields not read by get as attributes: strings as they
// are, other values as compact JSON; nulls and empty strings are left out.
func (o *object) rest() map[string]string {
	var out map[string]string
	for _, n := range o.order {
		if o.used[n] {
			continue
		}
		f := o.fields[n]
		var v string
		switch {
		case string(f.raw) == "null":
			continue
		case f.raw[0] == '"':
			if json.Unmarshal(f.raw, &v) != nil {
				continue
			}
		default:
			var b bytes.Buffer
			if json.Compact(&b, f.raw) != nil {
				continue
			}
			v = b.String()
		}
		if v == "" {
			continue
		}
		if out == nil {
			out = map[string]string{}
		}
		out[f.name] = v
	}
	return out
}

// parseTop decodes a JSON export's top level and returns the named arrays'
// elements; a missing array is an error if required.
func parseTop(path, format string, data []byte, arrays map[string]bool) (map[string][]json.RawMessage, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return nil, fmt.Errorf("%w: %s: not a JSON object: %s", ErrMalformed, path, jsonErr(data, err))
	}
	if top == nil {
		return nil, fmt.Errorf("%w: %s: the file is null, want a JSON object", ErrMalformed, path)
	}
	out := map[string][]json.RawMessage{}
	for name, required := range arrays {
		raw, ok := top[name]
		if !ok || string(bytes.TrimSpace(raw)) == "null" {
			if required {
				return nil, fmt.Errorf("%w: %s: no %q array at the top level (is %q the right format?)", ErrMalformed, path, name, format)
			}
			continue
		}
		var elems []json.RawMessage
		if err := json.Unmarshal(raw, &elems); err != nil {
			return nil, fmt.Errorf("%w: %s: %q is %s, want an array", ErrMalformed, path, name, jsonKind(bytes.TrimSpace(raw)))
		}
		out[name] = elems
	}
	return out, nil
}

// jsonErr describes a decoding error with its line and column.
func jsonErr(data []byte, err error) string {
	var off int64 = -1
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		off = se.Offset
	case errors.As(err, &te):
		off = te.Offset
	}
	if off < 0 || off > int64(len(data)) {
		return err.Error()
	}
	line := 1 + bytes.Count(data[:off], []byte("\n"))
	col := int(off) - bytes.LastIndexByte(data[:off], '\n')
	return fmt.Sprintf("line %d column %d: %v", line, col, err)
}

// idpStatus maps an IdP (Okta-like) user status to a resync.LifecycleStatus.
func idpStatus(s string) (resync.LifecycleStatus, bool) {
	n := normName(s)
	if n == "" && strings.TrimSpace(s) != "" {
		return "", false
	}
	switch n {
	case "", "active", "provisioned", "recovery", "passwordexpired", "lockedout":
		return resync.StatusActive, true
	case "staged":
		return resync.StatusNotStarted, true
	case "suspended":
		return resync.StatusSuspended, true
	case "deprovisioned", "deactivated":
		return resync.StatusDeprovisioned, true
	}
	return "", false
}

// accountStatus maps an account status to a resync.LifecycleStatus.
func accountStatus(s string) (resync.LifecycleStatus, bool) {
	n := normName(s)
	if n == "" && strings.TrimSpace(s) != "" {
		return "", false
	}
	switch n {
	case "", "active", "enabled":
		return resync.StatusActive, true
	case "suspended", "disabled", "inactive", "locked":
		return resync.StatusSuspended, true
	case "deprovisioned", "deleted", "removed", "closed":
		return resync.StatusDeprovisioned, true
	}
	return "", false
}

// problemList collects the problems of one element.
type problemList []string

func (p *problemList) add(err error) {
	if err != nil {
		*p = append(*p, err.Error())
	}
}

func (p problemList) String() string { return strings.Join(p, ", ") }

// parseIdP reads an IdP export: {"users":[...], "groups":[...]}. Group
// membership is the union of each user's "groups" and each group's
// "members", so an export may give either or both.
func parseIdP(path string, data []byte) ([]resync.Record, []*resync.RecordError, error) {
	top, err := parseTop(path, FormatIdPJSON, data, map[string]bool{"users": true, "groups": false})
	if err != nil {
		return nil, nil, err
	}
	var problems []*resync.RecordError
	users := make([]*resync.Identity, 0, len(top["users"]))
	groups := make([]*resync.Group, 0, len(top["groups"]))
	for i, raw := range top["users"] {
		u, p := idpUser(raw)
		if len(p) > 0 {
			problems = append(problems, &resync.RecordError{Kind: resync.KindIdentity, Key: u.Key,
				Reason: fmt.Sprintf("%s users[%d]%s: %s", path, i, keyNote(u.Key), p)})
			u.Key = "" // served as Page.Rejected: see connector.load
		}
		users = append(users, u)
	}
	for i, raw := range top["groups"] {
		g, p := idpGroup(raw)
		if len(p) > 0 {
			problems = append(problems, &resync.RecordError{Kind: resync.KindGroup, Key: g.Key,
				Reason: fmt.Sprintf("%s groups[%d]%s: %s", path, i, keyNote(g.Key), p)})
			g.Key = ""
		}
		groups = append(groups, g)
	}

	// Union of memberships, both ways, keeping the file's order.
	byGroup := map[string]*resync.Group{}
	for _, g := range groups {
		if g.Key != "" {
			byGroup[g.Key] = g
		}
	}
	byUser := map[string]*resync.Identity{}
	for _, u := range users {
		if u.Key != "" {
			byUser[u.Key] = u
		}
	}
	for _, u := range users {
		if u.Key == "" {
			continue
		}
		for _, gk := range u.Groups {
			if g := byGroup[gk]; g != nil && !slices.Contains(g.Members, u.Key) {
				g.Members = append(g.Members, u.Key)
			}
		}
	}
	for _, g := range groups {
		if g.Key == "" {
			continue
		}
		for _, uk := range g.Members {
			if u := byUser[uk]; u != nil && !slices.Contains(u.Groups, g.Key) {
				u.Groups = append(u.Groups, g.Key)
			}
		}
	}

	recs := make([]resync.Record, 0, len(users)+len(groups))
	for _, u := range users {
		recs = append(recs, u)
	}
	for _, g := range groups {
		recs = append(recs, g)
	}
	return recs, problems, nil
}

func keyNote(key string) string {
	if key == "" {
		return ""
	}
	return fmt.Sprintf(" (id %q)", key)
}

func idpUser(raw json.RawMessage) (*resync.Identity, problemList) {
	u := &resync.Identity{Status: resync.StatusActive}
	var p problemList
	o, err := parseObject(raw)
	if err != nil {
		p.add(err)
		return u, p
	}
	var e error
	u.Key, e = o.str("id")
	p.add(e)
	status, e := o.str("status")
	p.add(e)
	if st, ok := idpStatus(status); ok {
		u.Status = st
	} else {
		p.add(fmt.Errorf("status %q is not ACTIVE, SUSPENDED or DEPROVISIONED", status))
	}
	u.Groups, e = o.strs("groups")
	p.add(e)
	prof, e := o.obj("profile")
	p.add(e)
	if prof != nil {
		var login, first, last, display string
		for _, f := range []struct {
			name string
			dst  *string
		}{
			{"login", &login}, {"email", &u.Email}, {"firstName", &first}, {"lastName", &last},
			{"displayName", &display}, {"department", &u.Department}, {"title", &u.Title}, {"managerId", &u.Manager},
		} {
			*f.dst, e = prof.str(f.name)
			p.add(e)
		}
		if u.Manager == "" {
			if m, _ := prof.str("manager"); m != "" {
				u.Manager = m
			}
		}
		if u.Email == "" && strings.Contains(login, "@") {
			u.Email = login
		}
		u.Name = strings.TrimSpace(first + " " + last)
		if u.Name == "" {
			u.Name = display
		} else if display != "" && display != u.Name {
			prof.used[normName("displayName")] = false
		}
		u.Attributes = prof.rest()
		if login != "" && login != u.Email {
			if u.Attributes == nil {
				u.Attributes = map[string]string{}
			}
			u.Attributes["login"] = login
		}
	}
	if u.Key == "" {
		p = append(p, "empty id")
	}
	return u, p
}

func idpGroup(raw json.RawMessage) (*resync.Group, problemList) {
	g := &resync.Group{}
	var p problemList
	o, err := parseObject(raw)
	if err != nil {
		p.add(err)
		return g, p
	}
	var e error
	g.Key, e = o.str("id")
	p.add(e)
	g.Members, e = o.strs("members")
	p.add(e)
	prof, e := o.obj("profile")
	p.add(e)
	if prof != nil {
		g.Name, e = prof.str("name")
		p.add(e)
	}
	if g.Name == "" {
		g.Name, e = o.str("name")
		p.add(e)
	}
	if g.Key == "" {
		p = append(p, "empty id")
	}
	return g, p
}

// parseAccounts reads an accounts export: {"accounts":[...]}.
func parseAccounts(path string, data []byte) ([]resync.Record, []*resync.RecordError, error) {
	top, err := parseTop(path, FormatAccountsJSON, data, map[string]bool{"accounts": true})
	if err != nil {
		return nil, nil, err
	}
	var problems []*resync.RecordError
	recs := make([]resync.Record, 0, len(top["accounts"]))
	for i, raw := range top["accounts"] {
		a, p := account(raw)
		if len(p) > 0 {
			problems = append(problems, &resync.RecordError{Kind: resync.KindAccount, Key: a.Key,
				Reason: fmt.Sprintf("%s accounts[%d]%s: %s", path, i, keyNote(a.Key), p)})
			a.Key = "" // served as Page.Rejected: see connector.load
		}
		recs = append(recs, a)
	}
	return recs, problems, nil
}

func account(raw json.RawMessage) (*resync.Account, problemList) {
	a := &resync.Account{Status: resync.StatusActive}
	var p problemList
	o, err := parseObject(raw)
	if err != nil {
		p.add(err)
		return a, p
	}
	var e error
	for _, f := range []struct {
		name string
		dst  *string
	}{{"id", &a.Key}, {"username", &a.Username}, {"owner_email", &a.OwnerEmail}, {"display_name", &a.DisplayName}} {
		*f.dst, e = o.str(f.name)
		p.add(e)
	}
	status, e := o.str("status")
	p.add(e)
	if st, ok := accountStatus(status); ok {
		a.Status = st
	} else {
		p.add(fmt.Errorf("status %q is not active, suspended or deprovisioned", status))
	}
	a.Roles, e = o.strs("roles")
	p.add(e)
	if raw, field := o.get("mfa"); raw != nil {
		switch normName(string(raw)) {
		case "true", "enabled":
			a.MFA = resync.MFAEnabled
		case "false", "disabled":
			a.MFA = resync.MFADisabled
		default:
			p.add(fmt.Errorf("%s is %s, want true, false or null", field, string(raw)))
		}
	}
	if ll, e := o.str("last_login"); e != nil {
		p.add(e)
	} else if ll != "" {
		t, err := time.Parse(time.RFC3339, ll)
		if err != nil {
			p.add(fmt.Errorf("last_login %q is not an RFC 3339 time", ll))
		}
		a.LastLogin = t.UTC()
	}
	a.Attributes = o.rest()
	if a.Key == "" {
		p = append(p, "empty id")
	}
	return a, p
}
