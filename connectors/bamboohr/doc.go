// Package bamboohr is a resync connector for BambooHR, an HRIS: every
// employee of a company, Active and Inactive, read through BambooHR's REST
// API as one custom report, and turned into identities by the mapping,
// BambooHR preset and status rules of package connectors/hris.
//
// Register it for HRIS connections, with the engine's clock:
//
//	resync.Config{
//		Clock: clock,
//		Connectors: map[string]resync.ConnectorFactory{
//			"bamboohr": bamboohr.NewFactory(bamboohr.Config{Clock: clock}),
//		},
//	}
//
// # Configuration
//
// Connection.Settings:
//
//   - "company_domain" (required): the company's BambooHR subdomain, acme
//     for acme.bamboohr.com.
//   - "api_key" (required): an API key of a BambooHR user allowed to see
//     the fields read (BambooHR leaves out, silently, the fields the key's
//     user may not see). It may be a secret reference, "secret:" and the
//     reference, which the factory resolves with resync.Secret through
//     the engine's Config.Secrets (New takes the key itself). The key
//     never appears in an error or a log.
//   - "base_url" (optional): the API root, default
//     https://api.bamboohr.com/api/gateway.php/; the subdomain and /v1/
//     follow it. For a proxy; it must be https.
//   - "column.<field>" (optional): the BambooHR field (API name or field
//     ID) holding one of the identity fields, overriding the preset, as in
//     connectors/hris (column.department, column.manager, ...). The
//     connector asks the report for it too.
//   - "page_size", "date_layout", "max_bytes" (optional): as in
//     connectors/hris.
//
// Any other setting is an error. New checks the settings without a
// request.
//
// A program wiring a connection from its environment might read
// BAMBOOHR_COMPANY_DOMAIN into "company_domain" and BAMBOOHR_API_KEY into
// "api_key" (better: a secret reference to it).
//
// # Records
//
// Identities, one per employee, keyed by BambooHR's employee id (assigned
// by BambooHR, never reused or changed; the company's employeeNumber,
// which can change, is Identity.EmployeeID). The report asks for id,
// employeeNumber, firstName, lastName, displayName, workEmail,
// supervisorEId (the supervisor's employee id), department, jobTitle,
// hireDate, terminationDate, status, employmentHistoryStatus and location
// (https://documentation.bamboohr.com/docs/list-of-field-names), and maps
// them as connectors/hris's bamboohr preset does: status "Inactive" →
// deprovisioned; a termination date before today → deprovisioned; a hire
// date after today → not_started (BambooHR lists a new hire as Active from
// the day the hire is entered); otherwise active. BambooHR's own words
// stay in Attributes under "status" and "employmentHistoryStatus".
// Manager is the supervisor's key. No groups.
//
// An employee that cannot become a record (an unparseable date, an
// unknown status, an id on two entries) is rejected with the entry and
// field named, and its stored version is kept; a report that is not the
// JSON expected fails the read, storing nothing (see connectors/hris).
//
// # Capabilities
//
// One request per read: POST
// /api/gateway.php/<company_domain>/v1/reports/custom?format=JSON&onlyCurrent=true
// with the fields as a JSON body
// (https://documentation.bamboohr.com/reference/request-custom-report),
// which returns every employee, Active and Inactive, in one response;
// BambooHR offers no bulk read in fewer requests, and this one has no
// paging. The read's pages, Page.Total and CheckHealth are those of
// connectors/hris over that report: the first page makes the request, the
// others are cut from it, so a retried later page makes none.
//
// No incremental reads yet: every read is a full read. A later
// incremental mode can ask GET /v1/employees/changed?since=<ISO 8601 time>
// (https://documentation.bamboohr.com/reference/get-changed-employee-ids),
// (a "+" offset written %2B), which answers {"latest": time, "employees":
// {"<id>": {"id", "action": "Inserted" | "Updated" | "Deleted",
// "lastChanged"}}} for every employee any field of whom changed since
// then, and then read just those with the custom report's employeeIds
// filter. Deletions are known only from that list, so its "latest" time
// is the next read's since.
//
// # Errors
//
// resync.Permanent (not retried): a bad setting (wrapping
// resync.ErrInvalidRequest); 401 (a wrong or revoked key), 403 (the key's
// user may not run reports), 404 (no such company) and other 4xx, with the
// status and the start of the body (BambooHR also explains in the
// X-BambooHR-Error-Message header); a report that is not the JSON
// expected, wrapping hris.ErrMalformed; a response over "max_bytes".
//
// Retried by the engine: network errors, 408 and 5xx. A canceled context
// returns ctx.Err().
//
// # Rate limits
//
// BambooHR publishes no fixed limits: it answers a client over its limit
// with 503 Service Unavailable and a Retry-After header
// (https://documentation.bamboohr.com/docs/api-details, "Rate Limiting"),
// and some endpoints with 429. Either with Retry-After is returned as
// resync.RetryAfter with that wait (seconds or an HTTP date, at most a
// day): the engine waits at least that long before asking again, or ends
// the read as throttled when the wait is longer than the read has left.
// Without Retry-After they are retried with the engine's backoff. The
// connector never retries by itself, and a read costs one request.
package bamboohr
