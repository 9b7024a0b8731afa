package file_test

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/openresync/resync"
	"github.com/openresync/resync/connectors/file"
	"github.com/openresync/resync/memstore"
	"github.com/openresync/resync/resynctest"
	"github.com/openresync/resync/storage"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// writeFile writes content to a new file in a test directory.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
	return p
}

func newConn(t *testing.T, path, format string, extra ...string) resync.Connector {
	t.Helper()
	settings := map[string]string{"path": path, "format": format}
	for i := 0; i+1 < len(extra); i += 2 {
		settings[extra[i]] = extra[i+1]
	}
	c, err := file.New(resync.Connection{ID: "c1", Tenant: "t1", Provider: "files", Settings: settings})
	require.NoError(t, err)
	return c
}

// readAll follows the cursors to the end and returns every record.
func readAll(t *testing.T, c resync.Connector) []resync.Record {
	t.Helper()
	recs, _ := readAllRejected(t, c)
	return recs
}

// readAllRejected reads every page, returning the records and the
// Page.Rejected errors.
func readAllRejected(t *testing.T, c resync.Connector) ([]resync.Record, []error) {
	t.Helper()
	var out []resync.Record
	var rejected []error
	cursor := ""
	for range 10000 {
		p, err := c.ReadPage(t.Context(), cursor)
		require.NoError(t, err)
		out = append(out, p.Records...)
		rejected = append(rejected, p.Rejected...)
		if p.Next == "" {
			return out, rejected
		}
		cursor = p.Next
	}
	t.Fatal("read did not end")
	return nil, nil
}

