package bench

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/duetrec/duet/content"
	"github.com/duetrec/duet/index/text"
	"github.com/duetrec/duet/internal/procstat"
	"github.com/duetrec/duet/search"
	"github.com/duetrec/duet/search/snapshot"
	"github.com/duetrec/duet/tower"
)

// SearchOptions are the settings of one RunSearch.
type SearchOptions struct {
	// Data is the data directory; its store must not be held by a server.
	Data string
	// Queries requests are timed, K hits each, drawn with Seed.
	Queries, K int
	Seed       uint64
	// Shape is how the words are asked: ShapeWords (the default) as they
	// are, exactly; ShapeTyping with the last word cut short (one letter
	// or more) and ShapeTypo with one typo, both as a search box asks
	// (prefix on, search.DefaultTypos, highlights, facets of category, tag
	// and, when items have it, attr.year); ShapeSuggest.
	Shape string
	// CPUProfile and MemProfile, when set, are written with a CPU profile
	// of the timed requests and a profile of where they allocated.
	CPUProfile, MemProfile string
}

// Shapes of the requests RunSearch times.
const (
	ShapeWords  = "words"
	ShapeTyping = "typing"
	ShapeTypo   = "typo"
	// ShapeSuggest times Engine.Suggest (k 5) for ShapeTyping's queries:
	// the stage shares are then empty.
	ShapeSuggest = "suggest"
)

// SearchReport is what RunSearch measured.
type SearchReport struct {
	Data, Snapshot string
	Items          int
	ANN            string // the snapshot's vector index
	Queries, K     int
	Shape          string
	// P50 and P99 of the whole request.
	P50, P99 time.Duration
	// Sum is the requests' time by stage, added up.
	Sum search.Timings
	// AllocKiB is allocated per request.
	AllocKiB float64
	// CPU per request, all threads; CPUKnown is false where the process's
	// CPU time cannot be read.
	CPU      time.Duration
	CPUKnown bool
}

// RunSearch loads the newest snapshot of the data directory with its store
// and times hybrid requests one at a time: a user from the store with one
// or two words from a random item's title, read with the store's
// vocabulary.
func RunSearch(ctx context.Context, o SearchOptions) (_ *SearchReport, err error) {
	defer prefixError(&err, "bench search")
	if o.Queries < 1 || o.K < 1 {
		return nil, fmt.Errorf("queries %d, k %d: want both at least 1", o.Queries, o.K)
	}
	switch o.Shape {
	case "":
		o.Shape = ShapeWords
	case ShapeWords, ShapeTyping, ShapeTypo, ShapeSuggest:
	default:
		return nil, fmt.Errorf("shape %q: want %s, %s, %s or %s", o.Shape, ShapeWords, ShapeTyping, ShapeTypo, ShapeSuggest)
	}
	if o.MemProfile != "" {
		// Sample only the timed requests' allocations, not the
		// snapshot's loading.
		defer func(rate int) { runtime.MemProfileRate = rate }(runtime.MemProfileRate)
		runtime.MemProfileRate = 0
	}
	st, err := content.Open(ctx, o.Data)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	ds, err := tower.LoadDataset(ctx, st)
	if err != nil {
		return nil, err
	}
	root := snapshot.NewRoot(o.Data)
	snap, _, err := root.LoadLatest(ctx, st, search.Options{})
	if err != nil {
		return nil, err
	}
	defer snap.Close()
	if len(ds.Users) == 0 || len(ds.Items) == 0 {
		return nil, fmt.Errorf("the store in %s has no users or no items", o.Data)
	}
	// The editors' vocabulary, as a server reads it.
	stored, err := st.Vocabulary(ctx)
	if err != nil {
		return nil, err
	}
	voc, err := text.NewVocabulary(stored)
	if err != nil {
		return nil, err
	}
	if sets, stop := voc.Sizes(); sets == 0 && stop == 0 {
		voc = nil
	}

	rng := rand.New(rand.NewPCG(o.Seed, 2))
	reqs := make([]search.Request, o.Queries)
	for i := range reqs {
		words := strings.Fields(strings.ToLower(ds.Items[rng.IntN(len(ds.Items))].Title))
		q := ""
		if len(words) > 0 {
			q = words[rng.IntN(len(words))]
			if len(words) > 1 && rng.IntN(2) == 0 {
				q += " " + words[rng.IntN(len(words))]
			}
		}
		reqs[i] = search.Request{Query: q, UserID: ds.Users[rng.IntN(len(ds.Users))], K: o.K, Vocabulary: voc}
		if o.Shape != ShapeWords {
			reqs[i].Prefix, reqs[i].Typos, reqs[i].Highlight = true, search.DefaultTypos, true
			reqs[i].Facets = []string{search.FacetCategory, search.FacetTag}
			if snap.Catalog().HasAttribute("year") {
				reqs[i].Facets = append(reqs[i].Facets, search.FacetAttrPrefix+"year")
			}
		}
		switch o.Shape {
		case ShapeTyping, ShapeSuggest:
			reqs[i].Query, _ = search.PrefixQuery(q, rng, 1)
		case ShapeTypo:
			reqs[i].Query, _ = search.TypoQuery(q, rng)
		}
	}
	// Warm up caches and the text index before timing.
	for i := range min(50, o.Queries) {
		if _, err := snap.Search(ctx, reqs[i]); err != nil {
			return nil, err
		}
	}

	rep := &SearchReport{Data: o.Data, Snapshot: snap.Dir, Items: snap.Manifest.Items, ANN: snap.Manifest.Meta["ann"], Queries: o.Queries, K: o.K, Shape: o.Shape}
	stop, err := startCPUProfile(o.CPUProfile)
	if err != nil {
		return nil, err
	}
	totals := make([]time.Duration, 0, o.Queries)
	var before, after runtime.MemStats
	if o.MemProfile != "" {
		runtime.MemProfileRate = 64 << 10
	}
	runtime.ReadMemStats(&before)
	cpu0, cpuOK := procstat.CPU()
	for _, r := range reqs {
		if o.Shape == ShapeSuggest {
			sg, err := snap.Suggest(ctx, search.SuggestRequest{Query: r.Query, UserID: r.UserID, K: 5})
			if err != nil {
				stop()
				return nil, err
			}
			totals = append(totals, sg.Took)
			rep.Sum.Total += sg.Took
			continue
		}
		res, err := snap.Search(ctx, r)
		if err != nil {
			stop()
			return nil, err
		}
		t, s := res.Timing, &rep.Sum
		totals = append(totals, t.Total)
		s.User += t.User
		s.Query += t.Query
		s.ANN += t.ANN
		s.Keyword += t.Keyword
		s.Fusion += t.Fusion
		s.Rerank += t.Rerank
		s.Total += t.Total
	}
	cpu1, _ := procstat.CPU()
	runtime.ReadMemStats(&after)
	if err := stop(); err != nil {
		return nil, err
	}
	rep.AllocKiB = float64(after.TotalAlloc-before.TotalAlloc) / 1024 / float64(o.Queries)
	if cpuOK {
		rep.CPU, rep.CPUKnown = (cpu1-cpu0)/time.Duration(o.Queries), true
	}
	if o.MemProfile != "" {
		if err := writeAllocProfile(o.MemProfile); err != nil {
			return nil, err
		}
	}
	slices.Sort(totals)
	rep.P50, rep.P99 = percentile(totals, 50), percentile(totals, 99)
	return rep, nil
}

