package hris_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openresync/resync"
	"github.com/openresync/resync/connectors/hris"
	"github.com/openresync/resync/memstore"
	"github.com/openresync/resync/resynctest"
)

// fileConn builds a connector over content written to a file of the given
// name, with settings given as pairs.
func fileConn(t *testing.T, name, content string, kv ...string) resync.Connector {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
	s := map[string]string{"path": p}
	for i := 0; i+1 < len(kv); i += 2 {
		s[kv[i]] = kv[i+1]
	}
	c, err := hris.New(resync.Connection{ID: "hr", Settings: s}, hris.Config{Clock: resynctest.NewClock(today)})
	require.NoError(t, err)
	return c
}

// bambooDirectory is a BambooHR JSON export in the shape of its employee
// directory (GET /v1/employees/directory) and custom reports (POST
// /v1/reports/custom?format=JSON): a "fields" list, then "employees" whose
// ids are numbers and whose unset fields are null
// (https://documentation.bamboohr.com/reference/get-employees-directory-1,
// https://documentation.bamboohr.com/reference/request-custom-report-1).
const bambooDirectory = "\ufeff \n{\n" +
	`"title": "Identity sync",
	"fields": [
		{"id": "id", "type": "int", "name": "Employee ID"},
		{"id": "employeeNumber", "type": "text", "name": "Employee #"},
		{"id": "workEmail", "type": "email", "name": "Work Email"},
		{"id": "hireDate", "type": "date", "name": "Hire Date"}
	],
	"employees": [
		{"id": 123, "employeeNumber": "E-1", "firstName": "John", "lastName": "Doe", "displayName": "John Doe",
		 "workEmail": "John.Doe@Acme.example", "department": "Sales", "jobTitle": "Account Executive",
		 "hireDate": "2019-04-01", "terminationDate": "0000-00-00", "status": "Active",
		 "supervisorId": null, "location": "Lindon, Utah", "photoUploaded": false, "workPhoneExtension": null},
		{"id": 124, "employeeNumber": "E-2", "firstName": "Jane", "lastName": "Roe", "workEmail": "jroe@acme.example",
		 "hireDate": "2026-07-01", "terminationDate": null, "status": "Active", "supervisorId": 123, "photoUploaded": true},
		{"id": 125, "employeeNumber": "E-3", "firstName": "Jim", "lastName": "Poe", "workEmail": "jpoe@acme.example",
		 "hireDate": "2018-01-01", "terminationDate": "2026-05-31", "status": "Inactive", "supervisorId": "123"},
		{"id": "126", "employeeNumber": "E-4", "firstName": "Al", "lastName": "Bee", "workEmail": "al\u0040acme.example",
		 "hireDate": "2020-02-02", "status": "Active", "supervisorId": 124, "customField4047": ["a", "b"]},
		{}
	]
}` + "\n"

// workdayRaaS is a Workday custom report in Report-as-a-Service's JSON
// (…/customreport2/<tenant>/<owner>/<report>?format=json): the entries
// under "Report_Entry", each field under its XML alias, empty fields left
// out, dates as xs:date with the tenant's offset.
const workdayRaaS = `{"Report_Entry":[
{"Employee_ID":"21001","Worker":"Logan McNeil","Email_-_Primary_Work":"LMcNeil@workday.example","Business_Title":"Chief Human Resources Officer","Supervisory_Organization":"Human Resources","Hire_Date":"2000-01-01-08:00","Active":"1"},
{"Employee_ID":"21002","Worker":"Oliver Reynolds","Email_-_Primary_Work":"oreynolds@workday.example","Manager_ID":"21001","Hire_Date":"2015-05-01-07:00","Active":"1"},
{"Employee_ID":"21003","Worker":"Teresa Serrano","Manager_ID":"21001","Hire_Date":"2026-07-06-07:00","Active":"1"},
{"Employee_ID":"21004","Worker":"Jim Kiefer","Manager_ID":"Oliver Reynolds","Hire_Date":"2018-02-01-08:00","Termination_Date":"2026-03-31-07:00","Active":"0"}
]}`

