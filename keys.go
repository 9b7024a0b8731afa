package resync

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// connKey identifies a connection across tenants: two tenants may both have
// a connection "okta".
type connKey struct{ tenant, id string }

func keyOf(c Connection) connKey { return connKey{c.Tenant, c.ID} }

// joinKey joins parts into one string that no other parts give: each part
// is quoted, so a "/" or a NUL inside a tenant or connection ID cannot make
// tenant "a/b" with connection "c" meet tenant "a" with connection "b/c".
func joinKey(kind string, parts ...string) string {
	var b strings.Builder
	b.WriteString(kind)
	for _, p := range parts {
		b.WriteByte('/')
		b.WriteString(strconv.Quote(p))
	}
	return b.String()
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func newID(now time.Time) string {
	return fmt.Sprintf("%016x%s", now.UnixNano(), randomHex(4))
}
