package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/custmart/custmart/jobs"
	"github.com/custmart/custmart/jobs/alert"
	"github.com/custmart/custmart/jobs/config"
	"github.com/custmart/custmart/jobs/metrics"
	"github.com/custmart/custmart/warehouse"
	"github.com/custmart/custmart/warehouse/publish"
)

// Daemon is `custmart schedule`: the scheduler with its HTTP listener
// (/metrics, /healthz, /runs, /report), alerts and mart freshness checks.
type Daemon struct {
	Config   *config.Config
	Pipeline *jobs.Pipeline // runs the attempts; its Layout is the data directory
	Logger   *slog.Logger
}

// Run serves until ctx is canceled (SIGTERM, SIGINT), then stops starting
// runs, lets a running run finish within scheduler.shutdown_grace, cancels it
// after that, and returns nil.
func (d *Daemon) Run(ctx context.Context) error {
	cfg, l, log := d.Config, d.Pipeline.Layout, d.Logger
	if len(cfg.Jobs) == 0 {
		return &config.Error{Path: cfg.Path, Field: "jobs", Msg: "no jobs are configured, so there is nothing to schedule",
			Hint: "add a job: jobs: [{name: daily, schedule: \"@daily\", steps: [ingest, transform, publish]}]"}
	}
	js, err := Jobs(cfg)
	if err != nil {
		return err
	}
	unlock, err := lockDaemon(l)
	if err != nil {
		return err
	}
	defer unlock()

	history := jobs.NewHistory(l)
	abandoned, err := jobs.RecoverAbandoned(l)
	var locked *warehouse.LockedError
	switch {
	case errors.As(err, &locked):
		log.Info("another process is writing; abandoned runs are marked at the first run", "holder", locked.Error())
	case err != nil:
		return fmt.Errorf("schedule: mark abandoned runs: %w", err)
	}
	records, err := history.List(jobs.Filter{})
	if err != nil {
		return fmt.Errorf("schedule: read run history: %w", err)
	}
	m := metrics.New(l, time.Now)
	m.Seed(records)
	alerts := alert.New(cfg.Alerts.Webhook, cfg.Alerts.Timeout.D(), l, cfg.Publish.Freshness.D(), log)
	// The runs just found abandoned are alerted below, as new failures.
	var known []jobs.Record
	for _, r := range records {
		if !slices.ContainsFunc(abandoned, func(a jobs.Record) bool { return a.ID == r.ID }) {
			known = append(known, r)
		}
	}
	alerts.Seed(known)
	for _, r := range abandoned {
		log.Warn("found abandoned run", "run", r.ID, "job", r.Job, "logical_date", r.LogicalDate, "pid", r.PID)
		m.Observe(r)
		alerts.RunFinished(r, false)
	}
	defer func() {
		flush, cancel := context.WithTimeout(context.Background(), 2*cfg.Alerts.Timeout.D()+5*time.Second)
		defer cancel()
		if err := alerts.Close(flush); err != nil {
			log.Error("alerts", "err", err)
		}
	}()

	srv := &metrics.Server{Metrics: m, History: history}
	if cfg.HTTP.Listen != "" {
		ln, err := net.Listen("tcp", cfg.HTTP.Listen)
		if err != nil {
			return fmt.Errorf("schedule: http.listen %s: %w (choose a free address in the config)", cfg.HTTP.Listen, err)
		}
		mux := http.NewServeMux()
		mux.Handle("/", srv.Handler())
		mux.Handle("/report", publish.ReportHandler(l))
		mux.Handle("/report/", publish.ReportHandler(l))
		hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go func() {
			if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("http server", "err", err)
			}
		}()
		defer func() {
			stop, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = hs.Shutdown(stop)
		}()
		log.Info("http listening", "addr", ln.Addr().String(), "endpoints", "/metrics /healthz /runs /report")
	}

	// Freshness checks stop before the alerts close (deferred calls run last first).
	checks, stopChecks := context.WithCancel(ctx)
	checksDone := make(chan struct{})
	defer func() {
		stopChecks()
		<-checksDone
	}()
	go func() {
		defer close(checksDone)
		tick := time.NewTicker(cfg.Scheduler.CheckEvery.D())
		defer tick.Stop()
		for {
			alerts.CheckFreshness()
			select {
			case <-checks.Done():
				return
			case <-tick.C:
			}
		}
	}()

	s := &Scheduler{
		Jobs: js, Execute: PipelineExecutor(d.Pipeline, js), History: history, Logger: log,
		Grace: cfg.Scheduler.ShutdownGrace.D(),
		Finished: func(r jobs.Record, retry bool) {
			m.Observe(r)
			alerts.RunFinished(r, retry)
		},
	}
	go func() {
		<-ctx.Done()
		srv.Stopping()
	}()
	log.Info("scheduler started", "jobs", len(js), "data_dir", l.Root, "pid", os.Getpid())
	if err := s.Run(ctx); err != nil {
		return err
	}
	log.Info("scheduler stopped")
	return nil
}

// lockDaemon admits one scheduler per data directory: two would start the
// same runs twice.
func lockDaemon(l warehouse.Layout) (func(), error) {
	if err := os.MkdirAll(l.Root, 0o755); err != nil {
		return nil, fmt.Errorf("schedule: create data dir %s: %w", l.Root, err)
	}
	path := filepath.Join(l.Root, "scheduler.lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("schedule: open %s: %w", path, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		raw, _ := os.ReadFile(path)
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			holder := strings.TrimSpace(string(raw))
			return nil, fmt.Errorf("schedule: another `custmart schedule` (pid %s) already runs on %s; stop it first", holder, l.Root)
		}
		return nil, fmt.Errorf("schedule: lock %s: %w", path, err)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return func() {
		_ = unix.Flock(int(f.Fd()), unix.LOCK_UN)
		f.Close()
	}, nil
}
