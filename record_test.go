package resync_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openresync/resync"
	"github.com/openresync/resync/storage"
)

// The enum types are strings whose values are stored by the stores and
// exchanged with hosts: they must stay distinct and round-trip through JSON
// as themselves.
func TestEnumsAreStableNames(t *testing.T) {
	t.Parallel()
	all := resync.AllConnectionTypes()
	require.Len(t, all, 13)
	names := map[resync.ConnectionType]bool{}
	for _, ct := range all {
		require.True(t, ct.Valid(), "%q", ct)
		assert.Regexp(t, `^[a-z_]+$`, string(ct))
		assert.False(t, names[ct], "name %q used twice", ct)
		names[ct] = true
		b, err := json.Marshal(struct{ T resync.ConnectionType }{ct})
		require.NoError(t, err)
		assert.JSONEq(t, `{"T":"`+string(ct)+`"}`, string(b))
	}
	assert.Equal(t, resync.ConnectionType("version_control"), resync.VersionControl)
	assert.Equal(t, resync.ConnectionType("access_review"), resync.AccessReview)
	for _, bad := range []resync.ConnectionType{"", "nope", "IdP", "Version Control"} {
		assert.False(t, bad.Valid(), "%q", bad)
	}

	assert.Equal(t, []resync.RecordKind{"identity", "account", "group"},
		[]resync.RecordKind{resync.KindIdentity, resync.KindAccount, resync.KindGroup})
	assert.Equal(t, []resync.ChangeOp{"add", "update", "remove", "refresh"},
		[]resync.ChangeOp{resync.OpAdd, resync.OpUpdate, resync.OpRemove, resync.OpRefresh})
	assert.Equal(t, []resync.ScopeKind{"personnel", "accounts", "all"},
		[]resync.ScopeKind{resync.ScopePersonnel, resync.ScopeAccounts, resync.ScopeAll})
}

var (
	fpT1 = time.Date(2024, 3, 1, 9, 0, 0, 0, time.UTC)
	fpT2 = time.Date(2025, 6, 30, 17, 30, 0, 500, time.UTC)
)

func fullIdentity() *resync.Identity {
	return &resync.Identity{
		Key: "00u1", EmployeeID: "E1001", ExternalID: "ada@idp.example.com",
		Email: "ada@example.com", Name: "Ada Lovelace", Status: resync.StatusActive,
		Manager: "00u0", Department: "Engineering", Title: "Engineer",
		StartDate: fpT1, EndDate: fpT2, MFA: resync.MFAEnabled, LastLogin: fpT2,
		Groups:     []string{"g1", "g2", "g3"},
		Attributes: map[string]string{"costCenter": "42", "location": "London", "level": "L5"},
	}
}

func fullAccount() *resync.Account {
	return &resync.Account{
		Key: "AIDA1", Username: "ada", OwnerEmail: "ada@example.com", DisplayName: "Ada",
		Status: resync.StatusActive, Type: resync.AccountTypeHuman, EmployeeID: "E1001", ExternalID: "00u1",
		Roles: []string{"admin", "billing", "dev"}, MFA: resync.MFAEnabled,
		LastLogin: fpT2, LastUsed: map[string]time.Time{"AKIA1": fpT1, "AKIA2": fpT2},
		Attributes: map[string]string{"arn": "arn:aws:iam::1:user/ada", "path": "/"},
	}
}

func fullGroup() *resync.Group {
	return &resync.Group{Key: "g1", Name: "Engineers", Members: []string{"00u1", "00u2", "00u3"}}
}

func TestFingerprintEqualContent(t *testing.T) {
	t.Parallel()
	assert.Equal(t, resync.Fingerprint(fullIdentity()), resync.Fingerprint(fullIdentity()))
	assert.Equal(t, resync.Fingerprint(fullAccount()), resync.Fingerprint(fullAccount()))
	assert.Equal(t, resync.Fingerprint(fullGroup()), resync.Fingerprint(fullGroup()))
	// Kinds are part of the digest: the same key in two kinds differs.
	assert.NotEqual(t, resync.Fingerprint(&resync.Group{Key: "x"}), resync.Fingerprint(&resync.Identity{Key: "x"}))
	assert.NotEqual(t, resync.Fingerprint(&resync.Group{Key: "x"}), resync.Fingerprint(&resync.Account{Key: "x"}))
}

