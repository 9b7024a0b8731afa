package webhook

import (
	"maps"
	"time"

	"github.com/openresync/resync"
	"github.com/openresync/resync/notify"
)

// Version is the version of the payload format, sent in every payload's
// "version" field. Fields may be added within a version; a field is
// renamed, removed or changes meaning only in a new version.
const Version = 1

// Payload is the JSON body of every webhook request, version 1. Field
// names are snake_case; times are RFC 3339 in UTC; optional fields are
// omitted when empty. The body of one notification is the same on every
// delivery attempt (only the signature headers change), so a receiver may
// also deduplicate by body.
type Payload struct {
	// Version is the payload format's version: 1.
	Version int `json:"version"`
	// ID is the notification's idempotency key, also sent as the
	// webhook-id header: the same on every delivery of this notification.
	ID string `json:"id"`
	// Type is what happened: "run_started", "run_completed",
	// "changes_held" or "held_decided" (resync.NotificationKind).
	Type string `json:"type"`
	// Channel is how the engine meant the notification to reach people:
	// "in_app" or "email".
	Channel string `json:"channel"`
	// Tenant is the host's tenant ID.
	Tenant string `json:"tenant"`
	// Recipients are the people the notification is for.
	Recipients []Person `json:"recipients"`
	// Run is the run's state when the notification was made.
	Run Run `json:"run"`
	// Held is the held change set, for "changes_held" and "held_decided".
	Held *Held `json:"held,omitempty"`
}

// Person is a user of the host (a resync.Principal).
type Person struct {
	ID    string `json:"id"`
	Email string `json:"email,omitempty"`
	Name  string `json:"name,omitempty"`
	// System is true for the scheduler's principal.
	System bool `json:"system,omitempty"`
}

// Run is a run's state.
type Run struct {
	ID string `json:"id"`
	// Scope says what the run covers.
	Scope Scope `json:"scope"`
	// Trigger is "adhoc" or "scheduled".
	Trigger   string `json:"trigger"`
	Initiator Person `json:"initiator"`
	// Requesters are everyone whose request the run serves, the initiator
	// first.
	Requesters []Person `json:"requesters,omitempty"`
	// Status is "pending", "running", "succeeded", "partial", "failed",
	// "canceled" or "interrupted".
	Status      string       `json:"status"`
	CreatedAt   time.Time    `json:"created_at"`
	FinishedAt  *time.Time   `json:"finished_at,omitempty"`
	Connections []Connection `json:"connections"`
	// Findings counts the findings the run opened, by kind
	// ("offboarding_gap", "orphaned", "no_mfa", "unused"), when accounts
	// are linked to people after each run (package linking); omitted
	// when it opened none.
	Findings map[string]int `json:"findings,omitempty"`
}

// Scope is what a run covers.
type Scope struct {
	// Kind is "personnel", "accounts" or "all".
	Kind string `json:"kind"`
	// Types are connection types ("idp", "hris", ...).
	Types         []string `json:"types,omitempty"`
	Providers     []string `json:"providers,omitempty"`
	ConnectionIDs []string `json:"connection_ids,omitempty"`
}

