package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/openresync/resync"
	"github.com/openresync/resync/connectors/atlassian"
	"github.com/openresync/resync/connectors/aws"
	"github.com/openresync/resync/connectors/bamboohr"
	"github.com/openresync/resync/connectors/datadog"
	"github.com/openresync/resync/connectors/entra"
	"github.com/openresync/resync/connectors/github"
	"github.com/openresync/resync/connectors/gitlab"
	"github.com/openresync/resync/connectors/google"
	"github.com/openresync/resync/connectors/hris"
	"github.com/openresync/resync/connectors/knowbe4"
	"github.com/openresync/resync/connectors/ldap"
	"github.com/openresync/resync/connectors/okta"
	"github.com/openresync/resync/connectors/scim"
)

// spec is one connector the program wires from environment variables: a
// connection is made when every variable in need is set.
type spec struct {
	id       string // the connection's ID and provider name
	name     string
	typ      resync.ConnectionType
	factory  resync.ConnectorFactory
	need     []string          // variables that must be set
	settings map[string]string // setting → variable (set only if the variable is)
	secrets  []string          // settings passed as secret references, never as values
	fixed    map[string]string // settings with constant values
}

// specs lists every shipped connector that talks to a live system. Each
// credential is handed to the connector as a secret reference
// ("secret:env/NAME"), which the engine's Config.Secrets resolves from
// the environment: no credential is ever stored in a connection's settings.
func specs() []spec {
	return []spec{
		{id: "okta", name: "Okta", typ: resync.IdP, factory: okta.Factory,
			need:     []string{"OKTA_ORG_URL", "OKTA_API_TOKEN"},
			settings: map[string]string{"url": "OKTA_ORG_URL", "token": "OKTA_API_TOKEN", "mfa": "OKTA_MFA"},
			secrets:  []string{"token"}},
		{id: "entra", name: "Microsoft Entra ID", typ: resync.IdP, factory: entra.Factory,
			need:     []string{"ENTRA_TENANT_ID", "ENTRA_CLIENT_ID", "ENTRA_CLIENT_SECRET"},
			settings: map[string]string{"tenant_id": "ENTRA_TENANT_ID", "client_id": "ENTRA_CLIENT_ID", "client_secret": "ENTRA_CLIENT_SECRET", "sign_in_activity": "ENTRA_SIGN_IN_ACTIVITY", "mfa": "ENTRA_MFA"},
			secrets:  []string{"client_secret"}},
		{id: "google", name: "Google Workspace", typ: resync.IdP, factory: google.Factory,
			need:     []string{"GOOGLE_CREDENTIALS_JSON", "GOOGLE_SUBJECT"},
			settings: map[string]string{"credentials_json": "GOOGLE_CREDENTIALS_JSON", "subject": "GOOGLE_SUBJECT", "customer": "GOOGLE_CUSTOMER", "domain": "GOOGLE_DOMAIN"},
			secrets:  []string{"credentials_json"}},
		{id: "github", name: "GitHub", typ: resync.VersionControl, factory: github.Factory,
			need:     []string{"GITHUB_ORG", "GITHUB_TOKEN"},
			settings: map[string]string{"org": "GITHUB_ORG", "token": "GITHUB_TOKEN", "base_url": "GITHUB_API_URL", "saml": "GITHUB_SAML"},
			secrets:  []string{"token"}},
		{id: "gitlab", name: "GitLab", typ: resync.VersionControl, factory: gitlab.Factory,
			need:     []string{"GITLAB_TOKEN", "GITLAB_GROUP"},
			settings: map[string]string{"token": "GITLAB_TOKEN", "group": "GITLAB_GROUP", "base_url": "GITLAB_API_URL", "users": "GITLAB_USERS"},
			secrets:  []string{"token"}},
		{id: "bamboohr", name: "BambooHR", typ: resync.HRIS, factory: bamboohr.Factory,
			need:     []string{"BAMBOOHR_COMPANY_DOMAIN", "BAMBOOHR_API_KEY"},
			settings: map[string]string{"company_domain": "BAMBOOHR_COMPANY_DOMAIN", "api_key": "BAMBOOHR_API_KEY"},
			secrets:  []string{"api_key"}},
		// AWS: the base credentials come from the SDK's usual chain
		// (AWS_PROFILE, AWS_ACCESS_KEY_ID, ...); the connection assumes a
		// role in the account to read.
		{id: "aws", name: "AWS IAM", typ: resync.Infrastructure, factory: aws.Factory,
			need:     []string{"AWS_RESYNC_ROLE_ARN"},
			settings: map[string]string{"role_arn": "AWS_RESYNC_ROLE_ARN", "external_id": "AWS_RESYNC_EXTERNAL_ID", "region": "AWS_RESYNC_REGION"}},
		{id: "aws-identity-center", name: "AWS IAM Identity Center", typ: resync.IdP, factory: aws.Factory,
			need:     []string{"AWS_IDENTITY_STORE_ID", "AWS_IDENTITY_CENTER_REGION"},
			settings: map[string]string{"identity_store_id": "AWS_IDENTITY_STORE_ID", "region": "AWS_IDENTITY_CENTER_REGION", "role_arn": "AWS_IDENTITY_CENTER_ROLE_ARN", "external_id": "AWS_IDENTITY_CENTER_EXTERNAL_ID"},
			fixed:    map[string]string{"mode": "identity_center"}},
		{id: "datadog", name: "Datadog", typ: resync.Observability, factory: datadog.Factory,
			need:     []string{"DATADOG_API_KEY", "DATADOG_APP_KEY"},
			settings: map[string]string{"api_key": "DATADOG_API_KEY", "application_key": "DATADOG_APP_KEY", "site": "DATADOG_SITE"},
			secrets:  []string{"api_key", "application_key"}},
		{id: "ldap", name: "LDAP directory", typ: resync.IdP, factory: ldap.Factory,
			need:     []string{"LDAP_URL", "LDAP_BASE_DN"},
			settings: map[string]string{"url": "LDAP_URL", "base_dn": "LDAP_BASE_DN", "bind_dn": "LDAP_BIND_DN", "bind_password": "LDAP_BIND_PASSWORD", "preset": "LDAP_PRESET", "start_tls": "LDAP_START_TLS"},
			secrets:  []string{"bind_password"}},
		{id: "scim", name: "SCIM service provider", typ: resync.IdP, factory: scim.Factory,
			need:     []string{"SCIM_URL", "SCIM_TOKEN"},
			settings: map[string]string{"url": "SCIM_URL", "token": "SCIM_TOKEN"},
			secrets:  []string{"token"}},
		{id: "hris", name: "HRIS export", typ: resync.HRIS, factory: hris.Factory,
			need:     []string{"HRIS_EXPORT_URL"},
			settings: map[string]string{"url": "HRIS_EXPORT_URL", "token": "HRIS_EXPORT_TOKEN", "preset": "HRIS_PRESET"},
			secrets:  []string{"token"}},
		{id: "knowbe4", name: "KnowBe4", typ: resync.SecurityTraining, factory: knowbe4.Factory,
			need:     []string{"KNOWBE4_API_TOKEN"},
			settings: map[string]string{"token": "KNOWBE4_API_TOKEN", "region": "KNOWBE4_REGION"},
			secrets:  []string{"token"}},
		{id: "atlassian", name: "Jira / Confluence", typ: resync.AccessReview, factory: atlassian.Factory,
			need:     []string{"ATLASSIAN_URL", "ATLASSIAN_EMAIL", "ATLASSIAN_API_TOKEN"},
			settings: map[string]string{"url": "ATLASSIAN_URL", "email": "ATLASSIAN_EMAIL", "api_token": "ATLASSIAN_API_TOKEN"},
			secrets:  []string{"api_token"}},
	}
}

