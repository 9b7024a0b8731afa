package main

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

//go:embed testdata/axe-core/axe.min.js
var axeSource string

const chromium = "/usr/bin/chromium"

// browser starts headless Chromium for the test, or skips (fails under
// RESYNC_REQUIRE_INTEGRATION=1) when it is not installed.
func browser(t *testing.T) context.Context {
	t.Helper()
	if _, err := exec.LookPath(chromium); err != nil {
		if os.Getenv("RESYNC_REQUIRE_INTEGRATION") == "1" {
			t.Fatalf("%s not found and RESYNC_REQUIRE_INTEGRATION=1: install Debian's chromium (.ci/run does)", chromium)
		}
		t.Skipf("browser test skipped: %s not found (install Debian's chromium; RESYNC_REQUIRE_INTEGRATION=1 makes this a failure)", chromium)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium), chromedp.NoSandbox,
		chromedp.WindowSize(1280, 1000), chromedp.Flag("disable-dev-shm-usage", true))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	// The first call starts the browser; it runs without a timeout, as
	// timeouts derived from it would end the browser with them.
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate("about:blank")))
	return ctx
}

// page is one browser tab on the example's server.
type page struct {
	t   *testing.T
	ctx context.Context
	dir string // screenshots
	n   int
}

func (p *page) do(steps ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 20*time.Second)
	defer cancel()
	require.NoError(p.t, chromedp.Do(ctx, steps...))
}

func (p *page) text(sel string) string {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 20*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(sel))
	require.NoError(p.t, err)
	return s
}

// waitText waits until the element's text contains want.
func (p *page) waitText(sel, want string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 20*time.Second)
	defer cancel()
	expr := fmt.Sprintf(`(document.querySelector(%q)||{textContent:""}).textContent.includes(%q)`, sel, want)
	_, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingInterval(50*time.Millisecond)))
	if err != nil {
		got, _ := chromedp.Run(p.ctx, chromedp.Evaluate[string](fmt.Sprintf(`(document.querySelector(%q)||{textContent:"(none)"}).textContent`, sel)))
		p.t.Fatalf("waiting for %q in %s: %v; it reads %q", want, sel, err, got)
	}
}

// waitJS waits until the JavaScript expression is true.
func (p *page) waitJS(expr string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 20*time.Second)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingInterval(50*time.Millisecond)))
	require.NoError(p.t, err, "waiting for %s", expr)
}

// shot saves a screenshot of the page as <n>-<name>.png.
func (p *page) shot(name string) {
	p.t.Helper()
	png, err := chromedp.Run(p.ctx, chromedp.FullScreenshot(100))
	require.NoError(p.t, err)
	p.n++
	path := filepath.Join(p.dir, fmt.Sprintf("%02d-%s.png", p.n, name))
	require.NoError(p.t, os.WriteFile(path, png, 0o644))
	p.t.Logf("screenshot %s", path)
}

type axeViolation struct {
	ID     string `json:"id"`
	Impact string `json:"impact"`
	Help   string `json:"help"`
	Nodes  []struct {
		Target []string `json:"target"`
	} `json:"nodes"`
}

// accessible runs axe-core on the page as it is and fails on any serious
// or critical violation.
func (p *page) accessible(screen string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
	defer cancel()
	loaded, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`typeof axe !== "undefined"`))
	require.NoError(p.t, err)
	if !loaded {
		_, err := chromedp.Run(ctx, chromedp.Evaluate[chromedp.Void](axeSource))
		require.NoError(p.t, err)
	}
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[[]byte](
		`axe.run(document, {resultTypes: ["violations"]}).then(r => r.violations)`, chromedp.EvalAwaitPromise))
	require.NoError(p.t, err)
	var vs []axeViolation
	require.NoError(p.t, json.Unmarshal(raw, &vs))
	for _, v := range vs {
		var where []string
		for _, n := range v.Nodes {
			where = append(where, strings.Join(n.Target, " "))
		}
		if v.Impact == "serious" || v.Impact == "critical" {
			p.t.Errorf("%s: accessibility violation %s (%s): %s at %v", screen, v.ID, v.Impact, v.Help, where)
		} else {
			p.t.Logf("%s: minor accessibility finding %s (%s): %s", screen, v.ID, v.Impact, v.Help)
		}
	}
}

