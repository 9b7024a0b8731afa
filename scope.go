package resync

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// ConnectionType is the category of a connected system: one of the
// thirteen constants below, whose values are stable lower-case names
// ("idp", "version_control", ...) that are safe to store and to put in
// configuration. The zero value is not a valid type.
type ConnectionType string

// The thirteen connection types of a compliance platform.
const (
	IdP                   ConnectionType = "idp"                    // identity provider (and its groups)
	HRIS                  ConnectionType = "hris"                   // HR information system
	Infrastructure        ConnectionType = "infrastructure"         // cloud infrastructure
	VersionControl        ConnectionType = "version_control"        // source code hosting
	MDM                   ConnectionType = "mdm"                    // mobile/device management
	PolicyManagement      ConnectionType = "policy_management"      // external policy management
	SecurityTraining      ConnectionType = "security_training"      // security awareness training
	Observability         ConnectionType = "observability"          // monitoring and logging
	VulnerabilityScanning ConnectionType = "vulnerability_scanning" // vulnerability scanners
	Offboarding           ConnectionType = "offboarding"            // offboarding tools
	BackgroundChecks      ConnectionType = "background_checks"      // background check providers
	ComplianceAsCode      ConnectionType = "compliance_as_code"     // compliance-as-code tools
	AccessReview          ConnectionType = "access_review"          // user access review (UAR)
)

var connectionTypes = [...]ConnectionType{
	IdP, HRIS, Infrastructure, VersionControl, MDM, PolicyManagement, SecurityTraining,
	Observability, VulnerabilityScanning, Offboarding, BackgroundChecks, ComplianceAsCode, AccessReview,
}

// AllConnectionTypes returns the thirteen connection types in declaration
// order: the classic personnel list.
func AllConnectionTypes() []ConnectionType { return slices.Clone(connectionTypes[:]) }

// Valid reports whether t is one of the thirteen defined types.
func (t ConnectionType) Valid() bool { return slices.Contains(connectionTypes[:], t) }

// typeList names the valid types for error messages.
func typeList() string {
	names := make([]string, len(connectionTypes))
	for i, t := range connectionTypes {
		names[i] = string(t)
	}
	return strings.Join(names, ", ")
}

// defaultPersonnelTypes is the default personnel scope: the types the
// product's "Resync Personnel" action covers.
func defaultPersonnelTypes() []ConnectionType {
	return []ConnectionType{IdP, HRIS, Infrastructure, VersionControl, SecurityTraining}
}

// AccountsTypes returns the connection types whose accounts may be resynced
// on their own with ResyncAccounts: AccessReview, Infrastructure and
// Observability.
func AccountsTypes() []ConnectionType {
	return []ConnectionType{AccessReview, Infrastructure, Observability}
}

// Connection is one configured instance of a provider for a tenant. The host
// owns connections and hands them to the engine through a ConnectionSource.
type Connection struct {
	// ID is stable for the life of the connection and unique within the tenant.
	ID string
	// Tenant is the tenant the connection belongs to.
	Tenant string
	// Type is the connection's category.
	Type ConnectionType
	// Provider names the product behind the connection ("okta", "aws", ...);
	// it selects the ConnectorFactory in Config.Connectors.
	Provider string
	// Name is a human-readable label ("AWS prod"), used in plans and notifications.
	Name string
	// Disabled connections are planned as skipped and never read.
	Disabled bool
	// Settings is passed to the connector factory unchanged. The engine
	// neither reads nor logs it. Secrets belong in the host's secret store;
	// put a reference here, not the secret.
	Settings map[string]string
}

// label returns Name, or Provider/ID when Name is empty.
func (c Connection) label() string {
	if c.Name != "" {
		return c.Name
	}
	return c.Provider + "/" + c.ID
}

// ScopeKind says which of the operations a Scope describes.
type ScopeKind string

// Scope kinds.
const (
	// ScopePersonnel refreshes every connection whose type is in Scope.Types.
	ScopePersonnel ScopeKind = "personnel"
	// ScopeAccounts refreshes the connections of one type (Scope.Types has
	// exactly one of AccountsTypes), optionally narrowed to providers or
	// connection IDs.
	ScopeAccounts ScopeKind = "accounts"
	// ScopeAll refreshes every connection of the tenant; scheduled syncs use it.
	ScopeAll ScopeKind = "all"
)

