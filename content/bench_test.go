package content_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
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

// BenchmarkStore_Writers measures acknowledged single writes (an item put,
// an event append) from 1, 8 and 64 concurrent writers, the bbolt store and
// the PostgreSQL one alternating at each count.
func BenchmarkStore_Writers(b *testing.B) {
	ctx := context.Background()
	for _, writers := range []int{1, 8, 64} {
		for _, kind := range []string{"bolt", "postgres"} {
			for _, write := range []string{"item", "event"} {
				b.Run(fmt.Sprintf("writers=%d/%s/%s", writers, kind, write), func(b *testing.B) {
					var s *content.Store
					if kind == "postgres" {
						s = openPostgres(b, postgresFor(b, b.TempDir()))
					} else {
						var err error
						if s, err = content.Open(ctx, b.TempDir()); err != nil {
							b.Fatal(err)
						}
						defer s.Close()
					}
					if _, err := s.PutItem(ctx, content.Item{ID: "i"}); err != nil {
						b.Fatal(err)
					}
					var next atomic.Int64
					var wg sync.WaitGroup
					b.ResetTimer()
					for w := range writers {
						wg.Add(1)
						go func() {
							defer wg.Done()
							for {
								n := next.Add(1)
								if n > int64(b.N) {
									return
								}
								var err error
								if write == "item" {
									_, err = s.PutItem(ctx, content.Item{ID: fmt.Sprintf("w%d-%d", w, n), Title: "A title"})
								} else {
									_, err = s.AppendEvents(ctx, []content.Event{{UserID: fmt.Sprint("u", w), ItemID: "i", Kind: "view", Value: 1}})
								}
								if err != nil {
									b.Error(err)
									return
								}
							}
						}()
					}
					wg.Wait()
					b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "writes/s")
				})
			}
		}
	}
}