func TestFingerprintEveryFieldCounts(t *testing.T) {
	t.Parallel()
	type mut struct {
		name string
		rec  func() resync.Record
	}
	id := func(f func(*resync.Identity)) func() resync.Record {
		return func() resync.Record { r := fullIdentity(); f(r); return r }
	}
	ac := func(f func(*resync.Account)) func() resync.Record {
		return func() resync.Record { r := fullAccount(); f(r); return r }
	}
	gr := func(f func(*resync.Group)) func() resync.Record {
		return func() resync.Record { r := fullGroup(); f(r); return r }
	}
	cases := []mut{
		{"Identity.Key", id(func(r *resync.Identity) { r.Key = "00u9" })},
		{"Identity.EmployeeID", id(func(r *resync.Identity) { r.EmployeeID = "E1002" })},
		{"Identity.ExternalID", id(func(r *resync.Identity) { r.ExternalID = "" })},
		{"Identity.Status not started", id(func(r *resync.Identity) { r.Status = resync.StatusNotStarted })},
		{"Identity.MFA", id(func(r *resync.Identity) { r.MFA = resync.MFADisabled })},
		{"Identity.Email", id(func(r *resync.Identity) { r.Email = "ada@example.org" })},
		{"Identity.Name", id(func(r *resync.Identity) { r.Name = "Ada King" })},
		{"Identity.Status", id(func(r *resync.Identity) { r.Status = resync.StatusSuspended })},
		{"Identity.Manager", id(func(r *resync.Identity) { r.Manager = "00u7" })},
		{"Identity.Department", id(func(r *resync.Identity) { r.Department = "Research" })},
		{"Identity.Title", id(func(r *resync.Identity) { r.Title = "Lead" })},
		{"Identity.StartDate", id(func(r *resync.Identity) { r.StartDate = r.StartDate.Add(time.Second) })},
		{"Identity.StartDate zero", id(func(r *resync.Identity) { r.StartDate = time.Time{} })},
		{"Identity.EndDate ns", id(func(r *resync.Identity) { r.EndDate = r.EndDate.Add(time.Nanosecond) })},
		{"Identity.Groups entry", id(func(r *resync.Identity) { r.Groups[1] = "g9" })},
		{"Identity.Groups extra", id(func(r *resync.Identity) { r.Groups = append(r.Groups, "g4") })},
		{"Identity.Groups nil", id(func(r *resync.Identity) { r.Groups = nil })},
		{"Identity.Attributes value", id(func(r *resync.Identity) { r.Attributes["level"] = "L6" })},
		{"Identity.Attributes name", id(func(r *resync.Identity) { delete(r.Attributes, "level"); r.Attributes["grade"] = "L5" })},
		{"Identity.Attributes extra", id(func(r *resync.Identity) { r.Attributes["x"] = "" })},
		{"Account.Key", ac(func(r *resync.Account) { r.Key = "AIDA2" })},
		{"Account.Username", ac(func(r *resync.Account) { r.Username = "ada2" })},
		{"Account.OwnerEmail", ac(func(r *resync.Account) { r.OwnerEmail = "" })},
		{"Account.DisplayName", ac(func(r *resync.Account) { r.DisplayName = "A." })},
		{"Account.Status", ac(func(r *resync.Account) { r.Status = resync.StatusDeprovisioned })},
		{"Account.Roles", ac(func(r *resync.Account) { r.Roles = r.Roles[:2] })},
		{"Account.MFA", ac(func(r *resync.Account) { r.MFA = resync.MFADisabled })},
		{"Account.MFA unknown", ac(func(r *resync.Account) { r.MFA = resync.MFAUnknown })},
		{"Account.Type", ac(func(r *resync.Account) { r.Type = resync.AccountTypeService })},
		{"Account.Type unknown", ac(func(r *resync.Account) { r.Type = resync.AccountTypeUnknown })},
		{"Account.EmployeeID", ac(func(r *resync.Account) { r.EmployeeID = "E1002" })},
		{"Account.ExternalID", ac(func(r *resync.Account) { r.ExternalID = "00u2" })},
		{"Account.Attributes", ac(func(r *resync.Account) { r.Attributes["path"] = "/ops/" })},
		{"Group.Key", gr(func(r *resync.Group) { r.Key = "g2" })},
		{"Group.Name", gr(func(r *resync.Group) { r.Name = "Eng" })},
		{"Group.Members", gr(func(r *resync.Group) { r.Members[0] = "00u4" })},
		{"Group.Members fewer", gr(func(r *resync.Group) { r.Members = r.Members[1:] })},
	}
	base := map[resync.RecordKind]uint64{
		resync.KindIdentity: resync.Fingerprint(fullIdentity()),
		resync.KindAccount:  resync.Fingerprint(fullAccount()),
		resync.KindGroup:    resync.Fingerprint(fullGroup()),
	}
	seen := map[uint64]string{}
	for _, c := range cases {
		r := c.rec()
		fp := resync.Fingerprint(r)
		assert.NotEqual(t, base[storage.KindOfRecord(r)], fp, "changing %s must change the fingerprint", c.name)
		if other, dup := seen[fp]; dup {
			t.Errorf("%s and %s give the same fingerprint", c.name, other)
		}
		seen[fp] = c.name
	}
	// A field's content must not be able to move into its neighbour (length prefixes).
	a := &resync.Identity{Key: "k", Email: "ab", Name: "c", Status: resync.StatusActive}
	b := &resync.Identity{Key: "k", Email: "a", Name: "bc", Status: resync.StatusActive}
	assert.NotEqual(t, resync.Fingerprint(a), resync.Fingerprint(b))
	// Attribute names and values are not interchangeable.
	c := &resync.Account{Key: "k", Attributes: map[string]string{"a": "b"}}
	d := &resync.Account{Key: "k", Attributes: map[string]string{"b": "a"}}
	assert.NotEqual(t, resync.Fingerprint(c), resync.Fingerprint(d))
}

