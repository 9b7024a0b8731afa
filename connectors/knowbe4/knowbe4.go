package knowbe4

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/openresync/resync"
	"github.com/openresync/resync/connkit"
)

// Page sizes of the "page_size" setting.
const (
	// MaxPageSize is the largest per_page the Reporting API accepts, and
	// the default: the fewer requests a read makes, the less of the daily
	// quota it spends.
	MaxPageSize = 500
)

// regions are the Reporting API's servers, by the "region" setting. An
// account on training.knowbe4.com is "us", on eu.knowbe4.com "eu", and so on.
var regions = map[string]string{
	"us": "https://us.api.knowbe4.com/v1/",
	"eu": "https://eu.api.knowbe4.com/v1/",
	"ca": "https://ca.api.knowbe4.com/v1/",
	"uk": "https://uk.api.knowbe4.com/v1/",
	"de": "https://de.api.knowbe4.com/v1/",
}

// ErrMalformed is wrapped by the error of a response that is not what the
// Reporting API documents (a page that is not a JSON array of the listed
// objects). It is permanent.
var ErrMalformed = errors.New("knowbe4: malformed response")

// Config is what the host gives every connector of this package, beside
// each connection's settings.
type Config struct {
	// HTTPClient sends the requests. Nil means a client with a one-minute
	// timeout. Its transport decides which certificates are trusted.
	HTTPClient *http.Client
	// Logger receives one Debug line per request, the token redacted.
	// Nil discards them.
	Logger *slog.Logger
}

// Factory is the resync.ConnectorFactory of this package with the zero
// Config.
var Factory = NewFactory(Config{})

// NewFactory returns a resync.ConnectorFactory building connectors with cfg,
// for resync.Config.Connectors.
func NewFactory(cfg Config) resync.ConnectorFactory {
	return func(ctx context.Context, conn resync.Connection) (resync.Connector, error) {
		conn, err := connkit.ResolveSecrets(ctx, conn, "token")
		if err != nil {
			return nil, fmt.Errorf("knowbe4 connector: %w", err)
		}
		return New(conn, cfg)
	}
}

var defaultClient = &http.Client{Timeout: time.Minute}

// New returns a Connector reading the KnowBe4 account that conn.Settings
// names (see the package doc). It checks the settings only; KnowBe4 is
// first asked by ReadPage or CheckHealth. A bad setting is a
// resync.Permanent error wrapping resync.ErrInvalidRequest, naming the
// setting and never quoting the token.
func New(conn resync.Connection, cfg Config) (resync.Connector, error) {
	s := conn.Settings
	bad := func(format string, args ...any) error {
		return resync.Permanent(fmt.Errorf("%w: knowbe4 connector (connection %q): %s",
			resync.ErrInvalidRequest, conn.ID, fmt.Sprintf(format, args...)))
	}
	known := map[string]bool{"token": true, "region": true, "url": true, "page_size": true, "training": true}
	for _, k := range slices.Sorted(maps.Keys(s)) {
		if !known[k] {
			return nil, bad("unknown setting %q", k)
		}
	}
	base := ""
	switch region, raw := strings.ToLower(strings.TrimSpace(s["region"])), strings.TrimSpace(s["url"]); {
	case region != "" && raw != "":
		return nil, bad(`set "region" or "url", not both`)
	case raw != "":
		u, err := url.Parse(raw)
		if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.RawQuery != "" {
			return nil, bad(`setting "url" is not an https base URL without credentials or query (https://us.api.knowbe4.com/v1/)`)
		}
		if !strings.HasSuffix(u.Path, "/") {
			u.Path += "/"
		}
		base = u.String()
	default:
		if region == "" {
			region = "us"
		}
		b, ok := regions[region]
		if !ok {
			return nil, bad(`setting "region" is %q, want one of %s`, region, strings.Join(slices.Sorted(maps.Keys(regions)), ", "))
		}
		base = b
	}
	token := s["token"]
	if strings.TrimSpace(token) == "" {
		return nil, bad(`set "token", a Reporting API token (Account Settings > Account Integrations > API)`)
	}
	c := &connector{conn: conn, size: MaxPageSize, training: true,
		enrollments: map[int64]map[int64]enrollment{}, members: map[int64]map[string]bool{}}
	if v := strings.TrimSpace(s["page_size"]); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxPageSize {
			return nil, bad(`setting "page_size" is %q, want a whole number from 1 to %d`, v, MaxPageSize)
		}
		c.size = n
	}
	if v := strings.TrimSpace(s["training"]); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, bad(`setting "training" is %q, want "true" or "false"`, v)
		}
		c.training = b
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = defaultClient
	}
	c.client = &connkit.Client{
		BaseURL:    base,
		Auth:       connkit.Bearer(token),
		HTTPClient: hc,
		Header:     http.Header{"Accept": {"application/json"}},
		Logger:     cfg.Logger,
	}
	return c, nil
}

