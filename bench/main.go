// Command bench measures initbox side by side with its peers, alternating
// runs so that machine noise falls on all of them alike.
//
// Workloads so far (issue #2's closing figures; issue #8 grows the rest):
//
//	startup  INIT -- /bin/true against /bin/true alone, median and p99
//	orphans  a storm of N orphans reparented to INIT as PID 1 of a new PID
//	         namespace: time until all are reaped, and zombies left
//
// Usage: go run . [-runs N] [-orphans N] [-only startup|orphans] NAME=CMD...
// where CMD is the init's command prefix, e.g. initbox=../bin/initbox
// tini-static=/usr/bin/tini-static. Needs root for the orphan storm.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"
)

type initCmd struct {
	name string
	argv []string
}

func main() {
	runs := flag.Int("runs", 300, "start-up runs per init")
	orphans := flag.Int("orphans", 10000, "orphans per storm")
	storms := flag.Int("storms", 5, "storms per init")
	only := flag.String("only", "", "run only this workload")
	flag.Parse()
	var inits []initCmd
	for _, a := range flag.Args() {
		name, cmd, ok := strings.Cut(a, "=")
		if !ok {
			fmt.Fprintf(os.Stderr, "bench: %q: want NAME=COMMAND\n", a)
			os.Exit(2)
		}
		inits = append(inits, initCmd{name, strings.Fields(cmd)})
	}
	if len(inits) == 0 {
		fmt.Fprintln(os.Stderr, "bench: name at least one init, e.g. initbox=bin/initbox")
		os.Exit(2)
	}
	if *only == "" || *only == "startup" {
		startup(inits, *runs)
	}
	if *only == "" || *only == "orphans" {
		storm(inits, *orphans, *storms)
	}
	if *only == "" || *only == "spawn" {
		spawnStartup(inits[0], *runs)
	}
}

// spawnStartup compares `initbox spawn -- /bin/true` with what people use
// today, `unshare --fork --pid --mount-proc /bin/true` (issue #6, #8). The
// first init named must be initbox. Root only: unshare --pid needs it.
func spawnStartup(ib initCmd, runs int) {
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "bench: spawn skipped: unshare --pid needs root")
		return
	}
	rows := []initCmd{
		{"unshare --fork --pid --mount-proc", []string{"unshare", "--fork", "--pid", "--mount-proc"}},
		{"initbox spawn", append(slices.Clone(ib.argv), "spawn", "--")},
		{"initbox spawn --user", append(slices.Clone(ib.argv), "spawn", "--user", "--")},
	}
	times := make([][]time.Duration, len(rows))
	for range runs {
		for i, in := range rows {
			d, _, err := run(append(slices.Clone(in.argv), "/bin/true"))
			if err != nil {
				fmt.Fprintf(os.Stderr, "bench: %s: %v\n", in.name, err)
				os.Exit(1)
			}
			times[i] = append(times[i], d)
		}
	}
	fmt.Printf("\n## spawn: CMD /bin/true, %d runs each, alternating\n\n", runs)
	fmt.Println("| command | median | p99 | median / unshare |")
	fmt.Println("|---|---|---|---|")
	ref := quantile(times[0], 0.5)
	for i, in := range rows {
		med := quantile(times[i], 0.5)
		fmt.Printf("| %s | %s | %s | %.2f |\n", in.name, ms(med), ms(quantile(times[i], 0.99)), float64(med)/float64(ref))
	}
}

func run(argv []string) (time.Duration, []byte, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "TINI_VERBOSITY=0")
	t0 := time.Now()
	out, err := cmd.Output()
	return time.Since(t0), out, err
}

func quantile(d []time.Duration, q float64) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[int(q*float64(len(s)-1))]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.3f ms", float64(d)/1e6) }

