//go:build linux

package tini

import "testing"

// TestSummarize reads outputs shaped like the suite's (no tini needed): the
// failed check, the checks before it, and the suite's own error even when a
// failed stage's traceback is inside its message.
func TestSummarize(t *testing.T) {
	passed := "Running exit code test for /b/tini\nRunning signal configuration test\nSigIgn: SIGINT (2)\n" +
		"Running parent death signal test\n---------------------------\nAll done, tests as expected\n---------------------------\n"
	if r := summarize(passed); !r.done || len(r.passed) != 3 || r.failed != "" {
		t.Errorf("passing run: %+v", r)
	}

	failed := `Running exit code test for /b/tini
Running reaping test (/b/tini -s with env {})
Traceback (most recent call last):
  File "/s/test/run_inner_tests.py", line 268, in <module>
    main()
  File "/s/test/run_inner_tests.py", line 103, in main
    assert ret == 0, "Reaping test failed!\nOUT: %s\nERR: %s" % (out, err)
           ^^^^^^^^
AssertionError: Reaping test failed!
OUT: Has pids: 12
ERR: Traceback (most recent call last):
  File "/s/test/reaping/stage_1.py", line 40, in main
    assert in_group_or_reaped(pid), "Child had unexpected pgid"
AssertionError: Child had unexpected pgid
`
	r := summarize(failed)
	if r.done || len(r.passed) != 1 || r.failed != "Running reaping test (/b/tini -s with env {})" {
		t.Errorf("failed run: %+v", r)
	}
	if r.assertion != "AssertionError: Reaping test failed!" {
		t.Errorf("failed run: assertion %q, want the suite's own", r.assertion)
	}
}

// TestPsutilRace: the one error that runs the suite once more is psutil's,
// as the reaping stage printed it here under load.
func TestPsutilRace(t *testing.T) {
	if !psutilRace.MatchString("ERR: ...\nFileNotFoundError: [Errno 2] No such file or directory: '/proc/21851/stat'\n") {
		t.Error("psutil's race is not recognised")
	}
	if psutilRace.MatchString("FileNotFoundError: [Errno 2] No such file or directory: '/tmp/x/build/sigconf-test'") {
		t.Error("another FileNotFoundError is taken for psutil's race")
	}
}
