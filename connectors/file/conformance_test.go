package file_test

import (
	"testing"

	"github.com/openresync/resync"
	"github.com/openresync/resync/connectors/file"
	"github.com/openresync/resync/resynctest"
)

// TestConformance runs the connector contract suite on each format, with
// pages small enough that every read spans several of them.
func TestConformance(t *testing.T) {
	t.Parallel()
	hris := "employee_id,email,first_name,last_name,employment_status,start_date\n" +
		"E1,a@acme.example,Ada,L,active,2020-01-01\n" +
		"E2,b@acme.example,Bob,M,leave,2020-02-01\n" +
		"E3,c@acme.example,Cy,N,terminated,2020-03-01\n" +
		"E4,d@acme.example,Di,O,active,\n" +
		"E5,e@acme.example,Ed,P,active,\n"
	accounts := `{"accounts": [
	  {"id": "A1", "username": "a", "status": "active", "roles": ["admin"], "mfa": true, "last_login": "2026-11-01T00:00:00Z"},
	  {"id": "A2", "username": "b", "status": "disabled", "mfa": false},
	  {"id": "A3", "username": "c", "mfa": null}
	]}`
	tests := []struct {
		format, content string
		want            int
	}{
		{file.FormatHRISCSV, hris, 5},
		{file.FormatIdPJSON, idpJSON, 7},
		{file.FormatAccountsJSON, accounts, 3},
	}
	for _, tc := range tests {
		t.Run(tc.format, func(t *testing.T) {
			t.Parallel()
			path := writeFile(t, "export", tc.content)
			for _, size := range []string{"2", "100"} {
				t.Run("page_size="+size, func(t *testing.T) {
					resynctest.TestConnector(t, func(t *testing.T) resync.Connector {
						return newConn(t, path, tc.format, "page_size", size)
					}, resynctest.ConnectorOptions{WantRecords: tc.want})
				})
			}
		})
	}
}
