package ldap

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"unicode/utf8"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/openresync/resync"
)

// Presets of the "preset" setting.
const (
	// PresetOpenLDAP maps inetOrgPerson users and groupOfNames or
	// groupOfUniqueNames groups, keyed by entryUUID.
	PresetOpenLDAP = "openldap"
	// PresetActiveDirectory maps Active Directory users and groups, keyed
	// by objectGUID, with userAccountControl and accountExpires as status.
	PresetActiveDirectory = "ad"
)

// Page sizes of the "page_size" setting.
const (
	// DefaultPageSize is the page size when "page_size" is not set. Active
	// Directory's default MaxPageSize is 1000, so 500 fits both.
	DefaultPageSize = 500
	// MaxPageSize is the largest accepted "page_size".
	MaxPageSize = 100_000
)

// matchingRuleInChain is LDAP_MATCHING_RULE_IN_CHAIN, Active Directory's
// transitive membership matching rule.
const matchingRuleInChain = "1.2.840.113556.1.4.1941"

// statusRule says how an entry's status is read.
type statusRule int

const (
	// statusPresence: the status attribute present means suspended
	// (OpenLDAP's pwdAccountLockedTime).
	statusPresence statusRule = iota
	// statusAD: userAccountControl's ACCOUNTDISABLE bit, and accountExpires.
	statusAD
	// statusValues: the attribute's value through a table.
	statusValues
)

// mapping names the attributes read from each entry.
type mapping struct {
	key, email, name, fallbackName, employeeID, department, title, manager string
	lastLogin                                                              string // AD FILETIME; "" for none
	groupKey, groupName, member                                            string
	extra                                                                  []string // copied to Attributes under their names
	status                                                                 statusRule
	statusAttr                                                             string
	statusValues                                                           map[string]resync.LifecycleStatus
}

// config is the parsed Connection.Settings.
type config struct {
	connID       string
	url          *url.URL
	startTLS     bool
	tls          *tls.Config
	bindDN       string
	password     string
	userBase     string
	groupBase    string
	userFilter   string
	groupFilter  string
	readGroups   bool
	nested       bool
	pageSize     uint32
	preset       string
	m            mapping
	userAttrs    []string
	groupAttrs   []string
	keyIsGUID    bool
	groupIsGUID  bool
	memberSuffix bool // uniqueMember values may end in #'bits'B
}

func presetMapping(preset string) mapping {
	if preset == PresetActiveDirectory {
		return mapping{
			key: "objectGUID", email: "mail", name: "displayName", fallbackName: "cn",
			employeeID: "employeeID", department: "department", title: "title", manager: "manager",
			lastLogin: "lastLogonTimestamp",
			groupKey:  "objectGUID", groupName: "cn", member: "member",
			extra:  []string{"sAMAccountName", "userPrincipalName", "givenName", "sn"},
			status: statusAD,
		}
	}
	return mapping{
		key: "entryUUID", email: "mail", name: "displayName", fallbackName: "cn",
		employeeID: "employeeNumber", department: "departmentNumber", title: "title", manager: "manager",
		groupKey: "entryUUID", groupName: "cn", member: "member",
		extra:      []string{"uid", "givenName", "sn"},
		status:     statusPresence,
		statusAttr: "pwdAccountLockedTime",
	}
}

