// Package hris is a resync connector for HRIS exports: a CSV or JSON report
// of employees, from a file or an HTTPS URL, with the columns mapped to
// identity fields, presets for BambooHR's and Workday's reports, and each
// person's status worked out from their employment status and dates.
//
// Register it for the HRIS providers whose connections read exports. Give
// it the engine's clock, so that "today" is the same for both:
//
//	// clock: the engine's resync.Clock (nil: the system clock for both)
//	resync.Config{
//		Clock: clock,
//		Connectors: map[string]resync.ConnectorFactory{
//			"bamboohr": hris.NewFactory(hris.Config{Clock: clock}),
//		},
//	}
//
// # Configuration
//
// Connection.Settings:
//
//   - "path" or "url" (exactly one, or neither when Config.Fetch gets
//     the export from an HRIS API, as connectors/bamboohr does): the export. A path is a local file,
//     relative to the process's working directory; never let a tenant
//     choose the path of a shared server. A URL must be https (a Workday
//     Report-as-a-Service URL ending in ?format=csv or ?format=json, a
//     signed link);
//     query parameters named like secrets (sig, token, key, ...) are
//     redacted from every message.
//   - "token" (URL only): sent as "Authorization: Bearer <token>". Or
//     "username" and "password": sent as HTTP basic authentication. Each
//     may be a secret reference, "secret:" and the reference, which the
//     factory resolves with resync.Secret through the engine's
//     Config.Secrets, so credentials stay in the host's secret store and
//     out of the settings (New takes the values themselves). An unknown
//     reference fails the connection permanently, naming the setting and
//     the reference. Credentials never appear in an
//     error or a log: a response body that echoes one has it redacted.
//     They are sent only to the URL's host: a redirect elsewhere drops
//     them.
//   - "preset" (optional): "generic" (the default), "bamboohr" or
//     "workday": the header names each field is looked for under (see
//     Records). Another value is an error listing the presets.
//   - "column.<field>" (optional): the header of the column holding a
//     field, overriding the preset: column.employee_id, column.employee_number,
//     column.email, column.first_name, column.last_name, column.name,
//     column.manager, column.department, column.title, column.start_date,
//     column.end_date, column.status, column.location. A column named here
//     must be in the header.
//   - "date_layout" (optional): a Go time layout tried before the
//     defaults, for exports that write dates another way ("01/02/2006" for
//     US month-first dates, "02.01.2006"). The defaults are ISO 8601 dates
//     and date-times (2024-01-15, 2024-01-15T09:00:00Z, 2024-01-15
//     09:00:00, 2024/01/15); the workday preset adds Workday's dates with an
//     offset (2024-01-15-08:00). Month-first and day-first dates are never
//     guessed.
//   - "page_size" (optional): rows per page, 1 to 100000, default 500.
//   - "max_bytes" (optional): the largest export accepted, default 256 MiB.
//   - "format" (optional): "csv" (or "hris-csv", so that a connection of
//     connectors/file's hris-csv format moves over unchanged) or "json".
//     Without it the format is detected, the first of these that tells:
//     the response's Content-Type (URL mode: application/json, text/json
//     or a +json type is JSON; text/csv or application/csv is CSV); the
//     extension of the file or of the URL's path (.json, .csv); the first
//     byte that is not white space, after a byte order mark: "[" or "{" is
//     JSON, anything else CSV.
//
// Any other setting is an error, so that a misspelled column mapping is
// not silently ignored. New checks the settings without reading the export.
//
// # Records
//
// A CSV export is a header row, then one employee per row, one Identity
// each. A JSON export is one object per employee, in an array at the top
// level, under the "Report_Entry" key of an object (Workday's
// Report-as-a-Service) or under its "employees" key (BambooHR's employee
// directory and reports, whose "fields" and "title" are skipped); its
// field names are the header, and each object a row (see JSON below).
// Header names are compared ignoring case, spaces and punctuation
// ("Hire Date", "hire_date" and "hireDate" are one name; "#" reads as
// "number", so "Employee #" is employeeNumber). For each field
// the first of its preset's names present in the header is its column:
//
//	field            generic                 bamboohr                     workday
//	employee_id      employee_id, id, ...    id, else employeeNumber      Employee_ID, Worker_ID
//	employee_number  employee_number         employeeNumber               (the employee ID)
//	email            email, work_email       workEmail, bestEmail         Email_-_Primary_Work, Primary_Work_Email, Email
//	first_name       first_name              firstName, preferredName     First_Name, Legal_First_Name
//	last_name        last_name, surname      lastName                     Last_Name, Legal_Last_Name
//	name             name, full_name         displayName, fullName1       Full_Name, Worker
//	manager          manager_email, manager  supervisorId, supervisorEId, Manager_ID, Manager_Email, Manager
//	                                         supervisorEmail, supervisor,
//	                                         Reporting to
//	department       department              department                   Department, Supervisory_Organization
//	title            title, job_title        jobTitle                     Business_Title, Job_Title
//	start_date       start_date, hire_date   hireDate                     Hire_Date, Start_Date
//	end_date         end_date, termination_date  terminationDate          Termination_Date, End_Date
//	status           employment_status, status   status, employmentHistoryStatus  Worker_Status, Status, Active
//	location         location, office        location                     Location, Work_Location
//
// The bamboohr preset follows BambooHR's field names
// (https://documentation.bamboohr.com/docs/list-of-field-names), and the
// labels its web app gives them in an exported report. Workday has no
// fixed export: a custom report's author names its fields, and Workday
// writes their XML aliases as the header; the workday preset knows the
// aliases of the standard Worker fields and those integrations document
// (see the preset's source), and column.<field> settings name any other.
//
// Only the employee ID is required. It is the key (an HRIS never changes
// it), and Identity.EmployeeID unless an employee number column is mapped
// (BambooHR's id is the key; its company-assigned employee number, which
// can change, is EmployeeID; a report without the id column, as the web
// app exports it, is keyed by "Employee #"). Email is lower-cased. Name is the first and
// last names, else the name column (a name column beside first and last
// names is kept in Attributes). The location goes to Attributes under
// "location", whatever its column is called; unmapped columns and the
// status column's own value are kept in Attributes under their header
// names. Empty values are left out.
//
// Status, in this order of precedence:
//
//  1. A status column saying terminated (terminated, inactive, separated,
//     BambooHR's "Inactive", Workday's "0", "No" or "false") →
//     deprovisioned. HRIS systems set it when the termination takes
//     effect.
//  2. An end date before today → deprovisioned, whatever the status
//     column says: an export's status can lag its dates, the dates do not.
//     An end date before the start date is an earlier employment's (a
//     rehire): it counts for nothing, and is kept in Attributes instead of
//     EndDate.
//  3. A status column saying on leave (leave, leave of absence, LOA) →
//     suspended; saying pre-hire (pending, hired, not started) →
//     not_started.
//  4. A start date after today → not_started, even when the status column
//     says active: BambooHR and Workday list a hire as Active from the
//     day the hire is entered, before the first day of work.
//  5. Otherwise active: a status of active, full-time, part-time,
//     contractor, intern, temporary, seasonal, "1", "Yes" or "true", or no
//     status at all.
//
// Today is the date of Config.Clock in UTC; the end date itself is still a
// working day, the start date the first. Dates are the calendar dates
// written (an offset does not move them to another day), stored at
// midnight UTC; BambooHR's 0000-00-00 is no date.
//
// Manager: the manager column may hold an employee ID (the key, or the
// employee number), an email or a name ("Jane Doe" or "Doe, Jane").
// Once every row is read it is resolved to the manager's key when exactly
// one person of the export matches. An email that matches no one stays as
// the email. A value that matches several people (two Jane Does) or no one
// is left out of Manager and kept in Attributes under the manager column's
// name; the read reports such values once, with their row counts, to
// Config.Logger, rather than once per row.
//
// CSV: UTF-8 with or without a byte order mark, lines ending in LF or CRLF,
// quoted fields holding commas, quotes ("") and line breaks, rows shorter
// than the header (missing trailing fields are empty), rows longer than the
// header when the extra fields are empty (a spreadsheet's trailing
// columns), and rows with every field empty (skipped).
//
// JSON: UTF-8 with or without a byte order mark. A string is the field's
// value; a number is its text as written (BambooHR's numeric ids: 123 is
// the key "123"); true and false are the words; null, or a field left out
// (Workday leaves out empty fields), is empty. The header is every field
// name of every entry, in the order first seen; names that differ only in
// case and punctuation are one name, as in CSV. An object or array in an
// unmapped field is kept in Attributes as compact JSON text; in a mapped
// field it is malformed (below). An entry with every field empty ({}) is
// skipped. Positions are entries, counted from 1, and field names: "entry
// 3 (field "hireDate")" where CSV says "line 4, column 12 (hireDate)". An
// export with no entries reads as no employees.
//
// A row that cannot become a record does not stop the read: it is reported
// in Page.Rejected as a *resync.RecordError naming the export, the line
// and column (the byte column, and the header's name for it) and the
// employee ID when the row has one, so its stored version is kept. Such
// rows: an empty employee ID; a date that does not parse; an unknown status;
// more non-empty fields than header columns; a field that is not UTF-8; a
// quote out of place within one line. In JSON the same rules hold per
// entry, the messages naming the entry and field. An employee ID on more than one row
// (a row rejected for another reason included) is reported on each of
// them, naming the other lines, and none of them is used: the stored record is kept as it was rather than merged from rows
// that disagree.
//
// # Capabilities
//
// Paging: cursors are row offsets. The empty cursor fetches and parses the
// whole export (managers are resolved across all of it); the following
// pages are served from what it read, so a read sees one version of the
// export even if it is replaced meanwhile, and re-reading a cursor returns
// the same page. Every page carries Total, the export's row count, for
// progress. The parsed rows stay in memory until the connector is dropped,
// which the engine does after each read.
//
// resync.HealthChecker: CheckHealth fetches and parses the export and
// fails if it cannot, or if any row or entry would be rejected (naming the
// first three).
//
// No incremental reads: every read is a full read of the export.
//
// # Errors
//
// resync.Permanent (the engine does not retry them): a bad setting (also
// wrapping resync.ErrInvalidRequest); a missing or unreadable file; an
// HTTP status other than 408, 429 and 5xx (401, 403, 404: the error has
// the status and the start of the body); an export that cannot be read as
// a whole, wrapping ErrMalformed: empty, a file over "max_bytes", a header
// without the employee ID column or without a column a column.<field>
// setting names (the error quotes the header it saw), a mapped column
// named twice, or a quote that opens on one line and is broken or never
// closed on a later one (its lines may be rows, and rejecting them as one
// would lose them). In JSON, any malformed entry fails the read, naming
// the entry and the field, so that the read stores nothing: JSON that does
// not parse (with its byte offset), an entry that is not an object, a
// field named twice in one entry, an object or array in a mapped field, a
// document that is neither an array nor an object with one "Report_Entry"
// or "employees" array, or data after the document. JSON is decoded as a
// stream, entry by entry, so a large export is held once, as the bytes
// read, beside the records made of it.
//
// A response over "max_bytes" is permanent too.
//
// Retried by the engine: other I/O errors, network errors, 408 and 5xx.
// A canceled context returns ctx.Err().
//
// # Rate limits
//
// Files: none; the export is read once per full read. URL mode: one GET per
// full read. A 429, or a 503, with a Retry-After (seconds or an HTTP date,
// measured against the response's Date header) is returned as
// resync.RetryAfter with that wait, at most a day; the engine waits at
// least that long before asking again, or ends the read as throttled when
// the wait is longer than the read has left. Without Retry-After it is
// retried with the engine's backoff. The connector never retries by
// itself. Requests go through the connector kit's client (package
// connkit), which classifies responses as every connector built on it
// does, and logs one Debug line per request to Config.Logger, credentials
// redacted.
package hris