func TestJSONShapes(t *testing.T) {
	t.Parallel()
	t.Run("bamboohr employees", func(t *testing.T) {
		t.Parallel()
		ids, bad := readAll(t, fileConn(t, "directory.json", bambooDirectory, "preset", "bamboohr"))
		require.Empty(t, bad)
		require.Len(t, ids, 4, "the empty entry is skipped")
		j := ids["123"]
		require.NotNil(t, j, "a numeric id is the key as written")
		assert.Equal(t, "E-1", j.EmployeeID)
		assert.Equal(t, "john.doe@acme.example", j.Email)
		assert.Equal(t, "John Doe", j.Name)
		assert.Equal(t, "Sales", j.Department)
		assert.Equal(t, "Account Executive", j.Title)
		assert.Equal(t, day("2019-04-01"), j.StartDate)
		assert.True(t, j.EndDate.IsZero(), "0000-00-00 is no date")
		assert.Equal(t, resync.StatusActive, j.Status)
		assert.Equal(t, "Lindon, Utah", j.Attributes["location"])
		assert.Equal(t, "false", j.Attributes["photoUploaded"], "a boolean is kept as its word")
		assert.NotContains(t, j.Attributes, "workPhoneExtension", "null is no value")
		assert.Equal(t, "Active", j.Attributes["status"])

		assert.Equal(t, resync.StatusNotStarted, ids["124"].Status, "hired, starting after today")
		assert.Equal(t, "123", ids["124"].Manager, "supervisorId as a number")
		assert.Equal(t, resync.StatusDeprovisioned, ids["125"].Status)
		assert.Equal(t, day("2026-05-31"), ids["125"].EndDate)
		assert.Equal(t, "123", ids["125"].Manager, "supervisorId as a string")
		assert.Equal(t, "al@acme.example", ids["126"].Email, "escapes decoded")
		assert.Equal(t, "124", ids["126"].Manager)
		assert.Equal(t, `["a","b"]`, ids["126"].Attributes["customField4047"], "an unmapped list kept as JSON")
	})
	t.Run("workday Report_Entry", func(t *testing.T) {
		t.Parallel()
		ids, bad := readAll(t, fileConn(t, "Workers", workdayRaaS, "preset", "workday"))
		require.Empty(t, bad)
		require.Len(t, ids, 4)
		assert.Equal(t, "Logan McNeil", ids["21001"].Name)
		assert.Equal(t, "lmcneil@workday.example", ids["21001"].Email)
		assert.Equal(t, day("2000-01-01"), ids["21001"].StartDate, "the date as written, offset aside")
		assert.Equal(t, resync.StatusActive, ids["21002"].Status)
		assert.Equal(t, "21001", ids["21002"].Manager)
		assert.Empty(t, ids["21002"].Department, "a field the entry leaves out is empty")
		assert.Equal(t, resync.StatusNotStarted, ids["21003"].Status)
		assert.Equal(t, resync.StatusDeprovisioned, ids["21004"].Status)
		assert.Equal(t, "21002", ids["21004"].Manager, "a manager by name")
	})
	t.Run("array", func(t *testing.T) {
		t.Parallel()
		ids, bad := readAll(t, fileConn(t, "people.txt", "\r\n\t[{\"employee_id\":\"E1\",\"email\":\"a@x.example\",\"start_date\":\"2020-01-01\",\"status\":\"leave\"}]"))
		require.Empty(t, bad)
		require.Len(t, ids, 1)
		assert.Equal(t, resync.StatusSuspended, ids["E1"].Status)
	})
	t.Run("empty array", func(t *testing.T) {
		t.Parallel()
		ids, bad := readAll(t, fileConn(t, "x.json", `{"Report_Entry":[]}`))
		assert.Empty(t, ids)
		assert.Empty(t, bad)
	})
}

