package resync

import (
	"encoding/json"
	"fmt"
	"time"
	"unicode/utf8"
)

// RecordKind tells Identity, Account and Group records apart.
type RecordKind uint8

// Record kinds.
const (
	KindIdentity RecordKind = iota + 1
	KindAccount
	KindGroup
)

// String returns "identity", "account" or "group".
func (k RecordKind) String() string {
	switch k {
	case KindIdentity:
		return "identity"
	case KindAccount:
		return "account"
	case KindGroup:
		return "group"
	}
	return fmt.Sprintf("RecordKind(%d)", uint8(k))
}

// ParseRecordKind parses the String form of a RecordKind.
func ParseRecordKind(s string) (RecordKind, error) {
	for _, k := range []RecordKind{KindIdentity, KindAccount, KindGroup} {
		if k.String() == s {
			return k, nil
		}
	}
	return 0, fmt.Errorf("resync: unknown record kind %q", s)
}

// MarshalText implements encoding.TextMarshaler; an invalid kind is an error.
func (k RecordKind) MarshalText() ([]byte, error) {
	if k < KindIdentity || k > KindGroup {
		return nil, fmt.Errorf("resync: invalid record kind %d", uint8(k))
	}
	return []byte(k.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (k *RecordKind) UnmarshalText(b []byte) error {
	v, err := ParseRecordKind(string(b))
	*k = v
	return err
}

// Record is what a connector yields: *Identity, *Account or *Group. Within
// one connection a record is identified by its kind and key; the key must be
// stable at the provider (an immutable user ID, not an email that changes).
type Record interface {
	// RecordKind returns the record's kind.
	RecordKind() RecordKind
	// RecordKey returns the provider-stable key.
	RecordKey() string

	fingerprint(h hasher) hasher
	validate(l Limits) string
}

// LifecycleStatus is where a person or an account stands in its
// lifecycle at the system that reports it: not a run's or a sync's status
// (see RunStatus and ConnectionStatus for those).
type LifecycleStatus string

// Lifecycle statuses.
const (
	StatusActive        LifecycleStatus = "active"
	StatusSuspended     LifecycleStatus = "suspended"
	StatusDeprovisioned LifecycleStatus = "deprovisioned"
)

func (s LifecycleStatus) valid() bool {
	return s == StatusActive || s == StatusSuspended || s == StatusDeprovisioned
}

// MFAState says whether an account has multi-factor authentication.
type MFAState string

// MFA states. The zero value means the provider does not say.
const (
	MFAUnknown  MFAState = ""
	MFAEnabled  MFAState = "enabled"
	MFADisabled MFAState = "disabled"
)

// Identity is a person as a system of record (IdP, HRIS) knows them.
type Identity struct {
	Key        string
	Email      string `json:",omitempty"`
	Name       string `json:",omitempty"`
	Status     LifecycleStatus
	Manager    string            `json:",omitempty"` // the manager's identity key or email
	Department string            `json:",omitempty"`
	Title      string            `json:",omitempty"`
	StartDate  time.Time         `json:",omitzero"`
	EndDate    time.Time         `json:",omitzero"`
	Groups     []string          `json:",omitempty"` // group keys; order carries no meaning
	Attributes map[string]string `json:",omitempty"`
}

// Account is a login in a system (a cloud IAM user, a GitHub member, a UAR entry).
type Account struct {
	Key         string
	Username    string `json:",omitempty"`
	OwnerEmail  string `json:",omitempty"` // email of the person who holds it, when known
	DisplayName string `json:",omitempty"`
	Status      LifecycleStatus
	Roles       []string          `json:",omitempty"` // order carries no meaning
	MFA         MFAState          `json:",omitempty"`
	LastLogin   time.Time         `json:",omitzero"`
	Attributes  map[string]string `json:",omitempty"`
}

// Group is a named set of members (identity or account keys).
type Group struct {
	Key     string
	Name    string   `json:",omitempty"`
	Members []string `json:",omitempty"` // order carries no meaning
}

// RecordKind implements Record.
func (*Identity) RecordKind() RecordKind { return KindIdentity }

// RecordKey implements Record.
func (r *Identity) RecordKey() string { return r.Key }

// RecordKind implements Record.
func (*Account) RecordKind() RecordKind { return KindAccount }

// RecordKey implements Record.
func (r *Account) RecordKey() string { return r.Key }

// RecordKind implements Record.
func (*Group) RecordKind() RecordKind { return KindGroup }

// RecordKey implements Record.
func (r *Group) RecordKey() string { return r.Key }

var (
	_ Record = (*Identity)(nil)
	_ Record = (*Account)(nil)
	_ Record = (*Group)(nil)
)

// Limits bound what a record may contain; records beyond them are rejected
// (DESIGN rule 6). The zero value of a field means its default.
type Limits struct {
	// MaxKeyBytes bounds a record key. Default 1024.
	MaxKeyBytes int
	// MaxFieldBytes bounds every other string (and each list element,
	// attribute name and value). Default 8192.
	MaxFieldBytes int
	// MaxListLen bounds Groups, Roles, Members and Attributes. Default 100000.
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
// non-empty key, valid UTF-8 everywhere, no oversized field, a known status.
// It returns a *RecordError, or nil.
func ValidateRecord(r Record, l Limits) error {
	if r == nil || isNilRecord(r) {
		return &RecordError{Reason: "nil record"}
	}
	l = l.withDefaults()
	key := r.RecordKey()
	switch {
	case key == "":
		return &RecordError{Kind: r.RecordKind(), Reason: "empty key"}
	case len(key) > l.MaxKeyBytes:
		return &RecordError{Kind: r.RecordKind(), Key: key, Reason: fmt.Sprintf("key is %d bytes, limit %d", len(key), l.MaxKeyBytes)}
	case !utf8.ValidString(key):
		return &RecordError{Kind: r.RecordKind(), Key: key, Reason: "key is not valid UTF-8"}
	}
	if reason := r.validate(l); reason != "" {
		return &RecordError{Kind: r.RecordKind(), Key: key, Reason: reason}
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

func (r *Identity) validate(l Limits) string {
	if !r.Status.valid() {
		return fmt.Sprintf("status %q is not active, suspended or deprovisioned", r.Status)
	}
	return firstProblem(
		checkString(l, "Email", r.Email), checkString(l, "Name", r.Name),
		checkString(l, "Manager", r.Manager), checkString(l, "Department", r.Department),
		checkString(l, "Title", r.Title), checkList(l, "Groups", r.Groups), checkAttrs(l, r.Attributes))
}

func (r *Account) validate(l Limits) string {
	if !r.Status.valid() {
		return fmt.Sprintf("status %q is not active, suspended or deprovisioned", r.Status)
	}
	if r.MFA != MFAUnknown && r.MFA != MFAEnabled && r.MFA != MFADisabled {
		return fmt.Sprintf("MFA state %q is not enabled, disabled or empty", r.MFA)
	}
	return firstProblem(
		checkString(l, "Username", r.Username), checkString(l, "OwnerEmail", r.OwnerEmail),
		checkString(l, "DisplayName", r.DisplayName), checkList(l, "Roles", r.Roles), checkAttrs(l, r.Attributes))
}

func (r *Group) validate(l Limits) string {
	return firstProblem(checkString(l, "Name", r.Name), checkList(l, "Members", r.Members))
}

// MarshalRecord encodes a record as JSON, for stores. UnmarshalRecord with
// the record's kind decodes it.
func MarshalRecord(r Record) ([]byte, error) { return json.Marshal(r) }

// UnmarshalRecord decodes a record of the given kind encoded by MarshalRecord.
func UnmarshalRecord(kind RecordKind, data []byte) (Record, error) {
	var r Record
	switch kind {
	case KindIdentity:
		r = new(Identity)
	case KindAccount:
		r = new(Account)
	case KindGroup:
		r = new(Group)
	default:
		return nil, fmt.Errorf("resync: unknown record kind %d", uint8(kind))
	}
	if err := json.Unmarshal(data, r); err != nil {
		return nil, fmt.Errorf("resync: decoding %s record: %w", kind, err)
	}
	return r, nil
}

// Fingerprint returns a stable 64-bit digest of a record's content: equal
// content gives an equal fingerprint in every process and release, whatever
// the order of attribute maps or of lists whose order carries no meaning
// (Groups, Roles, Members). Times are compared as instants.
func Fingerprint(r Record) uint64 {
	h := newHasher()
	h.u64(uint64(r.RecordKind()))
	h.str(r.RecordKey())
	// By value through the interface: a pointer would escape and cost an
	// allocation per record.
	h = r.fingerprint(h)
	return h.sum()
}

func (r *Identity) fingerprint(h hasher) hasher {
	h.str(r.Email)
	h.str(r.Name)
	h.str(string(r.Status))
	h.str(r.Manager)
	h.str(r.Department)
	h.str(r.Title)
	h.time(r.StartDate)
	h.time(r.EndDate)
	h.set(r.Groups)
	h.attrs(r.Attributes)
	return h
}

func (r *Account) fingerprint(h hasher) hasher {
	h.str(r.Username)
	h.str(r.OwnerEmail)
	h.str(r.DisplayName)
	h.str(string(r.Status))
	h.set(r.Roles)
	h.str(string(r.MFA))
	h.time(r.LastLogin)
	h.attrs(r.Attributes)
	return h
}

func (r *Group) fingerprint(h hasher) hasher {
	h.str(r.Name)
	h.set(r.Members)
	return h
}

// hasher digests fields eight bytes at a time (multiply and xor-shift per
// 64-bit word, little-endian, so the result is the same on every platform),
// with length-prefixed strings, plus an order-independent combination for
// sets and maps. It never allocates. The digest is part of the stored
// format: changing it makes every stored fingerprint differ once.
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
