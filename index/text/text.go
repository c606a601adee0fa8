package text

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/analysis/analyzer/keyword"
	"github.com/blevesearch/bleve/v2/analysis/lang/en"
	"github.com/blevesearch/bleve/v2/analysis/token/lowercase"
	"github.com/blevesearch/bleve/v2/analysis/tokenizer/unicode"
	"github.com/blevesearch/bleve/v2/document"
	"github.com/blevesearch/bleve/v2/index/scorch"
	"github.com/blevesearch/bleve/v2/mapping"
	bindex "github.com/blevesearch/bleve_index_api"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/duetrec/duet/content"
	"github.com/duetrec/duet/internal/gather"
)

// The layout of a document in the text index.
//
// The mapping is static: Bleve's dynamic mapping is off and there is no
// composite _all field, so nothing is indexed that no query reads, and every
// query names its fields. Documents are built field by field (textDocument)
// instead of by Bleve's reflection over a Go value, which is faster and lets
// attributes have fields named after their keys.
//
// Attributes cannot be mapped ahead of time, since their keys are the
// catalog's own. Each key gets fields of its own when an item carrying it is
// indexed: strings a keyword field "attr_str.<key>", numbers a numeric field
// "attr_num.<key>". Separate prefixes keep a key that holds strings in some
// items and numbers in others from mixing text terms with Bleve's
// prefix-coded numeric terms in one field. Attribute fields are neither
// stored nor given doc values (nothing sorts or facets on them); a numeric
// value costs 16 prefix-coded terms, which is what makes ranges fast. The
// cost of per-key fields is per segment: every segment lists the fields of
// the items it holds, so a catalog with thousands of distinct keys makes
// segments, merges and field lookups slower. Such attributes are better
// left out of the text index (filter them in the ranker) or folded into
// tags.
//
// Tags and categories are exact keywords (filters and facets see the
// catalog's spelling) with doc values for facets; they are indexed once more
// into "labels" with the English analyzer, so that free text ("space
// operas") finds an item tagged "Space Opera" without exact-case term
// guessing at query time.
//
// Titles and descriptions are stored with term vectors because highlighting
// needs both; the description is the field worth a snippet, so it is kept
// despite the space. Nothing else is stored.
//
// "words" holds every word of the matched fields lowercased but not
// stemmed, for its dictionary alone: a word being typed is a prefix of
// words, not of their stems ("animat" begins "animation", whose stem is
// "anim"). Indexes written before it complete prefixes from the stems.
const (
	fieldTitle       = "title"       // en analyzer: matched
	fieldDescription = "description" // en analyzer: matched
	fieldTags        = "tags"        // keyword, doc values: filters and facets
	fieldCategories  = "categories"  // keyword, doc values: filters and facets
	fieldLabels      = "labels"      // en analyzer over tags and categories: matched by free text
	fieldWords       = "words"       // the words of title, description, tags and categories, lowercased, unstemmed: completions
	attrStrPrefix    = "attr_str."   // keyword
	attrNumPrefix    = "attr_num."   // numeric
)

// textVersion is the layout of the documents below. An index written with
// another layout is refused rather than queried wrongly; rebuild it.
const textVersion = "1"

var textVersionKey = []byte("duet.text.version")

// Options configures an Index. The zero value (or nil) is the default.
type Options struct {
	// BatchSize is how many items IndexBatch puts in one Bleve batch
	// (default 1000). Each batch becomes a segment and waits for its
	// fsync; larger batches mean fewer of both, and more memory.
	BatchSize int
	// PostingsCache is the memory, in bytes, kept for the decoded posting
	// lists of the terms queried lately, so that a common word's postings
	// are read from the index once rather than by every query (default
	// 64 MiB; negative: none).
	PostingsCache int
	// Bulk marks an index filled in bulk before it serves, as a snapshot
	// build fills one: while this Index is open, Bleve merges its
	// segments fifty at a time in tiers fifty times apart (its defaults:
	// ten and ten), so that each item is merged fewer times on the way.
	// Compact still leaves one segment; an index opened later merges as
	// live indexes do.
	Bulk bool
}

// maxTextGroup bounds how many queued live edits one batch takes.
const maxTextGroup = 256

