package ldap_test

// Helpers for the tests against a real slapd: the environment printed by
// .ci/slapd.sh, a generated directory of 5,000 users and 200 groups loaded
// once per server, and a way to restart the server mid-read.

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	goldap "github.com/go-ldap/ldap/v3"
	"github.com/stretchr/testify/require"
)

// server is the slapd the tests use.
type server struct {
	url, bindDN, password, base string
	ldapsURL, caFile            string // RESYNC_LDAPS_URL, RESYNC_LDAP_CA_FILE
	dir, start                  string // RESYNC_SLAPD_DIR, RESYNC_SLAPD_START
}

// requireServer returns the server named by the environment .ci/slapd.sh
// prints. Without it the test is skipped, unless RESYNC_REQUIRE_INTEGRATION=1,
// which makes it fail.
func requireServer(t testing.TB) server {
	t.Helper()
	s := server{
		url: os.Getenv("RESYNC_LDAP_URL"), bindDN: os.Getenv("RESYNC_LDAP_BIND_DN"),
		password: os.Getenv("RESYNC_LDAP_BIND_PASSWORD"), base: os.Getenv("RESYNC_LDAP_BASE_DN"),
		ldapsURL: os.Getenv("RESYNC_LDAPS_URL"), caFile: os.Getenv("RESYNC_LDAP_CA_FILE"),
		dir: os.Getenv("RESYNC_SLAPD_DIR"), start: os.Getenv("RESYNC_SLAPD_START"),
	}
	if s.url == "" || s.bindDN == "" || s.base == "" {
		msg := `RESYNC_LDAP_URL, RESYNC_LDAP_BIND_DN or RESYNC_LDAP_BASE_DN is not set: start a server with eval "$(bash .ci/slapd.sh)" from the repository root`
		if os.Getenv("RESYNC_REQUIRE_INTEGRATION") == "1" {
			t.Fatal(msg + " (RESYNC_REQUIRE_INTEGRATION=1 requires it)")
		}
		t.Skip(msg)
	}
	return s
}

