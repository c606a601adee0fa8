package online

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"gonum.org/v1/gonum/stat/distuv"

	"github.com/duetrec/duet/content"
	"github.com/duetrec/duet/search"
)

// Experiment methods and routes.
const (
	Interleave = "interleave" // team-draft interleaving, the default
	AB         = "ab"         // each user sees one arm, by a stable hash

	RouteSearch          = "search"
	RouteRecommendations = "recommendations"
	RouteSimilar         = "similar"
)

// Arm is a ranker configuration an experiment tries: what it sets
// overrides the request's own parameters; what it leaves unset keeps them.
type Arm struct {
	Mode           string             `json:"mode,omitempty"`
	Fusion         string             `json:"fusion,omitempty"`
	RRFK           float64            `json:"rrf_k,omitempty"`
	Alpha          *float64           `json:"alpha,omitempty"`
	UserWeight     *float64           `json:"user_weight,omitempty"`
	Window         int                `json:"window,omitempty"`
	Sources        []string           `json:"sources,omitempty"`
	Weights        map[string]float64 `json:"weights,omitempty"`
	MMR            float64            `json:"mmr,omitempty"`
	MaxPerCategory int                `json:"max_per_category,omitempty"`
	// Snapshot, when set, names the snapshot whose model and indexes the
	// arm serves (its directory's name); empty: the one in service.
	Snapshot string `json:"snapshot,omitempty"`
}

// Apply sets what the arm sets on r.
func (a *Arm) Apply(r *search.Request) {
	if a.Mode != "" {
		r.Mode = search.Mode(a.Mode)
	}
	if a.Fusion != "" {
		r.Fusion = search.Fusion(a.Fusion)
	}
	if a.RRFK != 0 {
		r.RRFK = a.RRFK
	}
	if a.Alpha != nil {
		r.Alpha = a.Alpha
	}
	if a.UserWeight != nil {
		r.UserWeight = a.UserWeight
	}
	if a.Window != 0 {
		r.Window = a.Window
	}
	if a.Sources != nil {
		r.Sources = a.Sources
	}
	if a.Weights != nil {
		r.Weights = a.Weights
	}
	if a.MMR != 0 {
		r.Diversity.MMRLambda = a.MMR
	}
	if a.MaxPerCategory != 0 {
		r.Diversity.MaxPerCategory = a.MaxPerCategory
	}
}

