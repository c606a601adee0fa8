package rebuild_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/duetrec/duet/content"
	"github.com/duetrec/duet/index"
	"github.com/duetrec/duet/search"
	"github.com/duetrec/duet/search/snapshot"
	"github.com/duetrec/duet/server"
	"github.com/duetrec/duet/tools/rebuild"
	"github.com/duetrec/duet/tower"
)

// newData imports a small generated data set into a new store and closes
// it; it returns the data directory.
func newData(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	if _, err := content.GenerateFiles(ctx, dir, content.GenOptions{Items: 150, Users: 80, Seed: 6}); err != nil {
		t.Fatal(err)
	}
	items, events := filepath.Join(dir, content.GenItemsFile), filepath.Join(dir, content.GenEventsFile)
	data := filepath.Join(dir, "data")
	st, err := content.Open(ctx, data)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := content.ImportGeneric(ctx, st, items, events, content.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	return data
}

// quick trains small models fast.
func quick(data string) rebuild.Options {
	return rebuild.Options{Data: data, ANN: index.KindExact, Train: tower.Config{Epochs: 2, Dim: 8, Buckets: 1 << 10, Workers: 1}}
}

func TestRun_Full(t *testing.T) {
	ctx := context.Background()
	data := newData(t)
	// What killed rebuilds leave.
	os.WriteFile(filepath.Join(data, ".backup-1.db"), []byte("x"), 0o644)
	os.MkdirAll(filepath.Join(data, "snapshots", ".tmp-2", "text"), 0o755)

	var told *rebuild.Validation
	opts := quick(data)
	opts.Validated = func(v rebuild.Validation) { told = &v }
	rep, err := rebuild.Run(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Items != 150 || rep.Seq == 0 || rep.Bytes == 0 || rep.Reloaded || rep.Validation == nil || rep.Validation.Previous != nil {
		t.Fatalf("report %+v", rep)
	}
	if told == nil || told.New != rep.Validation.New || told.New.Users == 0 {
		t.Fatalf("Validated told %+v, report %+v", told, rep.Validation)
	}
	var stages []string
	for _, s := range rep.Stages {
		stages = append(stages, s.Name)
	}
	// The vectors and text are built side by side: either may end first.
	if len(stages) > 7 && stages[6] > stages[7] {
		stages[6], stages[7] = stages[7], stages[6]
	}
	if got := strings.Join(stages, ","); got != "read,model,embed,validate,neighbours,save model,text (beside vectors),vectors,save neighbours,save sequence,save nearby,save cf,catalog" {
		t.Fatalf("stages %s", got)
	}
	m, err := snapshot.Verify(ctx, rep.Snapshot)
	if err != nil {
		t.Fatal(err)
	}
	if m.Meta["model"] != "trained" || m.Meta["ann"] != "exact" || m.Meta["val_ndcg@10"] == "" || m.Meta["best_epoch"] == "" {
		t.Fatalf("manifest meta %v", m.Meta)
	}
	if left, _ := filepath.Glob(filepath.Join(data, ".backup-*")); len(left) != 0 {
		t.Fatalf("store copies left: %v", left)
	}
	if left, _ := filepath.Glob(filepath.Join(data, "snapshots", ".tmp-*")); len(left) != 0 {
		t.Fatalf("partial snapshots left: %v", left)
	}

	// A second rebuild scores the model in service too, and the oldest
	// snapshots beyond Keep go.
	opts.Keep = 1
	rep2, err := rebuild.Run(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if rep2.Validation.Previous == nil || rep2.Validation.Previous.Users != rep2.Validation.New.Users {
		t.Fatalf("second rebuild's validation %+v", rep2.Validation)
	}
	if dirs, _ := snapshot.NewRoot(data).List(); len(dirs) != 1 || dirs[0] != rep2.Snapshot {
		t.Fatalf("snapshots %v, want only %s", dirs, rep2.Snapshot)
	}
}

func TestRun_Refusals(t *testing.T) {
	ctx := context.Background()
	data := newData(t)

	opts := quick(data)
	opts.MinNDCG = 0.99
	rep, err := rebuild.Run(ctx, opts)
	if err == nil || !strings.Contains(err.Error(), "--min-ndcg") || rep == nil || rep.Validation == nil || rep.Snapshot != "" {
		t.Fatalf("min-ndcg: %+v %v", rep, err)
	}
	if dirs, _ := snapshot.NewRoot(data).List(); len(dirs) != 0 {
		t.Fatalf("a refused model was published: %v", dirs)
	}

	// A model far worse than the one in service (one that barely learnt)
	// is refused by MaxDrop.
	opts = quick(data)
	opts.Train.Epochs, opts.Train.Dim = 8, 16
	if _, err := rebuild.Run(ctx, opts); err != nil {
		t.Fatal(err)
	}
	opts = quick(data)
	opts.Train.Epochs, opts.Train.Dim, opts.Train.LR = 1, 2, 1e-9
	opts.MaxDrop = 0.05
	rep, err = rebuild.Run(ctx, opts)
	if err == nil || !strings.Contains(err.Error(), "--max-drop") || rep.Snapshot != "" {
		t.Fatalf("max-drop: %+v %+v %v", rep.Validation.New, rep.Validation.Previous, err)
	}
	if dirs, _ := snapshot.NewRoot(data).List(); len(dirs) != 1 {
		t.Fatalf("a refused model was published: %v", dirs)
	}
	os.RemoveAll(filepath.Join(data, "snapshots"))

	unlock, err := snapshot.NewRoot(data).Lock()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rebuild.Run(ctx, quick(data)); !errors.Is(err, snapshot.ErrLocked) {
		t.Fatalf("locked: %v, want ErrLocked", err)
	}
	unlock()

	opts = quick(data)
	opts.Incremental = true
	if _, err := rebuild.Run(ctx, opts); !errors.Is(err, snapshot.ErrBadSnapshot) {
		t.Fatalf("incremental without a snapshot: %v", err)
	}
	opts = quick(data)
	opts.Model = filepath.Join(t.TempDir(), "missing.duet")
	if _, err := rebuild.Run(ctx, opts); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing model file: %v", err)
	}
	if _, err := rebuild.Run(ctx, rebuild.Options{}); err == nil {
		t.Fatal("no data directory: no error")
	}
}

func TestRun_ModelFileAndIncremental(t *testing.T) {
	ctx := context.Background()
	data := newData(t)
	rep, err := rebuild.Run(ctx, quick(data))
	if err != nil {
		t.Fatal(err)
	}
	// The model of that snapshot, reused.
	model, err := snapshot.ReadModel(rep.Snapshot)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "m.duet")
	f, _ := os.Create(path)
	if err := model.Save(f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	opts := quick(data)
	opts.Model = path
	rep, err = rebuild.Run(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if m, _ := snapshot.Verify(ctx, rep.Snapshot); m.Meta["model"] != path {
		t.Fatalf("meta %v", m.Meta)
	}

	// Writes after it, then an incremental rebuild.
	st, err := content.Open(ctx, data)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.PutItem(ctx, content.Item{ID: "zz-new", Title: "Quasar cartography"}); err != nil {
		t.Fatal(err)
	}
	first, _ := st.Items(ctx, "", 1)
	if _, err := st.DeleteItem(ctx, first[0].ID); err != nil {
		t.Fatal(err)
	}
	st.Close()
	opts = quick(data)
	opts.Incremental = true
	inc, err := rebuild.Run(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if inc.Changed != 2 || inc.From != filepath.Base(rep.Snapshot) || inc.Items != 150 || inc.Seq <= rep.Seq {
		t.Fatalf("incremental %+v", inc)
	}
	snap, err := snapshot.NewRoot(data).Load(ctx, inc.Snapshot, search.StaticHistory{}, search.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close()
	if _, ok := snap.Catalog().Item("zz-new"); !ok {
		t.Fatal("the new item is not in the incremental snapshot")
	}
	if _, ok := snap.Catalog().Item(first[0].ID); ok {
		t.Fatal("the deleted item is still in the incremental snapshot")
	}
	if snap.Manifest.Meta["incremental_from"] != inc.From {
		t.Fatalf("meta %v", snap.Manifest.Meta)
	}
}

// TestRun_ThroughServer rebuilds while a server holds the store: the store
// is read through the server, which then loads the new snapshot.
func TestRun_ThroughServer(t *testing.T) {
	ctx := context.Background()
	data := newData(t)
	if _, err := rebuild.Run(ctx, quick(data)); err != nil {
		t.Fatal(err)
	}
	st, err := content.Open(ctx, data)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, err := server.New(st, server.Config{AdminToken: "adm", Logger: log, Loader: server.SnapshotLoader(snapshot.NewRoot(data), st, log)})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if _, err := srv.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	if _, err := st.PutItem(ctx, content.Item{ID: "zz-live", Title: "Written while serving"}); err != nil {
		t.Fatal(err)
	}

	if _, err := rebuild.Run(ctx, quick(data)); !errors.Is(err, content.ErrLocked) || !strings.Contains(err.Error(), "--notify") {
		t.Fatalf("without --notify: %v", err)
	}
	opts := quick(data)
	opts.Notify, opts.AdminToken = hs.URL, "wrong"
	if _, err := rebuild.Run(ctx, opts); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("wrong token: %v", err)
	}
	opts.AdminToken = "adm"
	rep, err := rebuild.Run(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Reloaded || rep.Items != 151 {
		t.Fatalf("report %+v", rep)
	}
	req := httptest.NewRequest("GET", "/admin/stats", nil)
	req.Header.Set("Authorization", "Bearer adm")
	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, req)
	var stats struct {
		Snapshot struct{ Snapshot string } `json:"snapshot"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &stats); err != nil || stats.Snapshot.Snapshot != rep.Snapshot {
		t.Fatalf("the server serves %q (%v), want %q", stats.Snapshot.Snapshot, err, rep.Snapshot)
	}
	if left, _ := filepath.Glob(filepath.Join(data, ".backup-*")); len(left) != 0 {
		t.Fatalf("store copies left: %v", left)
	}
}

func TestRun_Tune(t *testing.T) {
	ctx := context.Background()
	data := newData(t)
	opts := quick(data)
	opts.Tune = true
	opts.CF.Top = 50
	rep, err := rebuild.Run(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Tuning == nil || rep.TuneError != nil || rep.Neighbours == "" {
		t.Fatalf("tuning %+v (%v), neighbours %q", rep.Tuning, rep.TuneError, rep.Neighbours)
	}
	m, err := snapshot.Verify(ctx, rep.Snapshot)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Sources) == 0 || m.SourceFusion == "" || m.Meta["served_val_ndcg@10_last"] == "" || m.Meta["served_val_splits"] != "2" || m.Meta["neighbours"] != "ease" {
		t.Fatalf("manifest: sources %v, fusion %q, meta %v", m.Sources, m.SourceFusion, m.Meta)
	}
	for name, w := range rep.Served.Sources {
		if m.Sources[name] != w {
			t.Fatalf("manifest serves %v, the report says %v", m.Sources, rep.Served.Sources)
		}
	}
	if _, ok := m.Files["neighbours.idx"]; !ok {
		t.Fatal("no collaborative lists in the snapshot")
	}
	// The model trained for as many epochs as the one fitted to choose
	// found best.
	if e := rep.Tuning.Epochs; e < 1 || m.Meta["epochs"] != strconv.Itoa(min(e, opts.Train.Epochs)) {
		t.Fatalf("trained %s epochs, the choosing model's best was %d", m.Meta["epochs"], e)
	}
	// A budget too small to train in leaves the defaults, and says why.
	opts.TuneBudget = time.Nanosecond
	rep, err = rebuild.Run(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Tuning != nil || rep.TuneError == nil || rep.Served.Sources[search.SourceCF] != search.DefaultSources[search.SourceCF] {
		t.Fatalf("out of budget: %+v, %v", rep.Served, rep.TuneError)
	}
}
