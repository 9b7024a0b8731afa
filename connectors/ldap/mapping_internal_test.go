package ldap

import (
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	goldap "github.com/go-ldap/ldap/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openresync/resync"
)

// guidBytes is objectGUID {12345678-90ab-cdef-1234-567890abcdef} as AD
// stores it: the first three fields little-endian.
var guidBytes = []byte{0x78, 0x56, 0x34, 0x12, 0xab, 0x90, 0xef, 0xcd, 0x12, 0x34, 0x56, 0x78, 0x90, 0xab, 0xcd, 0xef}

func filetime(t time.Time) string {
	return strconv.FormatInt((t.Unix()+11_644_473_600)*10_000_000+int64(t.Nanosecond()/100), 10)
}

func adConfig(t *testing.T, kv ...string) *config {
	t.Helper()
	s := map[string]string{"url": "ldaps://dc1.corp.example", "preset": "ad", "base_dn": "DC=corp,DC=example",
		"bind_dn": "CN=svc,DC=corp,DC=example", "bind_password": "s3cret-pw"}
	for i := 0; i+1 < len(kv); i += 2 {
		s[kv[i]] = kv[i+1]
	}
	c, err := parseSettings(resync.Connection{ID: "ad", Settings: s})
	require.NoError(t, err)
	return c
}

// adEntry is a user entry as Active Directory returns it.
func adEntry(attrs map[string][]string) *goldap.Entry {
	e := goldap.NewEntry("CN=Ada Lovelace,OU=Staff,DC=corp,DC=example", nil)
	for k, v := range attrs {
		ea := goldap.NewEntryAttribute(k, v)
		e.Attributes = append(e.Attributes, ea)
	}
	return e
}

func TestActiveDirectoryPreset(t *testing.T) {
	now := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	c := adConfig(t)
	assert.Equal(t, "(&(objectCategory=person)(objectClass=user))", c.userFilter)
	assert.Equal(t, "(objectClass=group)", c.groupFilter)
	assert.Contains(t, c.userAttrs, "objectGUID")
	assert.Contains(t, c.userAttrs, "userAccountControl")
	assert.Contains(t, c.userAttrs, "accountExpires")
	assert.Contains(t, c.userAttrs, "sAMAccountName")
	assert.Equal(t, "ldaps://dc1.corp.example:636", c.url.String())

	base := map[string][]string{
		"objectGUID":         {string(guidBytes)},
		"sAMAccountName":     {"ada"},
		"userPrincipalName":  {"ada@corp.example"},
		"mail":               {"ada.lovelace@corp.example"},
		"displayName":        {"Ada Lovelace"},
		"employeeID":         {"E1815"},
		"department":         {"Engineering"},
		"title":              {"Analyst"},
		"manager":            {"CN=Charles Babbage,OU=Staff,DC=corp,DC=example"},
		"userAccountControl": {"512"}, // NORMAL_ACCOUNT
		"accountExpires":     {"9223372036854775807"},
		"lastLogonTimestamp": {filetime(now.Add(-48 * time.Hour))},
		"whenChanged":        {"20261201120000.0Z"},
	}
	with := func(k, v string) map[string][]string {
		m := map[string][]string{}
		for kk, vv := range base {
			m[kk] = vv
		}
		if v == "" {
			delete(m, k)
		} else {
			m[k] = []string{v}
		}
		return m
	}

	id, key, err := c.toIdentity(adEntry(base), now)
	require.NoError(t, err)
	assert.Equal(t, "12345678-90ab-cdef-1234-567890abcdef", key)
	assert.Equal(t, &resync.Identity{
		Key: "12345678-90ab-cdef-1234-567890abcdef", Email: "ada.lovelace@corp.example", Name: "Ada Lovelace",
		EmployeeID: "E1815", Department: "Engineering", Title: "Analyst", Status: resync.StatusActive,
		LastLogin: now.Add(-48 * time.Hour),
		Attributes: map[string]string{
			"dn":                 "CN=Ada Lovelace,OU=Staff,DC=corp,DC=example",
			"manager":            "CN=Charles Babbage,OU=Staff,DC=corp,DC=example",
			"sAMAccountName":     "ada",
			"userPrincipalName":  "ada@corp.example",
			"userAccountControl": "512",
		},
	}, id)
	require.NoError(t, resync.ValidateRecord(id, resync.Limits{}))

	tests := []struct {
		name, attr, value string
		want              resync.LifecycleStatus
		wantErr           string
	}{
		{"disabled bit", "userAccountControl", "514", resync.StatusSuspended, ""},
		{"disabled and dont-expire-password", "userAccountControl", "66050", resync.StatusSuspended, ""},
		{"enabled, password never expires", "userAccountControl", "66048", resync.StatusActive, ""},
		{"negative as AD writes on some servers", "userAccountControl", "-2147483646", resync.StatusSuspended, ""},
		{"no userAccountControl", "userAccountControl", "", resync.StatusActive, ""},
		{"bad userAccountControl", "userAccountControl", "lots", "", "userAccountControl"},
		{"expires never (0)", "accountExpires", "0", resync.StatusActive, ""},
		{"expired yesterday", "accountExpires", filetime(now.Add(-24 * time.Hour)), resync.StatusDeprovisioned, ""},
		{"expires tomorrow", "accountExpires", filetime(now.Add(24 * time.Hour)), resync.StatusActive, ""},
		{"bad accountExpires", "accountExpires", "-5", "", "accountExpires"},
		{"bad lastLogonTimestamp", "lastLogonTimestamp", "x", "", "lastLogonTimestamp"},
		{"short objectGUID", "objectGUID", "\x01\x02", "", "objectGUID is 2 bytes"},
		{"no objectGUID", "objectGUID", "", "", "no objectGUID"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id, _, err := c.toIdentity(adEntry(with(tc.attr, tc.value)), now)
			if tc.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, id.Status)
			if tc.attr == "accountExpires" && tc.value != "0" {
				assert.False(t, id.EndDate.IsZero())
				assert.Equal(t, id.EndDate.Format(time.RFC3339), id.Attributes["accountExpires"], "the original is kept")
			}
		})
	}

	g, members, err := c.toGroup(adEntry(map[string][]string{"objectGUID": {string(guidBytes)}, "cn": {"Admins"},
		"member": {"CN=Ada Lovelace,OU=Staff,DC=corp,DC=example"}}))
	require.NoError(t, err)
	assert.Equal(t, "12345678-90ab-cdef-1234-567890abcdef", g.Key)
	assert.Equal(t, "Admins", g.Name)
	assert.Equal(t, []string{"CN=Ada Lovelace,OU=Staff,DC=corp,DC=example"}, members)
}

