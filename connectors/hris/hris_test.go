package hris_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/openresync/resync"
	"github.com/openresync/resync/connectors/hris"
	"github.com/openresync/resync/resynctest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// today is the clock's date in every test: 2026-06-15.
var today = time.Date(2026, 6, 15, 13, 0, 0, 0, time.UTC)

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "export.csv")
	require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
	return p
}

// conn builds a connector over content with settings given as pairs.
func conn(t *testing.T, content string, kv ...string) resync.Connector {
	t.Helper()
	c, err := newConn(t, content, hris.Config{Clock: resynctest.NewClock(today)}, kv...)
	require.NoError(t, err)
	return c
}

func newConn(t *testing.T, content string, cfg hris.Config, kv ...string) (resync.Connector, error) {
	t.Helper()
	s := map[string]string{"path": writeFile(t, content)}
	for i := 0; i+1 < len(kv); i += 2 {
		s[kv[i]] = kv[i+1]
	}
	return hris.New(resync.Connection{ID: "hr", Tenant: "t", Provider: "bamboohr", Settings: s}, cfg)
}

// readAll follows the cursors to the end.
func readAll(t *testing.T, c resync.Connector) (map[string]*resync.Identity, []*resync.RecordError) {
	t.Helper()
	ids := map[string]*resync.Identity{}
	var bad []*resync.RecordError
	cursor := ""
	for range 10000 {
		p, err := c.ReadPage(t.Context(), cursor)
		require.NoError(t, err)
		for _, r := range p.Records {
			require.NoError(t, resync.ValidateRecord(r, resync.Limits{}))
			id := r.(*resync.Identity)
			require.NotContains(t, ids, id.Key, "key read twice")
			ids[id.Key] = id
		}
		for _, e := range p.Rejected {
			var re *resync.RecordError
			require.True(t, errors.As(e, &re), "rejection %v is a *resync.RecordError", e)
			assert.Equal(t, resync.KindIdentity, re.Kind)
			bad = append(bad, re)
		}
		if p.Next == "" {
			return ids, bad
		}
		cursor = p.Next
	}
	t.Fatal("read did not end")
	return nil, nil
}

