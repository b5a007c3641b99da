// Package config loads and validates custmart's versioned YAML configuration.
//
// One file describes the sources, the business parameters of the models, the
// warehouse engine settings, publishing, the scheduled jobs, and the BI server.
// Load fills defaults first and validates after, so every error names the
// field and its line and says what to write instead.
//
// The file's shape, its version, its defaults and its messages live here;
// the settings the engine reads are the warehouse packages' own types
// (lake.Source, transform.Params, engine.Settings), which this package maps
// the file onto and which check their own values (Validate). The jobs'
// settings (schedules, retries, alerts) are checked here.
package config

import (
	_ "embed"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	"gopkg.in/yaml.v3"

	"github.com/custmart/custmart/warehouse"
	"github.com/custmart/custmart/warehouse/dag"
	"github.com/custmart/custmart/warehouse/engine"
	"github.com/custmart/custmart/warehouse/lake"
	"github.com/custmart/custmart/warehouse/lake/pgsource"
	"github.com/custmart/custmart/warehouse/transform"
)

// CurrentVersion is the only configuration version this binary reads.
const CurrentVersion = 1

// DefaultFile is looked up in the working directory when --config is not given.
const DefaultFile = "custmart.yaml"

// Example is the commented configuration `custmart init` writes.
//
//go:embed example.yaml
var Example []byte

// Config is the whole configuration file.
type Config struct {
	Version   int       `yaml:"version"`
	Sources   []Source  `yaml:"sources"`
	Model     Model     `yaml:"model"`
	Warehouse Warehouse `yaml:"warehouse"`
	Publish   Publish   `yaml:"publish"`
	Jobs      []Job     `yaml:"jobs"`
	Scheduler Scheduler `yaml:"scheduler"`
	HTTP      HTTP      `yaml:"http"`
	Alerts    Alerts    `yaml:"alerts"`
	Serve     Serve     `yaml:"serve"`

	// Path is the file the configuration came from; empty for built-in defaults.
	Path string `yaml:"-"`
}

// Source is a `sources:` entry, the file's form of lake.Source (which
// documents the fields). Relative paths are relative to the configuration
// file; pointers tell a value left out from a zero.
type Source struct {
	Name                string            `yaml:"name"`
	Path                string            `yaml:"path"`
	Format              string            `yaml:"format"`
	Compression         string            `yaml:"compression"`
	CSV                 CSV               `yaml:"csv"`
	Columns             map[string]string `yaml:"columns"`
	Postgres            *Postgres         `yaml:"postgres"`
	OnChangedFile       string            `yaml:"on_changed_file"`
	CancellationPattern string            `yaml:"cancellation_pattern"`
	Currencies          []string          `yaml:"currencies"`
	MaxQuarantineShare  *float64          `yaml:"max_quarantine_share"`
	FutureTolerance     Duration          `yaml:"future_tolerance"`
	MaxIDLength         int               `yaml:"max_id_length"`
	IntegralIDs         bool              `yaml:"integral_ids"`
	MissingCustomerID   string            `yaml:"missing_customer_id"`
	NotBefore           string            `yaml:"not_before"`
}

// CSV is a source's `csv:` group, the file's form of lake.CSV.
type CSV struct {
	Delimiter       string   `yaml:"delimiter"`
	Header          *bool    `yaml:"header"`
	Names           []string `yaml:"names"`
	Quote           string   `yaml:"quote"`
	DateFormat      string   `yaml:"date_format"`
	TimestampFormat string   `yaml:"timestamp_format"`
}

// Postgres is a source's `postgres:` group, the file's form of
// pgsource.Settings.
type Postgres struct {
	DSNEnv    string `yaml:"dsn_env"`
	Table     string `yaml:"table"`
	Query     string `yaml:"query"`
	Watermark string `yaml:"watermark"`
	BatchSize int    `yaml:"batch_size"`
}

