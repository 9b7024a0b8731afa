package email

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/openresync/resync"
	"github.com/openresync/resync/notify"
)

// Data is what the templates render: the notification, and the facts a
// person needs from it already worded. Every string is plain text; the
// HTML template escapes it.
type Data struct {
	// Notification is the notification itself, for templates that need
	// more than the fields below.
	Notification resync.Notification
	// Kind is the notification's kind.
	Kind resync.NotificationKind
	// Tenant is the tenant's ID.
	Tenant string
	// Title is one line saying what happened, such as "Personnel resync
	// finished: partial (1 of 3 connections failed)". The default subject
	// is "[Tenant] Title".
	Title string
	// What names the resync: "Personnel resync (IdP, HRIS)", "Accounts
	// resync of Infrastructure (aws)", "Scheduled sync of all
	// connections".
	What string
	// StartedBy is who started it: a name and address, or "the daily
	// schedule".
	StartedBy string
	// Started and Finished are the run's times in Config.Location
	// ("2006-01-02 15:04 MST"); Finished is "" until the run ends, and
	// Duration with it.
	Started, Finished, Duration string
	// Status is the run's status ("succeeded", "partial", ...).
	Status resync.RunStatus
	// Outcome is a sentence on the result: how many connections
	// succeeded, failed or were held.
	Outcome string
	// Connections has a line per connection of the run.
	Connections []Connection
	// Held lists the change sets waiting for an admin's decision.
	Held []Held
	// Decision says, for NotifyHeldDecided, who decided what and why.
	Decision string
	// Link is Config.Link's address for the notification ("" without one).
	Link string
	// NewGaps is the number of offboarding gaps the run opened (its
	// RunInfo.Findings), for a completion; 0 otherwise.
	NewGaps int
	// Findings lists what the run opened, by kind, offboarding gaps
	// first, for a completion whose run opened any (RunInfo.Findings,
	// which package linking sets).
	Findings []Finding
}

// Finding is the number of findings of one kind a run opened, for the
// templates.
type Finding struct {
	// Kind is the finding kind ("offboarding_gap", "orphaned", "no_mfa",
	// "unused").
	Kind string
	// Count is how many the run opened.
	Count int
	// Text says it: "2 new offboarding gaps", "1 new orphaned account".
	Text string
	// Link is Config.FindingsLink's address of them ("" without one).
	Link string
}

// findingWords are the singular and plural of each kind's Text.
var findingWords = map[string][2]string{
	"offboarding_gap": {"new offboarding gap", "new offboarding gaps"},
	"orphaned":        {"new orphaned account", "new orphaned accounts"},
	"no_mfa":          {"new account without MFA", "new accounts without MFA"},
	"unused":          {"new unused account", "new unused accounts"},
}

// findingOrder is the order of the known kinds; others follow by name.
var findingOrder = []string{"offboarding_gap", "orphaned", "no_mfa", "unused"}

// findings words what the run opened, with Config.FindingsLink's
// addresses.
func (e *Notifier) findings(n resync.Notification) []Finding {
	kinds := slices.Sorted(maps.Keys(n.Run.Findings))
	slices.SortStableFunc(kinds, func(a, b string) int {
		ia, ib := slices.Index(findingOrder, a), slices.Index(findingOrder, b)
		if ia < 0 {
			ia = len(findingOrder)
		}
		if ib < 0 {
			ib = len(findingOrder)
		}
		return ia - ib
	})
	var out []Finding
	for _, k := range kinds {
		c := n.Run.Findings[k]
		if c <= 0 {
			continue
		}
		w, ok := findingWords[k]
		if !ok {
			w = [2]string{"new " + k + " finding", "new " + k + " findings"}
		}
		f := Finding{Kind: oneLine(k), Count: c, Text: oneLine(fmt.Sprintf("%d %s", c, w[min(c-1, 1)]))}
		if e.cfg.FindingsLink != nil {
			f.Link = oneLine(e.cfg.FindingsLink(n, k))
		}
		out = append(out, f)
	}
	return out
}

