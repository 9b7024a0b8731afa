package aws

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/identitystore"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/openresync/resync"
	"github.com/openresync/resync/connkit"
)

// Modes of the "mode" setting.
const (
	// ModeIAM reads the account's IAM users and groups (the default).
	ModeIAM = "iam"
	// ModeIdentityCenter reads the users and groups of an IAM Identity
	// Center identity store.
	ModeIdentityCenter = "identity_center"
)

// Page sizes of the "page_size" setting.
const (
	// MaxIAMPageSize is the largest MaxItems GetAccountAuthorizationDetails
	// accepts, and the default page size in ModeIAM.
	MaxIAMPageSize = 1000
	// MaxIdentityStorePageSize is the largest MaxResults the identity
	// store's List operations accept, and the default page size in
	// ModeIdentityCenter.
	MaxIdentityStorePageSize = 100
)

// DefaultRegion is the region used when a connection sets none: IAM is a
// global service signed in us-east-1.
const DefaultRegion = "us-east-1"

// Config is what the host gives every connector of this package, beside
// each connection's settings.
type Config struct {
	// HTTPClient sends the requests to AWS. Nil means the SDK's default
	// client.
	HTTPClient *http.Client
	// Credentials are the host's own AWS credentials, the identity that
	// assumes each connection's "role_arn". Nil means the SDK's default
	// chain (environment, shared config and credentials files, web
	// identity, ECS and EC2 instance roles), loaded once per read. A
	// connection with "access_key_id" and "secret_access_key" uses those
	// instead.
	Credentials awssdk.CredentialsProvider
	// BaseEndpoint, if set, is the URL every request goes to instead of
	// the endpoints AWS's endpoint rules resolve (IAM, STS and the identity
	// store alike): a proxy, or a local server in tests.
	BaseEndpoint string
}

// defaultHTTPClient is shared by the connectors of every read, so that
// their connections are reused rather than left idle per read.
var defaultHTTPClient = awshttp.NewBuildableClient()

// Factory is the resync.ConnectorFactory of this package with the zero
// Config.
var Factory = NewFactory(Config{})

// secretSettings are the settings resolved with resync.Secret.
var secretSettings = []string{"access_key_id", "secret_access_key", "session_token", "external_id"}

// NewFactory returns a resync.ConnectorFactory building connectors with
// cfg, for resync.Config.Connectors.
func NewFactory(cfg Config) resync.ConnectorFactory {
	roles := &roleCache{}
	return func(ctx context.Context, conn resync.Connection) (resync.Connector, error) {
		conn, err := connkit.ResolveSecrets(ctx, conn, secretSettings...)
		if err != nil {
			return nil, fmt.Errorf("aws connector: %w", err)
		}
		return newConnector(ctx, conn, cfg, roles)
	}
}

// maxCachedRoles bounds the assumed-role credentials a factory keeps.
const maxCachedRoles = 10000

// roleCache keeps each role's credentials between the reads of one
// factory, so a read within the session's lifetime (an hour) needs no
// AssumeRole; the SDK's cache renews them before they expire.
type roleCache struct {
	mu sync.Mutex
	m  map[string]*awssdk.CredentialsCache
}

