package resync_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openresync/resync"
	"github.com/openresync/resync/resynctest"
)

// cookieDirectory serves records in pages whose cursors, like LDAP paging
// cookies, belong to the session (connector value) that issued them. When
// the session's connection drops, its cookies die with it.
type cookieDirectory struct {
	recs     []resync.Record
	pageSize int

	mu        sync.Mutex
	sessions  int
	dropAfter int // the session of this number loses its connection after its first page; 0: never
	always    bool
	requested []string
}

func (d *cookieDirectory) factory(context.Context, resync.Connection) (resync.Connector, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.sessions++
	return &cookieSession{d: d, id: d.sessions}, nil
}

type cookieSession struct {
	d    *cookieDirectory
	id   int
	dead bool
	page int
}

func (s *cookieSession) ReadPage(ctx context.Context, cursor string) (resync.Page, error) {
	d := s.d
	d.mu.Lock()
	d.requested = append(d.requested, fmt.Sprintf("s%d:%q", s.id, cursor))
	d.mu.Unlock()
	if s.dead {
		return resync.Page{}, resync.RestartRead(errors.New("paging cookie of a closed connection"))
	}
	start := 0
	if cursor != "" {
		sess, off, _ := strings.Cut(cursor, "/")
		if sess != strconv.Itoa(s.id) {
			return resync.Page{}, resync.Permanent(fmt.Errorf("cookie %q from another session", cursor))
		}
		start, _ = strconv.Atoi(off)
	}
	if start > 0 && (d.always || d.dropAfter == s.id) {
		s.dead = true
		return resync.Page{}, errors.New("connection reset by peer")
	}
	end := min(start+d.pageSize, len(d.recs))
	p := resync.Page{Records: d.recs[start:end]}
	if end < len(d.recs) {
		p.Next = fmt.Sprintf("%d/%d", s.id, end)
	}
	return p, nil
}

func newCookieHarness(t *testing.T, d *cookieDirectory) *harness {
	h := newHarness(t, func(c *resync.Config) { c.Connectors["ldapish"] = d.factory })
	h.src.Add(resync.Connection{ID: "dir1", Tenant: "t1", Type: resync.IdP, Provider: "ldapish", Name: "Directory"})
	return h
}

// A cursor that cannot be resumed makes the engine start the read over from
// the first page with a new connector, not retry the dead cursor until the
// attempts run out; the records end up read once, whole.
func TestRestartRead_StartsOverFromTheFirstPage(t *testing.T) {
	d := &cookieDirectory{recs: resynctest.Identities("u", 25), pageSize: 10, dropAfter: 1}
	h := newCookieHarness(t, d)

	info := h.personnel(alice)
	require.Equal(t, resync.RunSucceeded, info.Status, info.Err())
	r := result(t, info, "dir1")
	assert.Equal(t, 1, r.Restarts)
	assert.Equal(t, 25, r.Read, "Read counts the records of the read that finished, not of the one abandoned")
	assert.Equal(t, 25, r.Added)
	assert.Len(t, h.live("t1", "dir1"), 25)
	assert.Equal(t, 2, d.sessions, "a new connector for the restart")
	assert.Equal(t, []string{
		`s1:""`, `s1:"1/10"`, // the connection drops during page 2
		`s1:"1/10"`, // the retry finds the cookie dead: restart, no further retries of it
		`s2:""`, `s2:"2/10"`, `s2:"2/20"`,
	}, d.requested)
}

// Restarts are bounded: a cursor that never survives fails the connection
// after three restarts, with nothing applied, as a transient failure.
func TestRestartRead_Bounded(t *testing.T) {
	d := &cookieDirectory{recs: resynctest.Identities("u", 25), pageSize: 10, always: true}
	h := newCookieHarness(t, d)

	info := h.personnel(alice)
	require.Equal(t, resync.RunFailed, info.Status)
	r := result(t, info, "dir1")
	assert.Equal(t, 3, r.Restarts)
	assert.Equal(t, 4, d.sessions, "the first read and three restarts")
	assert.Contains(t, r.Error, "after 3 restarts from the first page")
	assert.False(t, resync.IsPermanent(info.Err()), "the scheduler retries it later")
	assert.Empty(t, h.live("t1", "dir1"), "nothing applied from abandoned reads")
}
