package email_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	texttemplate "text/template"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/openresync/resync"
	"github.com/openresync/resync/linking"
	"github.com/openresync/resync/memstore"
	"github.com/openresync/resync/notify/email"
	"github.com/openresync/resync/resynctest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// sample returns the sample notification of kind on the email channel
// (the personnel one for run_completed unless accounts), with an ID and
// recipients unique to tag.
func sample(tag string, kind resync.NotificationKind, accounts bool) resync.Notification {
	for _, n := range resynctest.SampleNotifications("acme") {
		if n.Channel != resync.ChannelEmail || n.Kind != kind || (kind == resync.NotifyRunCompleted && (n.Run.Scope.Kind == resync.ScopeAccounts) != accounts) {
			continue
		}
		n.ID = n.Run.ID + "/" + string(kind) + "/email/" + tag
		for i := range n.Recipients {
			local, domain, _ := strings.Cut(n.Recipients[i].Email, "@")
			n.Recipients[i].Email = local + "." + tag + "@" + domain
		}
		return n
	}
	panic("no sample of kind " + kind)
}

func newNotifier(t *testing.T, m mailpit, cfg email.Config) *email.Notifier {
	t.Helper()
	if cfg.Addr == "" {
		cfg.Addr = m.smtp
	}
	if cfg.TLSConfig == nil {
		cfg.TLSConfig = m.tlsConfig()
	}
	if cfg.Username == "" {
		cfg.Username, cfg.Password = m.user, m.password
	}
	if cfg.From == "" {
		cfg.From = "Resync <resync@notify.example.com>"
	}
	n, err := email.New(cfg)
	require.NoError(t, err)
	return n
}

func addrs(as []address) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.Name + " <" + a.Address + ">"
	}
	return out
}

func TestCompletionEmail(t *testing.T) {
	m := needMailpit(t)
	tg := tag(t)
	link := func(n resync.Notification) string {
		return "https://app.example.com/t/" + n.Tenant + "/resyncs/" + n.Run.ID + "?a=1&b=2"
	}
	mailer := newNotifier(t, m, email.Config{Link: link})
	n := sample(tg, resync.NotifyRunCompleted, false)
	require.NoError(t, mailer.Notify(t.Context(), n))

	got := search(t, m.api, "to:"+n.Recipients[0].Email)
	require.Len(t, got, 1)
	msg := got[0]
	assert.Equal(t, []string{"Zoë O'Brien <zoe.obrien." + tg + "@example.com>", " <security." + tg + "@example.com>"}, addrs(msg.To))
	assert.Empty(t, msg.Cc)
	assert.Empty(t, msg.Bcc)
	assert.Equal(t, address{Name: "Resync", Address: "resync@notify.example.com"}, msg.From)
	assert.Equal(t, "[acme] Personnel resync (IdP, HRIS, Version control) finished: partial (1 of 3 connections need attention)", msg.Subject)
	assert.Equal(t, mailer.MessageID(n.ID), msg.MessageID)
	h := headers(t, m.api, msg.ID)
	assert.Equal(t, []string{n.ID}, h["X-Resync-Idempotency-Key"])
	assert.Equal(t, []string{"auto-generated"}, h["Auto-Submitted"])

	for _, want := range []string{
		"Tenant:     acme",
		"Resync:     Personnel resync (IdP, HRIS, Version control)",
		"Started by: Zoë O'Brien <zoe.obrien@example.com>",
		"Started:    2026-03-14 09:00 UTC",
		"Finished:   2026-03-14 09:04 UTC (took 4m0s)",
		"Outcome:    partial. 2 of 3 connections succeeded, 1 failed.",
		"  - Okta (prod) (IdP): succeeded\n    read 4000, added 12, updated 40, removed 3, rejected 0",
		"  - bamboohr conn-bamboo (HRIS): failed\n    read 0, added 0, updated 0, removed 0, rejected 0\n    error: GET https://api.bamboohr.com/api/gateway.php/acme/v1/employees/directory: 401 Unauthorized",
		"  - GitHub acme-corp (Version control): succeeded\n    read 85, added 1, updated 0, removed 0, rejected 1\n    rejected: invalid account record \"\": empty key",
		"Details: https://app.example.com/t/acme/resyncs/run-7f3a?a=1&b=2",
	} {
		assert.Contains(t, msg.Text, want)
	}
	assert.NotContains(t, msg.Text, "held", "no held removals in this run")
	for _, want := range []string{
		"<h1 style=\"font-size: 1.25em;\">Personnel resync (IdP, HRIS, Version control) finished: partial (1 of 3 connections need attention)</h1>",
		"<td>Zoë O&#39;Brien &lt;zoe.obrien@example.com&gt;</td>",
		"<td>Okta (prod) (IdP)</td><td>succeeded</td><td align=\"right\">4000</td><td align=\"right\">12</td><td align=\"right\">40</td><td align=\"right\">3</td><td align=\"right\">0</td>",
		"Error: GET https://api.bamboohr.com/api/gateway.php/acme/v1/employees/directory: 401 Unauthorized",
		"<br>Rejected: invalid account record &#34;&#34;: empty key",
		`<a href="https://app.example.com/t/acme/resyncs/run-7f3a?a=1&amp;b=2">View this resync</a>`,
	} {
		assert.Contains(t, msg.HTML, want)
	}

	// A redelivery carries the same Message-ID: recognisably a duplicate.
	require.NoError(t, mailer.Notify(t.Context(), n))
	got = search(t, m.api, "to:"+n.Recipients[0].Email)
	require.Len(t, got, 2)
	assert.Equal(t, got[0].MessageID, got[1].MessageID)
}

