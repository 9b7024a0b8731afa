package resync

import (
	"fmt"
	"time"
	"unicode/utf8"
)

// RecordKind tells Identity, Account and Group records apart. Its values
// are stable lower-case names, safe to store.
type RecordKind string

// Record kinds, in the order stores list records: identities, then
// accounts, then groups.
const (
	KindIdentity RecordKind = "identity"
	KindAccount  RecordKind = "account"
	KindGroup    RecordKind = "group"
)

// kindsByIndex maps index() back to the kind.
var kindsByIndex = [...]RecordKind{1: KindIdentity, 2: KindAccount, 3: KindGroup}

// index returns 1, 2 or 3 for a valid kind (in listing order), 0 otherwise.
func (k RecordKind) index() uint8 {
	switch k {
	case KindIdentity:
		return 1
	case KindAccount:
		return 2
	case KindGroup:
		return 3
	}
	return 0
}

// Record is what a connector yields: *Identity, *Account or *Group. Within
// one connection a record is identified by its kind and key; the key must be
// stable at the provider (an immutable user ID, not an email that changes):
// the Key field of each type. No other type implements Record; package
// storage's KindOfRecord and KeyOf give the kind and key of any record.
type Record interface {
	recordKind() RecordKind
	recordKey() string

	fingerprint(h hasher) (content hasher, volatile uint64)
	validate(l Limits) string
}

// LifecycleStatus is where a person or an account stands in its
// lifecycle at the system that reports it: not a run's or a sync's status
// (see RunStatus and ConnectionStatus for those).
type LifecycleStatus string

// Lifecycle statuses.
const (
	// StatusActive: the person works here; the account can be used.
	StatusActive LifecycleStatus = "active"
	// StatusSuspended: temporarily unable to work or log in (leave, a
	// locked or disabled account); expected back.
	StatusSuspended LifecycleStatus = "suspended"
	// StatusDeprovisioned: gone (terminated, deleted, deactivated).
	StatusDeprovisioned LifecycleStatus = "deprovisioned"
	// StatusNotStarted: known ahead of the start: an HRIS hire whose start
	// date is in the future, an IdP user staged but not yet activated. Such
	// a person is expected to get access, but should not have used it yet.
	StatusNotStarted LifecycleStatus = "not_started"
)

func (s LifecycleStatus) valid() bool {
	return s == StatusActive || s == StatusSuspended || s == StatusDeprovisioned || s == StatusNotStarted
}

// MFAState says whether a person or an account has multi-factor
// authentication.
type MFAState string

// MFA states. The zero value means the provider does not say.
const (
	MFAUnknown  MFAState = ""
	MFAEnabled  MFAState = "enabled"
	MFADisabled MFAState = "disabled"
)

func (m MFAState) valid() bool { return m == MFAUnknown || m == MFAEnabled || m == MFADisabled }

// AccountType tells a person's login from one a program uses.
type AccountType string

// Account types. The zero value means the provider does not say.
const (
	AccountTypeUnknown AccountType = ""
	// AccountTypeHuman: a login a person uses.
	AccountTypeHuman AccountType = "human"
	// AccountTypeService: a login a program uses (a service account, a
	// bot, a machine user, an IAM user holding only access keys).
	AccountTypeService AccountType = "service"
)

func (t AccountType) valid() bool {
	return t == AccountTypeUnknown || t == AccountTypeHuman || t == AccountTypeService
}

