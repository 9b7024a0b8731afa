package email

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/mail"
	"net/textproto"
	"strconv"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/openresync/resync"
	"github.com/openresync/resync/notify"
)

// TLSMode says how the connection to the SMTP server is encrypted.
type TLSMode string

// TLS modes.
const (
	// TLSStartTLS (the default) upgrades the connection with STARTTLS and
	// fails if the server does not offer it. Default port 587.
	TLSStartTLS TLSMode = "starttls"
	// TLSOpportunistic upgrades with STARTTLS when the server offers it
	// and sends in the clear when it does not. Default port 587.
	TLSOpportunistic TLSMode = "opportunistic"
	// TLSImplicit speaks TLS from the first byte (SMTPS). Default port 465.
	TLSImplicit TLSMode = "implicit"
	// TLSNone never encrypts: only for a relay on the same host or a test
	// server. Default port 25.
	TLSNone TLSMode = "none"
)

// Default values of Config fields.
const (
	DefaultTimeout = 30 * time.Second
)

// authMechanisms are the Config.Auth values, as go-mail names them.
var authMechanisms = map[string]gomail.SMTPAuthType{
	"":              gomail.SMTPAuthAutoDiscover,
	"AUTODISCOVER":  gomail.SMTPAuthAutoDiscover,
	"PLAIN":         gomail.SMTPAuthPlain,
	"LOGIN":         gomail.SMTPAuthLogin,
	"CRAM-MD5":      gomail.SMTPAuthCramMD5,
	"SCRAM-SHA-1":   gomail.SMTPAuthSCRAMSHA1,
	"SCRAM-SHA-256": gomail.SMTPAuthSCRAMSHA256,
}

// Config configures a Notifier. Every default is given on its field.
type Config struct {
	// Addr is the SMTP server: "host:port", or "host" for the TLS mode's
	// default port. Required.
	Addr string
	// TLS is how the connection is encrypted. Default TLSStartTLS.
	TLS TLSMode
	// TLSConfig sets trusted roots or client certificates. ServerName
	// defaults to Addr's host. Default: the system's roots.
	TLSConfig *tls.Config
	// Username and Password log in to the server; no login when Username
	// is empty. Password never appears in an error or in the output of fmt
	// or log/slog.
	Username string
	Password string
	// Auth is the SASL mechanism: "PLAIN", "LOGIN", "CRAM-MD5",
	// "SCRAM-SHA-1" or "SCRAM-SHA-256". Default "" picks the strongest
	// the server offers. PLAIN and LOGIN refuse an unencrypted connection.
	Auth string
	// From is the sender: "resync <noreply@example.com>" or a bare
	// address. Required.
	From string
	// MessageIDDomain is the right-hand side of every Message-ID.
	// Default: From's domain.
	MessageIDDomain string
	// Timeout bounds the connection and each SMTP command. Default
	// DefaultTimeout.
	Timeout time.Duration
	// Templates render the subject and bodies. Nil fields take the
	// defaults (see DefaultTemplates).
	Templates Templates
	// Link returns the address a message points to for n, such as the
	// run's page in the host's admin console
	// ("https://app.example.com/t/" + n.Tenant + "/resyncs/" + n.Run.ID).
	// Optional: without it the messages have no link.
	Link func(n resync.Notification) string
	// FindingsLink returns the address of the findings of kind
	// ("offboarding_gap", ...) that n's run opened, for a completion
	// message that lists them (RunInfo.Findings, which package linking
	// sets), such as the admin API's
	// "https://app.example.com/resync/findings?kind=" + kind + "&run=" +
	// url.QueryEscape(n.Run.ID) (package resynchttp) or a page of the
	// host's console. Optional: without it the counts have no link.
	FindingsLink func(n resync.Notification, kind string) string
	// Location is the time zone of the times in messages. Default UTC.
	Location *time.Location
	// Clock dates the messages. Default: the system clock.
	Clock resync.Clock
}