// parseSettings validates conn.Settings. Its errors never contain the bind
// password.
func parseSettings(conn resync.Connection) (*config, error) {
	s := conn.Settings
	bad := func(format string, args ...any) error {
		return resync.Permanent(fmt.Errorf("%w: ldap connector (connection %q): %s",
			resync.ErrInvalidRequest, conn.ID, fmt.Sprintf(format, args...)))
	}
	get := func(k string) string { return strings.TrimSpace(s[k]) }
	for k, v := range s {
		if !utf8.ValidString(k) || (k != "bind_password" && !utf8.ValidString(v)) {
			return nil, bad("setting %q is not valid UTF-8", strings.ToValidUTF8(k, "?"))
		}
		if !knownSetting(k) {
			return nil, bad("unknown setting %q", k)
		}
	}
	c := &config{connID: conn.ID, password: s["bind_password"], bindDN: get("bind_dn")}

	raw := get("url")
	if raw == "" {
		return nil, bad(`setting "url" is required (ldap://host:389 or ldaps://host:636)`)
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "ldap" && u.Scheme != "ldaps") || u.Host == "" || u.Hostname() == "" {
		return nil, bad(`setting "url" must be ldap://host[:port] or ldaps://host[:port]`)
	}
	if u.User != nil {
		return nil, bad(`setting "url" must not carry credentials: use "bind_dn" and "bind_password"`)
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return nil, bad(`setting "url" must not have a path or query (the base DNs are settings of their own)`)
	}
	if u.Port() == "" {
		if u.Scheme == "ldaps" {
			u.Host += ":636"
		} else {
			u.Host += ":389"
		}
	}
	c.url = u
	if c.startTLS, err = boolSetting(s, "start_tls"); err != nil {
		return nil, bad("%v", err)
	}
	if c.startTLS && u.Scheme == "ldaps" {
		return nil, bad(`setting "start_tls" is for ldap:// URLs; ldaps:// is TLS already`)
	}
	if u.Scheme == "ldaps" || c.startTLS {
		c.tls = &tls.Config{ServerName: u.Hostname(), MinVersion: tls.VersionTLS12}
		if f := get("tls_ca_file"); f != "" {
			pem, err := os.ReadFile(f)
			if err != nil {
				return nil, bad(`setting "tls_ca_file": %v`, err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, bad(`setting "tls_ca_file": no PEM certificate in %q`, f)
			}
			c.tls.RootCAs = pool
		}
	} else if get("tls_ca_file") != "" {
		return nil, bad(`setting "tls_ca_file" needs an ldaps:// URL or "start_tls"`)
	}
	if (c.bindDN == "") != (c.password == "") {
		return nil, bad(`settings "bind_dn" and "bind_password" go together (both empty binds anonymously)`)
	}
	if c.bindDN != "" {
		if _, err := goldap.ParseDN(c.bindDN); err != nil {
			return nil, bad(`setting "bind_dn" is not a DN: %v`, err)
		}
	}

	c.preset = strings.ToLower(get("preset"))
	switch c.preset {
	case "":
		c.preset = PresetOpenLDAP
	case PresetOpenLDAP, PresetActiveDirectory:
	default:
		return nil, bad(`setting "preset" is %q, want %q or %q`, get("preset"), PresetOpenLDAP, PresetActiveDirectory)
	}

	base := get("base_dn")
	c.userBase, c.groupBase = firstOf(get("user_base_dn"), base), firstOf(get("group_base_dn"), base)
	if c.userBase == "" {
		return nil, bad(`setting "user_base_dn" (or "base_dn") is required`)
	}
	if c.readGroups, err = boolSettingDefault(s, "groups", true); err != nil {
		return nil, bad("%v", err)
	}
	if c.readGroups && c.groupBase == "" {
		return nil, bad(`setting "group_base_dn" (or "base_dn") is required unless "groups" is false`)
	}
	for _, dn := range []struct{ name, v string }{{"user_base_dn", c.userBase}, {"group_base_dn", c.groupBase}} {
		if dn.v == "" {
			continue
		}
		if _, err := goldap.ParseDN(dn.v); err != nil {
			return nil, bad("setting %q is not a DN: %v", dn.name, err)
		}
	}

	if c.preset == PresetActiveDirectory {
		c.userFilter, c.groupFilter = "(&(objectCategory=person)(objectClass=user))", "(objectClass=group)"
	} else {
		c.userFilter, c.groupFilter = "(objectClass=inetOrgPerson)", "(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames))"
	}
	for _, f := range []struct {
		name string
		dst  *string
	}{{"user_filter", &c.userFilter}, {"group_filter", &c.groupFilter}} {
		if v := get(f.name); v != "" {
			if err := checkFilter(v); err != nil {
				return nil, bad("setting %q: %v", f.name, err)
			}
			*f.dst = v
		}
	}
	if c.nested, err = boolSetting(s, "nested_groups"); err != nil {
		return nil, bad("%v", err)
	}
	if c.nested && c.preset != PresetActiveDirectory {
		return nil, bad(`setting "nested_groups" needs the %q preset: it uses Active Directory's LDAP_MATCHING_RULE_IN_CHAIN`, PresetActiveDirectory)
	}

	c.pageSize = DefaultPageSize
	if v := get("page_size"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxPageSize {
			return nil, bad(`setting "page_size" is %q, want a whole number from 1 to %d`, v, MaxPageSize)
		}
		c.pageSize = uint32(n)
	}

	c.m = presetMapping(c.preset)
	for _, a := range []struct {
		name string
		dst  *string
	}{
		{"attr.key", &c.m.key}, {"attr.email", &c.m.email}, {"attr.name", &c.m.name},
		{"attr.employee_id", &c.m.employeeID}, {"attr.department", &c.m.department},
		{"attr.title", &c.m.title}, {"attr.manager", &c.m.manager},
		{"attr.group_key", &c.m.groupKey}, {"attr.group_name", &c.m.groupName}, {"attr.member", &c.m.member},
	} {
		v, ok := s[a.name]
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		if v == "" && (a.name == "attr.key" || a.name == "attr.group_key" || a.name == "attr.member") {
			return nil, bad("setting %q must name an attribute", a.name)
		}
		if v != "" && !validAttrName(v) {
			return nil, bad("setting %q is %q, not an attribute name (letters, digits and '-', or a numeric OID)", a.name, v)
		}
		*a.dst = v
	}
	if _, ok := s["attributes"]; ok {
		extra, err := parseAttrList(s["attributes"])
		if err != nil {
			return nil, bad(`setting "attributes": %v`, err)
		}
		c.m.extra = extra
	}
	if v := get("status_attribute"); v != "" {
		if !validAttrName(v) {
			return nil, bad(`setting "status_attribute" is %q, not an attribute name`, v)
		}
		table, err := parseStatusValues(s["status_values"])
		if err != nil {
			return nil, bad(`setting "status_values": %v`, err)
		}
		c.m.status, c.m.statusAttr, c.m.statusValues = statusValues, v, table
	} else if get("status_values") != "" {
		return nil, bad(`setting "status_values" needs "status_attribute"`)
	}
	c.keyIsGUID = strings.EqualFold(c.m.key, "objectGUID")
	c.groupIsGUID = strings.EqualFold(c.m.groupKey, "objectGUID")
	c.memberSuffix = strings.EqualFold(c.m.member, "uniqueMember")
	c.userAttrs = c.m.userAttributes()
	c.groupAttrs = []string{c.m.groupKey, c.m.groupName}
	if !c.nested {
		c.groupAttrs = append(c.groupAttrs, c.m.member)
	}
	c.groupAttrs = compactAttrs(c.groupAttrs)
	return c, nil
}

var settingNames = []string{
	"url", "start_tls", "tls_ca_file", "bind_dn", "bind_password", "preset",
	"base_dn", "user_base_dn", "group_base_dn", "user_filter", "group_filter", "groups",
	"nested_groups", "page_size", "attributes", "status_attribute", "status_values",
	"attr.key", "attr.email", "attr.name", "attr.employee_id", "attr.department",
	"attr.title", "attr.manager", "attr.group_key", "attr.group_name", "attr.member",
}

func knownSetting(k string) bool {
	for _, n := range settingNames {
		if n == k {
			return true
		}
	}
	return false
}

func (m mapping) userAttributes() []string {
	attrs := []string{m.key, m.email, m.name, m.fallbackName, m.employeeID, m.department, m.title, m.manager, m.lastLogin}
	switch m.status {
	case statusAD:
		attrs = append(attrs, "userAccountControl", "accountExpires")
	default:
		attrs = append(attrs, m.statusAttr)
	}
	return compactAttrs(append(attrs, m.extra...))
}

// compactAttrs drops empty names and case-insensitive duplicates, keeping
// the first spelling.
func compactAttrs(in []string) []string {
	out := in[:0:0]
	for _, a := range in {
		if a == "" {
			continue
		}
		dup := false
		for _, b := range out {
			if strings.EqualFold(a, b) {
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, a)
		}
	}
	return out
}

func firstOf(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func boolSetting(s map[string]string, k string) (bool, error) {
	return boolSettingDefault(s, k, false)
}

func boolSettingDefault(s map[string]string, k string, def bool) (bool, error) {
	v := strings.TrimSpace(s[k])
	if v == "" {
		return def, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("setting %q is %q, want true or false", k, v)
	}
	return b, nil
}

// validAttrName reports whether s is an attribute description LDAP
// accepts without options: a name (a letter, then letters, digits and
// '-') or a numeric OID.
func validAttrName(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	if s[0] >= '0' && s[0] <= '9' {
		prevDot := true
		for i := 0; i < len(s); i++ {
			switch ch := s[i]; {
			case ch == '.':
				if prevDot {
					return false
				}
				prevDot = true
			case ch >= '0' && ch <= '9':
				prevDot = false
			default:
				return false
			}
		}
		return !prevDot
	}
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || i > 0 && (ch >= '0' && ch <= '9' || ch == '-')) {
			return false
		}
	}
	return true
}

