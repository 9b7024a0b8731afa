package aws

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/openresync/resync"
)

// ReportPollInterval is how long a read waits (Page.NotBefore) before
// asking again for a credential report that IAM is still generating.
const ReportPollInterval = 2 * time.Second

// Cursor prefixes of ModeIAM: polling the credential report, the groups
// pages, the users pages.
const (
	reportCursor = "r:"
	groupsCursor = "g:"
	usersCursor  = "u:"
)

// iamRead is what a read in ModeIAM has gathered so far.
type iamRead struct {
	report     map[string]*reportRow // by ARN
	groups     map[string]*iamGroup  // by name
	groupsDone bool
	usersTotal int
}

type iamGroup struct {
	id, name string
	policies []string            // managed policy names and inline:<name>
	members  map[string]struct{} // user IDs
}

func (c *connector) readIAM(ctx context.Context, cursor string) (resync.Page, error) {
	switch {
	case cursor == "":
		c.ir = &iamRead{groups: map[string]*iamGroup{}}
		return c.generateReport(ctx)
	case strings.HasPrefix(cursor, reportCursor):
		n, err := strconv.Atoi(strings.TrimPrefix(cursor, reportCursor))
		if err != nil || n < 1 {
			return resync.Page{}, c.badCursor(cursor)
		}
		if c.ir == nil {
			return resync.Page{}, c.restart(cursor)
		}
		return c.getReport(ctx, n)
	case strings.HasPrefix(cursor, groupsCursor):
		if c.ir == nil || c.ir.report == nil {
			return resync.Page{}, c.restart(cursor)
		}
		return c.readIAMGroups(ctx, strings.TrimPrefix(cursor, groupsCursor))
	case strings.HasPrefix(cursor, usersCursor):
		if c.ir == nil || c.ir.report == nil || !c.ir.groupsDone {
			return resync.Page{}, c.restart(cursor)
		}
		return c.readIAMUsers(ctx, strings.TrimPrefix(cursor, usersCursor))
	}
	return resync.Page{}, c.badCursor(cursor)
}

// generateReport asks IAM for a credential report (it reuses one less than
// four hours old) and reads it if it is ready.
func (c *connector) generateReport(ctx context.Context) (resync.Page, error) {
	out, err := c.iam.GenerateCredentialReport(ctx, &iam.GenerateCredentialReportInput{})
	if err != nil {
		return resync.Page{}, c.classify(err)
	}
	if out.State != iamtypes.ReportStateTypeComplete {
		return c.reportPending(1), nil
	}
	return c.getReport(ctx, 1)
}

// reportPending is the page that waits for the report: no records, the
// next page no earlier than ReportPollInterval from now.
func (c *connector) reportPending(n int) resync.Page {
	return resync.Page{Next: reportCursor + strconv.Itoa(n), NotBefore: time.Now().Add(ReportPollInterval)}
}

// getReport reads the credential report; n counts the polls.
func (c *connector) getReport(ctx context.Context, n int) (resync.Page, error) {
	out, err := c.iam.GetCredentialReport(ctx, &iam.GetCredentialReportInput{})
	var notReady *iamtypes.CredentialReportNotReadyException
	var notPresent *iamtypes.CredentialReportNotPresentException
	var expired *iamtypes.CredentialReportExpiredException
	switch {
	case errors.As(err, &notReady):
		return c.reportPending(n + 1), nil
	case errors.As(err, &notPresent), errors.As(err, &expired):
		// Gone between the two calls (or never generated): ask again.
		if _, gerr := c.iam.GenerateCredentialReport(ctx, &iam.GenerateCredentialReportInput{}); gerr != nil {
			return resync.Page{}, c.classify(gerr)
		}
		return c.reportPending(n + 1), nil
	case err != nil:
		return resync.Page{}, c.classify(err)
	}
	if out.ReportFormat != "" && out.ReportFormat != iamtypes.ReportFormatTypeTextCsv {
		return resync.Page{}, resync.Permanent(fmt.Errorf("%w: aws: connection %q: credential report format %q, want text/csv", ErrMalformed, c.conn.ID, out.ReportFormat))
	}
	rows, err := parseReport(out.Content)
	if err != nil {
		return resync.Page{}, resync.Permanent(fmt.Errorf("aws: connection %q: %w", c.conn.ID, err))
	}
	c.ir.report = rows
	c.ir.usersTotal = len(rows)
	page := resync.Page{Next: groupsCursor, Total: c.ir.usersTotal}
	for _, row := range rows {
		if row.user != rootUser {
			continue
		}
		// The root user is in the report only; its key is its ARN.
		if row.err != nil {
			page.Rejected = append(page.Rejected, &resync.RecordError{Kind: resync.KindAccount, Key: row.arn, Reason: row.err.Error()})
			continue
		}
		acc := &resync.Account{Key: row.arn, Username: rootUser, Status: resync.StatusActive,
			Attributes: map[string]string{"arn": row.arn, "root": "true"}}
		applyReport(acc, row)
		page.Records = append(page.Records, acc)
	}
	return page, nil
}

