// This file is the read's cursor: which listing, which page of it.

package github

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	gh "github.com/google/go-github/v93/github"

	"github.com/openresync/resync/connkit"
)

// The phases of a read, in order. Each is a listing paged by GitHub's page
// numbers (Link headers with page=N); the cursor is "phase:page", and
// "tm:<page of teams>:<team on it>:<page>" for a team's members.
const (
	phaseStart       = ""
	phase2FA         = "2fa"     // GET /orgs/{org}/members?filter=2fa_disabled
	phaseAdmins      = "admins"  // GET /orgs/{org}/members?role=admin
	phaseMembers     = "members" // GET /orgs/{org}/members?role=member
	phaseCollab2FA   = "c2fa"    // GET /orgs/{org}/outside_collaborators?filter=2fa_disabled
	phaseCollabs     = "collabs" // GET /orgs/{org}/outside_collaborators
	phaseTeams       = "teams"   // GET /orgs/{org}/teams
	phaseTeamMembers = "tm"      // GET /orgs/{org}/teams/{slug}/members
)

var phaseOrder = []string{phase2FA, phaseAdmins, phaseMembers, phaseCollab2FA, phaseCollabs, phaseTeams}

// cursor is a parsed cursor.
type cursor struct {
	phase     string
	page      int
	teamsPage int // tm: the page of teams the team is on
	team      int // tm: its index on that page
}

// String returns the cursor as the engine keeps it.
func (c cursor) String() string {
	switch c.phase {
	case phaseStart:
		return ""
	case phaseTeamMembers:
		return fmt.Sprintf("%s:%d:%d:%d", c.phase, c.teamsPage, c.team, c.page)
	}
	return c.phase + ":" + strconv.Itoa(c.page)
}

// errCursor is a cursor this connector did not make.
var errCursor = errors.New("malformed cursor")

// parseCursor reads a cursor made by cursor.String.
func parseCursor(s string) (cursor, error) {
	if s == "" {
		return cursor{}, nil
	}
	parts := strings.Split(s, ":")
	num := func(p string, least int) (int, bool) {
		n, err := strconv.Atoi(p)
		return n, err == nil && n >= least && n < 1<<30 && strconv.Itoa(n) == p
	}
	bad := fmt.Errorf("%w %q", errCursor, s)
	if parts[0] == phaseTeamMembers {
		if len(parts) != 4 {
			return cursor{}, bad
		}
		tp, ok1 := num(parts[1], 1)
		t, ok2 := num(parts[2], 0)
		p, ok3 := num(parts[3], 1)
		if !ok1 || !ok2 || !ok3 {
			return cursor{}, bad
		}
		return cursor{phase: phaseTeamMembers, teamsPage: tp, team: t, page: p}, nil
	}
	if len(parts) != 2 {
		return cursor{}, bad
	}
	for _, ph := range phaseOrder {
		if parts[0] == ph {
			p, ok := num(parts[1], 1)
			if !ok {
				return cursor{}, bad
			}
			return cursor{phase: ph, page: p}, nil
		}
	}
	return cursor{}, bad
}

// enabled reports whether the settings ask for phase.
func (c *connector) enabled(phase string) bool {
	switch phase {
	case phase2FA:
		return c.twoFactor
	case phaseCollab2FA:
		return c.twoFactor && c.collaborators
	case phaseCollabs:
		return c.collaborators
	case phaseTeams:
		return c.teams
	}
	return true
}

// first returns the cursor of the first page of the first enabled phase
// from phase on; the zero cursor (the end) if none.
func (c *connector) first(phase string) cursor {
	i := 0
	for i < len(phaseOrder) && phaseOrder[i] != phase {
		i++
	}
	for ; i < len(phaseOrder); i++ {
		if c.enabled(phaseOrder[i]) {
			return cursor{phase: phaseOrder[i], page: 1}
		}
	}
	return cursor{}
}

// next returns the cursor after the page at cur, whose response was resp:
// its listing's next page (Link rel="next"), else the next phase's first.
func (c *connector) next(cur cursor, resp *gh.Response) string {
	if resp.NextPage > 0 {
		return cursor{phase: cur.phase, page: resp.NextPage}.String()
	}
	for i, ph := range phaseOrder {
		if ph == cur.phase && i+1 < len(phaseOrder) {
			return c.first(phaseOrder[i+1]).String()
		}
	}
	return ""
}

// pace returns when the next request may go, from the response's
// x-ratelimit-* fields: the reset time once the quota is spent and, while
// less than a twentieth of it is left, the time to the reset shared out
// over the requests left, so a long read slows down before GitHub refuses
// it rather than after.
func pace(h http.Header) time.Time {
	now := time.Now()
	rl := connkit.ParseRateLimit(h, now)
	if nb := rl.NotBefore(); !nb.IsZero() {
		return nb
	}
	if rl.Remaining < 0 || rl.Limit <= 0 || rl.Reset.IsZero() || !rl.Reset.After(now) {
		return time.Time{}
	}
	if low := max(rl.Limit/20, 1); rl.Remaining >= low {
		return time.Time{}
	}
	return now.Add(rl.Reset.Sub(now) / time.Duration(rl.Remaining+1))
}
