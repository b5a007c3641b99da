// Package custmart holds what the whole repository shares at its root: the
// README, whose Marts section is the reference of every published column.
// custmart serve publishes those meanings into its catalog (pg_description),
// so BI tools show the documentation the README gives.
package custmart

import _ "embed"

// README is the repository's README.md.
//
//go:embed README.md
var README string
