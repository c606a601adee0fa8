package content

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// The feedback log: what the engine showed (impressions) and the events
// attributed to them (clicks), in one log numbered in commit order (a
// sequence of its own: recording what was shown is not a write of the
// catalogue or the event log, and does not move Stats.Seq), so that every
// server sharing the store can fold the same log into its online figures. It is operational data: kept for a retention
// period (PruneFeedback), not part of dumps.

// Limits of the feedback log's records.
const (
	MaxImpressionItems = 1000
	maxImpressionID    = 64
	maxExperimentBody  = 64 << 10
	// DefaultAttribution is how long after an impression an event may
	// name it, unless SetAttributionWindow says otherwise.
	DefaultAttribution = 7 * 24 * time.Hour
)

// Impression is one answer as it was shown.
type Impression struct {
	ID     string    `json:"id"`
	Time   time.Time `json:"time"`
	UserID string    `json:"user_id,omitempty"`
	// Route is what answered: "search", "recommendations" or "similar".
	Route string `json:"route"`
	// Items are the ids shown, in the order shown.
	Items    []string `json:"items"`
	Snapshot string   `json:"snapshot,omitempty"`
	// Config names the ranker configuration that made the list.
	Config     string `json:"config,omitempty"`
	Experiment string `json:"experiment,omitempty"`
	// Arm is the experiment arm shown ("a" or "b"); for an interleaved
	// list, Teams names per position the arm that proposed the item.
	Arm   string `json:"arm,omitempty"`
	Teams string `json:"teams,omitempty"`

	// Kept by the store as events are attributed: the best (lowest)
	// position of a positive event, -1 for none, and positive events per
	// arm of an interleaved list.
	Best       int    `json:"best"`
	TeamClicks [2]int `json:"team_clicks"`
}

// Click is an event attributed to the impression that showed its item.
type Click struct {
	ImpressionID string    `json:"impression_id"`
	Position     int       `json:"position"` // 0-based
	UserID       string    `json:"user_id"`
	ItemID       string    `json:"item_id"`
	Kind         string    `json:"kind"`
	Value        float64   `json:"value"`
	Time         time.Time `json:"time"`
	// Positive is an event of positive value: only those count as clicks
	// in the online figures.
	Positive bool `json:"positive"`
	// The impression's labels, so that a fold needs no lookup.
	Shown      time.Time `json:"shown"`
	Route      string    `json:"route"`
	Snapshot   string    `json:"snapshot,omitempty"`
	Config     string    `json:"config,omitempty"`
	Experiment string    `json:"experiment,omitempty"`
	Arm        string    `json:"arm,omitempty"`
	Team       string    `json:"team,omitempty"` // the arm that proposed the item, interleaved
	// The impression's Best and TeamClicks before this event.
	Before      int    `json:"before"`
	BeforeTeams [2]int `json:"before_teams"`
}

// Feedback is one record of the feedback log: an impression or a click.
type Feedback struct {
	Seq        uint64
	Impression *Impression
	Click      *Click
}

func (im *Impression) validate() error {
	switch {
	case im.ID == "" || len(im.ID) > maxImpressionID:
		return invalid("impression_id", "must be 1 to %d bytes", maxImpressionID)
	case im.Route == "":
		return invalid("route", "is empty")
	case len(im.Items) > MaxImpressionItems:
		return invalid("items", "%d items, at most %d", len(im.Items), MaxImpressionItems)
	case im.Teams != "" && len(im.Teams) != len(im.Items):
		return invalid("teams", "names %d positions for %d items", len(im.Teams), len(im.Items))
	case im.Time.IsZero():
		return invalid("time", "is unknown")
	}
	return nil
}

// LogImpressions records impressions in the feedback log, in one
// transaction, and returns the feedback log's number of the last. Best is set
// to -1 and TeamClicks cleared.
func (s *Store) LogImpressions(ctx context.Context, imps []Impression) (uint64, error) {
	for i := range imps {
		imps[i].Best, imps[i].TeamClicks = -1, [2]int{}
		if err := imps[i].validate(); err != nil {
			return 0, fmt.Errorf("impression %d: %w", i, err)
		}
	}
	if len(imps) == 0 {
		return 0, nil
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	seq, err := s.e.logImpressions(ctx, imps)
	if err != nil {
		return 0, fmt.Errorf("log impressions: %w", unavailable(err))
	}
	return seq, nil
}

// Impression returns the impression with the given id, or ErrNotFound.
func (s *Store) Impression(ctx context.Context, id string) (Impression, error) {
	if err := ctx.Err(); err != nil {
		return Impression{}, err
	}
	im, err := s.e.impression(ctx, id)
	if err != nil {
		return Impression{}, fmt.Errorf("impression %q: %w", clip(id), unavailable(err))
	}
	return im, nil
}

// FeedbackSince returns the feedback log's records with a sequence number
// above seq, in order, at most limit of them (all if limit ≤ 0). As with
// ChangesSince, a reader going on from the last number it read skips none.
func (s *Store) FeedbackSince(ctx context.Context, seq uint64, limit int) ([]Feedback, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out, err := s.e.feedbackSince(ctx, seq, limit)
	if err != nil {
		return nil, fmt.Errorf("feedback since %d: %w", seq, unavailable(err))
	}
	return out, nil
}

// pruneChunk bounds the records one pruning transaction removes, so that
// pruning never holds the writers for long.
const pruneChunk = 5000

// PruneFeedback removes the feedback log's records older than before,
// with their impressions, and returns how many records it removed.
// Events attributed to them stay in the event log. The log is in time
// order but for the moments writes wait to be committed; a bbolt store
// removes from its start while records are older than before.
func (s *Store) PruneFeedback(ctx context.Context, before time.Time) (int, error) {
	total := 0
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		n, err := s.e.pruneFeedback(ctx, before, pruneChunk)
		total += n
		if err != nil {
			return total, fmt.Errorf("prune feedback: %w", unavailable(err))
		}
		if n < pruneChunk {
			return total, nil
		}
	}
}