// The same export as CSV and as JSON gives the same records and the same
// rejections: one mapping, one set of status, date and manager rules.
func TestJSONSameAsCSV(t *testing.T) {
	t.Parallel()
	header := []string{"employee_id", "employee_number", "email", "first_name", "last_name", "manager", "department", "start_date", "end_date", "status", "office"}
	rows := [][]string{
		{"100", "E-1", "Boss@X.example", "Grace", "Hopper", "", "Eng", "2020-01-01", "", "Active"},
		{"101", "E-2", "a@x.example", "Ada", "Lovelace", "100", "Eng", "2026-07-01", "", "Active", "HQ"},
		{"102", "E-3", "b@x.example", "Bob", "Byte", "E-1", "", "2020-01-01", "2026-06-14", "active"},
		{"103", "E-4", "c@x.example", "Cy", "Cole", "boss@x.example", "", "2024-01-01", "2023-05-31", "on leave"},
		{"104", "E-5", "d@x.example", "Di", "Dee", "Hopper, Grace", "", "2020-01-01", "", "terminated"},
		{"105", "E-6", "e@x.example", "Ed", "Eve", "Nobody", "", "someday", "", ""},
		{"106", "E-7", "f@x.example", "Fi", "Fox", "", "", "2020-01-01", "", "retired"},
		{"107", "E-8", "g@x.example", "Gu", "Gil", "", "", "", "", "pending"},
		{"107", "E-9", "h@x.example", "Hu", "Ho", "", "", "", "", ""},
		{"", "E-10", "i@x.example", "Io", "Ix", "", "", "", "", ""},
	}
	var csv, js strings.Builder
	csv.WriteString(strings.Join(header, ",") + "\n")
	js.WriteString("[")
	for i, r := range rows {
		q := make([]string, len(r))
		for j, v := range r {
			q[j] = `"` + v + `"`
		}
		csv.WriteString(strings.Join(q, ",") + "\n")
		if i > 0 {
			js.WriteString(",\n")
		}
		js.WriteString("{")
		for j, v := range r {
			if j > 0 {
				js.WriteString(",")
			}
			js.WriteString(`"` + header[j] + `":"` + v + `"`)
		}
		js.WriteString("}")
	}
	js.WriteString("]")
	fromCSV, badCSV := readAll(t, fileConn(t, "x.csv", csv.String()))
	fromJSON, badJSON := readAll(t, fileConn(t, "x.json", js.String()))
	require.Len(t, fromCSV, 5)
	assert.Equal(t, fromCSV, fromJSON)
	require.Len(t, badJSON, len(badCSV))
	for i := range badCSV {
		assert.Equal(t, badCSV[i].Key, badJSON[i].Key)
	}
	reasons := []string{}
	for _, b := range badJSON {
		reasons = append(reasons, b.Reason)
	}
	all := strings.Join(reasons, "\n")
	assert.Contains(t, all, `x.json entry 6 (field "start_date"): start_date "someday" is not a date`)
	assert.Contains(t, all, `x.json entry 7 (field "status"): status "retired" is not one of`)
	assert.Contains(t, all, `x.json entry 8: employee ID "107" is also in entry 9`)
	assert.Contains(t, all, `x.json entry 10 (field "employee_id"): empty employee ID`)
	assert.Equal(t, "HQ", fromJSON["101"].Attributes["location"])
}

