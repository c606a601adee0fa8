package search

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/duetrec/duet/content"
	"github.com/duetrec/duet/index/text"
)

// Mode chooses which candidate lists a search uses.
type Mode string

// Fusion chooses how the vector and keyword lists are merged.
type Fusion string

const (
	ModeHybrid  Mode = "hybrid"
	ModeVector  Mode = "vector"
	ModeKeyword Mode = "keyword"
	// ModeRecommend is the mode of Recommend's results.
	ModeRecommend Mode = "recommend"

	// FusionRRF is reciprocal rank fusion: Σ 1/(RRFK + rank), ranks from 1.
	FusionRRF Fusion = "rrf"
	// FusionRelative min-max normalises each list, then weighs the vector
	// list by Alpha and the keyword list by 1 − Alpha.
	FusionRelative Fusion = "relative"
	// FusionWeighted weighs the raw scores: Alpha·vector + (1 − Alpha)·keyword.
	FusionWeighted Fusion = "weighted"
)

// Limits on a request.
const (
	MaxK          = 1000
	MaxOffset     = MaxWindow - MaxK // K + Offset must fit in one window
	MaxQueryBytes = 1024
	MaxWindow     = 5000
	MaxFilterTerm = 64 // values in one filter list
	MaxVectorDim  = 4096
)

// Request is one question to the engine.
type Request struct {
	Query string // free text; may be empty when UserID is set
	// Vector, when given, stands for the query text on the vector side: a
	// vector in the model's space (an item's, a user's, one kept from an
	// earlier answer). Its length must be the model's dimension; the text,
	// if any, still drives the keyword side.
	Vector []float32
	UserID string // personalises by the user's live history; may be empty
	K      int    // hits wanted; default 10
	Offset int    // hits to skip, for paging
	Mode   Mode   // default hybrid
	Fusion Fusion // default rrf
	// Alpha weighs the vector list against the keyword list in relative and
	// weighted fusion, and the user vector against the query vector when
	// both are given. Default 0.5.
	Alpha *float64
	RRFK  float64 // default 60
	// UserWeight weighs the user vector against the query vector when both
	// are given: normalise(w·user + (1 − w)·query). Default 0.5.
	UserWeight *float64
	// Window is how many candidates each list fetches; default
	// max(100, 4·(K + Offset)), at most MaxWindow.
	Window      int
	Filters     Filters
	ExcludeSeen bool
	Diversity   Diversity
	Explain     bool
	// History, when not nil, stands for the user's history in Recommend:
	// item ids, oldest first (a session's items, an evaluation's split),
	// in place of the store's; at most MaxHistory.
	History []string
	// Sources chooses Recommend's candidate lists by name (SourceTower,
	// SourceRecent, SourceCF, SourcePopular); empty: the engine's.
	Sources []string
	// Weights, when not nil, weighs Recommend's lists by source name in
	// place of the engine's weights.
	Weights map[string]float64
	// Prefix matches the query's last word, unless a space or punctuation
	// ends it, also as the beginning of longer words on the keyword side:
	// search as you type (text.Query.Prefix).
	Prefix bool
	// Typos lets query words that no item holds match words a few edits
	// away on the keyword side (text.Query.Typos); the zero value allows
	// none.
	Typos Typos
	// Vocabulary, when not nil, is the editors' synonyms and stop words
	// the query's words are read with on the keyword side (and, the stop
	// words dropped, on the vector side): text.Query.Vocabulary.
	Vocabulary *text.Vocabulary
	// Highlight asks Search for each hit's Highlights: the query's words
	// marked in its title and a snippet of its description.
	Highlight bool
	// Facets names what Search counts among its candidates, each value's
	// items: FacetCategory, FacetTag, or FacetAttrPrefix and an attribute
	// key; at most MaxFacets. FacetSize is how many values each keeps, the
	// commonest; default 10, at most MaxFacetSize.
	Facets    []string
	FacetSize int
	// Sort, when set, orders Search's hits by a number attribute or by
	// when the items were created instead of by relevance, which breaks
	// ties; items without the value come last. It orders the candidates
	// the lists fetched (Window of each), and does not combine with MMR.
	Sort *SortBy
}

// textQuery is the request's words as a text query, K aside.
func (r *Request) textQuery() text.Query {
	return text.Query{Text: r.Query, Prefix: r.Prefix, Typos: r.Typos, Vocabulary: r.Vocabulary}
}

// SortBy names what Request.Sort orders by: SortCreatedAt, or
// SortAttrPrefix and a number attribute's key; Desc puts the largest or
// latest first.
type SortBy struct {
	Field string
	Desc  bool
}

// Facet names, and the bounds of a request's facets.
const (
	FacetCategory   = "category"
	FacetTag        = "tag"
	FacetAttrPrefix = "attr."
	MaxFacets       = 5
	MaxFacetSize    = 100
)