// connector reads one connection, in four phases: training enrollments
// (gathered, not returned), active users, archived users, groups. Users carry
// the enrollments gathered before them; groups carry the members gathered
// from the users' group lists. What is gathered lives in this value, which
// the engine builds per read: a cursor past the first phase asked of a
// value that has not gathered it is answered with resync.RestartRead.
type connector struct {
	conn     resync.Connection
	client   *connkit.Client
	size     int
	training bool

	enrollments   map[int64]map[int64]enrollment // by user ID, by enrollment ID
	enrollmentsOK bool                           // the enrollment phase was read to its end
	members       map[int64]map[string]bool      // by group ID: account keys
	usersOK       bool                           // both user phases were read to their end
}

var (
	_ resync.Connector     = (*connector)(nil)
	_ resync.HealthChecker = (*connector)(nil)
)

// Phases, in read order; a cursor is "<phase>:<page>".
const (
	phaseEnrollments = "e"
	phaseActive      = "a"
	phaseArchived    = "x"
	phaseGroups      = "g"
)

// ReadPage reads the page at cursor.
func (c *connector) ReadPage(ctx context.Context, cursor string) (resync.Page, error) {
	if err := ctx.Err(); err != nil {
		return resync.Page{}, err
	}
	phase, page := phaseActive, 1
	if c.training {
		phase = phaseEnrollments
	}
	if cursor != "" {
		p, n, ok := strings.Cut(cursor, ":")
		num, err := strconv.Atoi(n)
		if !ok || err != nil || num < 1 || !slices.Contains([]string{phaseEnrollments, phaseActive, phaseArchived, phaseGroups}, p) {
			return resync.Page{}, resync.Permanent(fmt.Errorf("%w: knowbe4 connector: cursor %q is not one this connector made", resync.ErrInvalidRequest, cursor))
		}
		phase, page = p, num
	}
	if (phase == phaseActive || phase == phaseArchived || phase == phaseGroups) && c.training && !c.enrollmentsOK {
		return resync.Page{}, resync.RestartRead(errors.New("knowbe4 connector: the training enrollments gathered for this read are gone; reading again from the first page"))
	}
	if phase == phaseGroups && !c.usersOK {
		return resync.Page{}, resync.RestartRead(errors.New("knowbe4 connector: the group members gathered for this read are gone; reading again from the first page"))
	}
	switch phase {
	case phaseEnrollments:
		return c.readEnrollments(ctx, page)
	case phaseActive, phaseArchived:
		return c.readUsers(ctx, phase, page)
	default:
		return c.readGroups(ctx, page)
	}
}

// list requests one page of a listing into v and says whether it was the
// last: the Reporting API gives no total or link, so a page shorter than
// per_page ends a listing.
func list[T any](ctx context.Context, c *connector, path string, q url.Values, page int) ([]T, *connkit.Response, error) {
	q.Set("page", strconv.Itoa(page))
	q.Set("per_page", strconv.Itoa(c.size))
	var items []T
	resp, err := c.client.GetJSON(ctx, path, q, &items)
	switch {
	case err != nil && resp != nil: // a 2xx whose body is not the listing
		return nil, nil, resync.Permanent(fmt.Errorf("knowbe4 connector: %w: %w", ErrMalformed, err))
	case err != nil:
		return nil, nil, fmt.Errorf("knowbe4 connector: %w", err)
	}
	return items, resp, nil
}