func (rc *roleCache) get(key string, mk func() *awssdk.CredentialsCache) *awssdk.CredentialsCache {
	if rc == nil {
		return mk()
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if c := rc.m[key]; c != nil {
		return c
	}
	if rc.m == nil || len(rc.m) >= maxCachedRoles {
		rc.m = map[string]*awssdk.CredentialsCache{}
	}
	c := mk()
	rc.m[key] = c
	return c
}

// settings are a connection's checked settings.
type settings struct {
	mode            string
	region          string
	roleARN         string
	externalID      string
	sessionName     string
	accessKeyID     string
	secretAccessKey string
	sessionToken    string
	identityStoreID string
	pageSize        int
}

var knownSettings = map[string]bool{
	"mode": true, "region": true, "role_arn": true, "external_id": true, "session_name": true,
	"access_key_id": true, "secret_access_key": true, "session_token": true,
	"identity_store_id": true, "page_size": true,
}

func parseSettings(conn resync.Connection) (settings, error) {
	s := conn.Settings
	bad := func(format string, args ...any) error {
		return resync.Permanent(fmt.Errorf("%w: aws connector (connection %q): %s",
			resync.ErrInvalidRequest, conn.ID, fmt.Sprintf(format, args...)))
	}
	for _, k := range slices.Sorted(maps.Keys(s)) {
		if !knownSettings[k] {
			return settings{}, bad("unknown setting %q", k)
		}
	}
	st := settings{
		mode:            strings.TrimSpace(s["mode"]),
		region:          strings.TrimSpace(s["region"]),
		roleARN:         strings.TrimSpace(s["role_arn"]),
		externalID:      s["external_id"],
		sessionName:     strings.TrimSpace(s["session_name"]),
		accessKeyID:     s["access_key_id"],
		secretAccessKey: s["secret_access_key"],
		sessionToken:    s["session_token"],
		identityStoreID: strings.TrimSpace(s["identity_store_id"]),
	}
	switch st.mode {
	case "":
		st.mode = ModeIAM
	case ModeIAM, ModeIdentityCenter:
	default:
		return settings{}, bad(`setting "mode" is %q, want %q or %q`, st.mode, ModeIAM, ModeIdentityCenter)
	}
	if st.region == "" {
		if st.mode == ModeIdentityCenter {
			return settings{}, bad(`set "region", the region of the IAM Identity Center instance`)
		}
		st.region = DefaultRegion
	}
	if st.roleARN != "" && !strings.HasPrefix(st.roleARN, "arn:") {
		return settings{}, bad(`setting "role_arn" is not an ARN (arn:aws:iam::<account>:role/<name>)`)
	}
	if st.externalID != "" && st.roleARN == "" {
		return settings{}, bad(`setting "external_id" is set but "role_arn" is not`)
	}
	if st.sessionName == "" {
		st.sessionName = "resync"
	}
	if (st.accessKeyID == "") != (st.secretAccessKey == "") {
		return settings{}, bad(`"access_key_id" and "secret_access_key" go together`)
	}
	if st.sessionToken != "" && st.accessKeyID == "" {
		return settings{}, bad(`setting "session_token" is set without "access_key_id"`)
	}
	switch st.mode {
	case ModeIAM:
		if st.identityStoreID != "" {
			return settings{}, bad(`setting "identity_store_id" is for mode %q`, ModeIdentityCenter)
		}
		st.pageSize = MaxIAMPageSize
	case ModeIdentityCenter:
		if st.identityStoreID == "" {
			return settings{}, bad(`set "identity_store_id" (d-1234567890) for mode %q`, ModeIdentityCenter)
		}
		st.pageSize = MaxIdentityStorePageSize
	}
	if v := strings.TrimSpace(s["page_size"]); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > st.pageSize {
			return settings{}, bad(`setting "page_size" is %q, want a whole number from 1 to %d`, v, st.pageSize)
		}
		st.pageSize = n
	}
	return st, nil
}

// New returns a Connector reading the AWS account (or identity store)
// that conn.Settings names (see the package doc). It checks the settings
// and, when neither the connection nor cfg gives credentials, loads the
// SDK's default credential chain; AWS is first asked by ReadPage or
// CheckHealth. A bad setting is a resync.Permanent error wrapping
// resync.ErrInvalidRequest, naming the setting and never quoting a
// credential. Credential settings must already be resolved (NewFactory
// does it).
func New(ctx context.Context, conn resync.Connection, cfg Config) (resync.Connector, error) {
	return newConnector(ctx, conn, cfg, nil)
}

func newConnector(ctx context.Context, conn resync.Connection, cfg Config, roles *roleCache) (resync.Connector, error) {
	st, err := parseSettings(conn)
	if err != nil {
		return nil, err
	}
	ac := awssdk.Config{
		Region: st.region,
		// The engine retries pages: the SDK must not retry requests.
		Retryer:          func() awssdk.Retryer { return awssdk.NopRetryer{} },
		RetryMaxAttempts: 1,
	}
	var hc awssdk.HTTPClient = defaultHTTPClient
	if cfg.HTTPClient != nil {
		hc = cfg.HTTPClient
	}
	ac.HTTPClient = bufferedClient{hc, MaxBodyBytes}
	if cfg.BaseEndpoint != "" {
		ac.BaseEndpoint = awssdk.String(cfg.BaseEndpoint)
	}
	switch {
	case st.accessKeyID != "":
		ac.Credentials = credentials.NewStaticCredentialsProvider(st.accessKeyID, st.secretAccessKey, st.sessionToken)
	case cfg.Credentials != nil:
		ac.Credentials = cfg.Credentials
	default:
		def, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(st.region))
		if err != nil {
			return nil, resync.Permanent(fmt.Errorf("aws connector (connection %q): loading the default credentials: %w", conn.ID, err))
		}
		ac.Credentials = def.Credentials
	}
	if st.roleARN != "" {
		// The same role, external ID, session and base key reuse the
		// credentials a read before this one was given.
		sum := sha256.Sum256([]byte(strings.Join([]string{st.region, st.roleARN, st.externalID, st.sessionName, st.accessKeyID, st.secretAccessKey}, "\x00")))
		key := string(sum[:])
		base := ac
		ac.Credentials = roles.get(key, func() *awssdk.CredentialsCache {
			provider := stscreds.NewAssumeRoleProvider(sts.NewFromConfig(base), st.roleARN, func(o *stscreds.AssumeRoleOptions) {
				o.RoleSessionName = st.sessionName
				if st.externalID != "" {
					o.ExternalID = awssdk.String(st.externalID)
				}
			})
			return awssdk.NewCredentialsCache(provider)
		})
	}
	c := &connector{conn: conn, st: st}
	switch st.mode {
	case ModeIAM:
		c.iam = iam.NewFromConfig(ac)
	case ModeIdentityCenter:
		c.ids = identitystore.NewFromConfig(ac)
	}
	return c, nil
}

