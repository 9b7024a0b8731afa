package resync_test

import (
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openresync/resync"
)

func TestPermanentAndRetryAfter(t *testing.T) {
	t.Parallel()
	assert.NoError(t, resync.Permanent(nil))
	assert.NoError(t, resync.RetryAfter(nil, time.Second))
	assert.False(t, resync.IsPermanent(nil))
	_, ok := resync.RetryDelay(nil)
	assert.False(t, ok)

	base := errors.New("bad token")
	p := resync.Permanent(base)
	wrapped := fmt.Errorf("page 3: %w", p)
	assert.True(t, resync.IsPermanent(wrapped))
	assert.ErrorIs(t, wrapped, base)
	assert.Equal(t, "page 3: bad token", wrapped.Error())
	assert.False(t, resync.IsPermanent(base))
	assert.False(t, resync.IsPermanent(fmt.Errorf("page 3: %v", p)), "%%v does not wrap")

	r := resync.RetryAfter(base, 3*time.Second)
	wrapped = fmt.Errorf("page 4: %w", fmt.Errorf("get: %w", r))
	d, ok := resync.RetryDelay(wrapped)
	assert.True(t, ok)
	assert.Equal(t, 3*time.Second, d)
	assert.ErrorIs(t, wrapped, base)
	assert.False(t, resync.IsPermanent(wrapped))
	assert.Contains(t, r.Error(), "retry after 3s")

	d, ok = resync.RetryDelay(resync.RetryAfter(base, -time.Second))
	assert.True(t, ok)
	assert.Equal(t, time.Duration(0), d, "negative delays become zero")

	// Both marks on one chain are both visible.
	both := resync.Permanent(resync.RetryAfter(base, time.Minute))
	assert.True(t, resync.IsPermanent(both))
	d, ok = resync.RetryDelay(both)
	assert.True(t, ok)
	assert.Equal(t, time.Minute, d)

	// In a joined error as well.
	j := errors.Join(errors.New("other"), p)
	assert.True(t, resync.IsPermanent(j))
}

// TestConnectorsGuideMatchesCode keeps CONNECTORS.md, the guide connector
// authors read first, telling the same story as the code: the Connector and
// Page it shows have the real methods and fields, and every package and
// name it refers to exists.
func TestConnectorsGuideMatchesCode(t *testing.T) {
	t.Parallel()
	guide, err := os.ReadFile("CONNECTORS.md")
	require.NoError(t, err)

	// The contract block shows Connector and Page as they are.
	var contract string
	for _, block := range regexp.MustCompile("(?s)```go\n(.*?)```").FindAllStringSubmatch(string(guide), -1) {
		if strings.Contains(block[1], "type Page struct") {
			contract = block[1]
		}
	}
	require.NotEmpty(t, contract, "CONNECTORS.md shows no Page struct")
	shown, err := parser.ParseFile(token.NewFileSet(), "CONNECTORS.md", "package guide\n"+contract, 0)
	require.NoError(t, err, "the contract block of CONNECTORS.md does not parse")
	real, err := parser.ParseFile(token.NewFileSet(), "connector.go", nil, 0)
	require.NoError(t, err)
	for _, typ := range []string{"Connector", "Page"} {
		assert.Equal(t, memberNames(t, real, typ), memberNames(t, shown, typ),
			"CONNECTORS.md shows %s with other members than connector.go", typ)
	}

	// The complete HTTP connector it shows parses, and is short.
	var minimal string
	for _, block := range regexp.MustCompile("(?s)```go\n(.*?)```").FindAllStringSubmatch(string(guide), -1) {
		if strings.HasPrefix(block[1], "package acme") {
			minimal = block[1]
		}
	}
	require.NotEmpty(t, minimal, "CONNECTORS.md shows no complete connector")
	_, err = parser.ParseFile(token.NewFileSet(), "acme.go", minimal, parser.AllErrors)
	require.NoError(t, err, "the complete connector of CONNECTORS.md does not parse")
	assert.LessOrEqual(t, strings.Count(minimal, "\n"), 60, "the complete connector of CONNECTORS.md grew past 60 lines")

	// Every qualified name of a package of this repository exists.
	dirs := map[string]string{"resync": ".", "resynctest": "resynctest", "memstore": "memstore", "file": "connectors/file", "connkit": "connkit"}
	exported := map[string][]string{}
	for _, m := range regexp.MustCompile(`\b(resync|resynctest|memstore|file|connkit)\.([A-Z]\w*)`).FindAllStringSubmatch(string(guide), -1) {
		pkg, name := m[1], m[2]
		if exported[pkg] == nil {
			exported[pkg] = topLevelNames(t, dirs[pkg])
		}
		assert.Contains(t, exported[pkg], name, "CONNECTORS.md names %s.%s, which %s does not declare", pkg, name, dirs[pkg])
	}

	// Every package path it names is a directory of the repository.
	for _, m := range regexp.MustCompile("`([a-z]+(?:/[a-z0-9.]+)+)`").FindAllStringSubmatch(string(guide), -1) {
		dir := strings.TrimSuffix(m[1], "/...")
		fi, err := os.Stat(dir)
		assert.True(t, err == nil && fi.IsDir(), "CONNECTORS.md names %s, which is not a package of this repository", m[1])
	}
}

// memberNames returns the method names of interface typ, or the field
// names of struct typ, as declared in f.
func memberNames(t *testing.T, f *ast.File, typ string) []string {
	t.Helper()
	var names []string
	found := false
	ast.Inspect(f, func(n ast.Node) bool {
		ts, ok := n.(*ast.TypeSpec)
		if !ok || ts.Name.Name != typ {
			return true
		}
		found = true
		var fields *ast.FieldList
		switch x := ts.Type.(type) {
		case *ast.StructType:
			fields = x.Fields
		case *ast.InterfaceType:
			fields = x.Methods
		}
		for _, fld := range fields.List {
			for _, n := range fld.Names {
				names = append(names, n.Name)
			}
		}
		return false
	})
	require.True(t, found, "type %s not declared", typ)
	return names
}

// topLevelNames returns the exported package-level names declared in the
// non-test Go files of dir.
func topLevelNames(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	require.NoError(t, err)
	var names []string
	for _, path := range files {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
		require.NoError(t, err)
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				if d.Recv == nil {
					names = append(names, d.Name.Name)
				}
			case *ast.GenDecl:
				for _, spec := range d.Specs {
					switch s := spec.(type) {
					case *ast.TypeSpec:
						names = append(names, s.Name.Name)
					case *ast.ValueSpec:
						for _, n := range s.Names {
							names = append(names, n.Name)
						}
					}
				}
			}
		}
	}
	return slices.DeleteFunc(names, func(n string) bool { return !ast.IsExported(n) })
}
