package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
)

// janeActive and janeLeft are Jane Doe's row of the sample HRIS export
// before and after her last day.
const (
	janeActive = "E003,jane.doe@acme.example,Jane,Doe,Sales,Account Executive,maria.garcia@acme.example,2021-01-11,,active,New York\n"
	janeLeft   = "E003,jane.doe@acme.example,Jane,Doe,Sales,Account Executive,maria.garcia@acme.example,2021-01-11,2026-11-30,terminated,New York\n"
)

// offboardJane sets the scene the page shows first: Jane Doe left on
// 2026-11-30 (hris.csv says terminated) but nobody has removed her AWS
// user yet, so the first personnel resync opens an offboarding gap.
func offboardJane(dir string) error {
	path := filepath.Join(dir, "hris.csv")
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if !bytes.Contains(b, []byte(janeActive)) {
		return fmt.Errorf("%s: Jane Doe's row is not the one the example expects", path)
	}
	return os.WriteFile(path, bytes.Replace(b, []byte(janeActive), []byte(janeLeft), 1), 0o644)
}
