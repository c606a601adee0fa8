package content

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/duetrec/duet/internal/durable"
)

// GenOptions configures Generate. Zero fields take defaults (Items 5000,
// Users 1000, Seed 1).
type GenOptions struct {
	Items int
	Users int
	Seed  uint64
	// MedianEvents is the median number of events a user has (default
	// 20); counts are log-normal, so the mean is about 1.6 times it, and
	// clamped to [5, 200].
	MedianEvents int
}

// The files GenerateFiles writes, in the generic format.
const (
	GenItemsFile  = "items.jsonl"
	GenEventsFile = "events.csv"
)

// GenerateFiles writes the generated data set as dir/items.jsonl and
// dir/events.csv, creating dir; both appear complete or not at all (see
// internal/durable). It is what `duet gen` writes, and the data set tests
// and benchmarks generate.
func GenerateFiles(ctx context.Context, dir string, opts GenOptions) (GenStats, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return GenStats{}, err
	}
	var st GenStats
	err := durable.WriteFiles([]string{filepath.Join(dir, GenItemsFile), filepath.Join(dir, GenEventsFile)}, func(w []io.Writer) error {
		var err error
		st, err = Generate(ctx, opts, w[0], w[1])
		return err
	})
	if err != nil {
		return GenStats{}, fmt.Errorf("generate: %w", err)
	}
	return st, nil
}

// GenStats counts what Generate wrote.
type GenStats struct {
	Items, Users, Events int
}

// genTopics are the themes of the synthetic catalog: the category name, the
// words titles and descriptions are made of, and the tags. The word lists
// are disjoint across topics (and from genFiller) so that text alone can
// tell topics apart.
var genTopics = [...]struct{ name, words, tags string }{
	{"space",
		"orbit rocket galaxy planet telescope nebula comet asteroid astronaut satellite moon lunar solar cosmos star gravity launch mission shuttle meteor eclipse crater mars jupiter saturn spacecraft observatory constellation supernova quasar",
		"astronomy nasa rockets planets stargazing cosmology astrophysics exploration telescopes satellites"},
	{"cooking",
		"recipe kitchen oven sauce garlic butter pasta bread dough roast simmer flavor spice herb onion tomato skillet soup stew baking flour salt pepper grill dessert chocolate cheese broth knife chef",
		"recipes baking vegetarian dinner desserts healthy quick italian vegan grilling"},
	{"jazz",
		"saxophone trumpet piano bass drums swing bebop improvisation melody harmony chord rhythm blues quartet trio quintet ballad standard groove solo club record album vinyl scale tempo syncopation horn band vocalist",
		"bebop swing fusion bigband smooth vocals saxophone piano live vinyl"},
	{"football",
		"goal striker midfielder defender goalkeeper penalty match league stadium referee tackle pass dribble header corner offside tactics coach season transfer derby cup trophy kickoff pitch jersey fans squad formation champion",
		"soccer league worldcup tactics transfers highlights goals coaching fans matchday"},
	{"gardening",
		"soil compost seed seedling bloom flower rose tulip shrub vine lawn mulch prune harvest vegetable greenhouse pot trowel weed root leaf garden orchard sapling fertilizer irrigation perennial annual bulb blossom",
		"gardening organic flowers vegetables compost landscaping houseplants lawn pruning greenhouse"},
	{"history",
		"empire dynasty medieval ancient revolution war treaty king queen castle archive chronicle century civilization pharaoh roman battle monarchy colonial renaissance manuscript artifact ruins siege republic crusade emperor kingdom parliament heritage",
		"ancient medieval modern military biography archaeology politics empires revolutions heritage"},
	{"programming",
		"code compiler function variable algorithm database server debugging syntax library framework interface concurrency memory pointer runtime deploy testing repository commit refactor module package thread query cache kernel binary terminal script",
		"golang python rust javascript databases algorithms devops testing opensource backend"},
	{"photography",
		"camera lens aperture shutter exposure portrait landscape tripod flash focus zoom sensor pixel lighting shadow composition darkroom film print frame studio snapshot bokeh filter negative viewfinder panorama macro silhouette histogram",
		"portraits landscapes street cameras lenses editing monochrome macro analog lighting"},
	{"travel",
		"passport airport luggage hotel journey itinerary backpack flight island beach mountain village destination tourist map border train cruise hostel adventure souvenir coast road voyage guidebook resort visa ferry abroad sightseeing",
		"backpacking budget luxury europe asia roadtrip islands citybreak solo family"},
	{"fitness",
		"workout muscle cardio strength stretch squat deadlift protein endurance treadmill yoga pilates sprint marathon gym dumbbell kettlebell posture core plank stamina recovery calories interval flexibility rowing cycling training weights barbell",
		"strength cardio yoga running hiit mobility nutrition bodyweight weightloss crossfit"},
	{"finance",
		"stock bond dividend portfolio investor market inflation interest budget savings loan mortgage credit debt equity fund pension tax asset hedge currency banking trading valuation revenue profit capital retirement wealth broker",
		"investing money stocks crypto budgeting retirement economics taxes realestate banking"},
	{"poetry",
		"verse stanza rhyme sonnet haiku poem poet metaphor lyric ode elegy meter couplet muse imagery anthology quatrain limerick epic villanelle alliteration refrain recital laureate syllable prose whisper moonlight longing sorrow",
		"sonnets haiku romantic modernist spokenword freeverse classics love elegies anthology"},
	{"wildlife",
		"lion tiger elephant wolf eagle owl fox bear deer whale dolphin shark turtle safari habitat predator prey migration jungle savanna rainforest conservation species nest burrow herd pack tracks zoo reserve",
		"animals birds mammals oceans safari conservation endangered birdwatching nature insects"},
	{"cinema",
		"director actor actress screenplay premiere festival movie scene sequel trailer blockbuster documentary thriller comedy drama horror western noir animation cast producer oscar cinematography soundtrack montage screening popcorn audience reel cameo",
		"drama comedy horror classics indie documentary scifi animation thriller reviews"},
	{"chemistry",
		"molecule atom element compound reaction catalyst acid base solvent electron proton neutron valence isotope polymer oxidation enzyme crystal solution titration laboratory beaker flask periodic ion reagent synthesis equilibrium spectroscopy molar",
		"biochemistry inorganic physical analytical experiments elements reactions lab polymers molecules"},
	{"fashion",
		"dress jacket fabric silk cotton denim runway designer collection tailoring boutique accessory handbag sneaker scarf boots pattern textile wardrobe outfit trend vintage couture model knitwear linen blazer stitching hemline lookbook",
		"streetwear vintage luxury sustainable menswear womenswear accessories runway sneakers style"},
}

