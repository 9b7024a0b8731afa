package postgres

import (
	"bytes"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/openresync/resync"
)

// checkText rejects strings PostgreSQL text cannot hold: NUL bytes and
// invalid UTF-8. Checking first turns the server's encoding error into a
// clear one, before anything is written.
func checkText(field, v string) error {
	if strings.IndexByte(v, 0) >= 0 {
		return fmt.Errorf("%w: postgres: %s %q contains a NUL byte, which PostgreSQL text cannot hold", resync.ErrInvalidRequest, field, trunc(v))
	}
	if !utf8.ValidString(v) {
		return fmt.Errorf("%w: postgres: %s %q is not valid UTF-8", resync.ErrInvalidRequest, field, trunc(v))
	}
	return nil
}

// checkTexts checks name/value pairs with checkText.
func checkTexts(pairs ...string) error {
	for i := 0; i+1 < len(pairs); i += 2 {
		if err := checkText(pairs[i], pairs[i+1]); err != nil {
			return err
		}
	}
	return nil
}

// checkRecordJSON rejects encoded records PostgreSQL jsonb cannot hold
// exactly: a \u0000 escape (a NUL byte in a string) is refused by jsonb,
// and a \ufffd escape is how encoding/json writes invalid UTF-8, which
// would not round-trip. encoding/json writes valid U+FFFD characters
// unescaped, so the escape means the input was invalid.
func checkRecordJSON(what, key string, b []byte) error {
	for i := 0; i < len(b); i++ {
		if b[i] != '\\' || i+1 >= len(b) {
			continue
		}
		if b[i+1] == 'u' && i+6 <= len(b) {
			switch string(bytes.ToLower(b[i+2 : i+6])) {
			case "0000":
				return fmt.Errorf("%w: postgres: %s %q: a string contains a NUL byte, which PostgreSQL cannot store", resync.ErrInvalidRequest, what, trunc(key))
			case "fffd":
				return fmt.Errorf("%w: postgres: %s %q: a string is not valid UTF-8", resync.ErrInvalidRequest, what, trunc(key))
			}
		}
		i++ // skip the escaped character
	}
	return nil
}

func trunc(s string) string {
	if len(s) <= 64 {
		return s
	}
	return s[:64] + "..."
}

// PostgreSQL keeps microseconds; the store keeps the nanoseconds below
// them in a separate column where a caller's time must round-trip exactly.

func splitTime(t time.Time) (time.Time, int32) {
	ns := int32(t.Nanosecond() % 1000)
	return t.Add(-time.Duration(ns)), ns
}

func joinTime(t time.Time, ns int32) time.Time { return t.Add(time.Duration(ns)).UTC() }

func utc(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}
