package core

import (
	"context"
	"flag"
	"os"
	"regexp"
	"testing"

	"github.com/callsig/callsig/events"
	"github.com/looplab/fsm"
)

var updateDiagrams = flag.Bool("update-diagrams", false, "rewrite the lifecycle diagrams in docs/guide.md from the declarations")

// lifecycleDiagrams draws each declared lifecycle with looplab/fsm.
func lifecycleDiagrams(t *testing.T) map[string]string {
	t.Helper()
	draw := func(initial string, decl fsm.Events) string {
		d, err := fsm.VisualizeWithType(fsm.NewFSM(initial, decl, nil), fsm.MERMAID)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	return map[string]string{
		"member": draw(memberInitial.String(), memberLifecycle),
		"call":   draw(callInitial.String(), callLifecycle),
	}
}

// TestLifecycleDiagramsInGuide fails when the diagrams in docs/guide.md and the
// declarations in lifecycle.go drift apart. Fix it with
// go test ./internal/core -run Diagrams -update-diagrams.
func TestLifecycleDiagramsInGuide(t *testing.T) {
	const path = "../../docs/guide.md"
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	readme := string(raw)
	for name, diagram := range lifecycleDiagrams(t) {
		block := regexp.MustCompile("(?s)(<!-- lifecycle:" + name + " -->\n```mermaid\n)(.*?)(```\n<!-- /lifecycle:" + name + " -->)")
		m := block.FindStringSubmatchIndex(readme)
		if m == nil {
			t.Errorf("docs/guide.md has no %s lifecycle block (<!-- lifecycle:%s --> … <!-- /lifecycle:%s -->)", name, name, name)
			continue
		}
		if got := readme[m[4]:m[5]]; got != diagram {
			if *updateDiagrams {
				readme = readme[:m[4]] + diagram + readme[m[5]:]
				continue
			}
			t.Errorf("docs/guide.md's %s lifecycle differs from lifecycle.go (rerun with -update-diagrams):\n--- guide\n%s--- declared\n%s", name, got, diagram)
		}
	}
	if *updateDiagrams {
		if err := os.WriteFile(path, []byte(readme), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestDerivedTablesAgreeWithFSM runs a real fsm.FSM as an independent oracle
// over every (state, command) pair: the dense tables the hot path uses must
// allow exactly what the declaration allows, and lead to the same state.
func TestDerivedTablesAgreeWithFSM(t *testing.T) {
	check := func(decl fsm.Events, states []string, cmds []string, next func(s, c int) (string, bool)) {
		t.Helper()
		for si, s := range states {
			for ci, c := range cmds {
				f := fsm.NewFSM(s, decl, nil)
				err := f.Event(context.Background(), c)
				want, wantOK := f.Current(), err == nil
				got, ok := next(si, ci)
				if ok != wantOK || (ok && got != want) {
					t.Errorf("%s --%s-->: table says (%s, %v), fsm says (%s, %v: %v)", s, c, got, ok, want, wantOK, err)
				}
			}
		}
	}
	var states, cmds []string
	for s := range numStates {
		states = append(states, events.State(s).String())
	}
	for c := range numMemberCmds {
		cmds = append(cmds, c.String())
	}
	check(memberLifecycle, states, cmds, func(s, c int) (string, bool) {
		to, ok := nextMember(events.State(s), memberCmd(c))
		if !ok {
			return "", false
		}
		return to.String(), true
	})

	states, cmds = nil, nil
	for s := range numCallStatuses {
		states = append(states, s.String())
	}
	for c := range numCallCmds {
		cmds = append(cmds, c.String())
	}
	check(callLifecycle, states, cmds, func(s, c int) (string, bool) {
		to, ok := nextCall(callStatus(s), callCmd(c))
		if !ok {
			return "", false
		}
		return to.String(), true
	})
}

// TestCompileRefusesUnknownNames: a typo in a declaration stops the program
// at init rather than shipping a table with a hole in it.
func TestCompileRefusesUnknownNames(t *testing.T) {
	stateName := func(i int) string { return events.State(i).String() }
	cmdName := func(i int) string { return memberCmd(i).String() }
	for _, decl := range []fsm.Events{
		{{Name: "acept", Src: []string{"Received"}, Dst: "Accepted"}},
		{{Name: "accept", Src: []string{"Recieved"}, Dst: "Accepted"}},
		{{Name: "accept", Src: []string{"Received"}, Dst: "Acepted"}},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("compile(%v) did not panic", decl)
				}
			}()
			compile(decl, numStates, int(numMemberCmds), stateName, cmdName)
		}()
	}
}
