package hris

import (
	"fmt"
	"slices"
	"strings"
)

// field is an Identity field a CSV column can be mapped to.
type field int

const (
	fEmployeeID field = iota
	fEmployeeNumber
	fEmail
	fFirstName
	fLastName
	fName
	fManager
	fDepartment
	fTitle
	fStartDate
	fEndDate
	fStatus
	fLocation
	numFields
)

// fieldNames are the fields' names in the "column.<field>" settings.
var fieldNames = [numFields]string{
	"employee_id", "employee_number", "email", "first_name", "last_name", "name",
	"manager", "department", "title", "start_date", "end_date", "status", "location",
}

func (f field) String() string { return fieldNames[f] }

// Presets accepted by the "preset" setting.
const (
	// PresetGeneric matches common header names (employee_id, email,
	// first_name, hire_date, termination_date, status, ...); it is the
	// default.
	PresetGeneric = "generic"
	// PresetBambooHR matches a BambooHR custom report exported as CSV,
	// whose columns are BambooHR's employee fields, by API name
	// ("hireDate") or by label ("Hire Date").
	PresetBambooHR = "bamboohr"
	// PresetWorkday matches a Workday custom report (Report-as-a-Service)
	// exported as CSV, whose columns are the report fields' XML aliases
	// ("Employee_ID", "Hire_Date") or labels.
	PresetWorkday = "workday"
)

// preset is a named set of candidate header names per field: the first
// candidate present in the header is the field's column. Candidates are
// compared with normName, so "Hire Date", "hire_date" and "hireDate" are
// one name.
type preset struct {
	columns [numFields][]string
	// layouts are date layouts tried after the setting's and before the
	// defaults.
	layouts []string
}

// presets are the built-in presets, by name.
var presets = map[string]*preset{
	PresetGeneric: {columns: [numFields][]string{
		fEmployeeID:     {"employee_id", "id", "employee_number", "employee_no", "emp_id", "worker_id", "person_id"},
		fEmployeeNumber: {"employee_number", "employee_no"},
		fEmail:          {"email", "work_email", "email_address"},
		fFirstName:      {"first_name", "given_name"},
		fLastName:       {"last_name", "surname", "family_name"},
		fName:           {"name", "full_name", "display_name", "employee_name"},
		fManager:        {"manager_email", "manager_id", "manager", "supervisor_email", "supervisor", "reports_to"},
		fDepartment:     {"department", "dept"},
		fTitle:          {"title", "job_title", "position"},
		fStartDate:      {"start_date", "hire_date"},
		fEndDate:        {"end_date", "termination_date", "term_date"},
		fStatus:         {"employment_status", "status", "employee_status"},
		fLocation:       {"location", "office", "work_location"},
	}},

	// BambooHR's employee fields, as listed in "Field Names"
	// (https://documentation.bamboohr.com/docs/list-of-field-names): id
	// (the employee ID BambooHR assigns, never reused: the key),
	// employeeNumber (the number the company assigns, which may change),
	// workEmail, firstName, lastName, displayName, supervisorId (the
	// supervisor's employee ID), supervisorEId (the supervisor's employee
	// number), supervisorEmail, supervisor (the supervisor's name),
	// department, jobTitle, hireDate, terminationDate, status
	// ("Active"/"Inactive", whether the employee is active),
	// employmentHistoryStatus ("Full-Time", "Part-Time", "Terminated",
	// ..., the current employment status) and location. A custom report
	// exported from the web app labels its columns ("Employee #", "Hire
	// Date", "Reporting to"): those labels are accepted too. BambooHR
	// writes an unset date as 0000-00-00.
	PresetBambooHR: {columns: [numFields][]string{
		fEmployeeID:     {"id", "employee_id", "employeeNumber"},
		fEmployeeNumber: {"employeeNumber"},
		fEmail:          {"workEmail", "bestEmail", "email"},
		fFirstName:      {"firstName", "preferredName"},
		fLastName:       {"lastName"},
		fName:           {"displayName", "fullName1", "name"},
		fManager:        {"supervisorId", "supervisorEId", "supervisorEmail", "supervisor", "Reporting to"},
		fDepartment:     {"department"},
		fTitle:          {"jobTitle"},
		fStartDate:      {"hireDate"},
		fEndDate:        {"terminationDate"},
		fStatus:         {"status", "employmentHistoryStatus", "Employment Status"},
		fLocation:       {"location"},
	}},

	// Workday has no fixed export columns: a custom report's author names
	// each field, and Report-as-a-Service (…/ccx/service/customreport2/
	// <tenant>/<owner>/<report>?format=csv) writes the fields' XML aliases
	// as the header. The candidates are the aliases Workday derives from
	// the standard Worker fields (Employee_ID, Worker, Legal_First_Name,
	// Email_-_Primary_Work, Business_Title, Supervisory_Organization,
	// Hire_Date, Termination_Date, Manager, Location) and the ones
	// integrations document for worker reports, for example Faros AI's
	// Workday source (Employee_ID, Full_Name, Manager_ID, Start_Date,
	// Termination_Date, Email, Location;
	// https://github.com/faros-ai/airbyte-connectors/tree/main/sources/workday-source)
	// and SailPoint's Workday connector (Worker_ID, Business_Title;
	// https://documentation.sailpoint.com/connectors/workday/help/integrating_workday/account_attributes.html).
	// Workday writes dates as xs:date, which may carry the tenant's
	// offset (2024-01-15-08:00).
	PresetWorkday: {
		columns: [numFields][]string{
			fEmployeeID:     {"Employee_ID", "Worker_ID"},
			fEmployeeNumber: nil,
			fEmail:          {"Email_-_Primary_Work", "Primary_Work_Email", "Work_Email", "Email_Address", "Email"},
			fFirstName:      {"First_Name", "Legal_First_Name", "Preferred_First_Name"},
			fLastName:       {"Last_Name", "Legal_Last_Name", "Preferred_Last_Name"},
			fName:           {"Full_Name", "Worker", "Preferred_Name", "Legal_Name"},
			fManager:        {"Manager_ID", "Manager_Employee_ID", "Manager_Email", "Manager", "Manager_Name"},
			fDepartment:     {"Department", "Supervisory_Organization", "Cost_Center", "Team_Name"},
			fTitle:          {"Business_Title", "Job_Title", "Job_Profile"},
			fStartDate:      {"Hire_Date", "Start_Date", "Original_Hire_Date"},
			fEndDate:        {"Termination_Date", "End_Date"},
			fStatus:         {"Worker_Status", "Employee_Status", "Status", "Active_Status", "Active"},
			fLocation:       {"Location", "Work_Location"},
		},
		layouts: []string{"2006-01-02-07:00", "2006-01-02Z07:00"},
	},
}

