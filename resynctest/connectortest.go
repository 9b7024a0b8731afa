package resynctest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/openresync/resync"
	"github.com/openresync/resync/storage"
)

// ConnectorOptions tunes TestConnector. The zero value suits a connector
// whose data is small and does not change while the suite runs.
type ConnectorOptions struct {
	// MaxPages bounds a full read: a read still returning a Next cursor
	// after this many pages fails the suite as one that would not end.
	// 0 means 10000.
	MaxPages int
	// WantRecords, if greater than 0, is the number of records a full read
	// must return.
	WantRecords int
	// Limits are the record limits every record must pass (the zero value
	// means resync's defaults, as the engine uses unless configured).
	Limits resync.Limits
	// Timeout bounds each check, all of its page reads together. 0 means
	// one minute.
	Timeout time.Duration
	// ForwardOnlyCursors says the connector's cursors cannot be repeated
	// (an LDAP paging cookie dies with its search): the suite then never
	// reads a page again from its cursor, only restarts from cursor "",
	// as the engine does for such a connector.
	ForwardOnlyCursors bool
	// Fail, if set, turns on the fault checks: the suite calls it to make
	// the next request for the first page fail as f says (f.Page is 1,
	// f.Times 1, or 2 for a 401 so a connector that refreshes its token
	// once still sees it), then calls ReadPage(ctx, "") and checks the
	// error's classification: 401 is permanent (resync.IsPermanent); 429
	// with Retry-After is retryable after that delay (resync.RetryDelay);
	// 500 and 503 are retryable, not permanent. For a connector tested
	// against a Provider, pass the Provider's Fail method.
	Fail func(f ProviderFault)
	// Requests, if set with Fail, counts the requests the connector has
	// made (a Provider's Requests method): the fault checks then also
	// check there is no retry storm, each failing ReadPage making one
	// request (two for a 401: one token refresh), the engine owning the
	// retries.
	Requests func() int
}

func (o ConnectorOptions) withDefaults() ConnectorOptions {
	if o.MaxPages <= 0 {
		o.MaxPages = 10000
	}
	if o.Timeout <= 0 {
		o.Timeout = time.Minute
	}
	return o
}

// TestConnector checks a resync.Connector against its contract
// (connector.go) the way the engine drives it: a full read from cursor ""
// ends within opts.MaxPages pages, never repeating a cursor; every record
// passes resync.ValidateRecord; keys are unique per kind within one read;
// reading a cursor again returns the same page (same keys and
// fingerprints); a second full read returns the same records; ReadPage
// with a canceled context returns an error wrapping context.Canceled; and,
// if opts.WantRecords is set, a read returns that many records. With
// opts.ForwardOnlyCursors, only the first page is read again; with
// opts.Fail, a Faults check injects a 401, a 429 and 5xx responses and
// checks their classification (and, with opts.Requests, that there is no
// retry storm). Each check
// runs as a subtest, and a failure names the rule broken and where it is
// written.
//
// newConnector is called once per subtest. The data behind it must not
// change while the suite runs: point it at a recorded HTTP fixture or a
// test tenant. Its ReadPage is never called concurrently.
//
//	func TestConformance(t *testing.T) {
//		srv := httptest.NewServer(fixtureHandler(t)) // replays recorded responses
//		t.Cleanup(srv.Close)
//		resynctest.TestConnector(t, func(t *testing.T) resync.Connector {
//			return myprovider.New(myprovider.Config{BaseURL: srv.URL, Token: "test"})
//		}, resynctest.ConnectorOptions{WantRecords: 250})
//	}
func TestConnector(t *testing.T, newConnector func(t *testing.T) resync.Connector, opts ConnectorOptions) {
	t.Helper()
	opts = opts.withDefaults()
	for _, c := range connectorChecks {
		if c.name == "Faults" && opts.Fail == nil {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			conn := newConnector(t)
			if conn == nil {
				t.Fatal("resynctest.TestConnector: newConnector returned nil")
			}
			ctx, cancel := context.WithTimeout(t.Context(), opts.Timeout)
			defer cancel()
			if err := c.fn(ctx, conn, opts); err != nil {
				t.Error(err)
			}
		})
	}
}

type connectorCheck struct {
	name string
	fn   func(ctx context.Context, c resync.Connector, opts ConnectorOptions) error
}

var connectorChecks = []connectorCheck{
	{"FullRead", checkFullRead},
	{"RepeatCursor", checkRepeatCursor},
	{"SecondRead", checkSecondRead},
	{"CanceledContext", checkConnectorCanceled},
	{"Faults", checkFaults},
}

