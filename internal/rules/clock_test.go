// Package rules checks the project's own rules over its source, the ones no compiler or
// general-purpose linter knows.
package rules

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

// wallClockDirs may read the wall clock throughout: they time real processes, not governance.
var wallClockDirs = map[string]string{
	"cmd/gatehouse-load":   "the load tool measures real latencies",
	"internal/redistest":   "the test harness waits for a real redis-server to start",
	"internal/ldaptest":    "the test harness waits for a real slapd to start",
	"internal/browsertest": "the test harness bounds a real browser's tabs",
	"internal/gatewaytest": "the test harness waits for the real gateway to start and to stop",
}

// wallClockMark allows one read elsewhere, on its line or the line before, with the reason:
// elapsed time (request latency, a cache entry's age) or the one place the clock is wired.
const wallClockMark = "wall clock:"

// Everything that decides or stamps governance state takes the one injected clock; a stray
// time.Now is how a test fixed to a date broke when that date passed. Test files may use it.
func TestTimeIsReadOnlyWhereTheClockIsWired(t *testing.T) {
	root := filepath.Join("..", "..")
	fset := token.NewFileSet()
	var found int
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if _, ok := wallClockDirs[rel]; ok || strings.HasPrefix(d.Name(), ".") && rel != "." {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ParseComments)
		if err != nil {
			return err
		}
		found++
		marked := map[int]bool{}
		for _, g := range f.Comments {
			for _, c := range g.List {
				if strings.Contains(c.Text, wallClockMark) {
					line := fset.Position(c.Pos()).Line
					marked[line], marked[line+1] = true, true
				}
			}
		}
		for _, name := range timePackageNames(f) {
			ast.Inspect(f, func(n ast.Node) bool {
				sel, ok := n.(*ast.SelectorExpr)
				if !ok {
					return true
				}
				if id, ok := sel.X.(*ast.Ident); ok && id.Name == name && wallClockReads[sel.Sel.Name] {
					if pos := fset.Position(sel.Pos()); !marked[pos.Line] {
						t.Errorf("%s:%d: time.%s reads the wall clock: take the injected clock, or say why with a %q comment",
							rel, pos.Line, sel.Sel.Name, wallClockMark)
					}
				}
				return true
			})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if found < 50 {
		t.Fatalf("only %d Go files found under %s: the walk is not looking at the project", found, root)
	}
}

var wallClockReads = map[string]bool{"Now": true, "Since": true, "Until": true}

// timePackageNames are the names a file imports package time under.
func timePackageNames(f *ast.File) []string {
	var names []string
	for _, imp := range f.Imports {
		if imp.Path.Value != `"time"` {
			continue
		}
		if imp.Name != nil {
			names = append(names, imp.Name.Name)
		} else {
			names = append(names, "time")
		}
	}
	return names
}
