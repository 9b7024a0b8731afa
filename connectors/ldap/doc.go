// Package ldap is a resync connector for LDAP directories.
package ldap