// Identity is a person as a system of record (IdP, HRIS) knows them.
//
// LastLogin is a volatile field: it moves without anything changing about
// the person, so a change in it alone is not reported as an update (see
// Fingerprint). The stored record still shows the latest value.
type Identity struct {
	// Key is the provider-stable ID of the person at this system (an
	// immutable user ID, not an email).
	Key string
	// EmployeeID is the person's employee number at the HRIS, when the
	// system knows it; it links the same person across systems.
	EmployeeID string `json:",omitempty"`
	// ExternalID is the person's identity at their identity provider as
	// this system knows it: the SSO subject (SAML NameID, OIDC sub), the
	// IdP user ID, SCIM's externalId.
	ExternalID string `json:",omitempty"`
	// Email is the person's primary (work) email.
	Email string `json:",omitempty"`
	// Name is the display name.
	Name string `json:",omitempty"`
	// Status is where the person stands at this system.
	Status LifecycleStatus
	// Manager is the manager's identity key or email.
	Manager string `json:",omitempty"`
	// Department is the organizational unit.
	Department string `json:",omitempty"`
	// Title is the job title.
	Title string `json:",omitempty"`
	// StartDate is the first day of work (for StatusNotStarted, a future one).
	StartDate time.Time `json:",omitzero"`
	// EndDate is the last day of work, when known.
	EndDate time.Time `json:",omitzero"`
	// MFA says whether the person has multi-factor authentication at this
	// system (an IdP's enrolled factors).
	MFA MFAState `json:",omitempty"`
	// LastLogin is the person's last sign-in at this system. Volatile.
	LastLogin time.Time `json:",omitzero"`
	// Groups are the keys of the groups the person is in; order carries no
	// meaning.
	Groups []string `json:",omitempty"`
	// Attributes are other provider fields, by name.
	Attributes map[string]string `json:",omitempty"`
}

// Account is a login in a system (a cloud IAM user, a GitHub member, a UAR entry).
//
// LastLogin and LastUsed are volatile fields: they move without anything
// changing about the account's access, so a change in them alone is not
// reported as an update (see Fingerprint). The stored record still shows
// the latest values.
type Account struct {
	// Key is the provider-stable ID of the account (an immutable user ID,
	// an ARN, not a username that can be renamed).
	Key string
	// Username is the login name.
	Username string `json:",omitempty"`
	// OwnerEmail is the email of the person who holds the account, when known.
	OwnerEmail string `json:",omitempty"`
	// DisplayName is the account's display name.
	DisplayName string `json:",omitempty"`
	// Status is where the account stands at its system.
	Status LifecycleStatus
	// Type tells a person's account from a program's, when the provider
	// says.
	Type AccountType `json:",omitempty"`
	// EmployeeID is the owner's employee number, when the system records it.
	EmployeeID string `json:",omitempty"`
	// ExternalID is the owner's identity at their identity provider as this
	// system knows it (the SSO subject the account is federated with, the
	// IdP user ID, SCIM's externalId); it links the account to a person
	// more reliably than an email.
	ExternalID string `json:",omitempty"`
	// Roles are the account's roles or permission sets; order carries no
	// meaning.
	Roles []string `json:",omitempty"`
	// MFA says whether the account has multi-factor authentication.
	MFA MFAState `json:",omitempty"`
	// LastLogin is the account's last interactive sign-in (console,
	// password, SSO). Volatile.
	LastLogin time.Time `json:",omitzero"`
	// LastUsed is the last use of each credential the account holds, by
	// the credential's ID at the provider (an access key ID, a token's
	// name), for credentials used without a login. Volatile.
	LastUsed map[string]time.Time `json:",omitempty"`
	// Attributes are other provider fields, by name.
	Attributes map[string]string `json:",omitempty"`
}

// Group is a named set of members (identity or account keys).
type Group struct {
	// Key is the provider-stable ID of the group.
	Key string
	// Name is the group's display name.
	Name string `json:",omitempty"`
	// Members are the keys of the member identities or accounts; order
	// carries no meaning.
	Members []string `json:",omitempty"`
}

func (*Identity) recordKind() RecordKind { return KindIdentity }

func (r *Identity) recordKey() string { return r.Key }

func (*Account) recordKind() RecordKind { return KindAccount }

func (r *Account) recordKey() string { return r.Key }

func (*Group) recordKind() RecordKind { return KindGroup }

func (r *Group) recordKey() string { return r.Key }

var (
	_ Record = (*Identity)(nil)
	_ Record = (*Account)(nil)
	_ Record = (*Group)(nil)
)

