package control

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/initbox/initbox/logging"
	"github.com/initbox/initbox/signals"
)

// Default and largest number of lines GET .../logs returns.
const (
	defaultLogLines = 100
	maxLogLines     = 10000
)

// splitPath splits an escaped path into unescaped segments.
func splitPath(path string) ([]string, bool) {
	segs := strings.Split(strings.TrimPrefix(path, "/"), "/")
	for i, s := range segs {
		u, ok := unescape(s, false)
		if !ok {
			return nil, false
		}
		segs[i] = u
	}
	return segs, true
}

func methodNotAllowed(allow string) response {
	r := errorResponse(405, "method not allowed; use "+allow)
	r.allow = allow
	return r
}

// apiError answers an error from API: 404 for a name that is not a service,
// 500 for the rest (the supervisor's message says what went wrong).
func apiError(err error) response {
	if errors.Is(err, ErrUnknownService) {
		return errorResponse(404, err.Error())
	}
	return errorResponse(500, err.Error())
}

var okBody = []byte(`{"ok":true}`)

// controlHandler routes control requests to api. uid is the peer's, logged
// with every request that changes something.
func controlHandler(api API, log *logging.Logger) func(request, int) response {
	return func(req request, uid int) response {
		segs, ok := splitPath(req.path)
		if !ok {
			return errorResponse(400, "malformed percent-escape in the path")
		}
		want := func(method string) (response, bool) {
			if req.method != method {
				return methodNotAllowed(method), false
			}
			return response{}, true
		}
		changes := func(what, name string) {
			log.Info("control: "+what, logging.String("service", name), logging.Int("uid", uid))
		}
		if len(segs) < 2 || segs[0] != "v1" {
			return errorResponse(404, "no route "+req.path+"; see docs/ctl.md")
		}
		switch {
		case len(segs) == 2 && segs[1] == "status":
			if r, ok := want("GET"); !ok {
				return r
			}
			b := []byte(`{"services":[`)
			for i, st := range api.Status() {
				if i > 0 {
					b = append(b, ',')
				}
				b = appendStatus(b, st)
			}
			return jsonResponse(200, append(b, "]}"...))

		case len(segs) == 2 && segs[1] == "reload":
			if r, ok := want("POST"); !ok {
				return r
			}
			changes("reload", "")
			if err := api.Reload(); err != nil {
				return apiError(err)
			}
			return jsonResponse(200, okBody)

		case len(segs) == 2 && segs[1] == "wait":
			if r, ok := want("GET"); !ok {
				return r
			}
			return waitRoute(api, req.query)

		case len(segs) == 3 && segs[1] == "services" && segs[2] != "":
			if r, ok := want("GET"); !ok {
				return r
			}
			for _, st := range api.Status() {
				if st.Name == segs[2] {
					return jsonResponse(200, appendStatus(nil, st))
				}
			}
			return apiError(fmt.Errorf("%w %q", ErrUnknownService, segs[2]))

		case len(segs) == 4 && segs[1] == "services" && segs[2] != "":
			name := segs[2]
			var err error
			switch segs[3] {
			case "start", "stop", "restart":
				if r, ok := want("POST"); !ok {
					return r
				}
				changes(segs[3], name)
				switch segs[3] {
				case "start":
					err = api.Start(name)
				case "stop":
					err = api.Stop(name)
				default:
					err = api.Restart(name)
				}
			case "signal":
				if r, ok := want("POST"); !ok {
					return r
				}
				v, found, ok := queryValue(req.query, "signal")
				if !ok || !found || v == "" {
					return errorResponse(400, "signal: want ?signal=NAME or NUMBER, e.g. ?signal=HUP")
				}
				sig, perr := signals.Parse(v)
				if perr != nil {
					return errorResponse(400, perr.Error())
				}
				changes("signal "+signals.Name(sig), name)
				err = api.Signal(name, sig)
			case "exec":
				if r, ok := want("POST"); !ok {
					return r
				}
				return execRoute(api, log, req, name, uid)
			case "logs":
				if r, ok := want("GET"); !ok {
					return r
				}
				n := defaultLogLines
				v, found, ok := queryValue(req.query, "lines")
				if !ok {
					return errorResponse(400, "malformed query")
				}
				if found {
					i, perr := strconv.Atoi(v)
					if perr != nil || i < 1 || i > maxLogLines {
						return errorResponse(400, "lines: want a number from 1 to "+strconv.Itoa(maxLogLines))
					}
					n = i
				}
				lines, lerr := api.Logs(name, n)
				if lerr != nil {
					return apiError(lerr)
				}
				b := []byte(`{"lines":[`)
				for i, l := range lines {
					if i > 0 {
						b = append(b, ',')
					}
					b = appendString(b, l)
				}
				return jsonResponse(200, append(b, "]}"...))
			default:
				return errorResponse(404, "no route "+req.path+"; see docs/ctl.md")
			}
			if err != nil {
				return apiError(err)
			}
			return jsonResponse(200, okBody)
		}
		return errorResponse(404, "no route "+req.path+"; see docs/ctl.md")
	}
}

// waitRoute answers GET /v1/wait?for=stopped|up&services=A,B[&timeout=D]:
// it holds the answer until the services reached the goal (200), or one
// cannot or the timeout passed (500, the message says which and why).
func waitRoute(api API, query string) response {
	goal, found, ok := queryValue(query, "for")
	if !ok || !found || (Goal(goal) != GoalStopped && Goal(goal) != GoalUp) {
		return errorResponse(400, "for: want stopped or up")
	}
	list, found, ok := queryValue(query, "services")
	if !ok || !found || list == "" {
		return errorResponse(400, "services: want one or more names, separated by commas")
	}
	var timeout time.Duration
	if v, found, ok := queryValue(query, "timeout"); !ok {
		return errorResponse(400, "malformed query")
	} else if found {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return errorResponse(400, "timeout: want a duration > 0, e.g. 30s")
		}
		timeout = d
	}
	if err := api.Wait(strings.Split(list, ","), Goal(goal), timeout); err != nil {
		return apiError(err)
	}
	return jsonResponse(200, okBody)
}
