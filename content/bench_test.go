package content_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/duetrec/duet/content"
)

// BenchmarkStore_AppendEvents measures bulk appends, as an import does them:
// batches of 10000 events from 1000 users over 1000 items.
func BenchmarkStore_AppendEvents(b *testing.B) {
	ctx := context.Background()
	s := openStore(b, b.TempDir())
	items := make([]content.Item, 1000)
	for i := range items {
		items[i] = content.Item{ID: fmt.Sprintf("i%d", i)}
	}
	if _, err := s.PutItems(ctx, items); err != nil {
		b.Fatal(err)
	}
	const batch = 10000
	evs := make([]content.Event, batch)
	t0 := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	b.ResetTimer()
	n := 0
	for b.Loop() {
		for k := range evs {
			evs[k] = content.Event{UserID: fmt.Sprintf("u%d", n%1000), ItemID: items[(n*7)%1000].ID, Kind: "view", Value: 1, Time: t0.Add(time.Duration(n) * time.Second)}
			n++
		}
		if _, err := s.AppendEvents(ctx, evs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkStore_AppendEventConcurrent measures single-event appends from
// 64 concurrent writers: what group commit buys over one fsync per write.
func BenchmarkStore_AppendEventConcurrent(b *testing.B) {
	ctx := context.Background()
	s := openStore(b, b.TempDir())
	if _, err := s.PutItem(ctx, content.Item{ID: "i"}); err != nil {
		b.Fatal(err)
	}
	b.SetParallelism(32) // 32 × GOMAXPROCS writers
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		ev := []content.Event{{UserID: "u", ItemID: "i", Kind: "view", Value: 1}}
		for pb.Next() {
			if _, err := s.AppendEvents(ctx, ev); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