func TestFingerprintOrderIndependent(t *testing.T) {
	t.Parallel()
	a := fullIdentity()
	b := fullIdentity()
	b.Groups = []string{"g3", "g1", "g2"}
	// Rebuild the map in another insertion order; iteration order is random anyway.
	b.Attributes = map[string]string{}
	for _, k := range []string{"level", "location", "costCenter"} {
		b.Attributes[k] = a.Attributes[k]
	}
	for range 20 { // map iteration order changes between loops
		assert.Equal(t, resync.Fingerprint(a), resync.Fingerprint(b))
	}
	acc := fullAccount()
	acc2 := fullAccount()
	acc2.Roles = []string{"dev", "admin", "billing"}
	assert.Equal(t, resync.Fingerprint(acc), resync.Fingerprint(acc2))
	g := fullGroup()
	g2 := fullGroup()
	g2.Members = []string{"00u3", "00u2", "00u1"}
	assert.Equal(t, resync.Fingerprint(g), resync.Fingerprint(g2))
}

func TestFingerprintNilEqualsEmpty(t *testing.T) {
	t.Parallel()
	a := &resync.Identity{Key: "k", Status: resync.StatusActive}
	b := &resync.Identity{Key: "k", Status: resync.StatusActive, Groups: []string{}, Attributes: map[string]string{}}
	assert.Equal(t, resync.Fingerprint(a), resync.Fingerprint(b))
	c := &resync.Account{Key: "k", Status: resync.StatusActive}
	d := &resync.Account{Key: "k", Status: resync.StatusActive, Roles: []string{}, Attributes: map[string]string{}}
	assert.Equal(t, resync.Fingerprint(c), resync.Fingerprint(d))
	assert.Equal(t, resync.Fingerprint(&resync.Group{Key: "k"}), resync.Fingerprint(&resync.Group{Key: "k", Members: []string{}}))
}

