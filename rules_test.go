package callsig_test

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The repository must define every rule code and section it cites: a
// reader of the repository alone never meets a code that RULES.md does not
// explain. These tests scan the repository's Go and Markdown files, and the
// golden scenarios, for citations.

var (
	// ruleCode is a rule code standing alone as a word: G1, H8, B2. Inside
	// identifiers (BenchmarkB2, 0xB2, \xC3) there is no word boundary, so
	// they do not match.
	ruleCode = regexp.MustCompile(`\b([GAHCDB])([0-9]+)\b`)
	// ruleRange is a range of codes, "G1–G11" or "D1-D4": every code inside
	// it is cited, not only its ends.
	ruleRange = regexp.MustCompile(`\b([GAHCDB])([0-9]+)\s*[–-]\s*([GAHCDB])([0-9]+)\b`)
	// sectionRef is "§n", with the document it names when one precedes it
	// ("RULES.md §2", "PROTOCOL.md §3"); a bare "§n" is RULES.md's.
	sectionRef = regexp.MustCompile(`(?:\b([\w.-]+\.md)\s+)?§\s?([0-9]+)`)
	// ruleAnchor is how RULES.md defines a code: an anchor named by it.
	ruleAnchor = regexp.MustCompile(`<a id="([GAHCDB][0-9]+)"></a>\*\*([GAHCDB][0-9]+)\b`)
	// sectionHeading is how a document defines a section.
	sectionHeading = regexp.MustCompile(`(?m)^#+ §([0-9]+)\b`)
	// contractWord is the name of the contract the repository replaces with
	// RULES.md; it is spelled in two halves so that this file does not cite it.
	contractWord = regexp.MustCompile(`\b` + "SP" + "EC" + `\b`)
)

// citation is one code or section cited at a place in a file.
type citation struct {
	where string // file:line
	what  string // "G12", "RULES.md §9", or the forbidden word
}

// cited lists the citations in text that defs does not define, plus every
// use of the forbidden contract word. sections maps a document's name to
// the sections it defines.
func cited(name, text string, defs map[string]bool, sections map[string]map[int]bool) []citation {
	var bad []citation
	for n, line := range strings.Split(text, "\n") {
		where := fmt.Sprintf("%s:%d", name, n+1)
		for _, m := range ruleCode.FindAllStringSubmatch(line, -1) {
			if !defs[m[0]] {
				bad = append(bad, citation{where, m[0]})
			}
		}
		for _, m := range ruleRange.FindAllStringSubmatch(line, -1) {
			lo, _ := strconv.Atoi(m[2])
			hi, _ := strconv.Atoi(m[4])
			if m[1] != m[3] || lo > hi {
				bad = append(bad, citation{where, m[0] + " (not a range of one letter)"})
				continue
			}
			for i := lo; i <= hi; i++ {
				if code := m[1] + strconv.Itoa(i); !defs[code] {
					bad = append(bad, citation{where, code + " (in " + m[0] + ")"})
				}
			}
		}
		for _, m := range sectionRef.FindAllStringSubmatch(line, -1) {
			doc := m[1]
			if doc == "" {
				doc = "RULES.md"
			}
			i, _ := strconv.Atoi(m[2])
			if !sections[doc][i] {
				bad = append(bad, citation{where, doc + " §" + m[2]})
			}
		}
		if contractWord.MatchString(line) {
			bad = append(bad, citation{where, contractWord.FindString(line) + " (cite RULES.md instead)"})
		}
	}
	return bad
}

// definitions reads the codes RULES.md defines and the sections of every
// Markdown file of the repository, by base name.
func definitions(t *testing.T, files map[string]string) (map[string]bool, map[string]map[int]bool) {
	t.Helper()
	rules, ok := files["RULES.md"]
	if !ok {
		t.Fatal("RULES.md is missing")
	}
	defs := map[string]bool{}
	for _, m := range ruleAnchor.FindAllStringSubmatch(rules, -1) {
		if m[1] != m[2] {
			t.Errorf("RULES.md: anchor %s defines %s", m[1], m[2])
		}
		defs[m[1]] = true
	}
	sections := map[string]map[int]bool{}
	for name, text := range files {
		if !strings.HasSuffix(name, ".md") {
			continue
		}
		base := filepath.Base(name)
		if sections[base] == nil {
			sections[base] = map[int]bool{}
		}
		for _, m := range sectionHeading.FindAllStringSubmatch(text, -1) {
			i, _ := strconv.Atoi(m[1])
			sections[base][i] = true
		}
	}
	return defs, sections
}

// repoFiles reads every Go and Markdown file of the repository and the
// golden scenarios, keyed by slash-separated path, skipping hidden
// directories (.git, .ci) and this file, whose examples of undefined
// citations are there on purpose.
func repoFiles(t *testing.T) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != "." && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			return nil
		}
		path = filepath.ToSlash(path)
		if path == "rules_test.go" {
			return nil
		}
		scenario := strings.Contains(path, "testdata/scenarios/") && strings.HasSuffix(path, ".txt")
		if !scenario && !strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, ".md") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files[path] = string(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestEveryCitedRuleIsDefined fails on a rule code, a rule range or a
// section that no document of the repository defines, and on the name of
// the outside contract the rules came from.
func TestEveryCitedRuleIsDefined(t *testing.T) {
	files := repoFiles(t)
	defs, sections := definitions(t, files)
	for _, want := range []string{"G1", "G11", "A7", "H8", "C6", "D4", "B6"} {
		if !defs[want] {
			t.Errorf("RULES.md does not define %s", want)
		}
	}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		for _, c := range cited(name, files[name], defs, sections) {
			t.Errorf("%s: %s is not defined in the repository", c.where, c.what)
		}
	}
}

// TestCitationScanCatches shows the scan is not vacuous: undefined codes,
// ranges, sections and the contract's name are caught; identifiers that
// merely contain a code are not.
func TestCitationScanCatches(t *testing.T) {
	defs := map[string]bool{"G1": true, "G2": true, "G3": true, "B2": true}
	sections := map[string]map[int]bool{"RULES.md": {1: true, 2: true}, "OTHER.md": {5: true}}
	text := strings.Join([]string{
		"G1 and B2 hold (RULES.md §2, §1, OTHER.md §5).", // defined: nothing
		"BenchmarkB2Accept, 0xB2, \\xC3, sha256:A1B2C3",  // no word boundary: nothing
		"G12 is new",                  // undefined code
		"G1–G4",                       // G4 undefined inside a range
		"RULES.md §9 and OTHER.md §1", // undefined sections
		"see " + "SP" + "EC" + " §2",  // the contract's name, and §2 is defined
	}, "\n")
	var got []string
	for _, c := range cited("x.go", text, defs, sections) {
		got = append(got, c.where+" "+c.what)
	}
	want := []string{
		"x.go:3 G12",
		"x.go:4 G4",
		"x.go:4 G4 (in G1–G4)",
		"x.go:5 RULES.md §9",
		"x.go:5 OTHER.md §1",
		"x.go:6 " + "SP" + "EC" + " (cite RULES.md instead)",
	}
	if !slices.Equal(got, want) {
		t.Errorf("scan found\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