func TestEveryKind(t *testing.T) {
	m := needMailpit(t)
	mailer := newNotifier(t, m, email.Config{})
	decided := sample(tag(t), resync.NotifyChangesHeld, false)
	decided.Kind = resync.NotifyHeldDecided
	decided.ID += "/decided"
	held := *decided.Held
	held.Decision = resync.Decision{Kind: resync.ConnRejected, By: resync.Principal{ID: "u-1", Name: "Zoë O'Brien"}, At: held.CreatedAt.Add(time.Hour), Reason: "Okta API token expired"}
	decided.Held = &held
	tests := []struct {
		n       resync.Notification
		subject string
		text    []string
	}{
		{sample(tag(t), resync.NotifyRunStarted, false), "[acme] Personnel resync (IdP, HRIS, Version control) started",
			[]string{"Started by: Zoë O'Brien <zoe.obrien@example.com>", "Started:    2026-03-14 09:00 UTC"}},
		{sample(tag(t), resync.NotifyRunCompleted, true), "[acme] Accounts resync of Infrastructure (aws) finished: succeeded",
			[]string{"Started by: 山田 健司 <kenji@example.co.jp>", "Outcome:    succeeded. 1 of 1 connections succeeded.", "  - AWS prod (Infrastructure): succeeded\n    read 310, added 0, updated 2, removed 0, rejected 0"}},
		{sample(tag(t), resync.NotifyChangesHeld, false), "[acme] Action needed: 4000 removals held for Okta (prod)",
			[]string{"Resync:     Scheduled sync of all connections", "Started by: the daily schedule",
				"  - Okta (prod): 4000 removals held (an empty read of a non-empty snapshot is always held). Change set cs-held-1.",
				"What to do: check in the connected system", "approve the change set", "reject it, fix the connection and resync"}},
		{decided, "[acme] Held changes to Okta (prod) rejected",
			[]string{"The held changes to Okta (prod) (4000 removals) were rejected by Zoë O'Brien on 2026-03-14 10:01 UTC. Reason: Okta API token expired"}},
	}
	for _, tt := range tests {
		t.Run(string(tt.n.Kind), func(t *testing.T) {
			require.NoError(t, mailer.Notify(t.Context(), tt.n))
			got := search(t, m.api, "to:"+tt.n.Recipients[0].Email)
			require.Len(t, got, 1)
			assert.Len(t, got[0].To, len(tt.n.Recipients))
			assert.Equal(t, tt.subject, got[0].Subject)
			for _, want := range tt.text {
				assert.Contains(t, got[0].Text, want)
			}
			assert.Contains(t, got[0].HTML, "<h1")
			subject, text, _, err := mailer.Render(tt.n)
			require.NoError(t, err)
			assert.Equal(t, tt.subject, subject, "Render gives what Notify sends")
			assert.Equal(t, strings.ReplaceAll(text, "\r\n", "\n"), got[0].Text)
		})
	}
}

