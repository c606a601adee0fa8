package snapshot_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/duetrec/duet/content"
	"github.com/duetrec/duet/index"
	"github.com/duetrec/duet/index/weaviate"
	"github.com/duetrec/duet/internal/weaviatetest"
	"github.com/duetrec/duet/search"
	"github.com/duetrec/duet/search/snapshot"
)

func TestMain(m *testing.M) {
	code := m.Run()
	weaviatetest.StopShared()
	os.Exit(code)
}

// sharedClient is a client of the shared test cluster, closed when the
// test ends.
func sharedClient(t *testing.T) *weaviate.Client {
	t.Helper()
	c, err := weaviate.Open(weaviatetest.Shared(t).URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// A snapshot whose index is in Weaviate: built into a collection the
// manifest names, loaded only with the cluster, searched there; its
// collection dropped once no kept snapshot names it and no lease holds it.
func TestSnapshot_Weaviate(t *testing.T) {
	ctx := context.Background()
	c := sharedClient(t)
	model, ds := smallModel(t)
	data := t.TempDir()
	root := snapshot.NewRoot(data)
	root.UseIndex(c, "")
	bo := snapshot.BuildOptions{Weaviate: c, Collection: weaviate.Options{Shards: 2, Replicas: 3}}
	first, err := root.Build(ctx, 7, model, ds.Items, nil, bo)
	if err != nil {
		t.Fatal(err)
	}
	m, err := snapshot.Verify(ctx, first)
	if err != nil {
		t.Fatal(err)
	}
	if !weaviate.ValidName(m.Collection) || m.Files["vectors.idx"].Size != 0 {
		t.Fatalf("manifest %+v: want a collection and no vector file", m)
	}
	t.Cleanup(func() { c.Drop(context.Background(), m.Collection) })

	// Without the cluster the snapshot cannot serve.
	if _, err := snapshot.NewRoot(data).Load(ctx, first, search.StaticHistory{}, search.Options{}); !errors.Is(err, snapshot.ErrNeedsIndex) {
		t.Fatalf("load without the cluster: %v, want ErrNeedsIndex", err)
	}
	snap, err := root.Load(ctx, first, search.StaticHistory{}, search.Options{})
	if err != nil {
		t.Fatal(err)
	}
	it := ds.Items[3]
	res, err := snap.Search(ctx, search.Request{Query: it.Title, K: 5, Mode: search.ModeKeyword})
	if err != nil || len(res.Hits) == 0 || res.Hits[0].ID != it.ID {
		t.Fatalf("keyword search for %q: %+v %v", it.Title, res, err)
	}
	res, err = snap.Similar(ctx, it.ID, search.Request{K: 3})
	if err != nil || len(res.Hits) != 3 || slices.ContainsFunc(res.Hits, func(h search.Hit) bool { return h.ID == it.ID }) {
		t.Fatalf("similar to %s: %+v %v", it.ID, res, err)
	}
	// A live edit reaches the collection.
	if err := snap.ItemPut(ctx, content.Item{ID: "live", Title: "Zanzibarian Quokka"}); err != nil {
		t.Fatal(err)
	}
	// A search is answered from one replica's index, which can miss a
	// write acknowledged by the others for a moment (docs/DEPLOY.md): the
	// item is looked for until it shows, for up to five seconds.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		res, err = snap.Search(ctx, search.Request{Query: "quokka", K: 5, Mode: search.ModeKeyword})
		if err == nil && len(res.Hits) == 1 && res.Hits[0].ID == "live" {
			break
		}
		if err != nil || len(res.Hits) > 1 || time.Now().After(deadline) {
			t.Fatalf("live edit: %+v %v", res, err)
		}
	}
	if _, err := snap.SaveAs(ctx, root, 8, nil, nil); !errors.Is(err, snapshot.ErrRemote) {
		t.Fatalf("SaveAs: %v, want ErrRemote", err)
	}
	snap.Close()

	// A server loads the first: the load leases its collection.
	server := snapshot.NewRoot(data)
	server.UseIndex(c, "test-server")
	held, err := server.Load(ctx, first, search.StaticHistory{}, search.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	// A Weaviate search can miss a write for a moment (docs/DEPLOY.md):
	// the lease is looked for until it shows, for up to five seconds.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		leased, err := c.Leased(ctx)
		if err == nil && leased[m.Collection] {
			break
		}
		if err != nil || time.Now().After(deadline) {
			t.Fatalf("leased %v, %v; want %s", leased, err, m.Collection)
		}
	}

	second, err := root.Build(ctx, 8, model, ds.Items, nil, bo)
	if err != nil {
		t.Fatal(err)
	}
	m2, _ := snapshot.Verify(ctx, second)
	t.Cleanup(func() { c.Drop(context.Background(), m2.Collection) })
	if err := root.Prune(1); err != nil {
		t.Fatal(err)
	}
	if dropped, err := root.DropUnusedCollections(ctx); err != nil || slices.Contains(dropped, m.Collection) || slices.Contains(dropped, m2.Collection) {
		t.Fatalf("dropped %v, %v while leased", dropped, err)
	}
	// The server stops and gives its leases up.
	if err := c.Release(ctx, "test-server"); err != nil {
		t.Fatal(err)
	}
	// The release, a delete, can be missed by the lease query for a
	// moment as a write can: the drop is tried until it shows, for up to
	// five seconds.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		dropped, err := root.DropUnusedCollections(ctx)
		if err != nil || slices.Contains(dropped, m2.Collection) {
			t.Fatalf("dropped %v, %v; want %s alone", dropped, err, m.Collection)
		}
		if slices.Contains(dropped, m.Collection) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("dropped %v; want %s once its lease is released", dropped, m.Collection)
		}
	}
	if names, _ := c.Collections(ctx); slices.Contains(names, m.Collection) || !slices.Contains(names, m2.Collection) {
		t.Fatalf("collections left: %v", names)
	}
}

