package custmart_test

import (
	"maps"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/custmart/custmart"

// importRules are the package map of the README's Development section: the
// packages under a prefix (or, when exact, that one package) must not depend,
// even through others, on any package of the project under a forbidden prefix
// ("" is the whole project outside those packages).
var importRules = []struct {
	packages  string
	forbidden []string
	exact     bool
}{
	{"warehouse", []string{""}, true},
	{"warehouse", []string{"jobs", "cmd"}, false},
	{"warehouse/dag", []string{""}, false},
	{"jobs", []string{"cmd"}, false},
	{"sql", []string{""}, false},
	{"fixtures", []string{""}, false},
	{"fixtures/pgserver", []string{""}, false},
}

// TestPackageImports keeps the imports running with the data flow: the
// engine (warehouse) knows nothing of the scheduler's configuration or the
// binary, its root package (layout, lock, atomic writes) imports nothing of
// the project, and the models (sql), the test fixtures (fixtures, the throwaway
// PostgreSQL among them) and the dependency order (warehouse/dag) import
// nothing of the project. Test files are not checked: a test may drive the
// whole pipeline.
func TestPackageImports(t *testing.T) {
	t.Parallel()
	out := goList(t, "-deps", "-test=false", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", "./...")
	imports := map[string][]string{} // every package of the project, with its imports of the project
	for line := range strings.Lines(string(out)) {
		fields := strings.Fields(line)
		pkg, ok := relative(fields[0])
		if !ok {
			continue
		}
		imports[pkg] = []string{}
		for _, imp := range fields[1:] {
			if dep, ok := relative(imp); ok {
				imports[pkg] = append(imports[pkg], dep)
			}
		}
	}
	if len(imports) < 10 {
		t.Fatalf("go list found %d packages of the project, want them all:\n%s", len(imports), out)
	}
	for _, pkg := range slices.Sorted(maps.Keys(imports)) {
		for _, rule := range importRules {
			covered := func(p string) bool {
				if rule.exact {
					return p == rule.packages
				}
				return under(p, rule.packages)
			}
			if !covered(pkg) {
				continue
			}
			for _, path := range dependencyPaths(imports, pkg) {
				dep := path[len(path)-1]
				for _, f := range rule.forbidden {
					if (f == "" && !covered(dep)) || (f != "" && under(dep, f)) {
						t.Errorf("%s imports %s (%s); see the package map in README.md", pkg, dep, strings.Join(path, " -> "))
					}
				}
			}
		}
	}
}

// relative strips the module path from a package of the project.
func relative(pkg string) (string, bool) {
	if pkg == module {
		return ".", true
	}
	return strings.CutPrefix(pkg, module+"/")
}

func under(pkg, prefix string) bool {
	return pkg == prefix || strings.HasPrefix(pkg, prefix+"/")
}

// dependencyPaths returns, for every package pkg depends on, one import
// chain from pkg to it.
func dependencyPaths(imports map[string][]string, pkg string) [][]string {
	var paths [][]string
	seen := map[string]bool{pkg: true}
	queue := [][]string{{pkg}}
	for len(queue) > 0 {
		path := queue[0]
		queue = queue[1:]
		for _, dep := range imports[path[len(path)-1]] {
			if seen[dep] {
				continue
			}
			seen[dep] = true
			next := append(path[:len(path):len(path)], dep)
			paths = append(paths, next)
			queue = append(queue, next)
		}
	}
	return paths
}

// TestLightPackagesSkipDuckDB keeps DuckDB out of the packages that need
// only the layout, settings and SQL text: every package that links it makes
// a test binary of about 100 MB, and linking those is most of the time of
// `make test-short` after an edit.
func TestLightPackagesSkipDuckDB(t *testing.T) {
	t.Parallel()
	const driver = "github.com/duckdb/duckdb-go/v2"
	light := []string{"warehouse", "warehouse/dag", "warehouse/lake/pgsource", "sql", "fixtures/pgserver"}
	args := []string{"-test", "-f", "{{.ImportPath}} {{join .Deps \" \"}}"}
	for _, pkg := range light {
		args = append(args, "./"+pkg)
	}
	listed := map[string]bool{}
	for line := range strings.Lines(goList(t, args...)) {
		fields := strings.Fields(line)
		pkg, _ := relative(fields[0]) // each package, its test variant and its test binary
		listed[pkg] = true
		if slices.Contains(fields[1:], driver) {
			t.Errorf("%s links DuckDB; open databases through warehouse/engine from the packages that need one", pkg)
		}
	}
	for _, pkg := range light {
		if !listed[pkg] {
			t.Errorf("go list did not list %s", pkg)
		}
	}
}

// goList runs `go list` with args and returns its output.
func goList(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("go", append([]string{"list"}, args...)...).Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("go list: %v\n%s", err, stderr)
	}
	return string(out)
}