// genFiller are topic-neutral words mixed into every topic's text, so that
// titles and descriptions are not trivially separable.
const genFiller = "guide notes complete introduction essential practical modern classic ultimate beginner " +
	"advanced simple everyday hidden best new great little secret art " +
	"world story lessons handbook basics tips ideas journal companion tales " +
	"field inside beyond timeless illustrated weekly deep daily short small"

// The shape of the data set. Styles are hidden clusters within a topic:
// they never show in an item's text, so only the behaviour log reveals
// them, which is what a collaborative model has to pick up.
const (
	genMaxSize       = 10_000_000
	genStyles        = 4
	genSecondary     = 0.2  // share of items with a second topic
	genZipf          = 1.0  // popularity exponent within a topic
	genStyleLoyalty  = 0.7  // chance a pick comes from the user's preferred style
	genTopicWords    = 0.7  // share of description words from the topic vocabulary
	genTitleFiller   = 0.15 // chance a title word is a filler word
	genEventsMedian  = 20   // default GenOptions.MedianEvents
	genEventsSigma   = 1.0
	genMinEvents     = 5
	genMaxEvents     = 200
	genRetries       = 5 // re-samples before giving up on an already-seen item
	genStartSpread   = 300 * 24 * 3600
	genMinGap        = 60            // seconds between a user's events, at least
	genMaxGap        = 3 * 24 * 3600 // and at most
	genStreamItems   = 0x6475657469746d73
	genStreamPop     = 0x64756574706f7075
	genStreamUsers   = 0x6475657475737273
	genCheckInterval = 1000
)

