package file

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/openresync/resync"
)

// HRIS fields a CSV column can map to.
const (
	colKey = iota + 1
	colEmail
	colFirst
	colLast
	colName
	colDepartment
	colTitle
	colManager
	colStart
	colEnd
	colStatus
)

// hrisColumns maps normalized header names (see normName) to fields. When
// two columns map to one field, the first wins and the other is kept as an
// attribute.
var hrisColumns = map[string]int{
	"employeeid": colKey, "id": colKey, "employeenumber": colKey, "employeeno": colKey,
	"empid": colKey, "workerid": colKey, "personid": colKey,
	"email": colEmail, "workemail": colEmail, "emailaddress": colEmail,
	"firstname": colFirst, "givenname": colFirst,
	"lastname": colLast, "surname": colLast, "familyname": colLast,
	"name": colName, "fullname": colName, "displayname": colName, "employeename": colName,
	"department": colDepartment, "dept": colDepartment,
	"title": colTitle, "jobtitle": colTitle, "position": colTitle,
	"manageremail": colManager, "manager": colManager, "managerid": colManager,
	"supervisoremail": colManager, "supervisor": colManager, "reportsto": colManager,
	"startdate": colStart, "hiredate": colStart,
	"enddate": colEnd, "terminationdate": colEnd, "termdate": colEnd,
	"employmentstatus": colStatus, "status": colStatus, "employeestatus": colStatus,
}

// hrisStatus maps an HRIS employment status to a resync.LifecycleStatus.
func hrisStatus(s string) (resync.LifecycleStatus, bool) {
	n := normName(s)
	if n == "" && strings.TrimSpace(s) != "" {
		return "", false
	}
	switch n {
	case "", "active", "employed", "current":
		return resync.StatusActive, true
	case "terminated", "inactive", "former", "deprovisioned", "offboarded":
		return resync.StatusDeprovisioned, true
	case "leave", "onleave", "leaveofabsence", "suspended":
		return resync.StatusSuspended, true
	case "prehire", "pending", "notstarted", "hired", "offeraccepted":
		return resync.StatusNotStarted, true
	}
	return "", false
}

// dateLayouts are the accepted date forms, tried in order.
var dateLayouts = []string{"2006-01-02", time.RFC3339, "2006/01/02", "2006-01-02 15:04:05"}

func parseDate(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, true
	}
	for _, l := range dateLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// parseHRIS reads an HRIS employee CSV export: a header row, then one
// employee per row.
func parseHRIS(path string, data []byte) ([]resync.Record, []*resync.RecordError, error) {
	data = bytes.TrimPrefix(data, []byte("\ufeff"))
	r := csv.NewReader(bytes.NewReader(data))
	r.FieldsPerRecord = -1
	r.LazyQuotes = true

	header, err := r.Read()
	if errors.Is(err, io.EOF) {
		return nil, nil, fmt.Errorf("%w: %s: empty file, want a CSV header row", ErrMalformed, path)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %s: %w", ErrMalformed, path, err)
	}
	fields := make([]int, len(header))
	names := make([]string, len(header))
	taken := map[int]bool{}
	seen := map[string]int{}
	for i, h := range header {
		names[i] = strings.TrimSpace(h)
		n := normName(h)
		if n == "" {
			continue // a column without a name is ignored
		}
		if j, dup := seen[n]; dup {
			return nil, nil, fmt.Errorf("%w: %s line 1: columns %d and %d are both named %q", ErrMalformed, path, j+1, i+1, names[i])
		}
		seen[n] = i
		if f := hrisColumns[n]; f != 0 && !taken[f] {
			fields[i], taken[f] = f, true
		}
	}
	if !taken[colKey] {
		return nil, nil, fmt.Errorf("%w: %s line 1: no employee ID column in the header (want one of employee_id, id, employee_number, worker_id)", ErrMalformed, path)
	}

	var recs []resync.Record
	var problems []*resync.RecordError
	for {
		row, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %s: %w", ErrMalformed, path, err)
		}
		line, _ := r.FieldPos(0)
		id, problem := hrisRow(row, fields, names)
		if problem != "" {
			problems = append(problems, &resync.RecordError{Kind: resync.KindIdentity, Key: id.Key,
				Reason: fmt.Sprintf("%s line %d: %s", path, line, problem)})
			id.Key = "" // served as Page.Rejected: see connector.load
		}
		recs = append(recs, id)
	}
	return recs, problems, nil
}

// hrisRow builds the identity of one row; problem says why it is malformed.
func hrisRow(row []string, fields []int, names []string) (*resync.Identity, string) {
	id := &resync.Identity{Status: resync.StatusActive}
	var first, last, name, nameCol string
	var problems []string
	for i, v := range row {
		v = strings.TrimSpace(v)
		if i >= len(fields) {
			if v != "" {
				problems = append(problems, fmt.Sprintf("%d fields, the header has %d (an unquoted comma?)", len(row), len(fields)))
				break
			}
			continue
		}
		switch fields[i] {
		case colKey:
			id.Key = v
		case colEmail:
			id.Email = v
		case colFirst:
			first = v
		case colLast:
			last = v
		case colName:
			name, nameCol = v, names[i]
		case colDepartment:
			id.Department = v
		case colTitle:
			id.Title = v
		case colManager:
			id.Manager = v
		case colStart, colEnd:
			t, ok := parseDate(v)
			if !ok {
				problems = append(problems, fmt.Sprintf("%s %q is not a date (want YYYY-MM-DD)", names[i], v))
			} else if fields[i] == colStart {
				id.StartDate = t
			} else {
				id.EndDate = t
			}
		case colStatus:
			st, ok := hrisStatus(v)
			if !ok {
				problems = append(problems, fmt.Sprintf("%s %q is not active, terminated, leave or pre-hire", names[i], v))
			}
			id.Status = st
		default:
			if v != "" && names[i] != "" {
				if id.Attributes == nil {
					id.Attributes = map[string]string{}
				}
				id.Attributes[names[i]] = v
			}
		}
	}
	id.Name = strings.TrimSpace(first + " " + last)
	if id.Name == "" {
		id.Name = name
	} else if name != "" {
		if id.Attributes == nil {
			id.Attributes = map[string]string{}
		}
		id.Attributes[nameCol] = name
	}
	if id.Key == "" {
		problems = append(problems, "empty employee ID")
	}
	return id, strings.Join(problems, ", ")
}
