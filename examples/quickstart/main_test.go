package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestRun(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	require.NoError(t, run(t.Context(), &out, dir, filepath.Join(t.TempDir(), "resync.db")))
	got := out.String()
	defer func() {
		if t.Failed() {
			t.Log(got)
		}
	}()

	for _, want := range []string{
		"ok  BambooHR", "ok  Okta", "ok  AWS prod",
		"A personnel resync will read BambooHR, Okta, AWS prod.",
		// The four changes, field by field.
		"~ identity E003 jane.doe@acme.example: status active → deprovisioned, end_date (none) → 2026-11-30\n",
		"~ identity 00u3 jane.doe@acme.example: status active → deprovisioned\n",
		"+ identity E013 sam.rivera@acme.example: Sam Rivera, Engineer, Engineering, active\n",
		"+ identity 00u13 sam.rivera@acme.example: Sam Rivera, Engineer, Engineering, active\n",
		"~ identity 00u6 barbara.liskov@acme.example: groups -Engineering +Sales\n",
		"~ group 00g1 Engineering: members -barbara.liskov@acme.example +sam.rivera@acme.example\n",
		"~ group 00g2 Sales: members +barbara.liskov@acme.example\n",
		"- account AIDA0000000000000004 jane.doe\n",
		// Linking: the gap opens with the offboarding and closes with the
		// accounts resync.
		"offboarding gap opened: hris:E003 still has AWS prod user AIDA0000000000000004 (hris:E003 terminated at the HRIS)\n",
		"offboarding gap closed: hris:E003 no longer has AWS prod user AIDA0000000000000004 (open since ",
		// The personnel resync's completion notice counts the gap it opened.
		"[notify email → ada.lovelace@acme.example] Personnel resync succeeded, 1 new offboarding gap\n",
		// The delete guard.
		"[notify in_app → ada.lovelace@acme.example] Removal of 16 records from Okta held for review",
		"[notify email → ada.lovelace@acme.example] Removal of 16 records from Okta held for review",
		"the read returned no records, the snapshot has 16\n",
		"0 to add, 0 to update, 16 to remove\n",
		"Okta snapshot intact: 13 identities, 3 groups; 0 held change sets left",
		"[notify email → ada.lovelace@acme.example] Accounts resync (infrastructure) succeeded",
		"\nDone.\n",
	} {
		assert.Contains(t, got, want)
	}

	// Exactly the edited records changed: 7 in the personnel resync, 1 in
	// the accounts resync.
	counts := regexp.MustCompile(`change log of run \S+: (\d+) changes?`).FindAllStringSubmatch(got, -1)
	require.Len(t, counts, 2)
	assert.Equal(t, "7", counts[0][1])
	assert.Equal(t, "1", counts[1][1])

	// Summary rows: connection, status, read, added, updated, removed, rejected.
	rows := regexp.MustCompile(`(?m)^    (BambooHR|Okta|AWS prod) +(\w+) +(\d+) +(\d+) +(\d+) +(\d+) +(\d+) +\S+$`).FindAllStringSubmatch(got, -1)
	var table []string
	for _, r := range rows {
		table = append(table, strings.Join(r[1:], " "))
	}
	assert.Equal(t, []string{
		"BambooHR succeeded 12 12 0 0 0", "Okta succeeded 15 15 0 0 0", "AWS prod succeeded 6 6 0 0 0",
		"BambooHR succeeded 13 1 1 0 0", "Okta succeeded 16 1 4 0 0", "AWS prod succeeded 6 0 0 0 0",
		"AWS prod succeeded 5 0 0 1 0",
		"BambooHR succeeded 13 0 0 0 0", "Okta held 0 0 0 16 0", "AWS prod succeeded 5 0 0 0 0",
	}, table)
	assert.Regexp(t, `run \S+: partial\n`, got)
	assert.Regexp(t, `Okta was not applied: .*held.*\n  held change set: \S+/idp/1\n`, got)

	// Progress lines end at each connection's total.
	assert.Contains(t, got, "BambooHR  succeeded   12/12")
	assert.Contains(t, got, "Okta      succeeded   16/16")

	// The edited exports stay in -dir.
	idp, err := os.ReadFile(filepath.Join(dir, "idp.json"))
	require.NoError(t, err)
	assert.Contains(t, string(idp), `"users": []`)
}

func TestRunErrors(t *testing.T) {
	t.Run("dir is a file", func(t *testing.T) {
		f := filepath.Join(t.TempDir(), "f")
		require.NoError(t, os.WriteFile(f, nil, 0o600))
		var out bytes.Buffer
		err := run(t.Context(), &out, f, filepath.Join(t.TempDir(), "resync.db"))
		require.Error(t, err)
		assert.Contains(t, err.Error(), f)
	})
	t.Run("canceled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		var out bytes.Buffer
		err := run(ctx, &out, t.TempDir(), filepath.Join(t.TempDir(), "resync.db"))
		assert.ErrorIs(t, err, context.Canceled)
	})
}

// A second run on the same store starts from the first run's snapshot: its
// first resync applies only what differs (the first run's edits, undone by
// the fresh sample exports).
func TestSecondRunSeesTheFirstRunsSnapshot(t *testing.T) {
	db := filepath.Join(t.TempDir(), "resync.db")
	var first, second bytes.Buffer
	require.NoError(t, run(t.Context(), &first, t.TempDir(), db))
	require.NoError(t, run(t.Context(), &second, t.TempDir(), db))
	got := second.String()
	defer func() {
		if t.Failed() {
			t.Log(got)
		}
	}()
	assert.NotContains(t, first.String(), "earlier run's snapshot")
	assert.Contains(t, got, "holds an earlier run's snapshot")
	for _, want := range []string{
		"~ identity E003 jane.doe@acme.example: status deprovisioned → active, end_date 2026-11-30 → (none)\n",
		"- identity 00u13 sam.rivera@acme.example\n",
		"~ identity 00u6 barbara.liskov@acme.example: groups -Sales +Engineering\n",
		"+ account AIDA0000000000000004 jane.doe",
	} {
		assert.Contains(t, got, want)
	}
	counts := regexp.MustCompile(`change log of run \S+: (\d+) changes?`).FindAllStringSubmatch(got, -1)
	require.Len(t, counts, 3)
	assert.Equal(t, []string{"8", "7", "1"}, []string{counts[0][1], counts[1][1], counts[2][1]})
	assert.Contains(t, got, "\nDone.\n")
}
