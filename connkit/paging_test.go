package connkit_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openresync/resync"
	"github.com/openresync/resync/connkit"
)

// TestNextLink reads Link headers as RFC 8288 writes them and as GitHub
// (https://docs.github.com/rest/using-the-rest-api/using-pagination-in-the-rest-api)
// and Okta (https://developer.okta.com/docs/api/#pagination) send them.
func TestNextLink(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		h    http.Header
		want string
	}{
		{"none", header(), ""},
		{"GitHub", header("Link", `<https://api.github.com/repositories/1300192/issues?page=2>; rel="prev", <https://api.github.com/repositories/1300192/issues?page=4>; rel="next", <https://api.github.com/repositories/1300192/issues?page=515>; rel="last"`),
			"https://api.github.com/repositories/1300192/issues?page=4"},
		{"Okta, one field per link", header("Link", `<https://acme.okta.com/api/v1/users?limit=200>; rel="self"`, "Link", `<https://acme.okta.com/api/v1/users?after=00u1&limit=200>; rel="next"`),
			"https://acme.okta.com/api/v1/users?after=00u1&limit=200"},
		{"last page", header("Link", `<https://x.example/a?page=1>; rel="prev"`), ""},
		{"unquoted rel", header("Link", `</users?page=2>; rel=next`), "/users?page=2"},
		{"several rels", header("Link", `</p3>; rel="last next"`), "/p3"},
		{"case", header("Link", `</p2>; REL="Next"`), "/p2"},
		{"quoted comma and semicolon in a parameter", header("Link", `</p1>; title="a, b; c"; rel="prev", </p2>; rel="next"`), "/p2"},
		{"next-archive is not next", header("Link", `</p9>; rel="next-archive"`), ""},
		{"garbage", header("Link", `next please`), ""},
		{"unterminated", header("Link", `<https://x.example/p2; rel="next"`), ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, c.want, connkit.NextLink(c.h))
		})
	}
}

// FuzzNextLink: no Link value makes the parser panic, and what it returns
// is a target written in the value.
func FuzzNextLink(f *testing.F) {
	for _, s := range []string{`<https://a.example/p2>; rel="next"`, `</p1>; title="a, b"; rel="prev", </p2>; rel=next`, `<`, `<>;rel=next`, `<x>; rel="`, `,,,;;;`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		got := connkit.NextLink(header("Link", v))
		if got != "" && !strings.Contains(v, got) {
			t.Fatalf("NextLink(%q) = %q, not in the field", v, got)
		}
	})
}

func TestOffsetAndPageCursors(t *testing.T) {
	t.Parallel()
	off, err := connkit.ParseOffset("")
	require.NoError(t, err)
	assert.Equal(t, 0, off)
	assert.Equal(t, "100", connkit.NextOffset(0, 100, 100, -1), "a full page: more may follow")
	assert.Equal(t, "", connkit.NextOffset(0, 99, 100, -1), "a short page is the last")
	assert.Equal(t, "", connkit.NextOffset(0, 0, 100, -1), "an empty page is the last")
	assert.Equal(t, "", connkit.NextOffset(100, 100, 100, 200), "total reached")
	assert.Equal(t, "200", connkit.NextOffset(100, 100, 100, 201))
	off, err = connkit.ParseOffset("200")
	require.NoError(t, err)
	assert.Equal(t, 200, off)
	for _, bad := range []string{"-1", "x", "1.5"} {
		_, err := connkit.ParseOffset(bad)
		require.Error(t, err, bad)
		assert.True(t, resync.IsPermanent(err), "a bad cursor is not retried")
	}

	p, err := connkit.ParsePage("", 1)
	require.NoError(t, err)
	assert.Equal(t, 1, p)
	assert.Equal(t, "2", connkit.NextPage(1, 50, 50, -1))
	assert.Equal(t, "", connkit.NextPage(3, 50, 50, 3), "last page reached")
	assert.Equal(t, "", connkit.NextPage(2, 10, 50, -1))
	_, err = connkit.ParsePage("0", 1)
	assert.True(t, resync.IsPermanent(err))
}

