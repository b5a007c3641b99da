// Package config loads and validates custmart's versioned YAML configuration.
//
// One file describes the sources, the business parameters of the models, the
// warehouse engine settings, publishing, the scheduled jobs, and the BI server.
// Load fills defaults first and validates after, so every error names the
// field and says what to write instead.
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

	"github.com/custmart/custmart/internal/dag"
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

// Source is one feed of raw transactions.
type Source struct {
	Name string `yaml:"name"`
	// Path is a file, a glob, or a directory (an inbox of daily drops).
	// Relative paths are relative to the configuration file.
	Path   string `yaml:"path"`
	Format string `yaml:"format"` // csv, jsonl, parquet
	// Compression of the files: auto (by extension), none, gzip, zstd.
	Compression string `yaml:"compression"`
	CSV         CSV    `yaml:"csv"`
	// Columns maps canonical names (customer_id, ts, amount, ...) to source columns.
	Columns map[string]string `yaml:"columns"`
	// Postgres reads a table or query incrementally instead of files.
	Postgres *Postgres `yaml:"postgres"`
	// OnChangedFile says what to do when a file changes after it was ingested:
	// reject (report it, load nothing) or replace (swap its rows in the lake).
	OnChangedFile string `yaml:"on_changed_file"`
	// CancellationPattern is a regular expression over order_id marking cancellations.
	CancellationPattern string `yaml:"cancellation_pattern"`
	// Currencies, when set, is the allowed set of currency codes.
	Currencies []string `yaml:"currencies"`
	// MaxQuarantineShare fails a file whose rejected share exceeds it (0..1).
	MaxQuarantineShare *float64 `yaml:"max_quarantine_share"`
	// FutureTolerance accepts timestamps up to this long after the as-of date.
	FutureTolerance Duration `yaml:"future_tolerance"`
	// MaxIDLength rejects ids (customer, transaction, order) longer than
	// this many characters: a value that long is a broken export.
	MaxIDLength int `yaml:"max_id_length"`
	// IntegralIDs writes customer ids exported as floats (17850.0) as the
	// integers they are (17850), so they join with the CRM's own ids.
	IntegralIDs bool `yaml:"integral_ids"`
	// MissingCustomerID says what a row without a customer id is:
	// quarantine (a bad row) or anonymous (a guest checkout, landed with a
	// NULL customer, counted in sales and kept out of per-customer models).
	MissingCustomerID string `yaml:"missing_customer_id"`
	// NotBefore rejects timestamps before this date.
	NotBefore string `yaml:"not_before"`
}

// Policies for rows without a customer id (Source.MissingCustomerID).
const (
	MissingCustomerQuarantine = "quarantine"
	MissingCustomerAnonymous  = "anonymous"
)

// CSV holds the options of delimited text files.
type CSV struct {
	// Delimiter is one character, "\t", or "whitespace" (runs of blanks, as in CDNOW).
	Delimiter string `yaml:"delimiter"`
	Header    *bool  `yaml:"header"`
	// Names names the columns of a file without a header line.
	Names           []string `yaml:"names"`
	Quote           string   `yaml:"quote"`
	DateFormat      string   `yaml:"date_format"`
	TimestampFormat string   `yaml:"timestamp_format"`
}

// Postgres is a PostgreSQL source read by a watermark column: each ingest
// reads the rows whose watermark is above the last one committed, in
// watermark order, and commits them in batches of about BatchSize rows
// (rows sharing a watermark value stay in one batch).
type Postgres struct {
	DSNEnv    string `yaml:"dsn_env"`
	Table     string `yaml:"table"`
	Query     string `yaml:"query"`
	Watermark string `yaml:"watermark"`
	BatchSize int    `yaml:"batch_size"`
}