// Connection is one connection's result in a run.
type Connection struct {
	ID       string `json:"id"`
	Provider string `json:"provider"`
	Type     string `json:"type"`
	Name     string `json:"name,omitempty"`
	// Status is "pending", "running", "succeeded", "failed", "held",
	// "canceled", "applied", "rejected", "superseded" or "throttled".
	Status string `json:"status"`
	// Read counts records read (rejected ones included).
	Read      int `json:"read"`
	Added     int `json:"added"`
	Updated   int `json:"updated"`
	Removed   int `json:"removed"`
	Unchanged int `json:"unchanged"`
	// Rejected counts records that failed validation; RejectedSamples
	// gives the first few reasons.
	Rejected        int      `json:"rejected"`
	RejectedSamples []string `json:"rejected_samples,omitempty"`
	// HeldID names the held change set of a "held" connection (and of one
	// decided since).
	HeldID string `json:"held_id,omitempty"`
	// Decision is the decision on the held change set, once made.
	Decision *Decision `json:"decision,omitempty"`
	// Error says what failed, for "failed", "held", "throttled" and
	// "canceled".
	Error string `json:"error,omitempty"`
	// RetryAt is when a "throttled" connection's provider answers again.
	RetryAt    *time.Time `json:"retry_at,omitempty"`
	StartedAt  *time.Time `json:"started_at,omitempty"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
}

// Held is a change set the delete guard held for an admin's decision.
type Held struct {
	ID           string    `json:"id"`
	ConnectionID string    `json:"connection_id"`
	RunID        string    `json:"run_id"`
	Added        int       `json:"added"`
	Updated      int       `json:"updated"`
	Removed      int       `json:"removed"`
	Reason       string    `json:"reason"`
	CreatedAt    time.Time `json:"created_at"`
	// Decision is set once the set was approved, rejected or superseded.
	Decision *Decision `json:"decision,omitempty"`
}

// Decision is the resolution of a held change set.
type Decision struct {
	// Kind is "applied" (approved), "rejected" or "superseded".
	Kind   string    `json:"kind"`
	By     Person    `json:"by"`
	At     time.Time `json:"at"`
	Reason string    `json:"reason,omitempty"`
}

// NewPayload returns the payload the Notifier sends for n.
func NewPayload(n resync.Notification) Payload {
	p := Payload{
		Version:    Version,
		ID:         notify.Key(n),
		Type:       string(n.Kind),
		Channel:    string(n.Channel),
		Tenant:     n.Tenant,
		Recipients: people(n.Recipients),
		Run:        run(n.Run),
	}
	if p.Recipients == nil {
		p.Recipients = []Person{}
	}
	if h := n.Held; h != nil {
		p.Held = &Held{
			ID: h.ID, ConnectionID: h.ConnectionID, RunID: h.RunID,
			Added: h.Added, Updated: h.Updated, Removed: h.Removed,
			Reason: h.Reason, CreatedAt: h.CreatedAt.UTC(), Decision: decision(h.Decision),
		}
	}
	return p
}

func person(p resync.Principal) Person {
	return Person{ID: p.ID, Email: p.Email, Name: p.Name, System: p.System}
}

func people(ps []resync.Principal) []Person {
	if len(ps) == 0 {
		return nil
	}
	out := make([]Person, len(ps))
	for i, p := range ps {
		out[i] = person(p)
	}
	return out
}

func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

func decision(d resync.Decision) *Decision {
	if d.Kind == "" {
		return nil
	}
	return &Decision{Kind: string(d.Kind), By: person(d.By), At: d.At.UTC(), Reason: d.Reason}
}

func strs[S ~string](in []S) []string {
	if len(in) == 0 {
		return nil
	}
	out := make([]string, len(in))
	for i, s := range in {
		out[i] = string(s)
	}
	return out
}

func run(r resync.RunInfo) Run {
	out := Run{
		ID: r.ID,
		Scope: Scope{
			Kind: string(r.Scope.Kind), Types: strs(r.Scope.Types),
			Providers: strs(r.Scope.Providers), ConnectionIDs: strs(r.Scope.ConnectionIDs),
		},
		Trigger:     string(r.Trigger),
		Initiator:   person(r.Initiator),
		Requesters:  people(r.Requesters),
		Status:      string(r.Status),
		CreatedAt:   r.CreatedAt.UTC(),
		FinishedAt:  optTime(r.FinishedAt),
		Connections: make([]Connection, len(r.Connections)),
		Findings:    maps.Clone(r.Findings),
	}
	for i, c := range r.Connections {
		out.Connections[i] = Connection{
			ID: c.ConnectionID, Provider: c.Provider, Type: string(c.Type), Name: c.Name, Status: string(c.Status),
			Read: c.Read, Added: c.Added, Updated: c.Updated, Removed: c.Removed, Unchanged: c.Unchanged,
			Rejected: c.Rejected, RejectedSamples: c.RejectedSamples,
			HeldID: c.HeldID, Decision: decision(c.Decision), Error: c.Error,
			RetryAt: optTime(c.RetryAt), StartedAt: optTime(c.StartedAt), FinishedAt: optTime(c.FinishedAt),
		}
	}
	return out
}
