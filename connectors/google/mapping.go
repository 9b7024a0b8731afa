// This file maps Directory API users and groups onto resync records.

package google

import (
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

// objects reads one of the repeated fields the library leaves as
// interface{} (organizations, externalIds, relations): the JSON as decoded,
// a list of objects. Absent is an empty list; another shape gives ok false.
func objects(v any) (list []map[string]any, ok bool) {
	if v == nil {
		return nil, true
	}
	items, ok := v.([]any)
	if !ok {
		return nil, false
	}
	list = make([]map[string]any, 0, len(items))
	for _, it := range items {
		m, ok := it.(map[string]any)
		if !ok {
			return nil, false
		}
		list = append(list, m)
	}
	return list, true
}

// str returns m[k] if it is a string, and whether it is a string or absent.
func str(m map[string]any, k string) (string, bool) {
	switch v := m[k].(type) {
	case nil:
		return "", true
	case string:
		return v, true
	}
	return "", false
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
	orgs, ok := objects(u.Organizations)
	if !ok {
		return nil, reject("organizations is not a list of organizations")
	}
	primary := -1
	for i, o := range orgs {
		if p, _ := o["primary"].(bool); p {
			primary = i
			break
		}
	}
	if primary < 0 && len(orgs) > 0 {
		primary = 0
	}
	if primary >= 0 {
		o := orgs[primary]
		title, ok1 := str(o, "title")
		dept, ok2 := str(o, "department")
		cost, ok3 := str(o, "costCenter")
		if !ok1 || !ok2 || !ok3 {
			return nil, reject("organizations holds a value of the wrong type")
		}
		id.Title, id.Department = title, dept
		if cost != "" {
			id.Attributes["cost_center"] = cost
		}
	}
	// externalIds of type "organization" hold the employee ID (the Admin
	// console's Employee ID field); relations of type "manager" the
	// manager's email.
	for _, f := range []struct {
		name, typ string
		list      any
		dst       *string
	}{{"externalIds", "organization", u.ExternalIds, &id.EmployeeID}, {"relations", "manager", u.Relations, &id.Manager}} {
		items, ok := objects(f.list)
		if !ok {
			return nil, reject(f.name + " is not a list of objects")
		}
		for _, it := range items {
			typ, ok1 := str(it, "type")
			val, ok2 := str(it, "value")
			if !ok1 || !ok2 {
				return nil, reject(f.name + " holds a value of the wrong type")
			}
			if strings.EqualFold(typ, f.typ) && val != "" {
				*f.dst = val
				break
			}
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
