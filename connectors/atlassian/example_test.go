package atlassian_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/openresync/resync"
	"github.com/openresync/resync/connectors/atlassian"
)

// A connector reads the application roles, the groups and their members,
// then the users as accounts holding the roles their groups grant. Here the
// site is a stand-in answering the REST API's documented JSON.
func Example() {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		jsw := `{"groupId":"276f955c","name":"jira-software-users"}`
		user := `{"accountId":"5b10ac8d82e05b22cc7d4ef5","accountType":"atlassian","emailAddress":"mia@example.com","displayName":"Mia Krystof","active":true}`
		switch r.URL.Path {
		case "/rest/api/3/applicationrole":
			fmt.Fprint(w, `[{"key":"jira-software","name":"Jira Software","groupDetails":[`+jsw+`]}]`)
		case "/rest/api/3/group/bulk":
			fmt.Fprint(w, `{"startAt":0,"maxResults":50,"total":1,"isLast":true,"values":[`+jsw+`]}`)
		case "/rest/api/3/group/member":
			fmt.Fprint(w, `{"startAt":0,"maxResults":50,"total":1,"isLast":true,"values":[`+user+`]}`)
		case "/rest/api/3/users/search":
			if r.URL.Query().Get("startAt") == "0" {
				fmt.Fprint(w, `[`+user+`]`)
				return
			}
			fmt.Fprint(w, `[]`)
		}
	}))
	defer srv.Close()

	conn := resync.Connection{ID: "jira", Tenant: "t1", Type: resync.AccessReview, Provider: "atlassian",
		Settings: map[string]string{"url": srv.URL, "email": "admin@example.com", "api_token": "from the host's vault"}}
	c, err := atlassian.New(conn, atlassian.Config{HTTPClient: srv.Client()})
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
				fmt.Println("account", r.Key, r.OwnerEmail, r.Status, r.Roles)
			case *resync.Group:
				fmt.Println("group", r.Key, r.Name, r.Members)
			}
		}
		if cursor = page.Next; cursor == "" {
			break
		}
	}
	// Output:
	// group 276f955c jira-software-users [5b10ac8d82e05b22cc7d4ef5]
	// account 5b10ac8d82e05b22cc7d4ef5 mia@example.com active [jira-software]
}
