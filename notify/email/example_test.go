package email_test

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/openresync/resync"
	"github.com/openresync/resync/notify/email"
	"github.com/openresync/resync/resynctest"
)

// The completion email of a personnel resync that partly failed, as the
// default templates write it.
func ExampleNotifier_Render() {
	mailer, err := email.New(email.Config{
		Addr: "smtp.example.com:587",
		From: "Compliance <compliance@example.com>",
		Link: func(n resync.Notification) string {
			return "https://app.example.com/t/" + n.Tenant + "/resyncs/" + n.Run.ID
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	n := resynctest.SampleNotifications("acme")[5] // run completed, email
	subject, text, _, err := mailer.Render(n)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("Subject:", subject)
	fmt.Println()
	fmt.Print(text)
	// Output:
	// Subject: [acme] Personnel resync (IdP, HRIS, Version control) finished: partial (1 of 3 connections need attention)
	//
	// Personnel resync (IdP, HRIS, Version control) finished: partial (1 of 3 connections need attention)
	//
	// Tenant:     acme
	// Resync:     Personnel resync (IdP, HRIS, Version control)
	// Started by: Zoë O'Brien <zoe.obrien@example.com>
	// Started:    2026-03-14 09:00 UTC
	// Finished:   2026-03-14 09:04 UTC (took 4m0s)
	// Outcome:    partial. 2 of 3 connections succeeded, 1 failed.
	//
	// Connections:
	//   - Okta (prod) (IdP): succeeded
	//     read 4000, added 12, updated 40, removed 3, rejected 0
	//   - bamboohr conn-bamboo (HRIS): failed
	//     read 0, added 0, updated 0, removed 0, rejected 0
	//     error: GET https://api.bamboohr.com/api/gateway.php/acme/v1/employees/directory: 401 Unauthorized
	//   - GitHub acme-corp (Version control): succeeded
	//     read 85, added 1, updated 0, removed 0, rejected 1
	//     rejected: invalid account record "": empty key
	//
	// Details: https://app.example.com/t/acme/resyncs/run-7f3a
	//
	// --
	// Sent automatically by resync. Replies are not read.
}

// The alert an admin gets when the delete guard holds removals.
func ExampleNotifier_Render_held() {
	mailer, err := email.New(email.Config{Addr: "smtp.example.com", From: "compliance@example.com"})
	if err != nil {
		fmt.Println(err)
		return
	}
	n := resynctest.SampleNotifications("acme")[7] // changes held, email
	subject, text, _, err := mailer.Render(n)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("Subject:", subject)
	fmt.Println()
	fmt.Print(text)
	// Output:
	// Subject: [acme] Action needed: 4000 removals held for Okta (prod)
	//
	// Action needed: 4000 removals held for Okta (prod)
	//
	// Tenant:     acme
	// Resync:     Scheduled sync of all connections
	// Started by: the daily schedule
	// Started:    2026-03-14 09:00 UTC
	// Finished:   2026-03-14 09:02 UTC (took 2m0s)
	//
	// Removals held by the delete guard (nothing was applied for these connections):
	//   - Okta (prod): 4000 removals held (an empty read of a non-empty snapshot is always held). Change set cs-held-1.
	//
	// What to do: check in the connected system that these people or accounts are
	// really gone. If they are, approve the change set and the removals are applied.
	// If not (a changed filter, scope or expired credentials can make a read come
	// back short), reject it, fix the connection and resync.
	//
	// Connections:
	//   - Okta (prod) (IdP): held
	//     read 0, added 0, updated 0, removed 4000, rejected 0
	//     error: read returned no records for a snapshot of 4000
	//
	// --
	// Sent automatically by resync. Replies are not read.
}

// A completion whose run opened findings (a linking.Linker on
// resync.Config.AfterRun counts them on the run) says so in the subject
// and the body, each kind linked to the admin API's findings of the run.
func ExampleConfig_findingsLink() {
	mailer, err := email.New(email.Config{
		Addr: "smtp.example.com:587",
		From: "Compliance <compliance@example.com>",
		FindingsLink: func(n resync.Notification, kind string) string {
			return "https://app.example.com/resync/findings?kind=" + url.QueryEscape(kind) + "&run=" + url.QueryEscape(n.Run.ID)
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	n := resynctest.SampleNotifications("acme")[5] // run completed, email
	n.Run.Findings = map[string]int{"offboarding_gap": 2, "orphaned": 1, "no_mfa": 3}
	subject, text, _, err := mailer.Render(n)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("Subject:", subject)
	_, found, _ := strings.Cut(text, "Found by this resync:\n")
	found, _, _ = strings.Cut(found, "\n\n")
	fmt.Println(found)
	// Output:
	// Subject: [acme] Personnel resync (IdP, HRIS, Version control) finished: partial (1 of 3 connections need attention), 2 new offboarding gaps
	//   - 2 new offboarding gaps: https://app.example.com/resync/findings?kind=offboarding_gap&run=run-7f3a
	//   - 1 new orphaned account: https://app.example.com/resync/findings?kind=orphaned&run=run-7f3a
	//   - 3 new accounts without MFA: https://app.example.com/resync/findings?kind=no_mfa&run=run-7f3a
}