// genEpoch is the time of the earliest possible event.
var genEpoch = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// Generate writes a synthetic catalog to items, as the generic items.jsonl
// format, and a behaviour log over it to events, as the generic events.csv
// format. Same options, same bytes, always: the output depends on nothing
// but opts. User u's events depend only on the seed, the catalog and u, so
// a larger Users extends a smaller one.
//
// Items have topics (their categories), topic words in their text, Zipf-like
// popularity within a topic and a hidden style. Users favour one to three
// topics and one style in each, and their interests drift: later events
// follow a different mix of topics than earlier ones.
func Generate(ctx context.Context, opts GenOptions, items, events io.Writer) (GenStats, error) {
	if err := opts.check(); err != nil {
		return GenStats{}, fmt.Errorf("generate: %w", err)
	}
	st, _, err := generate(ctx, opts, items, events)
	return st, err
}

// check fills in the defaults and validates the options.
func (opts *GenOptions) check() error {
	if opts.Items == 0 {
		opts.Items = 5000
	}
	if opts.Users == 0 {
		opts.Users = 1000
	}
	if opts.Seed == 0 {
		opts.Seed = 1
	}
	if m := opts.MedianEvents; m != 0 && (m < genMinEvents || m > genMaxEvents) { // 0: the default, set by newGenState
		return fmt.Errorf("MedianEvents is %d, want %d to %d", opts.MedianEvents, genMinEvents, genMaxEvents)
	}
	if opts.Items < 1 || opts.Items > genMaxSize {
		return fmt.Errorf("Items is %d, want 1 to %d", opts.Items, genMaxSize)
	}
	if opts.Users < 1 || opts.Users > genMaxSize {
		return fmt.Errorf("Users is %d, want 1 to %d", opts.Users, genMaxSize)
	}
	return nil
}

// generate does the work of Generate and returns its state as well, where
// tests can see the hidden styles.
func generate(ctx context.Context, opts GenOptions, items, events io.Writer) (GenStats, *genState, error) {
	g := newGenState(opts)
	var st GenStats
	if err := g.writeItems(ctx, items, &st); err != nil {
		return st, g, err
	}
	g.buildPools()
	if err := g.writeEvents(ctx, events, &st); err != nil {
		return st, g, err
	}
	return st, g, nil
}

type genTopic struct {
	name        string
	words, tags []string
}

// genPool samples items in proportion to their popularity.
type genPool struct {
	items []int32
	cum   []float64 // cumulative weights
}

func (p *genPool) add(item int32, w float64) {
	if n := len(p.cum); n > 0 {
		w += p.cum[n-1]
	}
	p.items = append(p.items, item)
	p.cum = append(p.cum, w)
}

func (p *genPool) sample(r *rand.Rand) int32 {
	x := r.Float64() * p.cum[len(p.cum)-1]
	return p.items[sort.SearchFloat64s(p.cum, x)]
}

type genState struct {
	opts   GenOptions
	topics []genTopic
	filler []string
	// Per item, by index.
	topic, style []uint8
	// Sampling pools by primary topic, and by topic and style.
	topicPools []genPool
	stylePools []genPool // [topic*genStyles+style]
	nonEmpty   []int     // topics that have items
}

func newGenState(opts GenOptions) *genState {
	if opts.MedianEvents == 0 {
		opts.MedianEvents = genEventsMedian
	}
	g := &genState{opts: opts, filler: strings.Fields(genFiller)}
	for _, t := range genTopics {
		g.topics = append(g.topics, genTopic{t.name, strings.Fields(t.words), strings.Fields(t.tags)})
	}
	return g
}

// itemID is "i" and the item number, zero-padded so that ids sort.
func (g *genState) itemID(i int) string {
	return fmt.Sprintf("i%0*d", len(strconv.Itoa(g.opts.Items-1)), i)
}

func (g *genState) writeItems(ctx context.Context, w io.Writer, st *GenStats) error {
	n := g.opts.Items
	g.topic = make([]uint8, n)
	g.style = make([]uint8, n)
	r := rand.New(rand.NewPCG(g.opts.Seed, genStreamItems))
	bw := bufio.NewWriterSize(w, 64<<10)
	for i := range n {
		if i%genCheckInterval == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		it := g.item(r, i)
		b, err := json.Marshal(it)
		if err != nil {
			return fmt.Errorf("generate: item %s: %w", it.ID, err)
		}
		if _, err := bw.Write(append(b, '\n')); err != nil {
			return fmt.Errorf("generate: writing items: %w", err)
		}
		st.Items++
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("generate: writing items: %w", err)
	}
	return nil
}

