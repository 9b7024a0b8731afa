// This file turns the paging styles of HTTP APIs into the engine's opaque
// cursors: Link headers, offsets, page numbers and SCIM's startIndex.

package connkit

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/openresync/resync"
)

// NextLink returns the target of the rel="next" link of a Link header
// (RFC 8288), as GitHub, Okta and many others page: the URL as written,
// possibly relative (Response.NextLink resolves it). It returns "" when
// there is none. Several Link fields, several links per field, several
// relation types per link and quoted commas are handled.
func NextLink(h http.Header) string {
	for _, v := range h.Values("Link") {
		for len(v) > 0 {
			v = strings.TrimLeft(v, " \t,")
			if !strings.HasPrefix(v, "<") {
				return "" // not a Link field we can read
			}
			end := strings.IndexByte(v, '>')
			if end < 0 {
				return ""
			}
			target := v[1:end]
			v = v[end+1:]
			// Parameters up to the next comma outside quotes.
			params, rest := splitLinkParams(v)
			v = rest
			for _, p := range params {
				name, val, _ := strings.Cut(p, "=")
				if !strings.EqualFold(strings.TrimSpace(name), "rel") {
					continue
				}
				val = strings.Trim(strings.TrimSpace(val), `"`)
				for _, rel := range strings.Fields(val) {
					if strings.EqualFold(rel, "next") {
						return strings.TrimSpace(target)
					}
				}
			}
		}
	}
	return ""
}

// splitLinkParams reads the ;-separated parameters of one link up to the
// comma that ends it, and returns the rest of the field.
func splitLinkParams(v string) (params []string, rest string) {
	start, quoted := 0, false
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c == '\\' && quoted:
			i++
		case c == '"':
			quoted = !quoted
		case c == ';' && !quoted:
			if p := strings.TrimSpace(v[start:i]); p != "" {
				params = append(params, p)
			}
			start = i + 1
		case c == ',' && !quoted:
			if p := strings.TrimSpace(v[start:i]); p != "" {
				params = append(params, p)
			}
			return params, v[i+1:]
		}
	}
	if p := strings.TrimSpace(v[start:]); p != "" {
		params = append(params, p)
	}
	return params, ""
}

// ParseOffset reads an offset cursor made by NextOffset: "" (the first
// page) is 0. Anything but a non-negative integer is a permanent error.
func ParseOffset(cursor string) (int, error) {
	return parseCursorInt(cursor, 0)
}

// NextOffset is the cursor of the page after one that started at offset
// and returned got items of the limit asked for; total is the provider's
// count of all items, or -1 if it gives none. It returns "" after the last
// page: a short or empty page, or total reached.
func NextOffset(offset, got, limit, total int) string {
	if got <= 0 || got < limit || (total >= 0 && offset+got >= total) {
		return ""
	}
	return strconv.Itoa(offset + got)
}

// ParsePage reads a page-number cursor made by NextPage: "" is the first
// page, first (0 or 1, as the API counts). Anything but an integer at
// least first is a permanent error.
func ParsePage(cursor string, first int) (int, error) {
	return parseCursorInt(cursor, first)
}

// NextPage is the cursor of the page after page, which returned got items
// of the limit asked for; last is the provider's number of the last page,
// or -1 if it gives none. It returns "" after the last page.
func NextPage(page, got, limit, last int) string {
	if got <= 0 || got < limit || (last >= 0 && page >= last) {
		return ""
	}
	return strconv.Itoa(page + 1)
}

