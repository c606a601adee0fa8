package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/duetrec/duet/content"
	"github.com/duetrec/duet/index/text"
	"github.com/duetrec/duet/search"
	"github.com/duetrec/duet/search/online"
)

// searchBody is POST /v1/search; GET takes the same fields as parameters.
type searchBody struct {
	Q           string       `json:"q"`
	Vector      []float32    `json:"vector"`
	User        string       `json:"user"`
	K           int          `json:"k"`
	Offset      int          `json:"offset"`
	Mode        string       `json:"mode"`
	Fusion      string       `json:"fusion"`
	Alpha       *float64     `json:"alpha"`
	RRFK        float64      `json:"rrf_k"`
	UserWeight  *float64     `json:"user_weight"`
	Window      int          `json:"window"`
	Filters     filtersBody  `json:"filters"`
	ExcludeSeen bool         `json:"exclude_seen"`
	Diversity   diversityArg `json:"diversity"`
	Explain     bool         `json:"explain"`
	// Prefix and Typos default to on, as on GET.
	Prefix    *bool    `json:"prefix"`
	Typos     *string  `json:"typos"`
	Highlight bool     `json:"highlight"`
	Sort      string   `json:"sort"`
	Facets    []string `json:"facets"`
	FacetSize int      `json:"facet_size"`
}

type filtersBody struct {
	Categories []string   `json:"categories"`
	Tags       []string   `json:"tags"`
	Attributes []attrBody `json:"attributes"`
}

type attrBody struct {
	Key    string         `json:"key"`
	Equals *content.Value `json:"equals"`
	Min    *float64       `json:"min"`
	Max    *float64       `json:"max"`
}

type diversityArg struct {
	MMRLambda      float64 `json:"mmr_lambda"`
	MaxPerCategory int     `json:"max_per_category"`
}

func (b *searchBody) request() (search.Request, error) {
	r := search.Request{
		Query: b.Q, Vector: b.Vector, UserID: b.User, K: b.K, Offset: b.Offset,
		Mode: search.Mode(b.Mode), Fusion: search.Fusion(b.Fusion),
		Alpha: b.Alpha, RRFK: b.RRFK, UserWeight: b.UserWeight, Window: b.Window,
		Filters:     search.Filters{Categories: b.Filters.Categories, Tags: b.Filters.Tags},
		ExcludeSeen: b.ExcludeSeen,
		Diversity:   search.Diversity{MMRLambda: b.Diversity.MMRLambda, MaxPerCategory: b.Diversity.MaxPerCategory},
		Explain:     b.Explain,
		Highlight:   b.Highlight,
		Facets:      b.Facets,
		FacetSize:   b.FacetSize,
	}
	for _, a := range b.Filters.Attributes {
		r.Filters.Attributes = append(r.Filters.Attributes, search.AttrFilter{Key: a.Key, Equals: a.Equals, Min: a.Min, Max: a.Max})
	}
	r.Prefix = b.Prefix == nil || *b.Prefix
	typos := ""
	if b.Typos != nil {
		typos = *b.Typos
	}
	var err error
	if r.Typos, err = parseTypos(typos); err != nil {
		return r, err
	}
	r.Sort, err = parseSort(b.Sort)
	return r, err
}

// parseSort reads the sort parameter: FIELD, FIELD:asc or FIELD:desc,
// where FIELD is created_at or attr.KEY (the engine checks the key); empty
// is relevance.
func parseSort(s string) (*search.SortBy, error) {
	if s == "" {
		return nil, nil
	}
	field, dir, _ := strings.Cut(s, ":")
	by := &search.SortBy{Field: field}
	switch dir {
	case "", "asc":
	case "desc":
		by.Desc = true
	default:
		return nil, badRequest("invalid_parameter", `sort must be "FIELD", "FIELD:asc" or "FIELD:desc"`)
	}
	return by, nil
}

