package aws

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/identitystore"
	idtypes "github.com/aws/aws-sdk-go-v2/service/identitystore/types"

	"github.com/openresync/resync"
)

// EnterpriseExtension is the identity store's user extension the
// connector asks for (employee number, department, manager).
const EnterpriseExtension = "aws:identitystore:enterprise"

// Cursor prefixes of ModeIdentityCenter: users pages, groups pages, and
// the member pages of the i-th group.
const (
	idUsersCursor   = "iu:"
	idGroupsCursor  = "ig:"
	idMembersCursor = "im:"
)

// idRead is what a read in ModeIdentityCenter has gathered so far.
type idRead struct {
	groups     []*idGroup          // in ListGroups order
	byID       map[string]*idGroup // the same, by GroupId
	groupsDone bool
	users      int
}

type idGroup struct {
	id, name string
	members  map[string]struct{}
}

func (c *connector) readIdentityStore(ctx context.Context, cursor string) (resync.Page, error) {
	switch {
	case cursor == "":
		c.isr = &idRead{byID: map[string]*idGroup{}}
		return c.readIDUsers(ctx, "")
	case c.isr == nil:
		if strings.HasPrefix(cursor, idUsersCursor) || strings.HasPrefix(cursor, idGroupsCursor) || strings.HasPrefix(cursor, idMembersCursor) {
			return resync.Page{}, c.restart(cursor)
		}
	case strings.HasPrefix(cursor, idUsersCursor):
		return c.readIDUsers(ctx, strings.TrimPrefix(cursor, idUsersCursor))
	case strings.HasPrefix(cursor, idGroupsCursor):
		return c.readIDGroups(ctx, strings.TrimPrefix(cursor, idGroupsCursor))
	case strings.HasPrefix(cursor, idMembersCursor):
		idx, token, ok := strings.Cut(strings.TrimPrefix(cursor, idMembersCursor), ":")
		i, err := strconv.Atoi(idx)
		if !ok || err != nil || i < 0 {
			return resync.Page{}, c.badCursor(cursor)
		}
		if !c.isr.groupsDone || i >= len(c.isr.groups) {
			return resync.Page{}, c.restart(cursor)
		}
		return c.readIDMembers(ctx, i, token)
	}
	return resync.Page{}, c.badCursor(cursor)
}

func (c *connector) storeID() *string { return awssdk.String(c.st.identityStoreID) }

func token(t string) *string {
	if t == "" {
		return nil
	}
	return awssdk.String(t)
}

// readIDUsers reads a page of ListUsers.
func (c *connector) readIDUsers(ctx context.Context, next string) (resync.Page, error) {
	out, err := c.ids.ListUsers(ctx, &identitystore.ListUsersInput{
		IdentityStoreId: c.storeID(),
		MaxResults:      awssdk.Int32(int32(c.st.pageSize)),
		NextToken:       token(next),
		Extensions:      []string{EnterpriseExtension},
	})
	if err != nil {
		return resync.Page{}, c.classify(err)
	}
	page := resync.Page{}
	for _, u := range out.Users {
		id, err := identity(u)
		if err != nil {
			page.Rejected = append(page.Rejected, err)
			continue
		}
		page.Records = append(page.Records, id)
	}
	if next == "" {
		c.isr.users = 0
	}
	c.isr.users += len(out.Users)
	if t := awssdk.ToString(out.NextToken); t != "" {
		page.Next = idUsersCursor + t
	} else {
		page.Next = idGroupsCursor
	}
	return page, nil
}

// readIDGroups reads a page of ListGroups; the groups are yielded once
// their members are read.
func (c *connector) readIDGroups(ctx context.Context, next string) (resync.Page, error) {
	out, err := c.ids.ListGroups(ctx, &identitystore.ListGroupsInput{
		IdentityStoreId: c.storeID(),
		MaxResults:      awssdk.Int32(int32(c.st.pageSize)),
		NextToken:       token(next),
	})
	if err != nil {
		return resync.Page{}, c.classify(err)
	}
	if next == "" {
		c.isr.groups, c.isr.byID = nil, map[string]*idGroup{}
	}
	page := resync.Page{}
	for _, g := range out.Groups {
		id := awssdk.ToString(g.GroupId)
		if id == "" {
			page.Rejected = append(page.Rejected, &resync.RecordError{Kind: resync.KindGroup,
				Reason: fmt.Sprintf("ListGroups: group %q without a GroupId", awssdk.ToString(g.DisplayName))})
			continue
		}
		if c.isr.byID[id] != nil {
			continue // a page read again
		}
		grp := &idGroup{id: id, name: awssdk.ToString(g.DisplayName), members: map[string]struct{}{}}
		c.isr.groups = append(c.isr.groups, grp)
		c.isr.byID[id] = grp
	}
	switch t := awssdk.ToString(out.NextToken); {
	case t != "":
		page.Next = idGroupsCursor + t
	case len(c.isr.groups) > 0:
		c.isr.groupsDone = true
		page.Next = idMembersCursor + "0:"
	}
	page.Total = c.isr.users + len(c.isr.groups)
	return page, nil
}

