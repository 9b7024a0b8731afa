package ldap

import (
	"encoding/hex"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/openresync/resync"
)

// Active Directory's userAccountControl bits and accountExpires values.
const (
	uacAccountDisable = 0x2
	// accountExpiresNever are the two values AD writes for "never".
	accountExpiresNever1 = 0
	accountExpiresNever2 = math.MaxInt64
)

// filetimeToUnix is the number of seconds from 1601-01-01, the epoch of
// Windows FILETIME values (100-nanosecond intervals, which accountExpires
// and lastLogonTimestamp use), to the Unix epoch.
const filetimeToUnix = 11_644_473_600

// attrs indexes an entry's attributes by lower-case name, so that a
// mapping's spelling need not match the server's.
type attrs map[string]*goldap.EntryAttribute

func indexEntry(e *goldap.Entry) attrs {
	a := make(attrs, len(e.Attributes))
	for _, at := range e.Attributes {
		a[strings.ToLower(at.Name)] = at
	}
	return a
}

func (a attrs) get(name string) *goldap.EntryAttribute {
	if name == "" {
		return nil
	}
	if at, ok := a[name]; ok {
		return at
	}
	return a[strings.ToLower(name)]
}

// first returns the first value of name, "" if it has none.
func (a attrs) first(name string) string {
	if at := a.get(name); at != nil && len(at.Values) > 0 {
		return at.Values[0]
	}
	return ""
}

func (a attrs) firstRaw(name string) []byte {
	if at := a.get(name); at != nil && len(at.ByteValues) > 0 {
		return at.ByteValues[0]
	}
	return nil
}

