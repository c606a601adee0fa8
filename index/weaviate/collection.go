package weaviate

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/duetrec/duet/content"
	"github.com/duetrec/duet/index/text"
)

// The properties of an object. Titles, descriptions and labels (the
// words of tags and categories) hold the terms Duet's analyser makes of
// them, joined by spaces, tokenised by whitespace: matched, not filtered.
// Words holds the item's words, lowercased and not stemmed, likewise:
// filtered, not matched (the items a word being typed may become).
// Ids, tags and categories are exact (field tokenization): filtered, not
// matched. Attributes get a property per key and kind, named from the
// key's bytes in hex (keys may hold any character; property names may
// not): numbers "n_…", strings "s_…", so that a key holding both kinds in
// different items keeps them apart.
const (
	propID         = "duet_id"
	propTitle      = "title"
	propBody       = "body"
	propLabels     = "labels"
	propTags       = "tags"
	propCategories = "categories"
	propWords      = "words"
	numPrefix      = "n_"
	strPrefix      = "s_"
)

// Prefix begins the name of every collection Duet makes.
const Prefix = "Duet_"

var nameRE = regexp.MustCompile(`^Duet_[A-Za-z0-9_]{1,200}$`)

// ValidName reports whether name can be a collection of Duet's.
func ValidName(name string) bool { return nameRE.MatchString(name) }

func numProp(key string) string { return numPrefix + hex.EncodeToString([]byte(key)) }
func strProp(key string) string { return strPrefix + hex.EncodeToString([]byte(key)) }

// Options shape a new collection.
type Options struct {
	// Shards is how many shards the collection is split into (default 1:
	// BM25 statistics are per shard); Replicas how many copies each shard
	// has (default 1; 3 survives one node lost with QUORUM writes).
	Shards, Replicas int
	// EF and M are the HNSW graph's; 0 takes Weaviate's defaults.
	EFConstruction, M int
}

// property is a property of the schema.
type property struct {
	Name            string   `json:"name"`
	DataType        []string `json:"dataType"`
	Tokenization    string   `json:"tokenization,omitempty"`
	IndexFilterable *bool    `json:"indexFilterable,omitempty"`
	IndexSearchable *bool    `json:"indexSearchable,omitempty"`
}

func boolp(b bool) *bool { return &b }

func textProp(name string, array, filter, search bool, tokenization string) property {
	dt := "text"
	if array {
		dt = "text[]"
	}
	return property{Name: name, DataType: []string{dt}, Tokenization: tokenization, IndexFilterable: boolp(filter), IndexSearchable: boolp(search)}
}

func attrProp(key string, v content.Value) property {
	if v.IsNum {
		return property{Name: numProp(key), DataType: []string{"number"}, IndexFilterable: boolp(true)}
	}
	return textProp(strProp(key), false, true, false, "field")
}