func startup(inits []initCmd, runs int) {
	rows := append([]initCmd{{"/bin/true alone", nil}}, inits...)
	times := make([][]time.Duration, len(rows))
	for range runs {
		for i, in := range rows {
			argv := append(slices.Clone(in.argv), "/bin/true")
			if in.argv != nil {
				argv = append(slices.Clone(in.argv), "-s", "--", "/bin/true")
			}
			d, _, err := run(argv)
			if err != nil {
				fmt.Fprintf(os.Stderr, "bench: %s: %v\n", in.name, err)
				os.Exit(1)
			}
			times[i] = append(times[i], d)
		}
	}
	fmt.Printf("\n## start-up: INIT -s -- /bin/true, %d runs each, alternating\n\n", runs)
	fmt.Println("| init | median | p99 | median / first init |")
	fmt.Println("|---|---|---|---|")
	ref := quantile(times[1], 0.5)
	for i, in := range rows {
		med := quantile(times[i], 0.5)
		fmt.Printf("| %s | %s | %s | %.2f |\n", in.name, ms(med), ms(quantile(times[i], 0.99)), float64(med)/float64(ref))
	}
}

// stormScript makes n orphans at once: n subshells blocked reading a FIFO
// whose parent exits, so that all are reparented to PID 1 alive; once all
// are in place it closes the FIFO's only writer, they all see EOF and exit
// together, and PID 1 must reap n zombies. Progress is read from
// /proc/loadavg, whose fourth field counts every task on the machine,
// zombies included, with shell builtins only: the polling loop forks
// nothing, so it does not compete with the init for the CPU as a scan of
// /proc would. Its wait for the count to drop allows 20 tasks of noise from
// the rest of the machine. It prints the microseconds from the close until the count
// is back down, and the zombies left.
const stormScript = `
n=$1
d=$(mktemp -d); mkfifo $d/f
tasks() { read -r _ _ _ t _ < /proc/loadavg; t=${t#*/}; }
sh -c 'i=0; while [ $i -lt '$n' ]; do (read x < '$d/f') & i=$((i+1)); done; exit 0'
exec 3>$d/f
# The generator has forked all n; wait until every one has opened the FIFO
# (none left in wait_for_partner), or a late one would block for ever.
while grep -qs wait_for_partner /proc/[0-9]*/wchan; do sleep 0.05; done
tasks; full=$t
t1=$(date +%s%N)
exec 3>&-
tasks; while [ $t -gt $((full-n+20)) ]; do tasks; done
t2=$(date +%s%N)
echo "$(( (t2-t1)/1000 )) $(grep -l '^State:.Z' /proc/[0-9]*/status 2>/dev/null | wc -l)"
rm -r $d
`

func storm(inits []initCmd, n, storms int) {
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "bench: orphan storm skipped: unshare --pid needs root")
		return
	}
	drain := make([][]time.Duration, len(inits))
	left := make([]int, len(inits))
	for range storms {
		for i, in := range inits {
			argv := append([]string{"unshare", "--pid", "--fork", "--mount-proc"}, in.argv...)
			argv = append(argv, "--", "sh", "-c", stormScript, "storm", strconv.Itoa(n))
			_, out, err := run(argv)
			f := strings.Fields(string(out))
			if err != nil || len(f) != 2 {
				fmt.Fprintf(os.Stderr, "bench: storm under %s: %v: %q\n", in.name, err, out)
				os.Exit(1)
			}
			us, _ := strconv.Atoi(f[0])
			z, _ := strconv.Atoi(f[1])
			drain[i] = append(drain[i], time.Duration(us)*time.Microsecond)
			left[i] = max(left[i], z)
		}
	}
	fmt.Printf("\n## orphan storm: %d orphans reparented to PID 1 at once, %d storms each, alternating\n\n", n, storms)
	fmt.Println("| init | median time until all reaped | most zombies left | median / first init |")
	fmt.Println("|---|---|---|---|")
	ref := quantile(drain[0], 0.5)
	for i, in := range inits {
		med := quantile(drain[i], 0.5)
		fmt.Printf("| %s | %s | %d | %.2f |\n", in.name, ms(med), left[i], float64(med)/float64(ref))
	}
}