// Index is the full-text index of the catalog: a Bleve index with a static
// mapping, kept on disk (scorch) in one directory.
//
// Titles and descriptions are analysed with Bleve's English analyzer
// (lowercased, stop words removed, Porter-stemmed) and scored with BM25;
// tags and categories are indexed as exact keywords for filters and facets
// and once more as English text so that free text finds them; attributes
// are indexed per key, strings as keywords and numbers as numeric fields.
// Nothing is stored and no positions are kept: the store, not this index,
// holds items, and Highlighter marks a query's words in an item's own text.
//
// Live edits (Upsert, Delete) go through one writer goroutine that applies
// whatever edits are queued as one batch (group commit): while one batch is
// applied and persisted, the next forms. An edit returns once its batch is
// searchable and persisted. All methods are safe for concurrent use.
type Index struct {
	idx   bleve.Index
	en    analysis.Analyzer // for title, description and labels
	kw    analysis.Analyzer // for tags, categories and string attributes
	words analysis.Analyzer // for the words field: Unicode words, lowercased
	batch int

	cache postingsCache

	ops    chan *textOp
	mu     sync.RWMutex // guards closed against sends on ops and use of idx
	closed bool
	done   chan struct{}
}

// textOp is one queued live edit: an upsert when doc is set, else a delete.
type textOp struct {
	id  string
	doc *document.Document
	err chan error
}

// Open opens the text index in dir, creating it if dir holds none.
// opts may be nil. An index written with another layout is refused.
//
// The index stays locked until Close: opening it again, from this process
// or another, fails with ErrLocked.
func Open(ctx context.Context, dir string, opts *Options) (*Index, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.BatchSize < 0 {
		return nil, fmt.Errorf("open text index %s: BatchSize is %d, want at least 0", dir, o.BatchSize)
	}
	if o.BatchSize == 0 {
		o.BatchSize = 1000
	}
	switch {
	case o.PostingsCache == 0:
		o.PostingsCache = defaultPostingsCache
	case o.PostingsCache < 0:
		o.PostingsCache = 0
	}
	m, err := textMapping()
	if err != nil {
		return nil, fmt.Errorf("open text index %s: %w", dir, err)
	}
	idx, err := openOrCreate(dir, m, textKVConfig(o.Bulk))
	if err != nil {
		return nil, fmt.Errorf("open text index %s: %w", dir, err)
	}
	t := &Index{
		idx:   idx,
		en:    m.AnalyzerNamed(en.AnalyzerName),
		kw:    m.AnalyzerNamed(keyword.Name),
		words: wordsAnalyzer(),
		batch: o.BatchSize,
		cache: postingsCache{budget: o.PostingsCache},
		ops:   make(chan *textOp, maxTextGroup),
		done:  make(chan struct{}),
	}
	if t.en == nil || t.kw == nil {
		idx.Close()
		return nil, fmt.Errorf("open text index %s: analyzers %q and %q are not registered", dir, en.AnalyzerName, keyword.Name)
	}
	go t.writeLoop()
	return t, nil
}

// wordsAnalyzer is the analyser of the words field: Unicode words,
// lowercased.
func wordsAnalyzer() analysis.Analyzer {
	return &analysis.DefaultAnalyzer{Tokenizer: unicode.NewUnicodeTokenizer(), TokenFilters: []analysis.TokenFilter{lowercase.NewLowerCaseFilter()}}
}

// openOrCreate opens the Bleve index in dir or creates it there, and checks
// (or records) the document layout.
func openOrCreate(dir string, m *mapping.IndexMappingImpl, cfg map[string]any) (bleve.Index, error) {
	_, statErr := os.Stat(filepath.Join(dir, "index_meta.json"))
	if errors.Is(statErr, os.ErrNotExist) {
		if err := os.MkdirAll(filepath.Dir(filepath.Clean(dir)), 0o755); err != nil {
			return nil, err
		}
		idx, err := bleve.NewUsing(dir, m, scorch.Name, scorch.Name, cfg)
		if err != nil {
			return nil, err
		}
		if err := idx.SetInternal(textVersionKey, []byte(textVersion)); err != nil {
			idx.Close()
			return nil, err
		}
		return idx, nil
	}
	idx, err := bleve.OpenUsing(dir, cfg)
	if err != nil {
		if errors.Is(err, berrors.ErrTimeout) {
			return nil, ErrLocked
		}
		return nil, err
	}
	v, err := idx.GetInternal(textVersionKey)
	if err != nil {
		idx.Close()
		return nil, err
	}
	if string(v) != textVersion {
		idx.Close()
		return nil, fmt.Errorf("index layout version %q, want %q: rebuild the index", v, textVersion)
	}
	return idx, nil
}