// settings are connector settings for this server under base.
func (s server) settings(base string, kv ...string) map[string]string {
	m := map[string]string{
		"url": s.url, "bind_dn": s.bindDN, "bind_password": s.password,
		"user_base_dn": "ou=people," + base, "group_base_dn": "ou=groups," + base,
	}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

func (s server) connect(t testing.TB) *goldap.Conn {
	t.Helper()
	c, err := goldap.DialURL(s.url)
	require.NoError(t, err)
	require.NoError(t, c.Bind(s.bindDN, s.password))
	t.Cleanup(func() { c.Close() })
	return c
}

// Shape of the generated directory.
const (
	dirUsers  = 5000
	dirGroups = 200
)

// userUID names user i; groupsOf lists the groups user i is in: group
// i%200 for everyone, and group (i*7+3)%200 as well for every third user.
func userUID(i int) string { return fmt.Sprintf("u%05d", i) }

func groupsOf(i int) []int { return groupsOfN(i, dirGroups) }

func groupsOfN(i, groups int) []int {
	gs := []int{i % groups}
	if i%3 == 0 {
		if g := (i*7 + 3) % groups; g != gs[0] {
			gs = append(gs, g)
		}
	}
	return gs
}

var (
	loadOnce sync.Once
	loadErr  error

	largeOnce sync.Once
	largeErr  error
)

// directory returns the base DN of the generated directory (ou=dir5k under
// the server's base), loading it the first time on this server. The data
// is never changed by tests, so later runs against the same server reuse
// it; a marker entry added last says the load completed.
func directory(t testing.TB, s server) string {
	t.Helper()
	base := "ou=dir5k," + s.base
	loadOnce.Do(func() { loadErr = load(s, base, dirUsers, dirGroups) })
	require.NoError(t, loadErr, "loading the generated directory")
	return base
}

// largeDirectory is directory with 50,000 users and 2,000 groups, under
// ou=dir50k; loading it takes about half a minute the first time.
func largeDirectory(t testing.TB, s server) string {
	t.Helper()
	base := "ou=dir50k," + s.base
	largeOnce.Do(func() { largeErr = load(s, base, 50_000, 2_000) })
	require.NoError(t, largeErr, "loading the large generated directory")
	return base
}

func load(s server, base string, users, groups int) error {
	c, err := goldap.DialURL(s.url)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Bind(s.bindDN, s.password); err != nil {
		return err
	}
	marker := "cn=complete," + base
	if _, err := c.Search(goldap.NewSearchRequest(marker, goldap.ScopeBaseObject, 0, 0, 0, false, "(objectClass=*)", []string{"1.1"}, nil)); err == nil {
		return nil
	}
	start := time.Now()
	for _, dn := range []string{base, "ou=people," + base, "ou=groups," + base} {
		ou, _, _ := strings.Cut(strings.TrimPrefix(dn, "ou="), ",")
		if err := addIgnoreExists(c, dn, map[string][]string{"objectClass": {"organizationalUnit"}, "ou": {ou}}); err != nil {
			return err
		}
	}
	// Users over four connections at once: slapd adds them in parallel.
	const workers = 4
	errs := make(chan error, workers)
	for w := range workers {
		go func() {
			wc, err := goldap.DialURL(s.url)
			if err != nil {
				errs <- err
				return
			}
			defer wc.Close()
			if err := wc.Bind(s.bindDN, s.password); err != nil {
				errs <- err
				return
			}
			for i := w; i < users; i += workers {
				if err := addIgnoreExists(wc, userDN(base, i), userAttrs(i)); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range workers {
		if err := <-errs; err != nil {
			return err
		}
	}
	members := make([][]string, groups)
	for i := range users {
		for _, g := range groupsOfN(i, groups) {
			members[g] = append(members[g], userDN(base, i))
		}
	}
	for g := range groups {
		if err := addIgnoreExists(c, groupDN(base, g), map[string][]string{
			"objectClass": {"groupOfNames"}, "cn": {groupCN(g)}, "member": members[g],
		}); err != nil {
			return err
		}
	}
	if err := addIgnoreExists(c, marker, map[string][]string{"objectClass": {"organizationalRole"}, "cn": {"complete"}}); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "loaded %d users and %d groups into %s in %s\n", users, groups, base, time.Since(start).Round(time.Millisecond))
	return nil
}

func userDN(base string, i int) string { return "uid=" + userUID(i) + ",ou=people," + base }
func groupCN(g int) string             { return fmt.Sprintf("group-%03d", g) }
func groupDN(base string, g int) string {
	return "cn=" + groupCN(g) + ",ou=groups," + base
}

func userAttrs(i int) map[string][]string {
	a := map[string][]string{
		"objectClass":      {"inetOrgPerson"},
		"uid":              {userUID(i)},
		"cn":               {fmt.Sprintf("User %d", i)},
		"sn":               {fmt.Sprintf("Surname%d", i)},
		"givenName":        {"User"},
		"displayName":      {fmt.Sprintf("User Number %d", i)},
		"mail":             {userUID(i) + "@example.com"},
		"employeeNumber":   {strconv.Itoa(100000 + i)},
		"title":            {[]string{"Engineer", "Analyst", "Manager", "Director"}[i%4]},
		"departmentNumber": {fmt.Sprintf("D%02d", i%20)},
	}
	if i%100 == 0 {
		a["employeeType"] = []string{"disabled"}
	}
	return a
}

func addIgnoreExists(c *goldap.Conn, dn string, attrs map[string][]string) error {
	req := goldap.NewAddRequest(dn, nil)
	for k, v := range attrs {
		req.Attribute(k, v)
	}
	if err := c.Add(req); err != nil && !goldap.IsErrorWithCode(err, goldap.LDAPResultEntryAlreadyExists) {
		return fmt.Errorf("adding %s: %w", dn, err)
	}
	return nil
}

// restart stops slapd and starts it again with the same configuration and
// data, as an operator's restart (or a crash and a restart) would.
func (s server) restart(t testing.TB) {
	t.Helper()
	s.stop(t)
	s.startAgain(t)
}

// stop stops slapd (SIGTERM, as an init system would) and waits until it
// has exited.
func (s server) stop(t testing.TB) {
	t.Helper()
	if s.dir == "" || s.start == "" {
		t.Fatal("RESYNC_SLAPD_DIR and RESYNC_SLAPD_START are not set: stopping the server needs the environment of .ci/slapd.sh")
	}
	raw, err := os.ReadFile(s.dir + "/slapd.pid")
	require.NoError(t, err)
	pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	require.NoError(t, err)
	require.NoError(t, syscall.Kill(pid, syscall.SIGTERM))
	deadline := time.Now().Add(20 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		require.True(t, time.Now().Before(deadline), "slapd (pid %d) did not stop", pid)
		time.Sleep(20 * time.Millisecond)
	}
}

// startAgain starts the stopped slapd with its configuration and data.
func (s server) startAgain(t testing.TB) {
	t.Helper()
	out, err := exec.Command("sh", "-c", s.start).CombinedOutput()
	require.NoError(t, err, "starting slapd again: %s", out)
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := goldap.DialURL(s.url)
		if err == nil {
			c.Close()
			return
		}
		require.True(t, time.Now().Before(deadline), "slapd did not come back: %v", err)
		time.Sleep(20 * time.Millisecond)
	}
}
