package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/duetrec/duet/internal/pgtest"
	"github.com/duetrec/duet/internal/race"
)

// TestClusterCrash runs three duet serve processes on one PostgreSQL store,
// each with its own data directory (one rebuilt, the other two fetching the
// snapshot it publishes), while editors and event writers use all three at
// once; each replica is killed with SIGKILL five times at random moments
// and restarted. At the end no acknowledged write is lost and every
// replica serves the same: each acknowledged item found by each one's
// search, the same histories.
func TestClusterCrash(t *testing.T) {
	if testing.Short() || race.Enabled {
		t.Skip("kills child processes; run without -short and -race (make crash)")
	}
	t.Parallel()
	store := pgtest.Database(t)
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	mustRun(t, "gen", "--out", src, "--items", "200", "--users", "50", "--seed", "12")
	mustRun(t, "import", "--store", store, "--items", filepath.Join(src, "items.jsonl"), "--events", filepath.Join(src, "events.csv"))
	datas := []string{filepath.Join(dir, "r0"), filepath.Join(dir, "r1"), filepath.Join(dir, "r2")}
	mustRun(t, append(rebuildArgs(datas[0]), "--store", store)...)

	start := func(i int) *child {
		c := startChild(t, "serve", "--data", datas[i], "--store", store, "--addr", "127.0.0.1:0", "--search-rate", "-1")
		select {
		case <-c.out:
		case <-c.done:
			t.Fatalf("replica %d exited before listening", i)
		case <-time.After(60 * time.Second):
			t.Fatalf("replica %d did not start", i)
		}
		return c
	}
	var mu sync.Mutex // guards replicas
	replicas := make([]*child, 3)
	for i := range replicas {
		replicas[i] = start(i)
	}
	base := func(i int) string {
		mu.Lock()
		defer mu.Unlock()
		return replicas[i].base
	}
	// Replicas 1 and 2 serve once they have fetched the published snapshot.
	ready := func(i int) bool {
		code, _, err := apiRequest(base(i), "GET", "/v1/search?q=x&mode=keyword", "", "")
		return err == nil && code == 200
	}
	waitFor(t, "every replica serving", 60*time.Second, func() bool { return ready(0) && ready(1) && ready(2) })

	led := &crashLedger{items: map[string]string{}, deleted: map[string]bool{}, unsure: map[string]bool{}, events: map[string]int{}, inflight: map[string]int{}}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	n := 0
	for w := range 3 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				led.mu.Lock()
				n++
				id, word := fmt.Sprintf("cluster-%d-%d", w, i), token(n)
				led.unsure[id] = true
				led.mu.Unlock()
				code, _, err := apiRequest(base(rng.IntN(3)), "PUT", "/v1/items/"+id, testEditorToken, fmt.Sprintf(`{"title":"%s cluster"}`, word))
				led.mu.Lock()
				if err == nil && code == 200 {
					delete(led.unsure, id)
					led.items[id] = word
				} else if err == nil && code != 503 {
					t.Errorf("put %s: %d", id, code)
				}
				led.mu.Unlock()
				// A steady load, not a flood: a restarted replica replays every
				// write since the snapshot before it listens, so the load sets
				// how long the test takes.
				time.Sleep(60 * time.Millisecond)

			}
		})
	}
	wg.Go(func() {
		rng := rand.New(rand.NewPCG(9, 9))
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			user := fmt.Sprintf("cluster-user-%d", i%4)
			led.mu.Lock()
			led.inflight[user]++
			led.mu.Unlock()
			code, _, err := apiRequest(base(rng.IntN(3)), "POST", "/v1/events", "e2e-events", fmt.Sprintf(`{"user_id":%q,"item_id":"i%03d","kind":"view"}`, user, i%200))
			led.mu.Lock()
			if err == nil && code == 200 {
				led.inflight[user]--
				led.events[user]++
			}
			led.mu.Unlock()
			time.Sleep(10 * time.Millisecond)
		}
	})

	rng := rand.New(rand.NewPCG(3, 3))
	for k := range 15 {
		time.Sleep(time.Duration(100+rng.IntN(400)) * time.Millisecond)
		i := k % 3
		mu.Lock()
		old := replicas[i]
		mu.Unlock()
		old.kill()
		c := start(i)
		mu.Lock()
		replicas[i] = c
		mu.Unlock()
	}
	close(stop)
	wg.Wait()
	if t.Failed() {
		return
	}
	waitFor(t, "every replica serving after the kills", 60*time.Second, func() bool { return ready(0) && ready(1) && ready(2) })

	// Every acknowledged item, on every replica, within the follow bound.
	for i := range replicas {
		cl := crashClient{base(i)}
		waitFor(t, fmt.Sprintf("replica %d caught up", i), 10*time.Second, func() bool {
			_, body, err := cl.do("GET", "/admin/stats", testAdminToken, "")
			var s struct{ Lag int }
			return err == nil && json.Unmarshal(body, &s) == nil && s.Lag == 0
		})
		for id, word := range led.items {
			q := url.Values{"q": {word}, "mode": {"keyword"}, "k": {"5"}}
			code, body, err := cl.do("GET", "/v1/search?"+q.Encode(), "", "")
			if err != nil || code != 200 || !strings.Contains(string(body), `"id":"`+id+`"`) {
				t.Fatalf("replica %d: acknowledged %s not found by %q: %d %v", i, id, word, code, err)
			}
		}
	}
	histories := make([]string, 3)
	users := slices.Sorted(maps.Keys(led.events))
	for i := range replicas {
		var b strings.Builder
		for _, user := range users {
			acked := led.events[user]
			_, body, err := apiRequest(base(i), "GET", "/v1/users/"+user+"/history?limit=1000", "", "")
			if err != nil {
				t.Fatal(err)
			}
			var h struct{ Events []json.RawMessage }
			json.Unmarshal(body, &h)
			if got := len(h.Events); got < min(acked, 1000) || got > acked+led.inflight[user] {
				t.Fatalf("replica %d, %s: %d events; %d acknowledged, %d cut short", i, user, got, acked, led.inflight[user])
			}
			fmt.Fprintf(&b, "%s %s\n", user, body)
		}
		histories[i] = b.String()
	}
	if histories[0] != histories[1] || histories[1] != histories[2] {
		t.Fatal("the replicas' histories differ")
	}
	t.Logf("15 kills; %d items and %d events acknowledged; %d item writes not acknowledged (sent to a replica down or being killed)", len(led.items), sum(led.events), len(led.unsure))
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// waitFor polls ok until it holds, failing the test after limit.
func waitFor(t *testing.T, what string, limit time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, limit)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