func day(s string) time.Time {
	t, err := time.Parse("2006-01-02", s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestStatusFromDates(t *testing.T) {
	t.Parallel()
	csv := "employee_id,email,name,start_date,end_date\n" +
		"E1,a@x.example,Ada,2020-01-01,\n" +
		"E2,b@x.example,Bob,2026-07-01,\n" + // future hire
		"E3,c@x.example,Cy,2020-01-01,2026-06-14\n" + // ended yesterday
		"E4,d@x.example,Di,2020-01-01,2026-06-15\n" + // last day is today
		"E5,e@x.example,Ed,2026-06-15,\n" + // starts today
		"E6,f@x.example,Fi,2024-01-01,2023-05-31\n" + // rehire: the end is an earlier employment's
		"E7,g@x.example,Gu,2026-06-16,2026-12-31\n" // fixed-term, starts tomorrow
	ids, bad := readAll(t, conn(t, csv))
	require.Empty(t, bad)
	want := map[string]resync.LifecycleStatus{
		"E1": resync.StatusActive, "E2": resync.StatusNotStarted, "E3": resync.StatusDeprovisioned,
		"E4": resync.StatusActive, "E5": resync.StatusActive, "E6": resync.StatusActive, "E7": resync.StatusNotStarted,
	}
	for k, st := range want {
		assert.Equal(t, st, ids[k].Status, k)
	}
	assert.Equal(t, day("2026-07-01"), ids["E2"].StartDate)
	assert.Equal(t, day("2026-06-14"), ids["E3"].EndDate)
	assert.True(t, ids["E6"].EndDate.IsZero(), "an end before the start is not this employment's")
	assert.Equal(t, "2023-05-31", ids["E6"].Attributes["end_date"], "and is kept as written")
}

// The clock decides "today": the same export read later gives the hire
// active and the leaver deprovisioned.
func TestStatusFollowsClock(t *testing.T) {
	t.Parallel()
	csv := "employee_id,start_date,end_date\nE1,2026-07-01,\nE2,2020-01-01,2026-07-01\n"
	clock := resynctest.NewClock(today)
	c, err := newConn(t, csv, hris.Config{Clock: clock})
	require.NoError(t, err)
	ids, _ := readAll(t, c)
	assert.Equal(t, resync.StatusNotStarted, ids["E1"].Status)
	assert.Equal(t, resync.StatusActive, ids["E2"].Status)
	clock.Advance(17 * 24 * time.Hour) // 2026-07-02
	ids, _ = readAll(t, c)
	assert.Equal(t, resync.StatusActive, ids["E1"].Status)
	assert.Equal(t, resync.StatusDeprovisioned, ids["E2"].Status)
}

func TestStatusPrecedence(t *testing.T) {
	t.Parallel()
	csv := "employee_id,status,hire_date,termination_date\n" +
		"A,Active,2026-07-01,\n" + // Active and a future hire: not started (dates win over Active)
		"B,Terminated,2020-01-01,2026-08-31\n" + // Terminated wins over a future end date
		"C,Active,2020-01-01,2026-01-31\n" + // a past end date wins over a lagging Active
		"D,Leave,2020-01-01,\n" + // leave: suspended
		"E,On Leave,2020-01-01,2026-01-31\n" + // a past end date wins over leave
		"F,Pre-hire,2020-01-01,\n" + // explicit pre-hire wins over a past start
		"G,Full-Time,2020-01-01,\n" + // BambooHR's employment status words are active
		"H,Inactive,,\n" +
		"I,,2020-01-01,\n" + // no status: dates only
		"J,Yes,2020-01-01,\n" + // Workday's Active flag
		"K,0,2020-01-01,\n"
	ids, bad := readAll(t, conn(t, csv))
	require.Empty(t, bad)
	want := map[string]resync.LifecycleStatus{
		"A": resync.StatusNotStarted, "B": resync.StatusDeprovisioned, "C": resync.StatusDeprovisioned,
		"D": resync.StatusSuspended, "E": resync.StatusDeprovisioned, "F": resync.StatusNotStarted,
		"G": resync.StatusActive, "H": resync.StatusDeprovisioned, "I": resync.StatusActive,
		"J": resync.StatusActive, "K": resync.StatusDeprovisioned,
	}
	for k, st := range want {
		assert.Equal(t, st, ids[k].Status, k)
	}
	assert.Equal(t, "On Leave", ids["E"].Attributes["status"], "the vendor's own word is kept")
	assert.NotContains(t, ids["I"].Attributes, "status")
}

func TestManagerResolution(t *testing.T) {
	t.Parallel()
	csv := "employee_id,employee_number,email,first_name,last_name,manager\n" +
		"100,E-1,Boss@X.example,Grace,Hopper,\n" +
		"101,E-2,a@x.example,Ada,Lovelace,100\n" + // by key
		"102,E-3,b@x.example,Bob,Byte,E-1\n" + // by employee number
		"103,E-4,c@x.example,Cy,Cole,boss@x.example\n" + // by email, any case
		"104,E-5,d@x.example,Di,Dee,\"Hopper, Grace\"\n" + // by name, last-first
		"105,E-6,j1@x.example,Jane,Doe,\n" +
		"106,E-7,j2@x.example,Jane,Doe,\n" +
		"107,E-8,e@x.example,Ed,Eve,Jane Doe\n" + // ambiguous
		"108,E-9,f@x.example,Fi,Fox,jane doe\n" + // ambiguous, reported with the other
		"109,E-10,g@x.example,Gu,Gil,ext@partner.example\n" + // an email of no one here stays
		"110,E-11,h@x.example,Hu,Ho,Nobody Known\n" // no one: kept in Attributes
	var logs bytes.Buffer
	c, err := newConn(t, csv, hris.Config{Clock: resynctest.NewClock(today),
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	require.NoError(t, err)
	ids, bad := readAll(t, c)
	require.Empty(t, bad)
	assert.Equal(t, "boss@x.example", ids["100"].Email, "email lower-cased")
	assert.Equal(t, "E-1", ids["100"].EmployeeID)
	for _, k := range []string{"101", "102", "103", "104"} {
		assert.Equal(t, "100", ids[k].Manager, k)
		assert.NotContains(t, ids[k].Attributes, "manager", k)
	}
	for k, raw := range map[string]string{"107": "Jane Doe", "108": "jane doe", "110": "Nobody Known"} {
		assert.Empty(t, ids[k].Manager, k)
		assert.Equal(t, raw, ids[k].Attributes["manager"], k)
	}
	assert.Equal(t, "ext@partner.example", ids["109"].Manager)

	// One report for the read, not one per row.
	out := logs.String()
	assert.Equal(t, 1, strings.Count(out, "manager values not resolved"), out)
	assert.Contains(t, out, `\"Jane Doe\" (1 rows)`)
	assert.Contains(t, out, `\"Nobody Known\" (1 rows)`)
}

func TestCSVRobustness(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, csv string
	}{
		{"BOM", "\ufeffemployee_id,name,notes\nE1,Ada,x\nE2,Bob,\n"},
		{"CRLF", "employee_id,name,notes\r\nE1,Ada,x\r\nE2,Bob,\r\n"},
		{"quoted newline", "employee_id,name,notes\r\nE1,Ada,\"x\"\r\nE2,\"Bob\",\"line one\r\nline \"\"two\"\", too\"\r\n"},
		{"trailing empty columns", "employee_id,name,notes,,\nE1,Ada,x,,\nE2,Bob,,,,,\n,,,\n"},
		{"short rows", "employee_id,name,notes,department\nE1,Ada,x\nE2,Bob\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ids, bad := readAll(t, conn(t, tc.csv))
			require.Empty(t, bad)
			require.Len(t, ids, 2)
			assert.Equal(t, "Ada", ids["E1"].Name)
			assert.Equal(t, "Bob", ids["E2"].Name)
			assert.Equal(t, map[string]string{"notes": "x"}, ids["E1"].Attributes)
			if tc.name == "quoted newline" {
				assert.Equal(t, "line one\nline \"two\", too", ids["E2"].Attributes["notes"])
			}
		})
	}
}

func TestRejectedRows(t *testing.T) {
	t.Parallel()
	csv := "employee_id,name,start_date,status\n" + // line 1
		"E1,Ada,2020-01-01,active\n" + // 2
		"E2,Bob,2020-13-45,active\n" + // 3: bad date
		"E3,Cy,2020-01-01,retired\n" + // 4: unknown status
		",Nobody,2020-01-01,active\n" + // 5: no ID
		"E4,Di,2020-01-01,active,surplus\n" + // 6: too many fields
		"E5,E\"d,2020-01-01,active\n" + // 7: bare quote in one line
		"E6,\"Fi\nFo\",bad,active\n" // 8-9: bad date in a row spanning lines
	ids, bad := readAll(t, conn(t, csv, "page_size", "3"))
	require.Len(t, ids, 1)
	require.Len(t, bad, 6)
	byKey := map[string]string{}
	for _, b := range bad {
		byKey[b.Key] = b.Reason
	}
	assert.Contains(t, byKey["E2"], "line 3, column 8 (start_date)")
	assert.Contains(t, byKey["E2"], `"2020-13-45" is not a date`)
	assert.Contains(t, byKey["E3"], "line 4, column 18 (status)")
	assert.Contains(t, byKey["E3"], `"retired"`)
	assert.Contains(t, byKey[""], "line 5, column 1 (employee_id): empty employee ID")
	assert.Contains(t, byKey["E4"], "line 6, column 25: 5 fields, the header has 4")
	assert.Contains(t, byKey["E5"], "line 7, column 5")
	assert.Contains(t, byKey["E5"], `bare "`)
	assert.Contains(t, byKey["E6"], "line 9, column 5 (start_date)")

	// The key column last, and a row too short to have it.
	ids, bad = readAll(t, conn(t, "name,employee_id\nAda,E1\nBob\n"))
	require.Len(t, ids, 1)
	require.Len(t, bad, 1)
	assert.Contains(t, bad[0].Reason, "line 3 (employee_id, missing from the row): empty employee ID")
}

func TestDuplicateEmployeeID(t *testing.T) {
	t.Parallel()
	csv := "employee_id,name\nE1,Ada\nE2,Bob\nE1,Ada Lovelace\nE3,Cy\nE1,A. L.\n"
	ids, bad := readAll(t, conn(t, csv, "page_size", "2"))
	assert.Len(t, ids, 2, "E1 is not merged from rows that disagree")
	assert.NotContains(t, ids, "E1")
	require.Len(t, bad, 3, "every row of E1 is reported")
	for _, b := range bad {
		assert.Equal(t, "E1", b.Key, "named, so the stored E1 is kept")
	}
	assert.Contains(t, bad[0].Reason, `line 2: employee ID "E1" is also on line 4, 6`)
	assert.Contains(t, bad[2].Reason, "line 6")

	// A copy whose row is rejected for another reason still makes E9 a
	// duplicate: the good copy is not used either.
	ids, bad = readAll(t, conn(t, "employee_id,start_date\nE9,2020-01-01\nE9,someday\n"))
	assert.Empty(t, ids)
	require.Len(t, bad, 2)
	assert.Contains(t, bad[0].Reason, `employee ID "E9" is also on line 3`)
	assert.Contains(t, bad[1].Reason, `"someday" is not a date`)

	// An ID on many rows (a mis-mapped column) names a few lines, not all.
	_, bad = readAll(t, conn(t, "employee_id,name\n"+strings.Repeat("Full-Time,x\n", 5000)))
	require.Len(t, bad, 5000)
	assert.Contains(t, bad[0].Reason, "also on line 3, 4, 5, 6, 7 and 4994 more")
}

func TestWholeExportErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, csv string
		kv        []string
		want      []string
	}{
		{"mapped column missing", "id,Work Email,Hire Date\n1,a@x.example,2020-01-01\n",
			[]string{"column.start_date", "Start"},
			[]string{`column "Start" (setting "column.start_date") is not in the header`, `["id", "Work Email", "Hire Date"]`}},
		{"no employee ID", "email,name\na@x.example,Ada\n", nil,
			[]string{"no employee ID column", `["email", "name"]`, "column.employee_id"}},
		{"preset's key missing", "Employee #,First Name\n7,Ada\n", []string{"preset", "workday"},
			[]string{"preset workday looks for Employee_ID, Worker_ID", `["Employee #", "First Name"]`}},
		{"mapped column twice", "employee_id,email,E-mail\n1,a,b\n", nil,
			[]string{`column "email" (email) appears 2 times`}},
		{"empty", "", nil, []string{"empty, want a CSV header row"}},
		{"quote never closed", "employee_id,name\nE1,\"Ada\nE2,Bob\nE3,Cy\n", nil,
			[]string{"lines 2 to 4", "a quote opened on line 2"}},
		{"over max_bytes", "employee_id\nE1\nE2\n", []string{"max_bytes", "10"}, []string{"larger than 10 bytes"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := conn(t, tc.csv, tc.kv...)
			_, err := c.ReadPage(t.Context(), "")
			require.Error(t, err)
			assert.True(t, resync.IsPermanent(err), "%v is permanent", err)
			assert.ErrorIs(t, err, hris.ErrMalformed)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
			assert.ErrorIs(t, c.(resync.HealthChecker).CheckHealth(t.Context()), hris.ErrMalformed)
		})
	}
}

