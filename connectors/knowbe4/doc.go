// Package knowbe4 is a resync connector for KnowBe4 security awareness
// training, through its Reporting API (https://developer.knowbe4.com/): it
// reads the account's users as accounts, each carrying the person's training
// completion, and its groups, so that a host can answer "who has not
// completed security training" from the records alone.
//
// Register it for KnowBe4 connections (type resync.SecurityTraining):
//
//	resync.Config{
//		Connectors: map[string]resync.ConnectorFactory{
//			"knowbe4": knowbe4.NewFactory(knowbe4.Config{Logger: logger}),
//		},
//	}
//
// # Configuration
//
// Connection.Settings:
//
//   - "token" (required): a Reporting API token (Account Settings >
//     Account Integrations > API), sent as "Authorization: Bearer <token>".
//     It may be a secret reference ("secret:<ref>"), which the factory
//     resolves with resync.Secret through the engine's Config.Secrets, as
//     every connector does. The token never appears in an error or a log
//     line, and is sent only to the API's host.
//   - "region" (optional): the server the account lives on, one of "us"
//     (training.knowbe4.com, the default), "eu", "ca", "uk", "de" (https://<region>.api.knowbe4.com/v1/). Or "url": the API's base URL, https only
//     (https://us.api.knowbe4.com/v1/), for a server not listed.
//   - "page_size" (optional): per_page, 1 to 500, default 500 (the API's
//     largest, which spends the least of the daily quota).
//   - "training" (optional): "true" (the default) reads the training
//     enrollments and puts each user's completion on their account;
//     "false" reads users and groups only.
//
// Any other setting is an error, so that a misspelled one is not silently
// ignored. New checks the settings without asking KnowBe4.
//
// # Records
//
// Every user is an Account keyed by KnowBe4's numeric user id (emails
// change; ids do not); every group a Group keyed by its id, whose Members
// are the keys of the accounts that list it (the Reporting API lists a
// user's groups, not a group's members).
//
//	KnowBe4 user field        Account
//	id                        Key
//	email                     Username, OwnerEmail
//	first_name last_name      DisplayName
//	employee_number           EmployeeID
//	provisioning_guid         ExternalID (the user's id at the provisioning IdP)
//	status                    Status: "active" is active, "archived"
//	                          deprovisioned; the original in Attributes["knowbe4_status"]
//	last_sign_in              LastLogin (volatile)
//	department, job_title,    Attributes of the same names, and
//	location, manager_email,  Attributes["groups"]: the group ids, sorted,
//	joined_on, archived_at    comma-separated
//
// Both active and archived users are read, so an archived user's account
// shows as deprovisioned rather than vanishing. Every account is human
// (resync.AccountTypeHuman): KnowBe4 trains people.
//
// Training completion, from every training enrollment of the user (one per
// module of a campaign), in Attributes:
//
//   - "training_status": TrainingCompleted when every enrollment is
//     "Passed" or "Completed"; else TrainingPastDue when one is "Past Due";
//     else TrainingIncomplete; TrainingNotEnrolled without enrollments.
//   - "training_enrollments", "training_completed": the counts.
//   - "training_last_completed": the latest completion date (YYYY-MM-DD, UTC).
//   - "training.<campaign>.status" (the same four values, for the
//     campaign's modules) and "training.<campaign>.completed" (its last
//     completion date, once all its modules are done).
//
// A change in a user's training is an update of their account, in the
// change log like any other.
//
// # Capabilities
//
// resync.HealthChecker: CheckHealth asks for one user.
//
// No incremental reads: every read is a full read. A read is made of four
// listings, each paged with page and per_page: training enrollments (kept in
// memory, not returned), active users, archived users, groups. The Reporting
// API gives no totals, so a listing ends at its first short page (one empty
// page more when the last is full). That is the fewest requests the API
// allows for these fields: about (enrollments + users + groups) / 500, never
// one per user. What the first and second listings gather lives in the
// connector the engine builds for the read; a page of a later listing asked
// of a new connector (after the process restarted mid-read, say) is
// answered with resync.RestartRead, and the engine reads again from the
// first page.
//
// # Errors
//
// resync.Permanent (the engine does not retry them): a bad setting (also
// wrapping resync.ErrInvalidRequest); 401 (a wrong or disabled token, or
// one used at the wrong region's server) and 403; 404 and any other 4xx but
// 408 and 429; a response that is not the documented JSON array (wrapping
// ErrMalformed); a body over the kit's size limit. The start of the
// response body, where KnowBe4 puts its message, is kept in the error.
//
// Retried by the engine: network errors, 408 and 5xx, each only for the page
// that failed. A canceled context returns ctx.Err().
//
// # Rate limits
//
// KnowBe4 allows 2,000 requests a day plus one per licensed user, and bursts
// are limited too (Reporting API reference, "Rate Limiting"; the Fair
// Usage Policy), answering 429 past either. A 429 is returned as
// resync.RetryAfter with the wait its Retry-After asks for (or the reset
// time its rate-limit fields give, if it sends them): the engine waits that
// long before asking for the page again. When the wait outlasts what the
// read has left (the daily quota is spent until tomorrow), the read ends at
// once as throttled (resync.ConnThrottled, with RetryAt), nothing applied,
// and the scheduler tries again after it. Rate-limit fields on successful
// responses set Page.NotBefore, so a read that keeps within them is not
// refused. A read of 10,000 active users with two enrollments each costs
// 64 requests: 41 for the enrollments, 21 for the users, one for the groups
// and one for the (empty) archived users.
package knowbe4