// item makes item i and records its topic and style.
func (g *genState) item(r *rand.Rand, i int) Item {
	prim := r.IntN(len(g.topics))
	sec := -1
	if r.Float64() < genSecondary {
		sec = (prim + 1 + r.IntN(len(g.topics)-1)) % len(g.topics)
	}
	g.topic[i] = uint8(prim)
	g.style[i] = uint8(r.IntN(genStyles))
	pt := &g.topics[prim]

	it := Item{
		ID:         g.itemID(i),
		Categories: []string{pt.name},
	}

	nw := 2 + r.IntN(3)
	title := make([]string, 0, nw)
	for len(title) < nw {
		words := pt.words
		if r.Float64() < genTitleFiller {
			words = g.filler
		}
		if w := genCapitalize(words[r.IntN(len(words))]); !slices.Contains(title, w) {
			title = append(title, w)
		}
	}
	it.Title = strings.Join(title, " ")

	nd := 12 + r.IntN(19)
	var desc strings.Builder
	prev := ""
	for j := range nd {
		words := g.filler
		if r.Float64() < genTopicWords {
			words = pt.words
			if sec >= 0 && r.Float64() < 0.3 {
				words = g.topics[sec].words
			}
		}
		w := words[r.IntN(len(words))]
		if w == prev { // "neutron neutron" reads badly
			w = words[r.IntN(len(words))]
		}
		prev = w
		if j == 0 {
			w = genCapitalize(w)
		} else {
			desc.WriteByte(' ')
		}
		desc.WriteString(w)
	}
	desc.WriteByte('.')
	it.Description = desc.String()

	nt := 2 + r.IntN(3)
	for _, k := range r.Perm(len(pt.tags))[:nt] {
		it.Tags = append(it.Tags, pt.tags[k])
	}
	if sec >= 0 {
		st := &g.topics[sec]
		it.Categories = append(it.Categories, st.name)
		// A few tags belong to two topics ("luxury"): keep tags distinct.
		if tag := st.tags[r.IntN(len(st.tags))]; !slices.Contains(it.Tags, tag) {
			it.Tags[nt-1] = tag
		}
	}

	lang := "en"
	switch x := r.Float64(); {
	case x < 0.12:
		lang = "es"
	case x < 0.22:
		lang = "fr"
	case x < 0.30:
		lang = "de"
	}
	price := math.Round(math.Exp(math.Log(18)+0.8*r.NormFloat64())*100) / 100
	it.Attributes = map[string]Value{
		"year":     Number(float64(1990 + r.IntN(36))),
		"price":    Number(max(price, 0.99)),
		"language": String(lang),
	}
	return it
}

// buildPools ranks each topic's items in a random order and weighs them
// 1/rank^genZipf, so that every topic has its few hits and its long tail.
func (g *genState) buildPools() {
	r := rand.New(rand.NewPCG(g.opts.Seed, genStreamPop))
	byTopic := make([][]int32, len(g.topics))
	for i, t := range g.topic {
		byTopic[t] = append(byTopic[t], int32(i))
	}
	g.topicPools = make([]genPool, len(g.topics))
	g.stylePools = make([]genPool, len(g.topics)*genStyles)
	for t, ids := range byTopic {
		if len(ids) == 0 {
			continue
		}
		g.nonEmpty = append(g.nonEmpty, t)
		r.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
		for rank, id := range ids {
			w := math.Pow(float64(rank+1), -genZipf)
			g.topicPools[t].add(id, w)
			g.stylePools[t*genStyles+int(g.style[id])].add(id, w)
		}
	}
}

// genTaste is one topic of a user's interests.
type genTaste struct {
	topic, style int
	weight       float64
}