func TestBadSettings(t *testing.T) {
	t.Parallel()
	tests := []struct {
		kv   []string
		want string
	}{
		{[]string{"preset", "sap"}, `"preset" is "sap", want one of bamboohr, generic, workday`},
		{[]string{"colum.email", "Email"}, `unknown setting "colum.email"`},
		{[]string{"column.mail", "Email"}, `unknown setting "column.mail"`},
		{[]string{"page_size", "0"}, `"page_size" is "0"`},
		{[]string{"format", "idp-json"}, `want "csv" (or "hris-csv") or "json"`},
		{[]string{"token", "s3cret"}, `credentials are for "url" only`},
	}
	for _, tc := range tests {
		_, err := newConn(t, "employee_id\n", hris.Config{}, tc.kv...)
		require.Error(t, err, tc.kv)
		assert.ErrorIs(t, err, resync.ErrInvalidRequest)
		assert.True(t, resync.IsPermanent(err))
		assert.Contains(t, err.Error(), tc.want)
		assert.NotContains(t, err.Error(), "s3cret")
	}
	_, err := hris.New(resync.Connection{ID: "x", Settings: map[string]string{}}, hris.Config{})
	assert.ErrorContains(t, err, `set "path" (a file) or "url"`)
	_, err = hris.New(resync.Connection{ID: "x", Settings: map[string]string{"url": "http://hr.example/x.csv"}}, hris.Config{})
	assert.ErrorContains(t, err, `not an https URL`)
	_, err = hris.New(resync.Connection{ID: "x", Settings: map[string]string{"url": "https://u:pw@hr.example/x.csv"}}, hris.Config{})
	assert.ErrorContains(t, err, `holds credentials`)
	assert.NotContains(t, err.Error(), "pw")
}

