package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"

	"github.com/duetrec/duet/content"
	"github.com/duetrec/duet/search/snapshot"
	"github.com/duetrec/duet/server"
	"github.com/duetrec/duet/tower"
)

// A server over a store and its newest snapshot, as duet serve runs it:
// an editor adds an item, which a search finds at once.
func ExampleNew() {
	ctx := context.Background()
	data, err := os.MkdirTemp("", "duet-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(data)

	// A store holding a small generated catalogue, and a snapshot of it.
	if _, err := content.GenerateFiles(ctx, data, content.GenOptions{Items: 60, Users: 20, Seed: 1}); err != nil {
		log.Fatal(err)
	}
	st, err := content.Open(ctx, filepath.Join(data, "store"))
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	if _, err := content.ImportGeneric(ctx, st, filepath.Join(data, content.GenItemsFile), filepath.Join(data, content.GenEventsFile), content.ImportOptions{}); err != nil {
		log.Fatal(err)
	}
	ds, err := tower.LoadDataset(ctx, st)
	if err != nil {
		log.Fatal(err)
	}
	model, _, err := tower.Fit(ctx, ds, tower.Config{Dim: 8, Buckets: 1 << 10, Epochs: 2, Workers: 1})
	if err != nil {
		log.Fatal(err)
	}
	stats, _ := st.Stats(ctx)
	root := snapshot.NewRoot(filepath.Join(data, "store"))
	if _, err := root.Build(ctx, stats.Seq, model, ds.Items, ds.Popularity(ds.History), snapshot.BuildOptions{}); err != nil {
		log.Fatal(err)
	}

	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, err := server.New(st, server.Config{EditorToken: "editor-secret", Logger: quiet, Loader: server.SnapshotLoader(root, st, quiet)})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	if _, err := srv.Reload(ctx); err != nil {
		log.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()

	req, _ := http.NewRequest("PUT", ts.URL+"/v1/items/z1", strings.NewReader(`{"title": "Zeppelin harmonica"}`))
	req.Header.Set("Authorization", "Bearer editor-secret")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	fmt.Println("PUT /v1/items/z1:", resp.Status)

	resp, err = http.Get(ts.URL + "/v1/search?q=zeppelin&k=3")
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	var answer struct {
		Hits []struct{ ID string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&answer); err != nil {
		log.Fatal(err)
	}
	fmt.Println("GET /v1/search?q=zeppelin:", resp.Status, "first hit", answer.Hits[0].ID)
	// Output:
	// PUT /v1/items/z1: 200 OK
	// GET /v1/search?q=zeppelin: 200 OK first hit z1
}
