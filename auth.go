package resync

import (
	"context"
	"fmt"
)

// Principal is who asks for a run: an admin of the tenant, or the system
// itself for scheduled syncs.
type Principal struct {
	// ID is the host's user ID ("" for the system principal).
	ID string
	// Email receives the completion email of an accounts resync.
	Email string `json:",omitempty"`
	// Name is shown in notifications.
	Name string `json:",omitempty"`
	// System marks the scheduler's principal. Authorizers should allow it
	// only for scheduled operations.
	System bool `json:",omitempty"`
}

// SystemPrincipal is the principal of scheduled syncs.
var SystemPrincipal = Principal{ID: "system", Name: "resync scheduler", System: true}

// label returns the email, name or ID, whichever is set first.
func (p Principal) label() string {
	switch {
	case p.Email != "":
		return p.Email
	case p.Name != "":
		return p.Name
	}
	return p.ID
}

// Action is what an Authorizer is asked to allow.
type Action string

// Actions.
const (
	ActionResyncPersonnel Action = "resync_personnel" // start (or plan) a personnel resync
	ActionResyncAccounts  Action = "resync_accounts"  // start (or plan) an accounts resync
	ActionResyncAll       Action = "resync_all"       // start a full sync (scheduled)
	ActionReviewHeld      Action = "review_held"      // approve or reject a held change set
	ActionViewRuns        Action = "view_runs"        // read runs, held change sets and the change log
	ActionCheckConnection Action = "check_connection" // test a connection's credentials (reads the provider)
	ActionEraseData       Action = "erase_data"       // erase a person's data, delete a tenant's, prune old history
	ActionViewRecords     Action = "view_records"     // read stored identities, accounts and groups (Engine.Records, Engine.Person), links and findings
	ActionLinkAccounts    Action = "link_accounts"    // link, unlink or mark accounts (package linking), and correlate again
)

// Authorizer decides whether a principal may perform an action on a tenant.
// In the product, only the tenant's admins may resync.
//
// Contract: return (true, nil) to allow, (false, nil) to deny (the engine
// returns ErrForbidden and starts nothing), and a non-nil error when the
// decision could not be made (the engine returns it, wrapped, and starts
// nothing). Must be safe for concurrent use.
type Authorizer interface {
	Authorize(ctx context.Context, tenant string, p Principal, a Action) (bool, error)
}

// Directory lists a tenant's admins: the recipients of a personnel resync's
// completion email and of delete-guard alerts. Must be safe for concurrent use.
type Directory interface {
	Admins(ctx context.Context, tenant string) ([]Principal, error)
}

// ConnectionSource tells the engine a tenant's connections; the host keeps
// them in its own database.
//
// Contract: return every connection of the tenant (disabled ones included,
// so plans can show them as skipped), each with Tenant set to tenant and a
// unique ID. Return an error wrapping ErrNotFound for a tenant that does
// not exist. Must be safe for concurrent use.
type ConnectionSource interface {
	Connections(ctx context.Context, tenant string) ([]Connection, error)
}

func (e *Engine) authorize(ctx context.Context, tenant string, p Principal, a Action) error {
	ok, err := e.cfg.Authorizer.Authorize(ctx, tenant, p, a)
	if err != nil {
		return fmt.Errorf("resync: authorizing %s for %s on tenant %q: %w", a, p.label(), tenant, err)
	}
	if !ok {
		return fmt.Errorf("%w: %s may not %s on tenant %q", ErrForbidden, p.label(), a, tenant)
	}
	return nil
}

func scopeAction(k ScopeKind) Action {
	switch k {
	case ScopePersonnel:
		return ActionResyncPersonnel
	case ScopeAccounts:
		return ActionResyncAccounts
	}
	return ActionResyncAll
}
