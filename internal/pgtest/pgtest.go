// Package pgtest runs a private PostgreSQL server for tests: Debian's
// initdb and postgres (from /usr/lib/postgresql/*/bin) on a free loopback
// port, in a temporary directory removed when it stops. Run as root, the
// server runs as the postgres system user, since PostgreSQL refuses root.
// The server dies with the process that started it, so a test binary that
// is killed leaves none behind.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrNoPostgres means no PostgreSQL server binaries are installed.
var ErrNoPostgres = errors.New("no PostgreSQL server found in /usr/lib/postgresql/*/bin (Debian's postgresql package; `make test` installs it)")

// Server is a running private PostgreSQL server.
type Server struct {
	dir  string // data directory (and socket directory)
	port int
	cmd  *exec.Cmd
	args []string // the server's
	cred *syscall.Credential
	bin  string
	log  *os.File
	n    atomic.Int64 // databases made
	done chan error
}

// Start initialises a cluster in a temporary directory and starts its
// server on a free port of 127.0.0.1, waiting until it accepts
// connections.
func Start(ctx context.Context) (*Server, error) {
	bin, err := binDir()
	if err != nil {
		return nil, err
	}
	s := &Server{bin: bin}
	dir, err := os.MkdirTemp("", "duet-pg-*")
	if err != nil {
		return nil, err
	}
	s.dir = dir
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("running as root needs the postgres system user: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		s.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	data := filepath.Join(dir, "data")
	initdb := s.command(ctx, "initdb", "-D", data, "-U", "duet", "--auth=trust", "-E", "UTF8", "--no-locale", "--no-sync")
	if out, err := initdb.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %w: %s", err, out)
	}
	if s.port, err = freePort(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if s.log, err = os.Create(filepath.Join(dir, "server.log")); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	s.args = []string{"-D", data, "-p", strconv.Itoa(s.port), "-k", dir,
		"-c", "listen_addresses=127.0.0.1", "-c", "max_connections=200", "-c", "fsync=on"}
	if err := s.start(); err != nil {
		s.log.Close()
		os.RemoveAll(dir)
		return nil, err
	}
	if err := s.wait(ctx); err != nil {
		s.Stop()
		b, _ := os.ReadFile(filepath.Join(dir, "server.log"))
		return nil, fmt.Errorf("postgres did not start: %w\n%s", err, b)
	}
	return s, nil
}

// binDir returns the newest installed PostgreSQL's bin directory.
func binDir() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	var ok []string
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "postgres")); err == nil {
			ok = append(ok, d)
		}
	}
	if len(ok) == 0 {
		return "", ErrNoPostgres
	}
	sort.Slice(ok, func(i, j int) bool {
		a, _ := strconv.Atoi(filepath.Base(filepath.Dir(ok[i])))
		b, _ := strconv.Atoi(filepath.Base(filepath.Dir(ok[j])))
		return a < b
	})
	return ok[len(ok)-1], nil
}

func (s *Server) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, filepath.Join(s.bin, name), args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	cmd.Dir = s.dir
	return cmd
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// Dir is the server's temporary directory.
func (s *Server) Dir() string { return s.dir }

// URL returns the URL of a database of the server.
func (s *Server) URL(database string) string {
	return fmt.Sprintf("postgres://duet@127.0.0.1:%d/%s?sslmode=disable", s.port, database)
}

// wait polls until the server answers.
func (s *Server) wait(ctx context.Context) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		conn, err := pgx.Connect(ctx, s.URL("postgres"))
		if err == nil {
			return conn.Close(ctx)
		}
		select {
		case err := <-s.done:
			return fmt.Errorf("the server exited: %v", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return err
		}
	}
}

// NewDatabase creates an empty database and returns its URL.
func (s *Server) NewDatabase(ctx context.Context) (string, error) {
	name := fmt.Sprintf("test_%d", s.n.Add(1))
	conn, err := pgx.Connect(ctx, s.URL("postgres"))
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", err
	}
	return s.URL(name), nil
}

// Pause stops the server and Resume starts it again on the same port and
// data: what a database outage looks like to its clients.
func (s *Server) Pause() error {
	if err := s.cmd.Process.Signal(syscall.SIGINT); err != nil {
		return err
	}
	<-s.done
	return nil
}

// Resume restarts a paused server and waits until it answers.
func (s *Server) Resume(ctx context.Context) error {
	if err := s.start(); err != nil {
		return err
	}
	return s.wait(ctx)
}

// start starts the server process, which dies with this one.
func (s *Server) start() error {
	s.cmd = s.command(context.Background(), "postgres", s.args...)
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	s.cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	if err := s.cmd.Start(); err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	s.done = make(chan error, 1)
	go func() { s.done <- s.cmd.Wait() }()
	return nil
}

// Stop shuts the server down and removes its directory.
func (s *Server) Stop() error {
	if s.cmd != nil && s.cmd.Process != nil {
		s.cmd.Process.Signal(syscall.SIGINT) // fast shutdown
		select {
		case <-s.done:
		case <-time.After(30 * time.Second):
			s.cmd.Process.Kill()
			<-s.done
		}
	}
	if s.log != nil {
		s.log.Close()
	}
	return os.RemoveAll(s.dir)
}

var shared struct {
	once sync.Once
	srv  *Server
	err  error
}

// Shared returns the server the tests of one test binary share, started
// by the first caller. A test is skipped where PostgreSQL is not
// installed, and fails where $CI is set (CI installs it). TestMain stops
// it with StopShared.
func Shared(t testing.TB) *Server {
	t.Helper()
	shared.once.Do(func() { shared.srv, shared.err = Start(context.Background()) })
	if errors.Is(shared.err, ErrNoPostgres) && os.Getenv("CI") == "" {
		t.Skip(shared.err)
	}
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.srv
}

// StopShared stops the shared server, if a test started it.
func StopShared() {
	if shared.srv != nil {
		shared.srv.Stop()
	}
}

// Database returns a new database of the shared server.
func Database(t testing.TB) string {
	t.Helper()
	url, err := Shared(t).NewDatabase(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return url
}