func date(s string) time.Time {
	t, err := time.Parse("2006-01-02", s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestHRISCSV(t *testing.T) {
	t.Parallel()
	csv := "\ufeffEmployee ID,Work Email,First Name,Last Name,Dept,Job Title,Manager Email,Hire Date,Termination Date,Employment Status,Location,Cost Center\n" +
		"E1,ada@acme.example,Ada,Lovelace,Executive,CEO,,2019-03-01,,Active,London,\n" +
		"E2, grace@acme.example ,Grace,Hopper,Engineering,VP Engineering,ada@acme.example,2019-06-15,,active,NYC,CC-10\n" +
		"\n" +
		"E3,jane@acme.example,Jane,\"Doe, Jr.\",Sales,AE,ada@acme.example,2020-01-06,2026-11-30,Terminated,,\n" +
		"E4,john@acme.example,John,Smith,Sales,AE,ada@acme.example,2021-02-01T09:00:00Z,,On Leave\n"
	c := newConn(t, writeFile(t, "hris.csv", csv), "hris-csv")
	got := readAll(t, c)
	want := []resync.Record{
		&resync.Identity{Key: "E1", Email: "ada@acme.example", Name: "Ada Lovelace", Status: resync.StatusActive,
			Department: "Executive", Title: "CEO", StartDate: date("2019-03-01"), Attributes: map[string]string{"Location": "London"}},
		&resync.Identity{Key: "E2", Email: "grace@acme.example", Name: "Grace Hopper", Status: resync.StatusActive,
			Manager: "ada@acme.example", Department: "Engineering", Title: "VP Engineering", StartDate: date("2019-06-15"),
			Attributes: map[string]string{"Location": "NYC", "Cost Center": "CC-10"}},
		&resync.Identity{Key: "E3", Email: "jane@acme.example", Name: "Jane Doe, Jr.", Status: resync.StatusDeprovisioned,
			Manager: "ada@acme.example", Department: "Sales", Title: "AE", StartDate: date("2020-01-06"), EndDate: date("2026-11-30")},
		&resync.Identity{Key: "E4", Email: "john@acme.example", Name: "John Smith", Status: resync.StatusSuspended,
			Manager: "ada@acme.example", Department: "Sales", Title: "AE", StartDate: time.Date(2021, 2, 1, 9, 0, 0, 0, time.UTC)},
	}
	require.Equal(t, want, got)
	for _, r := range got {
		assert.NoError(t, resync.ValidateRecord(r, resync.Limits{}))
	}
}

func TestHRISCSVNameColumn(t *testing.T) {
	t.Parallel()
	csv := "id,full_name,status\nE1,Ada Lovelace,\nE2,Grace Hopper,inactive\nE3,Katherine Johnson,Pre-hire\n"
	got := readAll(t, newConn(t, writeFile(t, "hris.csv", csv), "hris-csv"))
	require.Equal(t, []resync.Record{
		&resync.Identity{Key: "E1", Name: "Ada Lovelace", Status: resync.StatusActive},
		&resync.Identity{Key: "E2", Name: "Grace Hopper", Status: resync.StatusDeprovisioned},
		&resync.Identity{Key: "E3", Name: "Katherine Johnson", Status: resync.StatusNotStarted},
	}, got)
}

const idpJSON = `{
  "users": [
    {"id": "00u1", "status": "ACTIVE", "profile": {"login": "ada@acme.example", "email": "ada@acme.example",
      "firstName": "Ada", "lastName": "Lovelace", "department": "Executive", "title": "CEO", "costCenter": "CC-1", "mobilePhone": null},
      "groups": ["00g1"], "created": "2019-03-01T00:00:00Z"},
    {"id": "00u2", "status": "SUSPENDED", "profile": {"login": "grace@acme.example", "firstName": "Grace", "lastName": "Hopper",
      "managerId": "00u1"}},
    {"id": "00u3", "status": "DEPROVISIONED", "profile": {"login": "jdoe", "email": "jane@acme.example", "firstName": "Jane", "lastName": "Doe"}},
    {"id": "00u4", "status": "LOCKED_OUT", "profile": {"displayName": "John Smith"}, "groups": "00g2"},
    {"id": "00u5", "status": "STAGED", "profile": {"displayName": "Katherine Johnson"}}
  ],
  "groups": [
    {"id": "00g1", "profile": {"name": "Engineering", "description": "builders"}, "members": ["00u2"]},
    {"id": "00g2", "profile": {"name": "Sales"}}
  ]
}`

func TestIdPJSON(t *testing.T) {
	t.Parallel()
	got := readAll(t, newConn(t, writeFile(t, "idp.json", idpJSON), "idp-json"))
	want := []resync.Record{
		&resync.Identity{Key: "00u1", Email: "ada@acme.example", Name: "Ada Lovelace", Status: resync.StatusActive,
			Department: "Executive", Title: "CEO", Groups: []string{"00g1"}, Attributes: map[string]string{"costCenter": "CC-1"}},
		&resync.Identity{Key: "00u2", Email: "grace@acme.example", Name: "Grace Hopper", Status: resync.StatusSuspended,
			Manager: "00u1", Groups: []string{"00g1"}},
		&resync.Identity{Key: "00u3", Email: "jane@acme.example", Name: "Jane Doe", Status: resync.StatusDeprovisioned,
			Attributes: map[string]string{"login": "jdoe"}},
		&resync.Identity{Key: "00u4", Name: "John Smith", Status: resync.StatusActive, Groups: []string{"00g2"}},
		&resync.Identity{Key: "00u5", Name: "Katherine Johnson", Status: resync.StatusNotStarted},
		&resync.Group{Key: "00g1", Name: "Engineering", Members: []string{"00u2", "00u1"}},
		&resync.Group{Key: "00g2", Name: "Sales", Members: []string{"00u4"}},
	}
	require.Equal(t, want, got)
}

func TestAccountsJSON(t *testing.T) {
	t.Parallel()
	js := `{"accounts": [
	  {"id": "AIDA1", "username": "ada", "owner_email": "ada@acme.example", "display_name": "Ada", "status": "active",
	   "roles": ["AdministratorAccess"], "mfa": true, "last_login": "2026-11-20T10:00:00+01:00", "arn": "arn:aws:iam::1:user/ada", "tags": {"team": "x"}},
	  {"id": "AIDA2", "username": "ci-bot", "status": "Disabled", "mfa": false},
	  {"id": "AIDA3", "userName": "old", "ownerEmail": "old@acme.example", "status": "deleted", "mfa": null, "roles": "ReadOnly"}
	]}`
	got := readAll(t, newConn(t, writeFile(t, "aws.json", js), "accounts-json"))
	want := []resync.Record{
		&resync.Account{Key: "AIDA1", Username: "ada", OwnerEmail: "ada@acme.example", DisplayName: "Ada", Status: resync.StatusActive,
			Roles: []string{"AdministratorAccess"}, MFA: resync.MFAEnabled, LastLogin: time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC),
			Attributes: map[string]string{"arn": "arn:aws:iam::1:user/ada", "tags": `{"team":"x"}`}},
		&resync.Account{Key: "AIDA2", Username: "ci-bot", Status: resync.StatusSuspended, MFA: resync.MFADisabled},
		&resync.Account{Key: "AIDA3", Username: "old", OwnerEmail: "old@acme.example", Status: resync.StatusDeprovisioned,
			Roles: []string{"ReadOnly"}},
	}
	require.Equal(t, want, got)
}

func TestPaging(t *testing.T) {
	t.Parallel()
	csv := "employee_id,email\n"
	for _, k := range []string{"a", "b", "c", "d", "e", "f", "g"} {
		csv += k + "," + k + "@acme.example\n"
	}
	path := writeFile(t, "hris.csv", csv)
	c := newConn(t, path, "hris-csv", "page_size", "3")
	ctx := t.Context()

	p0, err := c.ReadPage(ctx, "")
	require.NoError(t, err)
	assert.Len(t, p0.Records, 3)
	assert.Equal(t, "3", p0.Next)
	assert.Equal(t, 7, p0.Total)

	// The read keeps the file's version of its first page.
	require.NoError(t, os.WriteFile(path, []byte("employee_id\nz\n"), 0o600))
	p1, err := c.ReadPage(ctx, p0.Next)
	require.NoError(t, err)
	assert.Equal(t, "6", p1.Next)
	assert.Equal(t, "d", storage.KeyOf(p1.Records[0]))
	again, err := c.ReadPage(ctx, p0.Next)
	require.NoError(t, err)
	assert.Equal(t, p1, again, "re-reading a cursor gives the same page")
	p1.Records[0].(*resync.Identity).Email = "changed"
	again, err = c.ReadPage(ctx, p0.Next)
	require.NoError(t, err)
	assert.Equal(t, "d@acme.example", again.Records[0].(*resync.Identity).Email, "pages do not share records")

	p2, err := c.ReadPage(ctx, p1.Next)
	require.NoError(t, err)
	assert.Len(t, p2.Records, 1)
	assert.Empty(t, p2.Next)

	// The empty cursor reads the file again.
	p0, err = c.ReadPage(ctx, "")
	require.NoError(t, err)
	require.Len(t, p0.Records, 1)
	assert.Equal(t, "z", storage.KeyOf(p0.Records[0]))
	assert.Empty(t, p0.Next)

	// Bad cursors are permanent errors.
	for _, cur := range []string{"x", "-1", "2"} {
		_, err := c.ReadPage(ctx, cur)
		require.Error(t, err, cur)
		assert.True(t, resync.IsPermanent(err), cur)
	}

	// A failed read of the file is not followed by pages of an earlier read.
	require.NoError(t, os.Remove(path))
	_, err = c.ReadPage(ctx, "")
	require.ErrorIs(t, err, fs.ErrNotExist)
	_, err = c.ReadPage(ctx, "1")
	require.ErrorIs(t, err, fs.ErrNotExist)
	require.NoError(t, os.WriteFile(path, []byte("employee_id\nz\n"), 0o600))

	// A fresh connector given a cursor reads the file first.
	fresh := newConn(t, path, "hris-csv")
	p, err := fresh.ReadPage(ctx, "1")
	require.NoError(t, err)
	assert.Empty(t, p.Records)
	assert.Equal(t, 1, p.Total)
}

func TestDefaultPageSizeAndEmptyExports(t *testing.T) {
	t.Parallel()
	csv := "employee_id\n"
	for i := range 250 {
		csv += "e" + string(rune('a'+i%26)) + string(rune('a'+i/26)) + "\n"
	}
	c := newConn(t, writeFile(t, "hris.csv", csv), "hris-csv")
	p, err := c.ReadPage(t.Context(), "")
	require.NoError(t, err)
	assert.Len(t, p.Records, file.DefaultPageSize)
	assert.Len(t, readAll(t, c), 250)

	for format, content := range map[string]string{
		"hris-csv":      "employee_id,email\n",
		"idp-json":      `{"users": []}`,
		"accounts-json": `{"accounts": []}`,
	} {
		p, err := newConn(t, writeFile(t, "empty", content), format).ReadPage(t.Context(), "")
		require.NoError(t, err, format)
		assert.Empty(t, p.Records, format)
		assert.Empty(t, p.Next, format)
	}
}

func TestMalformedRecordsAreRejectedWithTheirPlace(t *testing.T) {
	t.Parallel()
	tests := []struct {
		format, content string
		wantKeys        []string // valid records, in file order
		wantRejected    []string // keys of the rejected ones ("" where the row has none), in file order
		wantReasons     []string // substrings of the rejection reasons and of CheckHealth's error
	}{
		{
			format: "hris-csv",
			content: "employee_id,email,start_date,status\n" +
				"E1,a@x,2020-01-01,active\n" +
				"E2,b@x,01/02/2020,active\n" +
				"E3,c@x,2020-01-01,retired\n" +
				",d@x,,\n" +
				"E5,e, x,2020-01-01,active\n" +
				"E6,f@x\n",
			wantKeys:     []string{"E1", "E6"},
			wantRejected: []string{"E2", "E3", "", "E5"},
			wantReasons:  []string{"line 3: start_date \"01/02/2020\" is not a date", "line 4: status \"retired\"", "line 5: empty employee ID"},
		},
		{
			format: "idp-json",
			content: `{"users": [{"id": "u1"}, {"id": "u2", "status": "GONE"}, {"status": "ACTIVE"}, "u4", {"id": "u5", "groups": 7}],
			  "groups": [{"id": "g1", "members": {"a": 1}}, {"id": "g2", "profile": {"name": "G2"}}]}`,
			wantKeys:     []string{"u1", "g2"},
			wantRejected: []string{"u2", "", "", "u5", "g1"},
			wantReasons:  []string{`users[1] (id "u2"): status "GONE"`, "users[2]: empty id", "users[3]: is a string, want an object"},
		},
		{
			format: "accounts-json",
			content: `{"accounts": [{"id": "a1", "mfa": "maybe"}, {"id": "a2", "last_login": "yesterday"}, {"id": "a3", "status": "on"},
			  {"id": "a4", "roles": [1]}, {"id": "a5"}]}`,
			wantKeys:     []string{"a5"},
			wantRejected: []string{"a1", "a2", "a3", "a4"},
			wantReasons:  []string{`accounts[0] (id "a1"): mfa is "maybe"`, `last_login "yesterday"`, `status "on"`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.format, func(t *testing.T) {
			t.Parallel()
			c := newConn(t, writeFile(t, "export", tc.content), tc.format)
			recs, rejected := readAllRejected(t, c)
			keys := make([]string, len(recs))
			for i, r := range recs {
				keys[i] = storage.KeyOf(r)
				assert.NoError(t, resync.ValidateRecord(r, resync.Limits{}), "record %d", i)
			}
			assert.Equal(t, tc.wantKeys, keys)
			var rejectedKeys, reasons []string
			for _, err := range rejected {
				var re *resync.RecordError
				require.ErrorAs(t, err, &re)
				rejectedKeys = append(rejectedKeys, re.Key)
				reasons = append(reasons, re.Reason)
			}
			assert.Equal(t, tc.wantRejected, rejectedKeys)
			all := strings.Join(reasons, "\n")
			for _, p := range tc.wantReasons {
				assert.Contains(t, all, p)
			}

			err := c.(resync.HealthChecker).CheckHealth(t.Context())
			require.ErrorIs(t, err, file.ErrMalformed)
			assert.Contains(t, err.Error(), "export")
			for _, p := range tc.wantReasons {
				assert.Contains(t, err.Error(), p)
			}
			assert.Contains(t, err.Error(), fmt.Sprintf("and %d more", len(tc.wantRejected)-3))
		})
	}
}

func TestFileErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tests := []struct {
		name, format, content string // content "" with name "missing": no file
		is                    error
		msg                   []string
	}{
		{name: "missing", format: "hris-csv", is: fs.ErrNotExist, msg: []string{"missing"}},
		{name: "empty.csv", format: "hris-csv", content: "", is: file.ErrMalformed, msg: []string{"empty.csv", "empty file"}},
		{name: "nokey.csv", format: "hris-csv", content: "email,name\na@x,A\n", is: file.ErrMalformed, msg: []string{"nokey.csv line 1", "no employee ID column"}},
		{name: "dup.csv", format: "hris-csv", content: "id,Email,email\n", is: file.ErrMalformed, msg: []string{"dup.csv line 1", "columns 2 and 3"}},
		{name: "broken.json", format: "idp-json", content: "{\n  \"users\": [\n    {\"id\": \"u1\",}\n  ]\n}", is: file.ErrMalformed, msg: []string{"broken.json", "line 3"}},
		{name: "wrongformat.json", format: "idp-json", content: `{"accounts": []}`, is: file.ErrMalformed, msg: []string{`no "users" array`}},
		{name: "notarray.json", format: "accounts-json", content: `{"accounts": {"id": "a"}}`, is: file.ErrMalformed, msg: []string{`"accounts" is an object, want an array`}},
		{name: "array.json", format: "accounts-json", content: `[]`, is: file.ErrMalformed, msg: []string{"not a JSON object"}},
		{name: "null.json", format: "accounts-json", content: `null`, is: file.ErrMalformed, msg: []string{"null"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(dir, tc.name)
			if tc.name != "missing" {
				require.NoError(t, os.WriteFile(path, []byte(tc.content), 0o600))
			}
			c := newConn(t, path, tc.format)
			_, err := c.ReadPage(t.Context(), "")
			require.Error(t, err)
			assert.True(t, resync.IsPermanent(err), "permanent: %v", err)
			assert.ErrorIs(t, err, tc.is)
			for _, m := range tc.msg {
				assert.Contains(t, err.Error(), m)
			}
			herr := c.(resync.HealthChecker).CheckHealth(t.Context())
			assert.ErrorIs(t, herr, tc.is)
		})
	}

	t.Run("directory", func(t *testing.T) {
		t.Parallel()
		_, err := newConn(t, t.TempDir(), "hris-csv").ReadPage(t.Context(), "")
		require.Error(t, err)
		assert.True(t, resync.IsPermanent(err))
	})
	t.Run("canceled", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err := newConn(t, writeFile(t, "x.csv", "id\n1\n"), "hris-csv").ReadPage(ctx, "")
		assert.ErrorIs(t, err, context.Canceled)
	})
}

func TestSettingsErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		settings map[string]string
		msg      string
	}{
		{map[string]string{"format": "hris-csv"}, `"path" is required`},
		{map[string]string{"path": "  ", "format": "hris-csv"}, `"path" is required`},
		{map[string]string{"path": "x"}, `"format" is required`},
		{map[string]string{"path": "x", "format": "xml"}, `"format" is "xml"`},
		{map[string]string{"path": "x", "format": "hris-csv", "page_size": "0"}, `"page_size" is "0"`},
		{map[string]string{"path": "x", "format": "hris-csv", "page_size": "ten"}, `"page_size" is "ten"`},
		{map[string]string{"path": "x", "format": "hris-csv", "page_size": "100001"}, `"page_size" is "100001"`},
	}
	for _, tc := range tests {
		c, err := file.New(resync.Connection{ID: "hr", Settings: tc.settings})
		assert.Nil(t, c)
		require.Error(t, err, tc.msg)
		assert.True(t, resync.IsPermanent(err))
		assert.ErrorIs(t, err, resync.ErrInvalidRequest)
		assert.Contains(t, err.Error(), tc.msg)
		assert.Contains(t, err.Error(), `connection "hr"`)

		_, ferr := file.Factory(t.Context(), resync.Connection{ID: "hr", Settings: tc.settings})
		assert.Equal(t, err.Error(), ferr.Error())
	}
	c, err := file.New(resync.Connection{Settings: map[string]string{"path": "x", "format": " IdP-JSON ", "page_size": "5"}})
	require.NoError(t, err)
	assert.NotNil(t, c)
}

