// Package resynctest helps hosts and connector authors test code that uses
// resync: a scriptable fake connector, a connection source, recording
// notifier, allow/deny authorizers, a static directory, and conformance
// suites (TestConnector, TestStore, TestNotifier) that any implementation
// can run against itself.
//
// Nothing here sleeps for real unless a fake is given latency; run tests
// that use latency or retries inside testing/synctest to make time virtual.
package resynctest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/openresync/resync"
)

// Fault is a scripted failure of one page read.
type Fault struct {
	// Page is the 0-based page index the fault hits.
	Page int
	// Times is how many consecutive reads of that page fail (0 means 1).
	Times int
	// Err is returned (wrap it with resync.Permanent or resync.RetryAfter to
	// classify it). Nil means a plain transient error.
	Err error
	// Panic, if not nil, is panicked with instead of returning Err.
	Panic any
}

// Connector is a scriptable fake resync.Connector. Its cursors are page
// indexes. Configure it before use; its counters are safe to read while a
// sync runs. A Connector may be read by several syncs in a row (each starts
// again at page 0).
type Connector struct {
	mu      sync.Mutex
	pages   [][]resync.Record
	latency time.Duration
	faults  []Fault
	hits    map[int]int // fault index -> failures served
	reads   map[int]int // page -> successful and failed reads
	started int
	block   chan struct{}
	onRead  func(page int)
}

var _ resync.Connector = (*Connector)(nil)

// NewConnector returns a fake whose read yields records split into pages of
// pageSize (all in one page if pageSize <= 0). No records gives one empty page.
func NewConnector(records []resync.Record, pageSize int) *Connector {
	c := &Connector{}
	c.SetRecords(records, pageSize)
	return c
}

// SetRecords replaces the data the next reads return.
func (c *Connector) SetRecords(records []resync.Record, pageSize int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pages = Paginate(records, pageSize)
}

// SetPages replaces the data with explicit pages.
func (c *Connector) SetPages(pages [][]resync.Record) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pages = pages
	if len(c.pages) == 0 {
		c.pages = [][]resync.Record{nil}
	}
}

// Paginate splits records into pages of size n (one page if n <= 0).
func Paginate(records []resync.Record, n int) [][]resync.Record {
	if n <= 0 || len(records) <= n {
		return [][]resync.Record{records}
	}
	var pages [][]resync.Record
	for len(records) > 0 {
		k := min(n, len(records))
		pages = append(pages, records[:k:k])
		records = records[k:]
	}
	return pages
}

// SetLatency makes every page read take d (virtual time inside synctest).
func (c *Connector) SetLatency(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.latency = d
}

// AddFault scripts a failure.
func (c *Connector) AddFault(f Fault) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if f.Times <= 0 {
		f.Times = 1
	}
	c.faults = append(c.faults, f)
}

// ClearFaults removes the scripted failures and resets their counters.
func (c *Connector) ClearFaults() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.faults, c.hits = nil, nil
}

// Block makes reads of page 0 wait until Unblock is called (or their
// context ends): a way to hold a sync in the middle of its read.
func (c *Connector) Block() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.block = make(chan struct{})
}

// Unblock releases reads held by Block.
func (c *Connector) Unblock() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.block != nil {
		close(c.block)
		c.block = nil
	}
}

// OnRead sets a hook called at the start of every page read (before
// latency and faults), with the page index.
func (c *Connector) OnRead(f func(page int)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.onRead = f
}

// PageReads returns how many times page i was requested, failures included.
func (c *Connector) PageReads(i int) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reads[i]
}

// TotalPageReads returns the number of page requests of all pages.
func (c *Connector) TotalPageReads() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, v := range c.reads {
		n += v
	}
	return n
}

// Reads returns how many full reads began (requests of page 0).
func (c *Connector) Reads() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.started
}