// readIDMembers reads a page of the i-th group's members; the group is
// yielded on the page that completes its member list.
func (c *connector) readIDMembers(ctx context.Context, i int, next string) (resync.Page, error) {
	g := c.isr.groups[i]
	out, err := c.ids.ListGroupMemberships(ctx, &identitystore.ListGroupMembershipsInput{
		IdentityStoreId: c.storeID(),
		GroupId:         awssdk.String(g.id),
		MaxResults:      awssdk.Int32(int32(c.st.pageSize)),
		NextToken:       token(next),
	})
	var gone *idtypes.ResourceNotFoundException
	if errors.As(err, &gone) {
		// Deleted since ListGroups: it is not in the account any more.
		page := resync.Page{Total: c.isr.users + len(c.isr.groups)}
		if i+1 < len(c.isr.groups) {
			page.Next = idMembersCursor + strconv.Itoa(i+1) + ":"
		}
		return page, nil
	}
	if err != nil {
		return resync.Page{}, c.classify(err)
	}
	for _, m := range out.GroupMemberships {
		if u, ok := m.MemberId.(*idtypes.MemberIdMemberUserId); ok && u.Value != "" {
			g.members[u.Value] = struct{}{}
		}
	}
	page := resync.Page{Total: c.isr.users + len(c.isr.groups)}
	if t := awssdk.ToString(out.NextToken); t != "" {
		page.Next = idMembersCursor + strconv.Itoa(i) + ":" + t
		return page, nil
	}
	members := make([]string, 0, len(g.members))
	for id := range g.members {
		members = append(members, id)
	}
	page.Records = append(page.Records, &resync.Group{Key: g.id, Name: g.name, Members: members})
	if i+1 < len(c.isr.groups) {
		page.Next = idMembersCursor + strconv.Itoa(i+1) + ":"
	}
	return page, nil
}

// identity maps an identity store user.
func identity(u idtypes.User) (*resync.Identity, error) {
	id := awssdk.ToString(u.UserId)
	if id == "" {
		return nil, &resync.RecordError{Kind: resync.KindIdentity,
			Reason: fmt.Sprintf("ListUsers: user %q without a UserId", awssdk.ToString(u.UserName))}
	}
	p := &resync.Identity{Key: id, Name: awssdk.ToString(u.DisplayName), Title: awssdk.ToString(u.Title),
		Status: resync.StatusActive, Attributes: map[string]string{"user_name": awssdk.ToString(u.UserName)}}
	if u.UserStatus != "" {
		p.Attributes["user_status"] = string(u.UserStatus)
		if u.UserStatus == idtypes.UserStatusDisabled {
			p.Status = resync.StatusSuspended
		}
	}
	if v := awssdk.ToString(u.UserType); v != "" {
		p.Attributes["user_type"] = v
	}
	if p.Name == "" && u.Name != nil {
		p.Name = awssdk.ToString(u.Name.Formatted)
		if p.Name == "" {
			p.Name = strings.TrimSpace(awssdk.ToString(u.Name.GivenName) + " " + awssdk.ToString(u.Name.FamilyName))
		}
	}
	p.Email = primaryEmail(u.Emails)
	if len(u.ExternalIds) > 0 {
		p.ExternalID = awssdk.ToString(u.ExternalIds[0].Id)
		p.Attributes["external_id_issuer"] = awssdk.ToString(u.ExternalIds[0].Issuer)
	}
	if doc := u.Extensions[EnterpriseExtension]; doc != nil {
		var ext map[string]any
		if err := doc.UnmarshalSmithyDocument(&ext); err != nil {
			return nil, &resync.RecordError{Kind: resync.KindIdentity, Key: id,
				Reason: fmt.Sprintf("ListUsers: user %s: extension %s: %v", id, EnterpriseExtension, err)}
		}
		str := func(v any) string { s, _ := v.(string); return s }
		p.EmployeeID = str(ext["employeeNumber"])
		p.Department = str(ext["department"])
		if m, ok := ext["manager"].(map[string]any); ok {
			p.Manager = str(m["value"])
		}
		for _, k := range []string{"costCenter", "organization", "division"} {
			if v := str(ext[k]); v != "" {
				p.Attributes[k] = v
			}
		}
	}
	return p, nil
}

// primaryEmail is the email marked primary, else the first of type work,
// else the first.
func primaryEmail(emails []idtypes.Email) string {
	for _, e := range emails {
		if e.Primary {
			return awssdk.ToString(e.Value)
		}
	}
	for _, e := range emails {
		if strings.EqualFold(awssdk.ToString(e.Type), "work") {
			return awssdk.ToString(e.Value)
		}
	}
	if len(emails) > 0 {
		return awssdk.ToString(emails[0].Value)
	}
	return ""
}
