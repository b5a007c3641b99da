package dag

import (
	"errors"
	"slices"
	"testing"
)

func TestSortOrdersDependenciesFirst(t *testing.T) {
	t.Parallel()
	order, err := Sort(map[string][]string{
		"rfm":     {"profile"},
		"profile": {"daily"},
		"daily":   {"stg"},
		"stg":     nil,
		"summary": {"rfm", "daily"},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"stg", "daily", "profile", "rfm", "summary"}
	if !slices.Equal(order, want) {
		t.Fatalf("order %v, want %v", order, want)
	}
}

func TestSortNamesTheCycle(t *testing.T) {
	t.Parallel()
	_, err := Sort(map[string][]string{"a": {"b"}, "b": {"c"}, "c": {"a"}})
	var cycle *CycleError
	if !errors.As(err, &cycle) {
		t.Fatalf("want a cycle error, got %v", err)
	}
	if got := cycle.Error(); got != "dependency cycle: a -> b -> c -> a" {
		t.Fatalf("got %q", got)
	}
}

func TestSortRejectsMissingDependency(t *testing.T) {
	t.Parallel()
	_, err := Sort(map[string][]string{"a": {"nope"}})
	var missing *MissingError
	if !errors.As(err, &missing) || missing.Dependency != "nope" {
		t.Fatalf("want missing dependency nope, got %v", err)
	}
}

func TestUpstream(t *testing.T) {
	t.Parallel()
	up := Upstream(map[string][]string{"a": {"b"}, "b": {"c"}, "c": nil, "d": nil}, "a")
	if !up["a"] || !up["b"] || !up["c"] || up["d"] {
		t.Fatalf("upstream of a = %v", up)
	}
}
