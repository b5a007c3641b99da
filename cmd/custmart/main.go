// Command custmart is the customer-value warehouse job runner.
package main

import (
	"os"

	"github.com/custmart/custmart/cmd/cli"
)

func main() {
	os.Exit(cli.Do(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