// whoHoldsWhat follows the run's new offboarding gap to the finding and
// its person's access, records a decision on the orphaned CI account
// (a refused one without a reason first) and sees its finding close and
// its situation change in the CSV export.
func (p *page) whoHoldsWhat() {
	t := p.t
	t.Helper()
	const jane, bot = "AIDA0000000000000004", "AIDA0000000000000006"
	p.do(chromedp.Click(`#runs a.run-finding[data-kind="offboarding_gap"]`))
	p.waitJS(`!document.querySelector("#findings-run").hidden`)
	p.waitText("#findings-run-text", "Personnel resync")
	p.waitText("#findings-table tbody", jane)
	rows := p.text("#findings-table tbody")
	assert.Contains(t, rows, "offboarding gap")
	assert.Contains(t, rows, "AWS prod")
	assert.Contains(t, rows, "hris:E003")
	assert.NotContains(t, rows, bot, "the run filter shows only the run's offboarding gaps")
	p.accessible("run findings")
	p.shot("run-findings")

	p.do(chromedp.Click(`#findings-table tr[data-account="` + jane + `"] button.link`))
	p.waitText("#access-summary", "Jane Doe")
	assert.Contains(t, p.text("#access-summary"), "offboarded (terminated at the HRIS)")
	p.waitText("#access-accounts tbody", "offboarding_gap")
	assert.Contains(t, p.text("#access-accounts tbody"), "jane.doe")
	assert.Contains(t, p.text("#access-identities tbody"), "Okta")
	p.accessible("access")
	p.shot("access")

	// Every open finding: the CI bot's account belongs to nobody.
	p.do(chromedp.Click("#findings-all"))
	p.waitText("#findings-table tbody", bot)
	assert.Contains(t, p.text("#findings-summary"), "1 offboarding gap")
	assert.Contains(t, p.text("#findings-summary"), "1 orphaned account")
	p.do(chromedp.Click(`#findings-table tr[data-account="` + bot + `"] button[aria-label^="Decide"]`))
	p.waitJS(`document.querySelector("#decide-account").value === "` + bot + `"`)
	// A blank reason is refused and stores nothing.
	p.do(chromedp.SendKeys("#decide-reason", "   "), chromedp.Click("#decide-submit"))
	p.waitText("#errors", "A decision needs a reason.")
	assert.Contains(t, p.text("#decisions tbody"), "No decision yet.")
	p.do(chromedp.Evaluate[chromedp.Void](`document.querySelector("#decide-reason").value = ""`), chromedp.SendKeys("#decide-reason", "CI deploy bot, owned by the platform team"),
		chromedp.Click("#decide-submit"))
	p.waitText("#notices", "Decision recorded: AWS prod account "+bot+" — service.")
	p.waitText("#decisions tbody", "CI deploy bot, owned by the platform team")
	assert.Contains(t, p.text("#decisions tbody"), "Ada Lovelace")
	p.waitJS(`!document.querySelector("#findings-table tbody").textContent.includes("` + bot + `")`)
	assert.Contains(t, p.text("#findings-table tbody"), jane, "the gap stays open")
	p.accessible("decided")
	p.shot("decided")

	// The closed finding stays, and the export says service account.
	p.do(chromedp.Click("#findings-closed"), chromedp.Click("#findings-show"))
	p.waitJS(`document.querySelector('#findings-table tr[data-account="` + bot + `"][data-open="false"]') !== null`)
	csv, err := chromedp.Run(p.ctx, chromedp.Evaluate[string](
		`fetch(document.querySelector("#accounts-csv").href).then(r => r.text())`, chromedp.EvalAwaitPromise))
	require.NoError(t, err)
	var botLine, janeLine string
	for _, l := range strings.Split(csv, "\n") {
		switch {
		case strings.Contains(l, bot):
			botLine = l
		case strings.Contains(l, jane):
			janeLine = l
		}
	}
	assert.Contains(t, botLine, "service_account")
	assert.Contains(t, janeLine, "offboarding_gap")
	assert.Contains(t, janeLine, "hris:E003")
}

