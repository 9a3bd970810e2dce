package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// Pipe is s6-style readiness (s6-supervise's notification-fd): the service
// inherits W as some fd N and writes a newline there when it is ready.
type Pipe struct {
	r, w *os.File
}

// NewPipe makes the pipe. Both ends are close-on-exec; the caller passes W
// to the child explicitly (ProcAttr.Files).
func NewPipe() (*Pipe, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("notify: %w", err)
	}
	return &Pipe{r: r, w: w}, nil
}

// W is the write end, to hand to the service. The caller closes it once
// the service has started: until then Wait cannot see the service close
// it or exit.
func (p *Pipe) W() *os.File { return p.w }

// Wait returns nil once a newline is read (what precedes it is ignored),
// an error if the write end is closed without one (the service closed fd
// N, or exited), or ctx's error if ctx ends first. It may be called again
// after ctx ended.
func (p *Pipe) Wait(ctx context.Context) error {
	// Reset a deadline a cancelled earlier Wait left behind.
	if err := p.r.SetReadDeadline(time.Time{}); err != nil {
		return fmt.Errorf("notify: %w", err)
	}
	// A deadline in the past wakes the Read parked in the poller.
	woken := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(woken)
		p.r.SetReadDeadline(time.Unix(1, 0))
	})
	defer func() {
		if !stop() {
			<-woken // the next Wait's reset must come after this
		}
	}()
	buf := make([]byte, 512)
	for {
		n, err := p.r.Read(buf)
		if bytes.IndexByte(buf[:n], '\n') >= 0 {
			return nil
		}
		switch {
		case err == io.EOF:
			return errors.New("notify: readiness pipe closed without a newline")
		case errors.Is(err, os.ErrDeadlineExceeded) && ctx.Err() != nil:
			return ctx.Err()
		case err != nil:
			return fmt.Errorf("notify: readiness pipe: %w", err)
		}
	}
}

// Close closes both ends; W may have been closed already. A service that
// writes after Close gets EPIPE (or SIGPIPE): it should close fd N once it
// has written its newline, as s6 asks.
func (p *Pipe) Close() error {
	err := p.r.Close()
	if werr := p.w.Close(); werr != nil && !errors.Is(werr, os.ErrClosed) && err == nil {
		err = werr
	}
	return err
}
