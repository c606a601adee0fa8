package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/duetrec/duet/internal/pgtest"
	"github.com/duetrec/duet/internal/race"
	"github.com/duetrec/duet/internal/weaviatetest"
	"github.com/duetrec/duet/search/snapshot"
)

// childArgsEnv makes the test binary run duet with these arguments
// (separated by newlines) instead of the tests: the crash tests kill it.
const childArgsEnv = "DUET_TEST_CHILD_ARGS"

func TestMain(m *testing.M) {
	// A child a duet child starts itself (a scheduled rebuild) is named
	// by its arguments, as duet's are.
	if len(os.Args) > 1 && !strings.HasPrefix(os.Args[1], "-test.") {
		os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
	}
	if args := os.Getenv(childArgsEnv); args != "" {
		os.Exit(run(context.Background(), strings.Split(args, "\n"), os.Stdout, os.Stderr))
	}
	// The tokens servers take from the environment, in child processes
	// too: the same for every test, so that tests can run in parallel
	// (t.Setenv forbids it); a test that needs others sets them itself.
	for k, v := range map[string]string{"DUET_EDITOR_TOKEN": testEditorToken, "DUET_ADMIN_TOKEN": testAdminToken, "DUET_EVENTS_TOKEN": "e2e-events", "DUET_READ_TOKEN": ""} {
		os.Setenv(k, v)
	}
	code := m.Run()
	pgtest.StopShared()
	weaviatetest.StopShared()
	os.Exit(code)
}

// child is duet running in a process of its own.
type child struct {
	cmd  *exec.Cmd
	base string // for serve: the server's URL
	out  chan string
	done chan struct{}
}

func startChild(t *testing.T, args ...string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	// A child killed mid-way leaves its temporary files: in the test's
	// directory, not the machine's.
	cmd.Env = append(os.Environ(), childArgsEnv+"="+strings.Join(args, "\n"), "TMPDIR="+t.TempDir())
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, out: make(chan string, 1), done: make(chan struct{})}
	go func() {
		var all strings.Builder
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			all.WriteString(sc.Text() + "\n")
			if m := servingRE.FindStringSubmatch(sc.Text()); m != nil {
				c.base = m[1]
				c.out <- m[1]
			}
		}
		cmd.Wait()
		close(c.done)
	}()
	t.Cleanup(func() { c.kill() })
	return c
}

var servingRE = regexp.MustCompile(`playground: (http://\S+)/`)

// serveChild starts duet serve and waits until it listens.
func serveChild(t *testing.T, data string, more ...string) *child {
	t.Helper()
	c := startChild(t, append([]string{"serve", "--data", data, "--addr", "127.0.0.1:0", "--search-rate", "-1"}, more...)...)
	select {
	case <-c.out:
	case <-c.done:
		t.Fatalf("serve exited before listening (exit %v)", c.cmd.ProcessState)
	case <-time.After(60 * time.Second):
		t.Fatal("serve did not start")
	}
	return c
}

func (c *child) kill() {
	c.cmd.Process.Signal(syscall.SIGKILL)
	<-c.done
}

// crashClient talks to the child server; a request cut by the kill is an
// error, not a failure.
type crashClient struct{ base string }

func (c crashClient) do(method, path, token, body string) (int, []byte, error) {
	return apiRequest(c.base, method, path, token, body)
}

// crashLedger is what clients saw acknowledged, and what was in flight
// when the server died (which may or may not have happened).
type crashLedger struct {
	mu       sync.Mutex
	items    map[string]string // acknowledged puts: id → word in its title
	deleted  map[string]bool   // acknowledged deletes
	unsure   map[string]bool   // ids whose last write was cut by the kill
	events   map[string]int    // acknowledged events per user
	inflight map[string]int    // events per user cut by the kill
}

