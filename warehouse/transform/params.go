package transform

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/custmart/custmart/warehouse"
	"github.com/custmart/custmart/warehouse/lake"
)

// Params are the business parameters of the models. The transform sets
// them as DuckDB variables and parameter tables, which the SQL models read;
// Go models get them in Env. Every field is set: the configuration fills
// the defaults, then Validate checks them.
type Params struct {
	TimeUnit string // days or weeks
	// Horizon of the predictive CLV in time units.
	Horizon           float64
	MarginRate        float64
	CostPerOrder      float64
	CostPerCustomerYr float64
	AcquisitionCost   float64
	DiscountRate      float64 // annual
	Monetary          string  // sum or mean
	PredictiveModel   string  // bgnbd or pareto_nbd
	Tiers             Tiers
	RFMSegments       []Rule
	CycleBands        []float64
	AmountBands       []float64
	// HoldoutFrom, when set (YYYY-MM-DD), fits the models on the data
	// before it and validates them on the rest.
	HoldoutFrom string
	// ComparisonSample is the most customers the purchase model that is not
	// the predictive one is fitted on, for comparison (a deterministic
	// sample). The predictive model always sees everyone.
	ComparisonSample int
	// Feedback is an optional survey source (satisfaction, NPS, complaints):
	// the attitude side of Dick & Basu loyalty. Without it attitude is
	// reported as unknown, never guessed.
	Feedback *Feedback
	// CampaignResponse is an optional source of campaign contacts and
	// responses, for value x responsiveness (Roberts & Paul 1997).
	CampaignResponse *SideFile
}

// Tiers are the customer-pyramid cut-offs as shares of customers ranked by CLV.
type Tiers struct {
	Platinum float64
	Gold     float64
	Iron     float64
}

// Rule is one row of the RFM segment table; bounds are inclusive score ranges.
type Rule struct {
	Segment string
	R       Range
	F       Range
	M       Range
}

// Range is an inclusive score range [lo, hi].
type Range [2]int

// SideFile is a small file source that the models read with DuckDB when they
// run (it is not ingested into the lake).
type SideFile struct {
	// Path is a file or a glob.
	Path   string
	Format string // csv (with a header line), jsonl or parquet
	// Columns maps canonical names to the file's columns.
	Columns map[string]string
}

// Feedback is survey feedback: one row per answer with customer_id, date,
// score and scale (the best possible score).
type Feedback struct {
	SideFile
	// Scale is the best possible score when the file has no scale column
	// (10 for NPS, 5 for a five-point satisfaction survey).
	Scale float64
	// HighAttitude is the share of the scale from which a score counts as a
	// favourable attitude.
	HighAttitude float64
}

// Canonical columns of the optional model sources.
var (
	FeedbackColumns         = []string{"customer_id", "date", "score", "scale"}
	CampaignResponseColumns = []string{"customer_id", "campaign_id", "date", "responded"}
)

// UnitDays is the length of one model time unit in days.
func (p Params) UnitDays() float64 {
	if p.TimeUnit == "days" {
		return 1
	}
	return 7
}

var invalid = warehouse.InvalidSetting

