package connkit

import (
	"bytes"
	"io"
	"net/http"
)

// Transport returns an http.RoundTripper that sends each request through c,
// for a provider's own client library (go-github, client-go, ...): the
// library builds the requests and decodes the pages, the kit authenticates,
// bounds the body, reads the rate-limit fields and classifies failures.
//
// A 2xx comes back as an http.Response holding the body the kit read;
// anything else comes back as the kit's classified error (resync.Permanent,
// resync.RetryAfter or transient), which net/http wraps in a *url.Error
// that the library returns as it is, so the library never sees a failing
// response and nothing retries but the engine. Turn the library's own
// retries and rate limiting off. Requests with a body need GetBody (as
// http.NewRequest sets it) for the kit's one resend after a renewed token.
func (c *Client) Transport() http.RoundTripper { return clientTransport{c} }

type clientTransport struct{ kit *Client }

func (t clientTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		defer req.Body.Close() // the RoundTripper contract
	}
	resp, err := t.kit.Do(req)
	if err != nil {
		return nil, err
	}
	return &http.Response{
		Status:        http.StatusText(resp.StatusCode),
		StatusCode:    resp.StatusCode,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        resp.Header,
		Body:          io.NopCloser(bytes.NewReader(resp.Body)),
		ContentLength: int64(len(resp.Body)),
		Request:       req,
	}, nil
}