// authDetails is one page of GetAccountAuthorizationDetails.
func (c *connector) authDetails(ctx context.Context, filter iamtypes.EntityType, marker string) (*iam.GetAccountAuthorizationDetailsOutput, error) {
	in := &iam.GetAccountAuthorizationDetailsInput{
		Filter:   []iamtypes.EntityType{filter},
		MaxItems: awssdk.Int32(int32(c.st.pageSize)),
	}
	if marker != "" {
		in.Marker = awssdk.String(marker)
	}
	out, err := c.iam.GetAccountAuthorizationDetails(ctx, in)
	if err != nil {
		return nil, c.classify(err)
	}
	if out.IsTruncated && awssdk.ToString(out.Marker) == "" {
		return nil, resync.Permanent(fmt.Errorf("%w: aws: connection %q: GetAccountAuthorizationDetails is truncated without a Marker", ErrMalformed, c.conn.ID))
	}
	return out, nil
}

// readIAMGroups reads a page of groups with their policies; the groups
// are yielded after the users, with their members.
func (c *connector) readIAMGroups(ctx context.Context, marker string) (resync.Page, error) {
	out, err := c.authDetails(ctx, iamtypes.EntityTypeGroup, marker)
	if err != nil {
		return resync.Page{}, err
	}
	page := resync.Page{Total: c.ir.usersTotal}
	for _, g := range out.GroupDetailList {
		id, name := awssdk.ToString(g.GroupId), awssdk.ToString(g.GroupName)
		if id == "" || name == "" {
			page.Rejected = append(page.Rejected, &resync.RecordError{Kind: resync.KindGroup, Key: id,
				Reason: fmt.Sprintf("GetAccountAuthorizationDetails: group %q without a GroupId or GroupName", name)})
			continue
		}
		grp := &iamGroup{id: id, name: name, members: map[string]struct{}{}}
		if old := c.ir.groups[name]; old != nil && old.id == id {
			grp.members = old.members // a page read again
		}
		for _, p := range g.AttachedManagedPolicies {
			grp.policies = append(grp.policies, awssdk.ToString(p.PolicyName))
		}
		for _, p := range g.GroupPolicyList {
			grp.policies = append(grp.policies, "inline:"+name+"/"+awssdk.ToString(p.PolicyName))
		}
		c.ir.groups[name] = grp
	}
	if out.IsTruncated {
		page.Next = groupsCursor + awssdk.ToString(out.Marker)
	} else {
		c.ir.groupsDone = true
		page.Next = usersCursor
	}
	return page, nil
}

// readIAMUsers reads a page of users; the last page also yields the groups.
func (c *connector) readIAMUsers(ctx context.Context, marker string) (resync.Page, error) {
	out, err := c.authDetails(ctx, iamtypes.EntityTypeUser, marker)
	if err != nil {
		return resync.Page{}, err
	}
	page := resync.Page{Total: c.ir.usersTotal + len(c.ir.groups)}
	for _, u := range out.UserDetailList {
		acc, err := c.iamAccount(u)
		if err != nil {
			page.Rejected = append(page.Rejected, err)
			continue
		}
		page.Records = append(page.Records, acc)
	}
	if out.IsTruncated {
		page.Next = usersCursor + awssdk.ToString(out.Marker)
		return page, nil
	}
	for _, name := range slices.Sorted(maps.Keys(c.ir.groups)) {
		g := c.ir.groups[name]
		members := make([]string, 0, len(g.members))
		for id := range g.members {
			members = append(members, id)
		}
		slices.Sort(members)
		page.Records = append(page.Records, &resync.Group{Key: g.id, Name: g.name, Members: members})
	}
	return page, nil
}

