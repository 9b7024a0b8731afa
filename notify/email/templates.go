package email

import (
	"embed"
	"fmt"
	htmltemplate "html/template"
	"strings"
	texttemplate "text/template"
)

//go:embed templates
var templateFS embed.FS

// Templates render a message from Data. Each is executed once per message
// and must be safe for concurrent use (text/template and html/template
// templates are, once parsed). A nil field takes the default.
type Templates struct {
	// Subject renders the subject line. Control characters in the result
	// (CR and LF included) become spaces, so no value can add a header.
	// Default: "[{{.Tenant}}] {{.Title}}".
	Subject *texttemplate.Template
	// Text renders the text/plain body.
	Text *texttemplate.Template
	// HTML renders the text/html alternative; html/template escapes every
	// value, so names and error messages cannot inject markup.
	HTML *htmltemplate.Template
}

// DefaultTemplates returns newly parsed default templates: a subject
// "[tenant] title", and text and HTML bodies that give the resync, who
// started it and when, the outcome, each connection's counts and errors,
// the held removals with what to do about them, and the link. A host can
// Clone one and redefine parts, or replace it.
func DefaultTemplates() Templates {
	read := func(name string) string {
		b, err := templateFS.ReadFile("templates/" + name)
		if err != nil {
			panic(err) // embedded: cannot happen
		}
		return string(b)
	}
	return Templates{
		Subject: texttemplate.Must(texttemplate.New("subject").Parse(strings.TrimSpace(read("subject.tmpl")))),
		Text:    texttemplate.Must(texttemplate.New("text").Parse(read("body.txt.tmpl"))),
		HTML:    htmltemplate.Must(htmltemplate.New("html").Parse(read("body.html.tmpl"))),
	}
}

func (t Templates) withDefaults() Templates {
	d := DefaultTemplates()
	if t.Subject == nil {
		t.Subject = d.Subject
	}
	if t.Text == nil {
		t.Text = d.Text
	}
	if t.HTML == nil {
		t.HTML = d.HTML
	}
	return t
}

func (t Templates) render(d Data) (subject, text, html string, err error) {
	var b strings.Builder
	if err := t.Subject.Execute(&b, d); err != nil {
		return "", "", "", fmt.Errorf("subject template: %w", err)
	}
	subject = b.String()
	b.Reset()
	if err := t.Text.Execute(&b, d); err != nil {
		return "", "", "", fmt.Errorf("text template: %w", err)
	}
	text = b.String()
	b.Reset()
	if err := t.HTML.Execute(&b, d); err != nil {
		return "", "", "", fmt.Errorf("HTML template: %w", err)
	}
	return subject, text, b.String(), nil
}