func TestNestedGroupsFilter(t *testing.T) {
	c := adConfig(t, "nested_groups", "true")
	assert.NotContains(t, c.groupAttrs, "member", "members come from the in-chain search")
	assert.Equal(t,
		`(&(&(objectCategory=person)(objectClass=user))(memberOf:1.2.840.113556.1.4.1941:=CN=R\28D\29 \2a,OU=Groups,DC=corp,DC=example))`,
		nestedFilter(c.userFilter, "CN=R(D) *,OU=Groups,DC=corp,DC=example"))
	_, err := goldap.CompileFilter(nestedFilter(c.userFilter, "CN=R(D) *,OU=Groups,DC=corp,DC=example"))
	require.NoError(t, err)

	_, err = parseSettings(resync.Connection{Settings: map[string]string{"url": "ldap://x", "base_dn": "dc=x", "nested_groups": "true"}})
	require.Error(t, err, "in-chain matching is Active Directory's")
}

func TestOpenLDAPPresetLockedAccount(t *testing.T) {
	c, err := parseSettings(resync.Connection{Settings: map[string]string{"url": "ldap://x", "base_dn": "dc=x"}})
	require.NoError(t, err)
	e := goldap.NewEntry("uid=a,dc=x", map[string][]string{"entryUUID": {"0b3e7c46-8c1f-1041-9a00-5d1b2c3d4e5f"}, "cn": {"A"}, "pwdAccountLockedTime": {"000001010000Z"}})
	id, _, err := c.toIdentity(e, time.Now())
	require.NoError(t, err)
	assert.Equal(t, resync.StatusSuspended, id.Status)
	assert.Equal(t, "000001010000Z", id.Attributes["pwdAccountLockedTime"])
	assert.Equal(t, "A", id.Name, "cn when there is no displayName")
}