func TestImplicitTLS(t *testing.T) {
	m := needMailpit(t)
	n := sample(tag(t), resync.NotifyRunCompleted, true)
	mailer := newNotifier(t, m, email.Config{Addr: m.smtps, TLS: email.TLSImplicit})
	require.NoError(t, mailer.Notify(t.Context(), n))
	require.Len(t, search(t, m.smtpsAPI, "to:"+n.Recipients[0].Email), 1)
}

func TestOpportunisticTLSAndMechanisms(t *testing.T) {
	m := needMailpit(t)
	for _, mech := range []string{"", "PLAIN", "LOGIN"} {
		n := sample(tag(t), resync.NotifyRunCompleted, true)
		mailer := newNotifier(t, m, email.Config{TLS: email.TLSOpportunistic, Auth: mech})
		require.NoError(t, mailer.Notify(t.Context(), n), "auth %q", mech)
		require.Len(t, search(t, m.api, "to:"+n.Recipients[0].Email), 1, "auth %q", mech)
	}
}

func TestPermanentFailures(t *testing.T) {
	m := needMailpit(t)
	tests := map[string]email.Config{
		"wrong password":                   {Password: "not-the-Pa55word"},
		"untrusted certificate":            {TLSConfig: &tls.Config{}},
		"wrong host name":                  {TLSConfig: &tls.Config{ServerName: "smtp.example.com"}},
		"no TLS, server requires STARTTLS": {TLS: email.TLSNone},
		"STARTTLS on the SMTPS port":       {Addr: "SMTPS"},
	}
	for name, cfg := range tests {
		t.Run(name, func(t *testing.T) {
			if cfg.Username == "" && cfg.Password != "" {
				cfg.Username = m.user
			}
			if cfg.Addr == "SMTPS" {
				cfg.Addr = m.smtps
				cfg.Timeout = time.Second
			}
			n := sample(tag(t), resync.NotifyRunCompleted, true)
			err := newNotifier(t, m, cfg).Notify(t.Context(), n)
			require.Error(t, err)
			if cfg.Addr != m.smtps { // a TLS server waiting for a handshake times out: transient is acceptable
				assert.True(t, resync.IsPermanent(err), "permanent: %v", err)
			}
			assert.NotContains(t, err.Error(), m.password)
			assert.NotContains(t, err.Error(), "not-the-Pa55word")
			assert.Empty(t, search(t, m.api, "to:"+n.Recipients[0].Email))
		})
	}
}

// TestHeaderInjection: names and tenant data with CR/LF end up inside one
// header value and never start a header of their own.
func TestHeaderInjection(t *testing.T) {
	m := needMailpit(t)
	tg := tag(t)
	victim := "victim." + tg + "@evil.example"
	n := sample(tg, resync.NotifyRunCompleted, true)
	n.Tenant = "acme\r\nBcc: " + victim
	n.Recipients[0].Name = "Kenji\r\nBcc: " + victim + "\r\nX-Injected: name"
	n.Run.Connections[0].Name = "AWS\nX-Injected: connection"
	n.Run.Initiator.Name = "Eve\r\n\r\nforged body"
	n.ID = "id\r\nX-Injected: id"
	mailer := newNotifier(t, m, email.Config{
		Link: func(n resync.Notification) string { return "https://app.example.com/\r\nX-Injected: link" },
	})
	require.NoError(t, mailer.Notify(t.Context(), n))

	got := search(t, m.api, "to:"+n.Recipients[0].Email)
	require.Len(t, got, 1)
	msg := got[0]
	require.Len(t, msg.To, 1)
	assert.Equal(t, n.Recipients[0].Email, msg.To[0].Address)
	assert.Empty(t, msg.Bcc)
	assert.Empty(t, msg.Cc)
	for _, v := range search(t, m.api, victim) {
		for _, a := range append(append(v.To, v.Cc...), v.Bcc...) {
			assert.NotEqual(t, victim, a.Address, "the injected Bcc received the message")
		}
	}
	assert.NotContains(t, msg.Text, "\nBcc:", "the body's layout is not forged either")
	assert.NotContains(t, msg.Text, "\nX-Injected")
	assert.NotContains(t, msg.Subject, "\n")
	assert.Contains(t, msg.Subject, "[acme Bcc: "+victim+"]")
	h := headers(t, m.api, msg.ID)
	for k := range h {
		assert.NotEqual(t, "X-Injected", k)
		assert.NotEqual(t, "Bcc", k)
	}
	assert.Equal(t, []string{"id X-Injected: id"}, h["X-Resync-Idempotency-Key"])
}

