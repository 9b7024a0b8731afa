package linking

import (
	"time"

	"github.com/openresync/resync"
)

// Rule is one way of linking an account to a person. Config.Rules lists
// them per connection, in the order they are tried.
type Rule string

// Rules. An admin's decision (Decision) comes before all of them.
const (
	// RuleManual is reported on a link an admin made (Decide); it is not
	// configured.
	RuleManual Rule = "manual"
	// RuleExternalID: the account's ExternalID (the owner at their
	// identity provider: an SSO subject, an IdP user ID) is the Key or
	// the ExternalID of one of the person's identities.
	RuleExternalID Rule = "external_id"
	// RuleEmployeeID: the account's EmployeeID is one of the person's.
	RuleEmployeeID Rule = "employee_id"
	// RuleEmail: the account's OwnerEmail (or its Username, when that is
	// an email address) is one of the person's work emails, compared by
	// NormalizeEmail: ignoring case, a "+tag" and configured domain
	// aliases.
	RuleEmail Rule = "email"
	// RuleUsername: the account's Username is the local part of one of
	// the person's work emails, or an identity's "username" attribute,
	// ignoring case. Usernames collide across people more than anything
	// else; it is not among the default rules.
	RuleUsername Rule = "username"
)

// DefaultRules are the rules of a connection Config.Rules says nothing
// about: the provider's identity reference, then employee ID, then work
// email.
func DefaultRules() []Rule { return []Rule{RuleExternalID, RuleEmployeeID, RuleEmail} }

// Situation is where an account stands with respect to the people of its
// tenant.
type Situation string

// Situations.
const (
	// Linked: the account belongs to one person, who is not offboarded
	// (or the account is not active).
	Linked Situation = "linked"
	// Unlinked: no person matches the account (an orphaned account), or
	// an admin said it belongs to no one.
	Unlinked Situation = "unlinked"
	// Ambiguous: the first rule that matched found more than one person.
	// The account is not linked to any of them (never guessed); Link's
	// Candidates lists them.
	Ambiguous Situation = "ambiguous"
	// OffboardingGap: the account is active and belongs to a person who
	// is deprovisioned at the identity provider, terminated at the HRIS
	// or past their end date.
	OffboardingGap Situation = "offboarding_gap"
	// ServiceAccount: a program's account (the provider's
	// resync.AccountTypeService, Config.ServiceAccount, or an admin's
	// decision): listed, never a gap or an orphan.
	ServiceAccount Situation = "service_account"
)

// Link is the correlation of one account: its situation and, when linked,
// its person.
type Link struct {
	// Tenant, ConnectionID and AccountKey name the account.
	Tenant       string
	ConnectionID string
	AccountKey   string
	// Situation is where the account stands.
	Situation Situation
	// PersonID is the person the account belongs to (Linked and
	// OffboardingGap; also a ServiceAccount an admin linked), as
	// Person.ID gives it.
	PersonID string `json:",omitempty"`
	// Rule is what decided: the rule that matched, RuleManual for an
	// admin's decision, "" for an account nothing matched.
	Rule Rule `json:",omitempty"`
	// Candidates are the people an Ambiguous account matched, sorted.
	Candidates []string `json:",omitempty"`
	// Active says the account's status is resync.StatusActive.
	Active bool `json:",omitempty"`
	// UpdatedAt and RunID say when, and by which run ("" for a
	// correlation outside a run), the link last changed.
	UpdatedAt time.Time
	RunID     string `json:",omitempty"`
}

// FindingKind names a kind of finding.
type FindingKind string

// Finding kinds.
const (
	// FindingOffboardingGap: an account in the OffboardingGap situation.
	FindingOffboardingGap FindingKind = "offboarding_gap"
	// FindingOrphaned: an active account in the Unlinked situation.
	FindingOrphaned FindingKind = "orphaned"
	// FindingNoMFA: an active account (not a service account) whose
	// provider reports MFA disabled.
	FindingNoMFA FindingKind = "no_mfa"
	// FindingUnused: an active account whose provider reports its last
	// login (or last credential use), and that was Config.UnusedAfter
	// ago or longer.
	FindingUnused FindingKind = "unused"
)