// Scope is what a run covers.
type Scope struct {
	Kind ScopeKind
	// Types: for ScopePersonnel the types to refresh (empty: the engine's
	// Config.PersonnelTypes); for ScopeAccounts exactly one type.
	Types []ConnectionType `json:",omitempty"`
	// Providers narrows an accounts scope to these providers.
	Providers []string `json:",omitempty"`
	// ConnectionIDs narrows an accounts scope to these connections. With both
	// Providers and ConnectionIDs set, a connection is selected if it matches either.
	ConnectionIDs []string `json:",omitempty"`
}

// PersonnelScope returns a personnel scope over types; with no types the
// engine's configured personnel types apply.
func PersonnelScope(types ...ConnectionType) Scope {
	return Scope{Kind: ScopePersonnel, Types: types}
}

// AccountsScope returns an accounts scope over one connection type: all its
// providers, or only the given ones. Use Scope.ConnectionIDs to select
// individual connections.
func AccountsScope(t ConnectionType, providers ...string) Scope {
	return Scope{Kind: ScopeAccounts, Types: []ConnectionType{t}, Providers: providers}
}

// String describes the scope for logs and notifications.
func (s Scope) String() string {
	var b strings.Builder
	b.WriteString(string(s.Kind))
	if len(s.Types) > 0 {
		names := make([]string, len(s.Types))
		for i, t := range s.Types {
			names[i] = string(t)
		}
		fmt.Fprintf(&b, " types=%s", strings.Join(names, ","))
	}
	if len(s.Providers) > 0 {
		fmt.Fprintf(&b, " providers=%s", strings.Join(s.Providers, ","))
	}
	if len(s.ConnectionIDs) > 0 {
		fmt.Fprintf(&b, " connections=%s", strings.Join(s.ConnectionIDs, ","))
	}
	return b.String()
}

// normalize validates s and returns a canonical copy (sorted, deduplicated,
// defaults filled) so that identical requests compare equal.
func (s Scope) normalize(personnelDefault []ConnectionType) (Scope, error) {
	out := Scope{Kind: s.Kind}
	switch s.Kind {
	case ScopePersonnel:
		types := s.Types
		if len(types) == 0 {
			types = personnelDefault
		}
		for _, t := range types {
			if !t.Valid() {
				return Scope{}, fmt.Errorf("%w: personnel scope has unknown connection type %q (want one of %s)", ErrInvalidRequest, t, typeList())
			}
		}
		out.Types = sortedUnique(types)
		if len(s.Providers) > 0 || len(s.ConnectionIDs) > 0 {
			return Scope{}, fmt.Errorf("%w: a personnel scope selects by type only; use an accounts scope to select providers or connections", ErrInvalidRequest)
		}
	case ScopeAccounts:
		if len(s.Types) != 1 {
			return Scope{}, fmt.Errorf("%w: an accounts scope names exactly one connection type, got %d", ErrInvalidRequest, len(s.Types))
		}
		t := s.Types[0]
		if !t.Valid() {
			return Scope{}, fmt.Errorf("%w: accounts scope has unknown connection type %q (want one of %s)", ErrInvalidRequest, t, typeList())
		}
		if !slices.Contains(AccountsTypes(), t) {
			return Scope{}, fmt.Errorf("%w: %s (accounts can be resynced for access_review, infrastructure and observability only)", ErrInvalidRequest, t)
		}
		out.Types = []ConnectionType{t}
		out.Providers = sortedUniqueStrings(s.Providers)
		out.ConnectionIDs = sortedUniqueStrings(s.ConnectionIDs)
		for _, p := range out.Providers {
			if p == "" {
				return Scope{}, fmt.Errorf("%w: empty provider name in selection", ErrInvalidRequest)
			}
		}
		for _, id := range out.ConnectionIDs {
			if id == "" {
				return Scope{}, fmt.Errorf("%w: empty connection ID in selection", ErrInvalidRequest)
			}
		}
	case ScopeAll:
		if len(s.Types) > 0 || len(s.Providers) > 0 || len(s.ConnectionIDs) > 0 {
			return Scope{}, fmt.Errorf("%w: a full scope takes no types, providers or connections", ErrInvalidRequest)
		}
	default:
		return Scope{}, fmt.Errorf("%w: unknown scope kind %q (want personnel, accounts or all)", ErrInvalidRequest, s.Kind)
	}
	return out, nil
}

// key returns a string equal for equal normalized scopes.
func (s Scope) key() string {
	parts := []string{string(s.Kind), strconv.Itoa(len(s.Types))}
	for _, t := range s.Types {
		parts = append(parts, string(t))
	}
	parts = append(parts, strconv.Itoa(len(s.Providers)))
	parts = append(parts, s.Providers...)
	parts = append(parts, s.ConnectionIDs...)
	return joinKey("scope", parts...)
}