// Fields of SortBy.
const (
	SortCreatedAt  = "created_at"
	SortAttrPrefix = "attr."
)

// Typos are the word lengths from which the keyword side tolerates one
// and two typos (text.Typos).
type Typos = text.Typos

// DefaultTypos is Meilisearch's rule: one typo from five letters, two
// from nine.
var DefaultTypos = text.DefaultTypos

// Filters restrict hits; every given filter must pass. They apply to both
// candidate lists before fusion.
type Filters struct {
	Categories []string     // any of
	Tags       []string     // any of
	Attributes []AttrFilter // all of
}

// AttrFilter is an equality or numeric range test on one attribute.
type AttrFilter struct {
	Key string
	// Equals, when set, must equal the attribute: a string exactly, a
	// number numerically (a string never equals a number).
	Equals   *content.Value
	Min, Max *float64 // inclusive numeric bounds
}

// Diversity re-ranks the fused list.
type Diversity struct {
	// MMRLambda in (0, 1] turns on maximal marginal relevance: λ·relevance −
	// (1 − λ)·similarity to the hits already chosen; 1 is pure relevance,
	// 0 is off.
	MMRLambda float64
	// MaxPerCategory caps the hits sharing a primary (first) category; 0 is
	// no cap.
	MaxPerCategory int
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidRequest, fmt.Sprintf(format, args...))
}

// Normalize validates the request and fills in defaults.
func (r *Request) Normalize() error {
	if r.K == 0 {
		r.K = 10
	}
	if r.K < 1 || r.K > MaxK {
		return invalid("k must be from 1 to %d, got %d", MaxK, r.K)
	}
	if r.Offset < 0 || r.Offset > MaxOffset {
		return invalid("offset must be from 0 to %d, got %d", MaxOffset, r.Offset)
	}
	if err := checkText("query", r.Query, MaxQueryBytes); err != nil {
		return err
	}
	if err := checkText("user", r.UserID, 256); err != nil {
		return err
	}
	if err := r.Typos.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidRequest, err)
	}
	if len(r.Facets) > MaxFacets {
		return invalid("at most %d facets, got %d", MaxFacets, len(r.Facets))
	}
	for i, f := range r.Facets {
		key, isAttr := strings.CutPrefix(f, FacetAttrPrefix)
		if f != FacetCategory && f != FacetTag && (!isAttr || key == "" || len(key) > content.MaxLabelBytes) {
			return invalid("facet must be %s, %s or %sKEY, got %q", FacetCategory, FacetTag, FacetAttrPrefix, clip(f))
		}
		if slices.Contains(r.Facets[:i], f) {
			return invalid("facet %q asked for twice", clip(f))
		}
	}
	if r.FacetSize == 0 {
		r.FacetSize = 10
	}
	if r.FacetSize < 1 || r.FacetSize > MaxFacetSize {
		return invalid("facet_size must be from 1 to %d, got %d", MaxFacetSize, r.FacetSize)
	}
	if s := r.Sort; s != nil {
		key, isAttr := strings.CutPrefix(s.Field, SortAttrPrefix)
		switch {
		case s.Field == SortCreatedAt:
		case !isAttr || key == "" || len(key) > content.MaxLabelBytes:
			return invalid("sort must be %s or %sKEY, a number attribute, got %q", SortCreatedAt, SortAttrPrefix, clip(s.Field))
		}
		if l := r.Diversity.MMRLambda; l > 0 && l < 1 {
			return invalid("sort and mmr do not combine: MMR orders by relevance")
		}
	}
	switch r.Mode {
	case "":
		r.Mode = ModeHybrid
	case ModeHybrid, ModeVector, ModeKeyword:
	default:
		return invalid("mode must be hybrid, vector or keyword, got %q", clip(string(r.Mode)))
	}
	switch r.Fusion {
	case "":
		r.Fusion = FusionRRF
	case FusionRRF, FusionRelative, FusionWeighted:
	default:
		return invalid("fusion must be rrf, relative or weighted, got %q", clip(string(r.Fusion)))
	}
	if r.Alpha == nil {
		a := 0.5
		r.Alpha = &a
	}
	if a := *r.Alpha; math.IsNaN(a) || a < 0 || a > 1 {
		return invalid("alpha must be from 0 to 1")
	}
	if r.UserWeight == nil {
		w := 0.5
		r.UserWeight = &w
	}
	if w := *r.UserWeight; math.IsNaN(w) || w < 0 || w > 1 {
		return invalid("user_weight must be from 0 to 1")
	}
	if r.RRFK == 0 {
		r.RRFK = 60
	}
	if math.IsNaN(r.RRFK) || r.RRFK < 1 || r.RRFK > 1e6 {
		return invalid("rrf_k must be from 1 to 1000000")
	}
	if r.Window == 0 {
		r.Window = min(MaxWindow, max(100, 4*(r.K+r.Offset)))
	}
	if r.Window < r.K+r.Offset || r.Window > MaxWindow {
		return invalid("window must be from k+offset to %d, got %d", MaxWindow, r.Window)
	}
	if d := r.Diversity; math.IsNaN(d.MMRLambda) || d.MMRLambda < 0 || d.MMRLambda > 1 {
		return invalid("mmr_lambda must be from 0 to 1")
	}
	if r.Diversity.MaxPerCategory < 0 {
		return invalid("max_per_category must not be negative")
	}
	if err := checkVector(r.Vector); err != nil {
		return err
	}
	if r.Vector != nil && r.Mode == ModeKeyword {
		return invalid("a vector needs mode hybrid or vector")
	}
	if r.Mode == ModeKeyword && r.Query == "" && !r.Filters.any() {
		return invalid("keyword mode needs a query or a filter")
	}
	if len(r.History) > MaxHistory {
		return invalid("history holds %d items, at most %d", len(r.History), MaxHistory)
	}
	for _, id := range r.History {
		if id == "" {
			return invalid("empty item id in the history")
		}
		if err := checkText("history item", id, 256); err != nil {
			return err
		}
	}
	if len(r.Sources) > len(Sources) {
		return invalid("at most %d sources", len(Sources))
	}
	return r.Filters.validate()
}