func (c *connector) next(phase string, page, got int) string {
	if got < c.size {
		return ""
	}
	return phase + ":" + strconv.Itoa(page+1)
}

func (c *connector) readEnrollments(ctx context.Context, page int) (resync.Page, error) {
	items, resp, err := list[enrollment](ctx, c, "training/enrollments", url.Values{}, page)
	if err != nil {
		return resync.Page{}, err
	}
	for _, e := range items {
		if e.User.ID == 0 || e.ID == 0 {
			return resync.Page{}, resync.Permanent(fmt.Errorf("%w: training enrollment without enrollment_id or user.id on page %d", ErrMalformed, page))
		}
		m := c.enrollments[e.User.ID]
		if m == nil {
			m = map[int64]enrollment{}
			c.enrollments[e.User.ID] = m
		}
		m[e.ID] = e
	}
	next := c.next(phaseEnrollments, page, len(items))
	if next == "" {
		c.enrollmentsOK = true
		next = phaseActive + ":1"
	}
	return resync.Page{Next: next, NotBefore: resp.NotBefore()}, nil
}

func (c *connector) readUsers(ctx context.Context, phase string, page int) (resync.Page, error) {
	status := "active"
	if phase == phaseArchived {
		status = "archived"
	}
	items, resp, err := list[user](ctx, c, "users", url.Values{"status": {status}}, page)
	if err != nil {
		return resync.Page{}, err
	}
	out := resync.Page{NotBefore: resp.NotBefore(), Records: make([]resync.Record, 0, len(items))}
	for _, u := range items {
		if u.ID == 0 {
			return resync.Page{}, resync.Permanent(fmt.Errorf("%w: user without id on page %d of %s users", ErrMalformed, page, status))
		}
		a := c.account(u)
		for _, g := range u.Groups {
			m := c.members[g]
			if m == nil {
				m = map[string]bool{}
				c.members[g] = m
			}
			m[a.Key] = true
		}
		out.Records = append(out.Records, a)
	}
	out.Next = c.next(phase, page, len(items))
	if out.Next == "" {
		if phase == phaseActive {
			out.Next = phaseArchived + ":1"
		} else {
			c.usersOK = true
			out.Next = phaseGroups + ":1"
		}
	}
	return out, nil
}

func (c *connector) readGroups(ctx context.Context, page int) (resync.Page, error) {
	items, resp, err := list[group](ctx, c, "groups", url.Values{}, page)
	if err != nil {
		return resync.Page{}, err
	}
	out := resync.Page{NotBefore: resp.NotBefore(), Next: c.next(phaseGroups, page, len(items)), Records: make([]resync.Record, 0, len(items))}
	for _, g := range items {
		if g.ID == 0 {
			return resync.Page{}, resync.Permanent(fmt.Errorf("%w: group without id on page %d", ErrMalformed, page))
		}
		out.Records = append(out.Records, &resync.Group{Key: strconv.FormatInt(g.ID, 10), Name: g.Name,
			Members: slices.Sorted(maps.Keys(c.members[g.ID]))})
	}
	return out, nil
}

