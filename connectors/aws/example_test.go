package aws_test

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/openresync/resync"
	"github.com/openresync/resync/connectors/aws"
	"github.com/openresync/resync/memstore"
	"github.com/openresync/resync/resynctest"
)

// The host's own AWS identity assumes a read-only role in the customer's
// account, with the external ID the role's trust policy requires; the
// engine then reads the account's IAM users and groups. Here the requests
// go to a local server that speaks AWS's protocols (BaseEndpoint); in
// production leave BaseEndpoint empty and Credentials nil (the SDK's
// default chain: an instance or task role, say).
func Example() {
	fake := startFakeAWS()
	defer fake.close()
	fake.addUsers("dev", 3, 1)

	ctx := context.Background()
	src := resynctest.NewSource()
	src.Add(resync.Connection{ID: "aws-prod", Tenant: "acme", Type: resync.Infrastructure, Provider: "aws",
		Name: "AWS prod", Settings: map[string]string{
			"role_arn":    "arn:aws:iam::123456789012:role/resync-reader",
			"external_id": "ext-42", // or "secret:<ref>", resolved by Config.Secrets
		}})
	e, err := resync.New(ctx, resync.Config{Store: memstore.New(), Connections: src, Authorizer: resynctest.AllowAll,
		Connectors: map[string]resync.ConnectorFactory{"aws": aws.NewFactory(aws.Config{
			Credentials:  credentials.NewStaticCredentialsProvider(testKeyID, testSecret, ""),
			HTTPClient:   fake.srv.Client(),
			BaseEndpoint: fake.URL(),
		})}})
	if err != nil {
		panic(err)
	}
	defer e.Close(ctx)
	run, err := e.ResyncAccounts(ctx, "acme", resync.Principal{ID: "admin"}, resync.Infrastructure, "aws")
	if err != nil {
		panic(err)
	}
	info, err := run.Wait(ctx)
	if err != nil {
		panic(err)
	}
	res := info.Connections[0]
	fmt.Println(res.Status, "added:", res.Added)
	// Output: succeeded added: 5
}