// String describes the configuration without its password.
func (c Config) String() string {
	pw := ""
	if c.Password != "" {
		pw = "REDACTED"
	}
	return fmt.Sprintf("email.Config{Addr: %s, TLS: %s, Username: %s, Password: %s, Auth: %s, From: %s, Timeout: %s}",
		c.Addr, c.TLS, c.Username, pw, c.Auth, c.From, c.Timeout)
}

// GoString describes the configuration without its password, for %#v.
func (c Config) GoString() string { return c.String() }

// LogValue describes the configuration without its password, for log/slog.
func (c Config) LogValue() slog.Value { return slog.StringValue(c.String()) }

// Notifier sends notifications on resync.ChannelEmail by SMTP. Create it
// with New. It opens one connection per notification and is safe for
// concurrent use.
type Notifier struct {
	cfg      Config
	host     string
	port     int
	from     *mail.Address
	idDomain string
	tmpl     Templates
}

var _ resync.Notifier = (*Notifier)(nil)

// New checks cfg and returns a Notifier. It does not connect. An invalid
// configuration is an error wrapping resync.ErrInvalidRequest.
func New(cfg Config) (*Notifier, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: email: "+format, append([]any{resync.ErrInvalidRequest}, args...)...)
	}
	if cfg.TLS == "" {
		cfg.TLS = TLSStartTLS
	}
	defPort := map[TLSMode]int{TLSStartTLS: 587, TLSOpportunistic: 587, TLSImplicit: 465, TLSNone: 25}
	port, ok := defPort[cfg.TLS]
	if !ok {
		return nil, bad("unknown TLS mode %q (want starttls, opportunistic, implicit or none)", cfg.TLS)
	}
	host := cfg.Addr
	if h, p, err := net.SplitHostPort(cfg.Addr); err == nil {
		n, err := strconv.Atoi(p)
		if err != nil || n <= 0 || n > 65535 {
			return nil, bad("Addr %q: bad port", cfg.Addr)
		}
		host, port = h, n
	}
	if host == "" || strings.ContainsAny(host, " /\r\n") {
		return nil, bad("Addr %q: want host:port", cfg.Addr)
	}
	if _, ok := authMechanisms[strings.ToUpper(cfg.Auth)]; !ok {
		return nil, bad("unknown Auth mechanism %q", cfg.Auth)
	}
	from, err := mail.ParseAddress(cfg.From)
	if err != nil {
		return nil, bad("From %q: %v", cfg.From, err)
	}
	from.Name = notify.SafeHeader(from.Name)
	domain := cfg.MessageIDDomain
	if domain == "" {
		domain = from.Address[strings.LastIndexByte(from.Address, '@')+1:]
	}
	if domain == "" || strings.ContainsAny(domain, "<>@ \t\r\n") {
		return nil, bad("MessageIDDomain %q is not a domain", domain)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Location == nil {
		cfg.Location = time.UTC
	}
	if cfg.Clock == nil {
		cfg.Clock = systemClock{}
	}
	if cfg.TLSConfig == nil {
		cfg.TLSConfig = &tls.Config{}
	}
	cfg.TLSConfig = cfg.TLSConfig.Clone()
	if cfg.TLSConfig.ServerName == "" {
		cfg.TLSConfig.ServerName = host
	}
	if cfg.TLSConfig.MinVersion == 0 {
		cfg.TLSConfig.MinVersion = tls.VersionTLS12
	}
	return &Notifier{cfg: cfg, host: host, port: port, from: from, idDomain: domain, tmpl: cfg.Templates.withDefaults()}, nil
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

func (systemClock) NewTimer(d time.Duration) (<-chan time.Time, func() bool) {
	t := time.NewTimer(d)
	return t.C, t.Stop
}

// Notify sends n as one message to every recipient with an email
// address, if n is on resync.ChannelEmail; other channels are ignored.
// See the package doc for the message's headers and how failures are
// classified.
func (e *Notifier) Notify(ctx context.Context, n resync.Notification) error {
	if n.Channel != resync.ChannelEmail {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	msg, missing, err := e.message(n)
	if err != nil {
		return err
	}
	if msg != nil {
		if err := e.send(ctx, msg); err != nil {
			return err
		}
	}
	if len(missing) > 0 {
		return resync.Permanent(fmt.Errorf("email: %s notification of run %q: no usable email address for recipients %s",
			n.Kind, n.Run.ID, strings.Join(missing, ", ")))
	}
	return nil
}

// Render returns the subject and the text and HTML bodies of n's message,
// as Notify would send them: for previews and tests of custom templates.
func (e *Notifier) Render(n resync.Notification) (subject, text, html string, err error) {
	subject, text, html, err = e.tmpl.render(e.data(n))
	return notify.SafeHeader(subject), text, html, err
}

// MessageID returns the Message-ID (without angle brackets) of the
// message for a notification with idempotency key key (notify.Key):
// every delivery of one notification carries the same one.
func (e *Notifier) MessageID(key string) string {
	sum := sha256.Sum256([]byte(key))
	return "resync." + hex.EncodeToString(sum[:16]) + "@" + e.idDomain
}

// HeaderIdempotencyKey carries the notification's idempotency key
// (notify.Key) in every message.
const HeaderIdempotencyKey = "X-Resync-Idempotency-Key"

// message builds the message for n; missing lists recipients without a
// usable address (by ID). msg is nil when no recipient has one.
func (e *Notifier) message(n resync.Notification) (msg *gomail.Msg, missing []string, err error) {
	var to []*mail.Address
	for _, p := range n.Recipients {
		addr := strings.TrimSpace(p.Email)
		a, perr := mail.ParseAddress(addr)
		if addr == "" || perr != nil || a.Address != addr {
			missing = append(missing, strconv.Quote(notify.SafeHeader(p.ID)))
			continue
		}
		to = append(to, &mail.Address{Name: notify.SafeHeader(p.Name), Address: a.Address})
	}
	if len(to) == 0 {
		return nil, missing, nil
	}
	d := e.data(n)
	subject, text, html, err := e.tmpl.render(d)
	if err != nil {
		return nil, nil, resync.Permanent(fmt.Errorf("email: rendering the %s message of run %q: %w", n.Kind, n.Run.ID, err))
	}
	m := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	m.FromMailAddress(e.from)
	m.ToMailAddress(to...)
	m.Subject(notify.SafeHeader(subject))
	key := notify.Key(n)
	m.SetMessageIDWithValue(e.MessageID(key))
	m.SetGenHeader(HeaderIdempotencyKey, notify.SafeHeader(key))
	m.SetGenHeader("Auto-Submitted", "auto-generated")
	m.SetDateWithValue(e.cfg.Clock.Now())
	m.SetBodyString(gomail.TypeTextPlain, text)
	if html != "" {
		m.AddAlternativeString(gomail.TypeTextHTML, html)
	}
	return m, missing, nil
}

func (e *Notifier) send(ctx context.Context, m *gomail.Msg) error {
	// Timeout bounds the connection and each command; a nearer deadline
	// of ctx bounds them too.
	timeout := e.cfg.Timeout
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < timeout {
		timeout = max(time.Until(dl), time.Millisecond)
		// A timeout is then ctx's deadline, whichever timer fires first.
		ctx = &deadlineBound{ctx}
	}
	// Closing the connection when ctx ends makes every step of the
	// session honour ctx. go-mail dials the TCP connection through
	// dial (but for implicit TLS, where it dials the TLS connection
	// itself; ctx's deadline still bounds that through timeout).
	var stop func() bool
	defer func() {
		if stop != nil {
			stop()
		}
	}()
	watch := func(c net.Conn) { stop = context.AfterFunc(ctx, func() { _ = c.Close() }) }
	dial := func(dctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(dctx, network, addr)
		if err == nil {
			watch(c)
		}
		return c, err
	}
	opts := []gomail.Option{
		gomail.WithPort(e.port),
		gomail.WithTimeout(timeout),
		gomail.WithTLSConfig(e.cfg.TLSConfig),
	}
	switch e.cfg.TLS {
	case TLSStartTLS:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory), gomail.WithDialContextFunc(dial))
	case TLSOpportunistic:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSOpportunistic), gomail.WithDialContextFunc(dial))
	case TLSImplicit:
		opts = append(opts, gomail.WithSSL())
	case TLSNone:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS), gomail.WithDialContextFunc(dial))
	}
	if e.cfg.Username != "" {
		opts = append(opts, gomail.WithSMTPAuth(authMechanisms[strings.ToUpper(e.cfg.Auth)]),
			gomail.WithUsername(e.cfg.Username), gomail.WithPassword(e.cfg.Password))
	}
	c, err := gomail.NewClient(e.host, opts...)
	if err != nil {
		return resync.Permanent(e.scrub(fmt.Errorf("email: %w", err)))
	}
	conn, err := c.DialToSMTPClientWithContext(ctx)
	if err != nil {
		return e.classify(ctx, "connecting to "+e.addr(), err)
	}
	if stop == nil {
		stop = context.AfterFunc(ctx, func() { _ = conn.Close() })
	}
	if err := c.SendWithSMTPClient(conn, m); err != nil {
		_ = c.CloseWithSMTPClient(conn)
		return e.classify(ctx, "sending through "+e.addr(), err)
	}
	// The server accepted the message: a failed QUIT loses nothing, and
	// reporting it would only make the engine send a duplicate.
	_ = c.CloseWithSMTPClient(conn)
	return nil
}

