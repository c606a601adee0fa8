package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/duetrec/duet/index/weaviate"
	"github.com/duetrec/duet/internal/weaviatetest"
	"github.com/duetrec/duet/server"
)

// A Weaviate node killed while editors write and users search: every
// search is answered (one retry allowed) with its filter honoured; once
// the node is back, every acknowledged write is in the collection, read
// through each node, and no deleted item has come back; and a rebuild's
// switch to a new collection, while searches run, fails none of them.
func TestWeaviate_NodeKilled(t *testing.T) {
	if *indexFlag != "weaviate" {
		t.Skip("runs with -index=weaviate")
	}
	f := newEngineFixture(t, func(c *server.Config) { c.SearchRate = -1 })
	cluster := weaviatetest.Shared(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var following sync.WaitGroup
	following.Go(func() { f.srv.Follow(ctx, 100*time.Millisecond, 0) })
	defer following.Wait()
	defer cancel()

	const cat = "faultcat"
	var (
		mu      sync.Mutex
		acked   = map[string]bool{} // put and acknowledged, not deleted since
		deleted = map[string]bool{} // deleted and acknowledged
		phase   atomic.Value        // what the cluster is going through
		stop    = make(chan struct{})
		wg      sync.WaitGroup
	)
	phase.Store("all nodes up")
	stopped := func() bool {
		select {
		case <-stop:
			return true
		default:
			return false
		}
	}
	wg.Go(func() {
		for i := 0; !stopped(); i++ {
			id := fmt.Sprintf("fault-%d", i)
			rec := f.do("PUT", "/v1/items/"+id, editorTok, fmt.Sprintf(`{"title":"%s gadget","categories":[%q]}`, token(i), cat))
			if rec.Code != 200 && rec.Code != 201 {
				t.Errorf("%s: put %s: %d %s", phase.Load(), id, rec.Code, rec.Body)
				continue
			}
			mu.Lock()
			acked[id] = true
			mu.Unlock()
			if i%3 == 2 {
				old := fmt.Sprintf("fault-%d", i-2)
				if rec := f.do("DELETE", "/v1/items/"+old, editorTok, ""); rec.Code != 200 {
					t.Errorf("%s: delete %s: %d %s", phase.Load(), old, rec.Code, rec.Body)
					continue
				}
				mu.Lock()
				delete(acked, old)
				deleted[old] = true
				mu.Unlock()
			}
		}
	})
	var searches, retried atomic.Int64
	for r := range 3 {
		wg.Go(func() {
			targets := []string{
				"/v1/search?k=20&q=gadget&category=" + cat,
				"/v1/search?k=20&mode=vector&q=gadget&category=" + cat + "&user=" + f.users[r],
				"/v1/search?k=20&mode=keyword&q=gadget&category=" + cat,
			}
			for i := 0; !stopped(); i++ {
				target := targets[i%len(targets)]
				rec := f.do("GET", target, "", "")
				if rec.Code != 200 {
					retried.Add(1)
					rec = f.do("GET", target, "", "")
				}
				searches.Add(1)
				if rec.Code != 200 {
					t.Errorf("%s: %s: %d %s (after one retry)", phase.Load(), target, rec.Code, rec.Body)
					continue
				}
				var resp struct {
					Hits []struct {
						ID   string `json:"id"`
						Item struct {
							Categories []string `json:"categories"`
						} `json:"item"`
					} `json:"hits"`
				}
				json.Unmarshal(rec.Body.Bytes(), &resp)
				for _, h := range resp.Hits {
					if !slices.Contains(h.Item.Categories, cat) {
						t.Errorf("%s: %s: hit %s is not in %s", phase.Load(), target, h.ID, cat)
					}
				}
			}
		})
	}
	time.Sleep(time.Second)
	phase.Store("node 2 killed")
	if err := cluster.Kill(2); err != nil {
		t.Fatal(err)
	}
	time.Sleep(4 * time.Second)
	phase.Store("node 2 restarting")
	if err := cluster.Restart(context.Background(), 2); err != nil {
		t.Fatal(err)
	}
	phase.Store("node 2 back")
	time.Sleep(time.Second)
	phase.Store("switching collections")
	old := f.srv.Collections()
	if err := f.rebuild(); err != nil {
		t.Fatal(err)
	}
	if _, err := f.srv.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if now := f.srv.Collections(); slices.Equal(now, old) {
		t.Fatalf("still on collection %v after the reload", now)
	}
	time.Sleep(time.Second)
	close(stop)
	wg.Wait()

	// The follower applies what the live writes could not.
	deadline := time.Now().Add(30 * time.Second)
	for {
		var stats struct{ Lag int }
		json.Unmarshal(f.do("GET", "/admin/stats", adminTok, "").Body.Bytes(), &stats)
		if stats.Lag == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the indexes are %d changes behind the store", stats.Lag)
		}
		time.Sleep(100 * time.Millisecond)
	}
	var ids []string
	for id := range acked {
		ids = append(ids, id)
	}
	for id := range deleted {
		ids = append(ids, id)
	}
	name := f.srv.Collections()[0]
	for _, node := range cluster.Nodes {
		c, err := weaviate.Open(weaviate.Scheme + node.Addr())
		if err != nil {
			t.Fatal(err)
		}
		col, err := c.Collection(context.Background(), name)
		if err != nil {
			t.Fatal(err)
		}
		found, err := col.Vectors(context.Background(), ids)
		if err != nil {
			t.Fatalf("read through %s: %v", node.Name, err)
		}
		for id := range acked {
			if found[id] == nil {
				t.Errorf("read through %s: acknowledged %s is missing", node.Name, id)
			}
		}
		for id := range deleted {
			if found[id] != nil {
				t.Errorf("read through %s: deleted %s came back", node.Name, id)
			}
		}
		c.Close()
	}
	t.Logf("%d items acknowledged, %d deleted; %d searches, %d retried", len(acked), len(deleted), searches.Load(), retried.Load())
}

