// This file maps GitLab's users and members onto resync accounts.

package gitlab

import (
	"slices"
	"strconv"
	"strings"
	"time"

	gl "gitlab.com/gitlab-org/api/client-go/v2"

	"github.com/openresync/resync"
)

// accessLevels names GitLab's access levels
// (https://docs.gitlab.com/api/members/#roles).
var accessLevels = map[gl.AccessLevelValue]string{
	0: "no_access", 5: "minimal_access", 10: "guest", 15: "planner", 20: "reporter",
	30: "developer", 40: "maintainer", 50: "owner", 60: "admin",
}

// accessLevelName returns the level's name, or its number for a level this
// package does not know.
func accessLevelName(l gl.AccessLevelValue) string {
	if n, ok := accessLevels[l]; ok {
		return n
	}
	return strconv.Itoa(int(l))
}

// status maps a user's state (https://docs.gitlab.com/api/users/): active
// is StatusActive; blocked, ldap_blocked, blocked_pending_approval, banned
// and deactivated, which all keep the user from signing in until an
// administrator (or, deactivated, the user's next sign-in) lifts it, are
// StatusSuspended, and so is a state this package does not know. A user
// deleted from GitLab is no longer listed and is removed.
func status(state string) resync.LifecycleStatus {
	if state == "active" {
		return resync.StatusActive
	}
	return resync.StatusSuspended
}

// memberAccount maps a member of the group (GET /groups/:id/members/all).
func memberAccount(m *gl.GroupMember) *resync.Account {
	a := &resync.Account{Key: strconv.FormatInt(m.ID, 10), Username: m.Username, DisplayName: m.Name,
		OwnerEmail: m.Email, Status: status(m.State), Type: resync.AccountTypeHuman,
		Roles: []string{accessLevelName(m.AccessLevel)}, Attributes: map[string]string{"state": m.State}}
	if a.OwnerEmail == "" {
		a.OwnerEmail = m.PublicEmail
	}
	addMembership(a, m)
	return a
}

// addMembership adds what the group membership says to a.
func addMembership(a *resync.Account, m *gl.GroupMember) {
	a.Attributes["access_level"] = strconv.Itoa(int(m.AccessLevel))
	a.Attributes["group_role"] = accessLevelName(m.AccessLevel)
	if m.ExpiresAt != nil {
		a.Attributes["membership_expires_at"] = time.Time(*m.ExpiresAt).Format(time.DateOnly)
	}
	if m.MemberRole != nil && m.MemberRole.Name != "" {
		a.Attributes["member_role"] = m.MemberRole.Name
	}
	if s := m.GroupSAMLIdentity; s != nil && s.ExternUID != "" {
		a.ExternalID = s.ExternUID
		a.Attributes["saml_provider"] = s.Provider
	}
}

// userAccount maps an instance user (GET /users, as an administrator sees
// it), with its group membership m if it has one.
func userAccount(u *gl.User, m *gl.GroupMember) *resync.Account {
	a := &resync.Account{Key: strconv.FormatInt(u.ID, 10), Username: u.Username, DisplayName: u.Name,
		OwnerEmail: u.Email, Status: status(u.State), Type: resync.AccountTypeHuman,
		Attributes: map[string]string{"state": u.State}}
	if a.OwnerEmail == "" {
		a.OwnerEmail = u.PublicEmail
	}
	if u.Bot {
		a.Type = resync.AccountTypeService
		a.Attributes["bot"] = "true"
	}
	a.MFA = resync.MFADisabled
	if u.TwoFactorEnabled {
		a.MFA = resync.MFAEnabled
	}
	if u.IsAdmin {
		a.Roles = append(a.Roles, "instance_admin")
		a.Attributes["is_admin"] = "true"
	}
	if u.External {
		a.Attributes["external"] = "true"
	}
	if u.Locked {
		a.Attributes["locked"] = "true"
	}
	if m != nil {
		a.Roles = append(a.Roles, accessLevelName(m.AccessLevel))
		addMembership(a, m)
	}
	ids := slices.DeleteFunc(slices.Clone(u.Identities), func(id *gl.UserIdentity) bool { return id == nil || id.ExternUID == "" })
	slices.SortFunc(ids, func(x, y *gl.UserIdentity) int { return strings.Compare(x.Provider, y.Provider) })
	for _, id := range ids {
		a.Attributes["identity:"+id.Provider] = id.ExternUID
		if a.ExternalID == "" {
			a.ExternalID = id.ExternUID
		}
	}
	switch {
	case u.CurrentSignInAt != nil:
		a.LastLogin = *u.CurrentSignInAt
	case u.LastSignInAt != nil:
		a.LastLogin = *u.LastSignInAt
	}
	if u.LastActivityOn != nil {
		a.LastUsed = map[string]time.Time{"last_activity": time.Time(*u.LastActivityOn)}
	}
	return a
}