func checkVector(v []float32) error {
	if v == nil {
		return nil
	}
	if len(v) == 0 || len(v) > MaxVectorDim {
		return invalid("vector must have 1 to %d components, got %d", MaxVectorDim, len(v))
	}
	zero := true
	for i, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return invalid("vector[%d] is not a finite number", i)
		}
		zero = zero && x == 0
	}
	if zero {
		return invalid("vector is all zeros: it has no direction")
	}
	return nil
}

// conditions returns the filters as the text index takes them.
func (f *Filters) conditions() text.Filter {
	c := text.Filter{Categories: f.Categories, Tags: f.Tags}
	for _, a := range f.Attributes {
		if a.Equals != nil {
			if c.Attributes == nil {
				c.Attributes = map[string]content.Value{}
			}
			c.Attributes[a.Key] = *a.Equals
		}
		if a.Min != nil || a.Max != nil {
			c.Ranges = append(c.Ranges, text.Range{Attribute: a.Key, Min: a.Min, Max: a.Max})
		}
	}
	return c
}

func (f *Filters) any() bool {
	return len(f.Categories)+len(f.Tags)+len(f.Attributes) > 0
}

func (f *Filters) validate() error {
	for name, list := range map[string][]string{"category": f.Categories, "tag": f.Tags} {
		if len(list) > MaxFilterTerm {
			return invalid("at most %d %s filters", MaxFilterTerm, name)
		}
		for _, v := range list {
			if v == "" {
				return invalid("empty %s filter", name)
			}
			if err := checkText(name, v, 128); err != nil {
				return err
			}
		}
	}
	if len(f.Attributes) > MaxFilterTerm {
		return invalid("at most %d attribute filters", MaxFilterTerm)
	}
	equals := map[string]bool{}
	for i := range f.Attributes {
		a := &f.Attributes[i]
		if a.Key == "" {
			return invalid("attribute filter without a key")
		}
		if err := checkText("attribute key", a.Key, 128); err != nil {
			return err
		}
		if a.Equals == nil && a.Min == nil && a.Max == nil {
			return invalid("attribute filter %q tests nothing", clip(a.Key))
		}
		if a.Equals != nil {
			if a.Equals.IsNum && (math.IsNaN(a.Equals.Num) || math.IsInf(a.Equals.Num, 0)) {
				return invalid("attribute %q value is not finite", clip(a.Key))
			}
			if equals[a.Key] {
				return invalid("attribute %q has two equality filters", clip(a.Key))
			}
			equals[a.Key] = true
			if a.Equals.IsNum && a.Equals.Num == 0 {
				// The text index encodes the float's bits: -0 would miss 0.
				v := content.Number(0)
				a.Equals = &v
			}
			if err := checkText("attribute value", a.Equals.Str, 1024); err != nil {
				return err
			}
		}
		for _, b := range []*float64{a.Min, a.Max} {
			if b != nil && (math.IsNaN(*b) || math.IsInf(*b, 0)) {
				return invalid("attribute %q bound is not finite", clip(a.Key))
			}
		}
		if a.Min != nil && a.Max != nil && *a.Min > *a.Max {
			return invalid("attribute %q: min %v above max %v", clip(a.Key), *a.Min, *a.Max)
		}
	}
	return nil
}

func checkText(field, s string, max int) error {
	if len(s) > max {
		return invalid("%s is %d bytes, at most %d", field, len(s), max)
	}
	if !utf8.ValidString(s) {
		return invalid("%s is not valid UTF-8", field)
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return invalid("%s contains control character %U", field, r)
		}
	}
	return nil
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
