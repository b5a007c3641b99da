// Package dag orders named nodes by their dependencies. It serves both the
// model DAG of a transform and the job DAG of the scheduler.
package dag

import (
	"fmt"
	"sort"
	"strings"
)

// CycleError names the nodes of a dependency cycle in order.
type CycleError struct {
	Cycle []string
}

func (e *CycleError) Error() string {
	return "dependency cycle: " + strings.Join(e.Cycle, " -> ")
}

// MissingError names a dependency that is not a node.
type MissingError struct {
	Node, Dependency string
}

func (e *MissingError) Error() string {
	return fmt.Sprintf("%s depends on %s, which does not exist", e.Node, e.Dependency)
}

// Sort returns nodes so that every node comes after its dependencies; ties
// keep alphabetical order, so the order is stable from run to run.
func Sort(deps map[string][]string) ([]string, error) {
	names := make([]string, 0, len(deps))
	for n := range deps {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		for _, d := range deps[n] {
			if _, ok := deps[d]; !ok {
				return nil, &MissingError{Node: n, Dependency: d}
			}
		}
	}
	const (
		unvisited = iota
		visiting
		done
	)
	state := map[string]int{}
	var order, path []string
	var visit func(n string) error
	visit = func(n string) error {
		switch state[n] {
		case done:
			return nil
		case visiting:
			start := 0
			for i, p := range path {
				if p == n {
					start = i
				}
			}
			return &CycleError{Cycle: append(append([]string{}, path[start:]...), n)}
		}
		state[n] = visiting
		path = append(path, n)
		ds := append([]string{}, deps[n]...)
		sort.Strings(ds)
		for _, d := range ds {
			if err := visit(d); err != nil {
				return err
			}
		}
		path = path[:len(path)-1]
		state[n] = done
		order = append(order, n)
		return nil
	}
	for _, n := range names {
		if err := visit(n); err != nil {
			return nil, err
		}
	}
	return order, nil
}

// Upstream returns the given nodes and everything they depend on, transitively.
func Upstream(deps map[string][]string, roots ...string) map[string]bool {
	seen := map[string]bool{}
	var walk func(string)
	walk = func(n string) {
		if seen[n] {
			return
		}
		seen[n] = true
		for _, d := range deps[n] {
			walk(d)
		}
	}
	for _, r := range roots {
		walk(r)
	}
	return seen
}
