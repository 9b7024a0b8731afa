package aws

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// ErrMalformed is wrapped by the error for a credential report that cannot
// be read at all (no header, a required column missing).
var ErrMalformed = errors.New("aws: malformed response")

// rootUser is the credential report's name for the account's root user.
const rootUser = "<root_account>"

// reportRow is one user's line of the IAM credential report
// (https://docs.aws.amazon.com/IAM/latest/UserGuide/credential-reports.html#id_credentials_understanding_the_report_format).
type reportRow struct {
	user, arn           string
	passwordEnabled     string // "true", "false", or "not_supported" for the root user
	passwordLastUsed    time.Time
	passwordLastChanged string
	mfaActive           bool
	keyActive           [2]bool
	keyLastUsed         [2]time.Time
	keyLastRotated      [2]string
	certActive          [2]bool
	err                 error // a field that did not parse
}

// reportColumns are the columns the connector reads; a report without one
// of them is malformed. Others are ignored, so columns AWS adds do not
// break the read.
var reportColumns = []string{
	"user", "arn", "password_enabled", "password_last_used", "password_last_changed", "mfa_active",
	"access_key_1_active", "access_key_1_last_rotated", "access_key_1_last_used_date",
	"access_key_2_active", "access_key_2_last_rotated", "access_key_2_last_used_date",
	"cert_1_active", "cert_2_active",
}

// parseReport decodes the credential report's CSV (GetCredentialReport's
// Content, already base64-decoded by the SDK) into rows by ARN. A row whose
// fields do not parse keeps the error in reportRow.err; a report without
// its header or a required column is an error wrapping ErrMalformed.
func parseReport(content []byte) (map[string]*reportRow, error) {
	r := csv.NewReader(bytes.NewReader(content))
	header, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("%w: credential report: reading the header: %v", ErrMalformed, err)
	}
	col := map[string]int{}
	for i, h := range header {
		col[strings.TrimSpace(h)] = i
	}
	for _, name := range reportColumns {
		if _, ok := col[name]; !ok {
			return nil, fmt.Errorf("%w: credential report: no column %q", ErrMalformed, name)
		}
	}
	r.FieldsPerRecord = len(header)
	rows := map[string]*reportRow{}
	for line := 2; ; line++ {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) && errors.Is(pe.Err, csv.ErrFieldCount) && len(rec) > max(col["arn"], col["user"]) && rec[col["arn"]] != "" {
				// The ARN is still there: the user's record is rejected
				// rather than read without its report line.
				rows[rec[col["arn"]]] = &reportRow{arn: rec[col["arn"]], user: rec[col["user"]],
					err: fmt.Errorf("credential report line %d: %d fields, want %d", line, len(rec), len(header))}
				continue
			}
			return nil, fmt.Errorf("%w: credential report line %d: %v", ErrMalformed, line, err)
		}
		row := &reportRow{user: rec[col["user"]], arn: rec[col["arn"]]}
		get := func(name string) string { return strings.TrimSpace(rec[col[name]]) }
		var errs []error
		boolField := func(name string) bool {
			switch v := get(name); v {
			case "true", "TRUE":
				return true
			case "false", "FALSE", "N/A", "not_supported", "":
				return false
			default:
				errs = append(errs, fmt.Errorf("%s %q", name, v))
				return false
			}
		}
		timeField := func(name string) time.Time {
			switch v := get(name); v {
			case "N/A", "no_information", "not_supported", "":
				return time.Time{}
			default:
				t, err := time.Parse(time.RFC3339, v)
				if err != nil {
					errs = append(errs, fmt.Errorf("%s %q", name, v))
				}
				return t
			}
		}
		row.passwordEnabled = get("password_enabled")
		row.passwordLastUsed = timeField("password_last_used")
		row.passwordLastChanged = get("password_last_changed")
		row.mfaActive = boolField("mfa_active")
		for i, p := range []string{"access_key_1_", "access_key_2_"} {
			row.keyActive[i] = boolField(p + "active")
			row.keyLastUsed[i] = timeField(p + "last_used_date")
			row.keyLastRotated[i] = get(p + "last_rotated")
		}
		row.certActive[0] = boolField("cert_1_active")
		row.certActive[1] = boolField("cert_2_active")
		switch row.passwordEnabled {
		case "true", "false", "not_supported":
		default:
			errs = append(errs, fmt.Errorf("password_enabled %q", row.passwordEnabled))
		}
		if row.arn == "" {
			// Nothing can match it to a user: the report is broken.
			return nil, fmt.Errorf("%w: credential report line %d: no arn", ErrMalformed, line)
		}
		if len(errs) > 0 {
			row.err = fmt.Errorf("credential report line %d: bad %w", line, errors.Join(errs...))
		}
		rows[row.arn] = row
	}
	return rows, nil
}
