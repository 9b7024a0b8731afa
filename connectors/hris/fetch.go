package hris

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"syscall"
	"time"

	"github.com/openresync/resync"
	"github.com/openresync/resync/connkit"
)

var defaultClient = &http.Client{Timeout: 5 * time.Minute}

// fetch returns the export's bytes, from the file or the URL, and the
// response's Content-Type in URL mode.
func (c *connector) fetch(ctx context.Context) (data []byte, ctype string, err error) {
	if c.cfg.Fetch != nil {
		data, ctype, err = c.cfg.Fetch(ctx)
		if err == nil && int64(len(data)) > c.maxBytes {
			err = resync.Permanent(fmt.Errorf(`%w: %s: larger than %d bytes (raise the "max_bytes" setting)`, ErrMalformed, c.src, c.maxBytes))
		}
		return data, ctype, err
	}
	if c.url != nil {
		return c.get(ctx)
	}
	f, err := os.Open(c.path)
	if err != nil {
		return nil, "", fileErr(c.path, err)
	}
	defer f.Close()
	data, err = readLimited(f, c.maxBytes)
	if err != nil {
		return nil, "", fileErr(c.path, err)
	}
	return data, "", nil
}

// fileErr classifies a file error: a missing, forbidden or oversized file
// is permanent, other I/O errors are retried.
func fileErr(path string, err error) error {
	err = fmt.Errorf("hris: reading %s: %w", path, err)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EISDIR) || errors.Is(err, ErrMalformed) {
		return resync.Permanent(err)
	}
	return err
}

// readLimited reads r to the end, failing with ErrMalformed past limit bytes.
func readLimited(r io.Reader, limit int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf(`%w: larger than %d bytes (raise the "max_bytes" setting)`, ErrMalformed, limit)
	}
	return data, nil
}

// get fetches the export over HTTPS with the connector kit's client, which
// authenticates, bounds the body, classifies failures (Retry-After on 429
// and 503 included) and keeps credentials out of its errors and logs.
func (c *connector) get(ctx context.Context) ([]byte, string, error) {
	accept := "text/csv, application/json;q=0.9, */*;q=0.5"
	switch c.format {
	case formatCSV:
		accept = "text/csv, */*;q=0.5"
	case formatJSON:
		accept = "application/json, */*;q=0.5"
	}
	client := &connkit.Client{
		BaseURL:      c.url.String(),
		HTTPClient:   c.cfg.HTTPClient,
		Header:       http.Header{"Accept": {accept}},
		MaxBodyBytes: c.maxBytes,
		Logger:       c.cfg.Logger,
		Now:          c.cfg.Clock.Now,
	}
	if client.HTTPClient == nil {
		client.HTTPClient = defaultClient
	}
	switch {
	case c.token != "":
		client.Auth = connkit.Bearer(c.token)
	case c.user != "":
		client.Auth = connkit.Basic(c.user, c.pass)
	}
	resp, err := client.Get(ctx, "", nil)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, "", ctxErr
		}
		return nil, "", fmt.Errorf("hris: %w", err)
	}
	return resp.Body, resp.Header.Get("Content-Type"), nil
}

// redactURL is the URL for messages: no credentials, no query (Workday
// report URLs and signed links carry tokens there).
func redactURL(u *url.URL) string {
	r := *u
	r.User = nil
	if r.RawQuery != "" {
		r.RawQuery = "…"
	}
	r.Fragment = ""
	return r.String()
}
