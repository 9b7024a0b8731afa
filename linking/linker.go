package linking

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/openresync/resync"
)

// linkStore is the method set of storage.LinkStore, which documents it.
type linkStore interface {
	WriteLinks(ctx context.Context, w Write) ([]Finding, error)
	Links(ctx context.Context, q LinkQuery) ([]Link, error)
	Findings(ctx context.Context, q FindingQuery) ([]Finding, error)
	AddLinkDecision(ctx context.Context, d Decision) (int64, error)
	LinkDecisions(ctx context.Context, q DecisionQuery) ([]Decision, error)
}

// Config configures a Linker. Store, Connections and Authorizer are
// required; every other field has the default documented on it.
type Config struct {
	// Store is the engine's Store; it must implement storage.LinkStore
	// (memstore, stores/sqlite and stores/postgres do).
	Store resync.Store
	// Connections is the engine's ConnectionSource.
	Connections resync.ConnectionSource
	// Authorizer is the engine's: Decide needs
	// resync.ActionLinkAccounts, every read resync.ActionViewRecords.
	Authorizer resync.Authorizer
	// Rules returns the rules of a connection, in the order they are
	// tried; it may be called concurrently. Default nil, and for a
	// connection it returns none: DefaultRules.
	Rules func(c resync.Connection) []Rule
	// DomainAliases maps an email domain to the domain it stands for
	// ("corp.example.com" -> "example.com"), for RuleEmail, RuleUsername
	// and the join of identities into people. Keys in lower case.
	DomainAliases map[string]string
	// ServiceAccount marks an account as a program's, beside those the
	// provider types resync.AccountTypeService and those an admin marks;
	// it may be called concurrently, for accounts of different
	// connections.
	// Default nil: none more.
	ServiceAccount func(c resync.Connection, a *resync.Account) bool
	// UnusedAfter is how long after an active account's last reported
	// login or credential use FindingUnused opens. Default 90 days;
	// negative: never.
	UnusedAfter time.Duration
	// OnFinding is called with each finding opened or closed, after it
	// is stored; calls are never concurrent. Default nil.
	OnFinding func(Finding)
	// Clock is the time source. Default: the system clock.
	Clock resync.Clock
	// Logger receives correlation failures. Default: discarded.
	Logger *slog.Logger
}

// Linker links a tenant's accounts to its people, keeps the findings and
// records admins' decisions. Create it with New and hand AfterRun to
// resync.Config.AfterRun. It is safe for concurrent use.
type Linker struct {
	cfg   Config
	store linkStore
	mu    sync.Mutex
	// onFinding serializes the calls of Config.OnFinding.
	onFinding sync.Mutex
	// tenants serializes the correlations of one tenant and caches its
	// people.
	tenants map[string]*tenantState
}

type tenantState struct {
	mu     sync.Mutex
	people *people // nil until built, and after an IdP or HRIS change or an erasure
	// erasedSeq is the change-log position up to which erasures were
	// looked for (forgetErased); erased says one was seen since the last
	// correlation of every account.
	erasedSeq int64
	erased    bool
}

// Result counts the work of one correlation.
type Result struct {
	// Accounts is the number of accounts evaluated; People the number of
	// people they were looked up in (built again when the IdP or HRIS
	// changed, else cached).
	Accounts, People int
	// Rebuilt says the people were built for this correlation.
	Rebuilt bool
	// LinksRead is the number of stored links read to compare with: every
	// link of each connection correlated whole, only those of the
	// accounts that changed otherwise.
	LinksRead int
	// Written is the number of links put or deleted; Opened and Closed
	// the findings opened and closed.
	Written, Opened, Closed int
	// OpenedByKind counts the findings opened by kind (nil when none
	// was).
	OpenedByKind map[FindingKind]int
}

// add adds the work counted in o to r.
func (r *Result) add(o Result) {
	r.Accounts += o.Accounts
	r.LinksRead += o.LinksRead
	r.Written += o.Written
	r.Opened += o.Opened
	r.Closed += o.Closed
	for k, n := range o.OpenedByKind {
		if r.OpenedByKind == nil {
			r.OpenedByKind = map[FindingKind]int{}
		}
		r.OpenedByKind[k] += n
	}
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }
func (systemClock) NewTimer(d time.Duration) (<-chan time.Time, func() bool) {
	t := time.NewTimer(d)
	return t.C, t.Stop
}

