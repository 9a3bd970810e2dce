//go:build linux

package main

import (
	"errors"
	"fmt"
	"testing"

	"github.com/initbox/initbox/control"
	"github.com/initbox/initbox/supervisor"
)

// TestControlError: the supervisor's sentinels become the control
// socket's (its 404 and 409), with the message kept; others pass as is.
func TestControlError(t *testing.T) {
	other := errors.New("initbox is stopping")
	for _, tc := range []struct {
		err  error
		want error // nil: err itself
	}{
		{fmt.Errorf("%w %q", supervisor.ErrUnknownService, "web"), control.ErrUnknownService},
		{fmt.Errorf("%w: web is stopped", supervisor.ErrServiceNotRunning), control.ErrServiceNotRunning},
		{other, nil},
		{nil, nil},
	} {
		got := controlError(tc.err)
		switch {
		case tc.want == nil && got != tc.err:
			t.Errorf("controlError(%v) = %v, want it unchanged", tc.err, got)
		case tc.want != nil && (!errors.Is(got, tc.want) || !errors.Is(got, tc.err) || got.Error() != tc.err.Error()):
			t.Errorf("controlError(%v) = %v: is %v %v, is itself %v", tc.err, got, tc.want, errors.Is(got, tc.want), errors.Is(got, tc.err))
		}
	}
}