// sortedUnique returns ts deduplicated, in declaration order.
func sortedUnique(ts []ConnectionType) []ConnectionType {
	out := slices.Clone(ts)
	slices.SortFunc(out, func(a, b ConnectionType) int {
		return cmp.Compare(slices.Index(connectionTypes[:], a), slices.Index(connectionTypes[:], b))
	})
	return slices.Compact(out)
}

func sortedUniqueStrings(ss []string) []string {
	if len(ss) == 0 {
		return nil
	}
	out := slices.Clone(ss)
	sort.Strings(out)
	return slices.Compact(out)
}

// Plan answers "what would this resync touch?" without starting it: the
// confirmation step of a UI ("This will resync Okta, GitHub, AWS prod").
type Plan struct {
	Tenant string
	Scope  Scope
	// Sync lists the connections the request would read, in the order the
	// host's ConnectionSource returned them.
	Sync []Connection
	// Skip lists the tenant's other connections and why each is left out.
	Skip []Skipped
}

// Skipped is a connection a plan leaves out, with the reason.
type Skipped struct {
	Connection Connection
	Reason     string
}

// plan selects the tenant's connections for a normalized scope. Selection of
// an unknown provider or connection ID is an error naming it.
func planScope(tenant string, s Scope, conns []Connection, hasConnector func(provider string) bool) (*Plan, error) {
	p := &Plan{Tenant: tenant, Scope: s}
	wantProvider := map[string]bool{}
	for _, pr := range s.Providers {
		wantProvider[pr] = false
	}
	wantID := map[string]bool{}
	for _, id := range s.ConnectionIDs {
		wantID[id] = false
	}
	seen := map[string]bool{}
	for _, c := range conns {
		if c.Tenant != tenant {
			return nil, fmt.Errorf("resync: connection source returned connection %q of tenant %q for tenant %q: refusing to cross tenants", c.ID, c.Tenant, tenant)
		}
		if c.ID == "" {
			return nil, fmt.Errorf("resync: connection source returned a connection with an empty ID (provider %q)", c.Provider)
		}
		if seen[c.ID] {
			return nil, fmt.Errorf("resync: connection source returned connection ID %q twice", c.ID)
		}
		seen[c.ID] = true
		if _, ok := wantProvider[c.Provider]; ok && s.Kind == ScopeAccounts && c.Type == s.Types[0] {
			wantProvider[c.Provider] = true
		}
		if _, ok := wantID[c.ID]; ok {
			if s.Kind == ScopeAccounts && c.Type != s.Types[0] {
				return nil, fmt.Errorf("%w: connection %q (%s) is of type %s, not %s", ErrInvalidRequest, c.ID, c.label(), c.Type, s.Types[0])
			}
			wantID[c.ID] = true
		}
		reason := ""
		switch {
		case !c.Type.Valid():
			reason = fmt.Sprintf("unknown connection type %q", c.Type)
		case s.Kind == ScopePersonnel && !slices.Contains(s.Types, c.Type):
			reason = fmt.Sprintf("type %s is not in the personnel scope", c.Type)
		case s.Kind == ScopeAccounts && c.Type != s.Types[0]:
			reason = fmt.Sprintf("type %s is not %s", c.Type, s.Types[0])
		case s.Kind == ScopeAccounts && (len(s.Providers) > 0 || len(s.ConnectionIDs) > 0) &&
			!slices.Contains(s.Providers, c.Provider) && !slices.Contains(s.ConnectionIDs, c.ID):
			reason = "not selected"
		case c.Disabled:
			reason = "connection is disabled"
		case !hasConnector(c.Provider):
			reason = fmt.Sprintf("no connector registered for provider %q", c.Provider)
		}
		if reason != "" {
			p.Skip = append(p.Skip, Skipped{Connection: c, Reason: reason})
			continue
		}
		p.Sync = append(p.Sync, c)
	}
	var unknown []error
	for _, pr := range s.Providers {
		if !wantProvider[pr] {
			unknown = append(unknown, fmt.Errorf("%w: tenant %q has no %s connection of provider %q", ErrInvalidRequest, tenant, s.Types[0], pr))
		}
	}
	for _, id := range s.ConnectionIDs {
		if !wantID[id] {
			unknown = append(unknown, fmt.Errorf("%w: tenant %q has no connection %q", ErrInvalidRequest, tenant, id))
		}
	}
	if len(unknown) > 0 {
		return nil, errors.Join(unknown...)
	}
	return p, nil
}
