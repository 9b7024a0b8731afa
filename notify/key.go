package notify

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"

	"github.com/openresync/resync"
)

// Key returns n's idempotency key: n.ID when set (the engine always sets
// it), else "sha256:" and a hash of the notification's kind, channel,
// tenant, run, held change set and recipients' IDs, which is just as
// stable across delivery attempts of one notification.
func Key(n resync.Notification) string {
	if n.ID != "" {
		return n.ID
	}
	parts := []string{string(n.Kind), string(n.Channel), n.Tenant, n.Run.ID}
	if n.Held != nil {
		parts = append(parts, n.Held.ID, string(n.Held.Decision.Kind))
	}
	for _, p := range n.Recipients {
		parts = append(parts, p.ID)
	}
	h := sha256.New()
	for _, p := range parts {
		// Length-prefixed so that no two part lists hash alike.
		h.Write([]byte{byte(len(p) >> 24), byte(len(p) >> 16), byte(len(p) >> 8), byte(len(p))})
		h.Write([]byte(p))
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// SafeHeader returns s fit for a single header line: every control
// character (CR and LF included, which could otherwise start a header of
// the sender's choosing) replaced by a space, and runs of spaces folded.
func SafeHeader(s string) string {
	var b strings.Builder
	space := false
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == '\u2028' || r == '\u2029' || (r >= 0x80 && r < 0xa0) {
			r = ' '
		}
		if r == ' ' {
			if space {
				continue
			}
			space = true
		} else {
			space = false
		}
		b.WriteRune(r)
	}
	return strings.TrimSpace(b.String())
}