var (
	ruleConnRead    = rule{"Connector contract: a read pages from cursor \"\" until Next is empty", "connector.go"}
	ruleConnEnds    = rule{"Connector contract: a full read ends", "connector.go (ConnectorOptions.MaxPages)"}
	ruleConnValid   = rule{"Connector contract: records pass ValidateRecord", "connector.go, record.go; package resync, Guarantees: bad input"}
	ruleConnUnique  = rule{"Connector contract: keys unique per kind within one full read", "connector.go"}
	ruleConnRepeat  = rule{"Connector contract: ReadPage with the same cursor is safe to repeat", "connector.go"}
	ruleConnStable  = rule{"Connector contract: records of the connection's current state", "connector.go (the data must not change during the suite)"}
	ruleConnCtx     = rule{"Connector contract: honour ctx", "connector.go"}
	ruleConnRecords = rule{"ConnectorOptions.WantRecords", "connectortest.go"}
	ruleConnClass   = rule{"Connector contract: errors classified (permanent, retry after, retryable)", "connector.go, retry.go"}
	ruleConnStorm   = rule{"Connector contract: the engine owns retries; one request per ReadPage", "connector.go (ConnectorOptions.Requests)"}
)

// readPage is one page of a full read.
type readPage struct {
	cursor  string
	next    string
	records map[entryKey]uint64
}

// fullRead reads every page as the engine does (without retries) and
// checks cursors, validity and uniqueness on the way.
func fullRead(ctx context.Context, c resync.Connector, opts ConnectorOptions) ([]readPage, map[entryKey]uint64, error) {
	var pages []readPage
	all := map[entryKey]uint64{}
	seen := map[string]int{}
	cursor := ""
	for n := 0; ; n++ {
		if n == opts.MaxPages {
			return nil, nil, ruleConnEnds.errorf("a read from cursor \"\" still had a Next cursor (%q) after %d pages", cursor, opts.MaxPages)
		}
		p, err := c.ReadPage(ctx, cursor)
		if err != nil {
			return nil, nil, ruleConnRead.errorf("ReadPage(%q) of page %d failed: %w", cursor, n, err)
		}
		rp := readPage{cursor: cursor, next: p.Next, records: map[entryKey]uint64{}}
		for i, r := range p.Records {
			if err := resync.ValidateRecord(r, opts.Limits); err != nil {
				return nil, nil, ruleConnValid.errorf("page %d (cursor %q) record %d: %w", n, cursor, i, err)
			}
			k := entryKey{storage.KindOfRecord(r), storage.KeyOf(r)}
			if _, dup := all[k]; dup {
				return nil, nil, ruleConnUnique.errorf("%s %q appears twice in one read (again on page %d, cursor %q)", k.kind, k.key, n, cursor)
			}
			fp := resync.Fingerprint(r)
			all[k], rp.records[k] = fp, fp
		}
		if p.Total < 0 {
			return nil, nil, ruleConnRead.errorf("page %d (cursor %q) has a negative Total %d", n, cursor, p.Total)
		}
		pages = append(pages, rp)
		if p.Next == "" {
			return pages, all, nil
		}
		if prev, ok := seen[p.Next]; ok || p.Next == cursor {
			return nil, nil, ruleConnEnds.errorf("page %d returned Next %q, the cursor of page %d: the read would loop", n, p.Next, prev)
		}
		seen[p.Next] = n + 1
		cursor = p.Next
	}
}

func checkFullRead(ctx context.Context, c resync.Connector, opts ConnectorOptions) error {
	_, all, err := fullRead(ctx, c, opts)
	if err != nil {
		return err
	}
	if opts.WantRecords > 0 && len(all) != opts.WantRecords {
		return ruleConnRecords.errorf("a full read returned %d records, want %d", len(all), opts.WantRecords)
	}
	return nil
}

func checkRepeatCursor(ctx context.Context, c resync.Connector, opts ConnectorOptions) error {
	pages, _, err := fullRead(ctx, c, opts)
	if err != nil {
		return err
	}
	// Re-read the first, second, middle and last pages, last first: the
	// engine retries any page after any other.
	idx := []int{len(pages) - 1, len(pages) / 2, min(1, len(pages)-1), 0}
	if opts.ForwardOnlyCursors {
		// Only a restart from the first page is possible.
		idx = []int{0}
	}
	idx = slices.Compact(idx)
	for _, i := range idx {
		want := pages[i]
		p, err := c.ReadPage(ctx, want.cursor)
		if err != nil {
			return ruleConnRepeat.errorf("reading page %d (cursor %q) again failed: %w", i, want.cursor, err)
		}
		got := map[entryKey]uint64{}
		for _, r := range p.Records {
			if r == nil {
				return ruleConnValid.errorf("page %d (cursor %q) read again has a nil record", i, want.cursor)
			}
			got[entryKey{storage.KindOfRecord(r), storage.KeyOf(r)}] = resync.Fingerprint(r)
		}
		if !maps.Equal(got, want.records) {
			return ruleConnRepeat.errorf("reading page %d (cursor %q) again returned %s", i, want.cursor, mapDiff(got, want.records))
		}
		if (p.Next == "") != (want.next == "") {
			return ruleConnRepeat.errorf("reading page %d (cursor %q) again returned Next %q, first %q", i, want.cursor, p.Next, want.next)
		}
	}
	return nil
}

