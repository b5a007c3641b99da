package serve_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"time"

	"github.com/custmart/custmart/warehouse/serve"
)

// Example wires the server the way custmart serve does: users from the
// configuration (a password from the environment or a stored verifier) and
// a resolver that returns the latest published version.
func Example() {
	dataDir := "/var/lib/custmart"
	verifier, err := serve.HashPassword("correct horse battery staple")
	if err != nil {
		fmt.Println(err)
		return
	}
	srv, err := serve.New(serve.Options{
		Listen: "127.0.0.1:5433",
		Users: []serve.User{
			{Name: "analyst", Password: os.Getenv("CUSTMART_ANALYST_PASSWORD")},
			{Name: "dashboard", SCRAMVerifier: verifier},
		},
		MaxConnections:   50,
		StatementTimeout: 5 * time.Minute,
		MemoryLimit:      "4GB",
		Current: func() (string, string, error) {
			// The publisher's CURRENT pointer names the newest version.
			raw, err := os.ReadFile(filepath.Join(dataDir, "marts", "CURRENT"))
			if err != nil {
				return "", "", err
			}
			version := strings.TrimSpace(string(raw))
			return version, filepath.Join(dataDir, "marts", version, "marts.duckdb"), nil
		},
		Logger: slog.Default(),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := srv.ListenAndServe(ctx); err != nil {
		fmt.Println(err)
	}
}