func TestFingerprintTimesAsInstants(t *testing.T) {
	t.Parallel()
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		ny = time.FixedZone("EST", -5*3600)
	}
	a := fullIdentity()
	b := fullIdentity()
	b.StartDate = a.StartDate.In(ny)
	b.EndDate = a.EndDate.In(time.FixedZone("X", 3*3600+1800))
	require.True(t, a.StartDate.Equal(b.StartDate))
	assert.Equal(t, resync.Fingerprint(a), resync.Fingerprint(b))
	// A monotonic clock reading does not count either.
	now := time.Now()
	c := &resync.Account{Key: "k", Status: resync.StatusActive, LastLogin: now}
	d := &resync.Account{Key: "k", Status: resync.StatusActive, LastLogin: now.Round(0).In(ny)}
	assert.Equal(t, resync.VolatileDigest(c), resync.VolatileDigest(d))
}

// TestFingerprintVolatileFields: last-login and last-use times move every
// day without anything changing about access. They are left out of the
// fingerprint, so a change in them alone is not an update, and digested
// apart, so that the store can still be kept current.
func TestFingerprintVolatileFields(t *testing.T) {
	t.Parallel()
	type mut struct {
		name string
		rec  func() resync.Record
	}
	cases := []mut{
		{"Identity.LastLogin", func() resync.Record { r := fullIdentity(); r.LastLogin = r.LastLogin.Add(time.Hour); return r }},
		{"Identity.LastLogin zero", func() resync.Record { r := fullIdentity(); r.LastLogin = time.Time{}; return r }},
		{"Account.LastLogin", func() resync.Record { r := fullAccount(); r.LastLogin = r.LastLogin.Add(time.Nanosecond); return r }},
		{"Account.LastUsed time", func() resync.Record { r := fullAccount(); r.LastUsed["AKIA1"] = fpT2; return r }},
		{"Account.LastUsed key", func() resync.Record {
			r := fullAccount()
			r.LastUsed = map[string]time.Time{"AKIA1": fpT1, "AKIA3": fpT2}
			return r
		}},
		{"Account.LastUsed extra", func() resync.Record { r := fullAccount(); r.LastUsed["AKIA3"] = time.Time{}; return r }},
	}
	base := map[resync.RecordKind]resync.Record{resync.KindIdentity: fullIdentity(), resync.KindAccount: fullAccount()}
	seen := map[uint64]string{}
	for _, c := range cases {
		r := c.rec()
		b := base[storage.KindOfRecord(r)]
		assert.Equal(t, resync.Fingerprint(b), resync.Fingerprint(r), "%s must not change the fingerprint", c.name)
		assert.NotEqual(t, resync.VolatileDigest(b), resync.VolatileDigest(r), "%s must change the volatile digest", c.name)
		if other, dup := seen[resync.VolatileDigest(r)]; dup {
			t.Errorf("%s and %s give the same volatile digest", c.name, other)
		}
		seen[resync.VolatileDigest(r)] = c.name
	}
	// Content changes leave the volatile digest alone.
	a := fullAccount()
	a.Roles = nil
	assert.Equal(t, resync.VolatileDigest(fullAccount()), resync.VolatileDigest(a))
	// Nothing volatile set: 0, whatever the kind.
	assert.Zero(t, resync.VolatileDigest(fullGroup()))
	assert.Zero(t, resync.VolatileDigest(&resync.Identity{Key: "k", Status: resync.StatusActive}))
	assert.Zero(t, resync.VolatileDigest(&resync.Account{Key: "k", Status: resync.StatusActive, LastUsed: map[string]time.Time{}}))
	assert.NotZero(t, resync.VolatileDigest(&resync.Account{Key: "k", Status: resync.StatusActive, LastUsed: map[string]time.Time{"k": {}}}))
	// LastUsed is a map: its order does not count.
	u := fullAccount()
	u.LastUsed = map[string]time.Time{"AKIA2": fpT2, "AKIA1": fpT1}
	for range 10 {
		assert.Equal(t, resync.VolatileDigest(fullAccount()), resync.VolatileDigest(u))
	}
}

func TestFingerprintVersion(t *testing.T) {
	t.Parallel()
	for _, r := range []resync.Record{fullIdentity(), fullAccount(), fullGroup(), &resync.Group{Key: "k"}} {
		assert.Equal(t, resync.FingerprintVersion, resync.FingerprintVersionOf(resync.Fingerprint(r)), "%s", storage.KindOfRecord(r))
	}
	assert.Equal(t, 0, resync.FingerprintVersionOf(0x00ff_ffff_ffff_ffff))
	assert.Equal(t, 255, resync.FingerprintVersionOf(0xff00_0000_0000_0000))
}

