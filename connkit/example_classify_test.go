package connkit_test

import (
	"fmt"
	"net/http"
	"net/url"

	"github.com/openresync/resync"
	"github.com/openresync/resync/connkit"
)

func ExampleClassifyHTTP() {
	u, _ := url.Parse("https://api.example.com/users?after=abc&access_token=s3cr3t")
	req := &http.Request{Method: http.MethodGet, URL: u}

	throttled := &http.Response{StatusCode: 429, Header: http.Header{"Retry-After": {"30"}}, Request: req}
	err := connkit.ClassifyHTTP(throttled, nil, nil)
	d, ok := resync.RetryDelay(err)
	fmt.Println(err != nil, resync.IsPermanent(err), d, ok)

	denied := &http.Response{StatusCode: 401, Header: http.Header{}, Request: req}
	err = connkit.ClassifyHTTP(denied, []byte(`{"error":"invalid_token"}`), nil)
	fmt.Println(resync.IsPermanent(err), err)
	// Output:
	// true false 30s true
	// true GET https://api.example.com/users?access_token=REDACTED&after=abc: 401 Unauthorized: {"error":"invalid_token"}
}
