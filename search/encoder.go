package search

import (
	"github.com/duetrec/duet/content"
	"github.com/duetrec/duet/tower"
)

// ModelEncoder is the Encoder of a trained two-tower model.
type ModelEncoder struct{ Model *tower.Model }

// ItemVector embeds an item: a trained item by its id and content, a new
// one by content alone.
func (m ModelEncoder) ItemVector(it content.Item) []float32 { return m.Model.ItemVector(it, nil) }

// QueryVector embeds text through the item tower's content path.
func (m ModelEncoder) QueryVector(text string) ([]float32, bool) {
	v, ok := m.Model.QueryVector(text, nil)
	if !ok {
		return nil, false
	}
	return v, true
}

// UserVector embeds a history with the user tower.
func (m ModelEncoder) UserVector(history []content.Item) ([]float32, bool) {
	if len(history) == 0 {
		return nil, false
	}
	v := m.Model.UserVectorItems(history, nil)
	return v, v != nil && !isZero(v)
}

// RecentVector embeds the newest n items of a history alone, pooled by
// recency (tower.Model.RecentVectorItems).
func (m ModelEncoder) RecentVector(history []content.Item, n int) ([]float32, bool) {
	if len(history) == 0 {
		return nil, false
	}
	v := m.Model.RecentVectorItems(history, n, nil)
	return v, v != nil && !isZero(v)
}