func TestDownThenUp(t *testing.T) {
	m := needMailpit(t)
	p := newProxy(t, m.smtp)
	n := sample(tag(t), resync.NotifyRunCompleted, true)
	mailer := newNotifier(t, m, email.Config{Addr: p.addr, TLSConfig: &tls.Config{RootCAs: m.roots, ServerName: "127.0.0.1"}, Timeout: 5 * time.Second})

	err := mailer.Notify(t.Context(), n)
	require.Error(t, err, "nothing listens")
	assert.False(t, resync.IsPermanent(err), "a server that is down is retried: %v", err)
	assert.NotErrorIs(t, err, context.DeadlineExceeded)
	assert.NotContains(t, err.Error(), m.password)

	p.up(t)
	p.dropNext(1)
	err = mailer.Notify(t.Context(), n)
	require.Error(t, err, "the server drops the connection")
	assert.False(t, resync.IsPermanent(err), "a dropped connection is retried: %v", err)

	require.NoError(t, mailer.Notify(t.Context(), n))
	require.Len(t, search(t, m.api, "to:"+n.Recipients[0].Email), 1)
}

// TestEngine routes through the engine: a personnel resync mails the
// tenant's admins, an accounts resync its initiator, each once, with the
// SMTP server dropping the first connection of each.
func TestEngine(t *testing.T) {
	m := needMailpit(t)
	p := newProxy(t, m.smtp)
	p.up(t)
	tg := tag(t)
	admins := []resync.Principal{
		{ID: "a1", Email: "admin1." + tg + "@acme.example", Name: "Ada Admin"},
		{ID: "a2", Email: "admin2." + tg + "@acme.example"},
	}
	requester := resync.Principal{ID: "u9", Email: "requester." + tg + "@acme.example", Name: "Rita"}
	src := resynctest.NewSource()
	src.Add(
		resync.Connection{ID: "okta", Tenant: "acme", Type: resync.IdP, Provider: "okta", Name: "Okta"},
		resync.Connection{ID: "aws", Tenant: "acme", Type: resync.Infrastructure, Provider: "aws", Name: "AWS prod"},
	)
	fakes := resynctest.NewFakes()
	fakes.Set("acme", "okta", resynctest.NewConnector(resynctest.Identities("okta", 3), 0))
	fakes.Set("acme", "aws", resynctest.NewConnector([]resync.Record{&resync.Account{Key: "1", Username: "root", Status: resync.StatusActive}}, 0))
	mailer := newNotifier(t, m, email.Config{Addr: p.addr, TLSConfig: &tls.Config{RootCAs: m.roots, ServerName: "127.0.0.1"},
		Link: func(n resync.Notification) string { return "https://app.example.com/runs/" + n.Run.ID }})
	ctx := t.Context()
	eng, err := resync.New(ctx, resync.Config{
		Store: memstore.New(), Connections: src, Connectors: fakes.Factories("okta", "aws"),
		Authorizer: resynctest.AllowAll, Directory: resynctest.Admins{"acme": admins}, Notifier: mailer,
		Retry:           resync.RetryPolicy{InitialInterval: time.Millisecond, MaxInterval: 10 * time.Millisecond},
		MinReadInterval: -1, // the resyncs read the same connections
		NotifyScheduled: func(r resync.RunInfo) bool { return r.Status != resync.RunSucceeded },
	})
	require.NoError(t, err)
	defer func() { require.NoError(t, eng.Close(context.WithoutCancel(ctx))) }()

	wait := func(query string, n int) []message {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			got := search(t, m.api, query)
			if len(got) >= n || time.Now().After(deadline) {
				return got
			}
			time.Sleep(50 * time.Millisecond) // polling mailpit's API, not waiting for a backoff
		}
	}

	p.dropNext(1)
	run, err := eng.ResyncPersonnel(ctx, "acme", requester)
	require.NoError(t, err)
	info, err := run.Wait(ctx)
	require.NoError(t, err)
	got := wait("to:"+admins[0].Email, 1)
	require.Len(t, got, 1, "the admins get the personnel completion email once")
	assert.ElementsMatch(t, []string{admins[0].Email, admins[1].Email}, []string{got[0].To[0].Address, got[0].To[1].Address})
	assert.Equal(t, "[acme] Personnel resync (IdP, HRIS, Infrastructure, Version control, Security training) finished: succeeded", got[0].Subject)
	assert.Contains(t, got[0].Text, "Started by: Rita <"+requester.Email+">")
	assert.Contains(t, got[0].Text, "Details: https://app.example.com/runs/"+info.ID)
	assert.Empty(t, search(t, m.api, "to:"+requester.Email), "the requester of a personnel resync is no admin here")
	assert.Equal(t, 0, p.dropping(), "the first attempt met a dropped connection")

	p.dropNext(1)
	run, err = eng.ResyncAccounts(ctx, "acme", requester, resync.Infrastructure)
	require.NoError(t, err)
	_, err = run.Wait(ctx)
	require.NoError(t, err)
	got = wait("to:"+requester.Email, 1)
	require.Len(t, got, 1, "the initiator gets the accounts completion email once")
	require.Len(t, got[0].To, 1)
	assert.Equal(t, "[acme] Accounts resync of Infrastructure finished: succeeded", got[0].Subject)
	assert.Len(t, search(t, m.api, "to:"+admins[0].Email), 1, "admins get no accounts email")
	assert.Equal(t, 0, p.dropping(), "the first attempt met a dropped connection")
	final, err := eng.GetRun(ctx, "acme", run.ID(), requester)
	require.NoError(t, err)
	assert.Empty(t, final.NotifyErrors)

	// A scheduled run that failed in part emails the admins (by the
	// NotifyScheduled policy); one that succeeded emails no one.
	scheduled := resync.Request{Tenant: "acme", Initiator: resync.SystemPrincipal, Scope: resync.Scope{Kind: resync.ScopeAll}, Trigger: resync.TriggerScheduled}
	run, err = eng.Start(ctx, scheduled)
	require.NoError(t, err)
	_, err = run.Wait(ctx)
	require.NoError(t, err)
	fakes.Get("acme", "okta").AddFault(resynctest.Fault{Err: resync.Permanent(errors.New("okta: 401 Unauthorized: token revoked"))})
	run, err = eng.Start(ctx, scheduled)
	require.NoError(t, err)
	_, err = run.Wait(ctx)
	require.NoError(t, err)
	got = wait("to:"+admins[1].Email, 2)
	require.Len(t, got, 2, "the personnel email and one scheduled run's")
	var sched message
	for _, m := range got {
		if strings.Contains(m.Subject, "Scheduled") {
			sched = m
		}
	}
	assert.Equal(t, "[acme] Scheduled sync of all connections finished: partial (1 of 2 connections need attention)", sched.Subject)
	assert.Contains(t, sched.Text, "Started by: the daily schedule")
	assert.Contains(t, sched.Text, "  - Okta (IdP): failed")
	assert.Contains(t, sched.Text, "error: page 1: okta: 401 Unauthorized: token revoked")
}

