// This file is how go-github meets the connector kit: every request the
// go-github client makes is sent by a connkit.Client (Client.Transport),
// and its errors are mapped to the engine's classification here.

package github

import (
	"errors"
	"net/url"
	"time"

	gh "github.com/google/go-github/v93/github"

	"github.com/openresync/resync"
	"github.com/openresync/resync/connkit"
)

// secondaryWait is the least wait after a secondary rate limit without
// Retry-After: GitHub asks for at least a minute
// (https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api#exceeding-the-rate-limit).
const secondaryWait = 60 * time.Second

// classify returns the engine's classification of an error of a go-github
// call. The kit's errors reach go-github wrapped in a *url.Error by
// net/http: the kit's error is returned without that wrapper (it already
// names the method and the URL). go-github's own rate-limit errors, which it
// builds only from its own bookkeeping (turned off here, see newClient) or
// from a response the kit did not see, are mapped as the kit maps the
// responses they stand for: a primary limit waits until its reset, a
// secondary limit for its Retry-After or at least a minute.
func classify(err error) error {
	if err == nil {
		return nil
	}
	if ue, ok := errors.AsType[*url.Error](err); ok && ue.Err != nil {
		// Every error of the transport is the kit's, classified; net/http
		// only wrapped it.
		return ue.Err
	}
	if rl, ok := errors.AsType[*gh.RateLimitError](err); ok {
		return resync.RetryAfter(err, max(time.Until(rl.Rate.Reset.Time), time.Second))
	}
	if ab, ok := errors.AsType[*gh.AbuseRateLimitError](err); ok {
		d := secondaryWait
		if ab.RetryAfter != nil && *ab.RetryAfter > 0 {
			d = *ab.RetryAfter
		}
		return resync.RetryAfter(err, d)
	}
	if er, ok := errors.AsType[*gh.ErrorResponse](err); ok && er.Response != nil {
		return connkit.ClassifyHTTP(er.Response, []byte(er.Message), nil)
	}
	return err
}
