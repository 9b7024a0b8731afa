package main

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
)

// This file edits the copied exports the way the source systems would
// change them.

// editHRIS terminates Jane Doe and adds the new hire to hris.csv.
func (d *demo) editHRIS() error {
	path := filepath.Join(d.dir, "hris.csv")
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	rows, err := csv.NewReader(f).ReadAll()
	f.Close()
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	found := false
	for _, r := range rows[1:] {
		if r[col["employee_id"]] == "E003" {
			r[col["employment_status"]] = "terminated"
			r[col["end_date"]] = "2026-11-30"
			found = true
		}
	}
	if !found {
		return fmt.Errorf("%s: no employee E003", path)
	}
	rows = append(rows, []string{"E013", "sam.rivera@acme.example", "Sam", "Rivera", "Engineering", "Engineer",
		"grace.hopper@acme.example", "2026-12-01", "", "active", "Remote"})
	out, err := os.Create(path)
	if err != nil {
		return err
	}
	cw := csv.NewWriter(out)
	_ = cw.WriteAll(rows)
	return errors.Join(cw.Error(), out.Close())
}

// idpExport is the shape of idp.json.
type idpExport struct {
	Users  []idpUser  `json:"users"`
	Groups []idpGroup `json:"groups"`
}

type idpUser struct {
	ID      string            `json:"id"`
	Status  string            `json:"status"`
	Profile map[string]string `json:"profile"`
	Groups  []string          `json:"groups,omitempty"`
}

type idpGroup struct {
	ID      string            `json:"id"`
	Profile map[string]string `json:"profile"`
	Members []string          `json:"members"`
}

func (x *idpExport) user(id string) *idpUser {
	for i := range x.Users {
		if x.Users[i].ID == id {
			return &x.Users[i]
		}
	}
	return &idpUser{} // absent: edits go nowhere, and the change log shows it
}

func (x *idpExport) group(id string) *idpGroup {
	for i := range x.Groups {
		if x.Groups[i].ID == id {
			return &x.Groups[i]
		}
	}
	return &idpGroup{}
}

func without(list []string, s string) []string {
	return slices.DeleteFunc(slices.Clone(list), func(v string) bool { return v == s })
}

// editIdP rewrites idp.json after fn changes it.
func (d *demo) editIdP(fn func(*idpExport)) error {
	var x idpExport
	return editJSON(filepath.Join(d.dir, "idp.json"), &x, func() { fn(&x) })
}

// editAccounts rewrites aws.json with the accounts fn returns.
func (d *demo) editAccounts(fn func([]map[string]any) []map[string]any) error {
	var x struct {
		Accounts []map[string]any `json:"accounts"`
	}
	return editJSON(filepath.Join(d.dir, "aws.json"), &x, func() { x.Accounts = fn(x.Accounts) })
}

func editJSON(path string, v any, edit func()) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	edit()
	if data, err = json.MarshalIndent(v, "", "  "); err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}