func parseCursorInt(cursor string, first int) (int, error) {
	if cursor == "" {
		return first, nil
	}
	n, err := strconv.Atoi(cursor)
	if err != nil || n < first {
		return 0, resync.Permanent(fmt.Errorf("connkit: cursor %q is not a number from %d", truncate(cursor, 40), first))
	}
	return n, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// StartIndex pages a SCIM-style list (RFC 7644 §3.4.2.4: 1-based
// startIndex and count) that may change between requests. Such a list is
// not a snapshot: a user deleted before the page being read shifts every
// later one back, and a plain reader skips one; a user added shifts them
// forward, and it reads one twice. StartIndex asks each page to overlap
// the previous by Overlap items and drops what an earlier page already
// returned, so a shift of up to Overlap items costs nothing. A larger
// shift back is seen (the page's first item is new to the read), and
// StartIndex steps back a page at a time until it meets items it has
// read, so nothing present for the whole read is lost.
//
// A page shorter than Count is not the end of the list: a service provider
// may cap count at its own maximum (RFC 7644 §3.4.2.4) and return fewer
// items than asked while totalResults says more follow. The list ends at
// the page that reaches totalResults, or at an empty page. Without
// totalResults (which RFC 7644 requires), a short page is followed by one
// more request, and only an empty page ends the list. The next page
// starts where the last one ended, less the overlap; a page shorter than
// the overlap still moves on by at least one item.
//
// Use one StartIndex per read (a field of the connector value the
// factory builds): it remembers the IDs it has returned. Re-reading a
// cursor returns that page's items again, as the engine's retries need.
type StartIndex[T any] struct {
	// Count is the page size asked for; 0 means 100.
	Count int
	// Overlap is how many items of the previous page each page asks for
	// again; 0 means Count/100, at least 1. It must be less than Count. A
	// read costs about Overlap/(Count-Overlap) more requests than pages
	// (1% at the defaults), plus one request back for each shift larger
	// than Overlap.
	Overlap int
	// ID returns an item's unique and stable ID (the SCIM id).
	ID func(T) string

	seen map[string]int // ID → start index of the cursor that returned it
}

// Fetch requests count items from the 1-based startIndex, returning them
// and the provider's totalResults (-1 if absent). It may return fewer than
// count items (the provider's own maximum): StartIndex asks for the rest
// on the next page.
type Fetch[T any] func(ctx context.Context, startIndex, count int) (items []T, totalResults int, err error)

// Page reads the page at cursor ("" for the first) through fetch, and
// returns its items not returned by an earlier page and the next cursor
// ("" after the last page: an empty page, or one that reaches
// totalResults). An error of fetch is returned as it is.
func (p *StartIndex[T]) Page(ctx context.Context, cursor string, fetch Fetch[T]) ([]T, string, error) {
	count, overlap := p.Count, p.Overlap
	if count <= 0 {
		count = 100
	}
	if overlap <= 0 {
		overlap = max(count/100, 1)
	}
	if overlap >= count {
		return nil, "", resync.Permanent(fmt.Errorf("connkit: StartIndex.Overlap %d must be less than Count %d", overlap, count))
	}
	start, err := parseCursorInt(cursor, 1)
	if err != nil {
		return nil, "", err
	}
	if p.seen == nil {
		p.seen = map[string]int{}
	}
	items, total, err := fetch(ctx, start, count)
	if err != nil {
		return nil, "", err
	}
	got := len(items)
	// The list may have shifted back by more than the overlap since the
	// previous page: then no item of this page was read before, and items
	// between the two pages would be lost. Step back until a page meets
	// an item read before (or the list's start), keeping every new item
	// met on the way.
	var back []T
	for from, window := start, items; from > 1 && len(window) > 0 && !p.anyEarlier(window, start); {
		// Step back by what the provider returns per request (it may cap
		// count), so that the windows meet.
		from = max(from-max(len(window)-overlap, 1), 1)
		if window, _, err = fetch(ctx, from, count); err != nil {
			return nil, "", err
		}
		back = append(window, back...)
	}
	out := make([]T, 0, len(back)+got)
	here := make(map[string]bool, len(back)+got)
	for _, it := range append(back, items...) {
		id := p.ID(it)
		if at, ok := p.seen[id]; (ok && at != start) || here[id] {
			continue // returned by another page, or met twice on this one
		}
		p.seen[id], here[id] = start, true
		out = append(out, it)
	}
	if got == 0 || (total >= 0 && start+got-1 >= total) {
		return out, "", nil
	}
	// A short page is the provider's cap, not the end: the next page
	// overlaps this one, and moves on by at least one item.
	return out, strconv.Itoa(start + got - min(overlap, got-1)), nil
}

// anyEarlier reports whether an item of window was returned by a page
// other than the one at start.
func (p *StartIndex[T]) anyEarlier(window []T, start int) bool {
	for _, it := range window {
		if at, ok := p.seen[p.ID(it)]; ok && at != start {
			return true
		}
	}
	return false
}