// While the whole cluster is away, an editor's write is still
// acknowledged (the store has it), /readyz says the index is behind, and
// once the cluster is back the follower applies the write: found by its
// words, the lag gone.
func TestWeaviate_Outage(t *testing.T) {
	if *indexFlag != "weaviate" {
		t.Skip("runs with -index=weaviate")
	}
	f := newEngineFixture(t, func(c *server.Config) { c.SearchRate = -1 })
	cluster := weaviatetest.Shared(t)
	ctx, cancel := context.WithCancel(context.Background())
	var following sync.WaitGroup
	following.Go(func() { f.srv.Follow(ctx, 100*time.Millisecond, time.Second) })
	defer following.Wait()
	defer cancel()

	if err := cluster.Pause(); err != nil {
		t.Fatal(err)
	}
	resumed := false
	defer func() {
		if !resumed {
			cluster.Resume()
		}
	}()
	start := time.Now()
	if rec := f.do("PUT", "/v1/items/outage-1", editorTok, `{"title":"Zorblax Quintessence"}`); rec.Code != 200 && rec.Code != 201 {
		t.Fatalf("put while the cluster is away: %d %s", rec.Code, rec.Body)
	}
	t.Logf("write acknowledged in %v with the cluster away", time.Since(start))
	waitFor := func(what string, limit time.Duration, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(limit)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within %v", what, limit)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	waitFor("/readyz 503", 15*time.Second, func() bool { return f.do("GET", "/readyz", "", "").Code == 503 })
	if err := cluster.Resume(); err != nil {
		t.Fatal(err)
	}
	resumed = true
	back := time.Now()
	waitFor("the write applied", 60*time.Second, func() bool {
		return slices.Contains(f.hitIDs("/v1/search?mode=keyword&k=3&q=zorblax"), "outage-1")
	})
	waitFor("/readyz 200", 30*time.Second, func() bool { return f.do("GET", "/readyz", "", "").Code == 200 })
	t.Logf("applied and ready %v after the cluster came back", time.Since(back))
}
