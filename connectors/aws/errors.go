package aws

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	idtypes "github.com/aws/aws-sdk-go-v2/service/identitystore/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/openresync/resync"
	"github.com/openresync/resync/connkit"
)

// MinThrottleWait is the least the engine is asked to wait after a
// throttling error that does not say how long to wait (IAM's Throttling
// never does).
const MinThrottleWait = time.Second

// throttleCodes are the error codes AWS services use for throttling (the
// SDK's own retryer treats the same codes as throttles).
var throttleCodes = map[string]bool{
	"Throttling":                             true,
	"ThrottlingException":                    true,
	"ThrottledException":                     true,
	"RequestThrottledException":              true,
	"TooManyRequestsException":               true,
	"ProvisionedThroughputExceededException": true,
	"TransactionInProgressException":         true,
	"RequestLimitExceeded":                   true,
	"BandwidthLimitExceeded":                 true,
	"LimitExceededException":                 true,
	"RequestThrottled":                       true,
	"SlowDown":                               true,
	"PriorRequestNotComplete":                true,
	"EC2ThrottledException":                  true,
}

// transientCodes are server-side failures worth another try.
var transientCodes = map[string]bool{
	"ServiceUnavailable":          true,
	"ServiceUnavailableException": true,
	"InternalFailure":             true,
	"InternalError":               true,
	"InternalServerException":     true,
	"ServiceFailure":              true,
	"RequestTimeout":              true,
	"RequestTimeoutException":     true,
}

// classify turns an SDK error into the engine's classification (see the
// package doc's Errors). The SDK's messages name the operation, the HTTP
// status, the request ID and the service's error code and message; they
// never carry credentials.
func (c *connector) classify(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	err = fmt.Errorf("aws: connection %q: %w", c.conn.ID, err)
	status := 0
	var header http.Header
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) && re.Response != nil {
		status = re.HTTPStatusCode()
		header = re.Response.Header
	}
	code := ""
	var ae smithy.APIError
	if errors.As(err, &ae) {
		code = ae.ErrorCode()
	}
	switch {
	case throttleCodes[code] || status == http.StatusTooManyRequests:
		return resync.RetryAfter(err, throttleWait(err, header))
	case transientCodes[code] || status >= 500 || status == http.StatusRequestTimeout:
		if d := advertisedWait(header); d > 0 {
			return resync.RetryAfter(err, d)
		}
		return err
	case status >= 400 || code != "":
		// AccessDenied, InvalidClientTokenId, SignatureDoesNotMatch,
		// ExpiredToken, NoSuchEntity, ValidationError, ...: asking again
		// gives the same answer.
		return resync.Permanent(err)
	}
	// No response: a network error, or credentials that could not be
	// loaded from the environment.
	return err
}

// throttleWait is how long a throttled request asks to wait: its
// Retry-After, else the identity store's RetryAfterSeconds, else
// MinThrottleWait.
func throttleWait(err error, h http.Header) time.Duration {
	d := advertisedWait(h)
	var te *idtypes.ThrottlingException
	if d <= 0 && errors.As(err, &te) && te.RetryAfterSeconds > 0 {
		d = time.Duration(te.RetryAfterSeconds) * time.Second
	}
	return max(d, MinThrottleWait)
}

// advertisedWait reads Retry-After (seconds or an HTTP date, against the
// response's Date).
func advertisedWait(h http.Header) time.Duration {
	if h == nil {
		return 0
	}
	now := time.Now()
	rl := connkit.ParseRateLimit(h, now)
	if rl.RetryAfter.IsZero() {
		return 0
	}
	return rl.RetryAfter.Sub(now)
}