// textKVConfig is the scorch configuration: wait a little, not forever,
// for another process's lock on the index; with bulk, the wider merge
// plan of Options.Bulk. A 200,000-item bulk load took 0.85–0.95 × the
// CPU with it (docs/BENCHMARKS.md).
func textKVConfig(bulk bool) map[string]any {
	cfg := map[string]any{"bolt_timeout": "500ms"}
	if bulk {
		cfg["scorchMergePlanOptions"] = map[string]any{"MaxSegmentsPerTier": 50, "SegmentsPerMergeTask": 50, "TierGrowth": 50.0}
	}
	for k, v := range textTestConfig {
		cfg[k] = v
	}
	return cfg
}

// textTestConfig adds to the scorch configuration: tests hold the
// merger and the persister back to get an index of many segments.
var textTestConfig map[string]any

// textMapping is the static mapping. Documents are built by textDocument
// rather than by Bleve's reflection over a value; the mapping still decides
// how queries are analysed and is recorded with the index, so the two read
// their settings from the same field mappings.
func textMapping() (*mapping.IndexMappingImpl, error) {
	m := bleve.NewIndexMapping()
	m.ScoringModel = bindex.BM25Scoring
	m.DefaultAnalyzer = en.AnalyzerName
	m.IndexDynamic, m.StoreDynamic, m.DocValuesDynamic = false, false, false

	dm := bleve.NewDocumentStaticMapping()
	// No composite _all field: every query names its fields.
	dm.AddSubDocumentMapping("_all", bleve.NewDocumentDisabledMapping())
	for name, fm := range textFieldMappings() {
		dm.AddFieldMappingsAt(name, fm)
	}
	m.DefaultMapping = dm
	return m, m.Validate()
}

// textFieldMappings returns the field mappings of the fixed fields by name.
// Attribute fields take attrStrOptions and attrNumOptions.
func textFieldMappings() map[string]*mapping.FieldMapping {
	// No stored text or positions: Highlighter marks words in the item's
	// own text, which the catalogue holds, and no query reads positions.
	// Keeping them doubled the index's bytes.
	text := func() *mapping.FieldMapping {
		f := bleve.NewTextFieldMapping()
		f.Analyzer = en.AnalyzerName
		f.Store = false
		f.IncludeTermVectors = false
		f.IncludeInAll = false
		f.DocValues = false
		return f
	}
	kw := func() *mapping.FieldMapping {
		f := bleve.NewKeywordFieldMapping()
		f.Store = false
		f.IncludeTermVectors = false
		f.IncludeInAll = false
		f.DocValues = true // facets read them
		return f
	}
	return map[string]*mapping.FieldMapping{
		fieldTitle:       text(),
		fieldDescription: text(),
		fieldLabels:      text(),
		fieldTags:        kw(),
		fieldCategories:  kw(),
	}
}

var (
	textFixed = textFieldMappings()
	// Attribute strings are filtered by equality only; numbers by range.
	// Neither is faceted or sorted on, so neither keeps doc values.
	attrStrOptions = bindex.IndexField
	attrNumOptions = bindex.IndexField
	// The words field is read for its dictionary: no norms, positions or
	// doc values.
	wordsOptions = bindex.IndexField | bindex.SkipFreqNorm
)

// attrStrField is the name of the keyword field holding string attribute key.
func attrStrField(key string) string { return attrStrPrefix + key }

// attrNumField is the name of the numeric field holding number attribute key.
func attrNumField(key string) string { return attrNumPrefix + key }