// parseTypos reads the typos parameter: empty or "on" for
// search.DefaultTypos, "off" or "0" for none, or "ONE,TWO", the word
// lengths from which one and two typos are tolerated (0: never).
func parseTypos(s string) (search.Typos, error) {
	switch s {
	case "", "on":
		return search.DefaultTypos, nil
	case "off", "0":
		return search.Typos{}, nil
	}
	one, two, ok := strings.Cut(s, ",")
	var t search.Typos
	var err1, err2 error
	t.One, err1 = strconv.Atoi(one)
	t.Two, err2 = strconv.Atoi(two)
	if !ok || err1 != nil || err2 != nil {
		return t, badRequest("invalid_parameter", `typos must be "on", "off" or "ONE,TWO" (word lengths, e.g. "5,9")`)
	}
	return t, nil
}

// queryRequest reads a search request from URL parameters. Unknown
// parameters are errors, as unknown JSON fields are.
func queryRequest(c echo.Context, allowed map[string]bool) (search.Request, error) {
	q := c.QueryParams()
	if err := checkParams(q, allowed); err != nil {
		return search.Request{}, err
	}
	var r search.Request
	var err error
	one := func(name string) string { return q.Get(name) }
	num := func(name string, dst *int) {
		if s := one(name); s != "" && err == nil {
			var n int
			if n, err = strconv.Atoi(s); err != nil {
				err = badRequest("invalid_parameter", name+" must be an integer")
			}
			*dst = n
		}
	}
	flt := func(name string) *float64 {
		s := one(name)
		if s == "" || err != nil {
			return nil
		}
		f, perr := strconv.ParseFloat(s, 64)
		if perr != nil {
			err = badRequest("invalid_parameter", name+" must be a number")
			return nil
		}
		return &f
	}
	boolean := func(name string) bool {
		s := one(name)
		if s == "" || err != nil {
			return false
		}
		b, perr := strconv.ParseBool(s)
		if perr != nil {
			err = badRequest("invalid_parameter", name+" must be true or false")
		}
		return b
	}
	r.Query, r.UserID = one("q"), one("user")
	r.Mode, r.Fusion = search.Mode(one("mode")), search.Fusion(one("fusion"))
	num("k", &r.K)
	num("offset", &r.Offset)
	num("window", &r.Window)
	num("max_per_category", &r.Diversity.MaxPerCategory)
	r.Alpha = flt("alpha")
	r.UserWeight = flt("user_weight")
	if f := flt("rrf_k"); f != nil {
		r.RRFK = *f
	}
	if f := flt("mmr"); f != nil {
		r.Diversity.MMRLambda = *f
	}
	r.ExcludeSeen = boolean("exclude_seen")
	r.Explain = boolean("explain")
	r.Highlight = boolean("highlight")
	if allowed["prefix"] {
		r.Prefix = one("prefix") == "" || boolean("prefix")
	}
	if allowed["typos"] && err == nil {
		r.Typos, err = parseTypos(one("typos"))
	}
	if allowed["sort"] && err == nil {
		r.Sort, err = parseSort(one("sort"))
	}
	if f := one("facets"); f != "" && allowed["facets"] {
		r.Facets = strings.Split(f, ",")
	}
	num("facet_size", &r.FacetSize)
	if src := one("sources"); src != "" {
		r.Sources = strings.Split(src, ",")
	}
	r.Filters.Categories = q["category"]
	r.Filters.Tags = q["tag"]
	for _, a := range q["attr"] {
		f, perr := parseAttr(a)
		if perr != nil && err == nil {
			err = perr
		}
		r.Filters.Attributes = append(r.Filters.Attributes, f)
	}
	return r, err
}

// checkParams refuses parameters a route does not take, as unknown JSON
// fields are refused.
func checkParams(q url.Values, allowed map[string]bool) error {
	for k := range q {
		if !allowed[k] {
			return badRequest("invalid_parameter", fmt.Sprintf("unknown parameter %q", clipString(k)))
		}
	}
	return nil
}

