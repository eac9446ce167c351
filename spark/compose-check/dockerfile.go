// Dockerfile checks: each Dockerfile the Compose file builds is parsed with BuildKit's own
// Dockerfile parser and linter (what `docker build` runs), then its pinned versions are compared
// with versions.env.

package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

// varRef matches a tag that is exactly one variable: `$X` or `${X}`.
var varRef = regexp.MustCompile(`^\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?$`)

// varUse matches every variable used in a string.
var varUse = regexp.MustCompile(`\$\{?([A-Za-z_][A-Za-z0-9_]*)`)

// checkDockerfile parses one Dockerfile, lints it, and checks ARG defaults and FROM tags
// against versions.env.
func checkDockerfile(r *report, path, root string, versions map[string]string) {
	rel, err := filepath.Rel(root, path)
	if err != nil {
		rel = path
	}
	text, err := os.ReadFile(path)
	if err != nil {
		r.fail("cannot read Dockerfile %s: %v", rel, err)
		return
	}
	parsed, err := parser.Parse(bytes.NewReader(text))
	if err != nil {
		r.fail("%s: BuildKit cannot parse it: %v", rel, err)
		return
	}
	var lints []string
	for _, w := range parsed.Warnings {
		lints = append(lints, fmt.Sprintf("line %d: %s", w.Location.Start.Line, w.Short))
	}
	lint := linter.New(&linter.Config{Warn: func(rule, _, _, msg string, location []parser.Range) {
		line := 0
		if len(location) > 0 {
			line = location[0].Start.Line
		}
		lints = append(lints, fmt.Sprintf("line %d: %s: %s", line, rule, msg))
	}})
	stages, metaArgs, err := instructions.Parse(parsed.AST, lint)
	if err != nil {
		r.fail("%s: BuildKit rejects it: %v", rel, err)
		return
	}
	names := make([]string, 0, len(stages))
	for _, st := range stages {
		name := st.Name
		if name == "" {
			name = "(final)"
		}
		names = append(names, fmt.Sprintf("%s FROM %s", name, st.BaseName))
	}
	r.ok("%s: BuildKit's parser reads %d stages: %s", rel, len(stages), strings.Join(names, "; "))
	if len(lints) == 0 {
		r.ok("%s: no BuildKit lint warning", rel)
	}
	for _, l := range lints {
		r.fail("%s: BuildKit lint: %s", rel, l)
	}

	// Global ARGs (before the first FROM): the only ones FROM lines can use.
	global := map[string]*string{}
	for _, a := range metaArgs {
		for _, kv := range a.Args {
			global[kv.Key] = kv.Value
			if want, pinned := versions[kv.Key]; pinned {
				checkArgDefault(r, rel, kv, want)
			}
		}
	}
	stageNames := map[string]bool{}
	for i, st := range stages {
		checkFrom(r, rel, st, global, versions)
		for _, cmd := range st.Commands {
			switch c := cmd.(type) {
			case *instructions.ArgCommand:
				for _, kv := range c.Args {
					want, pinned := versions[kv.Key]
					if !pinned {
						continue
					}
					if kv.Value == nil {
						// `ARG X` inside a stage takes the global default.
						if _, declared := global[kv.Key]; !declared {
							r.fail("%s: ARG %s has no default; it must default to %s", rel, kv.Key, want)
						}
						continue
					}
					checkArgDefault(r, rel, kv, want)
				}
			case *instructions.CopyCommand:
				if c.From != "" && !stageNames[c.From] && !strings.ContainsAny(c.From, ":/") && c.From != fmt.Sprint(i-1) {
					r.fail("%s: COPY --from=%s names no earlier stage", rel, c.From)
				}
			}
		}
		if st.Name != "" {
			stageNames[st.Name] = true
		}
	}
	checkConnectorCoordinates(r, rel, string(text), versions)
}

func checkArgDefault(r *report, rel string, kv instructions.KeyValuePairOptional, want string) {
	if kv.Value == nil {
		r.fail("%s: ARG %s has no default; it must default to %s", rel, kv.Key, want)
		return
	}
	r.check(*kv.Value == want,
		fmt.Sprintf("%s: ARG %s=%s matches versions.env", rel, kv.Key, *kv.Value),
		fmt.Sprintf("%s: ARG %s=%q but versions.env pins %s=%s", rel, kv.Key, *kv.Value, kv.Key, want))
}

// checkFrom: variables in a FROM are global ARGs with defaults; a pinned product's tag is the
// pinned version, literally or through the ARG of that name.
func checkFrom(r *report, rel string, st instructions.Stage, global map[string]*string, versions map[string]string) {
	for _, m := range varUse.FindAllStringSubmatch(st.BaseName, -1) {
		if v, declared := global[m[1]]; !declared || v == nil || *v == "" {
			r.fail("%s: FROM %s uses $%s, which is not a global ARG with a default (declare it before the first FROM)", rel, st.BaseName, m[1])
		}
	}
	repo, tag := splitImage(st.BaseName)
	key, pinned := pinnedImages[repo]
	if !pinned {
		return
	}
	want := versions[key]
	if v := varRef.FindStringSubmatch(tag); v != nil {
		got := ""
		if d := global[v[1]]; d != nil {
			got = *d
		}
		r.check(v[1] == key && got == want,
			fmt.Sprintf("%s: FROM %s takes its tag from ARG %s=%s", rel, st.BaseName, key, got),
			fmt.Sprintf("%s: FROM %s must take its tag from ARG %s defaulting to %s", rel, st.BaseName, key, want))
		return
	}
	r.check(tag == want,
		fmt.Sprintf("%s: FROM %s matches %s", rel, st.BaseName, key),
		fmt.Sprintf("%s: FROM %s has tag %q but versions.env pins %s=%s", rel, st.BaseName, tag, key, want))
}