// Validate checks the parameters; the first problem is returned as a
// *warehouse.SettingError naming the field by its configuration key.
func (p Params) Validate() error {
	if p.TimeUnit != "days" && p.TimeUnit != "weeks" {
		return invalid("time_unit", fmt.Sprintf("%q is not a time unit", p.TimeUnit), "use days or weeks")
	}
	if p.Horizon < 0 {
		return invalid("horizon", "cannot be negative", "give the prediction horizon in model time units, e.g. 52 for a year in weeks")
	}
	if p.MarginRate < 0 || p.MarginRate > 1 {
		return invalid("margin_rate", fmt.Sprintf("%g is not a rate", p.MarginRate), "use a share between 0 and 1, e.g. 0.3")
	}
	if p.DiscountRate < 0 || p.DiscountRate >= 1 {
		return invalid("discount_rate", fmt.Sprintf("%g is not an annual rate", p.DiscountRate), "use an annual rate between 0 and 1, e.g. 0.1")
	}
	if p.Monetary != "sum" && p.Monetary != "mean" {
		return invalid("monetary", fmt.Sprintf("%q is not a monetary rule", p.Monetary), "use sum or mean")
	}
	if p.PredictiveModel != "bgnbd" && p.PredictiveModel != "pareto_nbd" {
		return invalid("predictive_model", fmt.Sprintf("%q is not a model", p.PredictiveModel), "use bgnbd or pareto_nbd")
	}
	t := p.Tiers
	if t.Platinum < 0 || t.Gold < 0 || t.Iron < 0 || t.Platinum+t.Gold+t.Iron > 1 {
		return invalid("tiers", "shares must be non-negative and sum to at most 1", "e.g. platinum: 0.1, gold: 0.2, iron: 0.4")
	}
	for i, r := range p.RFMSegments {
		at := fmt.Sprintf("rfm_segments[%d]", i)
		if r.Segment == "" {
			return invalid(at+".segment", "missing", "name the segment")
		}
		for _, rg := range []Range{r.R, r.F, r.M} {
			if rg[0] < 1 || rg[1] > 5 || rg[0] > rg[1] {
				return invalid(at, fmt.Sprintf("range %v is not within 1..5", rg), "write scores as [lo, hi] with 1 <= lo <= hi <= 5")
			}
		}
	}
	for _, bands := range []struct {
		name string
		cuts []float64
	}{{"cycle_bands", p.CycleBands}, {"amount_bands", p.AmountBands}} {
		if len(bands.cuts) != 2 || bands.cuts[0] <= 0 || bands.cuts[0] >= bands.cuts[1] || bands.cuts[1] >= 1 {
			return invalid(bands.name, "needs two increasing quantiles between 0 and 1", "e.g. [0.3333, 0.6667] for terciles")
		}
	}
	if p.HoldoutFrom != "" {
		if _, err := time.Parse(time.DateOnly, p.HoldoutFrom); err != nil {
			return invalid("holdout_from", fmt.Sprintf("%q is not a date", p.HoldoutFrom), "write YYYY-MM-DD")
		}
	}
	if p.ComparisonSample < 0 {
		return invalid("comparison_sample", "cannot be negative", "give the most customers the comparison model is fitted on, e.g. 20000")
	}
	if f := p.Feedback; f != nil {
		optional := []string{"scale"}
		if f.Scale == 0 {
			optional = nil // the scale must come from a column
		}
		if err := f.validate(FeedbackColumns, optional); err != nil {
			return warehouse.WithinSetting("feedback", err)
		}
		if f.Scale < 0 {
			return invalid("feedback.scale", fmt.Sprintf("%g is not a scale", f.Scale), "give the best possible score, e.g. 10 for NPS or 5 for a five-point survey")
		}
		if f.HighAttitude <= 0 || f.HighAttitude > 1 {
			return invalid("feedback.high_attitude", fmt.Sprintf("%g is not a share of the scale", f.HighAttitude), "use a share between 0 and 1, e.g. 0.7")
		}
	}
	if c := p.CampaignResponse; c != nil {
		if err := c.validate(CampaignResponseColumns, nil); err != nil {
			return warehouse.WithinSetting("campaign_response", err)
		}
	}
	return nil
}

// validate checks a side file whose canonical columns are want; the ones in
// optional may be left unmapped.
func (s SideFile) validate(want, optional []string) error {
	if s.Path == "" {
		return invalid("path", "missing", "give a file or a glob such as surveys/*.csv")
	}
	if err := lake.CheckFileFormat(s.Format); err != nil {
		return err
	}
	for k := range s.Columns {
		if !slices.Contains(want, k) {
			return invalid("columns."+k, "not a column of this source", "map some of: "+strings.Join(want, ", "))
		}
	}
	for _, k := range want {
		if s.Columns[k] == "" && !slices.Contains(optional, k) {
			return invalid("columns."+k, "required column is not mapped", fmt.Sprintf("add `%s: <file column>` under columns", k))
		}
	}
	return nil
}
