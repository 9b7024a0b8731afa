// Package connkit is the kit for writing HTTP connectors: a Client that
// authenticates, bounds and classifies responses and keeps secrets out of
// errors; the rate limits of every response; and helpers for the paging
// styles of HTTP APIs.
package connkit