// Finding is one episode of a condition on one account: it opens when a
// correlation first sees the condition and closes when one no longer
// does; a later recurrence is a new finding. Closed findings are kept, so
// the findings are the log of what was learned when.
type Finding struct {
	// Seq identifies the finding within its store; it increases with
	// every finding opened.
	Seq int64
	// Tenant, Kind, ConnectionID and AccountKey say what was found where.
	Tenant       string
	Kind         FindingKind
	ConnectionID string
	AccountKey   string
	// PersonID is the account's person, when linked.
	PersonID string `json:",omitempty"`
	// Detail says why, for people ("deprovisioned at okta-main",
	// "last login 2026-01-02").
	Detail string `json:",omitempty"`
	// OpenedAt and OpenedRun: when, and in which run, it was first seen.
	OpenedAt  time.Time
	OpenedRun string `json:",omitempty"`
	// ConfirmedAt and ConfirmedRun: the last correlation that saw it.
	ConfirmedAt  time.Time
	ConfirmedRun string `json:",omitempty"`
	// ClosedAt and ClosedRun: when, and in which run, it was no longer
	// seen; zero while open.
	ClosedAt  time.Time `json:",omitzero"`
	ClosedRun string    `json:",omitempty"`
}

// Open reports whether the finding is open.
func (f Finding) Open() bool { return f.ClosedAt.IsZero() }

// DecisionKind is what an admin decided about an account.
type DecisionKind string

// Decision kinds.
const (
	// DecideLink links the account to Decision.Person, whatever the rules
	// say.
	DecideLink DecisionKind = "link"
	// DecideUnlink says the account belongs to no one: it stays Unlinked
	// (an orphaned account) whatever the rules say.
	DecideUnlink DecisionKind = "unlink"
	// DecideService marks the account as a service account; with
	// Decision.Person set it is linked to that person (its owner) too.
	DecideService DecisionKind = "service"
	// DecideClear undoes the account's earlier decision: the rules decide
	// again.
	DecideClear DecisionKind = "clear"
)

// Decision is an admin's decision on one account. Decisions are kept as a
// log: an account's current decision is its latest, and a DecideClear
// ends it. Resyncs and correlations never change them.
type Decision struct {
	// Seq orders the tenant's decisions; the store sets it.
	Seq int64
	// Tenant, ConnectionID and AccountKey name the account.
	Tenant       string
	ConnectionID string
	AccountKey   string
	// Kind is what was decided.
	Kind DecisionKind
	// Person is the person's ID (Person.ID) or the reference of any of
	// their identities (IdentityRef), for DecideLink and optionally
	// DecideService.
	Person string `json:",omitempty"`
	// By, At and Reason: who decided, when and why (required).
	By     resync.Principal
	At     time.Time
	Reason string
}

// Person is the join of the identities of one person across the tenant's
// IdP and HRIS connections: identities sharing a work email (by
// NormalizeEmail) or an employee ID.
//
// Where its sources disagree, the HRIS decides employment (Status,
// StartDate, EndDate) and the IdP login (LoginStatus, MFA, LastLogin).
type Person struct {
	// ID is the reference (IdentityRef) of the person's first identity
	// in the order HRIS before IdP, then connection ID, then key: stable
	// while that identity is kept.
	ID string
	// Name and Email come from the HRIS when it has them, else the IdP.
	Name  string `json:",omitempty"`
	Email string `json:",omitempty"`
	// EmployeeID is the first employee ID of the person's identities.
	EmployeeID string `json:",omitempty"`
	// Status is the employment status: the HRIS record of the latest
	// employment (an active record before others, then the latest
	// StartDate: a rehire's new record), else the IdP's.
	Status resync.LifecycleStatus
	// StartDate and EndDate are of that HRIS record.
	StartDate time.Time `json:",omitzero"`
	EndDate   time.Time `json:",omitzero"`
	// LoginStatus is the IdP's: active if any IdP identity is active,
	// else suspended if one is, else deprovisioned (an IdP user deleted
	// counts as deprovisioned); "" without an IdP identity.
	LoginStatus resync.LifecycleStatus `json:",omitempty"`
	// Offboarded is the person being deprovisioned at the IdP,
	// terminated at the HRIS, or past their EndDate, at the time of the
	// correlation; OffboardedWhy says which.
	Offboarded    bool   `json:",omitempty"`
	OffboardedWhy string `json:",omitempty"`
	// Identities are the person's identity records, removed ones
	// included.
	Identities []resync.StoredRecord
}