// A malformed entry fails the whole read, naming the entry and the field.
func TestJSONMalformed(t *testing.T) {
	t.Parallel()
	ok := `{"employee_id":"E1","email":"a@x.example"},{"employee_id":"E2","email":"b@x.example"}`
	tests := []struct{ name, doc, want string }{
		{"syntax in a value", `[` + ok + `,{"employee_id":"E3","email":tru}]`, `x.json entry 3 (field "email"): invalid JSON at byte`},
		{"syntax after a key", `[` + ok + `,{"employee_id" "E3"}]`, `x.json entry 3 (field "employee_id"): invalid JSON at byte`},
		{"not an object", `[` + ok + `,"E3"]`, `x.json entry 3: a string, want an object`},
		{"array entry", `[` + ok + `,["E3"]]`, `x.json entry 3: an array, want an object`},
		{"field twice", `[` + ok + `,{"employee_id":"E3","email":"c@x.example","email":"d@x.example"}]`, `x.json entry 3 (field "email"): the field appears twice`},
		{"object in a mapped field", `[` + ok + `,{"employee_id":"E3","email":{"work":"c@x.example"}}]`, `x.json entry 3 (field "email"): an object, want a string, number or boolean (the field is mapped to email)`},
		{"cut off", `[` + ok + `,{"employee_id":"E3","em`, `x.json entry 3: the JSON document ends early`},
		{"trailing data", `[` + ok + `] [`, `x.json: invalid JSON at byte`},
		{"a string", `"employees"`, `x.json: the document is a string; want an array`},
		{"object without entries", `{"fields":[],"rows":[]}`, `without a "Report_Entry" or "employees" key`},
		{"both keys", `{"Report_Entry":[],"employees":[]}`, `both "Report_Entry" and "employees"`},
		{"entries not an array", `{"employees":{"E1":{}}}`, `"employees" is an object, want an array`},
		{"no employee ID field", `[{"email":"a@x.example"}]`, `no employee ID column in the fields`},
		{"empty", "\ufeff \n", `x.json: empty, want a JSON array`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := fileConn(t, "x.json", tc.doc)
			_, err := c.ReadPage(t.Context(), "")
			require.Error(t, err)
			assert.True(t, resync.IsPermanent(err), "%v is permanent", err)
			assert.ErrorIs(t, err, hris.ErrMalformed)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

// The format comes from the setting, else the content type, else the
// extension, else the first byte.
func TestJSONFormatDetection(t *testing.T) {
	t.Parallel()
	js := `[{"employee_id":"E1"}]`
	csv := "employee_id\nE1\n"
	for _, tc := range []struct {
		name, file, content string
		kv                  []string
		wantErr             string
	}{
		{"extension .json", "a.json", js, nil, ""},
		{"extension .csv wins over the first byte", "a.csv", js, nil, "no employee ID column in the header"},
		{"setting wins over the extension", "a.csv", js, []string{"format", "json"}, ""},
		{"setting csv", "a.json", csv, []string{"format", "hris-csv"}, ""},
		{"setting json on CSV", "a.txt", csv, []string{"format", "JSON"}, "x"},
		{"sniffed JSON", "export", js, nil, ""},
		{"sniffed CSV", "export", csv, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ids, err := readOne(t, fileConn(t, tc.file, tc.content, tc.kv...))
			if tc.wantErr != "" {
				require.Error(t, err)
				assert.ErrorIs(t, err, hris.ErrMalformed)
				return
			}
			require.NoError(t, err)
			assert.Contains(t, ids, "E1")
		})
	}
	_, err := hris.New(resync.Connection{ID: "hr", Settings: map[string]string{"path": "x", "format": "xml"}}, hris.Config{})
	require.ErrorIs(t, err, resync.ErrInvalidRequest)
	assert.Contains(t, err.Error(), `setting "format" is "xml"`)
}

func readOne(t *testing.T, c resync.Connector) (map[string]bool, error) {
	t.Helper()
	p, err := c.ReadPage(t.Context(), "")
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, r := range p.Records {
		out[r.(*resync.Identity).Key] = true
	}
	return out, nil
}

// A Workday report over HTTPS: JSON by its content type, though the URL
// asks for CSV; Accept prefers CSV, then JSON.
func TestJSONURL(t *testing.T) {
	t.Parallel()
	var accept atomic.Value
	srv, n := server(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok-123" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		accept.Store(r.Header.Get("Accept"))
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		_, _ = w.Write([]byte("\ufeff" + workdayRaaS))
	})
	c := urlConn(t, srv, hris.Config{}, "token", "tok-123", "preset", "workday")
	ids, bad := readAll(t, c)
	require.Empty(t, bad)
	require.Len(t, ids, 4)
	assert.Equal(t, "21002", ids["21004"].Manager)
	assert.EqualValues(t, 1, n.Load(), "one GET per read")
	assert.Equal(t, "text/csv, application/json;q=0.9, */*;q=0.5", accept.Load())

	c = urlConn(t, srv, hris.Config{}, "token", "tok-123", "preset", "workday", "format", "json")
	_, bad = readAll(t, c)
	require.Empty(t, bad)
	assert.Equal(t, "application/json, */*;q=0.5", accept.Load())
}

// A malformed JSON export fails the read and stores nothing: the records of
// the last good read stay as they were.
func TestJSONMalformedStoresNothing(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	var body atomic.Value
	body.Store(`{"employees":[{"id":1,"workEmail":"a@x.example","hireDate":"2020-01-01"},{"id":2,"workEmail":"b@x.example","hireDate":"2020-01-01","supervisorId":1}]}`)
	srv, _ := server(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(body.Load().(string)))
	})
	src := resynctest.NewSource()
	src.Add(resync.Connection{ID: "hr", Tenant: "t1", Type: resync.HRIS, Provider: "bamboohr",
		Settings: map[string]string{"url": srv.URL + "/reports/custom?format=JSON", "username": "key", "password": "x", "preset": "bamboohr", "page_size": "1"}})
	store := memstore.New()
	e, err := resync.New(ctx, resync.Config{Store: store, Connections: src, Authorizer: resynctest.AllowAll, MinReadInterval: -1,
		Connectors: map[string]resync.ConnectorFactory{
			"bamboohr": hris.NewFactory(hris.Config{Clock: resynctest.NewClock(today), HTTPClient: srv.Client()}),
		}})
	require.NoError(t, err)
	defer func() { require.NoError(t, e.Close(context.Background())) }()
	run := func() resync.ConnectionResult {
		t.Helper()
		r, err := e.ResyncPersonnel(ctx, "t1", resync.Principal{ID: "admin"})
		require.NoError(t, err)
		info, err := r.Wait(ctx)
		require.NoError(t, err)
		require.Len(t, info.Connections, 1)
		return info.Connections[0]
	}
	res := run()
	require.Equal(t, resync.ConnSucceeded, res.Status, res.Error)
	assert.Equal(t, 2, res.Added)

	// Entry 2 is malformed: entry 1's change is not applied, entry 3's
	// addition neither, and no one is removed.
	body.Store(`{"employees":[{"id":1,"workEmail":"new@x.example"},{"id":2,"workEmail":["b@x.example"]},{"id":3}]}`)
	res = run()
	assert.Equal(t, resync.ConnFailed, res.Status)
	assert.Contains(t, res.Error, `entry 2 (field "workEmail")`)
	recs, err := store.Records(ctx, resync.RecordQuery{Tenant: "t1", ConnectionID: "hr"})
	require.NoError(t, err)
	require.Len(t, recs, 2)
	for _, r := range recs {
		id := r.Record.(*resync.Identity)
		assert.NotEqual(t, "new@x.example", id.Email)
		assert.Equal(t, day("2020-01-01"), id.StartDate)
	}
}