func TestMembersByDN(t *testing.T) {
	assert.Equal(t, normDN("UID=a, OU=People,DC=Example,DC=com"), normDN("uid=a,ou=people,dc=example,dc=com"))
	assert.Equal(t, "uid=a,ou=people,dc=example,dc=com", normDN("uid = a , ou=People,dc=example,dc=com"))
	// Escapes take the parser's path, and agree with the plain form.
	assert.Equal(t, normDN("cn=Smith\\, John,dc=x"), normDN("CN=smith\\, john, DC=X"))
	assert.Equal(t, normDN(`cn=a\2cb,dc=x`), normDN(`cn=A\,B,dc=x`))
	assert.NotEqual(t, normDN(`cn=a\,b,dc=x`), normDN("cn=a,cn=b,dc=x"))
	assert.Equal(t, "uid=a,dc=x", memberDN("uid=a,dc=x#'0101'B", true))
	assert.Equal(t, "uid=a,dc=x#'0101'B", memberDN("uid=a,dc=x#'0101'B", false))
}

func TestSettingsErrors(t *testing.T) {
	const pw = "hunter2-secret"
	ok := map[string]string{"url": "ldap://127.0.0.1:10389", "base_dn": "dc=example,dc=com", "bind_dn": "cn=admin,dc=example,dc=com", "bind_password": pw}
	tests := []struct{ key, value, want string }{
		{"url", "", `"url" is required`},
		{"url", "http://x", "ldap://host"},
		{"url", "ldap://cn=admin:" + pw + "@host", "must not carry credentials"},
		{"url", "ldap://host/dc=x?cn", "must not have a path"},
		{"start_tls", "maybe", "want true or false"},
		{"preset", "novell", `want "openldap" or "ad"`},
		{"base_dn", "not a dn", "not a DN"},
		{"user_filter", "objectClass=person", "in parentheses"},
		{"user_filter", "(&(objectClass=person)", "does not parse"},
		{"page_size", "0", "from 1 to"},
		{"attributes", "mail,,cn", "item 2"},
		{"attributes", "mail;binary", "not an attribute name"},
		{"attr.key", "", "must name an attribute"},
		{"status_attribute", "employeeType", `"status_values"`},
		{"tls_ca_file", "/nonexistent", "needs an ldaps:// URL"},
		{"bind_dn", "", "go together"},
		{"colour", "blue", `unknown setting "colour"`},
	}
	for _, tc := range tests {
		t.Run(tc.key+"="+tc.value, func(t *testing.T) {
			s := map[string]string{}
			for k, v := range ok {
				s[k] = v
			}
			s[tc.key] = tc.value
			_, err := parseSettings(resync.Connection{ID: "c1", Settings: s})
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.True(t, resync.IsPermanent(err))
			assert.ErrorIs(t, err, resync.ErrInvalidRequest)
			assert.NotContains(t, err.Error(), pw)
		})
	}
	c, err := parseSettings(resync.Connection{Settings: map[string]string{"url": "ldap://h", "base_dn": "dc=x",
		"status_attribute": "employeeType", "status_values": "Disabled:suspended, gone:deprovisioned",
		"attributes": " uid , mail,UID, 2.5.4.3", "attr.email": "userPrincipalName"}})
	require.NoError(t, err)
	assert.Equal(t, map[string]resync.LifecycleStatus{"disabled": resync.StatusSuspended, "gone": resync.StatusDeprovisioned}, c.m.statusValues)
	assert.Equal(t, []string{"uid", "mail", "2.5.4.3"}, c.m.extra)
	assert.Equal(t, "userPrincipalName", c.m.email)
}

// FuzzNormDN: the fast path for plain DNs and the parser agree.
func FuzzNormDN(f *testing.F) {
	f.Add("uid=a,ou=People,dc=example,dc=com")
	f.Add("CN=Smith\\, John,OU=Staff,DC=corp")
	f.Add(" cn = x ,dc=y")
	f.Fuzz(func(t *testing.T, dn string) {
		n := normDN(dn)
		if strings.ContainsAny(dn, "\\\"+#;<>") {
			return
		}
		d, err := goldap.ParseDN(dn)
		if err != nil || len(d.RDNs) == 0 {
			return
		}
		parts := make([]string, len(d.RDNs))
		for i, rdn := range d.RDNs {
			if len(rdn.Attributes) != 1 {
				return
			}
			parts[i] = strings.ToLower(rdn.Attributes[0].Type) + "=" + strings.ToLower(rdn.Attributes[0].Value)
		}
		if want := strings.Join(parts, ","); n != want {
			t.Fatalf("normDN(%q) = %q, the parser says %q", dn, n, want)
		}
	})
}