// presetNames lists the presets for error messages.
func presetNames() string {
	names := make([]string, 0, len(presets))
	for n := range presets {
		names = append(names, n)
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

// mapping is what the settings ask of the header: per field, either one
// column the header must have (a "column.<field>" setting) or the
// preset's candidates.
type mapping struct {
	preset   string
	explicit [numFields]string
	cands    [numFields][]string
	layouts  []string
}

// columns are the header's columns resolved for one export.
type columns struct {
	// idx is the column index of each field, -1 if unmapped.
	idx [numFields]int
	// names are the header's names (trimmed); attr are the attribute names
	// of unmapped columns ("" for a column without a name).
	names []string
	attr  []string
}

// resolve matches the header against the mapping. A column set by a
// setting that the header lacks, a header without an employee ID column, or
// a mapped column whose name appears twice is an error naming the column
// and quoting the header. what names the header in messages: "header" for
// a CSV header row, "fields" for the field names of JSON entries.
func (m *mapping) resolve(header []string, what string) (*columns, error) {
	unit := "columns"
	if what != "header" {
		unit = what
	}
	c := &columns{names: make([]string, len(header)), attr: make([]string, len(header))}
	byNorm := map[string][]int{}
	for i, h := range header {
		c.names[i] = strings.TrimSpace(h)
		if n := normName(h); n != "" {
			byNorm[n] = append(byNorm[n], i)
		}
	}
	quoted := func() string {
		q := make([]string, len(c.names))
		for i, n := range c.names {
			q[i] = fmt.Sprintf("%q", n)
		}
		s := strings.Join(q, ", ")
		if len(s) > 600 {
			s = s[:600] + "…"
		}
		return "[" + s + "]"
	}
	mapped := map[int]field{}
	for f := range numFields {
		c.idx[f] = -1
		var found []int
		var name string
		if want := m.explicit[f]; want != "" {
			name = want
			found = byNorm[normName(want)]
			if len(found) == 0 {
				return nil, fmt.Errorf("column %q (setting %q) is not in the %s; the %s is %s",
					want, "column."+f.String(), what, what, quoted())
			}
		} else {
			for _, cand := range m.cands[f] {
				found = byNorm[normName(cand)]
				if _, taken := mapped[firstOr(found)]; len(found) > 0 && !taken {
					name = cand
					break // a column an earlier field took is not a candidate
				}
				found = nil
			}
		}
		if len(found) == 0 {
			if f == fEmployeeID {
				return nil, fmt.Errorf("no employee ID column in the %s (preset %s looks for %s; set %q to name it); the %s is %s",
					what, m.preset, strings.Join(m.cands[f], ", "), "column.employee_id", what, quoted())
			}
			continue
		}
		if len(found) > 1 {
			return nil, fmt.Errorf("column %q (%s) appears %d times in the %s, as %s %d and %d; the %s is %s",
				name, f, len(found), what, unit, found[0]+1, found[1]+1, what, quoted())
		}
		if g, taken := mapped[found[0]]; taken {
			return nil, fmt.Errorf("column %q is mapped to both %s and %s; the %s is %s", c.names[found[0]], g, f, what, quoted())
		}
		mapped[found[0]] = f
		c.idx[f] = found[0]
	}
	seen := map[string]int{}
	for i, n := range c.names {
		if _, ok := mapped[i]; ok || n == "" {
			continue
		}
		seen[n]++
		c.attr[i] = n
		if k := seen[n]; k > 1 {
			c.attr[i] = fmt.Sprintf("%s (%d)", n, k) // a column name repeated: keep each value
		}
	}
	return c, nil
}

func firstOr(s []int) int {
	if len(s) == 0 {
		return -1
	}
	return s[0]
}

// normName lowers s and drops everything but letters and digits, so that
// "Employee ID", "employee_id" and "employeeId" compare equal; "#" reads
// as "number" ("Employee #" is "employeeNumber").
func normName(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9'):
			b.WriteRune(r)
		case r == '#':
			b.WriteString("number")
		}
	}
	return b.String()
}
