package hris_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/openresync/resync"
	"github.com/openresync/resync/connectors/hris"
	"github.com/openresync/resync/resynctest"
)

// A BambooHR report exported as CSV, read a page at a time as the engine
// does, on 15 June 2026. Grace starts in July: not started, though
// BambooHR lists her as Active. Jane left in May. Managers are given by
// employee number and resolve to keys. The row whose hire date does not
// parse is rejected with its line and column, and its key, so the engine
// keeps its stored version.
func Example() {
	dir, err := os.MkdirTemp("", "resync-hris-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "bamboohr.csv")
	export := "\ufeffid,employeeNumber,firstName,lastName,workEmail,supervisorEId,hireDate,terminationDate,status\r\n" +
		"40,E1,Ada,Lovelace,Ada@Acme.example,,2019-03-01,0000-00-00,Active\r\n" +
		"41,E2,Grace,Hopper,grace@acme.example,E1,2026-07-01,0000-00-00,Active\r\n" +
		"42,E3,Jane,Doe,jane@acme.example,E1,2020-01-06,2026-05-29,Inactive\r\n" +
		"43,E4,John,Smith,john@acme.example,E3,03/02/2021,0000-00-00,Active\r\n"
	if err := os.WriteFile(path, []byte(export), 0o600); err != nil {
		panic(err)
	}

	clock := resynctest.NewClock(time.Date(2026, 6, 15, 9, 0, 0, 0, time.UTC)) // the engine's clock
	c, err := hris.New(resync.Connection{ID: "hr", Settings: map[string]string{
		"path": path, "preset": hris.PresetBambooHR, "page_size": "2",
	}}, hris.Config{Clock: clock})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	for cursor, page := "", 1; ; page++ {
		p, err := c.ReadPage(ctx, cursor)
		if err != nil {
			panic(err)
		}
		for _, r := range p.Records {
			id := r.(*resync.Identity)
			fmt.Printf("page %d/%d rows: %s %q %s %s manager=%q\n", page, p.Total, id.Key, id.Name, id.Email, id.Status, id.Manager)
		}
		for _, bad := range p.Rejected {
			var re *resync.RecordError
			if errors.As(bad, &re) {
				fmt.Printf("page %d: rejected %s: %s\n", page, re.Key, strings.ReplaceAll(re.Reason, dir, "DIR"))
			}
		}
		if p.Next == "" {
			break
		}
		cursor = p.Next
	}
	// Output:
	// page 1/4 rows: 40 "Ada Lovelace" ada@acme.example active manager=""
	// page 1/4 rows: 41 "Grace Hopper" grace@acme.example not_started manager="40"
	// page 2/4 rows: 42 "Jane Doe" jane@acme.example deprovisioned manager="40"
	// page 2: rejected 43: DIR/bamboohr.csv line 5, column 39 (hireDate): start_date "03/02/2021" is not a date (want YYYY-MM-DD; set "date_layout" for another form)
}

// A Workday custom report fetched as JSON (Report-as-a-Service with
// ?format=json): the entries under "Report_Entry", each field under its XML
// alias, empty fields left out. The format is detected from the file's
// first byte; a date that does not parse is rejected naming the entry and
// the field.
func Example_json() {
	dir, err := os.MkdirTemp("", "resync-hris-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "Workers")
	export := `{"Report_Entry": [
		{"Employee_ID": "21001", "Worker": "Logan McNeil", "Email_-_Primary_Work": "lmcneil@acme.example", "Hire_Date": "2000-01-01-08:00", "Active": "1"},
		{"Employee_ID": "21002", "Worker": "Oliver Reynolds", "Manager_ID": "21001", "Hire_Date": "2026-07-06-07:00", "Active": "1"},
		{"Employee_ID": "21003", "Worker": "Jim Kiefer", "Manager_ID": "Logan McNeil", "Hire_Date": "2018-02-01", "Termination_Date": "2026-03-31", "Active": "0"},
		{"Employee_ID": "21004", "Worker": "Teresa Serrano", "Hire_Date": "06/01/2021"}
	]}`
	if err := os.WriteFile(path, []byte(export), 0o600); err != nil {
		panic(err)
	}
	c, err := hris.New(resync.Connection{ID: "wd", Settings: map[string]string{"path": path, "preset": hris.PresetWorkday}},
		hris.Config{Clock: resynctest.NewClock(time.Date(2026, 6, 15, 9, 0, 0, 0, time.UTC))})
	if err != nil {
		panic(err)
	}
	p, err := c.ReadPage(context.Background(), "")
	if err != nil {
		panic(err)
	}
	for _, r := range p.Records {
		id := r.(*resync.Identity)
		fmt.Printf("%s %q %s manager=%q\n", id.Key, id.Name, id.Status, id.Manager)
	}
	for _, bad := range p.Rejected {
		var re *resync.RecordError
		if errors.As(bad, &re) {
			fmt.Printf("rejected %s: %s\n", re.Key, strings.ReplaceAll(re.Reason, dir, "DIR"))
		}
	}
	// Output:
	// 21001 "Logan McNeil" active manager=""
	// 21002 "Oliver Reynolds" not_started manager="21001"
	// 21003 "Jim Kiefer" deprovisioned manager="21001"
	// rejected 21004: DIR/Workers entry 4 (field "Hire_Date"): start_date "06/01/2021" is not a date (want YYYY-MM-DD; set "date_layout" for another form)
}
