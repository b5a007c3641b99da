package serve

import (
	"regexp"
	"strings"
	"sync"

	"github.com/custmart/custmart"
)

// martDocs are the marts' and columns' meanings, from the README's Marts
// section: a table's description is the paragraph under its heading, a
// column's is its row of the table there ("meaning (unit)").
type martDocs struct {
	tables  map[string]string            // mart -> description
	columns map[string]map[string]string // mart -> column -> description
}

var readmeDocs = sync.OnceValue(func() martDocs { return parseMartDocs(custmart.README) })

var (
	martHeading     = regexp.MustCompile(`^### ([a-z_]+)$`)
	operationalMart = regexp.MustCompile("^- \\*\\*([a-z_]+)\\*\\*: (.*)$")
	markdownCode    = strings.NewReplacer("`", "", `\|`, "|")
)

// parseMartDocs reads the "## Marts" section of a README.
func parseMartDocs(readme string) martDocs {
	docs := martDocs{tables: map[string]string{}, columns: map[string]map[string]string{}}
	_, section, ok := strings.Cut(readme, "\n## Marts\n")
	if !ok {
		return docs
	}
	if end := strings.Index(section, "\n## "); end >= 0 {
		section = section[:end]
	}
	var mart string   // the mart whose section this is
	var para []string // lines of the paragraph being read
	bullet := ""      // the operational mart whose bullet is being read
	endParagraph := func() {
		if len(para) > 0 && bullet != "" {
			docs.tables[bullet] = clean(strings.Join(para, " "))
		} else if len(para) > 0 && mart != "" && docs.tables[mart] == "" {
			docs.tables[mart] = clean(strings.Join(para, " "))
		}
		para, bullet = nil, ""
	}
	for _, line := range strings.Split(section, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "### "):
			endParagraph()
			mart = ""
			if m := martHeading.FindStringSubmatch(line); m != nil {
				mart = m[1]
			}
		case strings.HasPrefix(line, "|"):
			endParagraph()
			cells := tableCells(line)
			if mart == "" || len(cells) < 2 || cells[0] == "column" || strings.Trim(cells[0], "-: ") == "" {
				continue
			}
			desc := clean(cells[1])
			if len(cells) > 2 {
				if unit := clean(cells[2]); unit != "" && unit != "text" && unit != "boolean" && unit != "date" {
					desc += " (" + unit + ")"
				}
			}
			if docs.columns[mart] == nil {
				docs.columns[mart] = map[string]string{}
			}
			for _, name := range strings.Split(cells[0], ",") {
				docs.columns[mart][strings.TrimSpace(name)] = desc
			}
		case operationalMart.MatchString(line):
			endParagraph()
			m := operationalMart.FindStringSubmatch(line)
			bullet, para = m[1], []string{m[2]}
		case line == "":
			endParagraph()
		default:
			if bullet != "" || mart != "" && docs.tables[mart] == "" {
				para = append(para, line)
			}
		}
	}
	endParagraph()
	return docs
}

// tableCells splits a Markdown table row on its unescaped pipes.
func tableCells(line string) []string {
	line = strings.TrimSuffix(strings.TrimPrefix(line, "|"), "|")
	var cells []string
	start := 0
	for i := 0; i < len(line); i++ {
		switch line[i] {
		case '\\':
			i++
		case '|':
			cells = append(cells, strings.TrimSpace(line[start:i]))
			start = i + 1
		}
	}
	return append(cells, strings.TrimSpace(line[start:]))
}

func clean(s string) string {
	return strings.TrimSpace(markdownCode.Replace(s))
}