// scimList is a SCIM service provider's user list that is not session
// based: between two requests users may be added or removed anywhere.
type scimList struct {
	mu      sync.Mutex
	ids     []string
	next    int
	fetches int
	onFetch func(l *scimList) // runs before each fetch but the first, lock held
	// cap is the provider's own maximum per response (0: none); noTotal
	// leaves totalResults out.
	cap     int
	noTotal bool
}

func (l *scimList) fetch(_ context.Context, startIndex, count int) ([]string, int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fetches > 0 && l.onFetch != nil {
		l.onFetch(l)
	}
	l.fetches++
	if l.cap > 0 {
		count = min(count, l.cap)
	}
	from := min(startIndex-1, len(l.ids))
	to := min(from+count, len(l.ids))
	total := len(l.ids)
	if l.noTotal {
		total = -1
	}
	return append([]string(nil), l.ids[from:to]...), total, nil
}

func (l *scimList) remove(i int) { l.ids = append(l.ids[:i], l.ids[i+1:]...) }

func (l *scimList) insert(i int) {
	l.next++
	l.ids = append(l.ids[:i], append([]string{fmt.Sprintf("new%d", l.next)}, l.ids[i:]...)...)
}

func newSCIMList(n int) *scimList {
	l := &scimList{}
	for i := range n {
		l.ids = append(l.ids, fmt.Sprintf("u%04d", i))
	}
	return l
}

// readAll reads the whole list with a StartIndex as the engine would,
// re-reading each cursor once (as after a transient failure).
func readAll(t *testing.T, l *scimList, p *connkit.StartIndex[string]) []string {
	t.Helper()
	var all []string
	cursor := ""
	for range 10_000 {
		items, next, err := p.Page(context.Background(), cursor, l.fetch)
		require.NoError(t, err)
		all = append(all, items...)
		if next == "" {
			return all
		}
		require.NotEqual(t, cursor, next, "no progress")
		cursor = next
	}
	t.Fatal("the read did not end")
	return nil
}

