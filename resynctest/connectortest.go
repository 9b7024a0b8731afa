package resynctest

import (
	"context"
	"errors"
	"fmt"
	"maps"
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
// if opts.WantRecords is set, a read returns that many records. Each check
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