func TestCheckHealth(t *testing.T) {
	t.Parallel()
	c := newConn(t, writeFile(t, "idp.json", idpJSON), "idp-json")
	assert.NoError(t, c.(resync.HealthChecker).CheckHealth(t.Context()))

	bad := newConn(t, writeFile(t, "idp.json", `{"users": [{"id": "u1", "status": "??"}]}`), "idp-json")
	err := bad.(resync.HealthChecker).CheckHealth(t.Context())
	require.ErrorIs(t, err, file.ErrMalformed)
	assert.Contains(t, err.Error(), `1 of 1 records are malformed`)
	assert.Contains(t, err.Error(), `users[0] (id "u1"): status "??"`)
}

// TestEngine runs the connector under the engine: malformed rows are
// rejected and counted, and the rest is applied.
func TestEngine(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := writeFile(t, "hris.csv", "employee_id,email,status\nE1,a@x,active\nE2,b@x,fired\nE3,c@x,leave\n")
	src := resynctest.NewSource()
	src.Add(resync.Connection{ID: "hr", Tenant: "t1", Type: resync.HRIS, Provider: "bamboohr",
		Settings: map[string]string{"path": path, "format": file.FormatHRISCSV, "page_size": "2"}})
	store := memstore.New()
	e, err := resync.New(ctx, resync.Config{Store: store, Connections: src, Authorizer: resynctest.AllowAll,
		MinReadInterval: -1, // resyncs back to back, not 30s apart
		Connectors:      map[string]resync.ConnectorFactory{"bamboohr": file.Factory}})
	require.NoError(t, err)
	defer func() { require.NoError(t, e.Close(context.Background())) }()

	admin := resync.Principal{ID: "admin"}
	run, err := e.ResyncPersonnel(ctx, "t1", admin)
	require.NoError(t, err)
	info, err := run.Wait(ctx)
	require.NoError(t, err)
	require.Len(t, info.Connections, 1)
	res := info.Connections[0]
	assert.Equal(t, resync.ConnSucceeded, res.Status, res.Error)
	assert.Equal(t, 3, res.Read)
	assert.Equal(t, 2, res.Added)
	assert.Equal(t, 1, res.Rejected)
	assert.Equal(t, 2, res.Pages)
	recs, err := store.Records(ctx, resync.RecordQuery{Tenant: "t1", ConnectionID: "hr"})
	require.NoError(t, err)
	require.Len(t, recs, 2)
	assert.Equal(t, resync.StatusSuspended, recs[1].Record.(*resync.Identity).Status)

	cerr := e.CheckConnection(ctx, "t1", "hr", admin)
	require.ErrorIs(t, cerr, file.ErrMalformed)
	assert.Contains(t, cerr.Error(), `line 3: status "fired"`)

	require.NoError(t, os.Remove(path))
	run, err = e.ResyncPersonnel(ctx, "t1", admin)
	require.NoError(t, err)
	info, err = run.Wait(ctx)
	require.NoError(t, err)
	assert.Equal(t, resync.ConnFailed, info.Connections[0].Status)
	assert.Equal(t, 1, info.Connections[0].Attempts, "a missing file is not retried")
	assert.Contains(t, info.Connections[0].Error, path)
}