// Create makes an empty collection for items of dimension dim, with a
// property for each attribute key and kind the items hold. An existing
// collection of that name is an error.
func (c *Client) Create(ctx context.Context, name string, items []content.Item, opts Options) (*Collection, error) {
	if !ValidName(name) {
		return nil, fmt.Errorf("%w: collection name %q", ErrRejected, name)
	}
	opts.Shards = max(opts.Shards, 1)
	opts.Replicas = max(opts.Replicas, 1)
	props := []property{
		textProp(propID, false, true, false, "field"),
		textProp(propTitle, false, false, true, "whitespace"),
		textProp(propBody, false, false, true, "whitespace"),
		textProp(propLabels, false, false, true, "whitespace"),
		textProp(propWords, false, true, false, "whitespace"),
		textProp(propTags, true, true, false, "field"),
		textProp(propCategories, true, true, false, "field"),
	}
	col := &Collection{c: c, name: name, replicas: opts.Replicas, props: map[string]bool{}}
	seen := map[string]bool{}
	for i := range items {
		for k, v := range items[i].Attributes {
			p := attrProp(k, v)
			if !seen[p.Name] {
				seen[p.Name] = true
				props = append(props, p)
			}
		}
	}
	for _, p := range props {
		col.props[p.Name] = true
	}
	hnsw := map[string]any{"distance": "dot"}
	if opts.EFConstruction > 0 {
		hnsw["efConstruction"] = opts.EFConstruction
	}
	if opts.M > 0 {
		hnsw["maxConnections"] = opts.M
	}
	class := map[string]any{
		"class":             name,
		"description":       "Duet items",
		"vectorizer":        "none",
		"vectorIndexType":   "hnsw",
		"vectorIndexConfig": hnsw,
		"shardingConfig":    map[string]any{"desiredCount": opts.Shards},
		"replicationConfig": map[string]any{
			"factor": opts.Replicas,
			// A delete and a write of one object on different replicas
			// resolve by time: without it, read repair brings a
			// deleted item back from a replica that missed the delete.
			"deletionStrategy": "TimeBasedResolution",
			"asyncEnabled":     opts.Replicas > 1,
		},
		"invertedIndexConfig": map[string]any{
			// Duet's analyser has dropped stop words already.
			"stopwords": map[string]any{"preset": "none"},
			"bm25":      map[string]any{"k1": 1.2, "b": 0.75},
		},
		"properties": props,
	}
	if err := c.do(ctx, http.MethodPost, "/v1/schema", class, nil); err != nil {
		return nil, fmt.Errorf("create collection %s: %w", name, err)
	}
	return col, nil
}

// Collection returns an existing collection, reading its properties.
func (c *Client) Collection(ctx context.Context, name string) (*Collection, error) {
	var class struct {
		Properties        []property `json:"properties"`
		ReplicationConfig struct {
			Factor int `json:"factor"`
		} `json:"replicationConfig"`
	}
	if err := c.do(ctx, http.MethodGet, "/v1/schema/"+url.PathEscape(name), nil, &class); err != nil {
		if isNotFound(err) {
			return nil, fmt.Errorf("%w: %s", ErrNoCollection, name)
		}
		return nil, fmt.Errorf("collection %s: %w", name, err)
	}
	col := &Collection{c: c, name: name, replicas: class.ReplicationConfig.Factor, props: map[string]bool{}}
	for _, p := range class.Properties {
		col.props[p.Name] = true
	}
	if !col.props[propID] {
		return nil, fmt.Errorf("%w: %s is not a collection of Duet's (no %s property)", ErrRejected, name, propID)
	}
	return col, nil
}

// Collections returns the names of Duet's collections, sorted.
func (c *Client) Collections(ctx context.Context) ([]string, error) {
	var schema struct {
		Classes []struct {
			Class string `json:"class"`
		} `json:"classes"`
	}
	if err := c.do(ctx, http.MethodGet, "/v1/schema", nil, &schema); err != nil {
		return nil, err
	}
	var out []string
	for _, cl := range schema.Classes {
		if strings.HasPrefix(cl.Class, Prefix) {
			out = append(out, cl.Class)
		}
	}
	sort.Strings(out)
	return out, nil
}

// Drop deletes a collection and its objects; one that does not exist is
// no error.
func (c *Client) Drop(ctx context.Context, name string) error {
	if err := c.do(ctx, http.MethodDelete, "/v1/schema/"+url.PathEscape(name), nil, nil); err != nil && !isNotFound(err) {
		return fmt.Errorf("drop collection %s: %w", name, err)
	}
	return nil
}

// Collection is one collection of items.
type Collection struct {
	c    *Client
	name string

	replicas int // the replication factor

	mu    sync.RWMutex
	props map[string]bool // the properties the schema has
}

// Name returns the collection's name.
func (col *Collection) Name() string { return col.name }

// quorum is the consistency level of writes and reads: a read of an
// object sees every write a majority of replicas acknowledged. While a
// replica stalls, reads ask at one (see Client.read).
const (
	quorum = "QUORUM"
	one    = "ONE"
)