// textDocument builds the Bleve document of an item.
func (t *Index) textDocument(it *content.Item) (*document.Document, error) {
	if err := it.Validate(); err != nil {
		return nil, fmt.Errorf("item %q: %w", textClip(it.ID), err)
	}
	d := document.NewDocument(it.ID)
	add := func(name, val string, pos []uint64, an analysis.Analyzer) {
		d.AddField(document.NewTextFieldCustom(name, pos, []byte(val), textFixed[name].Options(), an))
	}
	words := func(val string) {
		d.AddField(document.NewTextFieldCustom(fieldWords, nil, []byte(val), wordsOptions, t.words))
	}
	if it.Title != "" {
		add(fieldTitle, it.Title, nil, t.en)
		words(it.Title)
	}
	if it.Description != "" {
		add(fieldDescription, it.Description, nil, t.en)
		words(it.Description)
	}
	n := 0
	for i, tag := range it.Tags {
		add(fieldTags, tag, []uint64{uint64(i)}, t.kw)
		add(fieldLabels, tag, []uint64{uint64(n)}, t.en)
		words(tag)
		n++
	}
	for i, c := range it.Categories {
		add(fieldCategories, c, []uint64{uint64(i)}, t.kw)
		add(fieldLabels, c, []uint64{uint64(n)}, t.en)
		words(c)
		n++
	}
	for k, v := range it.Attributes {
		if v.IsNum {
			d.AddField(document.NewNumericFieldWithIndexingOptions(attrNumField(k), nil, v.Num, attrNumOptions))
		} else {
			d.AddField(document.NewTextFieldCustom(attrStrField(k), nil, []byte(v.Str), attrStrOptions, t.kw))
		}
	}
	return d, nil
}

// IndexBatch adds or replaces items in Bleve batches of Options.BatchSize,
// for bulk loads, and returns once they are searchable and persisted. Each
// batch is applied whole or not at all; on error or cancellation, the
// batches before it stay applied. Items are validated first, so an invalid
// item fails the call before anything is written. An id given twice ends
// with its later version.
//
// IndexBatch bypasses the writer goroutine: if it runs concurrently with
// Upsert or Delete of the same id, either may win.
//
// Its errors: content.ErrInvalid for an invalid item, ErrClosed after
// Close, ctx's, or Bleve's.
func (t *Index) IndexBatch(ctx context.Context, items []content.Item) error {
	docs := make([]*document.Document, len(items))
	for i := range items {
		d, err := t.textDocument(&items[i])
		if err != nil {
			return fmt.Errorf("index batch: %w", err)
		}
		docs[i] = d
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	if t.closed {
		return ErrClosed
	}
	for start := 0; start < len(docs); start += t.batch {
		if err := ctx.Err(); err != nil {
			return err
		}
		end := min(start+t.batch, len(docs))
		b := t.idx.NewBatch()
		for _, d := range docs[start:end] {
			if err := b.IndexAdvanced(d); err != nil {
				return fmt.Errorf("index batch: item %q: %w", textClip(d.ID()), err)
			}
		}
		if err := t.idx.Batch(b); err != nil {
			return fmt.Errorf("index batch: items %d to %d: %w", start, end-1, err)
		}
		// Let the documents go as soon as Bleve is done with them.
		clear(docs[start:end])
	}
	return nil
}

// Upsert adds or replaces an item and returns once the change is searchable
// and persisted. Once queued, an edit is carried out even if ctx is
// cancelled: the caller must learn whether it happened. Its errors are
// IndexBatch's.
func (t *Index) Upsert(ctx context.Context, it content.Item) error {
	d, err := t.textDocument(&it)
	if err != nil {
		return fmt.Errorf("upsert: %w", err)
	}
	return t.apply(ctx, &textOp{id: it.ID, doc: d})
}

// Delete removes an item, if present, and returns once the removal is
// visible to searches and persisted. Its errors: ErrClosed after Close,
// ctx's before the edit was queued, or Bleve's.
func (t *Index) Delete(ctx context.Context, id string) error {
	if id == "" {
		return fmt.Errorf("delete: empty id")
	}
	return t.apply(ctx, &textOp{id: id})
}

func (t *Index) apply(ctx context.Context, op *textOp) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	op.err = make(chan error, 1)
	t.mu.RLock()
	if t.closed {
		t.mu.RUnlock()
		return ErrClosed
	}
	t.ops <- op
	t.mu.RUnlock()
	return <-op.err
}