// account maps a user, with the training enrollments gathered for them.
func (c *connector) account(u user) *resync.Account {
	a := &resync.Account{
		Key:         strconv.FormatInt(u.ID, 10),
		Username:    u.Email,
		OwnerEmail:  u.Email,
		DisplayName: strings.TrimSpace(u.FirstName + " " + u.LastName),
		Status:      resync.StatusActive,
		EmployeeID:  u.EmployeeNumber,
		ExternalID:  u.ProvisioningGUID,
		Type:        resync.AccountTypeHuman,
		Attributes:  map[string]string{"knowbe4_status": u.Status},
	}
	if u.Status != "active" {
		a.Status = resync.StatusDeprovisioned
	}
	if t, ok := parseTime(u.LastSignIn); ok {
		a.LastLogin = t
	}
	set := func(k, v string) {
		if v != "" {
			a.Attributes[k] = v
		}
	}
	set("department", u.Department)
	set("job_title", u.JobTitle)
	set("location", u.Location)
	set("manager_email", u.ManagerEmail)
	set("joined_on", day(u.JoinedOn))
	set("archived_at", day(u.ArchivedAt))
	if len(u.Groups) > 0 {
		ids := make([]string, len(u.Groups))
		for i, g := range u.Groups {
			ids[i] = strconv.FormatInt(g, 10)
		}
		slices.Sort(ids)
		a.Attributes["groups"] = strings.Join(ids, ",")
	}
	if c.training {
		summarize(a.Attributes, c.enrollments[u.ID])
	}
	return a
}

// Training summaries in the "training_status" attribute.
const (
	// TrainingCompleted: every enrollment of the user is passed or completed.
	TrainingCompleted = "completed"
	// TrainingPastDue: at least one enrollment is past due.
	TrainingPastDue = "past_due"
	// TrainingIncomplete: some enrollment is not started or in progress,
	// none past due.
	TrainingIncomplete = "incomplete"
	// TrainingNotEnrolled: the user has no training enrollment.
	TrainingNotEnrolled = "not_enrolled"
)

// summarize writes a user's training attributes: the overall status, counts,
// the last completion, and per campaign its status and completion date.
func summarize(attrs map[string]string, es map[int64]enrollment) {
	if len(es) == 0 {
		attrs["training_status"] = TrainingNotEnrolled
		return
	}
	type camp struct {
		done, total int
		pastDue     bool
		last        string
	}
	camps := map[string]*camp{}
	done, pastDue, last := 0, false, ""
	for _, e := range es {
		name := e.CampaignName
		if name == "" {
			name = e.ModuleName
		}
		k := camps[name]
		if k == nil {
			k = &camp{}
			camps[name] = k
		}
		k.total++
		switch strings.ToLower(strings.TrimSpace(e.Status)) {
		case "passed", "completed":
			k.done++
			done++
			if d := day(e.CompletionDate); d > k.last {
				k.last = d
			}
		case "past due":
			k.pastDue, pastDue = true, true
		}
		last = max(last, k.last)
	}
	switch {
	case done == len(es):
		attrs["training_status"] = TrainingCompleted
	case pastDue:
		attrs["training_status"] = TrainingPastDue
	default:
		attrs["training_status"] = TrainingIncomplete
	}
	attrs["training_enrollments"] = strconv.Itoa(len(es))
	attrs["training_completed"] = strconv.Itoa(done)
	if last != "" {
		attrs["training_last_completed"] = last
	}
	for name, k := range camps {
		st := TrainingIncomplete
		switch {
		case k.done == k.total:
			st = TrainingCompleted
		case k.pastDue:
			st = TrainingPastDue
		}
		attrs["training."+name+".status"] = st
		if k.done == k.total && k.last != "" {
			attrs["training."+name+".completed"] = k.last
		}
	}
}

// CheckHealth asks for the first user, which proves the token and region.
func (c *connector) CheckHealth(ctx context.Context) error {
	_, err := c.client.Get(ctx, "users", url.Values{"page": {"1"}, "per_page": {"1"}})
	if err != nil {
		return fmt.Errorf("knowbe4 connector: %w", err)
	}
	return nil
}

// parseTime reads the API's timestamps (RFC 3339, fractional seconds
// allowed); "" and null are absent.
func parseTime(s string) (time.Time, bool) {
	if s == "" {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, false
	}
	return t.UTC(), true
}

// day is the UTC date of a timestamp, or "" if it is absent or unreadable.
func day(s string) string {
	t, ok := parseTime(s)
	if !ok {
		return ""
	}
	return t.Format(time.DateOnly)
}
