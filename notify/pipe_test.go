package notify

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestPipe(t *testing.T) {
	for _, tc := range []struct {
		name    string
		service func(p *Pipe) // what the service does with W
		timeout time.Duration
		want    string // in the error; "" for nil
		is      error
	}{
		{"newline", func(p *Pipe) { p.W().WriteString("\n") }, 5 * time.Second, "", nil},
		{"text then newline", func(p *Pipe) { p.W().WriteString("ready\nmore") }, 5 * time.Second, "", nil},
		{"newline later", func(p *Pipe) {
			p.W().WriteString("start")
			time.Sleep(50 * time.Millisecond)
			p.W().WriteString("ed\n")
		}, 5 * time.Second, "", nil},
		{"closed without newline", func(p *Pipe) {
			p.W().WriteString("no newline")
			p.W().Close()
		}, 5 * time.Second, "closed without a newline", nil},
		{"closed at once", func(p *Pipe) { p.W().Close() }, 5 * time.Second, "closed without a newline", nil},
		{"timeout", func(p *Pipe) { p.W().WriteString("x") }, 100 * time.Millisecond, "deadline exceeded", context.DeadlineExceeded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := NewPipe()
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			go tc.service(p)
			ctx, cancel := context.WithTimeout(context.Background(), tc.timeout)
			defer cancel()
			start := time.Now()
			err = p.Wait(ctx)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("Wait() = %v, want nil", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("Wait() = %v, want an error containing %q", err, tc.want)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("errors.Is(%v, %v) = false", err, tc.is)
			}
			if d := time.Since(start); d > tc.timeout+2*time.Second {
				t.Errorf("Wait took %v", d)
			}
		})
	}
}

// TestPipeWaitAgain: a Wait cut short by its ctx leaves the pipe usable.
func TestPipeWaitAgain(t *testing.T) {
	p, err := NewPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := p.Wait(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait(cancelled) = %v", err)
	}
	go func() {
		time.Sleep(50 * time.Millisecond)
		p.W().WriteString("\n")
	}()
	ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.Wait(ctx); err != nil {
		t.Fatalf("second Wait() = %v", err)
	}
	if err := p.Close(); err != nil {
		t.Errorf("Close() = %v", err)
	}
}
