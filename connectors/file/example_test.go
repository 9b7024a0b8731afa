package file_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/openresync/resync"
	"github.com/openresync/resync/connectors/file"
)

// A connector over an HRIS CSV export, read a page at a time as the engine
// does. The row with an unknown status comes back in Page.Rejected with
// its line and key: the engine counts it and keeps E4's stored version.
func Example() {
	dir, err := os.MkdirTemp("", "resync-file-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "hris.csv")
	csv := "employee_id,email,first_name,last_name,employment_status,office\n" +
		"E1,ada@acme.example,Ada,Lovelace,active,London\n" +
		"E2,grace@acme.example,Grace,Hopper,leave,\n" +
		"E3,jane@acme.example,Jane,Doe,terminated,\n" +
		"E4,john@acme.example,John,Smith,retired,\n"
	if err := os.WriteFile(path, []byte(csv), 0o600); err != nil {
		panic(err)
	}

	c, err := file.New(resync.Connection{ID: "hr", Settings: map[string]string{
		"path": path, "format": file.FormatHRISCSV, "page_size": "2",
	}})
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
			fmt.Printf("page %d: %q %s %s %v\n", page, id.Key, id.Name, id.Status, id.Attributes)
		}
		for _, bad := range p.Rejected {
			var re *resync.RecordError
			if errors.As(bad, &re) {
				fmt.Printf("page %d: rejected %q: %s\n", page, re.Key, strings.ReplaceAll(re.Reason, dir, "DIR"))
			}
		}
		if p.Next == "" {
			break
		}
		cursor = p.Next
	}
	err = c.(resync.HealthChecker).CheckHealth(ctx)
	fmt.Println(strings.ReplaceAll(err.Error(), dir, "DIR"))
	// Output:
	// page 1: "E1" Ada Lovelace active map[office:London]
	// page 1: "E2" Grace Hopper suspended map[]
	// page 2: "E3" Jane Doe deprovisioned map[]
	// page 2: rejected "E4": DIR/hris.csv line 5: employment_status "retired" is not active, terminated, leave or pre-hire
	// file: malformed export: DIR/hris.csv: 1 of 4 records are malformed and would be rejected: DIR/hris.csv line 5: employment_status "retired" is not active, terminated, leave or pre-hire
}