// Lake returns the source as the lake reads it. The configuration's
// defaults are filled (Load, Parse and Default fill them).
func (s Source) Lake() lake.Source {
	out := lake.Source{
		Name: s.Name, Path: s.Path, Format: s.Format, Compression: s.Compression,
		CSV: lake.CSV{
			Delimiter: s.CSV.Delimiter, Header: *s.CSV.Header, Names: s.CSV.Names, Quote: s.CSV.Quote,
			DateFormat: s.CSV.DateFormat, TimestampFormat: s.CSV.TimestampFormat,
		},
		Columns: s.Columns, OnChangedFile: s.OnChangedFile, CancellationPattern: s.CancellationPattern,
		Currencies: s.Currencies, MaxQuarantineShare: *s.MaxQuarantineShare, FutureTolerance: s.FutureTolerance.D(),
		MaxIDLength: s.MaxIDLength, IntegralIDs: s.IntegralIDs, MissingCustomerID: s.MissingCustomerID,
		NotBefore: s.NotBefore,
	}
	if pg := s.Postgres; pg != nil {
		out.Postgres = &pgsource.Settings{DSNEnv: pg.DSNEnv, Table: pg.Table, Query: pg.Query, Watermark: pg.Watermark, BatchSize: pg.BatchSize}
	}
	return out
}

// LakeSources returns the named sources, in the order given, as the lake
// reads them; no names means every source, in the order of the file.
func (c *Config) LakeSources(names ...string) ([]lake.Source, error) {
	if len(names) == 0 {
		names = make([]string, len(c.Sources))
		for i, s := range c.Sources {
			names[i] = s.Name
		}
	}
	out := make([]lake.Source, 0, len(names))
	for _, n := range names {
		s, ok := c.Source(n)
		if !ok {
			return nil, fmt.Errorf("source %q is not in the configuration", n)
		}
		out = append(out, s.Lake())
	}
	return out, nil
}

// Model is the `model:` section, the file's form of transform.Params (which
// documents the fields). Relative side-file paths are relative to the
// configuration file.
type Model struct {
	TimeUnit          string    `yaml:"time_unit"`
	Horizon           float64   `yaml:"horizon"`
	MarginRate        float64   `yaml:"margin_rate"`
	CostPerOrder      float64   `yaml:"cost_per_order"`
	CostPerCustomerYr float64   `yaml:"cost_per_customer_year"`
	AcquisitionCost   float64   `yaml:"acquisition_cost"`
	DiscountRate      float64   `yaml:"discount_rate"`
	Monetary          string    `yaml:"monetary"`
	PredictiveModel   string    `yaml:"predictive_model"`
	Tiers             Tiers     `yaml:"tiers"`
	RFMSegments       []Rule    `yaml:"rfm_segments"`
	CycleBands        []float64 `yaml:"cycle_bands"`
	AmountBands       []float64 `yaml:"amount_bands"`
	HoldoutFrom       string    `yaml:"holdout_from"`
	ComparisonSample  int       `yaml:"comparison_sample"`
	Feedback          *Feedback `yaml:"feedback"`
	CampaignResponse  *SideFile `yaml:"campaign_response"`
}

// SideFile is the file's form of transform.SideFile.
type SideFile struct {
	Path    string            `yaml:"path"`
	Format  string            `yaml:"format"`
	Columns map[string]string `yaml:"columns"`
}

// Feedback is the `model.feedback:` group, the file's form of transform.Feedback.
type Feedback struct {
	SideFile     `yaml:",inline"`
	Scale        float64 `yaml:"scale"`
	HighAttitude float64 `yaml:"high_attitude"`
}

// Params returns the model section as the transform reads it.
func (m Model) Params() transform.Params {
	p := transform.Params{
		TimeUnit: m.TimeUnit, Horizon: m.Horizon, MarginRate: m.MarginRate, CostPerOrder: m.CostPerOrder,
		CostPerCustomerYr: m.CostPerCustomerYr, AcquisitionCost: m.AcquisitionCost, DiscountRate: m.DiscountRate,
		Monetary: m.Monetary, PredictiveModel: m.PredictiveModel,
		Tiers:      transform.Tiers{Platinum: m.Tiers.Platinum, Gold: m.Tiers.Gold, Iron: m.Tiers.Iron},
		CycleBands: m.CycleBands, AmountBands: m.AmountBands, HoldoutFrom: m.HoldoutFrom,
		ComparisonSample: m.ComparisonSample,
	}
	for _, r := range m.RFMSegments {
		p.RFMSegments = append(p.RFMSegments, transform.Rule{Segment: r.Segment,
			R: transform.Range(r.R), F: transform.Range(r.F), M: transform.Range(r.M)})
	}
	if f := m.Feedback; f != nil {
		p.Feedback = &transform.Feedback{SideFile: f.SideFile.params(), Scale: f.Scale, HighAttitude: f.HighAttitude}
	}
	if c := m.CampaignResponse; c != nil {
		side := c.params()
		p.CampaignResponse = &side
	}
	return p
}

