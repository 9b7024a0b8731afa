package resynctest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openresync/resync"
	"github.com/openresync/resync/connkit"
)

// providerConn reads a Provider's offset-paged list: one request per
// ReadPage (or tries requests, for a connector that retries itself),
// errors classified by connkit.ClassifyHTTP unless plain is set.
type providerConn struct {
	base  string
	tries int
	plain bool
}

func (c providerConn) ReadPage(ctx context.Context, cursor string) (resync.Page, error) {
	if cursor == "" {
		cursor = "0"
	}
	var err error
	for range max(c.tries, 1) {
		var p resync.Page
		if p, err = c.get(ctx, cursor); err == nil {
			return p, nil
		}
	}
	return resync.Page{}, err
}

func (c providerConn) get(ctx context.Context, offset string) (resync.Page, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/users?limit=2&offset="+offset, nil)
	if err != nil {
		return resync.Page{}, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return resync.Page{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return resync.Page{}, err
	}
	if resp.StatusCode != http.StatusOK {
		if c.plain {
			return resync.Page{}, fmt.Errorf("status %d", resp.StatusCode)
		}
		return resync.Page{}, connkit.ClassifyHTTP(resp, body, time.Now)
	}
	var list struct {
		Users []ProviderUser `json:"users"`
		Total int            `json:"total"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		return resync.Page{}, err
	}
	var p resync.Page
	for _, u := range list.Users {
		p.Records = append(p.Records, &resync.Identity{Key: u.ID, Email: u.Email, Status: resync.StatusActive})
	}
	var off int
	_, _ = fmt.Sscan(offset, &off)
	if next := off + len(list.Users); next < list.Total {
		p.Next = fmt.Sprint(next)
	}
	return p, nil
}

// TestFaultChecks runs the fault checks over a Provider: a connector that
// classifies with connkit passes; one that retries by itself, or returns
// unclassified errors, fails with the rule it broke.
func TestFaultChecks(t *testing.T) {
	for _, tc := range []struct {
		name string
		conn providerConn
		rule string
	}{
		{"classified", providerConn{}, ""},
		{"retries itself", providerConn{tries: 3}, "Connector contract: the engine owns retries"},
		{"unclassified", providerConn{plain: true}, "Connector contract: errors classified"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := NewProvider(ProviderConfig{Paging: PagingOffset}, ProviderUsers("u", 5))
			t.Cleanup(p.Close)
			conn := tc.conn
			conn.base = p.URL()
			opts := ConnectorOptions{Fail: p.Fail, Requests: p.Requests, WantRecords: 5}.withDefaults()
			err := connectorCheckByName(t, "Faults").fn(t.Context(), conn, opts)
			if tc.rule == "" {
				require.NoError(t, err)
				TestConnector(t, func(*testing.T) resync.Connector { return conn }, opts)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.rule)
		})
	}
}

// TestForwardOnlyCursors: with ForwardOnlyCursors, the suite never reads
// a page again from a cursor other than "".
func TestForwardOnlyCursors(t *testing.T) {
	used := map[string]bool{}
	inner := pagedConnector(4, func(i int) []resync.Record { return ids(fmt.Sprint("p", i, "-"), 2) })
	conn := connFunc(func(ctx context.Context, cursor string) (resync.Page, error) {
		if cursor != "" && used[cursor] {
			return resync.Page{}, errors.New("paging cookie already used")
		}
		used[cursor] = true
		if cursor == "" {
			clear(used)
		}
		return inner(ctx, cursor)
	})
	err := connectorCheckByName(t, "RepeatCursor").fn(t.Context(), conn, ConnectorOptions{}.withDefaults())
	require.Error(t, err, "without the option the suite re-reads later pages")
	clear(used)
	require.NoError(t, connectorCheckByName(t, "RepeatCursor").fn(t.Context(), conn, ConnectorOptions{ForwardOnlyCursors: true}.withDefaults()))
}
