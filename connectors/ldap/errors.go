package ldap

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/openresync/resync"
)

// ErrSizeLimit is wrapped by the error of a read the server cut short with
// sizeLimitExceeded: the bind DN may not read the whole directory even
// page by page. It is also resync.Permanent: the server's limits must
// change (OpenLDAP's size.prtotal for the bind DN, Active Directory's
// MaxResultSetSize), or the filter narrowed.
var ErrSizeLimit = errors.New("ldap: the server's size limit cut the read short")

// redactedError keeps the bind password out of an error's text, whatever
// produced it.
type redactedError struct {
	err    error
	secret string
}

func (e *redactedError) Error() string {
	msg := e.err.Error()
	if len(e.secret) >= 3 {
		msg = strings.ReplaceAll(msg, e.secret, "[REDACTED]")
	}
	return msg
}

func (e *redactedError) Unwrap() error { return e.err }

// wrap names the connector and connection in err and keeps the password out.
func (c *Connector) wrap(err error) error {
	return &redactedError{err: fmt.Errorf("ldap connector (connection %q, %s): %w", c.cfg.connID, c.cfg.url.Host, err), secret: c.cfg.password}
}

// isConnError reports whether err means the connection is gone (closed,
// reset, timed out), taking any paging cookie with it.
func isConnError(err error) bool {
	if goldap.IsErrorAnyOf(err, goldap.ErrorNetwork, goldap.LDAPResultTimeout, goldap.LDAPResultServerDown, goldap.LDAPResultConnectError) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// searchError classifies a failed page search. A resumed cookie that the
// server no longer knows, or whose connection died, restarts the read.
func (c *Connector) searchError(err error, cs cursor, base string) error {
	resumed := len(cs.cookie) > 0
	where := fmt.Sprintf("%s page %d", phaseName(cs.phase), cs.page)
	if isConnError(err) {
		c.closeConn()
		if resumed {
			return resync.RestartRead(c.wrap(fmt.Errorf("%s: the connection holding the paging cookie failed: %w", where, err)))
		}
		return c.wrap(fmt.Errorf("%s: %w", where, err))
	}
	switch {
	case goldap.IsErrorWithCode(err, goldap.LDAPResultSizeLimitExceeded):
		c.closeConn()
		return resync.Permanent(c.wrap(fmt.Errorf("%s: %w (raise the bind DN's paged-search limit, or narrow the filter): %w", where, ErrSizeLimit, err)))
	case resumed && goldap.IsErrorAnyOf(err, goldap.LDAPResultOperationsError, goldap.LDAPResultProtocolError, goldap.LDAPResultUnwillingToPerform):
		// OpenLDAP: protocolError or unwillingToPerform "paged results
		// cookie is invalid"; Active Directory: operationsError or
		// unwillingToPerform for an expired cookie.
		c.closeConn()
		return resync.RestartRead(c.wrap(fmt.Errorf("%s: the server no longer knows the paging cookie: %w", where, err)))
	case goldap.IsErrorWithCode(err, goldap.LDAPResultNoSuchObject):
		return resync.Permanent(c.wrap(fmt.Errorf("%s: base DN %q does not exist: %w", where, base, err)))
	}
	return c.classify(fmt.Errorf("%s: %w", where, err), resumed)
}

// classify marks err Permanent when retrying cannot fix it, and returns
// it as it is (retried by the engine) otherwise.
func (c *Connector) classify(err error, resumed bool) error {
	w := c.wrap(err)
	switch {
	case isConnError(err):
		return w
	case goldap.IsErrorAnyOf(err,
		goldap.LDAPResultBusy, goldap.LDAPResultUnavailable, goldap.LDAPResultTimeLimitExceeded,
		goldap.LDAPResultAdminLimitExceeded, goldap.LDAPResultLoopDetect, goldap.LDAPResultOther):
		return w
	case goldap.IsErrorAnyOf(err,
		goldap.LDAPResultInvalidCredentials, goldap.LDAPResultInappropriateAuthentication,
		goldap.LDAPResultInsufficientAccessRights, goldap.LDAPResultStrongAuthRequired,
		goldap.LDAPResultConfidentialityRequired, goldap.LDAPResultAuthMethodNotSupported,
		goldap.LDAPResultNoSuchObject, goldap.LDAPResultInvalidDNSyntax, goldap.LDAPResultFilterError,
		goldap.LDAPResultUndefinedAttributeType, goldap.LDAPResultInappropriateMatching,
		goldap.LDAPResultUnwillingToPerform, goldap.LDAPResultProtocolError,
		goldap.LDAPResultUnavailableCriticalExtension, goldap.LDAPResultOperationsError,
		goldap.ErrorFilterCompile, goldap.ErrorEmptyPassword):
		return resync.Permanent(w)
	}
	return w
}

// tlsError classifies a failed TLS handshake: a certificate that does not
// verify, or a server that refuses TLS, is permanent.
func (c *Connector) tlsError(ctx context.Context, err error) error {
	if err := ctxErr(ctx); err != nil {
		return c.wrap(fmt.Errorf("TLS with %s: %w", c.cfg.url.Host, err))
	}
	err = c.wrap(fmt.Errorf("TLS with %s: %w", c.cfg.url.Host, err))
	var (
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
		alert    tls.AlertError
	)
	if errors.As(err, &unknown) || errors.As(err, &hostname) || errors.As(err, &invalid) || errors.As(err, &alert) {
		return resync.Permanent(err)
	}
	// go-ldap's StartTLS keeps only the text of the handshake's error.
	if msg := err.Error(); strings.Contains(msg, "tls: failed to verify certificate") || strings.Contains(msg, "x509: ") {
		return resync.Permanent(err)
	}
	if goldap.IsErrorAnyOf(err, goldap.LDAPResultProtocolError, goldap.LDAPResultUnavailableCriticalExtension, goldap.LDAPResultConfidentialityRequired) {
		return resync.Permanent(err)
	}
	return err
}
