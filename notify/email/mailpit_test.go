package email_test

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// mailpit is the pair of servers .ci/mailpit.sh starts.
type mailpit struct {
	smtp, smtps    string // host:port
	api, smtpsAPI  string // base URLs
	roots          *x509.CertPool
	user, password string
}

var uniq atomic.Int64

// tag returns a string unique to this test process and call, for
// addresses that tell this test's messages from any other's.
func tag(t *testing.T) string {
	return fmt.Sprintf("%d-%d-%d", os.Getpid(), time.Now().UnixNano()%1e9, uniq.Add(1))
}

// needMailpit returns the servers' settings, or skips the test (fails it
// with RESYNC_REQUIRE_INTEGRATION=1) when RESYNC_MAILPIT_SMTP is unset.
func needMailpit(t *testing.T) mailpit {
	t.Helper()
	if os.Getenv("RESYNC_MAILPIT_SMTP") == "" {
		msg := `RESYNC_MAILPIT_SMTP is not set: start mailpit with eval "$(bash .ci/mailpit.sh)"`
		if os.Getenv("RESYNC_REQUIRE_INTEGRATION") == "1" {
			t.Fatal(msg + " (RESYNC_REQUIRE_INTEGRATION=1)")
		}
		t.Skip(msg)
	}
	m := mailpit{
		smtp: os.Getenv("RESYNC_MAILPIT_SMTP"), api: os.Getenv("RESYNC_MAILPIT_API"),
		smtps: os.Getenv("RESYNC_MAILPIT_SMTPS"), smtpsAPI: os.Getenv("RESYNC_MAILPIT_SMTPS_API"),
		user: os.Getenv("RESYNC_MAILPIT_USER"), password: os.Getenv("RESYNC_MAILPIT_PASSWORD"),
	}
	pem, err := os.ReadFile(os.Getenv("RESYNC_MAILPIT_CA_FILE"))
	require.NoError(t, err, "RESYNC_MAILPIT_CA_FILE")
	m.roots = x509.NewCertPool()
	require.True(t, m.roots.AppendCertsFromPEM(pem), "RESYNC_MAILPIT_CA_FILE holds no certificate")
	return m
}

func (m mailpit) tlsConfig() *tls.Config { return &tls.Config{RootCAs: m.roots} }

// address is a mailbox in mailpit's API.
type address struct{ Name, Address string }

// message is a message as mailpit's API returns it.
type message struct {
	ID        string
	MessageID string
	From      address
	To        []address
	Cc, Bcc   []address
	Subject   string
	Text      string
	HTML      string
}

// apiClient keeps no idle connections, so goleak finds none at exit.
var apiClient = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

func getJSON(t *testing.T, u string, v any) {
	t.Helper()
	resp, err := apiClient.Get(u)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	require.Equal(t, http.StatusOK, resp.StatusCode, "GET %s: %s", u, body)
	require.NoError(t, json.Unmarshal(body, v), "GET %s: %s", u, body)
}

// search returns the messages matching query (mailpit's search syntax),
// in full.
func search(t *testing.T, api, query string) []message {
	t.Helper()
	var res struct{ Messages []struct{ ID string } }
	getJSON(t, api+"/api/v1/search?query="+url.QueryEscape(query), &res)
	out := make([]message, len(res.Messages))
	for i, s := range res.Messages {
		getJSON(t, api+"/api/v1/message/"+s.ID, &out[i])
		out[i].Text = strings.ReplaceAll(out[i].Text, "\r\n", "\n")
	}
	return out
}

// searchIDs returns the IDs of the messages matching query.
func searchIDs(t *testing.T, api, query string) []string {
	t.Helper()
	var res struct{ Messages []struct{ ID string } }
	getJSON(t, api+"/api/v1/search?query="+url.QueryEscape(query), &res)
	out := make([]string, len(res.Messages))
	for i, s := range res.Messages {
		out[i] = s.ID
	}
	return out
}

// headers returns a message's headers.
func headers(t *testing.T, api, id string) map[string][]string {
	t.Helper()
	h := map[string][]string{}
	getJSON(t, api+"/api/v1/message/"+id+"/headers", &h)
	return h
}

// proxy forwards TCP connections on a loopback port to target. While it
// is down, nothing listens on its port; refuse makes it drop the next
// connections it accepts at once, as a server that crashes on accept.
type proxy struct {
	target string
	addr   string
	mu     sync.Mutex
	ln     net.Listener
	refuse int
	conns  sync.WaitGroup
}

// newProxy reserves a port and returns the proxy, down.
func newProxy(t *testing.T, target string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &proxy{target: target, addr: ln.Addr().String()}
	require.NoError(t, ln.Close())
	t.Cleanup(func() {
		p.down()
		p.conns.Wait()
	})
	return p
}

func (p *proxy) up(t *testing.T) {
	ln, err := net.Listen("tcp", p.addr)
	require.NoError(t, err)
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	p.conns.Add(1)
	go func() {
		defer p.conns.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			drop := p.refuse > 0
			if drop {
				p.refuse--
			}
			p.mu.Unlock()
			if drop {
				_ = c.Close()
				continue
			}
			p.conns.Add(1)
			go func() {
				defer p.conns.Done()
				p.forward(c)
			}()
		}
	}()
}

func (p *proxy) forward(c net.Conn) {
	defer c.Close()
	s, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		return
	}
	defer s.Close()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(s, c); _ = s.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, s); _ = c.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
	<-done
	<-done
}

// dropNext makes the proxy drop the next n connections at once.
func (p *proxy) dropNext(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.refuse = n
}

// dropping returns how many connections the proxy will still drop.
func (p *proxy) dropping() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.refuse
}

func (p *proxy) down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		_ = p.ln.Close()
		p.ln = nil
	}
}
