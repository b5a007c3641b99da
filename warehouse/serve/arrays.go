package serve

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
)

// PostgreSQL arrays coming in: array literals in SQL ('{1,2}'::int[]) and
// array parameters, in text or binary format. Going out, see
// appendArrayText and appendArrayBinary.

// arrayElement returns the element type of an array type OID.
func arrayElement(oid uint32) (pgType, bool) {
	for _, t := range pgTypes {
		if t.array == oid {
			return t, true
		}
	}
	return pgType{}, false
}

// parseArrayText reads a one-dimensional PostgreSQL array literal, {1,2,NULL}
// or {"a b","c\"d"}: its elements are strings, and nil for NULL.
func parseArrayText(s string) ([]any, error) {
	s = strings.TrimSpace(s)
	if len(s) < 2 || s[0] != '{' || s[len(s)-1] != '}' {
		return nil, fmt.Errorf("malformed array literal %q: an array is written {a,b,...}", s)
	}
	body := s[1 : len(s)-1]
	items := []any{}
	if strings.TrimSpace(body) == "" {
		return items, nil
	}
	for i := 0; ; {
		for i < len(body) && body[i] == ' ' {
			i++
		}
		var item any
		if i < len(body) && body[i] == '"' {
			var b strings.Builder
			i++
			for ; i < len(body) && body[i] != '"'; i++ {
				if body[i] == '\\' && i+1 < len(body) {
					i++
				}
				b.WriteByte(body[i])
			}
			if i >= len(body) {
				return nil, fmt.Errorf("malformed array literal %q: unterminated quoted element", s)
			}
			i++
			item = b.String()
		} else {
			end := i
			for end < len(body) && body[end] != ',' {
				if body[end] == '{' || body[end] == '"' {
					return nil, fmt.Errorf("malformed array literal %q: only one-dimensional arrays are supported", s)
				}
				end++
			}
			word := strings.TrimSpace(body[i:end])
			if word == "" {
				return nil, fmt.Errorf("malformed array literal %q: empty element", s)
			}
			if !strings.EqualFold(word, "NULL") {
				item = word
			}
			i = end
		}
		items = append(items, item)
		for i < len(body) && body[i] == ' ' {
			i++
		}
		if i == len(body) {
			return items, nil
		}
		if body[i] != ',' {
			return nil, fmt.Errorf("malformed array literal %q: expected a comma after an element", s)
		}
		i++
	}
}

// decodeArrayBinary reads a binary array parameter of a one-dimensional
// array: each element decoded as a parameter of the element type.
func decodeArrayBinary(oid uint32, data []byte) ([]any, error) {
	short := errors.New("binary array parameter is truncated")
	if len(data) < 12 {
		return nil, short
	}
	ndim := binary.BigEndian.Uint32(data)
	elemOID := binary.BigEndian.Uint32(data[8:])
	if elem, ok := arrayElement(oid); ok && elem.oid != elemOID {
		return nil, fmt.Errorf("binary %s[] parameter has elements of type %s", elem.sqlName, typeName(elemOID))
	}
	switch ndim {
	case 0:
		return []any{}, nil
	case 1:
	default:
		return nil, fmt.Errorf("binary array parameter has %d dimensions: only one-dimensional arrays are supported", ndim)
	}
	if len(data) < 20 {
		return nil, short
	}
	n := int(binary.BigEndian.Uint32(data[12:]))
	rest := data[20:]
	items := make([]any, 0, min(n, len(rest)/4))
	for range n {
		if len(rest) < 4 {
			return nil, short
		}
		size := binary.BigEndian.Uint32(rest)
		rest = rest[4:]
		if size == math.MaxUint32 {
			items = append(items, nil)
			continue
		}
		if uint64(size) > uint64(len(rest)) {
			return nil, short
		}
		v, err := decodeParam(elemOID, true, rest[:size])
		if err != nil {
			return nil, fmt.Errorf("array element %d: %w", len(items)+1, err)
		}
		items = append(items, v)
		rest = rest[size:]
	}
	return items, nil
}