// TestFingerprintGolden pins fingerprints computed once. Stores keep
// fingerprints across releases and the diff compares them with fresh ones.
// A change to these values is a change of the fingerprint's definition: it
// must come with a new FingerprintVersion (whose top byte these values
// carry), so that the engine recomputes stored fingerprints of the older
// version from the stored records instead of reporting every record of
// every connection as updated on the next read.
//
// Version 1 (this one) added EmployeeID, ExternalID and MFA to identities
// and Type, EmployeeID and ExternalID to accounts, and moved the volatile
// fields (LastLogin, LastUsed) out of the fingerprint into VolatileDigest.
// Fingerprints before it had no version (stores migrate them to version 0).
func TestFingerprintGolden(t *testing.T) {
	t.Parallel()
	assert.Equal(t, uint64(0x01a48c8beac862e7), resync.Fingerprint(fullIdentity()), "identity")
	assert.Equal(t, uint64(0x011ac68e6787db5a), resync.Fingerprint(fullAccount()), "account")
	// A group's content is digested as before: only the top byte changed
	// (0x8dd91e026789e31b without a version).
	assert.Equal(t, uint64(0x01d91e026789e31b), resync.Fingerprint(fullGroup()), "group")
	assert.Equal(t, uint64(0x5415001f24e4c2eb), resync.VolatileDigest(fullIdentity()), "identity volatile")
	assert.Equal(t, uint64(0x223ced692e03685d), resync.VolatileDigest(fullAccount()), "account volatile")
}