// The keyword list of a snapshot in Weaviate is the embedded snapshot's
// of the same items, scores and order (items tied on a score aside),
// before and after live edits through the engine: each edit reaches the
// text statistics the remote side ranks with.
func TestSnapshot_WeaviateRanksAsEmbedded(t *testing.T) {
	ctx := context.Background()
	c := sharedClient(t)
	model, ds := smallModel(t)
	embRoot := snapshot.NewRoot(t.TempDir())
	embDir, err := embRoot.Build(ctx, 1, model, ds.Items, nil, snapshot.BuildOptions{ANN: index.KindExact})
	if err != nil {
		t.Fatal(err)
	}
	emb, err := embRoot.Load(ctx, embDir, search.StaticHistory{}, search.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer emb.Close()
	root := snapshot.NewRoot(t.TempDir())
	root.UseIndex(c, "")
	dir, err := root.Build(ctx, 1, model, ds.Items, nil, snapshot.BuildOptions{Weaviate: c})
	if err != nil {
		t.Fatal(err)
	}
	m, _ := snapshot.Verify(ctx, dir)
	t.Cleanup(func() { c.Drop(context.Background(), m.Collection) })
	if _, ok := m.Files["textstats.bin"]; !ok {
		t.Fatalf("manifest files %v: no text statistics", m.Files)
	}
	remote, err := root.Load(ctx, dir, search.StaticHistory{}, search.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer remote.Close()

	compare := func(t *testing.T, queries []string) {
		t.Helper()
		for _, q := range queries {
			req := search.Request{Query: q, K: 10, Mode: search.ModeKeyword, Explain: true}
			want, err := emb.Search(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			got, err := remote.Search(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			if len(got.Hits) != len(want.Hits) || len(got.Hits) == 0 {
				t.Fatalf("query %q: %d hits, embedded %d", q, len(got.Hits), len(want.Hits))
			}
			for i := range got.Hits {
				g, w := got.Hits[i].Explain.Keyword, want.Hits[i].Explain.Keyword
				if math.Abs(g-w) > 1e-5*w {
					t.Fatalf("query %q: hit %d is %s at keyword score %v, embedded %s at %v", q, i, got.Hits[i].ID, g, want.Hits[i].ID, w)
				}
			}
		}
	}
	var queries []string
	for i := 0; i < len(ds.Items); i += 23 {
		queries = append(queries, ds.Items[i].Title)
	}
	t.Run("built", func(t *testing.T) { compare(t, queries) })

	// A new word in three items, and two items gone: its idf and the
	// others' counts move on both sides alike.
	for i, id := range []string{"quokka-1", "quokka-2", ds.Items[5].ID} {
		it := content.Item{ID: id, Title: fmt.Sprintf("Quokka %s", ds.Items[10+i].Title), Tags: ds.Items[10+i].Tags}
		for _, s := range []*snapshot.Snapshot{emb, remote} {
			if err := s.ItemPut(ctx, it); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, id := range []string{ds.Items[0].ID, ds.Items[23].ID} {
		for _, s := range []*snapshot.Snapshot{emb, remote} {
			if err := s.ItemDeleted(ctx, id); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Run("edited", func(t *testing.T) { compare(t, append(queries[2:], "quokka", "quokka "+ds.Items[11].Title)) })
}