func (s SideFile) params() transform.SideFile {
	return transform.SideFile{Path: s.Path, Format: s.Format, Columns: s.Columns}
}

// Tiers are the customer-pyramid cut-offs as shares of customers ranked by CLV.
type Tiers struct {
	Platinum float64 `yaml:"platinum"`
	Gold     float64 `yaml:"gold"`
	Iron     float64 `yaml:"iron"`
}

// Rule is one row of the RFM segment table; bounds are inclusive score ranges.
type Rule struct {
	Segment string `yaml:"segment"`
	R       Range  `yaml:"r"`
	F       Range  `yaml:"f"`
	M       Range  `yaml:"m"`
}

// Range is an inclusive score range written as [lo, hi], "lo-hi" or a single score.
type Range [2]int

const rangeHint = `write [lo, hi], "lo-hi" or a single score`

// UnmarshalYAML accepts "4-5", [4, 5] or 4.
func (r *Range) UnmarshalYAML(n *yaml.Node) error {
	var pair []int
	if n.Kind == yaml.SequenceNode {
		if err := n.Decode(&pair); err != nil || len(pair) != 2 {
			return &valueError{"a list that is not two scores", rangeHint}
		}
		*r = Range{pair[0], pair[1]}
		return nil
	}
	if n.Kind != yaml.ScalarNode {
		return &valueError{describe(n) + ", not a score range", rangeHint}
	}
	var lo, hi int
	if _, err := fmt.Sscanf(n.Value, "%d-%d", &lo, &hi); err == nil {
		*r = Range{lo, hi}
		return nil
	}
	if _, err := fmt.Sscanf(n.Value, "%d", &lo); err == nil {
		*r = Range{lo, lo}
		return nil
	}
	return &valueError{fmt.Sprintf("%q is not a score range", n.Value), rangeHint}
}

// Warehouse is the `warehouse:` section, the file's form of engine.Settings.
type Warehouse struct {
	MemoryLimit   string `yaml:"memory_limit"`
	TempDirectory string `yaml:"temp_directory"`
	Threads       int    `yaml:"threads"`
}

// Engine returns the DuckDB settings of the warehouse section.
func (w Warehouse) Engine() engine.Settings {
	return engine.Settings{MemoryLimit: w.MemoryLimit, TempDirectory: w.TempDirectory, Threads: w.Threads}
}

// Publish says how many published versions are kept.
type Publish struct {
	KeepVersions int `yaml:"keep_versions"`
	// Freshness is how old a mart may get before an alert fires.
	Freshness Duration `yaml:"freshness"`
}

// Job is one scheduled job. A run of a job covers one interval of its
// schedule and is identified by the interval's logical date: the day, in the
// job's time zone, on which the interval starts (Airflow's convention). A
// daily job at 02:00 running on the 2nd is the run for the 1st, and its
// pipeline runs with --as-of set to the 1st.
type Job struct {
	Name string `yaml:"name"`
	// Schedule is a cron expression: 5 fields (minute hour day month weekday),
	// 6 with a leading seconds field, or a descriptor such as @daily, @hourly
	// or @every 10m.
	Schedule string `yaml:"schedule"`
	// TimeZone the schedule and the logical date are read in (IANA name).
	TimeZone string   `yaml:"timezone"`
	Steps    []string `yaml:"steps"`
	// Sources limits the ingest step to these sources; empty means all.
	Sources []string `yaml:"sources"`
	// DependsOn are jobs that must have succeeded for the same logical date
	// before this job runs.
	DependsOn []string `yaml:"depends_on"`
	Retries   int      `yaml:"retries"`
	// RetryBackoff is the first retry delay; it doubles each attempt, with jitter.
	RetryBackoff Duration `yaml:"retry_backoff"`
	// RetryBackoffMax caps the retry delay.
	RetryBackoffMax Duration `yaml:"retry_backoff_max"`
	// Timeout cancels a run that takes longer; its partial work is rolled back.
	Timeout Duration `yaml:"timeout"`
	// CatchUp after downtime: all (every missed interval) or latest.
	CatchUp string `yaml:"catch_up"`
}

// Scheduler holds the settings of the `custmart schedule` daemon.
type Scheduler struct {
	// ShutdownGrace is how long a running run may take to finish after
	// SIGTERM or SIGINT before it is canceled.
	ShutdownGrace Duration `yaml:"shutdown_grace"`
	// CheckEvery is how often mart freshness is checked for alerts.
	CheckEvery Duration `yaml:"check_every"`
	// KeepRuns is how many run records the history keeps; older ones are
	// deleted after each run (each job's latest record always stays).
	KeepRuns int `yaml:"keep_runs"`
}

