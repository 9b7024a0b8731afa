// This file decodes SCIM responses: ListResponse messages (RFC 7644
// §3.4.2), User and Group resources (RFC 7643 §4) and error messages
// (RFC 7644 §3.12).

package scim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/openresync/resync"
)

// ErrMalformed is wrapped by the error of a response that is not a SCIM
// ListResponse: not JSON, not an object, Resources not a list, a
// totalResults that is not a count. Such errors are also resync.Permanent.
// A single resource that cannot be read is not one: it is rejected on
// its own (Page.Rejected), and the read goes on.
var ErrMalformed = errors.New("scim: malformed response")

// resource is one entry of a ListResponse's Resources: its id, and the
// resource as the provider sent it, decoded once it is known to be new to
// the read.
type resource struct {
	id  string
	raw json.RawMessage
	pos int // 1-based position in the list, for messages about a resource without an id
}

func resourceID(r resource) string {
	if r.id == "" {
		// No id to dedup by: unique to its position, so it is reported
		// rather than merged with another resource without one.
		return "\x00pos:" + strconv.Itoa(r.pos)
	}
	return r.id
}

type list struct {
	total     int // -1 when absent
	start     int // the response's startIndex; 0 when absent
	resources []resource
}

// decodeList reads a ListResponse. Attribute names are matched without
// regard to case (RFC 7643 §2.1).
func decodeList(body []byte) (list, error) {
	var lr struct {
		Schemas      []string          `json:"schemas"`
		TotalResults json.RawMessage   `json:"totalResults"`
		StartIndex   json.RawMessage   `json:"startIndex"`
		Resources    []json.RawMessage `json:"Resources"`
	}
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' {
		return list{}, fmt.Errorf("%w: not a JSON object (a SCIM ListResponse)", ErrMalformed)
	}
	if err := json.Unmarshal(body, &lr); err != nil {
		return list{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if len(lr.Schemas) > 0 && !slices.ContainsFunc(lr.Schemas, func(s string) bool { return strings.EqualFold(s, listResponseSchema) }) {
		return list{}, fmt.Errorf("%w: schemas %q has no %s", ErrMalformed, truncate(strings.Join(lr.Schemas, ","), 200), listResponseSchema)
	}
	out := list{total: -1}
	if t := bytes.TrimSpace(lr.TotalResults); len(t) > 0 && !bytes.Equal(t, []byte("null")) {
		n, err := strconv.Atoi(string(t))
		if err != nil || n < 0 {
			return list{}, fmt.Errorf("%w: totalResults %s is not a count", ErrMalformed, truncate(string(t), 40))
		}
		out.total = n
	}
	start := 1
	if t := bytes.TrimSpace(lr.StartIndex); len(t) > 0 && !bytes.Equal(t, []byte("null")) {
		if n, err := strconv.Atoi(string(t)); err == nil && n > 0 {
			start, out.start = n, n
		}
	}
	for i, raw := range lr.Resources {
		var head struct {
			ID json.RawMessage `json:"id"`
		}
		r := resource{raw: raw, pos: start + i}
		if json.Unmarshal(raw, &head) == nil {
			var id string
			if json.Unmarshal(head.ID, &id) == nil {
				r.id = strings.TrimSpace(id)
			}
		}
		out.resources = append(out.resources, r)
	}
	return out, nil
}

// multiValued is an entry of a multi-valued attribute (RFC 7643 §2.4).
type multiValued struct {
	Value   string   `json:"value"`
	Display string   `json:"display"`
	Type    string   `json:"type"`
	Primary flexBool `json:"primary"`
}

// flexBool reads a JSON boolean, and also the strings "true" and "false"
// some providers send.
type flexBool struct{ set, v bool }

func (b *flexBool) UnmarshalJSON(data []byte) error {
	s := strings.Trim(string(bytes.TrimSpace(data)), `"`)
	switch strings.ToLower(s) {
	case "true":
		*b = flexBool{true, true}
	case "false":
		*b = flexBool{true, false}
	case "null", "":
		*b = flexBool{}
	default:
		return fmt.Errorf("not a boolean: %s", truncate(s, 20))
	}
	return nil
}

type user struct {
	ID          string   `json:"id"`
	ExternalID  string   `json:"externalId"`
	UserName    string   `json:"userName"`
	DisplayName string   `json:"displayName"`
	NickName    string   `json:"nickName"`
	Title       string   `json:"title"`
	UserType    string   `json:"userType"`
	Active      flexBool `json:"active"`
	Name        *struct {
		Formatted  string `json:"formatted"`
		GivenName  string `json:"givenName"`
		FamilyName string `json:"familyName"`
	} `json:"name"`
	Emails     []multiValued `json:"emails"`
	Groups     []multiValued `json:"groups"`
	Enterprise *struct {
		EmployeeNumber string `json:"employeeNumber"`
		CostCenter     string `json:"costCenter"`
		Organization   string `json:"organization"`
		Division       string `json:"division"`
		Department     string `json:"department"`
		Manager        *struct {
			Value       string `json:"value"`
			DisplayName string `json:"displayName"`
		} `json:"manager"`
	} `json:"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"`
}

type group struct {
	ID          string        `json:"id"`
	DisplayName string        `json:"displayName"`
	Members     []multiValued `json:"members"`
}

// reject is the Page.Rejected error of a resource that cannot become a
// record: with its key when it has an id, so its stored version is kept.
func reject(kind resync.RecordKind, r resource, endpoint, why string) error {
	where := "id " + strconv.Quote(truncate(r.id, 100))
	if r.id == "" {
		where = "position " + strconv.Itoa(r.pos) + ", no id"
	}
	return &resync.RecordError{Kind: kind, Key: r.id, Reason: fmt.Sprintf("scim: %s resource at %s: %s", endpoint, where, why)}
}

func (c *connector) userKind() resync.RecordKind {
	if c.identities {
		return resync.KindIdentity
	}
	return resync.KindAccount
}

// decodeUser decodes a User resource. Unknown attributes are ignored.
func decodeUser(raw []byte) (*user, error) {
	var u user
	if err := json.Unmarshal(raw, &u); err != nil {
		return nil, err
	}
	return &u, nil
}

// userRecord maps a User resource to an Identity or an Account.
func (c *connector) userRecord(r resource) (resync.Record, error) {
	kind := c.userKind()
	if r.id == "" {
		return nil, reject(kind, r, "Users", "no id")
	}
	if !utf8.Valid(r.raw) {
		return nil, reject(kind, r, "Users", "not UTF-8")
	}
	u, err := decodeUser(r.raw)
	if err != nil {
		return nil, reject(kind, r, "Users", err.Error())
	}
	attrs := map[string]string{}
	set := func(k, v string) {
		if v = strings.TrimSpace(v); v != "" {
			attrs[k] = v
		}
	}
	status := resync.StatusActive // active is optional (RFC 7643 §4.1.1): absent means usable
	if u.Active.set {
		set("active", strconv.FormatBool(u.Active.v))
		if !u.Active.v {
			status = resync.StatusSuspended
		}
	}
	set("userName", u.UserName)
	set("userType", u.UserType)
	set("nickName", u.NickName)
	name := strings.TrimSpace(u.DisplayName)
	if u.Name != nil {
		full := strings.TrimSpace(u.Name.Formatted)
		if full == "" {
			full = strings.TrimSpace(strings.TrimSpace(u.Name.GivenName) + " " + strings.TrimSpace(u.Name.FamilyName))
		}
		if name == "" {
			name = full
		} else if full != name {
			set("name.formatted", full)
		}
		set("name.givenName", u.Name.GivenName)
		set("name.familyName", u.Name.FamilyName)
	}
	email := primaryEmail(u.Emails)
	var employee, manager, department string
	if e := u.Enterprise; e != nil {
		employee, department = strings.TrimSpace(e.EmployeeNumber), strings.TrimSpace(e.Department)
		if e.Manager != nil {
			manager = strings.TrimSpace(e.Manager.Value)
			set("manager.displayName", e.Manager.DisplayName)
		}
		set("costCenter", e.CostCenter)
		set("organization", e.Organization)
		set("division", e.Division)
	}
	if len(attrs) == 0 {
		attrs = nil
	}
	if c.identities {
		id := &resync.Identity{Key: r.id, ExternalID: strings.TrimSpace(u.ExternalID), Email: email, Name: name,
			Status: status, EmployeeID: employee, Manager: manager, Department: department,
			Title: strings.TrimSpace(u.Title), Attributes: attrs}
		if !c.readGroups {
			id.Groups = memberValues(u.Groups, false)
		}
		return id, nil
	}
	delete(attrs, "userName") // the Account's Username
	if department != "" {
		if attrs == nil {
			attrs = map[string]string{}
		}
		attrs["department"] = department
	}
	if manager != "" {
		if attrs == nil {
			attrs = map[string]string{}
		}
		attrs["manager"] = manager
	}
	if t := strings.TrimSpace(u.Title); t != "" {
		if attrs == nil {
			attrs = map[string]string{}
		}
		attrs["title"] = t
	}
	if len(attrs) == 0 {
		attrs = nil
	}
	return &resync.Account{Key: r.id, Username: strings.TrimSpace(u.UserName), OwnerEmail: email, DisplayName: name,
		Status: status, EmployeeID: employee, ExternalID: strings.TrimSpace(u.ExternalID), Attributes: attrs}, nil
}

// primaryEmail is the email marked primary, else the first of type work,
// else the first (RFC 7643 §4.1.2: at most one is primary).
func primaryEmail(emails []multiValued) string {
	first, work := "", ""
	for _, e := range emails {
		v := strings.TrimSpace(e.Value)
		switch {
		case v == "":
		case e.Primary.v:
			return v
		case work == "" && strings.EqualFold(strings.TrimSpace(e.Type), "work"):
			work = v
		case first == "":
			first = v
		}
	}
	if work != "" {
		return work
	}
	return first
}

// memberValues returns the values of a members or groups attribute,
// sorted and without duplicates; with usersOnly, members whose type says
// Group (nested groups) are left out.
func memberValues(ms []multiValued, usersOnly bool) []string {
	var out []string
	for _, m := range ms {
		v := strings.TrimSpace(m.Value)
		if v == "" || (usersOnly && strings.EqualFold(m.Type, "Group")) {
			continue
		}
		out = append(out, v)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// groupRecord maps a Group resource to a Group.
func groupRecord(r resource) (resync.Record, error) {
	if r.id == "" {
		return nil, reject(resync.KindGroup, r, "Groups", "no id")
	}
	if !utf8.Valid(r.raw) {
		return nil, reject(resync.KindGroup, r, "Groups", "not UTF-8")
	}
	var g group
	if err := json.Unmarshal(r.raw, &g); err != nil {
		return nil, reject(resync.KindGroup, r, "Groups", err.Error())
	}
	return &resync.Group{Key: r.id, Name: strings.TrimSpace(g.DisplayName), Members: memberValues(g.Members, true)}, nil
}