// ReadPage implements resync.Connector.
func (c *Connector) ReadPage(ctx context.Context, cursor string) (resync.Page, error) {
	i := 0
	if cursor != "" {
		var err error
		if i, err = strconv.Atoi(cursor); err != nil || i < 0 {
			return resync.Page{}, resync.Permanent(fmt.Errorf("resynctest: bad cursor %q", cursor))
		}
	}
	c.mu.Lock()
	if c.reads == nil {
		c.reads = map[int]int{}
	}
	c.reads[i]++
	if i == 0 {
		c.started++
	}
	latency, block, hook := c.latency, c.block, c.onRead
	if i >= len(c.pages) {
		c.mu.Unlock()
		return resync.Page{}, resync.Permanent(fmt.Errorf("resynctest: cursor %d beyond %d pages", i, len(c.pages)))
	}
	// Faults of a page fire in the order they were added, each Times times.
	var fault *Fault
	for k := range c.faults {
		if f := &c.faults[k]; f.Page == i && c.hits[k] < f.Times {
			if c.hits == nil {
				c.hits = map[int]int{}
			}
			c.hits[k]++
			fault = f
			break
		}
	}
	recs := c.pages[i]
	last := i == len(c.pages)-1
	total := 0
	for _, p := range c.pages {
		total += len(p)
	}
	c.mu.Unlock()

	if hook != nil {
		hook(i)
	}
	if block != nil && i == 0 {
		select {
		case <-block:
		case <-ctx.Done():
			return resync.Page{}, ctx.Err()
		}
	}
	if latency > 0 {
		t := time.NewTimer(latency)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return resync.Page{}, ctx.Err()
		}
	}
	if err := ctx.Err(); err != nil {
		return resync.Page{}, err
	}
	if fault != nil {
		if fault.Panic != nil {
			panic(fault.Panic)
		}
		if fault.Err != nil {
			return resync.Page{}, fault.Err
		}
		return resync.Page{}, fmt.Errorf("resynctest: transient failure of page %d", i)
	}
	p := resync.Page{Records: slices.Clone(recs), Total: total}
	if !last {
		p.Next = strconv.Itoa(i + 1)
	}
	return p, nil
}

// Fakes maps connections, by tenant and connection ID, to fake connectors
// and serves them through one ConnectorFactory, whatever the provider. Two
// tenants may each have a connection of the same ID with its own fake. It
// is safe for concurrent use.
type Fakes struct {
	mu sync.Mutex
	m  map[fakeKey]*Connector
}

type fakeKey struct{ tenant, connectionID string }

// NewFakes returns an empty set of fakes.
func NewFakes() *Fakes { return &Fakes{m: map[fakeKey]*Connector{}} }

// Set registers the fake for a tenant's connection.
func (f *Fakes) Set(tenant, connectionID string, c *Connector) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.m[fakeKey{tenant, connectionID}] = c
}

// Get returns the fake of a tenant's connection, or nil.
func (f *Fakes) Get(tenant, connectionID string) *Connector {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.m[fakeKey{tenant, connectionID}]
}

// Factory returns a ConnectorFactory serving the registered fakes; a
// connection without one fails with a permanent error.
func (f *Fakes) Factory() resync.ConnectorFactory {
	return func(_ context.Context, conn resync.Connection) (resync.Connector, error) {
		if c := f.Get(conn.Tenant, conn.ID); c != nil {
			return c, nil
		}
		return nil, resync.Permanent(fmt.Errorf("resynctest: no fake connector for connection %q of tenant %q", conn.ID, conn.Tenant))
	}
}

// Factories returns Config.Connectors mapping each provider to Factory.
func (f *Fakes) Factories(providers ...string) map[string]resync.ConnectorFactory {
	out := make(map[string]resync.ConnectorFactory, len(providers))
	for _, p := range providers {
		out[p] = f.Factory()
	}
	return out
}

// Source is an in-memory resync.ConnectionSource. It is safe for concurrent use.
type Source struct {
	mu      sync.Mutex
	tenants map[string][]resync.Connection
}

var _ resync.ConnectionSource = (*Source)(nil)

// NewSource returns a source with no tenants.
func NewSource() *Source { return &Source{tenants: map[string][]resync.Connection{}} }

// AddTenant makes a tenant known (with no connections yet).
func (s *Source) AddTenant(tenant string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.tenants[tenant]; !ok {
		s.tenants[tenant] = nil
	}
}

// Add adds connections; each one's tenant becomes known.
func (s *Source) Add(conns ...resync.Connection) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range conns {
		s.tenants[c.Tenant] = append(s.tenants[c.Tenant], c)
	}
}

// Remove removes a tenant and its connections.
func (s *Source) Remove(tenant string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.tenants, tenant)
}

// Tenants returns the known tenants, sorted.
func (s *Source) Tenants() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Sorted(maps.Keys(s.tenants))
}

