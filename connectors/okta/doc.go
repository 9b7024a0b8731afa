// Package okta is a resync connector for Okta.
package okta
