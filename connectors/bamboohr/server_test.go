package bamboohr_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/openresync/resync/resynctest"
)

const (
	testDomain = "acme"
	testKey    = "bhr-key-5f1e9c0d7a"
)

// employee is one employee of the fake company, by BambooHR field name.
type employee map[string]any

// company is a local server speaking the wire format of BambooHR's
// "Request Custom Report" endpoint
// (https://documentation.bamboohr.com/reference/request-custom-report):
// POST /api/gateway.php/<companyDomain>/v1/reports/custom?format=JSON
// with a JSON body {"fields":[...]} sent as exactly
// "Content-Type: application/json", HTTP basic authentication with the API
// key as the user name and any password
// (https://documentation.bamboohr.com/docs/getting-started#authentication),
// and a response {"title", "fields":[{"id","type","name"}], "employees":
// [{"id":"123", <field>: value or null, ...}]} holding every employee,
// Active and Inactive, with only the fields asked for (unknown ones left
// out). Errors are bare statuses with the reason in the
// X-BambooHR-Error-Message header (https://documentation.bamboohr.com/docs/api-details);
// over its limit it answers 503 with Retry-After.
type company struct {
	*httptest.Server
	mu        sync.Mutex
	employees []employee
	faults    []resynctest.ProviderFault
	requests  atomic.Int64
	lastBody  map[string][]string
}

func newCompany(t testing.TB) *company {
	t.Helper()
	c := &company{}
	c.Server = httptest.NewTLSServer(http.HandlerFunc(c.serve))
	t.Cleanup(func() {
		c.Client().CloseIdleConnections()
		c.Close()
	})
	return c
}

// baseURL is the "base_url" setting pointing at the server.
func (c *company) baseURL() string { return c.URL + "/api/gateway.php/" }

func (c *company) fail(f resynctest.ProviderFault) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if f.Times == 0 {
		f.Times = 1
	}
	c.faults = append(c.faults, f)
}

func (c *company) set(emps ...employee) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.employees = emps
}

func (c *company) serve(w http.ResponseWriter, r *http.Request) {
	c.requests.Add(1)
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.faults) > 0 {
		f := &c.faults[0]
		for k, v := range f.Header {
			w.Header()[k] = v
		}
		w.Header().Set("X-BambooHR-Error-Message", "injected")
		w.WriteHeader(f.Status)
		if f.Times--; f.Times <= 0 {
			c.faults = c.faults[1:]
		}
		return
	}
	if user, _, ok := r.BasicAuth(); !ok || user != testKey {
		w.Header().Set("X-BambooHR-Error-Message", "Invalid API key")
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if r.URL.Path != "/api/gateway.php/"+testDomain+"/v1/reports/custom" {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	if r.Method != http.MethodPost || r.URL.Query().Get("format") != "JSON" || r.Header.Get("Content-Type") != "application/json" {
		w.Header().Set("X-BambooHR-Error-Message", "Malformed XML")
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	var body map[string][]string
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || len(body["fields"]) == 0 {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	c.lastBody = body
	fields := body["fields"]
	type fieldInfo struct {
		ID   string `json:"id"`
		Type string `json:"type"`
		Name string `json:"name"`
	}
	out := struct {
		Title     string           `json:"title"`
		Fields    []fieldInfo      `json:"fields"`
		Employees []map[string]any `json:"employees"`
	}{Title: "Report"}
	for _, f := range fields {
		if f != "id" {
			out.Fields = append(out.Fields, fieldInfo{ID: f, Type: "text", Name: f})
		}
	}
	for _, e := range c.employees {
		row := map[string]any{"id": e["id"]}
		for _, f := range fields {
			if v, ok := e[f]; ok {
				row[f] = v
			} else if f != "id" {
				row[f] = nil
			}
		}
		out.Employees = append(out.Employees, row)
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

// staff is n employees: #1 the CEO, the others reporting to the one
// before them in steps of ten; every seventh on leave, every
// thirteenth terminated in May 2026, every nineteenth hired after
// today.
func staff(n int) []employee {
	var out []employee
	for i := 1; i <= n; i++ {
		e := employee{
			"id":                      strconv.Itoa(1000 + i),
			"employeeNumber":          fmt.Sprintf("E-%d", i),
			"firstName":               fmt.Sprintf("First%d", i),
			"lastName":                fmt.Sprintf("Last%d", i),
			"workEmail":               fmt.Sprintf("User%d@acme.example", i),
			"department":              fmt.Sprintf("Dept %d", i%12),
			"jobTitle":                "Engineer",
			"hireDate":                "2020-01-15",
			"terminationDate":         "0000-00-00",
			"status":                  "Active",
			"employmentHistoryStatus": "Full-Time",
			"location":                "Remote",
		}
		if i > 1 {
			e["supervisorEId"] = strconv.Itoa(1000 + max(1, i-10))
		}
		switch {
		case i%13 == 0:
			e["status"], e["terminationDate"], e["employmentHistoryStatus"] = "Inactive", "2026-05-29", "Terminated"
		case i%19 == 0:
			e["hireDate"] = "2026-08-03"
		case i%7 == 0:
			e["employmentHistoryStatus"] = "Leave of Absence"
		}
		out = append(out, e)
	}
	return out
}

func (c *company) lastFields() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.lastBody["fields"])
}