// Mean is the mean time of a request.
func (r *SearchReport) Mean() time.Duration { return r.Sum.Total / time.Duration(r.Queries) }

// stageShares are each stage's share of the requests' time.
func (r *SearchReport) stageShares() map[string]float64 {
	share := func(d time.Duration) float64 { return float64(d) / float64(r.Sum.Total) }
	s := r.Sum
	return map[string]float64{
		"user_vector": share(s.User), "query_vector": share(s.Query), "ann": share(s.ANN),
		"bleve": share(s.Keyword), "fusion": share(s.Fusion), "rerank": share(s.Rerank),
	}
}

// cpuMS is the CPU time per request in milliseconds, or -1 where unknown.
func (r *SearchReport) cpuMS() float64 {
	if !r.CPUKnown {
		return -1
	}
	return ms(r.CPU)
}

// WriteText writes the latencies, the CPU time and the shares of the
// stages.
func (r *SearchReport) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "snapshot %s (%d items, %s)\n", r.Snapshot, r.Items, r.ANN)
	fmt.Fprintf(&b, "%d hybrid requests (%s), k=%d, one at a time: p50 %.2f ms, p99 %.2f ms, mean %.2f ms, %.1f KiB allocated per request\n",
		r.Queries, r.Shape, r.K, ms(r.P50), ms(r.P99), ms(r.Mean()), r.AllocKiB)
	if r.CPUKnown {
		// All threads: the text search's goroutine included.
		fmt.Fprintf(&b, "CPU per request: %.2f ms\n", r.cpuMS())
	}
	// The text search runs beside the user vector, query vector and ANN
	// stages, so the shares add up to more than the whole.
	st := r.stageShares()
	fmt.Fprintf(&b, "time by stage: user vector %.0f%%, query vector %.0f%%, ANN %.0f%%, Bleve %.0f%% (beside the three before it), fusion %.0f%%, re-rank %.0f%%\n",
		100*st["user_vector"], 100*st["query_vector"], 100*st["ann"], 100*st["bleve"], 100*st["fusion"], 100*st["rerank"])
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteJSON writes the report to path.
func (r *SearchReport) WriteJSON(path string) error {
	return Report{
		Name:   "search",
		Params: map[string]any{"data": r.Data, "snapshot": r.Snapshot, "items": r.Items, "queries": r.Queries, "k": r.K, "shape": r.Shape},
		Results: []map[string]any{{
			"p50_ms": ms(r.P50), "p99_ms": ms(r.P99), "mean_ms": ms(r.Mean()), "alloc_kib": r.AllocKiB,
			"cpu_ms": r.cpuMS(), "stage_share": r.stageShares(),
		}},
	}.WriteJSON(path)
}