// FuzzSettings: any settings either parse into a configuration whose
// attributes and filters a server accepts, or fail with a permanent error
// that does not contain the bind password.
func FuzzSettings(f *testing.F) {
	f.Add("uid,mail", "(objectClass=person)", "disabled:suspended", "entryUUID", "ad")
	f.Add(" cn , 2.5.4.3 ", "(&(a=b)(|(c=*)(d>=5)))", "x:active,y:deprovisioned", "objectGUID", "openldap")
	f.Add("", "(cn=*\\2a*)", ":", "-bad", "")
	f.Add("a,,b", "((", "a:b:c", "1..2", "AD")
	f.Fuzz(func(t *testing.T, attrList, filter, statusValues, keyAttr, preset string) {
		const pw = "Pw-8c1f2a9d-Fuzz"
		s := map[string]string{"url": "ldap://127.0.0.1", "base_dn": "dc=x", "bind_dn": "cn=a,dc=x", "bind_password": pw,
			"attributes": attrList, "user_filter": filter, "attr.key": keyAttr, "preset": preset}
		if statusValues != "" {
			s["status_attribute"], s["status_values"] = "employeeType", statusValues
		}
		c, err := parseSettings(resync.Connection{ID: "f", Settings: s})
		if err != nil {
			if !resync.IsPermanent(err) {
				t.Fatalf("settings error not permanent: %v", err)
			}
			if strings.Contains(err.Error(), pw) {
				t.Fatalf("settings error contains the password: %v", err)
			}
			return
		}
		for _, a := range append(c.userAttrs, c.groupAttrs...) {
			if !validAttrName(a) {
				t.Fatalf("attribute %q accepted", a)
			}
		}
		if strings.TrimSpace(filter) != "" {
			if _, err := goldap.CompileFilter(c.userFilter); err != nil {
				t.Fatalf("filter %q accepted but does not compile: %v", c.userFilter, err)
			}
		}
		for v, st := range c.m.statusValues {
			if v == "" || (st != resync.StatusActive && st != resync.StatusSuspended && st != resync.StatusDeprovisioned && st != resync.StatusNotStarted) {
				t.Fatalf("status table %v", c.m.statusValues)
			}
		}
	})
}

// FuzzActiveDirectoryEntry: any values of the attributes the AD preset
// reads either map to an identity that validates (when the server's
// strings are UTF-8) or are rejected with a reason; never a panic.
func FuzzActiveDirectoryEntry(f *testing.F) {
	f.Add(guidBytes, "512", "0", "133000000000000000", "a@b.example")
	f.Add([]byte{1, 2, 3}, "514", "9223372036854775807", "", "")
	f.Add(guidBytes, "-2", "-1", "99999999999999999999", "\xff")
	f.Fuzz(func(t *testing.T, guid []byte, uac, expires, lastLogon, mail string) {
		c := adConfig(t)
		attrs := map[string][]string{"objectGUID": {string(guid)}, "userAccountControl": {uac}, "accountExpires": {expires},
			"lastLogonTimestamp": {lastLogon}, "mail": {mail}}
		for k, v := range attrs {
			if v[0] == "" {
				delete(attrs, k)
			}
		}
		now := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
		id, key, err := c.toIdentity(adEntry(attrs), now)
		if err != nil {
			if len(guid) == 16 && key == "" {
				t.Fatalf("a valid GUID's key is lost from the error: %v", err)
			}
			return
		}
		if len(guid) != 16 || len(id.Key) != 36 {
			t.Fatalf("key %q from %d bytes", id.Key, len(guid))
		}
		if n, err := strconv.ParseUint(uac, 10, 32); err == nil && n&2 != 0 && id.Status == resync.StatusActive {
			t.Fatalf("userAccountControl %s has the disabled bit, status %s", uac, id.Status)
		}
		if utf8.ValidString(mail) {
			if err := resync.ValidateRecord(id, resync.Limits{}); err != nil {
				t.Fatalf("mapped identity does not validate: %v", err)
			}
		}
	})
}
