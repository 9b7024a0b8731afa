package connkit_test

import (
	"context"
	"fmt"
	"time"

	"github.com/openresync/resync"
	"github.com/openresync/resync/connkit"
	"github.com/openresync/resync/memstore"
	"github.com/openresync/resync/resynctest"
)

// acmeUser is a user as the Acme API returns it.
type acmeUser struct {
	ID     string `json:"id"`
	Email  string `json:"email"`
	Active bool   `json:"active"`
}

// acme reads the users of an Acme tenant. Its cursor is the URL of the
// next page, from the Link header.
type acme struct{ client *connkit.Client }

func (a *acme) ReadPage(ctx context.Context, cursor string) (resync.Page, error) {
	if cursor == "" {
		cursor = "users?limit=2"
	}
	var users []acmeUser
	resp, err := a.client.GetJSON(ctx, cursor, nil, &users)
	if err != nil {
		return resync.Page{}, err // classified: the engine retries or stops
	}
	page := resync.Page{Next: resp.NextLink(), NotBefore: resp.NotBefore()}
	for _, u := range users {
		status := resync.StatusActive
		if !u.Active {
			status = resync.StatusSuspended
		}
		page.Records = append(page.Records, &resync.Identity{Key: u.ID, Email: u.Email, Status: status})
	}
	return page, nil
}

// A complete connector on the kit, read by an engine from a fake Acme API
// that pages with Link headers, sends Okta's rate-limit fields on every
// response and answers the second page with a 503 once.
func Example() {
	ctx := context.Background()
	api := resynctest.NewProvider(resynctest.ProviderConfig{Token: "s3cr3t-token", RateLimit: resynctest.RateLimitOkta},
		resynctest.ProviderUsers("00u", 5))
	defer api.Close()
	api.Fail(resynctest.ProviderFault{Page: 2, Status: 503, Body: `{"errorCode":"E0000009"}`})
	api.Update(func(users []resynctest.ProviderUser) []resynctest.ProviderUser {
		users[4].Active = false
		return users
	})

	factory := func(ctx context.Context, c resync.Connection) (resync.Connector, error) {
		return &acme{client: &connkit.Client{
			BaseURL: c.Settings["base_url"] + "/",
			Auth:    connkit.Bearer(c.Settings["token"]), // from the host's secret store
		}}, nil
	}
	src := resynctest.NewSource()
	src.Add(resync.Connection{ID: "acme-1", Tenant: "t1", Type: resync.IdP, Provider: "acme", Name: "Acme",
		Settings: map[string]string{"base_url": api.URL(), "token": "s3cr3t-token"}})
	engine, err := resync.New(ctx, resync.Config{
		Store:       memstore.New(),
		Connections: src,
		Connectors:  map[string]resync.ConnectorFactory{"acme": factory},
		Authorizer:  resynctest.AllowAll,
		Retry:       resync.RetryPolicy{InitialInterval: time.Millisecond},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer engine.Close(ctx)
	run, err := engine.ResyncPersonnel(ctx, "t1", resync.Principal{ID: "admin"})
	if err != nil {
		fmt.Println(err)
		return
	}
	info, _ := run.Wait(ctx)
	c := info.Connections[0]
	fmt.Printf("%s: %s, %d pages, %d requests, added %d\n", c.Name, c.Status, c.Pages, c.Attempts, c.Added)
	// Output:
	// Acme: succeeded, 3 pages, 4 requests, added 5
}