// A personnel resync whose IdP says two people left while their AWS
// accounts are active: the completion email (through a linking.Linker on
// AfterRun) says "2 new offboarding gaps" and links to them; the next
// resync, which opens none, says nothing of gaps.
func TestEngineCountsNewGaps(t *testing.T) {
	m := needMailpit(t)
	tg := tag(t)
	admins := []resync.Principal{{ID: "a1", Email: "admin." + tg + "@acme.example", Name: "Ada Admin"}}
	src := resynctest.NewSource()
	src.Add(
		resync.Connection{ID: "okta", Tenant: "acme", Type: resync.IdP, Provider: "okta", Name: "Okta"},
		resync.Connection{ID: "aws", Tenant: "acme", Type: resync.Infrastructure, Provider: "aws", Name: "AWS prod"},
	)
	fakes := resynctest.NewFakes()
	fakes.Set("acme", "okta", resynctest.NewConnector([]resync.Record{
		&resync.Identity{Key: "00u1", Email: "jane@acme.example", Status: resync.StatusDeprovisioned},
		&resync.Identity{Key: "00u2", Email: "joe@acme.example", Status: resync.StatusDeprovisioned},
		&resync.Identity{Key: "00u3", Email: "kim@acme.example", Status: resync.StatusActive},
	}, 0))
	fakes.Set("acme", "aws", resynctest.NewConnector([]resync.Record{
		&resync.Account{Key: "iam-jane", OwnerEmail: "jane@acme.example", Status: resync.StatusActive},
		&resync.Account{Key: "iam-joe", OwnerEmail: "joe@acme.example", Status: resync.StatusActive},
		&resync.Account{Key: "iam-kim", OwnerEmail: "kim@acme.example", Status: resync.StatusActive},
		&resync.Account{Key: "iam-ci", OwnerEmail: "nobody@acme.example", Status: resync.StatusActive},
	}, 0))
	store := memstore.New()
	lk, err := linking.New(linking.Config{Store: store, Connections: src, Authorizer: resynctest.AllowAll})
	require.NoError(t, err)
	mailer := newNotifier(t, m, email.Config{FindingsLink: func(n resync.Notification, kind string) string {
		return "https://app.example.com/resync/findings?kind=" + url.QueryEscape(kind) + "&run=" + url.QueryEscape(n.Run.ID)
	}})
	ctx := t.Context()
	eng, err := resync.New(ctx, resync.Config{
		Store: store, Connections: src, Connectors: fakes.Factories("okta", "aws"),
		Authorizer: resynctest.AllowAll, Directory: resynctest.Admins{"acme": admins}, Notifier: mailer,
		AfterRun: lk.AfterRun, MinReadInterval: -1,
	})
	require.NoError(t, err)
	defer func() { require.NoError(t, eng.Close(context.WithoutCancel(ctx))) }()

	resyncWait := func(want int) (resync.RunInfo, message) {
		t.Helper()
		run, err := eng.ResyncPersonnel(ctx, "acme", admins[0])
		require.NoError(t, err)
		info, err := run.Wait(ctx)
		require.NoError(t, err)
		deadline := time.Now().Add(30 * time.Second)
		for {
			got := search(t, m.api, "to:"+admins[0].Email)
			if len(got) >= want || time.Now().After(deadline) {
				require.Len(t, got, want)
				return info, got[0] // newest first
			}
			time.Sleep(50 * time.Millisecond) // polling mailpit's API, not waiting for a backoff
		}
	}
	info, msg := resyncWait(1)
	assert.Equal(t, map[string]int{"offboarding_gap": 2, "orphaned": 1}, info.Findings)
	assert.Equal(t, "[acme] Personnel resync (IdP, HRIS, Infrastructure, Version control, Security training) finished: succeeded, 2 new offboarding gaps", msg.Subject)
	link := "https://app.example.com/resync/findings?kind=offboarding_gap&run=" + url.QueryEscape(info.ID)
	assert.Contains(t, msg.Text, "Found by this resync:\n  - 2 new offboarding gaps: "+link+"\n  - 1 new orphaned account: https://app.example.com/resync/findings?kind=orphaned&run=")
	assert.Contains(t, msg.HTML, `<li><a href="`+strings.ReplaceAll(link, "&", "&amp;")+`">2 new offboarding gaps</a></li>`)

	_, msg = resyncWait(2) // nothing new
	assert.Equal(t, "[acme] Personnel resync (IdP, HRIS, Infrastructure, Version control, Security training) finished: succeeded", msg.Subject)
	assert.NotContains(t, msg.Text, "offboarding")
	assert.NotContains(t, msg.Text, "Found by this resync")
}

