// This file maps Directory API users and groups onto resync records.

package google

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"

	admin "google.golang.org/api/admin/directory/v1"

	"github.com/openresync/resync"
)

// Google states, kept in Attributes["google_state"].
const (
	stateActive    = "active"
	stateSuspended = "suspended"
	stateArchived  = "archived"
)

// userState is a user's state at Google and the status it maps onto:
// archived (an Archived User license: a former employee kept for
// retention, who cannot sign in) is deprovisioned, suspended is
// suspended, anything else active. An archived user may also be
// suspended; archived wins.
func userState(u *admin.User) (string, resync.LifecycleStatus) {
	switch {
	case u.Archived:
		return stateArchived, resync.StatusDeprovisioned
	case u.Suspended:
		return stateSuspended, resync.StatusSuspended
	}
	return stateActive, resync.StatusActive
}

// The repeated fields the library leaves as interface{} (their JSON as
// decoded), read through these shapes.
type organization struct {
	Primary    bool   `json:"primary"`
	Title      string `json:"title"`
	Department string `json:"department"`
	CostCenter string `json:"costCenter"`
	Name       string `json:"name"`
}

type externalID struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}

type relation struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}

// decodeAs re-reads v (decoded JSON) as T; a value of another shape gives
// ok false.
func decodeAs[T any](v any) (T, bool) {
	var out T
	if v == nil {
		return out, true
	}
	b, err := json.Marshal(v)
	if err != nil {
		return out, false
	}
	return out, json.Unmarshal(b, &out) == nil
}

// parseTime reads one of Google's RFC 3339 times; the Unix epoch, which
// lastLoginTime holds for a user who never signed in, is zero.
func parseTime(s string) (time.Time, bool) {
	if s == "" {
		return time.Time{}, true
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, false
	}
	if t.Unix() <= 0 {
		return time.Time{}, true
	}
	return t.UTC(), true
}

// userRecord maps a user onto an Identity (IdP and HRIS connections) or
// an Account (any other type).
func (c *connector) userRecord(u *admin.User) (resync.Record, error) {
	reject := func(reason string) error {
		return &resync.RecordError{Kind: c.userKind(), Key: u.Id, Reason: "google users.list: " + reason}
	}
	if u.Id == "" {
		return nil, reject("a user without an id (primaryEmail " + strconv.Quote(truncate(u.PrimaryEmail, 80)) + ")")
	}
	state, status := userState(u)
	id := &resync.Identity{Key: u.Id, Email: u.PrimaryEmail, Status: status, MFA: resync.MFADisabled,
		Attributes: map[string]string{
			"google_state":       state,
			"suspended":          strconv.FormatBool(u.Suspended),
			"archived":           strconv.FormatBool(u.Archived),
			"is_enrolled_in_2sv": strconv.FormatBool(u.IsEnrolledIn2Sv),
			"is_enforced_in_2sv": strconv.FormatBool(u.IsEnforcedIn2Sv),
			"is_admin":           strconv.FormatBool(u.IsAdmin),
		}}
	if u.IsEnrolledIn2Sv {
		id.MFA = resync.MFAEnabled
	}
	if u.IsDelegatedAdmin {
		id.Attributes["is_delegated_admin"] = "true"
	}
	if u.SuspensionReason != "" {
		id.Attributes["suspension_reason"] = u.SuspensionReason
	}
	if u.OrgUnitPath != "" {
		id.Attributes["org_unit_path"] = u.OrgUnitPath
	}
	if u.Name != nil {
		id.Name = u.Name.FullName
	}
	var ok bool
	if id.LastLogin, ok = parseTime(u.LastLoginTime); !ok {
		return nil, reject("lastLoginTime " + strconv.Quote(truncate(u.LastLoginTime, 40)) + " is not an RFC 3339 time")
	}
	if u.CreationTime != "" {
		created, ok := parseTime(u.CreationTime)
		if !ok {
			return nil, reject("creationTime " + strconv.Quote(truncate(u.CreationTime, 40)) + " is not an RFC 3339 time")
		}
		if !created.IsZero() {
			id.Attributes["creation_time"] = created.Format(time.RFC3339)
		}
	}
	orgs, ok := decodeAs[[]organization](u.Organizations)
	if !ok {
		return nil, reject("organizations is not a list of organizations")
	}
	for i, o := range orgs {
		if o.Primary || i == 0 {
			id.Title, id.Department = o.Title, o.Department
			if o.CostCenter != "" {
				id.Attributes["cost_center"] = o.CostCenter
			}
		}
		if o.Primary {
			break
		}
	}
	ext, ok := decodeAs[[]externalID](u.ExternalIds)
	if !ok {
		return nil, reject("externalIds is not a list of external ids")
	}
	for _, e := range ext {
		// "organization" is the employee ID (the Admin console's
		// Employee ID field).
		if strings.EqualFold(e.Type, "organization") && e.Value != "" {
			id.EmployeeID = e.Value
			break
		}
	}
	rels, ok := decodeAs[[]relation](u.Relations)
	if !ok {
		return nil, reject("relations is not a list of relations")
	}
	for _, r := range rels {
		if strings.EqualFold(r.Type, "manager") && r.Value != "" {
			id.Manager = r.Value // the manager's email
			break
		}
	}
	if c.identities {
		return id, nil
	}
	acc := &resync.Account{Key: id.Key, Username: id.Email, OwnerEmail: id.Email, DisplayName: id.Name,
		Status: id.Status, Type: resync.AccountTypeHuman, EmployeeID: id.EmployeeID, MFA: id.MFA,
		LastLogin: id.LastLogin, Attributes: id.Attributes}
	if u.IsAdmin {
		acc.Roles = append(acc.Roles, "super_admin")
	}
	if u.IsDelegatedAdmin {
		acc.Roles = append(acc.Roles, "delegated_admin")
	}
	return acc, nil
}

func (c *connector) userKind() resync.RecordKind {
	if c.identities {
		return resync.KindIdentity
	}
	return resync.KindAccount
}

// groupRecord maps a group and its user members' IDs onto a Group.
func groupRecord(g *admin.Group, members []string) (resync.Record, error) {
	if g.Id == "" {
		return nil, &resync.RecordError{Kind: resync.KindGroup, Reason: "google groups.list: a group without an id (email " + strconv.Quote(truncate(g.Email, 80)) + ")"}
	}
	name := g.Name
	if name == "" {
		name = g.Email
	}
	return &resync.Group{Key: g.Id, Name: name, Members: members}, nil
}