// HTTP is the scheduler's metrics and health listener.
type HTTP struct {
	// Listen is host:port for /metrics, /healthz and /runs; empty disables it.
	Listen string `yaml:"listen"`
}

// Alerts are webhooks called on failure, recovery and stale marts.
type Alerts struct {
	// Webhook receives an HTTP POST with a JSON body per alert.
	Webhook string `yaml:"webhook"`
	// Timeout bounds each delivery attempt.
	Timeout Duration `yaml:"timeout"`
}

// Serve configures the PostgreSQL-protocol server.
type Serve struct {
	Listen           string      `yaml:"listen"`
	Users            []ServeUser `yaml:"users"`
	TLSCert          string      `yaml:"tls_cert"`
	TLSKey           string      `yaml:"tls_key"`
	RequireTLS       bool        `yaml:"require_tls"`
	MaxConnections   int         `yaml:"max_connections"`
	StatementTimeout Duration    `yaml:"statement_timeout"`
	MemoryLimit      string      `yaml:"memory_limit"`
	Threads          int         `yaml:"threads"`
	// LookupIndex answers one-key lookups of customer-level marts from a
	// row index instead of DuckDB; nil means on.
	LookupIndex *bool `yaml:"lookup_index"`
}

// LookupIndexOn reports whether serve.lookup_index is on (the default).
func (s Serve) LookupIndexOn() bool { return s.LookupIndex == nil || *s.LookupIndex }

// ServeUser is a login; its secret is a SCRAM verifier or an environment variable.
type ServeUser struct {
	Name        string `yaml:"name"`
	PasswordEnv string `yaml:"password_env"`
	// SCRAM is a "SCRAM-SHA-256$..." verifier (custmart serve hash-password).
	SCRAM string `yaml:"scram"`
}

// Duration is a time.Duration written as "10m" or "36h".
type Duration time.Duration

// UnmarshalYAML parses Go duration syntax plus a "d" suffix for days.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return &valueError{describe(n) + ", not a duration", "write e.g. 90s, 10m, 2h or 7d"}
	}
	v := n.Value
	if strings.HasSuffix(v, "d") {
		var days int
		if _, err := fmt.Sscanf(v, "%dd", &days); err == nil {
			*d = Duration(time.Duration(days) * 24 * time.Hour)
			return nil
		}
	}
	parsed, err := time.ParseDuration(v)
	if err != nil {
		return &valueError{fmt.Sprintf("%q is not a duration", v), "write e.g. 90s, 10m, 2h or 7d"}
	}
	*d = Duration(parsed)
	return nil
}

// D returns the duration as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// DefaultSegments is the common 11-segment RFM map of docs/DOMAIN.md §2.
var DefaultSegments = []Rule{
	{"Champions", Range{4, 5}, Range{4, 5}, Range{4, 5}},
	{"Loyal Customers", Range{2, 5}, Range{3, 5}, Range{3, 5}},
	{"Potential Loyalist", Range{3, 5}, Range{1, 3}, Range{1, 3}},
	{"New Customers", Range{4, 5}, Range{1, 1}, Range{1, 1}},
	{"Promising", Range{3, 4}, Range{1, 1}, Range{1, 1}},
	{"Need Attention", Range{2, 3}, Range{2, 3}, Range{2, 3}},
	{"About To Sleep", Range{2, 3}, Range{1, 2}, Range{1, 2}},
	{"At Risk", Range{1, 2}, Range{2, 5}, Range{2, 5}},
	{"Can't Lose Them", Range{1, 1}, Range{4, 5}, Range{4, 5}},
	{"Hibernating", Range{1, 2}, Range{1, 2}, Range{1, 2}},
	{"Lost", Range{1, 2}, Range{1, 2}, Range{1, 2}},
}

// SampleSource reads the files `custmart fixtures` writes into <data-dir>/inbox,
// whose columns carry the canonical names.
func SampleSource(dataDir string) Source {
	columns := map[string]string{}
	for _, c := range lake.CanonicalColumns {
		columns[c] = c
	}
	return Source{
		Name:                "sample",
		Path:                filepath.Join(dataDir, "inbox"),
		Format:              "csv",
		Columns:             columns,
		CancellationPattern: "^R",
	}
}

// Default is the configuration used without a file: the built-in sample source.
func Default(dataDir string) *Config {
	c := &Config{Version: CurrentVersion, Sources: []Source{SampleSource(dataDir)}}
	c.applyDefaults()
	return c
}