// TestSlowServer: a server that accepts the connection and never greets
// costs Timeout, and the error is retried.
func TestSlowServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer ln.Close()
	wg.Go(func() {
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				_ = c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c) // never answers
		}
	})
	mailer, err := email.New(email.Config{Addr: ln.Addr().String(), From: "a@example.com", Timeout: 100 * time.Millisecond})
	require.NoError(t, err)
	start := time.Now()
	err = mailer.Notify(t.Context(), sample(tag(t), resync.NotifyRunCompleted, true))
	require.Error(t, err)
	assert.Less(t, time.Since(start), 5*time.Second)
	assert.False(t, resync.IsPermanent(err), "a slow server is retried: %v", err)
	assert.NotErrorIs(t, err, context.DeadlineExceeded, "the engine does not retry context errors")

	// The caller's own deadline and cancellation end the session at once
	// and are reported as such, in every TLS mode.
	for _, mode := range []email.TLSMode{email.TLSStartTLS, email.TLSOpportunistic, email.TLSImplicit, email.TLSNone} {
		mailer, err = email.New(email.Config{Addr: ln.Addr().String(), From: "a@example.com", Timeout: 10 * time.Second, TLS: mode})
		require.NoError(t, err)
		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		start = time.Now()
		err = mailer.Notify(ctx, sample(tag(t), resync.NotifyRunCompleted, true))
		cancel()
		assert.ErrorIs(t, err, context.DeadlineExceeded, mode)
		assert.Less(t, time.Since(start), 5*time.Second, mode)

		ctx, cancel = context.WithCancel(t.Context())
		time.AfterFunc(50*time.Millisecond, cancel)
		start = time.Now()
		err = mailer.Notify(ctx, sample(tag(t), resync.NotifyRunCompleted, true))
		cancel()
		assert.ErrorIs(t, err, context.Canceled, mode)
		assert.Less(t, time.Since(start), 5*time.Second, mode)
	}
}

