package resync

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// secretPrefix starts a setting's value that is a secret reference.
const secretPrefix = "secret:"

// secretsKey is the context key of the engine's Config.Secrets.
type secretsKey struct{}

// secretsContext hands the engine's resolver to a connector's factory.
func (e *Engine) secretsContext(ctx context.Context) context.Context {
	return context.WithValue(ctx, secretsKey{}, e.cfg.Secrets)
}

// Secret returns the value of conn's setting name, for a connector's
// factory reading a credential: the setting as written, or, when it is a
// secret reference ("secret:" followed by the reference), the secret the
// engine's Config.Secrets resolves it to, called with ctx (the context the
// engine gave the factory). Every connector takes credentials this way, so
// a host keeps them all in its secret store alike.
//
// A reference that cannot be resolved (no Config.Secrets, or an error
// wrapping ErrNotFound) is a Permanent error naming the connection, the
// setting and the reference, never a secret; other resolver errors are
// returned wrapped as they are classified (a secret store briefly down is
// retried). An unset setting is "", nil.
func Secret(ctx context.Context, conn Connection, name string) (string, error) {
	v := conn.Settings[name]
	ref, ok := strings.CutPrefix(v, secretPrefix)
	if !ok {
		return v, nil
	}
	where := fmt.Sprintf("connection %q: setting %q: secret reference %q", conn.ID, name, ref)
	resolve, _ := ctx.Value(secretsKey{}).(func(context.Context, string) (string, error))
	if resolve == nil {
		return "", Permanent(fmt.Errorf("%w: %s: no secret resolver configured (Config.Secrets)", ErrInvalidRequest, where))
	}
	if ref == "" {
		return "", Permanent(fmt.Errorf("%w: %s is empty", ErrInvalidRequest, where))
	}
	s, err := resolve(ctx, ref)
	switch {
	case errors.Is(err, ErrNotFound):
		return "", Permanent(fmt.Errorf("%s not found: %w", where, err))
	case err != nil:
		return "", fmt.Errorf("%s: resolving: %w", where, err)
	}
	return s, nil
}