// deadlineBound marks a context whose deadline is the session's timeout.
type deadlineBound struct{ context.Context }

func (e *Notifier) addr() string { return net.JoinHostPort(e.host, strconv.Itoa(e.port)) }

// scrub removes the password from err's message, should a server or
// library ever echo it.
func (e *Notifier) scrub(err error) error {
	if e.cfg.Password == "" || !strings.Contains(err.Error(), e.cfg.Password) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), e.cfg.Password, "REDACTED"))
}

// classify wraps an SMTP failure for the engine's retries: replies
// 5xx, certificate and TLS handshake failures, and a server without the
// required STARTTLS or login mechanism are permanent; 4xx replies and
// network failures (refused, reset, timed out) are transient.
func (e *Notifier) classify(ctx context.Context, what string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("email: %s: %w", what, ctx.Err())
	}
	var ne net.Error
	if _, bound := ctx.(*deadlineBound); bound && errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("email: %s: %w", what, context.DeadlineExceeded)
	}
	err = e.scrub(err)
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		// go-mail's own deadline (Config.Timeout) ran out, not the
		// caller's context: keep the message but not the context error,
		// which the engine would take for the end of its own context and
		// not retry.
		return fmt.Errorf("email: %s: %s (timeout %s)", what, err.Error(), e.cfg.Timeout)
	}
	wrapped := fmt.Errorf("email: %s: %w", what, err)
	var se *gomail.SendError
	var te *textproto.Error
	var cv *tls.CertificateVerificationError
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	var rh tls.RecordHeaderError
	var alert tls.AlertError
	switch {
	case errors.As(err, &se):
		if se.ErrorCode() >= 500 {
			return resync.Permanent(wrapped)
		}
		return wrapped
	case errors.As(err, &te):
		if te.Code >= 500 {
			return resync.Permanent(wrapped)
		}
		return wrapped
	case errors.As(err, &cv), errors.As(err, &ua), errors.As(err, &hn), errors.As(err, &rh), errors.As(err, &alert):
		return resync.Permanent(wrapped)
	case strings.Contains(err.Error(), "does not support"), strings.Contains(err.Error(), "not supported"),
		strings.Contains(err.Error(), "authentication mechanism"):
		return resync.Permanent(wrapped)
	}
	return wrapped
}