// Limits bound what a record may contain; records beyond them are rejected
// and counted in the run's result, and nothing is stored from them. The
// zero value of a field means its default.
type Limits struct {
	// MaxKeyBytes bounds a record key. Default 1024.
	MaxKeyBytes int
	// MaxFieldBytes bounds every other string (and each list element,
	// attribute name and value). Default 8192.
	MaxFieldBytes int
	// MaxListLen bounds Groups, Roles, Members, Attributes and LastUsed.
	// Default 100000.
	MaxListLen int
}

func (l Limits) withDefaults() Limits {
	if l.MaxKeyBytes <= 0 {
		l.MaxKeyBytes = 1024
	}
	if l.MaxFieldBytes <= 0 {
		l.MaxFieldBytes = 8192
	}
	if l.MaxListLen <= 0 {
		l.MaxListLen = 100000
	}
	return l
}

// ValidateRecord checks r against the limits (zero Limits: the defaults): a
// non-empty key, valid UTF-8 everywhere, no oversized field, known
// status, MFA state and account type.
// It returns a *RecordError, or nil.
func ValidateRecord(r Record, l Limits) error {
	if r == nil || isNilRecord(r) {
		return &RecordError{Reason: "nil record"}
	}
	l = l.withDefaults()
	key := r.recordKey()
	switch {
	case key == "":
		return &RecordError{Kind: r.recordKind(), Reason: "empty key"}
	case len(key) > l.MaxKeyBytes:
		return &RecordError{Kind: r.recordKind(), Key: key, Reason: fmt.Sprintf("key is %d bytes, limit %d", len(key), l.MaxKeyBytes)}
	case !utf8.ValidString(key):
		return &RecordError{Kind: r.recordKind(), Key: key, Reason: "key is not valid UTF-8"}
	}
	if reason := r.validate(l); reason != "" {
		return &RecordError{Kind: r.recordKind(), Key: key, Reason: reason}
	}
	return nil
}

func isNilRecord(r Record) bool {
	switch v := r.(type) {
	case *Identity:
		return v == nil
	case *Account:
		return v == nil
	case *Group:
		return v == nil
	}
	return false
}

// stringProblem says what is wrong with s, or "". It never allocates for a
// valid string: labels are built only for problems.
func stringProblem(l Limits, s string) string {
	if len(s) > l.MaxFieldBytes {
		return fmt.Sprintf("is %d bytes, limit %d", len(s), l.MaxFieldBytes)
	}
	if !utf8.ValidString(s) {
		return "is not valid UTF-8"
	}
	return ""
}

func checkString(l Limits, field, s string) string {
	if p := stringProblem(l, s); p != "" {
		return field + " " + p
	}
	return ""
}

func checkList(l Limits, field string, ss []string) string {
	if len(ss) > l.MaxListLen {
		return fmt.Sprintf("%s has %d entries, limit %d", field, len(ss), l.MaxListLen)
	}
	for _, s := range ss {
		if p := stringProblem(l, s); p != "" {
			return field + " entry " + p
		}
	}
	return ""
}

func checkAttrs(l Limits, m map[string]string) string {
	if len(m) > l.MaxListLen {
		return fmt.Sprintf("Attributes has %d entries, limit %d", len(m), l.MaxListLen)
	}
	for k, v := range m {
		if p := stringProblem(l, k); p != "" {
			return "attribute name " + p
		}
		if p := stringProblem(l, v); p != "" {
			return fmt.Sprintf("attribute %q %s", truncate(k, 40), p)
		}
	}
	return ""
}

func firstProblem(checks ...string) string {
	for _, c := range checks {
		if c != "" {
			return c
		}
	}
	return ""
}

const statusValues = "active, suspended, deprovisioned or not_started"

func (r *Identity) validate(l Limits) string {
	if !r.Status.valid() {
		return fmt.Sprintf("status %q is not %s", r.Status, statusValues)
	}
	if !r.MFA.valid() {
		return fmt.Sprintf("MFA state %q is not enabled, disabled or empty", r.MFA)
	}
	return firstProblem(
		checkString(l, "EmployeeID", r.EmployeeID), checkString(l, "ExternalID", r.ExternalID),
		checkString(l, "Email", r.Email), checkString(l, "Name", r.Name),
		checkString(l, "Manager", r.Manager), checkString(l, "Department", r.Department),
		checkString(l, "Title", r.Title), checkList(l, "Groups", r.Groups), checkAttrs(l, r.Attributes))
}