func TestMissingFile(t *testing.T) {
	t.Parallel()
	c, err := hris.New(resync.Connection{ID: "x", Settings: map[string]string{"path": filepath.Join(t.TempDir(), "nope.csv")}}, hris.Config{})
	require.NoError(t, err)
	_, err = c.ReadPage(t.Context(), "")
	assert.ErrorIs(t, err, os.ErrNotExist)
	assert.True(t, resync.IsPermanent(err))
}

func TestDateLayouts(t *testing.T) {
	t.Parallel()
	ids, bad := readAll(t, conn(t, "employee_id,start_date,end_date\nE1,07/01/2026,\nE2,2020-01-01T09:00:00Z,06/14/2026\n",
		"date_layout", "01/02/2006"))
	require.Empty(t, bad)
	assert.Equal(t, day("2026-07-01"), ids["E1"].StartDate)
	assert.Equal(t, resync.StatusNotStarted, ids["E1"].Status)
	assert.Equal(t, day("2020-01-01"), ids["E2"].StartDate, "ISO stays accepted")
	assert.Equal(t, resync.StatusDeprovisioned, ids["E2"].Status)

	// Month-first dates are never guessed without the setting.
	_, bad = readAll(t, conn(t, "employee_id,start_date\nE1,07/01/2026\n"))
	require.Len(t, bad, 1)
	assert.Contains(t, bad[0].Reason, `set "date_layout"`)
}