func TestValidateRecord(t *testing.T) {
	t.Parallel()
	lim := resync.Limits{MaxKeyBytes: 8, MaxFieldBytes: 16, MaxListLen: 3}
	bad := "a\xffb"
	var nilID *resync.Identity
	var nilAcc *resync.Account
	var nilGroup *resync.Group
	ok := func() *resync.Identity { return &resync.Identity{Key: "k", Status: resync.StatusActive} }
	cases := []struct {
		name   string
		rec    resync.Record
		reason string // substring of the error; "" means valid
	}{
		{"valid identity", ok(), ""},
		{"valid account", &resync.Account{Key: "k", Status: resync.StatusSuspended, MFA: resync.MFADisabled}, ""},
		{"valid group", &resync.Group{Key: "k", Members: []string{"a", "b", "c"}}, ""},
		{"key at limit", &resync.Group{Key: "12345678"}, ""},
		{"field at limit", &resync.Group{Key: "k", Name: strings.Repeat("n", 16)}, ""},
		{"nil record", nil, "nil record"},
		{"typed nil identity", nilID, "nil record"},
		{"typed nil account", nilAcc, "nil record"},
		{"typed nil group", nilGroup, "nil record"},
		{"empty key", &resync.Group{}, "empty key"},
		{"oversized key", &resync.Group{Key: "123456789"}, "key is 9 bytes, limit 8"},
		{"key not UTF-8", &resync.Group{Key: bad}, "key is not valid UTF-8"},
		{"oversized field", &resync.Group{Key: "k", Name: strings.Repeat("n", 17)}, "Name is 17 bytes"},
		{"field not UTF-8", &resync.Identity{Key: "k", Status: resync.StatusActive, Email: bad}, "Email is not valid UTF-8"},
		{"title not UTF-8", &resync.Identity{Key: "k", Status: resync.StatusActive, Title: bad}, "Title is not valid UTF-8"},
		{"username not UTF-8", &resync.Account{Key: "k", Status: resync.StatusActive, Username: bad}, "Username is not valid UTF-8"},
		{"oversized list", &resync.Group{Key: "k", Members: []string{"a", "b", "c", "d"}}, "Members has 4 entries, limit 3"},
		{"oversized roles", &resync.Account{Key: "k", Status: resync.StatusActive, Roles: []string{"a", "b", "c", "d"}}, "Roles has 4 entries"},
		{"list entry not UTF-8", &resync.Identity{Key: "k", Status: resync.StatusActive, Groups: []string{"g", bad}}, "Groups entry is not valid UTF-8"},
		{"list entry oversized", &resync.Group{Key: "k", Members: []string{strings.Repeat("m", 17)}}, "Members entry is 17 bytes"},
		{"too many attributes", &resync.Identity{Key: "k", Status: resync.StatusActive, Attributes: map[string]string{"a": "", "b": "", "c": "", "d": ""}}, "Attributes has 4 entries"},
		{"attribute name not UTF-8", &resync.Identity{Key: "k", Status: resync.StatusActive, Attributes: map[string]string{bad: "v"}}, "attribute name is not valid UTF-8"},
		{"attribute value not UTF-8", &resync.Account{Key: "k", Status: resync.StatusActive, Attributes: map[string]string{"n": bad}}, `attribute "n" is not valid UTF-8`},
		{"attribute value oversized", &resync.Account{Key: "k", Status: resync.StatusActive, Attributes: map[string]string{"n": strings.Repeat("v", 17)}}, `attribute "n" is 17 bytes`},
		{"empty status", &resync.Identity{Key: "k"}, `status ""`},
		{"bad status", &resync.Account{Key: "k", Status: "Active"}, `status "Active"`},
		{"bad MFA", &resync.Account{Key: "k", Status: resync.StatusActive, MFA: "yes"}, `MFA state "yes"`},
		{"not started", &resync.Identity{Key: "k", Status: resync.StatusNotStarted, StartDate: fpT2}, ""},
		{"identity bad MFA", &resync.Identity{Key: "k", Status: resync.StatusActive, MFA: "on"}, `MFA state "on"`},
		{"identity employee ID not UTF-8", &resync.Identity{Key: "k", Status: resync.StatusActive, EmployeeID: bad}, "EmployeeID is not valid UTF-8"},
		{"identity external ID oversized", &resync.Identity{Key: "k", Status: resync.StatusActive, ExternalID: strings.Repeat("x", 17)}, "ExternalID is 17 bytes"},
		{"account employee ID oversized", &resync.Account{Key: "k", Status: resync.StatusActive, EmployeeID: strings.Repeat("x", 17)}, "EmployeeID is 17 bytes"},
		{"account external ID not UTF-8", &resync.Account{Key: "k", Status: resync.StatusActive, ExternalID: bad}, "ExternalID is not valid UTF-8"},
		{"account type", &resync.Account{Key: "k", Status: resync.StatusActive, Type: resync.AccountTypeService}, ""},
		{"bad account type", &resync.Account{Key: "k", Status: resync.StatusActive, Type: "robot"}, `account type "robot"`},
		{"too many last used", &resync.Account{Key: "k", Status: resync.StatusActive, LastUsed: map[string]time.Time{"a": {}, "b": {}, "c": {}, "d": {}}}, "LastUsed has 4 entries"},
		{"last used ID not UTF-8", &resync.Account{Key: "k", Status: resync.StatusActive, LastUsed: map[string]time.Time{bad: {}}}, "LastUsed credential ID is not valid UTF-8"},
		{"last used ID oversized", &resync.Account{Key: "k", Status: resync.StatusActive, LastUsed: map[string]time.Time{strings.Repeat("x", 17): {}}}, "LastUsed credential ID is 17 bytes"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := resync.ValidateRecord(c.rec, lim)
			if c.reason == "" {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.ErrorIs(t, err, resync.ErrInvalidRecord)
			var re *resync.RecordError
			require.True(t, errors.As(err, &re))
			assert.Contains(t, re.Reason, c.reason)
		})
	}
}

func TestValidateRecordDefaults(t *testing.T) {
	t.Parallel()
	assert.NoError(t, resync.ValidateRecord(fullIdentity(), resync.Limits{}))
	assert.NoError(t, resync.ValidateRecord(fullAccount(), resync.Limits{}))
	assert.NoError(t, resync.ValidateRecord(&resync.Group{Key: strings.Repeat("k", 1024)}, resync.Limits{}))
	assert.Error(t, resync.ValidateRecord(&resync.Group{Key: strings.Repeat("k", 1025)}, resync.Limits{}))
	assert.NoError(t, resync.ValidateRecord(&resync.Group{Key: "k", Name: strings.Repeat("n", 8192)}, resync.Limits{}))
	assert.Error(t, resync.ValidateRecord(&resync.Group{Key: "k", Name: strings.Repeat("n", 8193)}, resync.Limits{}))
	assert.NoError(t, resync.ValidateRecord(&resync.Group{Key: "k", Members: make([]string, 100000)}, resync.Limits{}))
	assert.Error(t, resync.ValidateRecord(&resync.Group{Key: "k", Members: make([]string, 100001)}, resync.Limits{}))
}

