package weaviate

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/duetrec/duet/index/text"
)

// Hit is one object a query found: the item id, its score (the inner
// product with the query vector, or BM25) and its stored vector, or its
// analysed text (Matching).
type Hit struct {
	ID     string
	Score  float32
	Vector []float32
	Text   *text.Fields
}

// where renders a filter as a GraphQL where argument, "" for none. ok is
// false when the filter names an attribute no object has, which then
// matches nothing.
func (col *Collection) where(f *text.Filter) (arg string, ok bool) {
	if f == nil {
		return "", true
	}
	var ops []string
	anyOf := func(prop string, vals []string) {
		if len(vals) > 0 {
			ops = append(ops, fmt.Sprintf(`{path:[%q],operator:ContainsAny,valueText:%s}`, prop, quoteAll(vals)))
		}
	}
	anyOf(propCategories, f.Categories)
	anyOf(propTags, f.Tags)
	keys := make([]string, 0, len(f.Attributes))
	for k := range f.Attributes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := f.Attributes[k]
		if v.IsNum {
			p := numProp(k)
			if !col.hasProp(p) {
				return "", false
			}
			ops = append(ops, fmt.Sprintf(`{path:[%q],operator:Equal,valueNumber:%s}`, p, number(v.Num)))
		} else {
			p := strProp(k)
			if !col.hasProp(p) {
				return "", false
			}
			ops = append(ops, fmt.Sprintf(`{path:[%q],operator:Equal,valueText:%s}`, p, quote(v.Str)))
		}
	}
	for _, r := range f.Ranges {
		p := numProp(r.Attribute)
		if !col.hasProp(p) {
			return "", false
		}
		if r.Min != nil {
			ops = append(ops, fmt.Sprintf(`{path:[%q],operator:GreaterThanEqual,valueNumber:%s}`, p, number(*r.Min)))
		}
		if r.Max != nil {
			ops = append(ops, fmt.Sprintf(`{path:[%q],operator:LessThanEqual,valueNumber:%s}`, p, number(*r.Max)))
		}
	}
	switch len(ops) {
	case 0:
		return "", true
	case 1:
		return ", where:" + ops[0], true
	}
	return ", where:{operator:And,operands:[" + strings.Join(ops, ",") + "]}", true
}

// quote renders a GraphQL string; JSON's escapes are GraphQL's.
func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func quoteAll(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = quote(s)
	}
	return "[" + strings.Join(q, ",") + "]"
}

