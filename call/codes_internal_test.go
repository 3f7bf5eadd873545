package call

import (
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// snake turns a Go name into its code: "InvalidCallID" → "invalid_call_id".
// A word starts at an upper-case letter after a lower-case one, and at the
// last upper-case letter of a run followed by a lower-case one.
func snake(name string) string {
	r := []rune(name)
	var b strings.Builder
	for i, c := range r {
		if i > 0 && unicode.IsUpper(c) &&
			(unicode.IsLower(r[i-1]) || i+1 < len(r) && unicode.IsLower(r[i+1]) && unicode.IsUpper(r[i-1])) {
			b.WriteByte('_')
		}
		b.WriteRune(unicode.ToLower(c))
	}
	return b.String()
}

func TestSnake(t *testing.T) {
	for in, want := range map[string]string{
		"InvalidCallID": "invalid_call_id", "NotPending": "not_pending", "Journal": "journal",
		"IDTooLong": "id_too_long", "TooManyInvitees": "too_many_invitees",
	} {
		if got := snake(in); got != want {
			t.Errorf("snake(%q) = %q, want %q", in, got, want)
		}
	}
}

// packageFiles parses the package's own Go files (not its tests).
func packageFiles(t *testing.T) map[string]*ast.File {
	t.Helper()
	names, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	files := map[string]*ast.File{}
	for _, n := range names {
		name := n.Name()
		if n.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		files[name] = f
	}
	return files
}

// TestEveryErrorHasItsCode: every exported Err* variable the package
// declares, in any of its files, is in codes with the code its name gives,
// in the order of declaration, and in the table of Code's comment; no two
// share a code; and Code gives each its code. A sentinel added without its
// code fails here.
func TestEveryErrorHasItsCode(t *testing.T) {
	files := packageFiles(t)
	declared := sentinelsDeclared(files["errors.go"]) // Err* variables: errors.go's, then any other file's
	for _, name := range slices.Sorted(maps.Keys(files)) {
		if name != "errors.go" {
			declared = append(declared, sentinelsDeclared(files[name])...)
		}
	}
	if len(declared) == 0 {
		t.Fatal("no Err* variable found: the test reads the wrong files")
	}

	// The codes table as written in codes.go: {ErrX, "x"} pairs.
	var listed, listedCodes []string
	ast.Inspect(files["codes.go"], func(n ast.Node) bool {
		vs, ok := n.(*ast.ValueSpec)
		if !ok || len(vs.Names) != 1 || vs.Names[0].Name != "codes" {
			return true
		}
		for _, el := range vs.Values[0].(*ast.CompositeLit).Elts {
			pair := el.(*ast.CompositeLit).Elts
			code, err := strconv.Unquote(pair[1].(*ast.BasicLit).Value)
			if err != nil {
				t.Fatal(err)
			}
			listed = append(listed, pair[0].(*ast.Ident).Name)
			listedCodes = append(listedCodes, code)
		}
		return false
	})
	if !slices.Equal(listed, declared) {
		t.Fatalf("codes lists %q,\nthe package declares %q", listed, declared)
	}
	if len(listed) != len(codes) {
		t.Fatalf("codes.go lists %d, codes holds %d", len(listed), len(codes))
	}

	// The table in Code's comment: one "code  ErrName" row per sentinel.
	var doc string
	for _, d := range files["codes.go"].Decls {
		if fd, ok := d.(*ast.FuncDecl); ok && fd.Name.Name == "Code" && fd.Recv == nil {
			doc = fd.Doc.Text()
		}
	}
	var rows [][2]string
	for line := range strings.Lines(doc) {
		if f := strings.Fields(line); len(f) == 2 && strings.HasPrefix(f[1], "Err") {
			rows = append(rows, [2]string{f[0], f[1]})
		}
	}
	if len(rows) != len(codes) {
		t.Errorf("Code's comment has %d rows, want %d", len(rows), len(codes))
	}

	seen := map[string]string{}
	for i, c := range codes {
		name := listed[i]
		if want := snake(strings.TrimPrefix(name, "Err")); c.code != want || listedCodes[i] != want {
			t.Errorf("%s has code %q, want %q", name, c.code, want)
		}
		if other, ok := seen[c.code]; ok {
			t.Errorf("%s and %s share the code %q", other, name, c.code)
		}
		seen[c.code] = name
		if i < len(rows) && rows[i] != [2]string{c.code, name} {
			t.Errorf("Code's comment, row %d: %q, want %q %q", i+1, rows[i], c.code, name)
		}
		if got := Code(c.err); got != c.code {
			t.Errorf("Code(%s) = %q, want %q", name, got, c.code)
		}
		if got := (&Error{Op: "invite", Err: c.err}).Code(); got != c.code {
			t.Errorf("(*Error).Code with %s = %q, want %q", name, got, c.code)
		}
		if sentinelOf(c.code) != c.err {
			t.Errorf("sentinelOf(%q) is not %s", c.code, name)
		}
	}
	for _, reserved := range []string{codeInternal, codeRefused, "bad_request", "unavailable", ""} {
		if name, ok := seen[reserved]; ok {
			t.Errorf("%s has the code %q, which is not a sentinel's", name, reserved)
		}
	}
}

// sentinelsDeclared returns the exported package-level Err* variables f
// declares, in order.
func sentinelsDeclared(f *ast.File) []string {
	var names []string
	for _, d := range f.Decls {
		gd, ok := d.(*ast.GenDecl)
		if !ok || gd.Tok != token.VAR {
			continue
		}
		for _, s := range gd.Specs {
			for _, n := range s.(*ast.ValueSpec).Names {
				if strings.HasPrefix(n.Name, "Err") && n.IsExported() {
					names = append(names, n.Name)
				}
			}
		}
	}
	return names
}

// statsOp is written out as a switch for speed: it must give every op of
// statsOps its index there, and -1 to the ops Stats does not count.
func TestStatsOp(t *testing.T) {
	for i, op := range statsOps {
		if got := statsOp(op); got != i {
			t.Errorf("statsOp(%q) = %d, want %d", op, got, i)
		}
	}
	for _, op := range []Op{OpTick, OpResume, "nonsense"} {
		if got := statsOp(op); got != -1 {
			t.Errorf("statsOp(%q) = %d, want -1", op, got)
		}
	}
}