func TestRecipientsWithoutEmail(t *testing.T) {
	m := needMailpit(t)
	n := sample(tag(t), resync.NotifyRunCompleted, false)
	n.Recipients = append(n.Recipients, resync.Principal{ID: "u-noemail", Name: "No Mail"}, resync.Principal{ID: "u-bad", Email: "not an address"})
	err := newNotifier(t, m, email.Config{}).Notify(t.Context(), n)
	require.Error(t, err)
	assert.True(t, resync.IsPermanent(err), "retrying cannot find an address")
	assert.Contains(t, err.Error(), `"u-noemail", "u-bad"`)
	got := search(t, m.api, "to:"+n.Recipients[0].Email)
	require.Len(t, got, 1, "the others got it")
	assert.Len(t, got[0].To, 2)

	n.Recipients = n.Recipients[2:]
	err = newNotifier(t, m, email.Config{}).Notify(t.Context(), n)
	assert.True(t, resync.IsPermanent(err))
}

func TestCustomTemplates(t *testing.T) {
	m := needMailpit(t)
	n := sample(tag(t), resync.NotifyRunCompleted, true)
	tmpl := email.DefaultTemplates()
	tmpl.Subject = texttemplate.Must(texttemplate.New("s").Parse("Compliance: {{.What}} is {{.Status}}"))
	tmpl.Text = texttemplate.Must(texttemplate.New("t").Parse("{{range .Connections}}{{.Name}}={{.Read}}{{end}}"))
	require.NoError(t, newNotifier(t, m, email.Config{Templates: tmpl}).Notify(t.Context(), n))
	got := search(t, m.api, "to:"+n.Recipients[0].Email)
	require.Len(t, got, 1)
	assert.Equal(t, "Compliance: Accounts resync of Infrastructure (aws) is succeeded", got[0].Subject)
	assert.Equal(t, "AWS prod=310", strings.TrimSpace(got[0].Text))
	assert.Contains(t, got[0].HTML, "AWS prod", "the default HTML stays")

	broken := email.Templates{Text: texttemplate.Must(texttemplate.New("t").Parse("{{.NoSuchField}}"))}
	err := newNotifier(t, m, email.Config{Templates: broken}).Notify(t.Context(), n)
	require.Error(t, err)
	assert.True(t, resync.IsPermanent(err), "a broken template does not get better with retries")
	assert.Contains(t, err.Error(), "text template")
}

