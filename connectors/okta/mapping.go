// This file maps Okta's User and Group objects onto resync records.

package okta

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/openresync/resync"
)

// user is the part of Okta's User object the connector reads
// (https://developer.okta.com/docs/api/openapi/okta-management/management/tag/User/#tag/User/operation/listUsers).
type user struct {
	ID            string     `json:"id"`
	Status        string     `json:"status"`
	Created       *time.Time `json:"created"`
	Activated     *time.Time `json:"activated"`
	StatusChanged *time.Time `json:"statusChanged"`
	LastLogin     *time.Time `json:"lastLogin"`
	Type          *struct {
		ID string `json:"id"`
	} `json:"type"`
	Profile profile `json:"profile"`
}

// profile is the default Okta user profile's attributes the connector
// reads; custom attributes are ignored.
type profile struct {
	Login          string `json:"login"`
	Email          string `json:"email"`
	FirstName      string `json:"firstName"`
	LastName       string `json:"lastName"`
	DisplayName    string `json:"displayName"`
	Title          string `json:"title"`
	Department     string `json:"department"`
	Division       string `json:"division"`
	Organization   string `json:"organization"`
	CostCenter     string `json:"costCenter"`
	EmployeeNumber string `json:"employeeNumber"`
	UserType       string `json:"userType"`
	ManagerID      string `json:"managerId"`
	Manager        string `json:"manager"`
}

// group is the part of Okta's Group object the connector reads
// (https://developer.okta.com/docs/api/openapi/okta-management/management/tag/Group/#tag/Group/operation/listGroups).
type group struct {
	ID      string `json:"id"`
	Type    string `json:"type"`
	Profile struct {
		Name string `json:"name"`
	} `json:"profile"`
}

// decodeUser decodes one element of a users page. On an error the
// returned user has the id, when the element has one as a string.
func decodeUser(raw json.RawMessage) (user, error) {
	var u user
	if err := json.Unmarshal(raw, &u); err != nil {
		var idOnly struct {
			ID string `json:"id"`
		}
		_ = json.Unmarshal(raw, &idOnly)
		return user{ID: idOnly.ID}, err
	}
	if u.ID == "" {
		return u, fmt.Errorf("no id")
	}
	return u, nil
}

// Status maps an Okta user status onto a lifecycle status
// (https://developer.okta.com/docs/api/openapi/okta-management/management/tag/User/#tag/User/operation/getUser,
// "status"). ACTIVE, RECOVERY, PASSWORD_EXPIRED and LOCKED_OUT are
// users who hold an account they can get back into: active. STAGED and
// PROVISIONED users have not activated theirs and cannot sign in yet,
// and SUSPENDED users are barred: suspended. DEPROVISIONED users are
// deactivated: deprovisioned. ok is false for a status Okta does not
// document.
func Status(s string) (status resync.LifecycleStatus, ok bool) {
	switch s {
	case "ACTIVE", "RECOVERY", "PASSWORD_EXPIRED", "LOCKED_OUT":
		return resync.StatusActive, true
	case "STAGED", "PROVISIONED", "SUSPENDED":
		return resync.StatusSuspended, true
	case "DEPROVISIONED":
		return resync.StatusDeprovisioned, true
	}
	return "", false
}

func (c *connector) identity(u user) (*resync.Identity, error) {
	st, ok := Status(u.Status)
	if !ok {
		return nil, &resync.RecordError{Kind: resync.KindIdentity, Key: u.ID,
			Reason: fmt.Sprintf("okta: user %s has status %.40q, not one Okta documents", u.ID, u.Status)}
	}
	p := u.Profile
	id := &resync.Identity{
		Key:        u.ID,
		Email:      p.Email,
		Name:       p.DisplayName,
		Status:     st,
		Title:      p.Title,
		Department: p.Department,
		EmployeeID: p.EmployeeNumber,
		Manager:    p.ManagerID,
		Attributes: map[string]string{"status": u.Status},
	}
	if id.Name == "" {
		id.Name = strings.TrimSpace(p.FirstName + " " + p.LastName)
	}
	if id.Manager == "" {
		id.Manager = p.Manager
	}
	if u.LastLogin != nil {
		id.LastLogin = u.LastLogin.UTC()
	}
	if c.readMFA {
		id.MFA = c.mfa[u.ID]
	}
	for k, v := range map[string]string{"login": p.Login, "firstName": p.FirstName, "lastName": p.LastName,
		"division": p.Division, "organization": p.Organization, "costCenter": p.CostCenter, "userType": p.UserType} {
		if v != "" {
			id.Attributes[k] = v
		}
	}
	if p.ManagerID != "" && p.Manager != "" {
		id.Attributes["manager"] = p.Manager
	}
	if u.Type != nil && u.Type.ID != "" {
		id.Attributes["type.id"] = u.Type.ID
	}
	if u.Activated != nil {
		id.Attributes["activated"] = u.Activated.UTC().Format(time.RFC3339)
	}
	return id, nil
}
