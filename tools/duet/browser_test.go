package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/duetrec/duet/internal/race"
)

// endToEnd skips a test that drives whole processes (a browser, a
// cluster, a benchmark's load) in -short mode and under the race detector,
// which multiplies their time while the packages they drive are race-tested
// on their own: `make e2e` runs them without it, in parallel with each
// other, since most of their time is spent waiting on those processes.
func endToEnd(t *testing.T, what string) {
	t.Helper()
	if testing.Short() || race.Enabled {
		t.Skipf("%s; run without -short and -race (make e2e)", what)
	}
	t.Parallel()
}

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

// browse starts headless Chromium for a test, closed when it ends, and
// returns its context, bounded to two minutes (the end-to-end tests run
// side by side).
func browse(t *testing.T, bin string) context.Context {
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	ctx, cancelTimeout := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(cancelTimeout)
	return ctx
}

// TestBrowser drives the pages in headless Chromium: a search in the
// playground shows results; an item created in the editor is found by
// search at once.
func TestBrowser(t *testing.T) {
	endToEnd(t, "starts a browser")
	bin := chromium(t)
	s := startStack(t)

	ctx := browse(t, bin)

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
	// The page searches as you type too, so the hits seen first may be a
	// prefix's while the submitted search is still in flight: wait for the
	// answer to the whole query before reading what it shows.
	_, err = chromedp.Run(ctx, chromedp.Poll[bool](
		`document.getElementById("status").textContent.includes("results") && `+
			`document.getElementById("status").textContent.includes("ms")`,
		chromedp.WithPollingTimeout(20*time.Second)))
	if err != nil {
		st, _ := chromedp.Run(ctx, chromedp.Text(css("#status")))
		t.Fatalf("playground: no answer to the search: %v (status %q)", err, st)
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

// TestBrowser_Dashboard shows the dashboard in headless Chromium over real
// traffic: recommendations with clicks attributed to them and a running
// experiment draw the click-through chart, the route's figures and the
// experiment's row.
func TestBrowser_Dashboard(t *testing.T) {
	endToEnd(t, "starts a browser")
	bin := chromium(t)
	s := startStack(t)
	if code, body, err := apiRequest(s.base, "POST", "/admin/experiments", testAdminToken, `{"id":"pop-test","route":"recommendations","b":{"sources":["popular"]}}`); err != nil || code != 201 {
		t.Fatalf("experiment: %d %s %v", code, body, err)
	}
	for u := range 12 {
		user := fmt.Sprintf("u%03d", u)
		code, body, err := apiRequest(s.base, "GET", "/v1/users/"+user+"/recommendations?k=5", "", "")
		var ans struct {
			Hits []struct {
				ID string `json:"id"`
			} `json:"hits"`
			ImpressionID string `json:"impression_id"`
		}
		if err != nil || code != 200 || json.Unmarshal(body, &ans) != nil || len(ans.Hits) == 0 {
			t.Fatalf("recommendations: %d %s %v", code, body, err)
		}
		ev := fmt.Sprintf(`{"user_id":%q,"item_id":%q,"kind":"click","impression_id":%q}`, user, ans.Hits[u%len(ans.Hits)].ID, ans.ImpressionID)
		if code, body, err := apiRequest(s.base, "POST", "/v1/events", "e2e-events", ev); err != nil || code != 200 {
			t.Fatalf("click: %d %s %v", code, body, err)
		}
	}
	// The figures fold the log every second: wait until they hold all
	// twelve, however slow the machine, before the page reads them.
	for deadline := time.Now().Add(30 * time.Second); ; {
		var rep struct {
			Routes []struct {
				Route       string `json:"route"`
				Impressions int    `json:"impressions"`
				Clicks      int    `json:"clicks"`
			} `json:"routes"`
		}
		code, body, err := apiRequest(s.base, "GET", "/admin/online", testAdminToken, "")
		if err != nil || code != 200 || json.Unmarshal(body, &rep) != nil {
			t.Fatalf("online figures: %d %s %v", code, body, err)
		}
		if len(rep.Routes) == 1 && rep.Routes[0].Impressions == 12 && rep.Routes[0].Clicks == 12 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("online figures after 30 s: %s", body)
		}
		time.Sleep(200 * time.Millisecond)
	}

	ctx := browse(t, bin)
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	err := chromedp.Do(ctx,
		chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateScale(3)), // a phone
		chromedp.Navigate(s.base+"/dashboard"),
		chromedp.WaitVisible(css("#token")),
		chromedp.SendKeys(css("#token"), testAdminToken),
		chromedp.Click(css(`#auth button[type="submit"]`)),
		chromedp.WaitVisible(css(`#ctr-chart svg path.line[data-route="recommendations"]`)),
	)
	if err != nil {
		st, _ := chromedp.Run(ctx, chromedp.Text(css("#status")))
		t.Fatalf("dashboard: %v (status %q)", err, st)
	}
	tile, _ := chromedp.Run(ctx, chromedp.TextContent(css("#tiles")))
	exp, _ := chromedp.Run(ctx, chromedp.TextContent(css("#experiments")))
	sizes, _ := chromedp.Run(ctx, chromedp.TextContent(css("#sizes")))
	d, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('#ctr-chart path.line').getAttribute("d")`))
	overflow, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth + 1`))
	if !strings.Contains(tile, "recommendations") || !strings.Contains(tile, "impressions12") {
		t.Errorf("tiles %q", tile)
	}
	if !strings.Contains(exp, "pop-test") || !strings.Contains(exp, "running") || !strings.Contains(exp, "12") {
		t.Errorf("experiments %q", exp)
	}
	if !strings.Contains(sizes, "store items") || !strings.Contains(sizes, "latency /v1/users/:id/recommendations") {
		t.Errorf("sizes %q", sizes)
	}
	if !strings.HasPrefix(d, "M") {
		t.Errorf("the chart's line is %q", d)
	}
	if overflow {
		wide, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`[...document.querySelectorAll("body *")].filter(e => e.getBoundingClientRect().right > window.innerWidth + 1).slice(0, 5).map(e => e.tagName + "#" + e.id + "." + e.className + " " + Math.round(e.getBoundingClientRect().right)).join(", ")`))
		t.Errorf("the page is wider than a phone's screen: %s", wide)
	}
}