// Access is a person's access across every system: the person and their
// accounts.
type Access struct {
	Person   Person
	Accounts []AccountAccess
}

// AccountAccess is one account with its link.
type AccountAccess struct {
	Link    Link
	Account resync.StoredRecord
}

// AccountRef names one account of a tenant.
type AccountRef struct {
	ConnectionID string
	AccountKey   string
}

// LinkQuery selects links. Zero fields do not filter.
type LinkQuery struct {
	// Tenant is set by the Linker from its tenant argument.
	Tenant       string
	ConnectionID string
	Situation    Situation
	PersonID     string
	// AccountKeys, with ConnectionID, selects the links of these
	// accounts of the connection only (at most 1000 keys; nil: every
	// account).
	AccountKeys []string
	// Cursor continues a listing: the next cursor a page returned.
	Cursor string
	// Limit bounds a page: 0 means 100, at most 1000.
	Limit int
	// After is the store's position (the Linker sets it from Cursor):
	// links sort by connection ID then account key, and a page starts
	// after this one. With an empty AccountKey (no account has one), it
	// starts after every link of After.ConnectionID.
	After AccountRef `json:"-"`
}

// FindingQuery selects findings. Zero fields do not filter.
type FindingQuery struct {
	// Tenant is set by the Linker from its tenant argument.
	Tenant       string
	Kind         FindingKind
	ConnectionID string
	AccountKey   string
	PersonID     string
	// OpenOnly selects open findings only.
	OpenOnly bool
	// OpenedRun selects the findings a run opened.
	OpenedRun string
	// Since and Until select the findings opened or closed within
	// [Since, Until).
	Since, Until time.Time
	// AfterSeq continues a listing: findings are listed by Seq, and a
	// page starts after this one.
	AfterSeq int64
	// Limit bounds a page: 0 means 100, at most 1000.
	Limit int
}

// DecisionQuery selects decisions. Zero fields do not filter.
type DecisionQuery struct {
	// Tenant is set by the Linker from its tenant argument.
	Tenant       string
	ConnectionID string
	AccountKey   string
	// Current selects each account's latest decision only, and only when
	// it is not a DecideClear.
	Current bool
	// AfterSeq continues a listing, by Seq.
	AfterSeq int64
	// Limit bounds a page; 0 means no bound.
	Limit int
}

// Write is what one correlation stores, atomically: links put and
// deleted, findings opened, closed and confirmed.
type Write struct {
	Tenant string
	// RunID and At: the run ("" outside one) and time of the
	// correlation.
	RunID string
	At    time.Time
	// Put replaces or adds these links.
	Put []Link
	// PutNew says that none of the accounts in Put had a stored link
	// when the correlation read the connection's links (its first): a
	// store may insert them without looking for stored ones first, but
	// must still replace a link stored since, by another process.
	PutNew bool
	// Delete removes the links of these accounts.
	Delete []AccountRef
	// Open adds these findings (the store sets Seq; OpenedAt and the
	// other fields are set).
	Open []Finding
	// Close closes the open findings with these Seqs (ClosedAt = At,
	// ClosedRun = RunID).
	Close []int64
	// Confirm sets ConfirmedAt = At and ConfirmedRun = RunID on the open
	// findings with these Seqs.
	Confirm []int64
}