// Load reads path, or custmart.yaml in the working directory when path is
// empty, or the built-in defaults when neither exists.
func Load(path, dataDir string) (*Config, error) {
	if path == "" {
		if _, err := os.Stat(DefaultFile); err != nil {
			return Default(dataDir), nil
		}
		path = DefaultFile
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, &Error{Path: path, Msg: err.Error(), Hint: "pass an existing file with --config, or run `custmart init` to write one"}
	}
	c, err := Parse(raw, path)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// Parse decodes and validates a configuration; path is used in errors and to
// resolve relative source paths.
func Parse(raw []byte, path string) (*Config, error) {
	c, lines, ce := decode(raw)
	if ce != nil {
		ce.Path = path
		return nil, ce
	}
	c.Path = path
	base := filepath.Dir(path)
	for _, p := range []*string{&c.Serve.TLSCert, &c.Serve.TLSKey} {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(base, *p)
		}
	}
	for i := range c.Sources {
		if p := c.Sources[i].Path; p != "" && !filepath.IsAbs(p) {
			c.Sources[i].Path = filepath.Join(base, p)
		}
	}
	for _, side := range []*SideFile{feedbackFile(c.Model.Feedback), c.Model.CampaignResponse} {
		if side != nil && side.Path != "" && !filepath.IsAbs(side.Path) {
			side.Path = filepath.Join(base, side.Path)
		}
	}
	c.applyDefaults()
	if err := c.Validate(); err != nil {
		var ce *Error
		if errors.As(err, &ce) {
			ce.Path = path
			if ce.Line == 0 {
				ce.Line = lines.nearestLine(ce.Field)
			}
		}
		return nil, err
	}
	return c, nil
}

// decode reads raw into a Config after checking its keys, value types and
// version against the document, so that each problem names its field and
// line; lines holds the line of every field the file gives.
func decode(raw []byte) (c *Config, lines *checker, ce *Error) {
	root, ce := readDocument(raw)
	if ce != nil {
		return nil, nil, ce
	}
	if ce := checkVersion(root); ce != nil {
		return nil, nil, ce
	}
	lines = &checker{lines: map[string]int{}}
	if ce := lines.check(root, reflect.TypeFor[Config](), ""); ce != nil {
		return nil, nil, ce
	}
	c = &Config{}
	if err := root.Decode(c); err != nil {
		line, msg := cleanYAMLError(err)
		return nil, nil, &Error{Line: line, Msg: msg, Hint: "compare with the reference in the README or `custmart init`"}
	}
	return c, lines, nil
}

var yamlLineRE = regexp.MustCompile(`^line (\d+): (.*)$`)

// cleanYAMLError splits a yaml.v3 error into its line (0 when it names
// none) and its message without the "yaml: " prefix.
func cleanYAMLError(err error) (line int, msg string) {
	msg = strings.TrimPrefix(err.Error(), "yaml: ")
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg = te.Errors[0]
	}
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	}
	return line, msg
}

