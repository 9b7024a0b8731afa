// Package email sends resync notifications as email over SMTP, with
// github.com/wneessen/go-mail. It is its own module, so that hosts that do
// not send email do not depend on go-mail.
//
//	mailer, err := email.New(email.Config{
//		Addr:     "smtp.example.com:587",
//		Username: "resync",
//		Password: smtpPassword,
//		From:     "Compliance <compliance@example.com>",
//		Link: func(n resync.Notification) string {
//			return "https://app.example.com/t/" + url.PathEscape(n.Tenant) + "/resyncs/" + url.PathEscape(n.Run.ID)
//		},
//	})
//
// Pass the Notifier as Config.Notifier (with a Directory: it says who the
// tenant's admins are), alone or in a notify.Fanout next to the host's
// in-product notifier.
//
// # Configuration
//
// Config documents each field and its default. The connection is
// encrypted with STARTTLS by default and refused if the server does not
// offer it (TLSStartTLS); TLSImplicit speaks TLS from the first byte
// (SMTPS, port 465); TLSOpportunistic upgrades only when offered; TLSNone
// is for a relay on the same host. With a Username the client logs in,
// with the strongest mechanism the server offers unless Config.Auth names
// one (PLAIN, LOGIN, CRAM-MD5, SCRAM-SHA-1, SCRAM-SHA-256). Config.Timeout
// (default 30 s) bounds the connection and every SMTP command, and the
// caller's context ends the session at any point.
//
// # Recipients
//
// Notify sends notifications on resync.ChannelEmail and ignores the
// others. The engine has already chosen the recipients (the tenant's
// admins for a personnel resync and for held changes, the initiator for an
// accounts resync); each is a resync.Principal, whose Email field is the
// address, so the Directory that lists admins is also where their
// addresses come from. One message goes to all of a notification's
// recipients in To. A recipient without a valid address is skipped: the
// others still get the message, and Notify returns a permanent error
// naming the skipped principals by ID, which the engine records on the
// run.
//
// # Messages
//
// Each message has a subject, a text/plain body and a text/html
// alternative, rendered from Templates: text/template for the subject and
// text, html/template (which escapes every value) for HTML. The defaults
// cover every notification kind. The completion message says which resync
// ran (personnel, or accounts of which type and providers), who started it
// and when, how long it took, the outcome, and for each connection the
// records read, added, updated, removed and rejected, with its error and
// the first rejection reasons; held removals are listed with the change
// set's ID and what to do about them (approve if the people or accounts
// are really gone, reject and fix the connection if not); when the run
// opened findings (RunInfo.Findings, which a linking.Linker on
// resync.Config.AfterRun sets), it says how many of each kind, "2 new
// offboarding gaps" first and in the subject too, each linked to
// Config.FindingsLink's address (resynchttp's GET
// /findings?kind=offboarding_gap&run=ID lists them); the link
// Config.Link returns closes the message. A host replaces any template
// through Config.Templates, working from Data, and can preview the result
// with Notifier.Render.
//
// # Duplicates
//
// Delivery is at least once: the engine retries a failed Notify, and a
// connection lost after the server accepted a message but before it
// confirmed it makes the next attempt a duplicate. Every message of one
// notification carries the same Message-ID, derived from the
// notification's idempotency key (notify.Key, that is
// resync.Notification.ID), and the key itself in the
// X-Resync-Idempotency-Key header, so mail systems and readers recognise
// a duplicate. Messages are marked Auto-Submitted: auto-generated.
//
// # Errors and retries
//
// Notify makes one attempt and classifies its failure for the engine's
// retries (resync.IsPermanent, as connectors do): a 5xx reply (a refused
// login or recipient), a certificate the client does not trust, a failed
// TLS handshake, a server without STARTTLS when it is required or without
// the login mechanism, an invalid template and recipients without an
// address are permanent; a 4xx reply, a refused, dropped or timed-out
// connection are transient, so a server that is down and comes back gets
// the message on a later attempt. The caller's context ending returns its
// error.
//
// # Header injection
//
// Names, tenant IDs, connection names and error messages come from tenant
// and provider data. Nothing from them starts a header: the subject and
// every display name have control characters (CR and LF included)
// replaced by spaces before go-mail encodes them, addresses must parse
// as one address each, and the values the templates receive are single
// lines as well, so that they cannot forge the layout of a body either.
//
// # Secrets
//
// The SMTP password is used only to log in. It never appears in an error
// (Notify removes it from any server reply that would echo it), and
// Config's String, GoString and LogValue redact it for fmt and log/slog.
//
// # Testing
//
// The package's tests run against real mailpit servers (STARTTLS and
// implicit TLS, with a login) that .ci/mailpit.sh starts on loopback; they
// read RESYNC_MAILPIT_SMTP and the variables beside it, and skip when it
// is unset unless RESYNC_REQUIRE_INTEGRATION=1.
package email