// Connections implements resync.ConnectionSource.
func (s *Source) Connections(ctx context.Context, tenant string) ([]resync.Connection, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	conns, ok := s.tenants[tenant]
	if !ok {
		return nil, fmt.Errorf("%w: no such tenant", resync.ErrNotFound)
	}
	return slices.Clone(conns), nil
}

// AllowAll is an Authorizer that allows everything.
var AllowAll resync.Authorizer = fixedAuthorizer(true)

// DenyAll is an Authorizer that denies everything.
var DenyAll resync.Authorizer = fixedAuthorizer(false)

// fixedAuthorizer gives the same answer to every question.
type fixedAuthorizer bool

func (f fixedAuthorizer) Authorize(context.Context, string, resync.Principal, resync.Action) (bool, error) {
	return bool(f), nil
}

// Admins is an Authorizer and Directory from a fixed list of admins per
// tenant: it allows exactly those principals (matched by ID) on their
// tenant, and lists them as the tenant's admins.
type Admins map[string][]resync.Principal

var (
	_ resync.Authorizer = Admins(nil)
	_ resync.Directory  = Admins(nil)
)

// Authorize implements resync.Authorizer.
func (a Admins) Authorize(_ context.Context, tenant string, p resync.Principal, _ resync.Action) (bool, error) {
	return slices.ContainsFunc(a[tenant], func(q resync.Principal) bool { return q.ID == p.ID }), nil
}

// Admins implements resync.Directory.
func (a Admins) Admins(_ context.Context, tenant string) ([]resync.Principal, error) {
	return slices.Clone(a[tenant]), nil
}

// Grants is an Authorizer that allows a principal (matched by ID) exactly
// the actions granted to it on a tenant:
//
//	resynctest.Grants{"t1": {"alice": {resync.ActionResyncPersonnel, resync.ActionViewRuns}}}
//
// Unlike Admins, it tells actions apart, so a test can prove that each
// operation asks for the action it should.
type Grants map[string]map[string][]resync.Action

var _ resync.Authorizer = Grants(nil)

// Authorize implements resync.Authorizer.
func (g Grants) Authorize(_ context.Context, tenant string, p resync.Principal, a resync.Action) (bool, error) {
	return slices.Contains(g[tenant][p.ID], a), nil
}

// Notifier records notifications. It can be scripted to fail. Safe for
// concurrent use.
type Notifier struct {
	mu    sync.Mutex
	got   []resync.Notification
	fails int
	err   error
	// more is closed (and replaced) at each delivery, for WaitFor.
	more chan struct{}
}

var _ resync.Notifier = (*Notifier)(nil)

// FailNext makes the next n deliveries fail with err (a generic error if nil).
func (n *Notifier) FailNext(count int, err error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if err == nil {
		err = errors.New("resynctest: notifier failure")
	}
	n.fails, n.err = count, err
}

// Notify implements resync.Notifier.
func (n *Notifier) Notify(ctx context.Context, msg resync.Notification) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.fails > 0 {
		n.fails--
		return n.err
	}
	n.got = append(n.got, msg)
	if n.more != nil {
		close(n.more)
		n.more = nil
	}
	return nil
}

// WaitFor waits until at least count notifications were delivered (since
// the last Reset), or ctx is done, and returns those delivered. With a
// Store that keeps an outbox the engine delivers after the run's state is
// stored, so a test that saw a run end waits here for its notifications.
func (n *Notifier) WaitFor(ctx context.Context, count int) ([]resync.Notification, error) {
	for {
		n.mu.Lock()
		if len(n.got) >= count {
			got := slices.Clone(n.got)
			n.mu.Unlock()
			return got, nil
		}
		if n.more == nil {
			n.more = make(chan struct{})
		}
		more := n.more
		n.mu.Unlock()
		select {
		case <-more:
		case <-ctx.Done():
			return n.Notifications(), ctx.Err()
		}
	}
}

// Notifications returns what was delivered, in order.
func (n *Notifier) Notifications() []resync.Notification {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.got)
}

// Reset forgets delivered notifications.
func (n *Notifier) Reset() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.got = nil
}

// Identities returns n active identities keyed prefix0 … prefix(n-1), with
// distinct emails, for tests and benchmarks.
func Identities(prefix string, n int) []resync.Record {
	out := make([]resync.Record, n)
	for i := range out {
		k := prefix + strconv.Itoa(i)
		out[i] = &resync.Identity{Key: k, Email: k + "@example.com", Name: "Person " + k, Status: resync.StatusActive}
	}
	return out
}