// iamAccount maps a user of GetAccountAuthorizationDetails, joined with
// its credential report line by ARN.
func (c *connector) iamAccount(u iamtypes.UserDetail) (*resync.Account, error) {
	id, name, arn := awssdk.ToString(u.UserId), awssdk.ToString(u.UserName), awssdk.ToString(u.Arn)
	if id == "" {
		return nil, &resync.RecordError{Kind: resync.KindAccount,
			Reason: fmt.Sprintf("GetAccountAuthorizationDetails: user %q without a UserId", name)}
	}
	row := c.ir.report[arn]
	if row != nil && row.err != nil {
		return nil, &resync.RecordError{Kind: resync.KindAccount, Key: id, Reason: row.err.Error()}
	}
	acc := &resync.Account{Key: id, Username: name, Status: resync.StatusActive,
		Attributes: map[string]string{"arn": arn, "path": awssdk.ToString(u.Path)}}
	if u.CreateDate != nil {
		acc.Attributes["created"] = u.CreateDate.UTC().Format(time.RFC3339)
	}
	if u.PermissionsBoundary != nil {
		acc.Attributes["permissions_boundary"] = awssdk.ToString(u.PermissionsBoundary.PermissionsBoundaryArn)
	}
	for _, t := range u.Tags {
		if strings.EqualFold(awssdk.ToString(t.Key), "email") {
			acc.OwnerEmail = awssdk.ToString(t.Value)
		}
	}
	roles := map[string]struct{}{}
	for _, p := range u.AttachedManagedPolicies {
		roles[awssdk.ToString(p.PolicyName)] = struct{}{}
	}
	for _, p := range u.UserPolicyList {
		roles["inline:"+awssdk.ToString(p.PolicyName)] = struct{}{}
	}
	groups := slices.Clone(u.GroupList)
	slices.Sort(groups)
	for _, gname := range groups {
		g := c.ir.groups[gname]
		if g == nil {
			continue // created after the groups were read: the next read has it
		}
		g.members[id] = struct{}{}
		for _, p := range g.policies {
			roles[p] = struct{}{}
		}
	}
	if len(groups) > 0 {
		acc.Attributes["groups"] = strings.Join(groups, ",")
	}
	acc.Roles = slices.Sorted(maps.Keys(roles))
	if row == nil {
		// Created after the report: its credentials are not known yet.
		acc.Attributes["credential_report"] = "missing"
		return acc, nil
	}
	applyReport(acc, row)
	if row.passwordEnabled != "true" && !row.keyActive[0] && !row.keyActive[1] && !row.certActive[0] && !row.certActive[1] {
		// No console password and no active access key or certificate:
		// the user can neither sign in nor call AWS. IAM has no disabled
		// state; this is how a user is disabled.
		acc.Status = resync.StatusSuspended
	}
	return acc, nil
}

// applyReport copies a credential report line onto an account.
func applyReport(acc *resync.Account, row *reportRow) {
	acc.MFA = resync.MFADisabled
	if row.mfaActive {
		acc.MFA = resync.MFAEnabled
	}
	acc.LastLogin = row.passwordLastUsed
	for i, t := range row.keyLastUsed {
		if !t.IsZero() {
			if acc.LastUsed == nil {
				acc.LastUsed = map[string]time.Time{}
			}
			acc.LastUsed["access_key_"+strconv.Itoa(i+1)] = t
		}
	}
	a := acc.Attributes
	a["console_access"] = row.passwordEnabled
	a["mfa_active"] = strconv.FormatBool(row.mfaActive)
	a["password_last_changed"] = row.passwordLastChanged
	for i := range 2 {
		p := "access_key_" + strconv.Itoa(i+1) + "_"
		a[p+"active"] = strconv.FormatBool(row.keyActive[i])
		a[p+"last_rotated"] = row.keyLastRotated[i]
		a["cert_"+strconv.Itoa(i+1)+"_active"] = strconv.FormatBool(row.certActive[i])
	}
}