// Config.Fetch stands in for "path" and "url": its export goes through the
// same mapping, and its errors are returned as they are.
func TestConfigFetch(t *testing.T) {
	t.Parallel()
	var calls atomic.Int64
	var fail error
	cfg := hris.Config{Clock: resynctest.NewClock(today), Fetch: func(ctx context.Context) ([]byte, string, error) {
		calls.Add(1)
		if fail != nil {
			return nil, "", fail
		}
		return []byte(bambooDirectory), "application/json", nil
	}}
	c, err := hris.New(resync.Connection{ID: "hr", Provider: "bamboohr", Settings: map[string]string{"preset": "bamboohr", "page_size": "3"}}, cfg)
	require.NoError(t, err)
	ids, bad := readAll(t, c)
	require.Empty(t, bad)
	assert.Len(t, ids, 4)
	assert.EqualValues(t, 1, calls.Load(), "one fetch per read, the later pages from memory")

	fail = resync.RetryAfter(errors.New("busy"), 7*time.Second)
	_, err = c.ReadPage(t.Context(), "")
	d, ok := resync.RetryDelay(err)
	assert.True(t, ok && d == 7*time.Second, "the fetch's error as it is: %v", err)

	_, err = hris.New(resync.Connection{ID: "hr", Settings: map[string]string{"path": "x.csv"}}, cfg)
	assert.ErrorIs(t, err, resync.ErrInvalidRequest)
}
