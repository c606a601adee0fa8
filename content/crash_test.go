package content_test

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/duetrec/duet/content"
)

const crashChildEnv = "DUET_CRASH_CHILD_DIR"

// TestCrash kills a process writing to the store with SIGKILL at random
// moments; after each kill the store must open and hold every write the
// process saw acknowledged.
func TestCrash(t *testing.T) {
	boltOnly(t)
	if testing.Short() {
		t.Skip("kills child processes")
	}
	dir := t.TempDir()
	const kills = 24
	rng := rand.New(rand.NewPCG(7, 7))
	ackedItems := map[string]string{} // id → title
	ackedEvents := map[string]map[float64]bool{}
	for round := range kills {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrash_Child$", "-test.v=false")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+dir, "DUET_CRASH_ROUND="+strconv.Itoa(round))
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		var lines []string
		var wg sync.WaitGroup
		wg.Go(func() {
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				lines = append(lines, sc.Text())
			}
		})
		time.Sleep(time.Duration(60+rng.IntN(200)) * time.Millisecond)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		cmd.Wait()
		n := 0
		for _, l := range lines {
			f := strings.Fields(l)
			switch {
			case len(f) == 3 && f[0] == "item":
				ackedItems[f[1]] = f[2]
				n++
			case len(f) == 3 && f[0] == "event":
				v, _ := strconv.ParseFloat(f[2], 64)
				if ackedEvents[f[1]] == nil {
					ackedEvents[f[1]] = map[float64]bool{}
				}
				ackedEvents[f[1]][v] = true
				n++
			}
		}
		checkAcked(t, dir, ackedItems, ackedEvents)
		t.Logf("round %d: %d acknowledged writes before the kill", round, n)
	}
	if len(ackedItems) < kills {
		t.Fatalf("only %d items acknowledged in %d rounds: the child barely wrote", len(ackedItems), kills)
	}
}

func checkAcked(t *testing.T, dir string, items map[string]string, events map[string]map[float64]bool) {
	t.Helper()
	ctx := context.Background()
	s, err := content.Open(ctx, dir)
	if err != nil {
		t.Fatalf("reopen after kill: %v", err)
	}
	defer s.Close()
	for id, title := range items {
		it, err := s.Item(ctx, id)
		if err != nil || it.Title != title {
			t.Fatalf("acknowledged item %s lost: %+v, %v", id, it, err)
		}
	}
	for user, vals := range events {
		evs, err := s.UserEvents(ctx, user, 0)
		if err != nil {
			t.Fatal(err)
		}
		have := map[float64]bool{}
		for _, ev := range evs {
			have[ev.Value] = true
		}
		for v := range vals {
			if !have[v] {
				t.Fatalf("acknowledged event %s/%v lost", user, v)
			}
		}
	}
}

// TestCrash_Child is the writing process of TestCrash; it does nothing
// unless started by it. Several writers run at once so that kills land in
// the middle of group commits.
func TestCrash_Child(t *testing.T) {
	dir := os.Getenv(crashChildEnv)
	if dir == "" {
		t.Skip("run by TestCrash")
	}
	round := os.Getenv("DUET_CRASH_ROUND")
	ctx := context.Background()
	s, err := content.Open(ctx, dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(3)
	}
	var mu sync.Mutex
	out := bufio.NewWriter(os.Stdout)
	ack := func(format string, args ...any) {
		mu.Lock()
		fmt.Fprintf(out, format+"\n", args...)
		out.Flush()
		mu.Unlock()
	}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			user := fmt.Sprintf("r%s-w%d", round, w)
			for j := 0; ; j++ {
				id := fmt.Sprintf("%s-%d", user, j)
				title := fmt.Sprintf("t%d", j)
				if _, err := s.PutItem(ctx, content.Item{ID: id, Title: title, Description: strings.Repeat("words ", j%50)}); err != nil {
					fmt.Fprintln(os.Stderr, "child:", err)
					os.Exit(3)
				}
				ack("item %s %s", id, title)
				batch := make([]content.Event, 1+j%5)
				for k := range batch {
					batch[k] = content.Event{UserID: user, ItemID: id, Kind: "view", Value: float64(j*10 + k)}
				}
				if _, err := s.AppendEvents(ctx, batch); err != nil {
					fmt.Fprintln(os.Stderr, "child:", err)
					os.Exit(3)
				}
				for k := range batch {
					ack("event %s %d", user, j*10+k)
				}
			}
		})
	}
	wg.Wait()
}
