package connkit

import (
	"context"
	"maps"

	"github.com/openresync/resync"
)

// ResolveSecrets returns conn with each of the named settings that it has
// resolved by resync.Secret: a secret reference ("secret:<ref>") replaced
// by the secret the engine's Config.Secrets gives, a plain value kept. It
// is what a factory calls on its credential settings before building the
// connector; conn's own settings map is not changed, so resolved secrets
// stay in the copy. Errors are resync.Secret's.
func ResolveSecrets(ctx context.Context, conn resync.Connection, names ...string) (resync.Connection, error) {
	settings := maps.Clone(conn.Settings)
	for _, name := range names {
		if _, ok := settings[name]; !ok {
			continue
		}
		v, err := resync.Secret(ctx, conn, name)
		if err != nil {
			return conn, err
		}
		settings[name] = v
	}
	conn.Settings = settings
	return conn, nil
}