// consistency is the consistency argument of a query at level, "" for a
// collection without replicas, which takes none.
func (col *Collection) consistency(level string) string {
	if col.replicas <= 1 {
		return ""
	}
	return ", consistencyLevel:" + level
}

// uuidSpace is the namespace of the objects' name-based (version 5) UUIDs.
var uuidSpace = [16]byte{0x6a, 0x1b, 0x2c, 0x3d, 0x4e, 0x5f, 0x40, 0x71, 0x82, 0x93, 0xa4, 0xb5, 0xc6, 0xd7, 0xe8, 0xf9}

// UUID is the object id of an item: a version 5 UUID of the item id, the
// same in every collection and every process.
func UUID(id string) string {
	h := sha1.New()
	h.Write(uuidSpace[:])
	h.Write([]byte(id))
	var u [16]byte
	copy(u[:], h.Sum(nil))
	u[6] = u[6]&0x0f | 0x50
	u[8] = u[8]&0x3f | 0x80
	b := hex.EncodeToString(u[:])
	return b[0:8] + "-" + b[8:12] + "-" + b[12:16] + "-" + b[16:20] + "-" + b[20:]
}

// Object is an item and its vector, as put in a collection. Text is the
// item's analysed text when the caller has it (text.AnalyzeItem); else Put
// analyses the item.
type Object struct {
	Item   *content.Item
	Vector []float32
	Text   *text.Fields
}

type wireObject struct {
	Class      string         `json:"class"`
	ID         string         `json:"id"`
	Properties map[string]any `json:"properties"`
	Vector     []float32      `json:"vector"`
}