func (c *Config) applyDefaults() {
	for i := range c.Sources {
		s := &c.Sources[i]
		if s.Format == "" && s.Postgres == nil {
			s.Format = "csv"
		}
		if s.Compression == "" {
			s.Compression = "auto"
		}
		if s.CSV.Delimiter == "" {
			s.CSV.Delimiter = ","
		}
		if s.CSV.Header == nil {
			header := len(s.CSV.Names) == 0
			s.CSV.Header = &header
		}
		if s.CSV.Quote == "" {
			s.CSV.Quote = `"`
		}
		if s.OnChangedFile == "" {
			s.OnChangedFile = "reject"
		}
		if s.MissingCustomerID == "" {
			s.MissingCustomerID = lake.MissingCustomerQuarantine
		}
		if s.MaxQuarantineShare == nil {
			share := 0.05
			s.MaxQuarantineShare = &share
		}
		if s.FutureTolerance == 0 {
			s.FutureTolerance = Duration(24 * time.Hour)
		}
		if s.MaxIDLength == 0 {
			s.MaxIDLength = 256
		}
		if s.NotBefore == "" {
			s.NotBefore = "1970-01-01"
		}
		if s.Postgres != nil && s.Postgres.BatchSize == 0 {
			s.Postgres.BatchSize = 50000
		}
	}
	m := &c.Model
	if m.TimeUnit == "" {
		m.TimeUnit = "weeks"
	}
	for _, side := range []*SideFile{feedbackFile(m.Feedback), m.CampaignResponse} {
		if side != nil && side.Format == "" {
			side.Format = "csv"
		}
	}
	if m.ComparisonSample == 0 {
		m.ComparisonSample = 20_000
	}
	if m.Feedback != nil && m.Feedback.HighAttitude == 0 {
		m.Feedback.HighAttitude = 0.7
	}
	if m.Horizon == 0 {
		m.Horizon = 365.0 / transform.Params{TimeUnit: m.TimeUnit}.UnitDays()
	}
	if m.MarginRate == 0 {
		m.MarginRate = 0.3
	}
	if m.DiscountRate == 0 {
		m.DiscountRate = 0.1
	}
	if m.Monetary == "" {
		m.Monetary = "sum"
	}
	if m.PredictiveModel == "" {
		m.PredictiveModel = "bgnbd"
	}
	if m.Tiers == (Tiers{}) {
		m.Tiers = Tiers{Platinum: 0.10, Gold: 0.20, Iron: 0.40}
	}
	if len(m.RFMSegments) == 0 {
		m.RFMSegments = DefaultSegments
	}
	if len(m.CycleBands) == 0 {
		m.CycleBands = []float64{1.0 / 3, 2.0 / 3}
	}
	if len(m.AmountBands) == 0 {
		m.AmountBands = []float64{1.0 / 3, 2.0 / 3}
	}
	if c.Publish.KeepVersions == 0 {
		c.Publish.KeepVersions = 5
	}
	if c.Publish.Freshness == 0 {
		c.Publish.Freshness = Duration(36 * time.Hour)
	}
	for i := range c.Jobs {
		j := &c.Jobs[i]
		if j.TimeZone == "" {
			j.TimeZone = "UTC"
		}
		if j.RetryBackoff == 0 {
			j.RetryBackoff = Duration(10 * time.Second)
		}
		if j.RetryBackoffMax == 0 {
			j.RetryBackoffMax = Duration(10 * time.Minute)
		}
		if j.Timeout == 0 {
			j.Timeout = Duration(time.Hour)
		}
		if j.CatchUp == "" {
			j.CatchUp = "latest"
		}
	}
	if c.Scheduler.ShutdownGrace == 0 {
		c.Scheduler.ShutdownGrace = Duration(30 * time.Second)
	}
	if c.Scheduler.KeepRuns == 0 {
		c.Scheduler.KeepRuns = 10000
	}
	if c.Scheduler.CheckEvery == 0 {
		c.Scheduler.CheckEvery = Duration(time.Minute)
	}
	if c.Alerts.Timeout == 0 {
		c.Alerts.Timeout = Duration(10 * time.Second)
	}
	if c.Serve.Listen == "" {
		c.Serve.Listen = "127.0.0.1:5433"
	}
	if c.Serve.MaxConnections == 0 {
		c.Serve.MaxConnections = 64
	}
	if c.Serve.StatementTimeout == 0 {
		c.Serve.StatementTimeout = Duration(5 * time.Minute)
	}
	if c.Serve.MemoryLimit == "" {
		c.Serve.MemoryLimit = "2GiB"
	}
}

var nameRE = regexp.MustCompile(`^[a-z][a-z0-9_-]*$`)

// Validate checks the configuration; the first problem is returned.
func (c *Config) Validate() error {
	if len(c.Sources) == 0 {
		return fieldErr("sources", "no source is configured", "add at least one entry under `sources:` with name, path, format and columns")
	}
	seen := map[string]bool{}
	for i, s := range c.Sources {
		at := fmt.Sprintf("sources[%d]", i)
		if !nameRE.MatchString(s.Name) {
			return fieldErr(at+".name", fmt.Sprintf("%q is not a valid source name", s.Name), "use lowercase letters, digits, '_' or '-', starting with a letter")
		}
		if seen[s.Name] {
			return fieldErr(at+".name", fmt.Sprintf("source %q is declared twice", s.Name), "give every source its own name")
		}
		seen[s.Name] = true
		if err := s.Lake().Validate(); err != nil {
			return settingErr(at, err)
		}
	}
	if err := c.Model.Params().Validate(); err != nil {
		return settingErr("model", err)
	}
	if c.Publish.KeepVersions < 1 {
		return fieldErr("publish.keep_versions", "must keep at least 1 version", "set keep_versions to 1 or more")
	}
	if err := c.Serve.validate(); err != nil {
		return err
	}
	return c.validateJobs()
}