func (r *Account) validate(l Limits) string {
	if !r.Status.valid() {
		return fmt.Sprintf("status %q is not %s", r.Status, statusValues)
	}
	if !r.MFA.valid() {
		return fmt.Sprintf("MFA state %q is not enabled, disabled or empty", r.MFA)
	}
	if !r.Type.valid() {
		return fmt.Sprintf("account type %q is not human, service or empty", r.Type)
	}
	return firstProblem(
		checkString(l, "Username", r.Username), checkString(l, "OwnerEmail", r.OwnerEmail),
		checkString(l, "DisplayName", r.DisplayName), checkString(l, "EmployeeID", r.EmployeeID),
		checkString(l, "ExternalID", r.ExternalID), checkList(l, "Roles", r.Roles),
		checkLastUsed(l, r.LastUsed), checkAttrs(l, r.Attributes))
}

func checkLastUsed(l Limits, m map[string]time.Time) string {
	if len(m) > l.MaxListLen {
		return fmt.Sprintf("LastUsed has %d entries, limit %d", len(m), l.MaxListLen)
	}
	for k := range m {
		if p := stringProblem(l, k); p != "" {
			return "LastUsed credential ID " + p
		}
	}
	return ""
}

func (r *Group) validate(l Limits) string {
	return firstProblem(checkString(l, "Name", r.Name), checkList(l, "Members", r.Members))
}

// fingerprintVersion is the version of the definition of Fingerprint and
// of the volatile digest: which fields count, and how they are digested. A
// release that changes the definition increments it.
//
// A fingerprint carries the version it was computed with in its top eight
// bits; the low 56 bits are the digest:
//
//	bits 63..56  version (fingerprintVersionOf)
//	bits 55..0   digest of the record's kind, key and content
//
// When the engine meets stored fingerprints of another version, it
// recomputes them from the stored records before comparing them with a
// fresh read, and stores them again with the current version (without a
// change-log entry). So a release that changes the definition does not
// report every record as updated: only records whose content changed are.
// Package storage tells stores what they must preserve.
const fingerprintVersion = 1

const (
	fpVersionShift = 56
	fpDigestMask   = 1<<fpVersionShift - 1
)

// fingerprintVersionOf returns the version a fingerprint was computed
// with: fingerprintVersion for one computed by this release.
func fingerprintVersionOf(fp uint64) int { return int(fp >> fpVersionShift) }

// Fingerprint returns a stable 64-bit digest of a record's content: equal
// content gives an equal fingerprint in every process and in every release
// with the same definition of the fingerprint, whatever the order of attribute maps or
// of lists whose order carries no meaning (Groups, Roles, Members). Times
// are compared as instants. The top eight bits hold the version of the
// definition, which a release that changes it increments.
//
// Volatile fields are left out: Identity.LastLogin, Account.LastLogin and
// Account.LastUsed change all the time without anything changing about a
// person's access, so a change in them alone is not an update.
// They are digested apart (Change.Volatile, StoredRecord.Volatile), so that
// a store can be kept current without the change being reported.
func Fingerprint(r Record) uint64 {
	fp, _ := fingerprints(r)
	return fp
}

// volatileDigest returns a digest of a record's volatile fields (those
// Fingerprint leaves out), or 0 if it has none set: Group records and
// records without last-login or last-use times have 0.
func volatileDigest(r Record) uint64 {
	_, v := fingerprints(r)
	return v
}

// fingerprints returns Fingerprint and volatileDigest in one pass.
func fingerprints(r Record) (fp, volatile uint64) {
	h := newHasher()
	h.u64(uint64(r.recordKind().index())) // 1, 2, 3: the values RecordKind had when it was a number
	h.str(r.recordKey())
	// By value through the interface: a pointer would escape and cost an
	// allocation per record.
	h, volatile = r.fingerprint(h)
	return fingerprintVersion<<fpVersionShift | h.sum()&fpDigestMask, volatile
}

