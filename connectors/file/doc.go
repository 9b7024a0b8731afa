// Package file is a resync connector that reads exports from files: an
// HRIS employee CSV, an IdP (Okta-like) users-and-groups JSON, or a cloud
// IAM-like accounts JSON. It lets the SDK run with no servers and no
// credentials (examples, demos, tests), and serves systems that can only
// hand over a periodic export.
//
// Register it for any provider names whose connections read files:
//
//	resync.Config{Connectors: map[string]resync.ConnectorFactory{"bamboohr": file.Factory, "okta": file.Factory}}
//
// # Configuration
//
// Connection.Settings:
//
//   - "path" (required): the export file. A relative path is relative to the
//     process's working directory. The engine passes settings from the host
//     unchanged: never let a tenant choose the path of a shared server.
//   - "format" (required): "hris-csv", "idp-json" or "accounts-json".
//   - "page_size" (optional): records per page, 1 to 100000, default 100.
//
// New validates the settings without touching the file.
//
// # Records
//
// hris-csv: a header row, then one employee per row; one Identity per row.
// Header names are matched ignoring case, spaces and punctuation, and
// common aliases are accepted: employee_id (id, employee_number, worker_id)
// is the key and is required; email (work_email); first_name and last_name,
// or name (full_name); department; title (job_title); manager_email
// (manager, manager_id, supervisor) becomes Manager; start_date (hire_date)
// and end_date (termination_date) as YYYY-MM-DD or RFC 3339;
// employment_status (status): active → active, terminated or inactive →
// deprovisioned, leave (on leave) → suspended, pre-hire (pending) →
// not_started, empty → active. Other
// columns go to Attributes under their header name (empty values are left
// out). Rows shorter than the header read as empty trailing fields.
//
// idp-json: {"users":[...],"groups":[...]} as an Okta-like export. Each
// user {"id","status","profile":{"login","email","firstName","lastName",
// "department","title","managerId"},"groups":[...]} is an Identity keyed by
// id: status ACTIVE (and PROVISIONED, RECOVERY, PASSWORD_EXPIRED,
// LOCKED_OUT) → active, SUSPENDED → suspended, STAGED → not_started, DEPROVISIONED →
// deprovisioned; Email is profile.email (else a login that is an email);
// other profile fields go to Attributes. Each group {"id","profile":
// {"name"},"members":[...]} is a Group keyed by id. Membership is the union
// of the users' "groups" and the groups' "members": an export may give
// either side or both, and both records show it. "users" is required,
// "groups" optional.
//
// accounts-json: {"accounts":[...]}; each {"id","username","owner_email",
// "display_name","status","roles":[...],"mfa":true|false|null,
// "last_login":"RFC 3339"} is an Account keyed by id. Status active
// (enabled) → active, suspended (disabled, inactive) → suspended,
// deprovisioned (deleted) → deprovisioned, empty → active. Other fields go
// to Attributes (non-strings as compact JSON).
//
// In the JSON formats field names are matched ignoring case and
// punctuation ("owner_email" and "ownerEmail" are one field).
//
// A malformed row or element (an unknown status, a date that does not
// parse, a field of the wrong JSON type, more CSV fields than header
// columns, a missing ID) does not stop the read: it is reported in
// Page.Rejected with the file, the line or array index, the field and, when
// the row has an ID, the record's key. The engine counts it in the run's
// result (Rejected, RejectedSamples) and stores nothing from it; a stored
// record with the same key keeps its stored version instead of being
// removed. CheckHealth names the first few such rows or elements.
//
// # Capabilities
//
// Paging: cursors are record offsets. The empty cursor reads and parses the
// whole file; the following pages are served from what it read, so a read
// sees one version of the file even if it is rewritten meanwhile, and
// re-reading a cursor returns the same page. Every page carries Total. The
// parsed records of the file stay in memory until the connector is
// dropped, which the engine does after each read.
//
// resync.HealthChecker: CheckHealth reads and parses the file and fails if
// it cannot, or if any row or element is malformed (naming the first three,
// by line or array index).
//
// No incremental reads: every read is a full read of the file.
//
// # Errors
//
// Errors that retrying cannot fix are resync.Permanent: a bad setting (also
// wrapping resync.ErrInvalidRequest), a missing or unreadable file
// (wrapping fs.ErrNotExist or fs.ErrPermission), and an export that does not
// parse as a whole (wrapping ErrMalformed: an empty CSV, a header without
// an employee ID column or with a column named twice, broken JSON with its
// line and column, a missing "users" or "accounts" array). Other I/O errors
// are returned as they are, so the engine retries them.
//
// # Rate limits
//
// None: the connector reads a local file, once per full read.
package file
