package publish

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"

	"github.com/custmart/custmart/warehouse"
	"github.com/custmart/custmart/warehouse/report"
)

// ReportHandler serves the HTML report of the current version at /report
// and of any kept version at /report/{version}.
func ReportHandler(l warehouse.Layout) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /report", func(w http.ResponseWriter, r *http.Request) {
		version, _, err := Current(l)
		if errors.Is(err, ErrNothingPublished) {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		// The current version changes with every publish.
		w.Header().Set("Cache-Control", "no-cache")
		serveReport(w, r, l, version)
	})
	mux.HandleFunc("GET /report/{version}", func(w http.ResponseWriter, r *http.Request) {
		version := r.PathValue("version")
		// Only names of published versions, never a path.
		if versions, err := Versions(l); err != nil || !slices.Contains(versions, version) {
			http.Error(w, "no published version "+version, http.StatusNotFound)
			return
		}
		serveReport(w, r, l, version)
	})
	return mux
}

func serveReport(w http.ResponseWriter, r *http.Request, l warehouse.Layout, version string) {
	f, err := os.Open(filepath.Join(l.Version(version), report.FileName))
	if errors.Is(err, os.ErrNotExist) {
		http.Error(w, "version "+version+" has no report (it was published by an older custmart; run `custmart report --version "+version+"`)", http.StatusNotFound)
		return
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	http.ServeContent(w, r, report.FileName, fi.ModTime(), f)
}
