// Package aws is a resync connector for Amazon Web Services: one
// connection is one AWS account. It reads the account's IAM users with
// their console access, MFA, access keys and last use, their groups and
// the policies that apply to them; or, in its second mode, the users and
// groups of an IAM Identity Center identity store. It is built on the
// official SDK, github.com/aws/aws-sdk-go-v2 (service/iam,
// service/identitystore, service/sts), with the SDK's own retries turned
// off: the engine retries pages.
//
// Register it for the provider name your connections use:
//
//	resync.Config{
//		Connectors: map[string]resync.ConnectorFactory{
//			"aws": aws.NewFactory(aws.Config{}),
//		},
//	}
//
// # Configuration
//
// The host's own AWS identity (Config.Credentials, else the SDK's default
// chain: environment, shared files, web identity, ECS or EC2 role) assumes
// a role in each customer account, the way cross-account access is meant
// to be granted. Connection.Settings:
//
//   - "role_arn": the role to assume in the account
//     (arn:aws:iam::123456789012:role/resync-reader), through STS
//     AssumeRole. The factory keeps the session (an hour, renewed by the
//     SDK before it ends) for later reads with the same role, external ID
//     and base credentials; a refused AssumeRole is not kept. Without it
//     the base credentials are used as they are.
//   - "external_id": the external ID the role's trust policy requires
//     (sts:ExternalId), which keeps another tenant from naming the same
//     role.
//   - "session_name" (optional): the role session name, default "resync";
//     it shows in the account's CloudTrail.
//   - "access_key_id", "secret_access_key", "session_token" (optional):
//     static base credentials for development and tests, used instead of
//     the host's.
//   - "region" (optional in "iam" mode, default us-east-1, where IAM signs;
//     required in "identity_center" mode: the Identity Center instance's
//     region).
//   - "mode" (optional): "iam" (the default) or "identity_center".
//   - "identity_store_id": the identity store (d-1234567890), required in
//     "identity_center" mode.
//   - "page_size" (optional): items asked for per request: 1 to 1000 in
//     "iam" mode (MaxItems, default 1000), 1 to 100 in "identity_center"
//     mode (MaxResults, default 100).
//
// "access_key_id", "secret_access_key", "session_token" and "external_id"
// may be secret references ("secret:<ref>"), which the factory resolves
// with resync.Secret through the engine's Config.Secrets. Credentials never
// appear in an error. Any other setting is an error, so that a misspelled
// one is not silently ignored. New checks the settings without asking AWS.
//
// The role needs iam:GenerateCredentialReport, iam:GetCredentialReport and
// iam:GetAccountAuthorizationDetails ("iam" mode; iam:ListGroups for the
// health check), or identitystore:ListUsers, identitystore:ListGroups and
// identitystore:ListGroupMemberships ("identity_center" mode).
//
// # Records
//
// "iam" mode: accounts and groups, whatever the connection's type.
//
// Each IAM user is an Account keyed by its UserId (AIDA...), which IAM
// never reuses or changes (a user's name and ARN change when it is renamed
// or moved to another path). Users come from GetAccountAuthorizationDetails
// and are joined by ARN with their line of the IAM credential report:
//
//	source                                  Account
//	UserId                                  Key
//	UserName                                Username
//	tag "email" (any case)                  OwnerEmail
//	report mfa_active                       MFA (enabled or disabled)
//	report password_last_used               LastLogin
//	report access_key_N_last_used_date      LastUsed["access_key_N"]
//	attached and inline policies,           Roles
//	  the user's and its groups'
//	Arn, Path, CreateDate,                  Attributes["arn"], ["path"],
//	  PermissionsBoundary, GroupList          ["created"], ["permissions_boundary"], ["groups"]
//	report password_enabled                 Attributes["console_access"]
//	report mfa_active, access_key_N_active, Attributes under the report's
//	  access_key_N_last_rotated,              column names
//	  cert_N_active, password_last_changed
//
// Roles are managed policy names ("AdministratorAccess"), the user's
// inline policies as "inline:<policy>" and its groups' inline policies as
// "inline:<group>/<policy>". The report does not name access keys, so
// LastUsed is keyed by the report's slot, "access_key_1" and
// "access_key_2".
//
// IAM has no disabled state: a user is disabled by removing its console
// password and deactivating its access keys. A user with neither a
// password nor an active access key or signing certificate is
// StatusSuspended; any other user is StatusActive. IAM has no deprovisioned
// state either: a deleted user is gone from the next read and removed.
//
// The account's root user is in the credential report only: it is an
// Account keyed by its ARN (arn:aws:iam::<account>:root), Username
// "<root_account>", Attributes["root"] "true", with its MFA and last
// sign-in.
//
// IAM reuses a credential report for four hours, so a user created since
// the report has no line: it is read with MFA unknown and
// Attributes["credential_report"] "missing", until the next report. A
// report line that does not parse rejects that user (Page.Rejected, a
// *resync.RecordError naming the user's key), so its stored version is
// kept.
//
// Each IAM group is a Group keyed by its GroupId (AGPA...), named by its
// GroupName, its Members the UserIds of the users whose GroupList names
// it.
//
// "identity_center" mode: identities and groups. Each identity store user
// is an Identity keyed by its UserId:
//
//	identity store User                     Identity
//	UserId                                  Key
//	DisplayName, else Name                  Name
//	Emails (primary, else work, else first) Email
//	ExternalIds[0].Id                       ExternalID (Issuer in Attributes["external_id_issuer"])
//	Title                                   Title
//	UserStatus                              Status (DISABLED: suspended; else active),
//	                                          Attributes["user_status"]
//	UserName, UserType                      Attributes["user_name"], ["user_type"]
//	aws:identitystore:enterprise extension  EmployeeID (employeeNumber), Department,
//	                                          Manager (manager.value, a UserId),
//	                                          Attributes costCenter, organization, division
//
// Each group is a Group keyed by its GroupId, named by its DisplayName,
// its Members the UserIds of its memberships.
//
// # Capabilities
//
// "iam" mode reads, in this order: GenerateCredentialReport (which starts
// a report, or reuses one under four hours old) and GetCredentialReport
// (the whole report, one CSV, in one request); then
// GetAccountAuthorizationDetails with Filter Group, then with Filter
// User, MaxItems and Marker paging while IsTruncated. Cursors are "r:<n>"
// (waiting for the report), "g:<marker>" and "u:<marker>"; the first page
// yields the root user, the groups are yielded, with their members, on the
// last users page. A report still being generated (GenerateCredentialReport
// says STARTED or INPROGRESS, GetCredentialReport answers ReportInProgress)
// is a page with no records, whose Next asks again and whose NotBefore is
// ReportPollInterval away: a wait, not a retry, bounded by the read's
// ConnectionTimeout.
//
// Requests per read in "iam" mode: 2 + max(1, ceil(groups/page_size)) +
// max(1, ceil(users/page_size)): at the default page size, 4 for an
// account of up to 1,000 users and 1,000 groups, plus one AssumeRole
// when the factory holds no live session for the role. Nothing is
// asked per user: the credential report and GetAccountAuthorizationDetails
// are AWS's bulk calls for this. The fewest requests IAM allows for these
// fields is 2 + ceil((users+groups)/1000): reading groups and users in
// separate passes costs at most one request more, and lets every user's
// Roles include its groups' policies.
//
// "identity_center" mode reads ListUsers, then ListGroups, then
// ListGroupMemberships for each group in turn, NextToken paging, one
// request a page. The identity store has no bulk membership call, so a
// read costs max(1, ceil(users/100)) + max(1, ceil(groups/100)) + the sum
// over groups of max(1, ceil(members/100)) requests: one per group at
// least. Cursors are
// "iu:<token>", "ig:<token>" and "im:<i>:<token>" (the i-th group); a group
// is yielded on the page that completes its member list. A group deleted
// after ListGroups (ListGroupMemberships answers ResourceNotFoundException)
// is left out, as the next read would find it gone.
//
// Pages can be read again (the engine's retry of a failed page). A cursor
// of a read that this connector value did not start (a new process) cannot
// be continued without what earlier pages gathered (the report, the
// groups): it returns resync.RestartRead and the read starts again.
//
// resync.HealthChecker: CheckHealth makes one request (iam:ListGroups with
// MaxItems 1, or identitystore:ListUsers with MaxResults 1), after
// assuming the role.
//
// No incremental reads: every read is a full read.
//
// # Errors
//
// The SDK's errors name the operation, the HTTP status, the request ID and
// AWS's error code and message ("operation error IAM:
// GetAccountAuthorizationDetails, https response error StatusCode: 403,
// RequestID: ..., api error AccessDenied: ..."), prefixed with the
// connection; they never carry credentials.
//
// resync.Permanent (the engine does not retry): a bad setting (wrapping
// resync.ErrInvalidRequest); any 4xx error but throttling and 408 —
// AccessDenied, InvalidClientTokenId, SignatureDoesNotMatch,
// ExpiredToken, UnrecognizedClientException, AccessDeniedException,
// ValidationException, ResourceNotFoundException — from IAM, the identity
// store or STS AssumeRole (a role the host may not assume, a wrong
// external ID); a credential report that is not CSV or lacks a column the
// connector reads (wrapping ErrMalformed); a default credential chain
// that cannot be loaded.
//
// Retried by the engine: 5xx (InternalFailure, ServiceUnavailable,
// InternalServerException), 408 and network errors; credentials the
// default chain fails to fetch (an instance role's endpoint not
// answering). A canceled context returns ctx.Err().
//
// # Rate limits
//
// AWS throttles IAM, STS and the identity store per account and operation
// without publishing fixed read rates; a throttled request fails with
// Throttling (IAM, STS: HTTP 400), ThrottlingException (identity store:
// HTTP 429, with Retry-After and RetryAfterSeconds), or another of the
// throttling codes the SDKs know (RequestLimitExceeded,
// TooManyRequestsException, SlowDown, ...). Any of them, and any 429, is
// returned as resync.RetryAfter: the engine waits the Retry-After (or
// RetryAfterSeconds) the response gives, at least MinThrottleWait, before
// asking for the same page again, and ends the read as throttled when the wait is longer than
// the read has left. The SDK's retryer is aws.NopRetryer and
// RetryMaxAttempts is 1, so each failing page costs one request and
// retries are the engine's alone. IAM generates a credential report at
// most every four hours and reuses it meanwhile, so frequent reads cost
// AWS no report generation.
package aws
