package ldap_test

import (
	"context"
	"fmt"

	"github.com/openresync/resync"
	"github.com/openresync/resync/connectors/ldap"
)

// Connections of two directories, registered under one provider name
// each: an OpenLDAP server with the defaults, and Active Directory over
// LDAPS with nested groups. The host keeps the bind password with the
// connection and hands it over in Settings.
func Example() {
	openldap := resync.Connection{ID: "ldap-hq", Tenant: "acme", Type: resync.IdP, Provider: "ldap", Settings: map[string]string{
		"url":           "ldap://ldap.acme.example",
		"start_tls":     "true",
		"bind_dn":       "cn=resync,ou=services,dc=acme,dc=example",
		"bind_password": "from the host's secret store",
		"base_dn":       "dc=acme,dc=example",
		"user_base_dn":  "ou=people,dc=acme,dc=example",
		"group_base_dn": "ou=groups,dc=acme,dc=example",
	}}
	ad := resync.Connection{ID: "ad-corp", Tenant: "acme", Type: resync.IdP, Provider: "ad", Settings: map[string]string{
		"url":           "ldaps://dc1.corp.acme.example",
		"preset":        ldap.PresetActiveDirectory,
		"bind_dn":       "CN=svc-resync,OU=Service Accounts,DC=corp,DC=acme,DC=example",
		"bind_password": "from the host's secret store",
		"base_dn":       "DC=corp,DC=acme,DC=example",
		"user_filter":   "(&(objectCategory=person)(objectClass=user)(!(sAMAccountName=krbtgt)))",
		"nested_groups": "true",
		"page_size":     "1000",
	}}
	for _, conn := range []resync.Connection{openldap, ad} {
		// New checks the settings without contacting the server; the
		// engine calls it through Factory for every read.
		if _, err := ldap.Factory(context.Background(), conn); err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Println(conn.ID, "ok")
	}
	_ = resync.Config{Connectors: map[string]resync.ConnectorFactory{"ldap": ldap.Factory, "ad": ldap.Factory}}

	bad := resync.Connection{ID: "typo", Settings: map[string]string{"url": "ldap://x", "base_dn": "dc=x", "user_filter": "objectClass=person"}}
	_, err := ldap.Factory(context.Background(), bad)
	fmt.Println(resync.IsPermanent(err), err)
	// Output:
	// ldap-hq ok
	// ad-corp ok
	// true resync: invalid request: ldap connector (connection "typo"): setting "user_filter": filter "objectClass=person" must be in parentheses, like (objectClass=person)
}