// TestStartIndexShiftingList reads a SCIM-style list that shifts between
// pages: users removed before the page being read (a plain reader skips
// the ones that slide into the gap) and added before it (a plain reader
// reads one twice). Every user present for the whole read must be read
// exactly once.
func TestStartIndexShiftingList(t *testing.T) {
	t.Parallel()
	id := func(s string) string { return s }

	t.Run("a plain reader loses users", func(t *testing.T) {
		// The failure StartIndex exists for, shown with overlap 0 emulated
		// by a naive loop.
		l := newSCIMList(50)
		l.onFetch = func(l *scimList) { l.remove(0); l.remove(0) }
		seen := map[string]bool{}
		for start := 1; ; start += 10 {
			items, _, _ := l.fetch(context.Background(), start, 10)
			for _, it := range items {
				seen[it] = true
			}
			if len(items) < 10 {
				break
			}
		}
		assert.False(t, seen["u0010"], "the naive reader was expected to skip u0010")
	})

	for _, tc := range []struct {
		name    string
		count   int
		overlap int
		mutate  func(r *rand.Rand, l *scimList)
	}{
		{"removals within the overlap", 10, 3, func(r *rand.Rand, l *scimList) { l.remove(0); l.remove(0) }},
		{"removals beyond the overlap", 10, 1, func(r *rand.Rand, l *scimList) {
			for range 4 {
				l.remove(0)
			}
		}},
		{"removals of a whole page", 10, 2, func(r *rand.Rand, l *scimList) {
			for range 15 {
				if len(l.ids) > 0 {
					l.remove(0)
				}
			}
		}},
		{"insertions", 10, 2, func(r *rand.Rand, l *scimList) { l.insert(0); l.insert(0); l.insert(0) }},
		{"random churn", 25, 3, func(r *rand.Rand, l *scimList) {
			for range r.IntN(8) {
				if r.IntN(2) == 0 && len(l.ids) > 0 {
					l.remove(r.IntN(len(l.ids)))
				} else {
					l.insert(r.IntN(len(l.ids) + 1))
				}
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			for seed := range uint64(50) {
				r := rand.New(rand.NewPCG(seed, 9))
				l := newSCIMList(400)
				initial := append([]string(nil), l.ids...)
				l.onFetch = func(l *scimList) { tc.mutate(r, l) }
				p := &connkit.StartIndex[string]{Count: tc.count, Overlap: tc.overlap, ID: id}
				got := readAll(t, l, p)

				l.mu.Lock()
				final := map[string]bool{}
				for _, x := range l.ids {
					final[x] = true
				}
				l.mu.Unlock()
				count := map[string]int{}
				for _, x := range got {
					count[x]++
				}
				for x, n := range count {
					require.Equal(t, 1, n, "seed %d: %s read %d times", seed, x, n)
				}
				for _, x := range initial {
					if final[x] { // present for the whole read (never re-added)
						require.Equal(t, 1, count[x], "seed %d: %s, present throughout, was lost", seed, x)
					}
				}
			}
		})
	}
}

// Re-reading a cursor (the engine's retry after a transient failure)
// returns that page's items again, not an empty page.
func TestStartIndexRereadCursor(t *testing.T) {
	t.Parallel()
	l := newSCIMList(30)
	p := &connkit.StartIndex[string]{Count: 10, Overlap: 2, ID: func(s string) string { return s }}
	first, next, err := p.Page(context.Background(), "", l.fetch)
	require.NoError(t, err)
	require.Len(t, first, 10)
	second, next2, err := p.Page(context.Background(), next, l.fetch)
	require.NoError(t, err)
	again, next3, err := p.Page(context.Background(), next, l.fetch)
	require.NoError(t, err)
	assert.Equal(t, second, again)
	assert.Equal(t, next2, next3)
	assert.Equal(t, []string{"u0010", "u0011", "u0012", "u0013", "u0014", "u0015", "u0016", "u0017"}, second, "the overlap is dropped")

	_, _, err = (&connkit.StartIndex[string]{Count: 5, Overlap: 5, ID: func(s string) string { return s }}).Page(context.Background(), "", l.fetch)
	assert.True(t, resync.IsPermanent(err), "an overlap as large as the page never progresses")
}

// TestStartIndexShortPages: a provider that caps count at its own maximum
// returns short pages before totalResults is reached; they are not the end
// of the list. Without totalResults the read goes on to an empty page.
func TestStartIndexShortPages(t *testing.T) {
	t.Parallel()
	id := func(s string) string { return s }
	for _, tc := range []struct {
		name              string
		cap, overlap      int
		noTotal           bool
		churn             bool
		wantFetchesAtMost int
	}{
		{"capped at 7 of 10", 7, 2, false, false, 10}, // 50 items, 5 new per page
		{"capped below the overlap", 2, 3, false, false, 50},
		{"capped, no total", 7, 2, true, false, 13}, // and the tail: 49-50, 50, then empty
		{"capped, churning", 7, 2, false, true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			for seed := range uint64(20) {
				r := rand.New(rand.NewPCG(seed, 3))
				l := newSCIMList(50)
				l.cap, l.noTotal = tc.cap, tc.noTotal
				initial := append([]string(nil), l.ids...)
				if tc.churn {
					l.onFetch = func(l *scimList) {
						if r.IntN(2) == 0 && len(l.ids) > 0 {
							l.remove(r.IntN(len(l.ids)))
						} else {
							l.insert(r.IntN(len(l.ids) + 1))
						}
					}
				}
				got := readAll(t, l, &connkit.StartIndex[string]{Count: 10, Overlap: tc.overlap, ID: id})
				count := map[string]int{}
				for _, x := range got {
					count[x]++
				}
				l.mu.Lock()
				final := map[string]bool{}
				for _, x := range l.ids {
					final[x] = true
				}
				fetches := l.fetches
				l.mu.Unlock()
				for x, n := range count {
					require.Equal(t, 1, n, "seed %d: %s read %d times", seed, x, n)
				}
				for _, x := range initial {
					if final[x] {
						require.Equal(t, 1, count[x], "seed %d: %s, present throughout, was lost", seed, x)
					}
				}
				if !tc.churn {
					require.Len(t, got, 50)
					assert.LessOrEqual(t, fetches, tc.wantFetchesAtMost, "requests")
				}
			}
		})
	}
}
