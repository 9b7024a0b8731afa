package connkit_test

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openresync/resync/connkit"
	"github.com/openresync/resync/resynctest"
)

// readStyle reads every user of p in its paging style through the kit's
// helpers, as a connector's ReadPage would, page by page from cursor "".
func readStyle(t *testing.T, p *resynctest.Provider, style resynctest.Paging, size int) (ids []string, pages int) {
	t.Helper()
	ctx := context.Background()
	c := &connkit.Client{BaseURL: p.URL() + "/"}
	si := &connkit.StartIndex[resynctest.ProviderUser]{Count: size, Overlap: 2, ID: func(u resynctest.ProviderUser) string { return u.ID }}
	cursor := ""
	for pages = 1; pages < 1000; pages++ {
		var users []resynctest.ProviderUser
		var next string
		switch style {
		case resynctest.PagingLink:
			ref := cursor
			if ref == "" {
				ref = "users?limit=" + strconv.Itoa(size)
			}
			resp, err := c.GetJSON(ctx, ref, nil, &users)
			require.NoError(t, err)
			next = resp.NextLink()
		case resynctest.PagingCursor:
			var body struct {
				Users      []resynctest.ProviderUser `json:"users"`
				NextCursor string                    `json:"next_cursor"`
			}
			q := url.Values{"limit": {strconv.Itoa(size)}}
			if cursor != "" {
				q.Set("cursor", cursor)
			}
			_, err := c.GetJSON(ctx, "users", q, &body)
			require.NoError(t, err)
			users, next = body.Users, body.NextCursor // the provider's token is the cursor
		case resynctest.PagingOffset:
			off, err := connkit.ParseOffset(cursor)
			require.NoError(t, err)
			var body struct {
				Users []resynctest.ProviderUser `json:"users"`
				Total int                       `json:"total"`
			}
			_, err = c.GetJSON(ctx, "users", url.Values{"offset": {strconv.Itoa(off)}, "limit": {strconv.Itoa(size)}}, &body)
			require.NoError(t, err)
			users, next = body.Users, connkit.NextOffset(off, len(body.Users), size, body.Total)
		case resynctest.PagingPage:
			page, err := connkit.ParsePage(cursor, 1)
			require.NoError(t, err)
			var body struct {
				Users      []resynctest.ProviderUser `json:"users"`
				TotalPages int                       `json:"total_pages"`
			}
			_, err = c.GetJSON(ctx, "users", url.Values{"page": {strconv.Itoa(page)}, "per_page": {strconv.Itoa(size)}}, &body)
			require.NoError(t, err)
			users, next = body.Users, connkit.NextPage(page, len(body.Users), size, body.TotalPages)
		case resynctest.PagingStartIndex:
			var err error
			users, next, err = si.Page(ctx, cursor, func(ctx context.Context, start, count int) ([]resynctest.ProviderUser, int, error) {
				var lr struct {
					TotalResults int                       `json:"totalResults"`
					Resources    []resynctest.ProviderUser `json:"Resources"`
				}
				_, err := c.GetJSON(ctx, "Users", url.Values{"startIndex": {strconv.Itoa(start)}, "count": {strconv.Itoa(count)}}, &lr)
				return lr.Resources, lr.TotalResults, err
			})
			require.NoError(t, err)
		}
		for _, u := range users {
			ids = append(ids, u.ID)
		}
		if next == "" {
			return ids, pages
		}
		require.NotEqual(t, cursor, next)
		cursor = next
	}
	t.Fatal("the read did not end")
	return nil, 0
}

// Each paging style of the fake provider, read with the kit's helper for
// it, returns every user once, in as many pages as it takes.
func TestPagingStyles(t *testing.T) {
	for _, style := range []resynctest.Paging{resynctest.PagingLink, resynctest.PagingCursor, resynctest.PagingOffset, resynctest.PagingPage, resynctest.PagingStartIndex} {
		for _, n := range []int{0, 1, 9, 10, 11, 95} {
			t.Run(fmt.Sprintf("%s/%d", style, n), func(t *testing.T) {
				t.Parallel()
				p := newProvider(t, resynctest.ProviderConfig{Paging: style}, resynctest.ProviderUsers("u", n))
				ids, pages := readStyle(t, p, style, 10)
				want := make([]string, n)
				for i, u := range resynctest.ProviderUsers("u", n) {
					want[i] = u.ID
				}
				assert.Equal(t, want, orEmpty(ids))
				step := 10
				if style == resynctest.PagingStartIndex {
					step = 8 // pages overlap by 2
				}
				assert.LessOrEqual(t, pages, max(1, (n+step-1)/step+1), "requests per page")
			})
		}
	}
}

// Users removed and added while a SCIM list is read: every user present
// throughout is read once, none twice.
func TestPagingStartIndexChangingProvider(t *testing.T) {
	p := newProvider(t, resynctest.ProviderConfig{Paging: resynctest.PagingStartIndex}, resynctest.ProviderUsers("u", 100))
	removed := map[string]bool{}
	p.OnRequest(func(n int, users []resynctest.ProviderUser) []resynctest.ProviderUser {
		if n%2 == 0 && len(users) > 5 { // remove three users from the start
			for _, u := range users[:3] {
				removed[u.ID] = true
			}
			users = users[3:]
		}
		if n%3 == 0 { // add one at the start (IDs sort before "u")
			users = append(users, resynctest.ProviderUser{ID: fmt.Sprintf("a%03d", n), Active: true})
		}
		return users
	})
	ids, _ := readStyle(t, p, resynctest.PagingStartIndex, 10)
	seen := map[string]int{}
	for _, id := range ids {
		seen[id]++
		require.Equal(t, 1, seen[id], "%s read twice", id)
	}
	for _, u := range resynctest.ProviderUsers("u", 100) {
		if !removed[u.ID] {
			assert.Equal(t, 1, seen[u.ID], "%s, present throughout, was lost", u.ID)
		}
	}
}

func orEmpty(s []string) []string {
	if len(s) == 0 {
		return []string{}
	}
	return s
}