// Model holds the business parameters of the scoring models.
type Model struct {
	TimeUnit string `yaml:"time_unit"` // days or weeks
	// Horizon of the predictive CLV in time units; 0 means one year.
	Horizon           float64   `yaml:"horizon"`
	MarginRate        float64   `yaml:"margin_rate"`
	CostPerOrder      float64   `yaml:"cost_per_order"`
	CostPerCustomerYr float64   `yaml:"cost_per_customer_year"`
	AcquisitionCost   float64   `yaml:"acquisition_cost"`
	DiscountRate      float64   `yaml:"discount_rate"` // annual
	Monetary          string    `yaml:"monetary"`      // sum or mean
	PredictiveModel   string    `yaml:"predictive_model"`
	Tiers             Tiers     `yaml:"tiers"`
	RFMSegments       []Rule    `yaml:"rfm_segments"`
	CycleBands        []float64 `yaml:"cycle_bands"`
	AmountBands       []float64 `yaml:"amount_bands"`
	HoldoutFrom       string    `yaml:"holdout_from"`
	// ComparisonSample is the most customers the purchase model that is not
	// the predictive one is fitted on, for comparison (a deterministic
	// sample; default 20000). The predictive model always sees everyone.
	ComparisonSample int `yaml:"comparison_sample"`
	// Feedback is an optional survey source (satisfaction, NPS, complaints):
	// the attitude side of Dick & Basu loyalty. Without it attitude is
	// reported as unknown, never guessed.
	Feedback *Feedback `yaml:"feedback"`
	// CampaignResponse is an optional source of campaign contacts and
	// responses, for value x responsiveness (Roberts & Paul 1997).
	CampaignResponse *SideFile `yaml:"campaign_response"`
}

// SideFile is a small file source that the models read with DuckDB when they
// run (it is not ingested into the lake).
type SideFile struct {
	// Path is a file or a glob; relative paths are relative to the configuration file.
	Path   string `yaml:"path"`
	Format string `yaml:"format"` // csv (with a header line), jsonl or parquet
	// Columns maps canonical names to the file's columns.
	Columns map[string]string `yaml:"columns"`
}

// Feedback is survey feedback: one row per answer with customer_id, date,
// score and scale (the best possible score).
type Feedback struct {
	SideFile `yaml:",inline"`
	// Scale is the best possible score when the file has no scale column
	// (10 for NPS, 5 for a five-point satisfaction survey).
	Scale float64 `yaml:"scale"`
	// HighAttitude is the share of the scale from which a score counts as a
	// favourable attitude (default 0.7).
	HighAttitude float64 `yaml:"high_attitude"`
}

// Canonical columns of the optional model sources.
var (
	FeedbackColumns         = []string{"customer_id", "date", "score", "scale"}
	CampaignResponseColumns = []string{"customer_id", "campaign_id", "date", "responded"}
)

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

// Range is an inclusive score range written as [lo, hi] or a single score.
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

