// Package sampleorg is the sample organisation of the examples: Acme's HRIS
// export (CSV), identity provider export (JSON) and AWS account export
// (JSON), the files connectors/file reads, so that the examples run with no
// server and no credentials.
package sampleorg

import (
	"embed"
	"io/fs"
	"os"
	"path/filepath"

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