// The seed's flow in a real browser: confirm and run a personnel resync
// with its notices and progress arriving over the event stream; an
// accounts resync of a selected connection; a held removal approved; a
// member without rights refused.
func TestAdminPage(t *testing.T) {
	bctx := browser(t)
	a, err := newApp(t.Context(), t.Output(), t.TempDir(), filepath.Join(t.TempDir(), "resync.db"))
	require.NoError(t, err)
	srv := httptest.NewServer(a.handler)
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
		require.NoError(t, a.close())
	})
	p := &page{t: t, ctx: bctx, dir: t.ArtifactDir()}

	p.do(chromedp.Navigate(srv.URL + "/"))
	p.waitText("#connections tbody", "Okta")
	p.waitText("#accounts-list", "AWS prod")
	p.accessible("connections")
	p.shot("connections")

	// Resync personnel: the confirmation says what will be touched.
	p.do(chromedp.Click("#resync-personnel"), chromedp.WaitVisible("#confirm"))
	p.waitText("#confirm-sync", "BambooHR")
	sync := p.text("#confirm-sync")
	for _, name := range []string{"BambooHR", "Okta", "AWS prod"} {
		assert.Contains(t, sync, name)
	}
	p.accessible("confirmation")
	p.shot("confirmation")
	p.do(chromedp.Click("#confirm-ok"))
	p.waitText("#notices", "Personnel resync started by Ada Lovelace.")
	p.waitText("#progress-table tbody", "Okta")
	p.shot("progress")
	// Jane Doe left (the HRIS says terminated) but her AWS user is still
	// active: the resync says it opened an offboarding gap.
	p.waitText("#notices", "Personnel resync completed: succeeded, 1 new offboarding gap")
	p.waitText("#runs tbody", "1 new offboarding gap")
	p.waitText("#progress-summary", "New findings: 1 new offboarding gap")
	p.accessible("completed")
	p.shot("completed")

	// Resync accounts of one selected connection.
	p.do(chromedp.Click("#acct-aws-prod"), chromedp.Click("#resync-accounts"), chromedp.WaitVisible("#confirm"))
	p.waitText("#confirm-sync", "AWS prod")
	assert.NotContains(t, p.text("#confirm-sync"), "Okta")
	p.do(chromedp.Click("#confirm-ok"))
	p.waitText("#notices", "Accounts resync (infrastructure) completed: succeeded.")

	// Who holds what: the run's gap, Jane's access, a decision.
	p.whoHoldsWhat()

	// Everyone leaves the IdP: the delete guard holds the removals; Ada
	// approves them with a reason.
	require.NoError(t, os.WriteFile(filepath.Join(a.dir, "idp.json"), []byte(`{"users":[],"groups":[]}`), 0o644))
	p.do(chromedp.Click("#resync-personnel"), chromedp.WaitVisible("#confirm"), chromedp.Click("#confirm-ok"))
	p.waitText("#notices", "Removals held for idp")
	p.waitText("#held-list", "removal(s)")
	p.accessible("held")
	p.shot("held")
	p.do(chromedp.SendKeys("#held-reason-0", "the IdP was migrated"), chromedp.Click("#approve-0"))
	p.waitText("#notices", "Held removals of idp approved.")
	p.waitText("#held-list", "No removal is waiting")

	// A person, everywhere.
	p.do(chromedp.SendKeys("#person-email", "jane.doe@acme.example"), chromedp.Click("#person-search"))
	p.waitText("#person-summary", "jane.doe@acme.example:")
	p.accessible("person")
	p.shot("person")

	// Bob may look but not act.
	p.do(chromedp.Evaluate[chromedp.Void](`document.cookie = "resync_user=u-bob; path=/; SameSite=Strict"`), chromedp.Reload())
	p.waitJS(`document.querySelector("#who").value === "u-bob"`)
	p.do(chromedp.Evaluate[chromedp.Void](`document.querySelector("#errors").replaceChildren()`), chromedp.Click("#resync-personnel"))
	p.waitText("#errors", "Not allowed")
	p.shot("refused")
}