// Warehouse holds DuckDB engine settings.
type Warehouse struct {
	MemoryLimit   string `yaml:"memory_limit"`
	TempDirectory string `yaml:"temp_directory"`
	Threads       int    `yaml:"threads"`
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

// CanonicalColumns lists the transaction schema every source maps to.
var CanonicalColumns = []string{
	"transaction_id", "order_id", "customer_id", "ts", "amount", "quantity",
	"unit_price", "currency", "channel", "store_id", "product_id",
}

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

// SampleSource reads the files `custmart fixtures` writes into <data-dir>/inbox.
func SampleSource(dataDir string) Source {
	return Source{
		Name:   "sample",
		Path:   filepath.Join(dataDir, "inbox"),
		Format: "csv",
		Columns: map[string]string{
			"transaction_id": "transaction_id", "order_id": "order_id",
			"customer_id": "customer_id", "ts": "ts", "amount": "amount",
			"quantity": "quantity", "unit_price": "unit_price", "currency": "currency",
			"channel": "channel", "store_id": "store_id", "product_id": "product_id",
		},
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
			s.MissingCustomerID = MissingCustomerQuarantine
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
		m.Horizon = 365.0 / m.UnitDays()
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

// UnitDays is the length of one model time unit in days.
func (m Model) UnitDays() float64 {
	if m.TimeUnit == "days" {
		return 1
	}
	return 7
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
		if err := s.validate(at); err != nil {
			return err
		}
	}
	if err := c.Model.validate(); err != nil {
		return err
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

func (s Source) validate(at string) error {
	if s.Postgres != nil {
		if s.Postgres.DSNEnv == "" {
			return fieldErr(at+".postgres.dsn_env", "missing", "name the environment variable holding the connection string")
		}
		if (s.Postgres.Table == "") == (s.Postgres.Query == "") {
			return fieldErr(at+".postgres", "give exactly one of table or query", "set postgres.table: schema.name or postgres.query: SELECT ...")
		}
		if s.Postgres.Watermark == "" {
			return fieldErr(at+".postgres.watermark", "missing", "name an increasing column such as updated_at or id")
		}
		if s.Postgres.BatchSize < 1 {
			return fieldErr(at+".postgres.batch_size", fmt.Sprintf("%d is not a batch size", s.Postgres.BatchSize), "give the rows per committed batch, e.g. 50000")
		}
	} else {
		if s.Path == "" {
			return fieldErr(at+".path", "missing", "give a file, a glob such as /drops/*.csv, or an inbox directory")
		}
		switch s.Format {
		case "csv", "jsonl", "parquet":
		default:
			return fieldErr(at+".format", fmt.Sprintf("%q is not a format", s.Format), "use csv, jsonl or parquet")
		}
	}
	switch s.Compression {
	case "auto", "none", "gzip", "zstd":
	default:
		return fieldErr(at+".compression", fmt.Sprintf("%q is not a compression", s.Compression), "use auto, none, gzip or zstd")
	}
	if d := s.CSV.Delimiter; d != "whitespace" && d != `\t` && len([]rune(d)) != 1 {
		return fieldErr(at+".csv.delimiter", fmt.Sprintf("%q is not a delimiter", d), `use one character such as "," or ";", "\t", or "whitespace"`)
	}
	if !*s.CSV.Header && len(s.CSV.Names) == 0 && s.Format == "csv" {
		return fieldErr(at+".csv.names", "a file without a header needs column names", "list them: names: [customer_id, date, amount]")
	}
	if err := validateColumns(at, s.Columns); err != nil {
		return err
	}
	if s.OnChangedFile != "reject" && s.OnChangedFile != "replace" {
		return fieldErr(at+".on_changed_file", fmt.Sprintf("%q is not a policy", s.OnChangedFile), "use reject or replace")
	}
	if s.MissingCustomerID != MissingCustomerQuarantine && s.MissingCustomerID != MissingCustomerAnonymous {
		return fieldErr(at+".missing_customer_id", fmt.Sprintf("%q is not a policy", s.MissingCustomerID),
			"use quarantine (a row without a customer is bad data) or anonymous (guest checkouts)")
	}
	if s.CancellationPattern != "" {
		if _, err := regexp.Compile(s.CancellationPattern); err != nil {
			return fieldErr(at+".cancellation_pattern", err.Error(), "write a valid regular expression")
		}
	}
	if s.MaxIDLength < 0 {
		return fieldErr(at+".max_id_length", fmt.Sprintf("%d is negative", s.MaxIDLength), "write a length in characters, e.g. 256")
	}
	if share := *s.MaxQuarantineShare; share < 0 || share > 1 {
		return fieldErr(at+".max_quarantine_share", fmt.Sprintf("%g is not a share", share), "use a number between 0 and 1, e.g. 0.05")
	}
	if _, err := time.Parse(time.DateOnly, s.NotBefore); err != nil {
		return fieldErr(at+".not_before", fmt.Sprintf("%q is not a date", s.NotBefore), "write YYYY-MM-DD")
	}
	return nil
}

func validateColumns(at string, cols map[string]string) error {
	canonical := map[string]bool{}
	for _, c := range CanonicalColumns {
		canonical[c] = true
	}
	for k := range cols {
		if !canonical[k] {
			return fieldErr(at+".columns."+k, "not a canonical column", "map one of: "+strings.Join(CanonicalColumns, ", "))
		}
	}
	for _, req := range []string{"customer_id", "ts"} {
		if cols[req] == "" {
			return fieldErr(at+".columns."+req, "required column is not mapped", fmt.Sprintf("add `%s: <source column>` under columns", req))
		}
	}
	if cols["amount"] == "" && (cols["quantity"] == "" || cols["unit_price"] == "") {
		return fieldErr(at+".columns.amount", "required column is not mapped", "map amount, or both quantity and unit_price (amount = quantity * unit_price)")
	}
	return nil
}

func (m Model) validate() error {
	if m.TimeUnit != "days" && m.TimeUnit != "weeks" {
		return fieldErr("model.time_unit", fmt.Sprintf("%q is not a time unit", m.TimeUnit), "use days or weeks")
	}
	if m.Horizon < 0 {
		return fieldErr("model.horizon", "cannot be negative", "give the prediction horizon in model time units, e.g. 52 for a year in weeks")
	}
	if m.MarginRate < 0 || m.MarginRate > 1 {
		return fieldErr("model.margin_rate", fmt.Sprintf("%g is not a rate", m.MarginRate), "use a share between 0 and 1, e.g. 0.3")
	}
	if m.DiscountRate < 0 || m.DiscountRate >= 1 {
		return fieldErr("model.discount_rate", fmt.Sprintf("%g is not an annual rate", m.DiscountRate), "use an annual rate between 0 and 1, e.g. 0.1")
	}
	if m.Monetary != "sum" && m.Monetary != "mean" {
		return fieldErr("model.monetary", fmt.Sprintf("%q is not a monetary rule", m.Monetary), "use sum or mean")
	}
	if m.PredictiveModel != "bgnbd" && m.PredictiveModel != "pareto_nbd" {
		return fieldErr("model.predictive_model", fmt.Sprintf("%q is not a model", m.PredictiveModel), "use bgnbd or pareto_nbd")
	}
	t := m.Tiers
	if t.Platinum < 0 || t.Gold < 0 || t.Iron < 0 || t.Platinum+t.Gold+t.Iron > 1 {
		return fieldErr("model.tiers", "shares must be non-negative and sum to at most 1", "e.g. platinum: 0.1, gold: 0.2, iron: 0.4")
	}
	for i, r := range m.RFMSegments {
		at := fmt.Sprintf("model.rfm_segments[%d]", i)
		if r.Segment == "" {
			return fieldErr(at+".segment", "missing", "name the segment")
		}
		for _, rg := range []Range{r.R, r.F, r.M} {
			if rg[0] < 1 || rg[1] > 5 || rg[0] > rg[1] {
				return fieldErr(at, fmt.Sprintf("range %v is not within 1..5", rg), "write scores as [lo, hi] with 1 <= lo <= hi <= 5")
			}
		}
	}
	for _, bands := range []struct {
		name string
		cuts []float64
	}{{"model.cycle_bands", m.CycleBands}, {"model.amount_bands", m.AmountBands}} {
		if len(bands.cuts) != 2 || bands.cuts[0] <= 0 || bands.cuts[0] >= bands.cuts[1] || bands.cuts[1] >= 1 {
			return fieldErr(bands.name, "needs two increasing quantiles between 0 and 1", "e.g. [0.3333, 0.6667] for terciles")
		}
	}
	if m.HoldoutFrom != "" {
		if _, err := time.Parse(time.DateOnly, m.HoldoutFrom); err != nil {
			return fieldErr("model.holdout_from", fmt.Sprintf("%q is not a date", m.HoldoutFrom), "write YYYY-MM-DD")
		}
	}
	if m.ComparisonSample < 0 {
		return fieldErr("model.comparison_sample", "cannot be negative", "give the most customers the comparison model is fitted on, e.g. 20000")
	}
	if f := m.Feedback; f != nil {
		optional := []string{"scale"}
		if f.Scale == 0 {
			optional = nil // the scale must come from a column
		}
		if err := f.validate("model.feedback", FeedbackColumns, optional); err != nil {
			return err
		}
		if f.Scale < 0 {
			return fieldErr("model.feedback.scale", fmt.Sprintf("%g is not a scale", f.Scale), "give the best possible score, e.g. 10 for NPS or 5 for a five-point survey")
		}
		if f.HighAttitude <= 0 || f.HighAttitude > 1 {
			return fieldErr("model.feedback.high_attitude", fmt.Sprintf("%g is not a share of the scale", f.HighAttitude), "use a share between 0 and 1, e.g. 0.7")
		}
	}
	if c := m.CampaignResponse; c != nil {
		if err := c.validate("model.campaign_response", CampaignResponseColumns, nil); err != nil {
			return err
		}
	}
	return nil
}

func feedbackFile(f *Feedback) *SideFile {
	if f == nil {
		return nil
	}
	return &f.SideFile
}

// validate checks a side file whose canonical columns are want; the ones in
// optional may be left unmapped.
func (s SideFile) validate(at string, want, optional []string) error {
	if s.Path == "" {
		return fieldErr(at+".path", "missing", "give a file or a glob such as surveys/*.csv")
	}
	switch s.Format {
	case "csv", "jsonl", "parquet":
	default:
		return fieldErr(at+".format", fmt.Sprintf("%q is not a format", s.Format), "use csv, jsonl or parquet")
	}
	for k := range s.Columns {
		if !slices.Contains(want, k) {
			return fieldErr(at+".columns."+k, "not a column of this source", "map some of: "+strings.Join(want, ", "))
		}
	}
	for _, k := range want {
		if s.Columns[k] == "" && !slices.Contains(optional, k) {
			return fieldErr(at+".columns."+k, "required column is not mapped", fmt.Sprintf("add `%s: <file column>` under columns", k))
		}
	}
	return nil
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