// connectionsFromEnv makes a connection of tenant for each spec whose
// variables are set, and lists the specs left out with the variables they
// miss.
func connectionsFromEnv(tenant string, getenv func(string) string) (conns []resync.Connection, missing []string) {
	for _, s := range specs() {
		var unset []string
		for _, v := range s.need {
			if getenv(v) == "" {
				unset = append(unset, v)
			}
		}
		if len(unset) > 0 {
			missing = append(missing, fmt.Sprintf("%-10s set %s", s.id, strings.Join(unset, ", ")))
			continue
		}
		c := resync.Connection{ID: s.id, Tenant: tenant, Type: s.typ, Provider: s.id, Name: s.name, Settings: map[string]string{}}
		for k, v := range s.fixed {
			c.Settings[k] = v
		}
		for setting, v := range s.settings {
			if getenv(v) == "" {
				continue
			}
			if slices.Contains(s.secrets, setting) {
				c.Settings[setting] = "secret:env/" + v
			} else {
				c.Settings[setting] = getenv(v)
			}
		}
		conns = append(conns, c)
	}
	return conns, missing
}

// factories registers each spec's factory under its provider name.
func factories() map[string]resync.ConnectorFactory {
	m := map[string]resync.ConnectorFactory{}
	for _, s := range specs() {
		m[s.id] = s.factory
	}
	return m
}

// envSecrets resolves "env/NAME" references from the environment.
func envSecrets(_ context.Context, ref string) (string, error) {
	name, ok := strings.CutPrefix(ref, "env/")
	if !ok {
		return "", fmt.Errorf("%w: secret reference %q is not env/NAME", resync.ErrNotFound, ref)
	}
	v, ok := os.LookupEnv(name)
	if !ok || v == "" {
		return "", fmt.Errorf("%w: environment variable %s is not set", resync.ErrNotFound, name)
	}
	return v, nil
}
