package gitlab

import (
	"errors"
	"strconv"
	"testing"
)

// FuzzCursor: any string either parses into a cursor that names what it
// said, or is refused with errCursor; nothing panics.
func FuzzCursor(f *testing.F) {
	for _, s := range []string{"", "members:1", "members:12", "members:0", "members:01", "members:-1", "users:",
		"users:https://gitlab.example.com/api/v4/users?cursor=eyJpZCI6IjEwIn0%3D&per_page=100", "users:/relative", "users:%zz", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := parseCursor(s)
		if err != nil {
			if !errors.Is(err, errCursor) {
				t.Fatalf("parseCursor(%q): %v is not errCursor", s, err)
			}
			return
		}
		var back string
		switch c.kind {
		case cursorStart:
			back = ""
		case cursorMembers:
			if c.page < 1 {
				t.Fatalf("parseCursor(%q): page %d", s, c.page)
			}
			back = membersCursor + strconv.FormatInt(c.page, 10)
		case cursorUsers:
			back = usersCursor + c.next
		}
		if back != s {
			t.Fatalf("parseCursor(%q) = %+v, which prints as %q", s, c, back)
		}
	})
}
