// This file is the Engine's configuration and its defaults.

package resync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/openresync/resync/internal/retry"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// Config configures an Engine. Store, Connections, Connectors and
// Authorizer are required; every other field has the default documented on it.
type Config struct {
	// Store keeps runs, snapshots, the change log, held change sets and
	// leases. Required. memstore.New() is the in-memory one.
	Store Store
	// Connections tells the engine each tenant's connections. Required.
	Connections ConnectionSource
	// Connectors maps a provider name to the factory of its connector.
	// Required, at least one. Connections of other providers are planned as
	// skipped.
	Connectors map[string]ConnectorFactory
	// Secrets resolves secret references in connections' settings, so
	// that credentials stay in the host's secret store: a setting whose
	// value is "secret:" followed by a reference (a vault path, a key
	// name: whatever the store understands) is resolved through it when a
	// connector's factory reads the setting with resync.Secret, with the
	// factory's context. An unknown reference must be reported with an
	// error wrapping ErrNotFound (a permanent failure of the connection);
	// other errors are retried like a page's. Default nil: a reference is
	// a permanent error naming the setting.
	Secrets func(ctx context.Context, ref string) (string, error)
	// Authorizer decides who may resync. Required. Scheduled runs of
	// SystemPrincipal (Request.Trigger == TriggerScheduled) do not consult it.
	Authorizer Authorizer
	// Directory lists a tenant's admins: the recipients of a personnel
	// resync's completion email and of delete-guard alerts. Required when
	// Notifier is set, so that those emails are never dropped silently; a
	// host that wants none passes a Directory that lists no one.
	Directory Directory
	// Notifier delivers notifications. Default: none (nothing is sent).
	Notifier Notifier
	// NotifyScheduled says whether a scheduled run that ended emails the
	// tenant's admins: it is called with the run's final state. Default
	// nil: scheduled runs notify nobody (held change sets still alert the
	// admins). To hear of failures only:
	//
	//	NotifyScheduled: func(r resync.RunInfo) bool { return r.Status != resync.RunSucceeded },
	NotifyScheduled func(RunInfo) bool
	// NotifyGiveUp is how long the engine keeps trying to deliver a
	// notification, from when it was made, when the Store keeps an outbox
	// (storage.Outbox: memstore, stores/sqlite and stores/postgres do).
	// A failed delivery is retried after Retry's InitialInterval, the
	// wait growing by Retry's Multiplier (with its jitter) to at most 30
	// minutes, until this much time has passed or the Notifier returns a
	// Permanent error; the last error is then recorded on the run
	// (RunInfo.NotifyErrors). Default 24 hours: a mail server or webhook
	// receiver down overnight still gets the message in the morning,
	// while a message about a run is not sent once it is a day stale.
	// See "Notifications" in the package doc.
	NotifyGiveUp time.Duration
	// AfterRun is called when every read of a run has ended and its
	// change sets are applied, before its final status is stored and
	// notified, with the run (Status set, the connections' results); and
	// after an approved held change set is applied, with the run that
	// held it, as stored. What each change set applied is in the change
	// log under the run's ID (Store.Changes). It is where accounts are
	// linked to people, once the run's IdP, HRIS and accounts are all
	// applied: pass a linking.Linker's AfterRun. It may annotate the run
	// by setting run.Findings (counts of what the run opened, by kind;
	// add to the counts already there): the engine keeps that field, and
	// only that one, in the run's stored state and in the completion
	// notification; after an approved held change set, in the stored run.
	// An error is logged and changes nothing else about the run. Default
	// nil.
	//
	// With an Executor, the engine of the worker that ends a run calls it
	// (through Engine.EndRun), once, before the run's final status is
	// stored and notified, and keeps run.Findings as above; again only if
	// storing that end failed and is tried again (its worker died, say),
	// so it must bear a second call.
	AfterRun func(ctx context.Context, run *RunInfo) error

	// PersonnelTypes is the default personnel scope. Default: the types
	// the product's "Resync Personnel" action covers, IdP, HRIS,
	// Infrastructure, VersionControl and SecurityTraining;
	// AllConnectionTypes() is the classic preset.
	PersonnelTypes []ConnectionType
	// Concurrency bounds the connections read at once, across all runs of
	// the engine. Default 8.
	Concurrency int
	// ConnectionTimeout bounds one read of one connection, retries
	// included. Default 30 minutes.
	ConnectionTimeout time.Duration
	// Retry is the per-page retry policy. Defaults: 5 attempts, 1s initial
	// backoff doubling to at most 1m, 50% jitter.
	Retry RetryPolicy
	// MinReadInterval is the least time between the starts of two reads of
	// one connection. A request for a connection whose last read started
	// less than this long ago is served by one pending read that starts
	// when the interval is over; every request arriving meanwhile joins
	// that read. A burst of clicks (and the slow connection that keeps a
	// run open while they arrive) then costs the provider's rate limit one
	// full read per interval, and each click is still served by a read that
	// starts after it: a change made before the click shows up.
	//
	// Within one engine the interval holds exactly. Engines sharing a Store
	// hold it through the connection's read lease, which the engine that
	// read last keeps until the interval is over: as exact as the clocks of
	// the engines and the store agree. An engine waiting for another's
	// interval holds one of its Concurrency slots, as it does when it waits
	// for another engine's read.
	//
	// Default 30s: shorter than an admin takes to change something in a
	// provider and come back to click again, so a deliberate second click
	// waits a few seconds at most, while an impatient burst costs at most
	// two full reads a minute, the window most providers' rate limits are
	// counted in (Okta's per-minute limits per endpoint, for one).
	// Negative: no minimum.
	MinReadInterval time.Duration
	// DeleteGuard sets when change sets are held. Defaults: see DeleteGuard.
	DeleteGuard DeleteGuard
	// Limits bound record fields. Defaults: see Limits.
	Limits Limits

	// InstanceID names this engine instance (a host or pod name) in logs;
	// runs and leases use it plus a random suffix per start.
	// Default: random.
	InstanceID string
	// LeaseTTL is the lifetime of the instance and read leases; they are
	// renewed at a third of it. It also bounds one delivery attempt of a
	// notification from the outbox, which the delivering engine leases
	// for twice as long. Default 30s.
	LeaseTTL time.Duration
	// LeasePoll is how often a read waits for another instance's read lease
	// on the same connection, and how often the engine looks for
	// notifications due in the outbox (those of other instances, and
	// retries). Default 1s.
	LeasePoll time.Duration

	// TracerProvider and MeterProvider receive spans and metrics. Default:
	// OpenTelemetry's noop providers.
	TracerProvider trace.TracerProvider
	MeterProvider  metric.MeterProvider
	// Logger receives the engine's logs. Default: discarded.
	Logger *slog.Logger
	// Clock is the time source of the engine: timestamps, retry backoff,
	// lease renewal and polling. A Scheduler on the engine uses it too.
	// Default: the system clock.
	Clock Clock
	// NewID returns run IDs, unique across instances. Default: time-ordered
	// random hex.
	NewID func() string

	// Executor carries out the reads of runs on a job queue instead of
	// this engine's goroutines (see Executor). Default nil: reads run in
	// process, bounded by Concurrency.
	Executor Executor

	// Retention is how long runs, change-log entries and closed findings
	// (package linking) are kept: Engine.Prune deletes those older. Default 0: kept forever (Prune
	// then fails with ErrInvalidRequest).
	Retention time.Duration
}