// Connection is one connection's result, for the templates.
type Connection struct {
	// Name is the connection's name, or its provider and ID.
	Name     string
	Provider string
	// Type is the connection type's name ("IdP", "Version control").
	Type string
	// Status is the connection's status ("succeeded", "failed", "held", ...).
	Status string
	// The record counts: read (rejected ones included), added, updated,
	// removed and rejected.
	Read, Added, Updated, Removed, Rejected int
	// RejectedSamples are the first reasons for rejected records.
	RejectedSamples []string
	// Error is what went wrong, for a connection that failed, was held or
	// throttled.
	Error string
}

// Held is a change set held by the delete guard, for the templates.
type Held struct {
	// Connection names the connection.
	Connection string
	// ID is the held change set's ID, for Engine.Approve or Engine.Reject.
	ID string
	// The counts of the held change set.
	Added, Updated, Removed int
	// Reason is why the delete guard held it.
	Reason string
}

var typeNames = map[resync.ConnectionType]string{
	resync.IdP: "IdP", resync.HRIS: "HRIS", resync.Infrastructure: "Infrastructure",
	resync.VersionControl: "Version control", resync.MDM: "MDM", resync.PolicyManagement: "Policy management",
	resync.SecurityTraining: "Security training", resync.Observability: "Observability",
	resync.VulnerabilityScanning: "Vulnerability scanning", resync.Offboarding: "Offboarding",
	resync.BackgroundChecks: "Background checks", resync.ComplianceAsCode: "Compliance as code",
	resync.AccessReview: "Access review",
}

func typeName(t resync.ConnectionType) string {
	if n, ok := typeNames[t]; ok {
		return n
	}
	return string(t)
}

func person(p resync.Principal) string {
	switch {
	case p.System:
		return "the daily schedule"
	case p.Name != "" && p.Email != "":
		return fmt.Sprintf("%s <%s>", p.Name, p.Email)
	case p.Name != "":
		return p.Name
	case p.Email != "":
		return p.Email
	}
	return "user " + p.ID
}

func what(r resync.RunInfo) string {
	types := make([]string, len(r.Scope.Types))
	for i, t := range r.Scope.Types {
		types[i] = typeName(t)
	}
	var s string
	switch r.Scope.Kind {
	case resync.ScopePersonnel:
		s = "Personnel resync"
		if len(types) > 0 {
			s += " (" + strings.Join(types, ", ") + ")"
		}
	case resync.ScopeAccounts:
		s = "Accounts resync"
		if len(types) > 0 {
			s += " of " + strings.Join(types, ", ")
		}
		if sel := append(append([]string{}, r.Scope.Providers...), r.Scope.ConnectionIDs...); len(sel) > 0 {
			s += " (" + strings.Join(sel, ", ") + ")"
		}
	default:
		s = "Sync of all connections"
	}
	if r.Trigger == resync.TriggerScheduled {
		s = "Scheduled " + strings.ToLower(s[:1]) + s[1:]
	}
	return s
}

func connName(c resync.ConnectionResult) string {
	if c.Name != "" {
		return oneLine(c.Name)
	}
	return oneLine(c.Provider + " " + c.ConnectionID)
}

// oneLine keeps a value from tenant or provider data on one line, so that
// it cannot forge the layout of a body (or, in the subject, a header).
func oneLine(s string) string { return notify.SafeHeader(s) }

func oneLines(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = oneLine(s)
	}
	return out
}