// parseAttrList parses a comma-separated list of attribute names; spaces
// around names are ignored, empty items are not allowed.
func parseAttrList(v string) ([]string, error) {
	if strings.TrimSpace(v) == "" {
		return nil, nil
	}
	var out []string
	for i, part := range strings.Split(v, ",") {
		name := strings.TrimSpace(part)
		if !validAttrName(name) {
			return nil, fmt.Errorf("item %d is %q, not an attribute name (letters, digits and '-', or a numeric OID)", i+1, name)
		}
		out = append(out, name)
	}
	if len(out) > 100 {
		return nil, fmt.Errorf("%d attributes, at most 100", len(out))
	}
	return compactAttrs(out), nil
}

// parseStatusValues parses "value:status,value:status": an attribute value
// (matched ignoring case) and the status it means. A value not in the
// table, or no value, means active.
func parseStatusValues(v string) (map[string]resync.LifecycleStatus, error) {
	if strings.TrimSpace(v) == "" {
		return nil, fmt.Errorf(`is empty: list "value:status" pairs, e.g. "disabled:suspended,terminated:deprovisioned"`)
	}
	out := map[string]resync.LifecycleStatus{}
	for i, part := range strings.Split(v, ",") {
		value, status, ok := strings.Cut(part, ":")
		value, status = strings.ToLower(strings.TrimSpace(value)), strings.TrimSpace(status)
		if !ok || value == "" {
			return nil, fmt.Errorf("item %d is %q, want value:status", i+1, strings.TrimSpace(part))
		}
		st := resync.LifecycleStatus(status)
		switch st {
		case resync.StatusActive, resync.StatusSuspended, resync.StatusDeprovisioned, resync.StatusNotStarted:
		default:
			return nil, fmt.Errorf("item %d: status %q is not active, suspended, deprovisioned or not_started", i+1, status)
		}
		if _, dup := out[value]; dup {
			return nil, fmt.Errorf("item %d: value %q is listed twice", i+1, value)
		}
		out[value] = st
	}
	return out, nil
}

// checkFilter checks that f is one LDAP filter in parentheses, as
// RFC 4515 writes it.
func checkFilter(f string) error {
	if len(f) > 4096 {
		return fmt.Errorf("filter is %d bytes, at most 4096", len(f))
	}
	if !strings.HasPrefix(f, "(") {
		return fmt.Errorf("filter %q must be in parentheses, like (objectClass=person)", f)
	}
	if _, err := goldap.CompileFilter(f); err != nil {
		return fmt.Errorf("filter %q does not parse: %v", f, err)
	}
	return nil
}
