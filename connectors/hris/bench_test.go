package hris

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
)

// benchExport is an export of n employees, each managed by an earlier one
// (by email), with dates on both sides of today.
func benchExport(n int) []byte {
	var b strings.Builder
	b.WriteString("employee_id,email,first_name,last_name,manager,department,title,start_date,end_date,status,location\n")
	for i := range n {
		end := ""
		if i%10 == 0 {
			end = "2026-01-31"
		}
		fmt.Fprintf(&b, "E%d,user%d@acme.example,First%d,Last%d,user%d@acme.example,Dept%d,Title %d,20%02d-03-01,%s,Active,Office %d\n",
			i, i, i, i, i/7, i%40, i%90, 10+i%20, end, i%12)
	}
	return []byte(b.String())
}

// benchExportJSON is benchExport as a JSON array of objects, empty fields
// left out as Workday leaves them out.
func benchExportJSON(n int) []byte {
	var b bytes.Buffer
	b.WriteString("[")
	for i := range n {
		if i > 0 {
			b.WriteString(",\n")
		}
		end := ""
		if i%10 == 0 {
			end = `"end_date":"2026-01-31",`
		}
		fmt.Fprintf(&b, `{"employee_id":"E%d","email":"user%d@acme.example","first_name":"First%d","last_name":"Last%d","manager":"user%d@acme.example","department":"Dept%d","title":"Title %d","start_date":"20%02d-03-01",%s"status":"Active","location":"Office %d"}`,
			i, i, i, i, i/7, i%40, i%90, 10+i%20, end, i%12)
	}
	b.WriteString("]")
	return b.Bytes()
}

// BenchmarkParse measures the connector's parse of a 50,000-row export
// (mapping, dates, status, duplicate check, manager resolution) against a
// bare encoding/csv read of the same bytes, in the same run.
func BenchmarkParse(b *testing.B) {
	data := benchExport(50_000)
	b.Run("bare-csv", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			r := csv.NewReader(bytes.NewReader(data))
			for {
				if _, err := r.Read(); err == io.EOF {
					break
				} else if err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("hris", func(b *testing.B) {
		p := &parser{src: "bench.csv", m: &mapping{preset: PresetGeneric, cands: presets[PresetGeneric].columns},
			layouts: defaultLayouts, today: time.Date(2026, 6, 15, 0, 0, 0, 0, time.UTC)}
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			out, err := p.parse(data)
			if err != nil || len(out.items) != 50_000 || out.items[7].rec.Manager != "E1" {
				b.Fatalf("parse: %v", err)
			}
		}
	})
}

// BenchmarkParseJSON measures the connector's parse of the same 50,000
// employees as a JSON array against a bare json.Unmarshal of the same bytes
// into []map[string]any, in the same run.
func BenchmarkParseJSON(b *testing.B) {
	data := benchExportJSON(50_000)
	b.Run("bare-json", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			var v []map[string]any
			if err := json.Unmarshal(data, &v); err != nil || len(v) != 50_000 {
				b.Fatal(err)
			}
		}
	})
	b.Run("hris", func(b *testing.B) {
		p := &parser{src: "bench.json", m: &mapping{preset: PresetGeneric, cands: presets[PresetGeneric].columns},
			layouts: defaultLayouts, today: time.Date(2026, 6, 15, 0, 0, 0, 0, time.UTC)}
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			out, err := p.parseJSON(data)
			if err != nil || len(out.items) != 50_000 || out.items[7].rec.Manager != "E1" {
				b.Fatalf("parse: %v", err)
			}
		}
	})
}