// writeLoop applies queued edits, as many as are waiting, in one batch at a
// time. No delay is added to gather more: edits queued while one batch is
// applied make up the next.
func (t *Index) writeLoop() {
	defer close(t.done)
	group := make([]*textOp, 0, maxTextGroup)
	for first := range t.ops {
		group = gather.Waiting(group, first, t.ops, maxTextGroup)
		// Within a batch the last edit of an id wins, as it would have
		// applied one by one.
		b := t.idx.NewBatch()
		for _, op := range group {
			if op.doc == nil {
				b.Delete(op.id)
			} else {
				// Cannot fail: the id was validated non-empty.
				_ = b.IndexAdvanced(op.doc)
			}
		}
		err := t.idx.Batch(b)
		if err != nil {
			err = fmt.Errorf("apply %d edits: %w", len(group), err)
		}
		for _, op := range group {
			op.err <- err
		}
	}
}

// Compact merges the index's segments into one, which makes the index
// smaller on disk and its searches faster. It is worth doing once after a
// bulk load, as when a snapshot is built; the index keeps merging small
// segments by itself otherwise. Searches and edits go on meanwhile; Close
// waits for Compact to finish.
func (t *Index) Compact(ctx context.Context) error {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if t.closed {
		return ErrClosed
	}
	adv, err := t.idx.Advanced()
	if err != nil {
		return fmt.Errorf("compact: %w", err)
	}
	s, ok := adv.(*scorch.Scorch)
	if !ok {
		return fmt.Errorf("compact: index type %T cannot merge segments", adv)
	}
	// nil: Bleve's single-segment merge plan. One pass merges at most
	// ten segments a task, so a bulk load that left more than ten ends a
	// pass with several (a 1M-item load kept 18 to 28): merge until one is
	// left or a pass stops reducing them.
	for prev := -1; ; {
		n, err := segmentCount(s)
		if err != nil {
			return fmt.Errorf("compact: %w", err)
		}
		if n <= 1 || n == prev {
			awaitRemoval(ctx, s, n)
			return nil
		}
		prev = n
		if err := s.ForceMerge(ctx, nil); err != nil {
			return fmt.Errorf("compact: %w", err)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

// awaitRemoval waits, at most removalWait, until the index's directory
// holds the files of its segments alone (and its root). Bleve deletes the
// segments a merge replaced in the background, after persisting the
// merge; an index closed before that keeps them, and a snapshot copies
// them: at a million items, two dead copies of a 0.7 GB index, checked on
// every load. Past the wait the files stay, harmless but for their bytes.
func awaitRemoval(ctx context.Context, s *scorch.Scorch, segments int) {
	for deadline := time.Now().Add(removalWait); ctx.Err() == nil && time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if n, ok := s.StatsMap()["CurOnDiskFiles"].(uint64); !ok || n <= uint64(segments)+1 {
			return
		}
	}
}

// removalWait bounds awaitRemoval.
const removalWait = 10 * time.Second

// segmentCount returns how many segments the index holds now.
func segmentCount(s *scorch.Scorch) (int, error) {
	r, err := s.Reader()
	if err != nil {
		return 0, err
	}
	defer r.Close()
	snap, ok := r.(*scorch.IndexSnapshot)
	if !ok {
		return 0, fmt.Errorf("index reader %T has no segments", r)
	}
	return len(snap.Segments()), nil
}

// Count returns the number of items in the index.
func (t *Index) Count() (uint64, error) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if t.closed {
		return 0, ErrClosed
	}
	return t.idx.DocCount()
}

// Close applies the edits already queued, waits for searches and bulk
// loads in progress, and closes the index. Calls after Close fail with
// ErrClosed; Close itself may be called again.
func (t *Index) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	close(t.ops)
	t.mu.Unlock()
	<-t.done
	t.cache.reset()
	if err := t.idx.Close(); err != nil {
		return fmt.Errorf("close text index: %w", err)
	}
	return nil
}

// textClip shortens an id for an error message.
func textClip(id string) string {
	if len(id) > 64 {
		return id[:64] + "..."
	}
	return id
}