// formatGUID renders a 16-byte objectGUID as Active Directory displays it:
// the first three fields are little-endian.
func formatGUID(b []byte) (string, error) {
	if len(b) != 16 {
		return "", fmt.Errorf("objectGUID is %d bytes, want 16", len(b))
	}
	var g [16]byte
	g[0], g[1], g[2], g[3] = b[3], b[2], b[1], b[0]
	g[4], g[5] = b[5], b[4]
	g[6], g[7] = b[7], b[6]
	copy(g[8:], b[8:])
	h := hex.EncodeToString(g[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32], nil
}

// parseFiletime parses a FILETIME in decimal. never reports the values AD
// uses for "never" (0 and the largest int64).
func parseFiletime(v string) (t time.Time, never bool, err error) {
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || n < 0 {
		return time.Time{}, false, fmt.Errorf("%q is not a Windows file time", v)
	}
	if n == accountExpiresNever1 || n == accountExpiresNever2 {
		return time.Time{}, true, nil
	}
	// Through Unix seconds: 1601 to now is beyond time.Duration's range.
	const perSecond = 10_000_000
	return time.Unix(n/perSecond-filetimeToUnix, (n%perSecond)*100).UTC(), false, nil
}

// entryKey returns the entry's key under the key attribute.
func entryKey(a attrs, name string, guid bool) (string, error) {
	if guid {
		raw := a.firstRaw(name)
		if raw == nil {
			return "", fmt.Errorf("no %s", name)
		}
		return formatGUID(raw)
	}
	v := a.first(name)
	if v == "" {
		return "", fmt.Errorf("no %s", name)
	}
	if !utf8.ValidString(v) {
		return "", fmt.Errorf("%s is not valid UTF-8", name)
	}
	return v, nil
}

// toIdentity maps a user entry. On error the key is returned when known,
// for the rejection's RecordError.
func (c *config) toIdentity(e *goldap.Entry, now time.Time) (*resync.Identity, string, error) {
	a := indexEntry(e)
	m := &c.m
	key, err := entryKey(a, m.key, c.keyIsGUID)
	if err != nil {
		return nil, "", err
	}
	id := &resync.Identity{
		Key:        key,
		Email:      a.first(m.email),
		Name:       firstOf(a.first(m.name), a.first(m.fallbackName)),
		EmployeeID: a.first(m.employeeID),
		Department: a.first(m.department),
		Title:      a.first(m.title),
		Status:     resync.StatusActive,
		Attributes: map[string]string{"dn": e.DN},
	}
	if v := a.first(m.manager); v != "" {
		id.Attributes["manager"] = v
	}
	for _, name := range m.extra {
		if at := a.get(name); at != nil && len(at.Values) > 0 {
			id.Attributes[name] = strings.Join(at.Values, "; ")
		}
	}
	if m.lastLogin != "" {
		if v := a.first(m.lastLogin); v != "" {
			t, never, err := parseFiletime(v)
			if err != nil {
				return nil, key, fmt.Errorf("%s: %v", m.lastLogin, err)
			}
			if !never {
				id.LastLogin = t
			}
		}
	}
	switch m.status {
	case statusAD:
		if v := a.first("userAccountControl"); v != "" {
			uac, err := strconv.ParseUint(strings.TrimSpace(v), 10, 32)
			if err != nil {
				// AD writes it as a signed 32-bit number on some servers.
				n, err2 := strconv.ParseInt(strings.TrimSpace(v), 10, 32)
				if err2 != nil {
					return nil, key, fmt.Errorf("userAccountControl %q is not a number", v)
				}
				uac = uint64(uint32(n))
			}
			id.Attributes["userAccountControl"] = strconv.FormatUint(uac, 10)
			if uac&uacAccountDisable != 0 {
				id.Status = resync.StatusSuspended
			}
		}
		if v := a.first("accountExpires"); v != "" {
			t, never, err := parseFiletime(v)
			if err != nil {
				return nil, key, fmt.Errorf("accountExpires: %v", err)
			}
			if !never {
				id.EndDate = t
				id.Attributes["accountExpires"] = t.UTC().Format(time.RFC3339)
				if !t.After(now) {
					id.Status = resync.StatusDeprovisioned
				}
			}
		}
	case statusPresence:
		if v := a.first(m.statusAttr); v != "" {
			id.Attributes[m.statusAttr] = v
			id.Status = resync.StatusSuspended
		}
	case statusValues:
		if v := a.first(m.statusAttr); v != "" {
			id.Attributes[m.statusAttr] = v
			if st, ok := m.statusValues[strings.ToLower(strings.TrimSpace(v))]; ok {
				id.Status = st
			}
		}
	}
	return id, key, nil
}

// toGroup maps a group entry; members are resolved by the caller.
func (c *config) toGroup(e *goldap.Entry) (*resync.Group, []string, error) {
	a := indexEntry(e)
	key, err := entryKey(a, c.m.groupKey, c.groupIsGUID)
	if err != nil {
		return nil, nil, err
	}
	g := &resync.Group{Key: key, Name: a.first(c.m.groupName)}
	var members []string
	if at := a.get(c.m.member); at != nil {
		members = at.Values
	}
	return g, members, nil
}

// normDN returns a comparable form of a DN: attribute types and values in
// lower case, no spaces between its parts. A value that does not parse as
// a DN is lower-cased as it is.
func normDN(dn string) string {
	if !strings.ContainsAny(dn, "\\\"+#;<>") {
		// No escapes, quotes or multi-valued RDNs: trim and lower-case
		// each part, without the parser's allocations.
		if n, ok := normPlainDN(dn); ok {
			return n
		}
	}
	d, err := goldap.ParseDN(dn)
	if err != nil {
		return strings.ToLower(strings.TrimSpace(dn))
	}
	var b strings.Builder
	b.Grow(len(dn))
	for i, rdn := range d.RDNs {
		if i > 0 {
			b.WriteByte(',')
		}
		for j, av := range rdn.Attributes {
			if j > 0 {
				b.WriteByte('+')
			}
			b.WriteString(strings.ToLower(av.Type))
			b.WriteByte('=')
			b.WriteString(strings.ToLower(av.Value))
		}
	}
	return b.String()
}

// normPlainDN is normDN for a DN of type=value parts without special
// characters; ok is false for anything else.
func normPlainDN(dn string) (string, bool) {
	var b strings.Builder
	b.Grow(len(dn))
	for i, rdn := range strings.Split(dn, ",") {
		typ, val, ok := strings.Cut(rdn, "=")
		typ, val = strings.Trim(typ, " "), strings.Trim(val, " ")
		if !ok || !validAttrName(typ) || val == "" || strings.Contains(val, "=") {
			return "", false
		}
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strings.ToLower(typ))
		b.WriteByte('=')
		b.WriteString(strings.ToLower(val))
	}
	return b.String(), true
}

// memberDN strips the optional unique identifier of a uniqueMember value
// ("cn=a,dc=x#'0101'B").
func memberDN(v string, uniqueMember bool) string {
	if uniqueMember {
		if i := strings.LastIndex(v, "#'"); i > 0 && strings.HasSuffix(v, "'B") {
			return v[:i]
		}
	}
	return v
}
