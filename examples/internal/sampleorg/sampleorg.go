// Package sampleorg is the sample organisation of the examples: Acme's HRIS
// export (CSV), identity provider export (JSON) and AWS account export
// (JSON), the files connectors/file reads, so that the examples run with no
// server and no credentials.
package sampleorg

import (
	"context"
	"embed"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/openresync/resync"
	"github.com/openresync/resync/connectors/file"
)

//go:embed data
var data embed.FS

// Tenant is the sample organisation's tenant.
const Tenant = "acme"

// Admin is the tenant's administrator.
var Admin = resync.Principal{ID: "u-ada", Email: "ada.lovelace@acme.example", Name: "Ada Lovelace"}

// Write writes the sample exports (hris.csv, idp.json, aws.json) to dir,
// creating it.
func Write(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return fs.WalkDir(data, "data", func(path string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		b, err := data.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, e.Name()), b, 0o644)
	})
}

// Connections are the tenant's connections to the exports Write wrote to
// dir, read pageSize records a page by the providers "bamboohr", "okta" and
// "aws", each of which the examples serve with connectors/file.
func Connections(dir, pageSize string) []resync.Connection {
	settings := func(name, format string) map[string]string {
		return map[string]string{"path": filepath.Join(dir, name), "format": format, "page_size": pageSize}
	}
	return []resync.Connection{
		{ID: "hris", Tenant: Tenant, Type: resync.HRIS, Provider: "bamboohr", Name: "BambooHR", Settings: settings("hris.csv", file.FormatHRISCSV)},
		{ID: "idp", Tenant: Tenant, Type: resync.IdP, Provider: "okta", Name: "Okta", Settings: settings("idp.json", file.FormatIdPJSON)},
		{ID: "aws-prod", Tenant: Tenant, Type: resync.Infrastructure, Provider: "aws", Name: "AWS prod", Settings: settings("aws.json", file.FormatAccountsJSON)},
	}
}

// WithLatency wraps a factory so that every page read takes at least d:
// the sample files are read so fast that there would be no progress to show.
func WithLatency(f resync.ConnectorFactory, d time.Duration) resync.ConnectorFactory {
	return func(ctx context.Context, conn resync.Connection) (resync.Connector, error) {
		c, err := f(ctx, conn)
		if err != nil {
			return nil, err
		}
		return &slowConnector{Connector: c, delay: d}, nil
	}
}

type slowConnector struct {
	resync.Connector
	delay time.Duration
}

func (s *slowConnector) ReadPage(ctx context.Context, cursor string) (resync.Page, error) {
	t := time.NewTimer(s.delay)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return resync.Page{}, ctx.Err()
	case <-t.C:
	}
	return s.Connector.ReadPage(ctx, cursor)
}

// CheckHealth passes the check on to the wrapped connector.
func (s *slowConnector) CheckHealth(ctx context.Context) error {
	if hc, ok := s.Connector.(resync.HealthChecker); ok {
		return hc.CheckHealth(ctx)
	}
	_, err := s.Connector.ReadPage(ctx, "")
	return err
}
