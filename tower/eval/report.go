package eval

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
)

// WriteJSON writes the report in the shape `duet eval --json` promises:
//
//	{"protocol": "last", "k": [10], "users": 610, "items": 9742, "wall_s": 12.3,
//	 "models": [{"name": "ease", "recall@10": 0.23, "ndcg@10": 0.12,
//	   "hr@10": 0.23, "mrr@10": 0.09, "coverage@10": 0.05,
//	   "params": {"lambda": 250}, "candidates": 5, "val_ndcg@10": 0.11,
//	   "fit_s": 1.2, "tune_s": 6.5, "eval_s": 0.4,
//	   "cold_only": {"recall@10": ...}}],
//	 "skipped": [{"name": "...", "reason": "..."}]}
//
// Figures appear in the order of K and then recall, ndcg, hr, mrr,
// coverage. Times are in seconds: wall_s for the whole run, and per model
// fit_s (the model that ranked the test users), tune_s (fitting and validating all
// candidates) and eval_s (ranking the test users); "buckets" is the NDCG
// at the first K by history length. "cold_only" is present
// for cold-start splits, "skipped" when a model was skipped.
func (r *Report) WriteJSON(w io.Writer) error {
	var b bytes.Buffer
	o := object{b: &b}
	o.open()
	o.field("protocol", r.Protocol)
	o.field("validation", r.Val)
	o.field("refit", r.Refit)
	o.field("k", r.K)
	o.field("users", r.Users)
	o.field("items", r.Items)
	o.field("wall_s", round(r.Seconds))
	o.key("models")
	b.WriteByte('[')
	for i, m := range r.Models {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("\n ")
		mo := object{b: &b}
		mo.open()
		mo.field("name", m.Name)
		writeMetrics(&mo, m.Metrics, r.K)
		params := m.Params
		if params == nil {
			params = map[string]any{}
		}
		mo.field("params", params)
		mo.field("candidates", m.Candidates)
		if m.Candidates > 1 {
			mo.field("val_"+Key(MetricNDCG, r.SelectK), m.Val)
		}
		mo.field("fit_s", round(m.FitSeconds))
		mo.field("tune_s", round(m.TuneSeconds))
		mo.field("eval_s", round(m.EvalSeconds))
		mo.field("buckets", m.Buckets)
		if m.ColdOnly != nil {
			mo.key("cold_only")
			co := object{b: &b}
			co.open()
			writeMetrics(&co, m.ColdOnly, r.K)
			co.close()
		}
		mo.close()
	}
	b.WriteByte(']')
	if len(r.Skipped) > 0 {
		o.key("skipped")
		b.WriteByte('[')
		for i, s := range r.Skipped {
			if i > 0 {
				b.WriteByte(',')
			}
			so := object{b: &b}
			so.open()
			so.field("name", s.Name)
			so.field("reason", s.Reason)
			so.close()
		}
		b.WriteByte(']')
	}
	o.close()
	b.WriteByte('\n')
	if o.err != nil {
		return fmt.Errorf("eval: write report: %w", o.err)
	}
	_, err := w.Write(b.Bytes())
	return err
}

func writeMetrics(o *object, ms map[string]float64, ks []int) {
	for _, k := range ks {
		for _, m := range append(perUser[:], MetricCoverage) {
			o.field(Key(m, k), ms[Key(m, k)])
		}
	}
}