func (s Serve) validate() error {
	for i, u := range s.Users {
		at := fmt.Sprintf("serve.users[%d]", i)
		if u.Name == "" {
			return fieldErr(at+".name", "missing", "name the login BI tools use")
		}
		if (u.PasswordEnv == "") == (u.SCRAM == "") {
			return fieldErr(at, "give exactly one of password_env or scram", "password_env: NAME_OF_ENV_VAR, or scram: the output of `custmart serve hash-password`")
		}
		if u.SCRAM != "" && !strings.HasPrefix(u.SCRAM, "SCRAM-SHA-256$") {
			return fieldErr(at+".scram", "not a SCRAM-SHA-256 verifier", "paste the output of `custmart serve hash-password`; never a plaintext password")
		}
	}
	if (s.TLSCert == "") != (s.TLSKey == "") {
		return fieldErr("serve.tls_cert", "tls_cert and tls_key go together", "give both files, or neither")
	}
	if s.RequireTLS && s.TLSCert == "" {
		return fieldErr("serve.require_tls", "TLS is required but no certificate is configured", "set serve.tls_cert and serve.tls_key")
	}
	if s.MaxConnections < 1 {
		return fieldErr("serve.max_connections", "must be at least 1", "e.g. 64")
	}
	return nil
}

func feedbackFile(f *Feedback) *SideFile {
	if f == nil {
		return nil
	}
	return &f.SideFile
}

// Steps a job may run, in pipeline order.
var Steps = []string{"ingest", "transform", "publish"}

// cronParser reads standard 5-field expressions, an optional leading seconds
// field, and descriptors (@daily, @hourly, @every 2s).
var cronParser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// ParseSchedule parses a job's cron expression. Time zones come from the
// job's timezone field, never from a TZ= prefix, so that the logical date and
// the schedule agree on the zone.
func ParseSchedule(expr string) (cron.Schedule, error) {
	if strings.HasPrefix(expr, "TZ=") || strings.HasPrefix(expr, "CRON_TZ=") {
		return nil, errors.New("a TZ= prefix is not supported")
	}
	return cronParser.Parse(expr)
}

func (c *Config) validateJobs() error {
	names := map[string]bool{}
	for i, j := range c.Jobs {
		at := fmt.Sprintf("jobs[%d]", i)
		if !nameRE.MatchString(j.Name) {
			return fieldErr(at+".name", fmt.Sprintf("%q is not a valid job name", j.Name), "use lowercase letters, digits, '_' or '-'")
		}
		if names[j.Name] {
			return fieldErr(at+".name", fmt.Sprintf("job %q is declared twice", j.Name), "give every job its own name")
		}
		names[j.Name] = true
		if len(j.Steps) == 0 {
			return fieldErr(at+".steps", "no steps", "list steps from: "+strings.Join(Steps, ", "))
		}
		for _, s := range j.Steps {
			if !slices.Contains(Steps, s) {
				return fieldErr(at+".steps", fmt.Sprintf("%q is not a step", s), "use steps from: "+strings.Join(Steps, ", "))
			}
		}
		for _, s := range j.Sources {
			if _, ok := c.Source(s); !ok {
				return fieldErr(at+".sources", fmt.Sprintf("source %q is not declared", s), "name a source from `sources:`")
			}
		}
		loc, err := time.LoadLocation(j.TimeZone)
		if err != nil {
			return fieldErr(at+".timezone", fmt.Sprintf("%q is not a time zone", j.TimeZone), "use an IANA name such as Europe/Berlin or UTC")
		}
		const scheduleHint = `write 5 cron fields ("0 2 * * *"), 6 with leading seconds ("*/30 * * * * *"), or @daily, @hourly, @every 10m; set the zone with timezone:`
		if j.Schedule == "" {
			return fieldErr(at+".schedule", "missing", scheduleHint)
		}
		sched, err := ParseSchedule(j.Schedule)
		if err != nil {
			return fieldErr(at+".schedule", fmt.Sprintf("%q: %v", j.Schedule, err), scheduleHint)
		}
		if sched.Next(time.Now().In(loc)).IsZero() {
			return fieldErr(at+".schedule", fmt.Sprintf("%q never fires", j.Schedule), "check the day and month fields (e.g. 30 February does not exist)")
		}
		if j.Retries < 0 {
			return fieldErr(at+".retries", "cannot be negative", "use 0 for no retries")
		}
		if j.RetryBackoff < 0 || j.RetryBackoffMax < j.RetryBackoff {
			return fieldErr(at+".retry_backoff_max", "must be at least retry_backoff", "e.g. retry_backoff: 10s, retry_backoff_max: 10m")
		}
		if j.Timeout < 0 {
			return fieldErr(at+".timeout", "cannot be negative", "give the longest a run may take, e.g. 30m")
		}
		if j.CatchUp != "all" && j.CatchUp != "latest" {
			return fieldErr(at+".catch_up", fmt.Sprintf("%q is not a catch-up policy", j.CatchUp), "use all (run every missed interval) or latest")
		}
	}
	deps := map[string][]string{}
	for i, j := range c.Jobs {
		for _, d := range j.DependsOn {
			if !names[d] {
				return fieldErr(fmt.Sprintf("jobs[%d].depends_on", i), fmt.Sprintf("job %q is not declared", d), "name a job from `jobs:`")
			}
		}
		deps[j.Name] = j.DependsOn
	}
	if _, err := dag.Sort(deps); err != nil {
		return fieldErr("jobs.depends_on", "job "+err.Error(), "remove one of the depends_on edges of the cycle")
	}
	return c.validateDaemon()
}