func (a *Arm) validate(route string) error {
	r := search.Request{Query: "q", UserID: "u"}
	a.Apply(&r)
	if err := r.Normalize(); err != nil {
		return err
	}
	if len(a.Snapshot) > 255 || strings.ContainsAny(a.Snapshot, `/\`) {
		return fmt.Errorf("snapshot must be a snapshot's name, got %q", clip(a.Snapshot))
	}
	if route != RouteRecommendations && (a.Sources != nil || a.Weights != nil) {
		return fmt.Errorf("sources and weights are the recommendations' lists, not the %s route's", route)
	}
	for _, s := range a.Sources {
		if !slices.Contains(search.Sources, s) {
			return fmt.Errorf("unknown source %q (want %s)", clip(s), strings.Join(search.Sources, ", "))
		}
	}
	for s, w := range a.Weights {
		if !slices.Contains(search.Sources, s) {
			return fmt.Errorf("unknown source %q in weights", clip(s))
		}
		if math.IsNaN(w) || w < 0 || w > 1e6 {
			return fmt.Errorf("weight of %s must be from 0 to 1000000", s)
		}
	}
	return nil
}

// Experiment compares two ranker configurations on live traffic.
type Experiment struct {
	ID     string `json:"id"`
	Route  string `json:"route"`            // search, recommendations or similar
	Method string `json:"method,omitempty"` // interleave (default) or ab
	A      Arm    `json:"a"`
	B      Arm    `json:"b"`

	Started time.Time  `json:"started"`
	Stopped *time.Time `json:"stopped,omitempty"`
	// Final is the verdict when it was stopped.
	Final *Verdict `json:"final,omitempty"`
}

// Snapshots reports whether an arm serves another snapshot than the one
// in service.
func (e *Experiment) Snapshots() bool { return e.A.Snapshot != "" || e.B.Snapshot != "" }

// Running reports whether the experiment is still on.
func (e *Experiment) Running() bool { return e.Stopped == nil }

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// Validate checks a definition, filling in the default method.
func (e *Experiment) Validate() error {
	if e.ID == "" || len(e.ID) > 64 || strings.IndexFunc(e.ID, func(r rune) bool {
		return !(r == '-' || r == '_' || r == '.' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
	}) >= 0 {
		return invalidf("id must be 1 to 64 letters, digits, '-', '_' or '.'")
	}
	switch e.Route {
	case RouteSearch, RouteRecommendations, RouteSimilar:
	default:
		return invalidf("route must be %s, %s or %s, got %q", RouteSearch, RouteRecommendations, RouteSimilar, clip(e.Route))
	}
	switch e.Method {
	case "":
		e.Method = Interleave
	case Interleave, AB:
	default:
		return invalidf("method must be %s or %s, got %q", Interleave, AB, clip(e.Method))
	}
	for _, arm := range []struct {
		name string
		a    *Arm
	}{{"a", &e.A}, {"b", &e.B}} {
		if err := arm.a.validate(e.Route); err != nil {
			return invalidf("arm %s: %v", arm.name, err)
		}
	}
	if reflect.DeepEqual(e.A, e.B) {
		return invalidf("arms a and b are the same configuration")
	}
	return nil
}

// ArmFor picks the arm an A/B experiment shows a user: a stable hash of
// the experiment and the user, so a user always sees the same one.
func (e *Experiment) ArmFor(user string) byte {
	h := fnv.New64a()
	h.Write([]byte(e.ID))
	h.Write([]byte{0})
	h.Write([]byte(user))
	if h.Sum64()&1 == 0 {
		return 'a'
	}
	return 'b'
}

// Verdict is an experiment's standing. Interleaved, an impression is won
// by the arm whose items got more clicks; the sign test asks how likely
// so lopsided a split of the won impressions would be if neither arm were
// better. A/B, the arms' click-through rates at 10 are compared by a
// two-proportion z-test.
type Verdict struct {
	Impressions  int `json:"impressions"`
	ImpressionsA int `json:"impressions_a,omitempty"`
	ImpressionsB int `json:"impressions_b,omitempty"`
	WinsA        int `json:"wins_a"`
	WinsB        int `json:"wins_b"`
	Ties         int `json:"ties"`
	ClickedA     int `json:"clicked_a"`
	ClickedB     int `json:"clicked_b"`
	// Leader is the arm ahead ("a" or "b"), "" when even.
	Leader string `json:"leader"`
	// P is the two-sided p-value; Confidence is 1 − P.
	P          float64 `json:"p"`
	Confidence float64 `json:"confidence"`
	// Significant says P is below 0.05.
	Significant bool `json:"significant"`
}

// verdict computes the standing from an experiment's counts.
func verdict(method string, c expCounts) Verdict {
	v := Verdict{Impressions: c.impressions, ImpressionsA: c.impA, ImpressionsB: c.impB,
		WinsA: c.winsA, WinsB: c.winsB, Ties: c.ties, ClickedA: c.clickedA, ClickedB: c.clickedB, P: 1}
	var a, b float64
	if method == AB {
		if c.impA > 0 && c.impB > 0 {
			pa, pb := float64(c.clickedA)/float64(c.impA), float64(c.clickedB)/float64(c.impB)
			a, b = pa, pb
			pool := float64(c.clickedA+c.clickedB) / float64(c.impA+c.impB)
			if se := math.Sqrt(pool * (1 - pool) * (1/float64(c.impA) + 1/float64(c.impB))); se > 0 {
				z := math.Abs(pa-pb) / se
				v.P = 2 * distuv.UnitNormal.Survival(z)
			}
		}
	} else {
		a, b = float64(c.winsA), float64(c.winsB)
		v.P = signTest(c.winsA, c.winsB)
	}
	switch {
	case a > b:
		v.Leader = "a"
	case b > a:
		v.Leader = "b"
	}
	v.P = min(v.P, 1)
	v.Confidence = 1 - v.P
	v.Significant = v.P < 0.05
	return v
}

// signTest is the two-sided binomial sign test of wins a against b.
func signTest(a, b int) float64 {
	n := a + b
	if n == 0 {
		return 1
	}
	k := max(a, b)
	// P(X ≥ k) for X ~ Binomial(n, ½), doubled.
	tail := 1 - distuv.Binomial{N: float64(n), P: 0.5}.CDF(float64(k-1))
	return min(1, 2*tail)
}

// Experiments are the experiments defined in a store.
type Experiments struct {
	store *content.Store
	// writing orders Define, Stop and Refresh, each a store access and
	// a change of m: a refresh that read the store before a stop wrote
	// it must not put the experiment back as running after. Holding it,
	// they read m freely; they take mu only to change it, so that
	// requests reading m do not wait on the store.
	writing sync.Mutex
	mu      sync.RWMutex // guards m against the writers' changes
	m       map[string]*Experiment
}

// LoadExperiments reads the experiments kept in store.
func LoadExperiments(ctx context.Context, store *content.Store) (*Experiments, error) {
	x := &Experiments{store: store, m: map[string]*Experiment{}}
	return x, x.Refresh(ctx)
}

// Refresh reads the store's experiments again: those other servers
// sharing it defined or stopped.
func (x *Experiments) Refresh(ctx context.Context) error {
	x.writing.Lock()
	defer x.writing.Unlock()
	raw, err := x.store.Experiments(ctx)
	if err != nil {
		return err
	}
	m := make(map[string]*Experiment, len(raw))
	for id, b := range raw {
		e := new(Experiment)
		if err := json.Unmarshal(b, e); err != nil {
			return fmt.Errorf("experiment %q: %w", id, err)
		}
		m[id] = e
	}
	x.mu.Lock()
	x.m = m
	x.mu.Unlock()
	return nil
}

// Define validates and stores a new experiment, started now. An id in
// use, or a route that runs one already, is ErrConflict.
func (x *Experiments) Define(ctx context.Context, e Experiment) (Experiment, error) {
	e.Started, e.Stopped, e.Final = time.Now().UTC(), nil, nil
	if err := e.Validate(); err != nil {
		return e, err
	}
	x.writing.Lock()
	defer x.writing.Unlock()
	if _, ok := x.m[e.ID]; ok {
		return e, fmt.Errorf("%w: experiment %q exists", ErrConflict, e.ID)
	}
	for _, o := range x.m {
		if o.Running() && o.Route == e.Route {
			return e, fmt.Errorf("%w: experiment %q already runs on %s", ErrConflict, o.ID, e.Route)
		}
	}
	if err := x.put(ctx, &e); err != nil {
		return e, err
	}
	x.mu.Lock()
	x.m[e.ID] = &e
	x.mu.Unlock()
	return e, nil
}

// Stop ends a running experiment, keeping final as its verdict.
func (x *Experiments) Stop(ctx context.Context, id string, final Verdict) (Experiment, error) {
	x.writing.Lock()
	defer x.writing.Unlock()
	e, ok := x.m[id]
	if !ok {
		return Experiment{}, fmt.Errorf("%w: %q", ErrNotFound, clip(id))
	}
	if !e.Running() {
		return *e, fmt.Errorf("%w: experiment %q is stopped already", ErrConflict, id)
	}
	stopped := *e
	now := time.Now().UTC()
	stopped.Stopped, stopped.Final = &now, &final
	if err := x.put(ctx, &stopped); err != nil {
		return *e, err
	}
	x.mu.Lock()
	x.m[id] = &stopped
	x.mu.Unlock()
	return stopped, nil
}

func (x *Experiments) put(ctx context.Context, e *Experiment) error {
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	return x.store.PutExperiment(ctx, e.ID, b)
}

// Running returns the experiment running on route, or nil.
func (x *Experiments) Running(route string) *Experiment {
	x.mu.RLock()
	defer x.mu.RUnlock()
	for _, e := range x.m {
		if e.Running() && e.Route == route {
			return e
		}
	}
	return nil
}

// Get returns the experiment with the given id.
func (x *Experiments) Get(id string) (Experiment, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	e, ok := x.m[id]
	if !ok {
		return Experiment{}, false
	}
	return *e, true
}

// All returns every experiment, newest first.
func (x *Experiments) All() []Experiment {
	x.mu.RLock()
	out := make([]Experiment, 0, len(x.m))
	for _, e := range x.m {
		out = append(out, *e)
	}
	x.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Started.After(out[j].Started) })
	return out
}

// DefaultConfig is ConfigName of a request that sets no ranker parameter.
const DefaultConfig = "default"

// ConfigName names the ranker configuration of a request outside any
// experiment: DefaultConfig, or the parameters it sets, sorted, as
// "fusion=relative,mmr=0.7".
func ConfigName(r *search.Request) string {
	var parts []string
	add := func(k, v string) { parts = append(parts, k+"="+v) }
	f := func(x float64) string { return strconv.FormatFloat(x, 'g', 4, 64) }
	if r.Mode != "" && r.Mode != search.ModeHybrid {
		add("mode", string(r.Mode))
	}
	if r.Fusion != "" && r.Fusion != search.FusionRRF {
		add("fusion", string(r.Fusion))
	}
	if r.RRFK != 0 && r.RRFK != 60 {
		add("rrf_k", f(r.RRFK))
	}
	if r.Alpha != nil {
		add("alpha", f(*r.Alpha))
	}
	if r.UserWeight != nil {
		add("user_weight", f(*r.UserWeight))
	}
	if len(r.Sources) > 0 {
		add("sources", strings.Join(r.Sources, "+"))
	}
	if l := r.Diversity.MMRLambda; l > 0 && l < 1 {
		add("mmr", f(l))
	}
	if n := r.Diversity.MaxPerCategory; n > 0 {
		add("max_per_category", strconv.Itoa(n))
	}
	if r.Sort != nil {
		add("sort", r.Sort.Field)
	}
	if len(parts) == 0 {
		return DefaultConfig
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
