// This file decodes the users list of Datadog's API v2 (a JSON:API
// document: data, included, meta) and maps a user onto an Account.

package datadog

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/openresync/resync"
)

// ErrMalformed is wrapped by the error of a response that is not the
// users list Datadog documents.
var ErrMalformed = errors.New("datadog: malformed response")

// Datadog's user statuses
// (https://docs.datadoghq.com/api/latest/users/#list-all-users).
const (
	statusActive   = "Active"
	statusPending  = "Pending"
	statusDisabled = "Disabled"
)

type relData struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

type user struct {
	// bad says why the item could not be decoded, if it could not.
	bad        string
	Type       string `json:"type"`
	ID         string `json:"id"`
	Attributes struct {
		Email          string  `json:"email"`
		Handle         string  `json:"handle"`
		Name           *string `json:"name"`
		Title          *string `json:"title"`
		Status         string  `json:"status"`
		Disabled       bool    `json:"disabled"`
		Verified       bool    `json:"verified"`
		ServiceAccount bool    `json:"service_account"`
		MFAEnabled     *bool   `json:"mfa_enabled"`
		CreatedAt      string  `json:"created_at"`
	} `json:"attributes"`
	Relationships struct {
		Roles struct {
			Data []relData `json:"data"`
		} `json:"roles"`
	} `json:"relationships"`
}

type userList struct {
	users []user
	roles map[string]string // role ID → name, from included
	total int               // meta.page.total_count; -1 if absent
}

// usersDoc is the users list document; T is the type of its data items.
type usersDoc[T any] struct {
	Data     *[]T `json:"data"`
	Included []struct {
		Type       string `json:"type"`
		ID         string `json:"id"`
		Attributes struct {
			Name string `json:"name"`
		} `json:"attributes"`
	} `json:"included"`
	Meta struct {
		Page struct {
			TotalCount *int `json:"total_count"`
		} `json:"page"`
	} `json:"meta"`
}

// decodeUsers reads a GET /api/v2/users response body. The document is
// decoded in one pass; only when that fails is it decoded again item by
// item, so that one user of an unexpected shape is rejected on its own
// and the rest of the page is read.
func decodeUsers(body []byte) (userList, error) {
	var doc usersDoc[user]
	if err := json.Unmarshal(body, &doc); err != nil {
		return decodeUsersByItem(body)
	}
	if doc.Data == nil {
		return userList{}, fmt.Errorf("%w: no \"data\" list", ErrMalformed)
	}
	return listOf(doc, *doc.Data)
}

func decodeUsersByItem(body []byte) (userList, error) {
	var doc usersDoc[json.RawMessage]
	if err := json.Unmarshal(body, &doc); err != nil {
		return userList{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if doc.Data == nil {
		return userList{}, fmt.Errorf("%w: no \"data\" list", ErrMalformed)
	}
	users := make([]user, 0, len(*doc.Data))
	for i, raw := range *doc.Data {
		var u user
		if err := json.Unmarshal(raw, &u); err != nil {
			var idOnly struct {
				ID json.RawMessage `json:"id"`
			}
			_ = json.Unmarshal(raw, &idOnly)
			id, _ := strconv.Unquote(string(idOnly.ID))
			u = user{ID: id, bad: fmt.Sprintf("data[%d]: %v", i, err)}
		}
		users = append(users, u)
	}
	return listOf(doc, users)
}

func listOf[T any](doc usersDoc[T], users []user) (userList, error) {
	out := userList{users: users, total: -1, roles: make(map[string]string, len(doc.Included))}
	if t := doc.Meta.Page.TotalCount; t != nil {
		if *t < 0 {
			return userList{}, fmt.Errorf("%w: meta.page.total_count is %d", ErrMalformed, *t)
		}
		out.total = *t
	}
	for _, inc := range doc.Included {
		if inc.Type == "roles" && inc.ID != "" && inc.Attributes.Name != "" {
			out.roles[inc.ID] = inc.Attributes.Name
		}
	}
	return out, nil
}

// status maps Datadog's status: Active is active; Pending (invited, the
// invitation not yet accepted) is active too, as the access is granted;
// Disabled (Datadog never deletes a user; disabling is how one is removed)
// is deprovisioned. The "disabled" flag wins over the status.
func (u *user) status() (resync.LifecycleStatus, bool) {
	if u.Attributes.Disabled {
		return resync.StatusDeprovisioned, true
	}
	switch u.Attributes.Status {
	case statusActive, statusPending:
		return resync.StatusActive, true
	case statusDisabled:
		return resync.StatusDeprovisioned, true
	}
	return "", false
}

// record maps a user onto an Account; roles names the included roles.
func (u *user) record(roles map[string]string) (resync.Record, error) {
	reject := func(reason string) error {
		return &resync.RecordError{Kind: resync.KindAccount, Key: u.ID, Reason: "datadog api/v2/users: " + reason}
	}
	if u.bad != "" {
		return nil, reject(u.bad)
	}
	if u.ID == "" {
		return nil, reject("a user without an id (email " + strconv.Quote(truncate(u.Attributes.Email, 80)) + ")")
	}
	if u.Type != "users" {
		return nil, reject("an item of type " + strconv.Quote(truncate(u.Type, 40)) + ", not users")
	}
	status, ok := u.status()
	if !ok {
		return nil, reject("unknown status " + strconv.Quote(truncate(u.Attributes.Status, 40)))
	}
	a := &resync.Account{Key: u.ID, Username: u.Attributes.Handle, OwnerEmail: u.Attributes.Email,
		Status: status, Type: resync.AccountTypeHuman,
		Attributes: map[string]string{
			"datadog_status": u.Attributes.Status,
			"disabled":       strconv.FormatBool(u.Attributes.Disabled),
			"verified":       strconv.FormatBool(u.Attributes.Verified),
		}}
	if u.Attributes.ServiceAccount {
		a.Type = resync.AccountTypeService
	}
	if n := u.Attributes.Name; n != nil {
		a.DisplayName = *n
	}
	if t := u.Attributes.Title; t != nil && *t != "" {
		a.Attributes["title"] = *t
	}
	if m := u.Attributes.MFAEnabled; m != nil {
		a.MFA = resync.MFADisabled
		if *m {
			a.MFA = resync.MFAEnabled
		}
	}
	if ts := u.Attributes.CreatedAt; ts != "" {
		t, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil {
			return nil, reject("created_at " + strconv.Quote(truncate(ts, 40)) + " is not an RFC 3339 time")
		}
		a.Attributes["created_at"] = t.UTC().Format(time.RFC3339)
	}
	var ids []string
	for _, r := range u.Relationships.Roles.Data {
		if r.ID == "" || (r.Type != "" && r.Type != "roles") {
			continue
		}
		ids = append(ids, r.ID)
		name := roles[r.ID]
		if name == "" {
			name = r.ID // not included: the role's ID stands for it
		}
		if !slices.Contains(a.Roles, name) {
			a.Roles = append(a.Roles, name)
		}
	}
	if len(ids) > 0 {
		slices.Sort(ids)
		a.Attributes["role_ids"] = strings.Join(ids, ",")
	}
	return a, nil
}
