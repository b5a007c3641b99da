package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"slices"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// The file is read in two passes: into a yaml.Node, which keeps the line of
// every key, and only then into Config. The first pass walks the document
// against Config's types (found by reflection on their yaml tags), so an
// unknown key or a value of the wrong type is reported with its field path,
// its line and what to write, instead of yaml's message about Go types.

// valueError is a value an UnmarshalYAML method rejects: what is wrong and
// what to write instead. The walk adds the field path and the line.
type valueError struct{ msg, hint string }

func (e *valueError) Error() string { return e.msg + "; " + e.hint }

// readDocument parses raw into its single YAML document, or explains why it
// holds no configuration.
func readDocument(raw []byte) (*yaml.Node, *Error) {
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, emptyFile(raw)
		}
		return nil, syntaxError(raw, err)
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, syntaxError(raw, err)
	case len(next.Content) > 0 && next.Content[0].ShortTag() != "!!null":
		return nil, &Error{Line: next.Line, Msg: "a second YAML document starts here",
			Hint: "keep the whole configuration in one document: remove the `---` line"}
	}
	root := doc.Content[0]
	if root.ShortTag() == "!!null" {
		return nil, emptyFile(raw)
	}
	if root.Kind != yaml.MappingNode {
		return nil, &Error{Line: root.Line, Msg: fmt.Sprintf("the file %s, not a group of settings", describe(root)),
			Hint: "start the file with `version: 1`, then `sources:` and the other top-level keys"}
	}
	return root, nil
}

// checkVersion comes first: a file of another version may well hold keys
// this binary does not know.
func checkVersion(root *yaml.Node) *Error {
	const hint = "write `version: 1` at the top of the file"
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value != "version" {
			continue
		}
		v := root.Content[i+1]
		var n int
		if v.Kind != yaml.ScalarNode || v.ShortTag() != "!!int" || v.Decode(&n) != nil {
			what := describe(v) + ", not a version"
			if v.Kind == yaml.ScalarNode {
				what = fmt.Sprintf("%q is not a version", v.Value)
			}
			return &Error{Field: "version", Line: v.Line, Msg: what, Hint: hint}
		}
		if n != CurrentVersion {
			return &Error{Field: "version", Line: v.Line, Msg: fmt.Sprintf("version %d is not supported", n),
				Hint: fmt.Sprintf("this custmart reads version %d; %s", CurrentVersion, hint)}
		}
		return nil
	}
	return &Error{Field: "version", Msg: "missing", Hint: hint}
}

const startHint = "run `custmart init` to write a commented example, or start with `version: 1` and a `sources:` list"

func emptyFile(raw []byte) *Error {
	for line := range strings.Lines(string(raw)) {
		if l := strings.TrimSpace(line); l != "" && !strings.HasPrefix(l, "#") {
			return &Error{Msg: "the file holds no settings", Hint: startHint}
		}
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return &Error{Msg: "the file is empty", Hint: startHint}
	}
	return &Error{Msg: "the file holds only comments, no settings", Hint: startHint}
}

// syntaxError keeps the line of a YAML syntax error; yaml.v3 leaves it out
// of some messages, and then it is found as the shortest prefix of the file
// that fails the same way.
func syntaxError(raw []byte, err error) *Error {
	line, msg := cleanYAMLError(err)
	if line == 0 {
		lines := strings.SplitAfter(string(raw), "\n")
		n := sort.Search(len(lines), func(n int) bool {
			var doc yaml.Node
			prefixErr := yaml.Unmarshal([]byte(strings.Join(lines[:n+1], "")), &doc)
			return prefixErr != nil && prefixErr.Error() == err.Error()
		})
		if n < len(lines) {
			line = n + 1
		}
	}
	return &Error{Line: line, Msg: "YAML syntax error: " + msg, Hint: syntaxHint(raw, line, msg)}
}

