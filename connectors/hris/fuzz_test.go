package hris

import (
	"strings"
	"testing"
	"time"

	"github.com/openresync/resync"
)

// FuzzParse feeds arbitrary exports to the row parser: it never panics, and
// what it returns keeps the connector's promises: each row is a valid
// record or a rejection naming its line, keys are unique, and managers are
// keys of the export, emails or empty.
func FuzzParse(f *testing.F) {
	seeds := []string{
		"employee_id,email,name,manager,start_date,end_date,status\nE1,a@x,Ada,,2020-01-01,,active\nE2,b@x,Bob,E1,2030-01-01,,\n",
		"\ufeffemployee_id,name\r\nE1,\"multi\r\nline\"\r\nE1,dup\r\n",
		"employee_id,name,,\nE1,a\"b,,\n,,,\nE2,\"x\"y,z\n",
		"employee_id,manager\nE1,\"Doe, Jane\"\nE2,Jane Doe\nE3,jane doe\n",
		"employee_id,status\nE1,retired\nE2,\xff\n",
		"employee_id\nE1\n\"E2",
		"",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	p := &parser{src: "fuzz.csv", m: &mapping{preset: PresetGeneric, cands: presets[PresetGeneric].columns},
		layouts: defaultLayouts, today: time.Date(2026, 6, 15, 0, 0, 0, 0, time.UTC)}
	f.Fuzz(func(t *testing.T, data []byte) {
		out, err := p.parse(data)
		if err != nil {
			if !strings.Contains(err.Error(), "fuzz.csv") {
				t.Fatalf("error %q does not name the export", err)
			}
			return
		}
		keys := map[string]bool{}
		emails := map[string]bool{}
		for _, it := range out.items {
			if it.rec != nil {
				keys[it.rec.Key] = true
				emails[it.rec.Email] = true
			}
		}
		seen := map[string]bool{}
		for i, it := range out.items {
			switch {
			case (it.rec == nil) == (it.bad == nil):
				t.Fatalf("item %d: want a record or a rejection, got %+v", i, it)
			case it.bad != nil:
				if it.bad.Kind != resync.KindIdentity || !strings.Contains(it.bad.Reason, "fuzz.csv line ") {
					t.Fatalf("item %d: rejection %+v does not name its kind and line", i, it.bad)
				}
			default:
				if err := resync.ValidateRecord(it.rec, resync.Limits{MaxFieldBytes: 1 << 20}); err != nil {
					t.Fatalf("item %d: invalid record: %v", i, err)
				}
				if seen[it.rec.Key] {
					t.Fatalf("key %q read twice", it.rec.Key)
				}
				seen[it.rec.Key] = true
				if it.rec.Email != strings.ToLower(it.rec.Email) {
					t.Fatalf("email %q not lower-cased", it.rec.Email)
				}
				if m := it.rec.Manager; m != "" && !keys[m] && !strings.Contains(m, "@") {
					t.Fatalf("manager %q is neither a key of the export nor an email", m)
				}
			}
		}
	})
}

// FuzzParseJSON feeds arbitrary documents to the JSON parser: it never
// panics; an error names the export; otherwise each entry is a valid
// record or a rejection naming its entry, keys are unique, and managers
// are keys of the export, emails or empty.
func FuzzParseJSON(f *testing.F) {
	seeds := []string{
		`[{"employee_id":"E1","email":"A@x","manager":"","start_date":"2020-01-01","status":"active"},{"employee_id":2,"manager":"E1","start_date":"2030-01-01"}]`,
		"\ufeff{\"Report_Entry\":[{\"employee_id\":\"E1\",\"name\":\"Doe, Jane\"},{\"employee_id\":\"E2\",\"manager\":\"Jane Doe\"}]}",
		`{"fields":[{"id":"id"}],"employees":[{"employee_id":"E1","x":{"a":[1]}},{"employee_id":"E1"},{}]}`,
		`[{"employee_id":"E1","status":"retired"},{"employee_id":"","email":null},{"employee_id":"E3","email":"\u00e9\ud83d\ude00"}]`,
		`[{"employee_id":"E1","employee_id":"E2"}]`,
		`[{"employee_id":"E1"},"x"]`,
		`{"employees":[`,
		"[{\"employee_id\":\"\xff\"}]",
		``,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	p := &parser{src: "fuzz.json", m: &mapping{preset: PresetGeneric, cands: presets[PresetGeneric].columns},
		layouts: defaultLayouts, today: time.Date(2026, 6, 15, 0, 0, 0, 0, time.UTC)}
	f.Fuzz(func(t *testing.T, data []byte) {
		out, err := p.parseJSON(data)
		if err != nil {
			if !strings.Contains(err.Error(), "fuzz.json") {
				t.Fatalf("error %q does not name the export", err)
			}
			return
		}
		keys := map[string]bool{}
		for _, it := range out.items {
			if it.rec != nil {
				keys[it.rec.Key] = true
			}
		}
		seen := map[string]bool{}
		for i, it := range out.items {
			switch {
			case (it.rec == nil) == (it.bad == nil):
				t.Fatalf("item %d: want a record or a rejection, got %+v", i, it)
			case it.bad != nil:
				if it.bad.Kind != resync.KindIdentity || !strings.Contains(it.bad.Reason, "fuzz.json entry ") {
					t.Fatalf("item %d: rejection %+v does not name its kind and entry", i, it.bad)
				}
			default:
				if err := resync.ValidateRecord(it.rec, resync.Limits{MaxFieldBytes: 1 << 20}); err != nil {
					t.Fatalf("item %d: invalid record: %v", i, err)
				}
				if seen[it.rec.Key] {
					t.Fatalf("key %q read twice", it.rec.Key)
				}
				seen[it.rec.Key] = true
				if it.rec.Email != strings.ToLower(it.rec.Email) {
					t.Fatalf("email %q not lower-cased", it.rec.Email)
				}
				if m := it.rec.Manager; m != "" && !keys[m] && !strings.Contains(m, "@") {
					t.Fatalf("manager %q is neither a key of the export nor an email", m)
				}
			}
		}
	})
}