// TestServeCrash kills a serving duet with SIGKILL at random moments
// while editors write items and clients send events; after each restart
// every acknowledged write is served and searchable, and every
// acknowledged delete is gone.
func TestServeCrash(t *testing.T) {
	if testing.Short() || race.Enabled {
		t.Skip("kills child processes; run without -short and -race (make crash)")
	}
	t.Parallel()
	data := smallData(t, "200", "50", "9")

	const kills = 50
	rng := rand.New(rand.NewPCG(11, 11))
	led := &crashLedger{items: map[string]string{}, deleted: map[string]bool{}, unsure: map[string]bool{}, events: map[string]int{}, inflight: map[string]int{}}
	var checked []string // ids verified so far, for sampling
	n := 0
	for round := range kills + 1 {
		srv := serveChild(t, data)
		cl := crashClient{srv.base}
		// A sample of the acknowledged writes; all of them at the end.
		var ids []string
		for id := range led.items {
			ids = append(ids, id)
		}
		verifyCrashState(t, cl, led, ids, round == kills || len(ids) < 60, rng)
		checked = append(checked, ids...)
		if round == kills {
			srv.kill()
			break
		}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for w := range 2 {
			wg.Go(func() {
				var mine []string
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					if i%4 == 3 && len(mine) > 0 {
						id := mine[0]
						mine = mine[1:]
						led.mu.Lock()
						led.unsure[id] = true
						led.mu.Unlock()
						code, _, err := cl.do("DELETE", "/v1/items/"+id, testEditorToken, "")
						led.mu.Lock()
						if err == nil && code == 200 {
							delete(led.unsure, id)
							led.deleted[id] = true
						} else if err == nil {
							t.Errorf("delete %s: %d", id, code)
						}
						led.mu.Unlock()
						if err != nil {
							return
						}
						continue
					}
					led.mu.Lock()
					n++
					id, word := fmt.Sprintf("crash-%d-%d-%d", round, w, i), token(n)
					led.unsure[id] = true
					led.mu.Unlock()
					code, body, err := cl.do("PUT", "/v1/items/"+id, testEditorToken, fmt.Sprintf(`{"title":"%s crash","tags":["crash"]}`, word))
					led.mu.Lock()
					if err == nil && (code == 200 || code == 201) {
						delete(led.unsure, id)
						led.items[id] = word
						mine = append(mine, id)
					} else if err == nil {
						t.Errorf("put %s: %d %s", id, code, body)
					}
					led.mu.Unlock()
					if err != nil {
						return
					}
				}
			})
		}
		wg.Go(func() {
			user := fmt.Sprintf("crash-user-%d", round%5)
			for {
				select {
				case <-stop:
					return
				default:
				}
				led.mu.Lock()
				led.inflight[user] += 2
				led.mu.Unlock()
				code, _, err := cl.do("POST", "/v1/events", "e2e-events", fmt.Sprintf(`{"events":[{"user_id":%q,"item_id":"i000","kind":"view"},{"user_id":%q,"item_id":"i001","kind":"click"}]}`, user, user))
				led.mu.Lock()
				if err == nil && code == 200 {
					led.inflight[user] -= 2
					led.events[user] += 2
				} else if err == nil {
					t.Errorf("events: %d", code)
				}
				led.mu.Unlock()
				if err != nil {
					return
				}
			}
		})
		time.Sleep(time.Duration(30+rng.IntN(300)) * time.Millisecond)
		srv.kill()
		close(stop)
		wg.Wait()
		if t.Failed() {
			return
		}
	}
	t.Logf("%d kills; %d items and %d deletes acknowledged; %d checks", kills, len(led.items), len(led.deleted), len(checked))
}