// RetryPolicy configures page retries (and notifier retries). Zero fields
// take the defaults given on Config.Retry.
type RetryPolicy struct {
	MaxAttempts         int
	InitialInterval     time.Duration
	MaxInterval         time.Duration
	Multiplier          float64
	RandomizationFactor float64 // negative: no jitter
}

func (p RetryPolicy) internal() retry.Policy { return retry.Policy(p) }

func (c Config) withDefaults() (Config, error) {
	var errs []error
	if c.Store == nil {
		errs = append(errs, errors.New("field Store is required"))
	}
	if c.Connections == nil {
		errs = append(errs, errors.New("field Connections is required"))
	}
	if len(c.Connectors) == 0 {
		errs = append(errs, errors.New("field Connectors needs at least one provider"))
	}
	for p, f := range c.Connectors {
		if p == "" || f == nil {
			errs = append(errs, fmt.Errorf("field Connectors[%q] is empty", p))
		}
	}
	if c.Authorizer == nil {
		errs = append(errs, errors.New("field Authorizer is required (resynctest.AllowAll for tests)"))
	}
	if c.Notifier != nil && c.Directory == nil {
		errs = append(errs, errors.New("field Directory is required with a Notifier: personnel completion emails and held-change alerts go to the tenant's admins (a Directory that lists no one sends none)"))
	}
	if c.Concurrency < 0 || c.ConnectionTimeout < 0 || c.LeaseTTL < 0 || c.LeasePoll < 0 || c.Retention < 0 || c.NotifyGiveUp < 0 {
		errs = append(errs, errors.New("fields Concurrency, ConnectionTimeout, LeaseTTL, LeasePoll, Retention and NotifyGiveUp must not be negative"))
	}
	if c.DeleteGuard.MaxFraction > 1 {
		errs = append(errs, fmt.Errorf("field DeleteGuard.MaxFraction %v is above 1", c.DeleteGuard.MaxFraction))
	}
	for _, t := range c.PersonnelTypes {
		if !t.Valid() {
			errs = append(errs, fmt.Errorf("field PersonnelTypes has unknown type %q (want one of %s)", t, typeList()))
		}
	}
	if len(errs) > 0 {
		return c, fmt.Errorf("%w: config: %w", ErrInvalidRequest, errors.Join(errs...))
	}
	if len(c.PersonnelTypes) == 0 {
		c.PersonnelTypes = defaultPersonnelTypes()
	}
	if c.Concurrency == 0 {
		c.Concurrency = 8
	}
	if c.ConnectionTimeout == 0 {
		c.ConnectionTimeout = 30 * time.Minute
	}
	c.DeleteGuard = c.DeleteGuard.withDefaults()
	c.Limits = c.Limits.withDefaults()
	if c.LeaseTTL == 0 {
		c.LeaseTTL = 30 * time.Second
	}
	if c.MinReadInterval == 0 {
		c.MinReadInterval = 30 * time.Second
	}
	if c.LeasePoll == 0 {
		c.LeasePoll = time.Second
	}
	if c.NotifyGiveUp == 0 {
		c.NotifyGiveUp = 24 * time.Hour
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Clock == nil {
		c.Clock = systemClock{}
	}
	if c.NewID == nil {
		clk := c.Clock
		c.NewID = func() string { return newID(clk.Now()) }
	}
	if c.InstanceID == "" {
		c.InstanceID = "engine-" + randomHex(6)
	}
	return c, nil
}