func syntaxHint(raw []byte, line int, msg string) string {
	lines := strings.Split(string(raw), "\n")
	if line > 0 && line <= len(lines) && strings.Contains(lines[line-1], "\t") {
		return "indent with spaces (YAML does not allow tabs)"
	}
	switch {
	case strings.Contains(msg, "mapping values are not allowed"):
		return "quote a value that contains `: `, or put a nested key on its own, indented line"
	case strings.Contains(msg, "end of stream"):
		return "a quote or bracket opened earlier is never closed"
	}
	return "check the indentation, quotes and brackets on this line and the one before"
}

// checker walks a document against the types it decodes into and records
// the line of every field path it meets.
type checker struct {
	lines map[string]int
}

var unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()

func (ch *checker) check(n *yaml.Node, t reflect.Type, at string) *Error {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.ShortTag() == "!!null" {
		return nil // an empty value leaves the default
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		err := n.Decode(reflect.New(t).Interface())
		var ve *valueError
		if errors.As(err, &ve) {
			return &Error{Field: at, Line: n.Line, Msg: ve.msg, Hint: ve.hint}
		}
		if err != nil {
			line, msg := cleanYAMLError(err)
			return &Error{Field: at, Line: line, Msg: msg}
		}
		return nil
	}
	switch t.Kind() {
	case reflect.Pointer:
		return ch.check(n, t.Elem(), at)
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return &Error{Field: at, Line: n.Line, Msg: describe(n) + ", not a group of keys",
				Hint: "write its keys on the lines below it, indented: " + strings.Join(fieldsOf(t).names, ", ")}
		}
		return ch.checkStruct(n, t, at)
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			return &Error{Field: at, Line: n.Line, Msg: describe(n) + ", not a group of keys",
				Hint: "write `key: value` lines below it, indented"}
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			path := at + "." + k.Value
			if line, twice := ch.lines[path]; twice {
				return givenTwice(path, k.Line, line)
			}
			ch.lines[path] = k.Line
			if err := ch.check(v, t.Elem(), path); err != nil {
				return err
			}
		}
		return nil
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return &Error{Field: at, Line: n.Line, Msg: describe(n) + ", not a list",
				Hint: "write a list: [a, b], or one `- item` per line below it"}
		}
		for i, item := range n.Content {
			path := fmt.Sprintf("%s[%d]", at, i)
			ch.lines[path] = item.Line
			if err := ch.check(item, t.Elem(), path); err != nil {
				return err
			}
		}
		return nil
	}
	return checkScalar(n, t, at)
}

func (ch *checker) checkStruct(n *yaml.Node, t reflect.Type, at string) *Error {
	fields := fieldsOf(t)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.ShortTag() == "!!merge" {
			// <<: *anchor merges the anchored keys here; keys given beside
			// it override them, so they are not counted as given twice.
			merged := &checker{lines: map[string]int{}}
			if err := merged.checkMerge(v, t, at); err != nil {
				return err
			}
			continue
		}
		path := k.Value
		if at != "" {
			path = at + "." + k.Value
		}
		if line, twice := ch.lines[path]; twice {
			return givenTwice(path, k.Line, line)
		}
		ft, known := fields.types[k.Value]
		if !known {
			return &Error{Field: path, Line: k.Line, Msg: "unknown key", Hint: unknownKeyHint(k.Value, at, fields)}
		}
		ch.lines[path] = k.Line
		if err := ch.check(v, ft, path); err != nil {
			return err
		}
	}
	return nil
}

func givenTwice(path string, line, first int) *Error {
	return &Error{Field: path, Line: line, Msg: fmt.Sprintf("given twice (first at line %d)", first), Hint: "keep one of them"}
}

func (ch *checker) checkMerge(v *yaml.Node, t reflect.Type, at string) *Error {
	if v.Kind == yaml.AliasNode {
		v = v.Alias
	}
	if v.Kind == yaml.SequenceNode {
		for _, m := range v.Content {
			if err := ch.checkMerge(m, t, at); err != nil {
				return err
			}
		}
		return nil
	}
	return ch.check(v, t, at)
}

