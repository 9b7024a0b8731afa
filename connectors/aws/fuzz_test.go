package aws

import (
	"errors"
	"strings"
	"testing"
	"time"
)

const reportHeader = "user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,cert_1_last_rotated,cert_2_active,cert_2_last_rotated\n"

func TestParseReport(t *testing.T) {
	rows, err := parseReport([]byte(reportHeader +
		"<root_account>,arn:aws:iam::123456789012:root,2020-01-01T00:00:00+00:00,not_supported,2026-11-30T08:00:00+00:00,not_supported,not_supported,true,false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A\n" +
		"alice,arn:aws:iam::123456789012:user/alice,2024-01-02T03:04:05+00:00,true,no_information,2025-06-01T00:00:00+00:00,N/A,false,true,2025-01-01T00:00:00+00:00,2026-11-02T09:00:00+00:00,us-east-1,s3,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A\n" +
		"bob,arn:aws:iam::123456789012:user/bob,2024-01-02T03:04:05+00:00,maybe,N/A,N/A,N/A,false,false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A\n" +
		"carol,arn:aws:iam::123456789012:user/carol,2024-01-02T03:04:05+00:00\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 4 {
		t.Fatalf("%d rows, want 4", len(rows))
	}
	root := rows["arn:aws:iam::123456789012:root"]
	if root.user != rootUser || !root.mfaActive || root.passwordEnabled != "not_supported" || root.err != nil {
		t.Errorf("root: %+v", root)
	}
	alice := rows["arn:aws:iam::123456789012:user/alice"]
	if alice.err != nil || alice.passwordEnabled != "true" || !alice.passwordLastUsed.IsZero() || !alice.keyActive[0] ||
		!alice.keyLastUsed[0].Equal(time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)) {
		t.Errorf("alice: %+v", alice)
	}
	if bob := rows["arn:aws:iam::123456789012:user/bob"]; bob.err == nil || !strings.Contains(bob.err.Error(), `password_enabled "maybe"`) {
		t.Errorf("bob's bad field not reported: %+v", bob)
	}
	if carol := rows["arn:aws:iam::123456789012:user/carol"]; carol.err == nil || !strings.Contains(carol.err.Error(), "3 fields, want 22") {
		t.Errorf("carol's short line not reported: %+v", carol)
	}
	for _, bad := range []string{"", "user,arn\nx,y\n", reportHeader + "\"unterminated,arn\n"} {
		if _, err := parseReport([]byte(bad)); !errors.Is(err, ErrMalformed) {
			t.Errorf("parseReport(%q) = %v, want ErrMalformed", bad, err)
		}
	}
}

// FuzzParseReport: any input gives rows keyed by a non-empty ARN, or an
// error wrapping ErrMalformed; never a panic.
func FuzzParseReport(f *testing.F) {
	f.Add([]byte(reportHeader + "alice,arn:aws:iam::1:user/alice,2024-01-02T03:04:05+00:00,true,N/A,N/A,N/A,true,false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A\n"))
	f.Add([]byte(reportHeader + "bob,arn:x,1,2,3\n"))
	f.Add([]byte("user,arn\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		rows, err := parseReport(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		for arn, row := range rows {
			if arn == "" || row.arn != arn {
				t.Fatalf("row keyed %q has arn %q", arn, row.arn)
			}
		}
	})
}
