package weaviatetest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
)

// privNet is a network namespace of the test cluster's own, joined to
// this host by a veth pair on a /30 of 10.231.0.0/16: addr is the
// namespace's end, where the nodes listen.
type privNet struct {
	name, hostLink, addr string
}

const netnsPrefix = "duet-wv-"

// newPrivNet makes the namespace, or says why it cannot (not root, no
// iproute2, no permission): the cluster then runs on loopback.
func newPrivNet() (*privNet, error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("not root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return nil, err
	}
	removeStaleNets()
	tag := fmt.Sprintf("%06x", rand.Uint32()&0xffffff)
	sub := rand.IntN(1 << 14) // one /30 of 10.231.0.0/16
	host := fmt.Sprintf("10.231.%d.%d", sub>>6, (sub&63)*4+1)
	addr := fmt.Sprintf("10.231.%d.%d", sub>>6, (sub&63)*4+2)
	n := &privNet{name: fmt.Sprintf("%s%d-%s", netnsPrefix, os.Getpid(), tag), hostLink: "dw" + tag + "h", addr: addr}
	peer := "dw" + tag + "n"
	steps := [][]string{
		{"netns", "add", n.name},
		{"link", "add", n.hostLink, "type", "veth", "peer", "name", peer},
		{"link", "set", peer, "netns", n.name},
		{"addr", "add", host + "/30", "dev", n.hostLink},
		{"link", "set", n.hostLink, "up"},
		{"netns", "exec", n.name, "ip", "addr", "add", addr + "/30", "dev", peer},
		{"netns", "exec", n.name, "ip", "link", "set", peer, "up"},
		{"netns", "exec", n.name, "ip", "link", "set", "lo", "up"},
	}
	for _, st := range steps {
		if out, err := exec.Command("ip", st...).CombinedOutput(); err != nil {
			n.remove()
			return nil, fmt.Errorf("ip %s: %w: %s", strings.Join(st, " "), err, out)
		}
	}
	return n, nil
}

// remove deletes the namespace; the veth pair goes with it.
func (n *privNet) remove() {
	exec.Command("ip", "netns", "del", n.name).Run()
	exec.Command("ip", "link", "del", n.hostLink).Run()
}

// removeStaleNets deletes the namespaces of test processes that died
// without removing theirs.
func removeStaleNets() {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(out), "\n") {
		name, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		rest, ok := strings.CutPrefix(name, netnsPrefix)
		if !ok {
			continue
		}
		pidStr, _, _ := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidStr)
		if err != nil {
			continue
		}
		if syscall.Kill(pid, 0) == nil || pid == os.Getpid() {
			continue // alive
		}
		exec.Command("ip", "netns", "del", name).Run()
	}
}