func number(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

func vector(v []float32) string {
	b := make([]byte, 0, len(v)*12)
	b = append(b, '[')
	for i, x := range v {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendFloat(b, float64(x), 'g', -1, 32)
	}
	return string(append(b, ']'))
}

// row is one object of a Get answer.
type row struct {
	ID         string `json:"duet_id"`
	Title      string `json:"title"`
	Body       string `json:"body"`
	Labels     string `json:"labels"`
	Additional struct {
		Distance *float32  `json:"distance"`
		Score    string    `json:"score"`
		Vector   []float32 `json:"vector"`
	} `json:"_additional"`
}

// get runs a Get query of the collection with the given arguments.
func (col *Collection) get(ctx context.Context, args string, fields string) ([]row, error) {
	q := func(level string) string {
		return "{Get{" + col.name + "(" + args + col.consistency(level) + "){" + propID + " _additional{" + fields + "}}}}"
	}
	var out struct{ Get map[string][]row }
	if err := col.c.read(ctx, q(quorum), q(one), &out); err != nil {
		return nil, err
	}
	return out.Get[col.name], nil
}

// NearVector returns up to k objects passing f, nearest v by inner
// product, highest first, with their vectors.
func (col *Collection) NearVector(ctx context.Context, v []float32, k int, f *text.Filter) ([]Hit, error) {
	where, ok := col.where(f)
	if !ok || k <= 0 {
		return nil, nil
	}
	rows, err := col.get(ctx, "nearVector:{vector:"+vector(v)+"}, limit:"+strconv.Itoa(k)+where, "distance vector")
	if err != nil {
		return nil, fmt.Errorf("near-vector search of %s: %w", col.name, err)
	}
	hits := make([]Hit, 0, len(rows))
	for _, r := range rows {
		h := Hit{ID: r.ID, Vector: r.Additional.Vector}
		if d := r.Additional.Distance; d != nil {
			h.Score = -*d // the dot distance is the negated inner product
		}
		hits = append(hits, h)
	}
	return hits, nil
}

// bm25Fields are the properties free text is matched against, with the
// embedded text index's boosts.
var bm25Fields = []struct {
	prop  string
	boost float32
}{{propTitle, 2}, {propBody, 1}, {propLabels, 1}}

// BM25 returns up to k objects passing f that hold any of the terms
// (already analysed: Duet's stemmed, lowercased words) in their title,
// description or labels, highest score first, with their vectors. As in
// the embedded index, each field is scored on its own (BM25 with the
// field's own lengths) and the scores are summed, the title's doubled:
// Weaviate's BM25F over several properties would count the title's length
// against a word found only in the labels. The three searches go in one
// request, up to k objects each.
func (col *Collection) BM25(ctx context.Context, terms []string, k int, f *text.Filter) ([]Hit, error) {
	byField, err := col.bm25(ctx, terms, k, f, propID+" _additional{score vector}")
	if err != nil || byField == nil {
		return nil, err
	}
	byID := map[string]int{}
	var hits []Hit
	for i, fl := range bm25Fields {
		for _, r := range byField[i] {
			s, _ := strconv.ParseFloat(r.Additional.Score, 32)
			j, ok := byID[r.ID]
			if !ok {
				j = len(hits)
				byID[r.ID] = j
				hits = append(hits, Hit{ID: r.ID, Vector: r.Additional.Vector})
			}
			hits[j].Score += fl.boost * float32(s)
		}
	}
	sort.SliceStable(hits, func(i, j int) bool {
		if hits[i].Score != hits[j].Score {
			return hits[i].Score > hits[j].Score
		}
		return hits[i].ID < hits[j].ID
	})
	return hits[:min(k, len(hits))], nil
}

// Matching returns the objects passing f among Weaviate's best k by BM25
// for the terms in each of the title, description and labels, each object
// once, unscored, with its analysed text and without its vector: the
// candidates a text.Scorer ranks.
func (col *Collection) Matching(ctx context.Context, terms []string, k int, f *text.Filter) ([]Hit, error) {
	byField, err := col.bm25(ctx, terms, k, f, propID+" "+propTitle+" "+propBody+" "+propLabels)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var hits []Hit
	for _, rows := range byField {
		for _, r := range rows {
			if seen[r.ID] {
				continue
			}
			seen[r.ID] = true
			hits = append(hits, Hit{ID: r.ID, Text: &text.Fields{
				Title: strings.Fields(r.Title), Description: strings.Fields(r.Body), Labels: strings.Fields(r.Labels),
			}})
		}
	}
	return hits, nil
}

// bm25 runs the three searches of BM25 and Matching in one request,
// selecting sel of each object, and returns their rows in the order of
// bm25Fields.
func (col *Collection) bm25(ctx context.Context, terms []string, k int, f *text.Filter, sel string) ([][]row, error) {
	where, ok := col.where(f)
	if !ok || k <= 0 || len(terms) == 0 {
		return nil, nil
	}
	q := func(level string) string {
		var b strings.Builder
		b.WriteString("{Get{")
		for i, fl := range bm25Fields {
			fmt.Fprintf(&b, "f%d: %s(bm25:{query:%s, properties:[%q]}, limit:%d%s%s){%s} ",
				i, col.name, quote(strings.Join(terms, " ")), fl.prop, k, where, col.consistency(level), sel)
		}
		b.WriteString("}}")
		return b.String()
	}
	var out struct{ Get map[string][]row }
	if err := col.c.read(ctx, q(quorum), q(one), &out); err != nil {
		return nil, fmt.Errorf("bm25 search of %s: %w", col.name, err)
	}
	rows := make([][]row, len(bm25Fields))
	for i := range bm25Fields {
		rows[i] = out.Get["f"+strconv.Itoa(i)]
	}
	return rows, nil
}

// Holding returns up to k objects holding any of words (lowercased,
// unstemmed: text.Fields.Words), with their vectors.
func (col *Collection) Holding(ctx context.Context, words []string, k int) ([]Hit, error) {
	if len(words) == 0 || k <= 0 || !col.hasProp(propWords) {
		return nil, nil
	}
	args := fmt.Sprintf(`limit:%d, where:{path:[%q],operator:ContainsAny,valueText:%s}`, k, propWords, quoteAll(words))
	rows, err := col.get(ctx, args, "vector")
	if err != nil {
		return nil, fmt.Errorf("items holding words in %s: %w", col.name, err)
	}
	hits := make([]Hit, len(rows))
	for i, r := range rows {
		hits[i] = Hit{ID: r.ID, Vector: r.Additional.Vector}
	}
	return hits, nil
}

// Browse returns up to k objects passing f after skipping offset, in id
// order, with score 0.
func (col *Collection) Browse(ctx context.Context, k, offset int, f *text.Filter) ([]Hit, error) {
	where, ok := col.where(f)
	if !ok || k <= 0 {
		return nil, nil
	}
	args := `sort:[{path:["` + propID + `"],order:asc}], limit:` + strconv.Itoa(k) + ", offset:" + strconv.Itoa(offset) + where
	rows, err := col.get(ctx, args, "vector")
	if err != nil {
		return nil, fmt.Errorf("browse %s: %w", col.name, err)
	}
	hits := make([]Hit, len(rows))
	for i, r := range rows {
		hits[i] = Hit{ID: r.ID, Vector: r.Additional.Vector}
	}
	return hits, nil
}

// Vectors returns the stored vectors of the items among ids that the
// collection holds.
func (col *Collection) Vectors(ctx context.Context, ids []string) (map[string][]float32, error) {
	out := make(map[string][]float32, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	args := fmt.Sprintf(`limit:%d, where:{path:[%q],operator:ContainsAny,valueText:%s}`, len(ids), propID, quoteAll(ids))
	rows, err := col.get(ctx, args, "vector")
	if err != nil {
		return nil, fmt.Errorf("vectors of %s: %w", col.name, err)
	}
	for _, r := range rows {
		out[r.ID] = r.Additional.Vector
	}
	return out, nil
}