func TestCanceled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := conn(t, "employee_id\nE1\n").ReadPage(ctx, "")
	assert.ErrorIs(t, err, context.Canceled)
}

// A BambooHR report exported from the web app labels its columns; the
// preset reads them (labels from BambooHR's "Field Names" page,
// https://documentation.bamboohr.com/docs/list-of-field-names). Without
// the internal id, "Employee #" is the key, and "Reporting to" holds the
// supervisor's name.
func TestBambooHRLabels(t *testing.T) {
	t.Parallel()
	csv := "Employee #,First Name,Last Name,Work Email,Department,Job Title,Hire Date,Termination Date,Employment Status,Reporting to,Location\n" +
		"1001,Ada,Lovelace,ada@acme.example,Engineering,CTO,2019-03-01,,Full-Time,,London\n" +
		"1002,Grace,Hopper,grace@acme.example,Engineering,Engineer,2026-07-01,,Full-Time,\"Lovelace, Ada\",Remote\n" +
		"1003,Jane,Doe,jane@acme.example,Sales,AE,2020-01-06,2026-05-29,Terminated,Ada Lovelace,\n"
	ids, bad := readAll(t, conn(t, csv, "preset", "bamboohr"))
	require.Empty(t, bad)
	require.Len(t, ids, 3)
	g := ids["1002"]
	assert.Equal(t, "1002", g.EmployeeID)
	assert.Equal(t, "Grace Hopper", g.Name)
	assert.Equal(t, "Engineering", g.Department)
	assert.Equal(t, "Engineer", g.Title)
	assert.Equal(t, "1001", g.Manager)
	assert.Equal(t, resync.StatusNotStarted, g.Status)
	assert.Equal(t, map[string]string{"Employment Status": "Full-Time", "location": "Remote"}, g.Attributes)
	assert.Equal(t, resync.StatusDeprovisioned, ids["1003"].Status)
	assert.Equal(t, "1001", ids["1003"].Manager)
}

// A connection of connectors/file's hris-csv format reads unchanged.
func TestFileConnectorSettings(t *testing.T) {
	t.Parallel()
	csv := "employee_id,email,first_name,last_name,employment_status,start_date,manager_email\n" +
		"E1,a@acme.example,Ada,L,active,2020-01-01,\n" +
		"E2,b@acme.example,Bob,M,leave,2020-02-01,a@acme.example\n" +
		"E3,c@acme.example,Cy,N,terminated,2020-03-01,a@acme.example\n"
	ids, bad := readAll(t, conn(t, csv, "format", "hris-csv", "page_size", "2"))
	require.Empty(t, bad)
	require.Len(t, ids, 3)
	assert.Equal(t, resync.StatusSuspended, ids["E2"].Status)
	assert.Equal(t, resync.StatusDeprovisioned, ids["E3"].Status)
	assert.Equal(t, "E1", ids["E2"].Manager)
	assert.Equal(t, "Bob M", ids["E2"].Name)
}