func checkSecondRead(ctx context.Context, c resync.Connector, opts ConnectorOptions) error {
	_, first, err := fullRead(ctx, c, opts)
	if err != nil {
		return err
	}
	_, second, err := fullRead(ctx, c, opts)
	if err != nil {
		return err
	}
	if !maps.Equal(first, second) {
		return ruleConnStable.errorf("a second full read returned %s", mapDiff(second, first))
	}
	return nil
}

func checkConnectorCanceled(ctx context.Context, c resync.Connector, _ ConnectorOptions) error {
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err := c.ReadPage(cctx, "")
	if err == nil {
		return ruleConnCtx.errorf("ReadPage with a canceled context returned a page and no error")
	}
	if !errors.Is(err, context.Canceled) {
		return ruleConnCtx.errorf("ReadPage with a canceled context returned %v, want an error wrapping context.Canceled (ctx.Err())", err)
	}
	return nil
}

// checkFaults injects a 401, a 429 with Retry-After, a 500 and a 503 on
// the first page, one at a time, and checks how ReadPage classifies each
// and how many requests it made; a read after them all must succeed.
func checkFaults(ctx context.Context, c resync.Connector, opts ConnectorOptions) error {
	if opts.Fail == nil {
		return nil
	}
	const wait = 7 * time.Second
	faults := []struct {
		f         ProviderFault
		permanent bool
		delay     time.Duration
		requests  int
	}{
		{ProviderFault{Status: http.StatusUnauthorized, Times: 2}, true, 0, 2},
		{ProviderFault{Status: http.StatusTooManyRequests, Header: http.Header{"Retry-After": {"7"}}}, false, wait, 1},
		{ProviderFault{Status: http.StatusInternalServerError}, false, 0, 1},
		{ProviderFault{Status: http.StatusServiceUnavailable}, false, 0, 1},
	}
	for _, tc := range faults {
		f := tc.f
		f.Page = 1
		if f.Times == 0 {
			f.Times = 1
		}
		before := 0
		if opts.Requests != nil {
			before = opts.Requests()
		}
		opts.Fail(f)
		_, err := c.ReadPage(ctx, "")
		made := 0
		if opts.Requests != nil {
			made = opts.Requests() - before
		}
		if opts.Requests != nil && (made < 1 || made > tc.requests) {
			return ruleConnStorm.errorf("a %d on the first page made ReadPage send %d requests, want at most %d", f.Status, made, tc.requests)
		}
		if err == nil {
			// A connector may refresh its token once after a 401 and
			// succeed if the second try passes; the fault has Times 2, so
			// success here means it retried more than once.
			return ruleConnClass.errorf("ReadPage(\"\") returned no error with the first page answering %d", f.Status)
		}
		if got := resync.IsPermanent(err); got != tc.permanent {
			return ruleConnClass.errorf("a %d gave an error with IsPermanent %v, want %v: %v", f.Status, got, tc.permanent, err)
		}
		if tc.delay > 0 {
			if d, ok := resync.RetryDelay(err); !ok || d < tc.delay-time.Second || d > tc.delay+time.Second {
				return ruleConnClass.errorf("a %d with Retry-After: 7 gave RetryDelay %v (set %v), want about %v: %v", f.Status, d, ok, tc.delay, err)
			}
		}
		if tc.requests > made {
			// Consume what is left of a 401's second failure so the
			// next check starts clean.
			_, _ = c.ReadPage(ctx, "")
		}
	}
	if _, err := c.ReadPage(ctx, ""); err != nil {
		return ruleConnRead.errorf("ReadPage(\"\") after the faults ended failed: %w", err)
	}
	return nil
}

// mapDiff describes how got differs from want, briefly.
func mapDiff(got, want map[entryKey]uint64) string {
	var missing, extra, changed []string
	for k, fp := range want {
		g, ok := got[k]
		switch {
		case !ok:
			missing = append(missing, k.String())
		case g != fp:
			changed = append(changed, k.String())
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			extra = append(extra, k.String())
		}
	}
	for _, s := range [][]string{missing, extra, changed} {
		slices.Sort(s)
	}
	short := func(s []string) []string { return s[:min(len(s), 5)] }
	return fmt.Sprintf("%d records (want %d): %d missing %q, %d extra %q, %d with other content %q",
		len(got), len(want), len(missing), short(missing), len(extra), short(extra), len(changed), short(changed))
}