// data words n for the templates.
func (e *Notifier) data(n resync.Notification) Data {
	r := n.Run
	ts := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.In(e.cfg.Location).Format("2006-01-02 15:04 MST")
	}
	d := Data{
		Notification: n, Kind: n.Kind, Tenant: oneLine(n.Tenant),
		What: oneLine(what(r)), StartedBy: oneLine(person(r.Initiator)),
		Started: ts(r.CreatedAt), Finished: ts(r.FinishedAt), Status: r.Status,
	}
	if !r.FinishedAt.IsZero() && !r.CreatedAt.IsZero() {
		d.Duration = r.FinishedAt.Sub(r.CreatedAt).Round(time.Second).String()
	}
	if e.cfg.Link != nil {
		d.Link = oneLine(e.cfg.Link(n))
	}
	counts := map[resync.ConnectionStatus]int{}
	for _, c := range r.Connections {
		counts[c.Status]++
		d.Connections = append(d.Connections, Connection{
			Name: connName(c), Provider: oneLine(c.Provider), Type: oneLine(typeName(c.Type)), Status: string(c.Status),
			Read: c.Read, Added: c.Added, Updated: c.Updated, Removed: c.Removed, Rejected: c.Rejected,
			RejectedSamples: oneLines(c.RejectedSamples), Error: oneLine(c.Error),
		})
		if c.Status == resync.ConnHeld && (n.Held == nil || n.Held.ID != c.HeldID) {
			d.Held = append(d.Held, Held{Connection: connName(c), ID: oneLine(c.HeldID), Removed: c.Removed, Reason: oneLine(c.Error)})
		}
	}
	if h := n.Held; h != nil {
		name := h.ConnectionID
		for _, c := range r.Connections {
			if c.ConnectionID == h.ConnectionID {
				name = connName(c)
			}
		}
		if n.Kind == resync.NotifyChangesHeld {
			d.Held = append([]Held{{Connection: name, ID: oneLine(h.ID), Added: h.Added, Updated: h.Updated, Removed: h.Removed, Reason: oneLine(h.Reason)}}, d.Held...)
		}
		if dec := h.Decision; dec.Kind != "" {
			verb := map[resync.ConnectionStatus]string{resync.ConnApplied: "approved and applied", resync.ConnRejected: "rejected", resync.ConnSuperseded: "superseded by a later read"}[dec.Kind]
			if verb == "" {
				verb = string(dec.Kind)
			}
			d.Decision = fmt.Sprintf("The held changes to %s (%d removals) were %s by %s on %s.", name, h.Removed, verb, person(dec.By), ts(dec.At))
			if dec.Reason != "" {
				d.Decision += " Reason: " + dec.Reason
			}
			d.Decision = oneLine(d.Decision)
		}
		d.Title = map[resync.NotificationKind]string{
			resync.NotifyChangesHeld: fmt.Sprintf("Action needed: %d removals held for %s", h.Removed, name),
			resync.NotifyHeldDecided: fmt.Sprintf("Held changes to %s %s", name, map[resync.ConnectionStatus]string{resync.ConnApplied: "approved", resync.ConnRejected: "rejected", resync.ConnSuperseded: "superseded"}[h.Decision.Kind]),
		}[n.Kind]
	}
	if n.Kind == resync.NotifyRunCompleted {
		d.Findings = e.findings(n)
		d.NewGaps = max(r.Findings["offboarding_gap"], 0)
	}
	total := len(r.Connections)
	ok := counts[resync.ConnSucceeded] + counts[resync.ConnApplied]
	var parts []string
	parts = append(parts, fmt.Sprintf("%d of %d connections succeeded", ok, total))
	for _, s := range []resync.ConnectionStatus{resync.ConnFailed, resync.ConnHeld, resync.ConnThrottled, resync.ConnCanceled, resync.ConnRejected, resync.ConnSuperseded} {
		if counts[s] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[s], s))
		}
	}
	d.Outcome = strings.Join(parts, ", ") + "."
	if d.Title == "" {
		switch n.Kind {
		case resync.NotifyRunStarted:
			d.Title = d.What + " started"
		case resync.NotifyRunCompleted:
			d.Title = fmt.Sprintf("%s finished: %s", d.What, r.Status)
			if bad := total - ok; bad > 0 && r.Status != resync.RunFailed {
				d.Title += fmt.Sprintf(" (%d of %d connections need attention)", bad, total)
			}
			if len(d.Findings) > 0 && d.Findings[0].Kind == "offboarding_gap" {
				d.Title += ", " + d.Findings[0].Text
			}
		default:
			d.Title = fmt.Sprintf("%s: %s", d.What, n.Kind)
		}
	}
	return d
}