// SetAttributionWindow sets how long after an impression an event may
// name it (DefaultAttribution until set); later, the event is refused
// with ErrImpressionExpired.
func (s *Store) SetAttributionWindow(d time.Duration) {
	if d > 0 {
		s.window.Store(int64(d))
	}
}

// attribution is what an event write needs to attribute events to their
// impressions.
type attribution struct {
	now    time.Time
	window time.Duration
}

// needed reports whether any event names an impression.
func (a *attribution) needed(events []Event) bool {
	return a != nil && slices.ContainsFunc(events, func(ev Event) bool { return ev.ImpressionID != "" })
}

// attribute checks event i against the impression it names and returns
// the click to log, having updated im's Best and TeamClicks.
func (a *attribution) attribute(i int, ev *Event, im *Impression) (Click, error) {
	if a.now.Sub(im.Time) > a.window {
		return Click{}, fmt.Errorf("event %d: impression %q shown %s: %w", i, clip(ev.ImpressionID), im.Time.Format(time.RFC3339), ErrImpressionExpired)
	}
	if im.UserID != "" && im.UserID != ev.UserID {
		return Click{}, fmt.Errorf("event %d: user %q: %w %q (it was shown to another user)", i, clip(ev.UserID), ErrNotShown, clip(ev.ImpressionID))
	}
	pos := slices.Index(im.Items, ev.ItemID)
	if pos < 0 {
		return Click{}, fmt.Errorf("event %d: item %q: %w %q", i, clip(ev.ItemID), ErrNotShown, clip(ev.ImpressionID))
	}
	c := Click{
		ImpressionID: im.ID, Position: pos, UserID: ev.UserID, ItemID: ev.ItemID, Kind: ev.Kind, Value: ev.Value, Time: ev.Time,
		Positive: ev.Value > 0, Shown: im.Time, Route: im.Route, Snapshot: im.Snapshot, Config: im.Config,
		Experiment: im.Experiment, Arm: im.Arm, Before: im.Best, BeforeTeams: im.TeamClicks,
	}
	if im.Teams != "" {
		c.Team = im.Teams[pos : pos+1]
	}
	if c.Positive {
		if im.Best < 0 || pos < im.Best {
			im.Best = pos
		}
		switch c.Team {
		case "a":
			im.TeamClicks[0]++
		case "b":
			im.TeamClicks[1]++
		}
	}
	return c, nil
}

// attributeAll attributes every event that names an impression: lookup
// returns the impression (nil when the log does not hold it), each
// impression once, and logClick records a click; the impressions as the
// attributions left them are returned, for the engine to write back.
func (a *attribution) attributeAll(events []Event, lookup func(id string) (*Impression, error), logClick func(c *Click) error) (map[string]*Impression, error) {
	imps := map[string]*Impression{}
	for i := range events {
		ev := &events[i]
		if ev.ImpressionID == "" {
			continue
		}
		im, ok := imps[ev.ImpressionID]
		if !ok {
			var err error
			if im, err = lookup(ev.ImpressionID); err != nil {
				return nil, err
			}
			if im == nil {
				return nil, fmt.Errorf("event %d: impression %q: %w", i, clip(ev.ImpressionID), ErrUnknownImpression)
			}
			imps[ev.ImpressionID] = im
		}
		c, err := a.attribute(i, ev, im)
		if err != nil {
			return nil, err
		}
		if err := logClick(&c); err != nil {
			return nil, err
		}
	}
	return imps, nil
}

// PutExperiment stores an experiment's definition (JSON the store does not
// read) under its id, replacing an earlier one.
func (s *Store) PutExperiment(ctx context.Context, id string, body json.RawMessage) error {
	if err := checkID("id", id); err != nil {
		return fmt.Errorf("experiment: %w", err)
	}
	if len(body) > maxExperimentBody || !json.Valid(body) {
		return fmt.Errorf("experiment %q: %w", clip(id), invalid("body", "must be JSON of at most %d bytes", maxExperimentBody))
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.e.putExperiment(ctx, id, body); err != nil {
		return fmt.Errorf("experiment %q: %w", clip(id), unavailable(err))
	}
	return nil
}

// Experiments returns the stored experiments' definitions by id.
func (s *Store) Experiments(ctx context.Context) (map[string]json.RawMessage, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out, err := s.e.experiments(ctx)
	if err != nil {
		return nil, fmt.Errorf("experiments: %w", unavailable(err))
	}
	return out, nil
}

// time is when a record of the log happened, for pruning.
func (f *Feedback) time() time.Time {
	if f.Impression != nil {
		return f.Impression.Time
	}
	return f.Click.Shown
}
