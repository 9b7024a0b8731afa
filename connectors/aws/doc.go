// Package aws is a resync connector for AWS.
package aws
