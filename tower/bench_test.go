package tower

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/duetrec/duet/content"
)

// BenchmarkTrain measures training throughput (examples/s) at batch 256 and
// dim 64 on a generated 5000-item, 1000-user set, per encoder, with
// Config.HistoryContent and with the set objective (the served model's:
// full softmax, Adam), with one worker and with one per CPU (Hogwild).
// Feature extraction and validation are left out: this is the forward,
// backward and update loop. Where the process's CPU time can be read, it
// also reports examples per CPU-second, which other load on the machine
// disturbs less than the wall figure.
func BenchmarkTrain(b *testing.B) {
	ctx := context.Background()
	ds, train := generated(b, content.GenOptions{Items: 5000, Users: 1000, Seed: 1})
	a, err := analyzer()
	if err != nil {
		b.Fatal(err)
	}
	type setting struct {
		enc          string
		history, set bool
	}
	for _, s := range []setting{{EncoderMean, false, false}, {EncoderAttention, false, false}, {EncoderMean, true, false}, {EncoderMean, false, true}} {
		name := s.enc
		if s.history {
			name += "+history-content"
		}
		if s.set {
			name += "+set" // the served model's training: full softmax, Adam
		}
		for _, workers := range []int{1, runtime.GOMAXPROCS(0)} {
			b.Run(fmt.Sprintf("%s/workers=%d", name, workers), func(b *testing.B) {
				cfg := Config{Encoder: s.enc, HistoryContent: s.history, Workers: workers}
				if s.set {
					cfg = cfg.WithSetObjective(0.05)
				}
				cfg = cfg.withDefaults()
				cfg.Workers = workers // even under the race detector: the benchmark is not a race test
				m, err := newModel(ctx, a, ds, len(train), cfg)
				if err != nil {
					b.Fatal(err)
				}
				t := newTrainer(m, train)
				rng := rand.New(rand.NewPCG(1, 1))
				rng.Shuffle(len(t.ex), func(i, j int) { t.ex[i], t.ex[j] = t.ex[j], t.ex[i] })
				ws := make([]*worker, workers)
				for i := range ws {
					ws[i] = newWorker(t, uint64(i))
				}
				steps := len(t.ex) / cfg.Batch
				var next atomic.Int64
				b.ResetTimer()
				cpu0 := cpuTime()
				var wg sync.WaitGroup
				for _, w := range ws {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for {
							k := int(next.Add(1) - 1)
							if k >= b.N {
								return
							}
							s := k % steps
							w.batch(t.ex[s*cfg.Batch : (s+1)*cfg.Batch])
						}
					}()
				}
				wg.Wait()
				cpu := cpuTime() - cpu0
				b.ReportMetric(float64(b.N*cfg.Batch)/b.Elapsed().Seconds(), "examples/s")
				if cpu > 0 {
					b.ReportMetric(float64(b.N*cfg.Batch)/cpu.Seconds(), "examples/cpu-s")
				}
			})
		}
	}
}

// generated returns a generated data set and its users' item histories.
func generated(tb testing.TB, opts content.GenOptions) (*Dataset, [][]int32) {
	ctx := context.Background()
	dir := tb.TempDir()
	ip, ep := filepath.Join(dir, "items.jsonl"), filepath.Join(dir, "events.csv")
	fi, err := os.Create(ip)
	if err != nil {
		tb.Fatal(err)
	}
	fe, err := os.Create(ep)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := content.Generate(ctx, opts, fi, fe); err != nil {
		tb.Fatal(err)
	}
	if err := errors.Join(fi.Close(), fe.Close()); err != nil {
		tb.Fatal(err)
	}
	ds, err := ReadDataset(ctx, ip, ep)
	if err != nil {
		tb.Fatal(err)
	}
	train := make([][]int32, len(ds.History))
	for u, h := range ds.History {
		for _, x := range h {
			train[u] = append(train[u], x.Item)
		}
	}
	return ds, train
}