func TestEncodeRecordRoundTrip(t *testing.T) {
	t.Parallel()
	ny := time.FixedZone("EST", -5*3600)
	id := fullIdentity()
	id.StartDate = id.StartDate.In(ny)
	for _, r := range []resync.Record{
		id, fullAccount(), fullGroup(),
		&resync.Identity{Key: "minimal", Status: resync.StatusActive},
		&resync.Account{Key: "minimal", Status: resync.StatusSuspended},
		&resync.Group{Key: "minimal"},
	} {
		b, err := storage.EncodeRecord(r)
		require.NoError(t, err)
		back, err := storage.DecodeRecord(storage.KindOfRecord(r), b)
		require.NoError(t, err)
		assert.Equal(t, storage.KindOfRecord(r), storage.KindOfRecord(back))
		assert.Equal(t, storage.KeyOf(r), storage.KeyOf(back))
		assert.Equal(t, resync.Fingerprint(r), resync.Fingerprint(back), "%s %s: %s", storage.KindOfRecord(r), storage.KeyOf(r), b)
		assert.Equal(t, resync.VolatileDigest(r), resync.VolatileDigest(back), "%s %s: %s", storage.KindOfRecord(r), storage.KeyOf(r), b)
	}
	_, err := storage.DecodeRecord("user", []byte(`{}`))
	assert.Error(t, err)
	_, err = storage.DecodeRecord(resync.KindGroup, []byte(`{"Key":`))
	assert.Error(t, err)
	_, err = storage.DecodeRecord(resync.KindGroup, []byte(`{"Key":1}`))
	assert.Error(t, err)
}

// TestEncodeRecordJSONNames pins the JSON form stores keep records in:
// renaming a field would make every stored record decode without it.
func TestEncodeRecordJSONNames(t *testing.T) {
	t.Parallel()
	cases := []struct {
		rec  resync.Record
		want string
	}{
		{fullIdentity(), `{"Key":"00u1","EmployeeID":"E1001","ExternalID":"ada@idp.example.com","Email":"ada@example.com",
			"Name":"Ada Lovelace","Status":"active","Manager":"00u0","Department":"Engineering","Title":"Engineer",
			"StartDate":"2024-03-01T09:00:00Z","EndDate":"2025-06-30T17:30:00.0000005Z","MFA":"enabled",
			"LastLogin":"2025-06-30T17:30:00.0000005Z","Groups":["g1","g2","g3"],
			"Attributes":{"costCenter":"42","level":"L5","location":"London"}}`},
		{fullAccount(), `{"Key":"AIDA1","Username":"ada","OwnerEmail":"ada@example.com","DisplayName":"Ada",
			"Status":"active","Type":"human","EmployeeID":"E1001","ExternalID":"00u1","Roles":["admin","billing","dev"],
			"MFA":"enabled","LastLogin":"2025-06-30T17:30:00.0000005Z",
			"LastUsed":{"AKIA1":"2024-03-01T09:00:00Z","AKIA2":"2025-06-30T17:30:00.0000005Z"},
			"Attributes":{"arn":"arn:aws:iam::1:user/ada","path":"/"}}`},
		{fullGroup(), `{"Key":"g1","Name":"Engineers","Members":["00u1","00u2","00u3"]}`},
		{&resync.Identity{Key: "k", Status: resync.StatusNotStarted}, `{"Key":"k","Status":"not_started"}`},
		{&resync.Account{Key: "k", Status: resync.StatusActive}, `{"Key":"k","Status":"active"}`},
	}
	for _, c := range cases {
		b, err := storage.EncodeRecord(c.rec)
		require.NoError(t, err)
		assert.JSONEq(t, c.want, string(b))
	}
}
