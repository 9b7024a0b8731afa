package knowbe4_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/openresync/resync"
	"github.com/openresync/resync/connectors/knowbe4"
)

// A connector reads the training enrollments, then the users as accounts
// carrying their training, then the groups. Here the Reporting API is a
// stand-in answering its documented JSON.
func Example() {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("page") != "1" {
			fmt.Fprint(w, `[]`)
			return
		}
		switch r.URL.Path + "?" + r.URL.Query().Get("status") {
		case "/v1/training/enrollments?":
			fmt.Fprint(w, `[{"enrollment_id":1425526,"module_name":"Phishing 101","campaign_name":"Annual 2026",
				"user":{"id":667542},"completion_date":"2026-02-01T10:00:00.000Z","status":"Passed"}]`)
		case "/v1/users?active":
			fmt.Fprint(w, `[{"id":667542,"email":"wmarcoux@example.com","first_name":"William","last_name":"Marcoux",
				"status":"active","groups":[3264]}]`)
		case "/v1/groups?":
			fmt.Fprint(w, `[{"id":3264,"name":"Customer Success"}]`)
		default:
			fmt.Fprint(w, `[]`)
		}
	}))
	defer srv.Close()

	conn := resync.Connection{ID: "kb4", Tenant: "t1", Type: resync.SecurityTraining, Provider: "knowbe4",
		Settings: map[string]string{"url": srv.URL + "/v1/", "token": "a secret from the host's vault"}}
	c, err := knowbe4.New(conn, knowbe4.Config{HTTPClient: srv.Client()})
	if err != nil {
		panic(err)
	}
	for cursor := ""; ; {
		page, err := c.ReadPage(context.Background(), cursor)
		if err != nil {
			panic(err)
		}
		for _, r := range page.Records {
			switch r := r.(type) {
			case *resync.Account:
				fmt.Println("account", r.Key, r.OwnerEmail, r.Status, r.Attributes["training_status"], r.Attributes["training_last_completed"])
			case *resync.Group:
				fmt.Println("group", r.Key, r.Name, r.Members)
			}
		}
		if cursor = page.Next; cursor == "" {
			break
		}
	}
	// Output:
	// account 667542 wmarcoux@example.com active completed 2026-02-01
	// group 3264 Customer Success [667542]
}