func TestConformance(t *testing.T) {
	m := needMailpit(t)
	var mu sync.Mutex
	from := map[*testing.T]string{}
	resynctest.TestNotifier(t, func(t *testing.T) resync.Notifier {
		f := "resync." + tag(t) + "@notify.example.com"
		mu.Lock()
		from[t] = f
		mu.Unlock()
		return newNotifier(t, m, email.Config{From: f})
	}, resynctest.NotifierOptions{
		Channels: []resync.Channel{resync.ChannelEmail},
		Delivered: func(t *testing.T) int {
			mu.Lock()
			defer mu.Unlock()
			return len(searchIDs(t, m.api, "from:"+from[t]))
		},
	})
}

func TestNewRejectsBadConfig(t *testing.T) {
	for name, cfg := range map[string]email.Config{
		"no Addr":        {From: "a@example.com"},
		"bad port":       {Addr: "smtp.example.com:x", From: "a@example.com"},
		"no From":        {Addr: "smtp.example.com"},
		"bad From":       {Addr: "smtp.example.com", From: "not an address"},
		"bad TLS mode":   {Addr: "smtp.example.com", From: "a@example.com", TLS: "ssl"},
		"bad mechanism":  {Addr: "smtp.example.com", From: "a@example.com", Auth: "KERBEROS"},
		"bad msg domain": {Addr: "smtp.example.com", From: "a@example.com", MessageIDDomain: "a b"},
		"CR/LF in From":  {Addr: "smtp.example.com", From: "\"Resync\r\nBcc: x@example.com\" <a@example.com>"},
	} {
		_, err := email.New(cfg)
		assert.ErrorIs(t, err, resync.ErrInvalidRequest, name)
	}
}

func TestPasswordNotPrinted(t *testing.T) {
	const pw = "hunter2-Secret-Pa55"
	cfg := email.Config{Addr: "smtp.example.com:587", Username: "resync", Password: pw, From: "a@example.com"}
	var text, js bytes.Buffer
	slog.New(slog.NewTextHandler(&text, nil)).Info("configured", "smtp", cfg)
	slog.New(slog.NewJSONHandler(&js, nil)).Info("configured", "smtp", cfg)
	for _, out := range []string{fmt.Sprint(cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg), text.String(), js.String()} {
		assert.NotContains(t, out, pw)
		assert.Contains(t, out, "smtp.example.com:587")
	}
}

func TestIgnoresOtherChannels(t *testing.T) {
	// No server: an in-app notification must not even connect.
	mailer, err := email.New(email.Config{Addr: "127.0.0.1:1", From: "a@example.com"})
	require.NoError(t, err)
	n := sample("x", resync.NotifyRunCompleted, false)
	n.Channel = resync.ChannelInApp
	require.NoError(t, mailer.Notify(t.Context(), n))
	n.Channel = resync.ChannelEmail
	err = mailer.Notify(t.Context(), n)
	require.Error(t, err)
	assert.False(t, resync.IsPermanent(err), "connection refused is retried: %v", err)
	_ = net.Dial
	_ = errors.New
}