// verifyCrashState checks acknowledged writes against a restarted server:
// all of them when full is set, otherwise a random 60.
func verifyCrashState(t *testing.T, cl crashClient, led *crashLedger, ids []string, full bool, rng *rand.Rand) {
	t.Helper()
	if !full {
		rng.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
		ids = ids[:60]
	}
	for _, id := range ids {
		if led.unsure[id] {
			continue
		}
		code, _, err := cl.do("GET", "/v1/items/"+id, "", "")
		if err != nil {
			t.Fatal(err)
		}
		q := url.Values{"q": {led.items[id]}, "mode": {"keyword"}, "k": {"5"}}
		_, body, err := cl.do("GET", "/v1/search?"+q.Encode(), "", "")
		if err != nil {
			t.Fatal(err)
		}
		found := strings.Contains(string(body), `"id":"`+id+`"`)
		if led.deleted[id] {
			if code != 404 || found {
				t.Fatalf("deleted %s: GET %d, found by search %v", id, code, found)
			}
			continue
		}
		if code != 200 || !found {
			t.Fatalf("acknowledged %s: GET %d, found by search for %q %v: %s", id, code, led.items[id], found, body)
		}
	}
	for user, n := range led.events {
		_, body, err := cl.do("GET", "/v1/users/"+user+"/history?limit=1000", "", "")
		if err != nil {
			t.Fatal(err)
		}
		var h struct{ Events []json.RawMessage }
		json.Unmarshal(body, &h)
		if got := len(h.Events); got < min(n, 1000) || got > n+led.inflight[user] {
			t.Fatalf("%s: %d events in the history; %d acknowledged, %d cut short", user, got, n, led.inflight[user])
		}
	}
}

// token spells n in letters, a word no generated item contains.
func token(n int) string {
	b := []byte("zq")
	for {
		b = append(b, byte('a'+n%26))
		n /= 26
		if n == 0 {
			return string(b)
		}
	}
}

// TestRebuildCrash kills duet rebuild at random moments while a server
// runs: no half-written snapshot is ever taken for a snapshot, the server
// keeps serving the one it has, and the next rebuild cleans up and
// publishes.
func TestRebuildCrash(t *testing.T) {
	if testing.Short() || race.Enabled {
		t.Skip("kills child processes; run without -short and -race (make crash)")
	}
	t.Parallel()
	data := smallData(t, "300", "100", "9")
	srv := serveChild(t, data)
	cl := crashClient{srv.base}
	serving := func() string {
		code, body, err := cl.do("GET", "/admin/stats", testAdminToken, "")
		var st struct{ Snapshot struct{ Snapshot string } }
		if err != nil || code != 200 || json.Unmarshal(body, &st) != nil {
			t.Fatalf("stats: %d %s %v", code, body, err)
		}
		if code, body, err := cl.do("GET", "/v1/search?q=history&user=u001", "", ""); err != nil || code != 200 {
			t.Fatalf("search while rebuilds die: %d %s %v", code, body, err)
		}
		return st.Snapshot.Snapshot
	}
	args := append(rebuildArgs(data), "--notify", srv.base)
	// A full run sets the time scale of the kills.
	start := time.Now()
	full := startChild(t, args...)
	<-full.done
	if !full.cmd.ProcessState.Success() {
		t.Fatalf("rebuild: %v", full.cmd.ProcessState)
	}
	took := time.Since(start)
	rng := rand.New(rand.NewPCG(5, 5))
	root := snapshot.NewRoot(data)
	for range 6 {
		before := serving()
		c := startChild(t, args...)
		time.Sleep(time.Duration(rng.Int64N(int64(took))))
		c.kill()
		dirs, err := root.List()
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range dirs {
			if _, err := snapshot.Verify(context.Background(), d); err != nil {
				t.Fatalf("a killed rebuild left a snapshot that does not verify: %v", err)
			}
		}
		// The server serves what it served, or a complete newer snapshot
		// the rebuild published before it died.
		if now := serving(); now != before {
			if _, err := snapshot.Verify(context.Background(), now); err != nil {
				t.Fatalf("the server took up %s: %v", now, err)
			}
		}
	}
	c := startChild(t, args...)
	<-c.done
	if !c.cmd.ProcessState.Success() {
		t.Fatalf("rebuild after the kills: %v", c.cmd.ProcessState)
	}
	newest, _, _, err := root.Latest(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if now := serving(); now != newest {
		t.Fatalf("serving %s, newest snapshot %s", now, newest)
	}
	left, _ := filepath.Glob(filepath.Join(data, ".backup-*"))
	tmps, _ := filepath.Glob(filepath.Join(root.Dir(), ".tmp-*"))
	if len(left)+len(tmps) != 0 {
		t.Fatalf("left behind: %v %v", left, tmps)
	}
}
