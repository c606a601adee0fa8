package main

import (
	"io"
	"os"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// barProgress draws a progress bar per stage on a terminal; elsewhere (a
// pipe, a log file, CI) it stays silent so output remains readable.
type barProgress struct {
	w     io.Writer
	bar   *progressbar.ProgressBar
	count bool // totals count things, not bytes
}

// newProgress returns a progress reporter drawing on stderr when it is a
// terminal, or nil.
func newProgress() *barProgress {
	if !term.IsTerminal(int(os.Stderr.Fd())) {
		return nil
	}
	return &barProgress{w: os.Stderr}
}

// newCountProgress is newProgress for totals that count items, not bytes.
func newCountProgress() *barProgress {
	p := newProgress()
	if p != nil {
		p.count = true
	}
	return p
}

func (p *barProgress) Start(stage string, total int64) {
	p.bar = progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(p.w),
		progressbar.OptionSetDescription(stage),
		progressbar.OptionShowBytes(!p.count),
		progressbar.OptionShowCount(),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100_000_000),
		progressbar.OptionShowElapsedTimeOnFinish(),
		progressbar.OptionOnCompletion(func() { io.WriteString(p.w, "\n") }),
	)
}

func (p *barProgress) Add(n int64) {
	if p.bar != nil {
		p.bar.Add64(n)
	}
}

func (p *barProgress) Done() {
	if p.bar != nil {
		p.bar.Finish()
		p.bar = nil
	}
}