func (c *Config) validateDaemon() error {
	if c.Scheduler.ShutdownGrace < 0 {
		return fieldErr("scheduler.shutdown_grace", "cannot be negative", "give how long a running run may finish after SIGTERM, e.g. 30s")
	}
	if c.Scheduler.CheckEvery < 0 {
		return fieldErr("scheduler.check_every", "cannot be negative", "e.g. 1m")
	}
	if c.Scheduler.KeepRuns < 0 {
		return fieldErr("scheduler.keep_runs", "cannot be negative", "give how many run records to keep, e.g. 10000")
	}
	if l := c.HTTP.Listen; l != "" {
		if _, _, err := net.SplitHostPort(l); err != nil {
			return fieldErr("http.listen", fmt.Sprintf("%q is not host:port", l), "e.g. 127.0.0.1:9464, or :9464 for every interface")
		}
	}
	if w := c.Alerts.Webhook; w != "" {
		u, err := url.Parse(w)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fieldErr("alerts.webhook", fmt.Sprintf("%q is not an http(s) URL", w), "e.g. https://hooks.example.com/custmart")
		}
	}
	if c.Alerts.Timeout < 0 {
		return fieldErr("alerts.timeout", "cannot be negative", "e.g. 10s")
	}
	return nil
}

// JobOrder returns the job names so that every job comes after the jobs it
// depends on.
func (c *Config) JobOrder() []string {
	deps := map[string][]string{}
	for _, j := range c.Jobs {
		deps[j.Name] = j.DependsOn
	}
	order, _ := dag.Sort(deps) // validated on load
	return order
}

// Job returns the named job.
func (c *Config) Job(name string) (Job, bool) {
	for _, j := range c.Jobs {
		if j.Name == name {
			return j, true
		}
	}
	return Job{}, false
}

// Source returns the named source.
func (c *Config) Source(name string) (Source, bool) {
	for _, s := range c.Sources {
		if s.Name == name {
			return s, true
		}
	}
	return Source{}, false
}

// Error is a configuration problem with the field at fault, its line in the
// file when known, and the fix.
type Error struct {
	Path  string
	Field string
	Line  int
	Msg   string
	Hint  string
}

// Error reads "config custmart.yaml: sources[0].csv.delimter at line 9:
// unknown key; did you mean `delimiter`?".
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("config")
	if e.Path != "" {
		b.WriteString(" " + e.Path)
	}
	switch {
	case e.Field != "" && e.Line > 0:
		fmt.Fprintf(&b, ": %s at line %d", e.Field, e.Line)
	case e.Field != "":
		b.WriteString(": " + e.Field)
	case e.Line > 0:
		fmt.Fprintf(&b, ": line %d", e.Line)
	}
	b.WriteString(": " + e.Msg)
	if e.Hint != "" {
		b.WriteString("; " + e.Hint)
	}
	return b.String()
}

func fieldErr(field, msg, hint string) error {
	return &Error{Field: field, Msg: msg, Hint: hint}
}

// settingErr names a warehouse package's *warehouse.SettingError by its
// field under the section at, so that Parse can add its line.
func settingErr(at string, err error) error {
	var se *warehouse.SettingError
	if !errors.As(err, &se) {
		return err
	}
	field := at
	if se.Field != "" {
		field += "." + se.Field
	}
	return fieldErr(field, se.Msg, se.Hint)
}