func (col *Collection) wire(o Object) (wireObject, error) {
	it := o.Item
	f := o.Text
	if f == nil {
		a, err := text.AnalyzeItem(it)
		if err != nil {
			return wireObject{}, err
		}
		f = &a
	}
	title, body, labels := strings.Join(f.Title, " "), strings.Join(f.Description, " "), strings.Join(f.Labels, " ")
	props := map[string]any{
		propID: it.ID, propTitle: title, propBody: body, propLabels: labels, propWords: strings.Join(f.Words, " "),
		propTags: nonNil(it.Tags), propCategories: nonNil(it.Categories),
	}
	for k, v := range it.Attributes {
		if v.IsNum {
			props[numProp(k)] = v.Num
		} else {
			props[strProp(k)] = v.Str
		}
	}
	return wireObject{Class: col.name, ID: UUID(it.ID), Properties: props, Vector: o.Vector}, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// ensureProps adds to the schema the attribute properties the objects
// need and it lacks, before they are written: Weaviate's auto-schema
// would guess their kinds and tokenization.
func (col *Collection) ensureProps(ctx context.Context, objs []Object) error {
	var missing []property
	col.mu.RLock()
	seen := map[string]bool{}
	for _, o := range objs {
		for k, v := range o.Item.Attributes {
			p := attrProp(k, v)
			if !col.props[p.Name] && !seen[p.Name] {
				seen[p.Name] = true
				missing = append(missing, p)
			}
		}
	}
	col.mu.RUnlock()
	for _, p := range missing {
		err := col.c.do(ctx, http.MethodPost, "/v1/schema/"+url.PathEscape(col.name)+"/properties", p, nil)
		// Another writer may have added it a moment ago.
		if err != nil && !strings.Contains(err.Error(), "already exists") {
			return fmt.Errorf("add property %s: %w", p.Name, err)
		}
		if err := col.waitProp(ctx, p.Name); err != nil {
			return err
		}
		col.mu.Lock()
		col.props[p.Name] = true
		col.mu.Unlock()
	}
	return nil
}

// propWait bounds the wait for a new property to reach every node.
const propWait = 10 * time.Second

// waitProp waits until every node that answers shows the property: the
// schema reaches the nodes through Raft, and a node that has not applied
// the change yet would match no object on the property.
func (col *Collection) waitProp(ctx context.Context, name string) error {
	deadline := time.Now().Add(propWait)
	for _, host := range col.c.hosts {
		for {
			status, data, err := col.c.send(ctx, http.MethodGet, "http://"+host+"/v1/schema/"+url.PathEscape(col.name), nil)
			if err != nil || status != http.StatusOK {
				break // a node away learns it when it returns
			}
			var class struct {
				Properties []property `json:"properties"`
			}
			if json.Unmarshal(data, &class) == nil && slices.ContainsFunc(class.Properties, func(p property) bool { return p.Name == name }) {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%w: property %s not on %s after %v", ErrUnavailable, name, host, propWait)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	return nil
}

func (col *Collection) hasProp(name string) bool {
	col.mu.RLock()
	defer col.mu.RUnlock()
	return col.props[name]
}

// Put writes objects, replacing those of the same items, and returns
// once a quorum of each shard's replicas holds them.
func (col *Collection) Put(ctx context.Context, objs []Object) error {
	if len(objs) == 0 {
		return nil
	}
	if err := col.ensureProps(ctx, objs); err != nil {
		return err
	}
	batch := struct {
		Objects []wireObject `json:"objects"`
	}{make([]wireObject, len(objs))}
	for i, o := range objs {
		var err error
		if batch.Objects[i], err = col.wire(o); err != nil {
			return err
		}
	}
	var results []batchResult
	if err := col.c.do(ctx, http.MethodPost, "/v1/batch/objects?consistency_level=QUORUM", batch, &results); err != nil {
		return fmt.Errorf("put %d objects: %w", len(objs), err)
	}
	return batchError(results, len(objs), func(i int) string { return "item " + strconv.Quote(objs[i].Item.ID) })
}

// batchResult is one object's outcome in a batch's answer.
type batchResult struct {
	Result struct {
		Errors *struct {
			Error []struct {
				Message string `json:"message"`
			} `json:"error"`
		} `json:"errors"`
	} `json:"result"`
}

// batchError returns the first object's error in the answer to a batch
// of n, named by what.
func batchError(results []batchResult, n int, what func(i int) string) error {
	if len(results) != n {
		return fmt.Errorf("%w: %d results for a batch of %d", ErrRejected, len(results), n)
	}
	for i, r := range results {
		if r.Result.Errors == nil || len(r.Result.Errors.Error) == 0 {
			continue
		}
		msg := r.Result.Errors.Error[0].Message
		err := ErrRejected
		if strings.Contains(msg, "consistency level") || strings.Contains(msg, "connection refused") {
			err = ErrUnavailable
		}
		return fmt.Errorf("put %s: %w: %s", what(i), err, msg)
	}
	return nil
}

// Delete removes an item's object; one that is absent is no error.
func (col *Collection) Delete(ctx context.Context, id string) error {
	path := "/v1/objects/" + url.PathEscape(col.name) + "/" + UUID(id) + "?consistency_level=QUORUM"
	if err := col.c.do(ctx, http.MethodDelete, path, nil, nil); err != nil && !isNotFound(err) {
		return fmt.Errorf("delete item %q: %w", id, err)
	}
	return nil
}

// Count returns the number of objects in the collection.
func (col *Collection) Count(ctx context.Context) (int, error) {
	var out struct {
		Aggregate map[string][]struct {
			Meta struct {
				Count int `json:"count"`
			} `json:"meta"`
		}
	}
	// Not hedged: a node counts the objects its replicas hold so far, and
	// a second node asked because the first is slow may count fewer.
	r := call{method: http.MethodPost, path: "/v1/graphql", body: map[string]string{"query": "{Aggregate{" + col.name + "{meta{count}}}}"}}
	if err := col.c.run(ctx, r, &out); err != nil {
		return 0, fmt.Errorf("count %s: %w", col.name, err)
	}
	rows := out.Aggregate[col.name]
	if len(rows) == 0 {
		return 0, nil
	}
	return rows[0].Meta.Count, nil
}