// New validates cfg and returns a Linker. It fails with
// resync.ErrInvalidRequest if a required field is missing or the Store
// does not implement storage.LinkStore.
func New(cfg Config) (*Linker, error) {
	var errs []error
	if cfg.Store == nil {
		errs = append(errs, errors.New("field Store is required"))
	}
	ls, ok := cfg.Store.(linkStore)
	if cfg.Store != nil && !ok {
		errs = append(errs, fmt.Errorf("field Store (%T) does not implement storage.LinkStore", cfg.Store))
	}
	if cfg.Connections == nil {
		errs = append(errs, errors.New("field Connections is required"))
	}
	if cfg.Authorizer == nil {
		errs = append(errs, errors.New("field Authorizer is required"))
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%w: linking: config: %w", resync.ErrInvalidRequest, errors.Join(errs...))
	}
	if cfg.UnusedAfter == 0 {
		cfg.UnusedAfter = 90 * 24 * time.Hour
	}
	if cfg.Clock == nil {
		cfg.Clock = systemClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	aliases := make(map[string]string, len(cfg.DomainAliases))
	for k, v := range cfg.DomainAliases {
		aliases[strings.ToLower(strings.TrimSpace(k))] = strings.ToLower(strings.TrimSpace(v))
	}
	cfg.DomainAliases = aliases
	return &Linker{cfg: cfg, store: ls, tenants: map[string]*tenantState{}}, nil
}

func (l *Linker) tenant(t string) *tenantState {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.tenants[t]
	if s == nil {
		s = &tenantState{}
		l.tenants[t] = s
	}
	return s
}

// definesPeople reports whether a connection type's identities are people.
func definesPeople(t resync.ConnectionType) bool { return t == resync.IdP || t == resync.HRIS }

// AfterRun correlates what a run applied (see CorrelateRun) and adds the
// findings the correlation opened to run.Findings, by kind
// ("offboarding_gap": 2), so that the run's completion notice can say
// how many offboarding gaps it opened; pass it as
// resync.Config.AfterRun. What it opened before a failure is counted too.
func (l *Linker) AfterRun(ctx context.Context, run *resync.RunInfo) error {
	res, err := l.CorrelateRun(ctx, *run)
	for k, n := range res.OpenedByKind {
		if run.Findings == nil {
			run.Findings = map[string]int{}
		}
		run.Findings[string(k)] += n
	}
	return err
}

// CorrelateRun correlates what a run applied, as its change-log entries
// (resync.Store.Changes by run ID) say, and returns the work it did. If
// an identity of an IdP or HRIS connection changed, or the Linker has not
// yet built the tenant's people, it builds them and correlates every
// account of the tenant. Otherwise it correlates only the accounts the
// run added, changed or removed, and confirms the other open findings of
// each connection the run read (run.Connections with status
// resync.ConnSucceeded): the read saw them still there.
func (l *Linker) CorrelateRun(ctx context.Context, run resync.RunInfo) (res Result, err error) {
	if run.Tenant == "" || run.ID == "" {
		return Result{}, invalid("CorrelateRun needs the run's tenant and ID")
	}
	conns, err := l.connections(ctx, run.Tenant)
	if err != nil {
		return Result{}, err
	}
	// The connections the run changed, and whether people changed.
	changed := map[string]bool{}
	people := false
	var lastSeq int64
	err = l.eachChange(ctx, resync.ChangeQuery{Tenant: run.Tenant, RunID: run.ID}, func(e resync.ChangeLogEntry) error {
		lastSeq = max(lastSeq, e.Seq)
		c, ok := conns[e.ConnectionID]
		if !ok {
			return nil
		}
		if definesPeople(c.Type) {
			people = people || e.Kind == resync.KindIdentity
		} else if e.Kind == resync.KindAccount {
			changed[e.ConnectionID] = true
		}
		return nil
	})
	if err != nil {
		return Result{}, err
	}
	ts := l.tenant(run.Tenant)
	ts.mu.Lock()
	defer ts.mu.Unlock()
	defer func() {
		if err != nil {
			// Part of what the correlation found may be stored: the
			// next run correlates every account, which stores the rest.
			ts.people = nil
		}
	}()
	if err := l.forgetErased(ctx, ts, run.Tenant); err != nil {
		return Result{}, err
	}
	// Erasures before the run's last change were looked for just now.
	ts.erasedSeq = max(ts.erasedSeq, lastSeq)
	if people || ts.people == nil || ts.erased {
		ts.people = nil
		return l.correlateAll(ctx, ts, run.Tenant, run.ID, conns)
	}
	for _, r := range run.Connections {
		if r.Status == resync.ConnSucceeded {
			if _, ok := changed[r.ConnectionID]; !ok {
				changed[r.ConnectionID] = false
			}
		}
	}
	p, err := l.newPass(ctx, ts, run.Tenant, run.ID, conns, &res)
	if err != nil {
		return res, err
	}
	for _, id := range slices.Sorted(maps.Keys(changed)) {
		c, ok := conns[id]
		if !ok || c.Disabled || definesPeople(c.Type) {
			continue
		}
		var recs []resync.StoredRecord
		removed := map[string]bool{}
		if changed[id] {
			// The latest entry of each key decides.
			latest := map[string]resync.ChangeLogEntry{}
			err := l.eachChange(ctx, resync.ChangeQuery{Tenant: run.Tenant, RunID: run.ID, ConnectionID: id, Kind: resync.KindAccount},
				func(e resync.ChangeLogEntry) error {
					latest[e.Key] = e
					return nil
				})
			if err != nil {
				return res, err
			}
			for _, key := range slices.Sorted(maps.Keys(latest)) {
				e := latest[key]
				if e.After == nil {
					removed[key] = true
					continue
				}
				recs = append(recs, resync.StoredRecord{ConnectionID: id, Kind: e.Kind, Key: key, Record: e.After})
			}
		}
		// Only the stored links of these accounts can change.
		only := make([]string, 0, len(recs)+len(removed))
		for _, r := range recs {
			only = append(only, r.Key)
		}
		for key := range removed {
			only = append(only, key)
		}
		if err := p.connection(ctx, c, records(recs), removed, false, only); err != nil {
			return res, err
		}
	}
	return res, nil
}

// eachChange calls fn with each change-log entry matching q, a page at a
// time.
func (l *Linker) eachChange(ctx context.Context, q resync.ChangeQuery, fn func(resync.ChangeLogEntry) error) error {
	const page = 1000
	q.Limit = page
	for {
		es, err := l.cfg.Store.Changes(ctx, q)
		if err != nil {
			return fmt.Errorf("linking: reading the change log of run %q: %w", q.RunID, err)
		}
		for _, e := range es {
			if err := fn(e); err != nil {
				return err
			}
		}
		if len(es) < page {
			return nil
		}
		q.AfterSeq = es[len(es)-1].Seq
	}
}

// Correlate correlates every account of the tenant against its people,
// built again from the stored identities, as of now: for the findings
// that time alone opens or closes (an end date passed, an account unused
// long enough), and after changing Config. runID names the run it is
// part of in the findings, or "". It needs resync.ActionLinkAccounts.
func (l *Linker) Correlate(ctx context.Context, tenant string, by resync.Principal, runID string) (Result, error) {
	if err := l.authorize(ctx, tenant, by, resync.ActionLinkAccounts); err != nil {
		return Result{}, err
	}
	conns, err := l.connections(ctx, tenant)
	if err != nil {
		return Result{}, err
	}
	ts := l.tenant(tenant)
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if err := l.forgetErased(ctx, ts, tenant); err != nil {
		return Result{}, err
	}
	ts.people = nil
	return l.correlateAll(ctx, ts, tenant, runID, conns)
}

func (l *Linker) authorize(ctx context.Context, tenant string, by resync.Principal, a resync.Action) error {
	if tenant == "" {
		return fmt.Errorf("%w: linking: tenant is required", resync.ErrInvalidRequest)
	}
	ok, err := l.cfg.Authorizer.Authorize(ctx, tenant, by, a)
	if err != nil {
		return fmt.Errorf("linking: authorizing %s on tenant %q: %w", a, tenant, err)
	}
	if !ok {
		return fmt.Errorf("%w: %s may not %s on tenant %q", resync.ErrForbidden, label(by), a, tenant)
	}
	return nil
}

func label(p resync.Principal) string {
	return cmpOr(p.Email, p.Name, p.ID)
}

func cmpOr(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

func (l *Linker) connections(ctx context.Context, tenant string) (map[string]resync.Connection, error) {
	list, err := l.cfg.Connections.Connections(ctx, tenant)
	if err != nil {
		return nil, fmt.Errorf("linking: listing connections of tenant %q: %w", tenant, err)
	}
	m := make(map[string]resync.Connection, len(list))
	for _, c := range list {
		if c.Tenant == tenant || c.Tenant == "" {
			m[c.ID] = c
		}
	}
	return m, nil
}

// peopleOf returns the tenant's people, building them from the identities
// of its enabled IdP and HRIS connections (removed ones included) if the
// cache is empty. The caller has looked for erasures (forgetErased) under
// ts.mu, once per call into the Linker.
func (l *Linker) peopleOf(ctx context.Context, ts *tenantState, tenant string, conns map[string]resync.Connection, res *Result) (*people, error) {
	if ts.people != nil {
		res.People = len(ts.people.all)
		return ts.people, nil
	}
	// The identities of each source, read correlated sources at once.
	ids := slices.DeleteFunc(slices.Sorted(maps.Keys(conns)), func(id string) bool {
		return !definesPeople(conns[id].Type) || conns[id].Disabled
	})
	each := make([][]source, len(ids))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(correlated)
	for i, id := range ids {
		hris := conns[id].Type == resync.HRIS
		g.Go(func() error {
			err := l.eachRecord(gctx, resync.RecordQuery{Tenant: tenant, ConnectionID: id, Kind: resync.KindIdentity, IncludeRemoved: true},
				func(r resync.StoredRecord) error {
					if idn, ok := r.Record.(*resync.Identity); ok && idn != nil {
						each[i] = append(each[i], newSource(id, r, idn, hris, l.cfg.DomainAliases))
					}
					return nil
				})
			if err != nil {
				return fmt.Errorf("linking: reading identities of connection %q: %w", id, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	srcs := slices.Concat(each...)
	each = nil
	ts.people = buildPeople(srcs)
	res.People, res.Rebuilt = len(ts.people.all), true
	return ts.people, nil
}

// decisions returns the tenant's current decisions by account.
func (l *Linker) decisions(ctx context.Context, tenant string) (map[AccountRef]Decision, error) {
	ds, err := l.store.LinkDecisions(ctx, DecisionQuery{Tenant: tenant, Current: true})
	if err != nil {
		return nil, fmt.Errorf("linking: reading decisions of tenant %q: %w", tenant, err)
	}
	m := make(map[AccountRef]Decision, len(ds))
	for _, d := range ds {
		m[AccountRef{d.ConnectionID, d.AccountKey}] = d
	}
	return m, nil
}

// pass is one correlation of some accounts of one connection.
type pass struct {
	l         *Linker
	tenant    string
	runID     string
	now       time.Time
	ps        *people
	decisions map[AccountRef]Decision
	res       *Result
}

// correlated is how many connections correlateAll correlates at once:
// one connection's accounts are read and evaluated while another's wait
// on the store.
const correlated = 2

// correlateAll correlates every account of the tenant, connection by
// connection (correlated of them at once), and drops the links of
// connections that are gone, disabled or define people.
func (l *Linker) correlateAll(ctx context.Context, ts *tenantState, tenant, runID string, conns map[string]resync.Connection) (Result, error) {
	var res Result
	p, err := l.newPass(ctx, ts, tenant, runID, conns, &res)
	if err != nil {
		return res, err
	}
	var mu sync.Mutex // guards res and done
	done := map[string]bool{}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(correlated)
	for _, id := range slices.Sorted(maps.Keys(conns)) {
		c := conns[id]
		if definesPeople(c.Type) || c.Disabled {
			continue
		}
		if gctx.Err() != nil {
			break // one failed: start no more
		}
		g.Go(func() error {
			var part Result
			sub := *p
			sub.res = &part
			recs := func(fn func(resync.StoredRecord) error) error {
				return l.eachRecord(gctx, resync.RecordQuery{Tenant: tenant, ConnectionID: id, Kind: resync.KindAccount}, fn)
			}
			err := sub.connection(gctx, c, recs, nil, true, nil)
			mu.Lock()
			defer mu.Unlock()
			res.add(part)
			done[id] = err == nil
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return res, err
	}
	// Links of other connections: gone, disabled or defining people. One
	// link of each connection is read.
	after := AccountRef{}
	for {
		page, err := l.store.Links(ctx, LinkQuery{Tenant: tenant, After: after, Limit: 1})
		if err != nil {
			return res, fmt.Errorf("linking: listing links of tenant %q: %w", tenant, err)
		}
		if len(page) == 0 {
			break
		}
		id := page[0].ConnectionID
		if !done[id] {
			if err := p.connection(ctx, resync.Connection{ID: id, Tenant: tenant}, records(nil), nil, true, nil); err != nil {
				return res, err
			}
		}
		after = AccountRef{ConnectionID: id}
	}
	ts.erased = false
	return res, nil
}

// records iterates over recs.
func records(recs []resync.StoredRecord) func(func(resync.StoredRecord) error) error {
	return func(fn func(resync.StoredRecord) error) error {
		for _, r := range recs {
			if err := fn(r); err != nil {
				return err
			}
		}
		return nil
	}
}

// recordSearcher is the method set of storage.RecordSearcher.
type recordSearcher interface {
	SearchRecords(ctx context.Context, q resync.RecordQuery, after resync.StoredRecord) ([]resync.StoredRecord, error)
}

// eachRecord calls fn with each record of q.ConnectionID matching q, a
// page at a time with a storage.RecordSearcher, else all at once.
func (l *Linker) eachRecord(ctx context.Context, q resync.RecordQuery, fn func(resync.StoredRecord) error) error {
	rs, ok := l.cfg.Store.(recordSearcher)
	if !ok {
		recs, err := l.cfg.Store.Records(ctx, q)
		if err != nil {
			return err
		}
		return records(recs)(fn)
	}
	const page = 1000
	q.Limit = page
	var after resync.StoredRecord
	for {
		recs, err := rs.SearchRecords(ctx, q, after)
		if err != nil {
			return err
		}
		for _, r := range recs {
			if err := fn(r); err != nil {
				return err
			}
		}
		if len(recs) < page {
			return nil
		}
		last := recs[len(recs)-1]
		after = resync.StoredRecord{ConnectionID: last.ConnectionID, Kind: last.Kind, Key: last.Key}
	}
}

func (l *Linker) newPass(ctx context.Context, ts *tenantState, tenant, runID string, conns map[string]resync.Connection, res *Result) (*pass, error) {
	ps, err := l.peopleOf(ctx, ts, tenant, conns, res)
	if err != nil {
		return nil, err
	}
	ds, err := l.decisions(ctx, tenant)
	if err != nil {
		return nil, err
	}
	return &pass{l: l, tenant: tenant, runID: runID, now: l.cfg.Clock.Now(), ps: ps, decisions: ds, res: res}, nil
}

type findingKey struct {
	kind FindingKind
	key  string
}

// writeChunk bounds the links and findings one WriteLinks stores, so
// that correlating a connection holds no more than that many in memory
// whatever its size.
var writeChunk = 10000

// linkSig is what sameLink compares of a stored link, compactly: the
// links of a whole connection are held while it is correlated.
type linkSig struct {
	// who is the person, or an Ambiguous link's candidates joined by
	// NULs.
	who       string
	sit, rule uint8
	active    bool
}

var (
	situations = []Situation{Linked, Unlinked, Ambiguous, OffboardingGap, ServiceAccount}
	ruleNames  = []Rule{"", RuleManual, RuleExternalID, RuleEmployeeID, RuleEmail, RuleUsername}
)

// code returns the index of v in list plus one, or 0 for a value not in
// it: a link stored with a situation or rule this version does not know
// never equals one it evaluates, and is written again.
func code[T comparable](list []T, v T) uint8 {
	for i, x := range list {
		if x == v {
			return uint8(i + 1)
		}
	}
	return 0
}

// sig returns the signature of k. A person ID the people know is
// replaced by theirs, so that the signatures of a connection share the
// people's strings rather than keep one each.
func (p *pass) sig(k Link) linkSig {
	s := linkSig{who: k.PersonID, sit: code(situations, k.Situation), rule: code(ruleNames, k.Rule), active: k.Active}
	if len(k.Candidates) > 0 {
		s.who = k.PersonID + "\x00" + strings.Join(k.Candidates, "\x00")
	} else if who := p.ps.byRef[k.PersonID]; who != nil && who.ID == k.PersonID {
		s.who = who.ID
	}
	return s
}

// connection correlates recs, accounts of connection c. With whole, recs
// are all of the connection's accounts (none for a connection that no
// longer counts): links of other accounts are deleted and their findings
// closed. Otherwise the accounts in removed lose their links and
// findings, and the connection's other open findings are confirmed; only
// names the accounts of recs and removed, whose stored links alone are
// read (nil: all of the connection's are).
//
// It holds the connection's stored links (as signatures) and open
// findings, and writes what changed writeChunk links or findings at a
// time, each write atomic: a correlation that fails part way has stored
// some of what it found, and the next, of the whole tenant, the rest.
// While one chunk is written the next is evaluated; every write has
// ended when it returns.
func (p *pass) connection(ctx context.Context, c resync.Connection, recs func(func(resync.StoredRecord) error) error, removed map[string]bool, whole bool, only []string) error {
	l := p.l
	old := map[string]linkSig{}
	all := only == nil
	if !all {
		only = slices.Compact(slices.Sorted(slices.Values(only)))
		for keys := range slices.Chunk(only, maxAccountKeys) {
			links, err := l.store.Links(ctx, LinkQuery{Tenant: p.tenant, ConnectionID: c.ID, AccountKeys: keys, Limit: len(keys)})
			if err != nil {
				return fmt.Errorf("linking: listing links of connection %q: %w", c.ID, err)
			}
			p.res.LinksRead += len(links)
			for _, k := range links {
				old[k.AccountKey] = p.sig(k)
			}
		}
	}
	const page = 5000
	var after AccountRef
	for all {
		links, err := l.store.Links(ctx, LinkQuery{Tenant: p.tenant, ConnectionID: c.ID, After: after, Limit: page})
		if err != nil {
			return fmt.Errorf("linking: listing links of connection %q: %w", c.ID, err)
		}
		p.res.LinksRead += len(links)
		for _, k := range links {
			old[k.AccountKey] = p.sig(k)
		}
		if len(links) < page {
			break
		}
		after = AccountRef{c.ID, links[len(links)-1].AccountKey}
	}
	open := map[findingKey]Finding{}
	var seq int64
	for {
		fs, err := l.store.Findings(ctx, FindingQuery{Tenant: p.tenant, ConnectionID: c.ID, OpenOnly: true, AfterSeq: seq, Limit: 1000})
		if err != nil {
			return fmt.Errorf("linking: listing findings of connection %q: %w", c.ID, err)
		}
		for _, f := range fs {
			open[findingKey{f.Kind, f.AccountKey}] = f
		}
		if len(fs) < 1000 {
			break
		}
		seq = fs[len(fs)-1].Seq
	}
	rules := p.rules(c)
	// Writes are double-buffered: one chunk is stored on another
	// goroutine while the next is evaluated, so that reading the
	// accounts and storing their links overlap. What a write did is
	// taken in here, by the correlating goroutine, when it is done.
	w := Write{Tenant: p.tenant, RunID: p.runID, At: p.now}
	spare := Write{Tenant: p.tenant, RunID: p.runID, At: p.now}
	var closed []int64 // for OnFinding
	replaced := 0      // links in w.Put that replace a stored one
	var inflight chan writeDone
	wait := func() error {
		if inflight == nil {
			return nil
		}
		d := <-inflight
		inflight = nil
		if d.err != nil {
			return fmt.Errorf("linking: storing links of connection %q: %w", c.ID, d.err)
		}
		p.res.Written += len(d.w.Put) + len(d.w.Delete)
		p.res.Opened += len(d.opened)
		for _, f := range d.opened {
			if p.res.OpenedByKind == nil {
				p.res.OpenedByKind = map[FindingKind]int{}
			}
			p.res.OpenedByKind[f.Kind]++
		}
		p.res.Closed += len(d.w.Close)
		if l.cfg.OnFinding != nil {
			l.hear(d.opened)
			closed = append(closed, d.w.Close...)
		}
		spare = d.w
		spare.Put, spare.Delete, spare.Open, spare.Close, spare.Confirm = spare.Put[:0], spare.Delete[:0], spare.Open[:0], spare.Close[:0], spare.Confirm[:0]
		return nil
	}
	// flush waits for the write in flight and starts writing w.
	flush := func() error {
		if err := wait(); err != nil {
			return err
		}
		if len(w.Put)+len(w.Delete)+len(w.Open)+len(w.Close)+len(w.Confirm) == 0 {
			return nil
		}
		slices.Sort(w.Close)
		slices.Sort(w.Confirm)
		w.PutNew, replaced = len(w.Put) > 0 && replaced == 0, 0
		inflight = make(chan writeDone, 1)
		go func(w Write, done chan<- writeDone) {
			opened, err := l.store.WriteLinks(ctx, w)
			done <- writeDone{w: w, opened: opened, err: err}
		}(w, inflight)
		w, spare = spare, Write{}
		return nil
	}
	var fs []Finding
	err := recs(func(r resync.StoredRecord) error {
		a, ok := r.Record.(*resync.Account)
		if !ok || a == nil {
			return nil
		}
		p.res.Accounts++
		var k Link
		k, fs = p.evaluate(c, rules, a, fs[:0])
		if o, ok := old[r.Key]; !ok || o != p.sig(k) {
			w.Put = append(w.Put, k)
			if ok {
				replaced++
			}
		}
		delete(old, r.Key) // seen: what is left at the end was not
		for _, f := range fs {
			fk := findingKey{f.Kind, f.AccountKey}
			if o, ok := open[fk]; ok {
				w.Confirm = append(w.Confirm, o.Seq)
				delete(open, fk)
				continue
			}
			w.Open = append(w.Open, f)
		}
		for _, kind := range allKinds {
			if o, ok := open[findingKey{kind, r.Key}]; ok {
				w.Close = append(w.Close, o.Seq)
				delete(open, findingKey{kind, r.Key})
			}
		}
		if len(w.Put)+len(w.Open)+len(w.Close)+len(w.Confirm) >= writeChunk {
			return flush()
		}
		return nil
	})
	if err != nil {
		if werr := wait(); werr != nil {
			err = errors.Join(err, werr)
		}
		return fmt.Errorf("linking: reading accounts of connection %q: %w", c.ID, err)
	}
	for key := range old {
		if whole || removed[key] {
			w.Delete = append(w.Delete, AccountRef{c.ID, key})
		}
	}
	for fk, o := range open {
		if whole || removed[fk.key] {
			w.Close = append(w.Close, o.Seq)
		} else {
			w.Confirm = append(w.Confirm, o.Seq)
		}
	}
	if err := flush(); err != nil {
		return err
	}
	if err := wait(); err != nil {
		return err
	}
	if len(closed) > 0 {
		slices.Sort(closed)
		fs, err := l.closedFindings(ctx, p.tenant, c.ID, closed)
		if err != nil {
			return err
		}
		l.hear(fs)
	}
	return nil
}

// hear calls Config.OnFinding with each of fs, never concurrently.
func (l *Linker) hear(fs []Finding) {
	l.onFinding.Lock()
	defer l.onFinding.Unlock()
	for _, f := range fs {
		l.cfg.OnFinding(f)
	}
}

// writeDone is what a write of links did.
type writeDone struct {
	w      Write
	opened []Finding
	err    error
}

// closedFindings reads back the findings just closed, for OnFinding.
func (l *Linker) closedFindings(ctx context.Context, tenant, conn string, seqs []int64) ([]Finding, error) {
	var out []Finding
	var after int64
	for {
		page, err := l.store.Findings(ctx, FindingQuery{Tenant: tenant, ConnectionID: conn, AfterSeq: after, Limit: 1000})
		if err != nil {
			return nil, err
		}
		for _, f := range page {
			if _, ok := slices.BinarySearch(seqs, f.Seq); ok {
				out = append(out, f)
			}
		}
		if len(page) < 1000 {
			return out, nil
		}
		after = page[len(page)-1].Seq
	}
}

var allKinds = []FindingKind{FindingOffboardingGap, FindingOrphaned, FindingNoMFA, FindingUnused}

// evaluate returns account a's link, found by rules, and its findings
// appended to fs.
func (p *pass) evaluate(c resync.Connection, rules []Rule, a *resync.Account, fs []Finding) (Link, []Finding) {
	k := Link{Tenant: p.tenant, ConnectionID: c.ID, AccountKey: a.Key, Active: a.Status == resync.StatusActive,
		UpdatedAt: p.now, RunID: p.runID}
	service := a.Type == resync.AccountTypeService || (p.l.cfg.ServiceAccount != nil && p.l.cfg.ServiceAccount(c, a))
	var who *person
	d, decided := p.decisions[AccountRef{c.ID, a.Key}]
	switch {
	case decided && (d.Kind == DecideUnlink || (d.Kind == DecideLink && d.Person == "")):
		// A link decision without a person: the person was erased.
		k.Situation, k.Rule = Unlinked, RuleManual
	case decided && (d.Kind == DecideLink || d.Kind == DecideService):
		k.Rule = RuleManual
		if d.Kind == DecideService {
			service = true
		}
		if d.Person != "" {
			who = p.ps.byRef[d.Person]
			k.PersonID = d.Person
			if who != nil {
				k.PersonID = who.ID
			}
		}
		k.Situation = Linked
	default:
		rule, found := p.ps.match(a, rules, p.l.cfg.DomainAliases)
		k.Rule = rule
		switch len(found) {
		case 0:
			k.Situation = Unlinked
		case 1:
			who, k.Situation, k.PersonID = found[0], Linked, found[0].ID
		default:
			k.Situation = Ambiguous
			for _, f := range found {
				k.Candidates = append(k.Candidates, f.ID)
			}
			slices.Sort(k.Candidates)
		}
	}
	var offWhy string
	if who != nil && k.Active {
		if off, why := who.offboarded(p.now); off {
			offWhy = why
			k.Situation = OffboardingGap
		}
	}
	if service {
		k.Situation = ServiceAccount
	}
	if !k.Active {
		return k, fs
	}
	finding := func(kind FindingKind, detail string) {
		fs = append(fs, Finding{Tenant: p.tenant, Kind: kind, ConnectionID: c.ID, AccountKey: a.Key, PersonID: k.PersonID,
			Detail: detail, OpenedAt: p.now, OpenedRun: p.runID, ConfirmedAt: p.now, ConfirmedRun: p.runID})
	}
	switch k.Situation {
	case OffboardingGap:
		finding(FindingOffboardingGap, who.ID+" "+offWhy)
	case Unlinked:
		finding(FindingOrphaned, "no person matches")
	}
	if a.MFA == resync.MFADisabled && !service {
		finding(FindingNoMFA, "the provider reports MFA disabled")
	}
	if p.l.cfg.UnusedAfter > 0 {
		last := a.LastLogin
		for _, t := range a.LastUsed {
			if t.After(last) {
				last = t
			}
		}
		if !last.IsZero() && !p.now.Before(last.Add(p.l.cfg.UnusedAfter)) {
			finding(FindingUnused, "last used "+last.UTC().Format(time.DateOnly))
		}
	}
	return k, fs
}

func (p *pass) rules(c resync.Connection) []Rule {
	if p.l.cfg.Rules != nil {
		if rs := p.l.cfg.Rules(c); len(rs) > 0 {
			return rs
		}
	}
	return DefaultRules()
}
