package main

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromium finds the browser; the Makefile installs Debian's chromium when
// it is missing.
func chromium(t *testing.T) string {
	for _, name := range []string{os.Getenv("DUET_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"} {
		if name == "" {
			continue
		}
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("no Chromium found; `make test` installs it (apt-get install chromium)")
	}
	t.Skip("no Chromium found; `make test` installs it (apt-get install chromium)")
	return ""
}

// TestBrowser drives the pages in headless Chromium: a search in the
// playground shows results; an item created in the editor is found by
// search at once.
func TestBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser")
	}
	bin := chromium(t)
	s := startStack(t)

	dir := t.TempDir()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin),
		chromedp.UserDataDir(dir),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(ctx, 60*time.Second)
	defer cancelTimeout()

	// The playground: type a query, submit, see results with their text.
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	err := chromedp.Do(ctx,
		chromedp.Navigate(s.base+"/"),
		chromedp.WaitVisible(css("#q")),
		chromedp.SendKeys(css("#q"), "telescope orbit"),
		chromedp.Click(css(`button[type="submit"]`)),
		chromedp.WaitVisible(css("#hits li")),
	)
	if err != nil {
		t.Fatalf("playground: %v", err)
	}
	count, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#hits li").length`))
	if err != nil {
		t.Fatal(err)
	}
	status, _ := chromedp.Run(ctx, chromedp.Text(css("#status")))
	firstTitle, _ := chromedp.Run(ctx, chromedp.Text(css("#hits li .hit-title")))
	if count == 0 || !strings.Contains(status, "results") || firstTitle == "" {
		t.Fatalf("playground shows %d results, status %q, first title %q", count, status, firstTitle)
	}

	// The editor: create an item, then follow the link to find it.
	err = chromedp.Do(ctx,
		chromedp.Navigate(s.base+"/editor"),
		chromedp.WaitVisible(css("#rows tr")),
		chromedp.SendKeys(css("#token"), testEditorToken),
		chromedp.SendKeys(css("#id"), "browser-item"),
		chromedp.SendKeys(css("#title"), "Quokka xylophone recital"),
		chromedp.SendKeys(css("#categories"), "jazz"),
		chromedp.Click(css("#save")),
		chromedp.WaitVisible(css("#find")),
	)
	saved, _ := chromedp.Run(ctx, chromedp.Text(css("#status")))
	if err != nil {
		t.Fatalf("editor: %v (status %q)", err, saved)
	}
	err = chromedp.Do(ctx,
		chromedp.Click(css("#find")),
		chromedp.WaitVisible(css(`#hits li[data-id="browser-item"]`)),
	)
	if err != nil {
		t.Fatalf("finding the new item: %v", err)
	}
	found, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('#hits li[data-id="browser-item"]').length`))
	if !strings.Contains(saved, "Saved browser-item") || found != 1 {
		t.Fatalf("editor status %q, found %d", saved, found)
	}

	// Search as you type: a few letters of a word, one key at a time, and
	// the item shows with the word they begin marked.
	steps := []chromedp.Action[chromedp.Void]{chromedp.Navigate(s.base + "/"), chromedp.WaitVisible(css("#q"))}
	for _, r := range "xyloph" {
		steps = append(steps, chromedp.SendKeys(css("#q"), string(r)), chromedp.Sleep(40*time.Millisecond))
	}
	steps = append(steps, chromedp.WaitVisible(css(`#hits li[data-id="browser-item"] .hit-title mark`)))
	if err := chromedp.Do(ctx, steps...); err != nil {
		st, _ := chromedp.Run(ctx, chromedp.Text(css("#status")))
		t.Fatalf("typing: %v (status %q)", err, st)
	}
	marked, _ := chromedp.Run(ctx, chromedp.Text(css(`#hits li[data-id="browser-item"] .hit-title mark`)))
	title, _ := chromedp.Run(ctx, chromedp.Text(css(`#hits li[data-id="browser-item"] .hit-title`)))
	if marked != "xylophone" || title != "Quokka xylophone recital" {
		t.Fatalf("typed a prefix: marked %q in %q", marked, title)
	}
	// Tick the item's category among the facets: every hit is then in it.
	err = chromedp.Do(ctx,
		chromedp.WaitVisible(css(`#facets input[data-facet="category"][data-value="jazz"]`)),
		chromedp.Click(css(`#facets input[data-facet="category"][data-value="jazz"]`)),
	)
	if err == nil {
		// Until the search the tick started answers, the page shows the
		// one before: wait for hits all in jazz, the item among them, and
		// the box drawn anew ticked.
		_, err = chromedp.Run(ctx, chromedp.Poll[bool](`(() => {
			const hits = [...document.querySelectorAll("#hits li")];
			return document.querySelector("#category").value === "jazz" &&
				hits.some(li => li.dataset.id === "browser-item") &&
				hits.every(li => [...li.querySelectorAll(".chip")].some(c => c.textContent === "jazz")) &&
				document.querySelector('#facets input[data-value="jazz"]').checked;
		})()`, chromedp.WithPollingTimeout(20*time.Second)))
	}
	if err != nil {
		outside, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`[...document.querySelectorAll("#hits li")].filter(li => ![...li.querySelectorAll(".chip")].some(c => c.textContent === "jazz")).length`))
		t.Fatalf("ticking a facet: %v (%d hits outside jazz)", err, outside)
	}
	// The query box offers the word the letters begin.
	if err := chromedp.Do(ctx, chromedp.WaitReady(css(`#suggestions option[value="xylophone"]`))); err != nil {
		opts, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`[...document.querySelectorAll("#suggestions option")].map(o => o.value).join("|")`))
		t.Fatalf("suggestions: %v (%q)", err, opts)
	}

	// The editor's vocabulary: a synonym set saved on the page, and a
	// search for the synonym finds the item at once, explained.
	err = chromedp.Do(ctx,
		chromedp.Navigate(s.base+"/editor"),
		chromedp.WaitVisible(css("#set-id")),
		chromedp.SendKeys(css("#set-id"), "marsupials"),
		chromedp.SendKeys(css("#set-terms"), "quokka, wallaby"),
		chromedp.Click(css("#set-save")),
		chromedp.WaitVisible(css(`#sets tr[data-id="marsupials"]`)),
	)
	if err != nil {
		st, _ := chromedp.Run(ctx, chromedp.Text(css("#voc-status")))
		t.Fatalf("saving a synonym set: %v (status %q)", err, st)
	}
	err = chromedp.Do(ctx,
		chromedp.Navigate(s.base+"/?q=wallaby&mode=keyword"),
		chromedp.WaitVisible(css(`#hits li[data-id="browser-item"] .matched`)),
	)
	if err != nil {
		t.Fatalf("searching a synonym: %v", err)
	}
	why, _ := chromedp.Run(ctx, chromedp.TextContent(css(`#hits li[data-id="browser-item"] .matched`)))
	if !strings.Contains(why, "synonym of “wallaby”, set marsupials") {
		t.Fatalf("the hit explains %q", why)
	}
}
