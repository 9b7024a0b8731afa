package resync

import (
	"errors"
	"fmt"
	"time"
)

// Trigger says why a run started.
type Trigger string

// Triggers.
const (
	TriggerAdhoc     Trigger = "adhoc"     // an admin asked for it
	TriggerScheduled Trigger = "scheduled" // the daily schedule
)

// RunStatus is the state of a run. Pending and running are live; the others
// are final.
type RunStatus string

// Run statuses.
const (
	RunPending     RunStatus = "pending"
	RunRunning     RunStatus = "running"
	RunSucceeded   RunStatus = "succeeded"   // every connection succeeded
	RunPartial     RunStatus = "partial"     // some connections failed or were held
	RunFailed      RunStatus = "failed"      // no connection succeeded
	RunCanceled    RunStatus = "canceled"    // canceled by the caller or by Close
	RunInterrupted RunStatus = "interrupted" // its process died; see Guarantees: crash safety, in the package doc
)

// Final reports whether s is a final status.
func (s RunStatus) Final() bool { return s != RunPending && s != RunRunning && s != "" }

// ConnectionStatus is the state of one connection within a run.
type ConnectionStatus string

// Connection statuses.
const (
	ConnPending   ConnectionStatus = "pending"
	ConnRunning   ConnectionStatus = "running"
	ConnSucceeded ConnectionStatus = "succeeded"
	ConnFailed    ConnectionStatus = "failed"
	ConnHeld      ConnectionStatus = "held" // the delete guard held the change set
	ConnCanceled  ConnectionStatus = "canceled"
)

// ConnectionResult is one connection's slot in a run: progress while it
// runs, the outcome when done.
type ConnectionResult struct {
	ConnectionID string
	Provider     string
	Type         ConnectionType
	Name         string `json:",omitempty"`
	Status       ConnectionStatus

	// Read counts records read so far (rejected ones included); Total is
	// the connector's estimate of the whole read, 0 if unknown.
	Read  int
	Total int `json:",omitempty"`

	Added     int
	Updated   int
	Removed   int
	Unchanged int
	// Rejected counts records that failed validation (see Guarantees: bad input, in the package doc);
	// RejectedSamples holds the first few reasons.
	Rejected        int
	RejectedSamples []string `json:",omitempty"`

	Pages int
	// Attempts counts page requests, retries included.
	Attempts int
	// Reads counts full reads of the connection in this run: 2 when a
	// request arrived during the first read and it was read again.
	Reads int

	// HeldID names the held change set when Status is ConnHeld.
	HeldID string `json:",omitempty"`
	// Error is the failure, when Status is ConnFailed, ConnHeld or ConnCanceled.
	Error string `json:",omitempty"`

	StartedAt  time.Time `json:",omitzero"`
	FinishedAt time.Time `json:",omitzero"`
}

// Duration is the time from the start of the connection's (last) read to
// its end; zero until it ends.
func (r ConnectionResult) Duration() time.Duration {
	if r.StartedAt.IsZero() || r.FinishedAt.IsZero() {
		return 0
	}
	return r.FinishedAt.Sub(r.StartedAt)
}

// Changed returns Added+Updated+Removed.
func (r ConnectionResult) Changed() int { return r.Added + r.Updated + r.Removed }

// RunInfo describes a run; it is what a Store keeps and what status calls return.
type RunInfo struct {
	ID        string
	Tenant    string
	Scope     Scope
	Trigger   Trigger
	Initiator Principal
	// Requesters are everyone whose request this run serves: the initiator
	// first, then those whose identical requests joined it (see Guarantees: dedup, in the package doc).
	Requesters []Principal `json:",omitempty"`
	Status     RunStatus
	// Owner is the start of the engine carrying the run out: its
	// Config.InstanceID plus a random suffix per start (Engine.Owner), so
	// that a restarted instance never takes its crashed predecessor's runs
	// for its own.
	Owner       string
	Connections []ConnectionResult
	// NotifyErrors lists notifications that could not be delivered; they
	// never fail the run.
	NotifyErrors []string `json:",omitempty"`
	CreatedAt    time.Time
	FinishedAt   time.Time `json:",omitzero"`
}

// Connection returns the result slot of a connection, or false.
func (ri RunInfo) Connection(id string) (ConnectionResult, bool) {
	for _, c := range ri.Connections {
		if c.ConnectionID == id {
			return c, true
		}
	}
	return ConnectionResult{}, false
}

// Err joins the failures of the run's connections as *ConnectionError
// values, or returns nil when every connection succeeded. The causes are
// the stored messages; a live Run's Err keeps the original errors.
func (ri RunInfo) Err() error {
	var errs []error
	for _, c := range ri.Connections {
		if c.Status == ConnSucceeded || c.Status == ConnPending || c.Status == ConnRunning {
			continue
		}
		cause := errors.New(c.Error)
		if c.Status == ConnHeld {
			cause = fmt.Errorf("%w: %s", ErrHeld, c.Error)
		}
		errs = append(errs, &ConnectionError{Tenant: ri.Tenant, ConnectionID: c.ConnectionID, Provider: c.Provider, Err: cause})
	}
	return errors.Join(errs...)
}

// Totals sums the per-connection counts.
func (ri RunInfo) Totals() ConnectionResult {
	var t ConnectionResult
	for _, c := range ri.Connections {
		t.Read += c.Read
		t.Added += c.Added
		t.Updated += c.Updated
		t.Removed += c.Removed
		t.Unchanged += c.Unchanged
		t.Rejected += c.Rejected
		t.Pages += c.Pages
		t.Attempts += c.Attempts
		t.Reads += c.Reads
	}
	return t
}

// finalStatus derives a run's status from its connection results.
func finalStatus(conns []ConnectionResult, canceled bool) RunStatus {
	if canceled {
		return RunCanceled
	}
	ok, failed := 0, 0
	for _, c := range conns {
		switch c.Status {
		case ConnSucceeded:
			ok++
		case ConnFailed, ConnCanceled:
			failed++
		}
	}
	switch {
	case ok == len(conns):
		return RunSucceeded
	case failed == len(conns):
		return RunFailed
	}
	return RunPartial
}