// checkScalar decodes a single value the way the real decode will, and
// refuses the fractions yaml.v3 would truncate into whole numbers.
func checkScalar(n *yaml.Node, t reflect.Type, at string) *Error {
	what, hint := "a text value", "write a single value; quote it if it contains `: ` or starts with [ or {"
	switch t.Kind() {
	case reflect.Bool:
		what, hint = "true or false", "write true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		what, hint = "a whole number", "write a whole number such as 10"
	case reflect.Float32, reflect.Float64:
		what, hint = "a number", "write a number such as 0.05"
	}
	if n.Kind != yaml.ScalarNode {
		return &Error{Field: at, Line: n.Line, Msg: fmt.Sprintf("%s, not %s", describe(n), what), Hint: hint}
	}
	err := n.Decode(reflect.New(t).Interface())
	if err == nil && what == "a whole number" && n.ShortTag() == "!!float" {
		var f float64
		if n.Decode(&f) == nil && f != math.Trunc(f) {
			err = errors.New("a fraction")
		}
	}
	if err != nil {
		return &Error{Field: at, Line: n.Line, Msg: fmt.Sprintf("%q is not %s", n.Value, what), Hint: hint}
	}
	return nil
}

// describe says what a node holds in plain words: "is a list".
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "is a list"
	case yaml.MappingNode:
		return "is a group of keys"
	}
	return fmt.Sprintf("is the single value %q", n.Value)
}

// fields are the keys of one struct level, in declaration order.
type fields struct {
	names []string
	types map[string]reflect.Type
}

// fieldsOf reads the keys of a struct from its yaml tags, as yaml.v3 does:
// untagged fields by their lowercased name, ",inline" structs flattened.
func fieldsOf(t reflect.Type) fields {
	fs := fields{types: map[string]reflect.Type{}}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if slices.Contains(strings.Split(opts, ","), "inline") {
			inner := fieldsOf(f.Type)
			fs.names = append(fs.names, inner.names...)
			for k, v := range inner.types {
				fs.types[k] = v
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		fs.names = append(fs.names, name)
		fs.types[name] = f.Type
	}
	return fs
}

// unknownKeyHint suggests the known key closest to key at its level, or the
// level below where key exists, or else lists the keys of the level.
func unknownKeyHint(key, at string, fs fields) string {
	if s := closest(key, fs.names); s != "" {
		return fmt.Sprintf("did you mean `%s`?", s)
	}
	for _, name := range fs.names {
		t := fs.types[name]
		if t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || reflect.PointerTo(t).Implements(unmarshalerType) {
			continue
		}
		if s := closest(key, fieldsOf(t).names); s != "" {
			return fmt.Sprintf("did you mean `%s.%s`? `%s` goes under `%s:`", name, s, s, name)
		}
	}
	level := "the top-level keys are"
	if at != "" {
		level = "the keys of " + at + " are"
	}
	return level + ": " + strings.Join(fs.names, ", ")
}

// closest returns the known key nearest to key when it is a plausible
// misspelling: a typo or two, another case, '-' for '_', or a cut-off prefix.
func closest(key string, known []string) string {
	norm := func(s string) string { return strings.ReplaceAll(strings.ToLower(s), "-", "_") }
	k := norm(key)
	limit := 1
	if len(k) >= 6 {
		limit = 2
	}
	best, bestDist := "", math.MaxInt
	for _, name := range known {
		d := editDistance(k, norm(name))
		if d > limit && !(len(k) >= 3 && strings.HasPrefix(norm(name), k)) {
			continue
		}
		if d < bestDist {
			best, bestDist = name, d
		}
	}
	return best
}

// editDistance counts the insertions, deletions, substitutions and swaps of
// adjacent letters that turn a into b (optimal string alignment).
func editDistance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}

// nearestLine is the line of field, or of the closest enclosing field the
// file gives (a missing key is reported where it belongs).
func (ch *checker) nearestLine(field string) int {
	for f := field; f != ""; {
		if line, ok := ch.lines[f]; ok {
			return line
		}
		i := strings.LastIndexAny(f, ".[")
		if i < 0 {
			break
		}
		f = f[:i]
	}
	return 0
}