// WriteTable writes the report as an aligned text table: a row per model,
// its figures at every K, fit time and chosen settings.
func (r *Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	cold := slices.ContainsFunc(r.Models, func(m ModelResult) bool { return m.ColdOnly != nil })
	head := []string{"model"}
	for _, k := range r.K {
		for _, m := range append(perUser[:], MetricCoverage) {
			head = append(head, Key(m, k))
		}
	}
	if cold {
		for _, k := range r.K {
			head = append(head, "cold "+Key(MetricRecall, k), "cold "+Key(MetricNDCG, k))
		}
	}
	head = append(head, "fit s", "tune s", "")
	fmt.Fprintf(tw, "%s\t\n", strings.Join(head, "\t"))
	for _, m := range r.Models {
		row := []string{m.Name}
		for _, k := range r.K {
			for _, name := range append(perUser[:], MetricCoverage) {
				row = append(row, fmt.Sprintf("%.4f", m.Metrics[Key(name, k)]))
			}
		}
		if cold {
			for _, k := range r.K {
				row = append(row, fmt.Sprintf("%.4f", m.ColdOnly[Key(MetricRecall, k)]), fmt.Sprintf("%.4f", m.ColdOnly[Key(MetricNDCG, k)]))
			}
		}
		row = append(row, fmt.Sprintf("%.2f", m.FitSeconds), fmt.Sprintf("%.2f", m.TuneSeconds), paramString(m.Params))
		fmt.Fprintf(tw, "%s\t\n", strings.Join(row, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	refit := "refitted on training and validation"
	if !r.Refit {
		refit = "not refitted"
	}
	fmt.Fprintf(w, "protocol %s (validation %s, %s), %d test users, %d items, %.1fs\n", r.Protocol, r.Val, refit, r.Users, r.Items, r.Seconds)
	if err := r.writeBuckets(w); err != nil {
		return err
	}
	for _, s := range r.Skipped {
		if _, err := fmt.Fprintf(w, "skipped %s: %s\n", s.Name, s.Reason); err != nil {
			return err
		}
	}
	return nil
}

func paramString(p map[string]any) string {
	keys := make([]string, 0, len(p))
	for k := range p {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%v", k, p[k])
	}
	return strings.Join(parts, " ")
}

// round keeps timings readable in JSON.
func round(s float64) float64 { return math.Round(s*1000) / 1000 }

// object writes one JSON object with fields in the order given, which
// encoding/json cannot do for a map.
type object struct {
	b   *bytes.Buffer
	n   int
	err error
}

func (o *object) open()  { o.b.WriteByte('{') }
func (o *object) close() { o.b.WriteByte('}') }

func (o *object) key(k string) {
	if o.n > 0 {
		o.b.WriteString(", ")
	}
	o.n++
	kb, _ := json.Marshal(k)
	o.b.Write(kb)
	o.b.WriteString(": ")
}

func (o *object) field(k string, v any) {
	o.key(k)
	if f, ok := v.(float64); ok && (math.IsNaN(f) || math.IsInf(f, 0)) {
		v = nil // JSON has no NaN; a missing figure reads as null
	}
	vb, err := json.Marshal(v)
	if err != nil && o.err == nil {
		o.err = fmt.Errorf("field %s: %w", k, err)
	}
	o.b.Write(vb)
}

// writeBuckets writes each model's NDCG at the first cut-off by history
// length, a column per bucket that holds users.
func (r *Report) writeBuckets(w io.Writer) error {
	if len(r.Models) == 0 || len(r.Models[0].Buckets) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	head := []string{Key(MetricNDCG, r.K[0]) + " by history"}
	var cols []int
	for b, bk := range r.Models[0].Buckets {
		if bk.Users == 0 {
			continue
		}
		cols = append(cols, b)
		span := fmt.Sprintf("%d+", bk.Min)
		if bk.Max > 0 {
			span = fmt.Sprintf("%d–%d", bk.Min, bk.Max-1)
		}
		head = append(head, fmt.Sprintf("%s (%d)", span, bk.Users))
	}
	fmt.Fprintf(tw, "%s\t\n", strings.Join(head, "\t"))
	for _, m := range r.Models {
		row := []string{m.Name}
		for _, b := range cols {
			row = append(row, fmt.Sprintf("%.4f", m.Buckets[b].NDCG))
		}
		fmt.Fprintf(tw, "%s\t\n", strings.Join(row, "\t"))
	}
	return tw.Flush()
}