// parseAttr reads "key:value" (equality; a number if it reads as one) or
// "key:min..max" (a numeric range; either side may be empty).
func parseAttr(s string) (search.AttrFilter, error) {
	key, val, ok := strings.Cut(s, ":")
	if !ok || key == "" {
		return search.AttrFilter{}, badRequest("invalid_parameter", `attr must be "key:value" or "key:min..max"`)
	}
	f := search.AttrFilter{Key: key}
	if lo, hi, isRange := strings.Cut(val, ".."); isRange {
		for _, b := range []struct {
			s   string
			dst **float64
		}{{lo, &f.Min}, {hi, &f.Max}} {
			if b.s == "" {
				continue
			}
			x, err := strconv.ParseFloat(b.s, 64)
			if err != nil {
				return f, badRequest("invalid_parameter", fmt.Sprintf("attr %q: range bounds must be numbers", clipString(key)))
			}
			*b.dst = &x
		}
		return f, nil
	}
	v := content.String(val)
	if x, err := strconv.ParseFloat(val, 64); err == nil {
		v = content.Number(x)
	}
	f.Equals = &v
	return f, nil
}

func clipString(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

var (
	searchParams    = paramSet("q", "user", "k", "offset", "mode", "fusion", "alpha", "rrf_k", "user_weight", "window", "category", "tag", "attr", "exclude_seen", "mmr", "max_per_category", "explain", "prefix", "typos", "highlight", "sort", "facets", "facet_size")
	recommendParams = paramSet("k", "offset", "category", "tag", "attr", "exclude_seen", "mmr", "max_per_category", "explain", "sources", "fusion", "rrf_k", "window")
	similarParams   = paramSet("k", "offset", "category", "tag", "attr", "mmr", "max_per_category", "explain")
	suggestParams   = paramSet("q", "user", "k")
)

func paramSet(names ...string) map[string]bool {
	m := map[string]bool{}
	for _, n := range names {
		m[n] = true
	}
	return m
}

// searchResponse is the answer of the search routes.
type searchResponse struct {
	Hits       []hitView                      `json:"hits"`
	Total      int                            `json:"total"`
	TotalExact bool                           `json:"total_exact"`
	Facets     map[string][]search.FacetCount `json:"facets,omitempty"`
	Reading    *text.Reading                  `json:"reading,omitempty"`
	Degraded   string                         `json:"degraded,omitempty"`
	Unfinished int                            `json:"unfinished,omitempty"`
	Mode       search.Mode                    `json:"mode"`
	Fusion     search.Fusion                  `json:"fusion"`
	Source     string                         `json:"source"`
	TookMS     float64                        `json:"took_ms"`
	Timing     search.Timings                 `json:"timing"`
	// ImpressionID names this answer in events about its hits.
	ImpressionID string `json:"impression_id,omitempty"`
}

// respond writes a result, with the id of its impression when recorded.
func (s *Server) respond(c echo.Context, start time.Time, res *search.Result, impressionID string) error {
	hits := make([]hitView, len(res.Hits))
	for i, h := range res.Hits {
		hits[i] = hitView{ID: h.ID, Score: h.Score, Explain: h.Explain, Highlights: h.Highlights}
		if h.Item != nil {
			hits[i].Item = newItemView(h.Item)
		}
	}
	return c.JSON(http.StatusOK, searchResponse{
		Hits: hits, Total: res.Total, TotalExact: res.TotalExact, Facets: res.Facets, Reading: res.Reading, Degraded: res.Degraded, Unfinished: res.Unfinished, Mode: res.Mode, Fusion: res.Fusion, Source: res.Source,
		TookMS: float64(time.Since(start).Microseconds()) / 1000, Timing: res.Timing, ImpressionID: impressionID,
	})
}

// hitView and itemView are a hit as the API writes it. They hold plain
// fields: content.Item and content.Value marshal themselves, which makes
// encoding/json encode every item apart and then re-scan its bytes, and
// that took half of a search request's time. The output is the same.
type hitView struct {
	ID         string              `json:"id"`
	Score      float64             `json:"score"`
	Item       *itemView           `json:"item,omitempty"`
	Explain    *search.Explanation `json:"explain,omitempty"`
	Highlights map[string]string   `json:"highlights,omitempty"`
}

type itemView struct {
	ID          string         `json:"id"`
	Title       string         `json:"title,omitempty"`
	Description string         `json:"description,omitempty"`
	Tags        []string       `json:"tags,omitempty"`
	Categories  []string       `json:"categories,omitempty"`
	Attributes  map[string]any `json:"attributes,omitempty"`
	CreatedAt   string         `json:"created_at,omitempty"`
	UpdatedAt   string         `json:"updated_at,omitempty"`
}

func newItemView(it *content.Item) *itemView {
	v := &itemView{ID: it.ID, Title: it.Title, Description: it.Description, Tags: it.Tags, Categories: it.Categories}
	if len(it.Attributes) > 0 {
		v.Attributes = make(map[string]any, len(it.Attributes))
		for k, a := range it.Attributes {
			if a.IsNum {
				v.Attributes[k] = json.Number(strconv.FormatFloat(a.Num, 'g', -1, 64))
			} else {
				v.Attributes[k] = a.Str
			}
		}
	}
	if !it.CreatedAt.IsZero() {
		v.CreatedAt = it.CreatedAt.Format(time.RFC3339Nano)
	}
	if !it.UpdatedAt.IsZero() {
		v.UpdatedAt = it.UpdatedAt.Format(time.RFC3339Nano)
	}
	return v
}

func searchError(err error) error {
	switch {
	case errors.Is(err, search.ErrInvalidRequest):
		return badRequest("invalid_request", err.Error())
	case errors.Is(err, search.ErrNotFound):
		return newError(http.StatusNotFound, "not_found", err.Error())
	}
	return err
}

func (s *Server) getSearch(c echo.Context) error {
	start := time.Now()
	req, err := queryRequest(c, searchParams)
	if err != nil {
		return err
	}
	return s.runSearch(c, start, req)
}

func (s *Server) postSearch(c echo.Context) error {
	start := time.Now()
	b, err := readBody(c)
	if err != nil {
		return err
	}
	var body searchBody
	if err := decodeStrict(b, &body); err != nil {
		return err
	}
	req, err := body.request()
	if err != nil {
		return err
	}
	return s.runSearch(c, start, req)
}

func (s *Server) runSearch(c echo.Context, start time.Time, req search.Request) error {
	be, release, err := s.acquire()
	if err != nil {
		return err
	}
	defer release()
	req.Vocabulary = s.vocab.forSearch()
	return s.answerRoute(c, start, online.RouteSearch, be, req, func(be Backend, r search.Request) (*search.Result, error) {
		return be.Search(c.Request().Context(), r)
	})
}

// suggestResponse is the answer of GET /v1/suggest.
type suggestResponse struct {
	Queries []string               `json:"queries"`
	Items   []search.SuggestedItem `json:"items"`
	TookMS  float64                `json:"took_ms"`
}

func (s *Server) suggest(c echo.Context) error {
	start := time.Now()
	q := c.QueryParams()
	if err := checkParams(q, suggestParams); err != nil {
		return err
	}
	req := search.SuggestRequest{Query: q.Get("q"), UserID: q.Get("user")}
	if k := q.Get("k"); k != "" {
		n, err := strconv.Atoi(k)
		if err != nil {
			return badRequest("invalid_parameter", "k must be an integer")
		}
		req.K = n
	}
	be, release, err := s.acquire()
	if err != nil {
		return err
	}
	defer release()
	res, err := be.Suggest(c.Request().Context(), req)
	if err != nil {
		return searchError(err)
	}
	return c.JSON(http.StatusOK, suggestResponse{Queries: res.Queries, Items: res.Items, TookMS: float64(time.Since(start).Microseconds()) / 1000})
}

func (s *Server) recommendations(c echo.Context) error {
	start := time.Now()
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	req, err := queryRequest(c, recommendParams)
	if err != nil {
		return err
	}
	req.UserID = id
	if c.QueryParam("exclude_seen") == "" {
		req.ExcludeSeen = true
	}
	be, release, err := s.acquire()
	if err != nil {
		return err
	}
	defer release()
	return s.answerRoute(c, start, online.RouteRecommendations, be, req, func(be Backend, r search.Request) (*search.Result, error) {
		return be.Recommend(c.Request().Context(), r)
	})
}

func (s *Server) similar(c echo.Context) error {
	start := time.Now()
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	req, err := queryRequest(c, similarParams)
	if err != nil {
		return err
	}
	be, release, err := s.acquire()
	if err != nil {
		return err
	}
	defer release()
	return s.answerRoute(c, start, online.RouteSimilar, be, req, func(be Backend, r search.Request) (*search.Result, error) {
		return be.Similar(c.Request().Context(), id, r)
	})
}
