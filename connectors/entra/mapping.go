// This file maps Microsoft Graph's user and group resources onto resync
// records.

package entra

import (
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/openresync/resync"
)

// user is the part of Graph's user resource the connector reads
// (https://learn.microsoft.com/en-us/graph/api/resources/user).
type user struct {
	ID                    string     `json:"id"`
	AccountEnabled        *bool      `json:"accountEnabled"`
	DisplayName           string     `json:"displayName"`
	GivenName             string     `json:"givenName"`
	Surname               string     `json:"surname"`
	Mail                  string     `json:"mail"`
	UserPrincipalName     string     `json:"userPrincipalName"`
	EmployeeID            string     `json:"employeeId"`
	JobTitle              string     `json:"jobTitle"`
	Department            string     `json:"department"`
	CompanyName           string     `json:"companyName"`
	OfficeLocation        string     `json:"officeLocation"`
	UserType              string     `json:"userType"`
	OnPremisesImmutableID string     `json:"onPremisesImmutableId"`
	CreatedDateTime       *time.Time `json:"createdDateTime"`
	DeletedDateTime       *time.Time `json:"deletedDateTime"`
	SignInActivity        *struct {
		LastSignInDateTime               *time.Time `json:"lastSignInDateTime"`
		LastNonInteractiveSignInDateTime *time.Time `json:"lastNonInteractiveSignInDateTime"`
		LastSuccessfulSignInDateTime     *time.Time `json:"lastSuccessfulSignInDateTime"`
	} `json:"signInActivity"`
}

// group is the part of Graph's group resource the connector reads
// (https://learn.microsoft.com/en-us/graph/api/resources/group).
type group struct {
	ID          string `json:"id"`
	DisplayName string `json:"displayName"`
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
		return u, errors.New("no id")
	}
	return u, nil
}

// identity maps a user: accountEnabled false is suspended, a deleted
// user (still restorable, in deletedItems) deprovisioned.
func (c *connector) identity(u user, deleted, noMFA bool) *resync.Identity {
	id := &resync.Identity{
		Key:        u.ID,
		Email:      u.Mail,
		Name:       u.DisplayName,
		Status:     resync.StatusActive,
		EmployeeID: u.EmployeeID,
		Title:      u.JobTitle,
		Department: u.Department,
		ExternalID: u.OnPremisesImmutableID,
		Attributes: map[string]string{},
	}
	if id.Name == "" {
		id.Name = strings.TrimSpace(u.GivenName + " " + u.Surname)
	}
	if id.Email == "" && strings.Contains(u.UserPrincipalName, "@") && !strings.Contains(u.UserPrincipalName, "#EXT#") {
		id.Email = u.UserPrincipalName
	}
	if u.AccountEnabled != nil {
		id.Attributes["accountEnabled"] = boolString(*u.AccountEnabled)
		if !*u.AccountEnabled {
			id.Status = resync.StatusSuspended
		}
	}
	if deleted {
		id.Status = resync.StatusDeprovisioned
		id.Attributes["deleted"] = "true"
		if u.DeletedDateTime != nil {
			id.Attributes["deletedDateTime"] = u.DeletedDateTime.UTC().Format(time.RFC3339)
		}
	}
	if a := u.SignInActivity; a != nil {
		// The last sign-in of any kind: an app's token refresh is
		// access too.
		for _, t := range []*time.Time{a.LastSignInDateTime, a.LastNonInteractiveSignInDateTime, a.LastSuccessfulSignInDateTime} {
			if t != nil && t.After(id.LastLogin) {
				id.LastLogin = t.UTC()
			}
		}
	}
	if c.readMFA != optOff && !noMFA {
		if st, ok := c.mfa[u.ID]; ok {
			id.MFA = resync.MFADisabled
			if st.registered {
				id.MFA = resync.MFAEnabled
			}
			id.Attributes["isMfaCapable"] = boolString(st.capable)
		}
	}
	for k, v := range map[string]string{"userPrincipalName": u.UserPrincipalName, "givenName": u.GivenName, "surname": u.Surname,
		"userType": u.UserType, "companyName": u.CompanyName, "officeLocation": u.OfficeLocation} {
		if v != "" {
			id.Attributes[k] = v
		}
	}
	if u.CreatedDateTime != nil {
		id.Attributes["createdDateTime"] = u.CreatedDateTime.UTC().Format(time.RFC3339)
	}
	return id
}

func boolString(b bool) string {
	if b {
		return "true"
	}
	return "false"
}