func (g *genState) writeEvents(ctx context.Context, w io.Writer, st *GenStats) error {
	ew := newEventWriter(w)
	width := len(strconv.Itoa(g.opts.Users - 1))
	src := rand.NewPCG(0, 0)
	r := rand.New(src)
	seen := make(map[int32]struct{}, genMaxEvents)
	var before, after []genTaste
	var topics []int
	for u := range g.opts.Users {
		if u%genCheckInterval == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		// A stream per user keeps each user's events independent of Users.
		src.Seed(g.opts.Seed, genMix(genStreamUsers^uint64(u)))
		user := fmt.Sprintf("u%0*d", width, u)
		topics, before, after = g.tastes(r, topics, before, after)

		n := int(math.Round(float64(g.opts.MedianEvents) * math.Exp(genEventsSigma*r.NormFloat64())))
		n = min(max(n, genMinEvents), genMaxEvents)
		ts := int64(r.IntN(genStartSpread))
		clear(seen)
		for j := range n {
			// Interests move linearly from before to after.
			taste := before
			if n > 1 && r.Float64() < float64(j)/float64(n-1) {
				taste = after
			}
			pref := genPickTaste(r, taste)
			item, ok := g.pick(r, pref, seen)
			ts += int64(math.Exp(math.Log(genMinGap) + r.Float64()*math.Log(genMaxGap/genMinGap)))
			if !ok {
				continue
			}
			seen[item] = struct{}{}
			ev := Event{
				UserID: user,
				ItemID: g.itemID(int(item)),
				Kind:   "view",
				Value:  1,
				Time:   genEpoch.Add(time.Duration(ts) * time.Second),
			}
			switch x := r.Float64(); {
			case x < 0.60:
			case x < 0.85:
				ev.Kind = "click"
			case x < 0.95:
				ev.Kind = "purchase"
			default:
				// Ratings reward the user's preferred style: one more
				// collaborative signal that the text does not carry.
				mean := 3.0
				if int(g.style[item]) == pref.style {
					mean = 4.0
				}
				ev.Kind = "rating"
				ev.Value = min(max(math.Round(2*(mean+0.9*r.NormFloat64()))/2, 1), 5)
			}
			if err := ew.Write(ev); err != nil {
				return fmt.Errorf("generate: writing events: %w", err)
			}
			st.Events++
		}
		st.Users++
	}
	if err := ew.Flush(); err != nil {
		return fmt.Errorf("generate: writing events: %w", err)
	}
	return nil
}

// tastes draws a user's interests from r, the user's stream: one to three
// topics, then the same number again with one topic swapped for a new one
// and fresh weights. Its arguments are buffers to reuse.
func (g *genState) tastes(r *rand.Rand, topics []int, before, after []genTaste) ([]int, []genTaste, []genTaste) {
	topics = append(topics[:0], g.nonEmpty...)
	r.Shuffle(len(topics), func(i, j int) { topics[i], topics[j] = topics[j], topics[i] })
	k := 1
	if x := r.Float64(); x > 0.3 {
		k = 2
		if x > 0.75 {
			k = 3
		}
	}
	k = min(k, len(topics))
	before, after = before[:0], after[:0]
	for _, t := range topics[:k] {
		before = append(before, genTaste{t, r.IntN(genStyles), 0.2 + 0.8*r.Float64()})
	}
	after = append(after, before...)
	if len(topics) > k {
		after[r.IntN(k)] = genTaste{topic: topics[k], style: r.IntN(genStyles)}
	}
	for i := range after {
		after[i].weight = 0.2 + 0.8*r.Float64()
	}
	return topics, before, after
}

func genPickTaste(r *rand.Rand, tastes []genTaste) genTaste {
	var sum float64
	for _, t := range tastes {
		sum += t.weight
	}
	x := r.Float64() * sum
	for _, t := range tastes {
		if x -= t.weight; x < 0 {
			return t
		}
	}
	return tastes[len(tastes)-1]
}

// pick draws an item of the taste's topic the user has not seen yet,
// mostly from the preferred style. It gives up after a few tries: a user
// who has exhausted a small topic just does less.
func (g *genState) pick(r *rand.Rand, t genTaste, seen map[int32]struct{}) (int32, bool) {
	for range genRetries {
		p := &g.topicPools[t.topic]
		if sp := &g.stylePools[t.topic*genStyles+t.style]; len(sp.items) > 0 && r.Float64() < genStyleLoyalty {
			p = sp
		}
		item := p.sample(r)
		if _, dup := seen[item]; !dup {
			return item, true
		}
	}
	return 0, false
}

// genMix is the SplitMix64 finalizer: it spreads consecutive user numbers
// over unrelated generator states.
func genMix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

func genCapitalize(w string) string { return strings.ToUpper(w[:1]) + w[1:] }