func (r *Identity) fingerprint(h hasher) (hasher, uint64) {
	h.str(r.EmployeeID)
	h.str(r.ExternalID)
	h.str(r.Email)
	h.str(r.Name)
	h.str(string(r.Status))
	h.str(r.Manager)
	h.str(r.Department)
	h.str(r.Title)
	h.time(r.StartDate)
	h.time(r.EndDate)
	h.str(string(r.MFA))
	h.set(r.Groups)
	h.attrs(r.Attributes)
	if r.LastLogin.IsZero() {
		return h, 0
	}
	v := newHasher()
	v.time(r.LastLogin)
	return h, nonZero(v.sum())
}

func (r *Account) fingerprint(h hasher) (hasher, uint64) {
	h.str(r.Username)
	h.str(r.OwnerEmail)
	h.str(r.DisplayName)
	h.str(string(r.Status))
	h.str(string(r.Type))
	h.str(r.EmployeeID)
	h.str(r.ExternalID)
	h.set(r.Roles)
	h.str(string(r.MFA))
	h.attrs(r.Attributes)
	if r.LastLogin.IsZero() && len(r.LastUsed) == 0 {
		return h, 0
	}
	v := newHasher()
	v.time(r.LastLogin)
	v.times(r.LastUsed)
	return h, nonZero(v.sum())
}

func (r *Group) fingerprint(h hasher) (hasher, uint64) {
	h.str(r.Name)
	h.set(r.Members)
	return h, 0
}

// nonZero keeps 0 for "no volatile fields".
func nonZero(v uint64) uint64 {
	if v == 0 {
		return 1
	}
	return v
}

// hasher digests fields eight bytes at a time (multiply and xor-shift per
// 64-bit word, little-endian, so the result is the same on every platform),
// with length-prefixed strings, plus an order-independent combination for
// sets and maps. It never allocates. The digest is part of the stored
// format: changing it needs a new fingerprintVersion.
type hasher struct{ h uint64 }

const (
	hashSeed  = 14695981039346656037
	hashPrime = 0x9e3779b97f4a7c15
)

func newHasher() hasher { return hasher{h: hashSeed} }

func (h *hasher) sum() uint64 { return mix(h.h) }

func step(x, v uint64) uint64 {
	x = (x ^ v) * hashPrime
	return x ^ x>>29
}

func (h *hasher) u64(v uint64) { h.h = step(h.h, v) }

func (h *hasher) time(t time.Time) {
	if t.IsZero() {
		h.u64(0)
		return
	}
	h.u64(1)
	h.u64(uint64(t.Unix()))
	h.u64(uint64(t.Nanosecond()))
}

func (h *hasher) str(s string) {
	x := step(h.h, uint64(len(s)))
	i := 0
	for ; i+8 <= len(s); i += 8 {
		v := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		x = step(x, v)
	}
	if i < len(s) {
		var v uint64
		for j := 0; i+j < len(s); j++ {
			v |= uint64(s[i+j]) << (8 * j)
		}
		x = step(x, v)
	}
	h.h = x
}

// mix is the splitmix64 finalizer: it spreads element hashes before they are
// summed so that a set's digest does not depend on element order.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

func strHash(s string) uint64 {
	e := newHasher()
	e.str(s)
	return e.sum()
}

func (h *hasher) set(ss []string) {
	var acc uint64
	for _, s := range ss {
		acc += strHash(s)
	}
	h.u64(uint64(len(ss)))
	h.u64(acc)
}

func (h *hasher) attrs(m map[string]string) {
	var acc uint64
	for k, v := range m {
		e := newHasher()
		e.str(k)
		e.str(v)
		acc += e.sum()
	}
	h.u64(uint64(len(m)))
	h.u64(acc)
}

func (h *hasher) times(m map[string]time.Time) {
	var acc uint64
	for k, t := range m {
		e := newHasher()
		e.str(k)
		e.time(t)
		acc += e.sum()
	}
	h.u64(uint64(len(m)))
	h.u64(acc)
}