// connector reads one connection. The engine builds one per read and uses
// it from one goroutine at a time (the resync.Connector contract); it
// keeps what the read has gathered so far (the credential report, the
// groups and their members).
type connector struct {
	conn resync.Connection
	st   settings

	iam *iam.Client
	ids *identitystore.Client

	ir  *iamRead
	isr *idRead
}

var (
	_ resync.Connector     = (*connector)(nil)
	_ resync.HealthChecker = (*connector)(nil)
)

// ReadPage reads the page at cursor (see the package doc's Capabilities).
func (c *connector) ReadPage(ctx context.Context, cursor string) (resync.Page, error) {
	if err := ctx.Err(); err != nil {
		return resync.Page{}, err
	}
	if c.st.mode == ModeIdentityCenter {
		return c.readIdentityStore(ctx, cursor)
	}
	return c.readIAM(ctx, cursor)
}

// CheckHealth makes one cheap request with the connection's credentials
// (the role assumed first): one page of one group in ModeIAM, one user in
// ModeIdentityCenter.
func (c *connector) CheckHealth(ctx context.Context) error {
	if c.st.mode == ModeIdentityCenter {
		_, err := c.ids.ListUsers(ctx, &identitystore.ListUsersInput{
			IdentityStoreId: awssdk.String(c.st.identityStoreID), MaxResults: awssdk.Int32(1)})
		return c.classify(err)
	}
	_, err := c.iam.ListGroups(ctx, &iam.ListGroupsInput{MaxItems: awssdk.Int32(1)})
	return c.classify(err)
}

func (c *connector) badCursor(cursor string) error {
	if len(cursor) > 40 {
		cursor = cursor[:40] + "..."
	}
	return resync.Permanent(fmt.Errorf("aws: connection %q: cursor %q is not one of this connector's", c.conn.ID, cursor))
}

// restart is returned for a cursor of a read this connector value did not
// start (a new process): what earlier pages gathered is gone.
func (c *connector) restart(cursor string) error {
	if len(cursor) > 40 {
		cursor = cursor[:40] + "..."
	}
	return resync.RestartRead(fmt.Errorf("aws: connection %q: cursor %q continues a read this connector did not start", c.conn.ID, cursor))
}

// MaxBodyBytes bounds a response body: a larger one is a permanent error.
// A page of 1,000 users with their inline policy documents, or the
// credential report of a large account, is a few MiB.
const MaxBodyBytes = 256 << 20

// bufferedClient reads each response body whole before the SDK sees it.
// The SDK closes the request body as soon as the response headers arrive;
// net/http's write loop, still checking that body for its end, then closes
// the connection under the response being read, and a large page fails
// with "use of closed network connection" (aws-sdk-go-v2 issues 1825 and
// 2737). With the body read first, nothing is left to lose.
type bufferedClient struct {
	c   awssdk.HTTPClient
	max int64 // MaxBodyBytes
}

func (b bufferedClient) Do(r *http.Request) (*http.Response, error) {
	resp, err := b.c.Do(r)
	if err != nil || resp == nil || resp.Body == nil {
		return resp, err
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, b.max+1))
	_ = resp.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("reading the response: %w", err)
	}
	if int64(len(body)) > b.max {
		return nil, resync.Permanent(fmt.Errorf("response body over %d bytes", b.max))
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	return resp, nil
}
