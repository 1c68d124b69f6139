// Command edgeguard is the API security gateway.
//
//	edgeguard run [-c FILE]     serve (without -c: the embedded quickstart)
//	edgeguard validate -c FILE  check a config; print every problem as FILE:LINE:COL: field: message
//	edgeguard reload -c FILE    ask the running gateway (admin API of FILE) to reload; exit 1 if it refuses
//	edgeguard import kong [--allow-partial] [--target name=host:port ...] [-o out.yaml] FILE...
//	edgeguard version
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/edgeguard/edgeguard/cmd/edgeguard/kongimport"
	"github.com/edgeguard/edgeguard/cmd/edgeguard/quickstart"
	_ "github.com/edgeguard/edgeguard/filters/all"
	"github.com/edgeguard/edgeguard/proxy"
	"github.com/edgeguard/edgeguard/proxy/config"
	"github.com/edgeguard/edgeguard/proxy/config/confnode"
)

func main() {
	info, _ := debug.ReadBuildInfo()
	proxy.Version = buildVersion(proxy.Version, info)
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// buildVersion is the version to report: the one set with -ldflags
// (make build, the Dockerfile's VERSION build arg) or, for a plain go build
// or go install, the module version or VCS revision Go stamped into the
// binary (a "-dirty" suffix for uncommitted changes); "dev" when neither is
// known.
func buildVersion(ldflags string, info *debug.BuildInfo) string {
	if ldflags != "dev" || info == nil {
		return ldflags
	}
	if v := info.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev, dirty string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "-dirty"
			}
		}
	}
	if rev == "" {
		return ldflags
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	return rev + dirty
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage:
  edgeguard run [-c FILE]       serve; without -c, the embedded quickstart config
  edgeguard validate -c FILE    check a config file, print every problem
  edgeguard reload -c FILE      ask the running gateway to reload (its admin API, as configured in FILE)
  edgeguard import kong [--allow-partial] [--target name=host:port ...] [-o out.yaml] FILE...
                                translate Kong/Kubernetes manifests or kong.yml to an edgeguard config
  edgeguard version             print the version
`)
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	switch args[0] {
	case "version", "--version", "-v":
		if len(args) > 1 {
			return usageError(stderr, args[0], args[1:])
		}
		fmt.Fprintf(stdout, "edgeguard %s\n", proxy.Version)
		return 0
	case "validate":
		return cmdValidate(args[1:], stdout, stderr)
	case "reload":
		return cmdReload(args[1:], stdout, stderr)
	case "run":
		return cmdRun(args[1:], stdout, stderr)
	case "import":
		return kongimport.Command(args[1:], stdout, stderr)
	case "help", "-h", "--help":
		usage(stdout)
		return 0
	}
	fmt.Fprintf(stderr, "edgeguard: unknown command %q\n", args[0])
	usage(stderr)
	return 2
}

// usageError reports arguments a command does not take; exit code 2.
func usageError(stderr io.Writer, cmd string, extra []string) int {
	fmt.Fprintf(stderr, "edgeguard %s: unexpected argument %q\n", cmd, extra[0])
	usage(stderr)
	return 2
}

// fileFlag is a -c flag that may be given once: `-c a -c b` is refused
// instead of silently taking b.
type fileFlag struct {
	name string
	set  bool
}

func (f *fileFlag) String() string { return f.name }

func (f *fileFlag) Set(s string) error {
	if f.set {
		return fmt.Errorf("given more than once (%q, then %q)", f.name, s)
	}
	f.name, f.set = s, true
	return nil
}

// newFlags is a flag set for cmd with its -c flag.
func newFlags(cmd, usage string, stderr io.Writer) (*flag.FlagSet, *fileFlag) {
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := &fileFlag{}
	fs.Var(file, "c", usage)
	return fs, file
}

func loaderFor(file string) func() (*config.Config, *confnode.Errors) {
	if file == "" {
		return func() (*config.Config, *confnode.Errors) { return config.Parse(quickstart.File, quickstart.Config) }
	}
	return func() (*config.Config, *confnode.Errors) { return config.Load(file) }
}

func cmdValidate(args []string, stdout, stderr io.Writer) int {
	fs, file := newFlags("validate", "config `FILE`", stderr)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		return usageError(stderr, "validate", fs.Args())
	}
	if file.name == "" {
		fmt.Fprintln(stderr, "edgeguard validate: -c FILE is required")
		return 2
	}
	if err := proxy.Check(loaderFor(file.name)); err != nil {
		printConfigErrors(stderr, err)
		return 1
	}
	fmt.Fprintf(stdout, "%s: ok\n", file.name)
	return 0
}

// cmdReload asks the gateway serving FILE to reload its configuration:
// POST /reload on the admin address of FILE with its admin.token. Exit 0
// when the gateway took the new configuration, 1 when it refused it (its
// errors are printed; the previous configuration keeps serving), when FILE
// itself cannot be loaded, or when the admin API cannot be reached.
//
// The gateway reloads the file it was started with; FILE only tells where
// its admin API is, so it should be that same file. A changed admin.listen
// needs a restart, and a changed admin.token is refused (401: the gateway
// still checks the old one); send SIGHUP for that reload.
func cmdReload(args []string, stdout, stderr io.Writer) int {
	fs, file := newFlags("reload", "config `FILE` of the running gateway", stderr)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		return usageError(stderr, "reload", fs.Args())
	}
	if file.name == "" {
		fmt.Fprintln(stderr, "edgeguard reload: -c FILE is required")
		return 2
	}
	cfg, errs := loaderFor(file.name)()
	if errs != nil {
		printConfigErrors(stderr, errs)
		return 1
	}
	addr, err := adminDialAddr(cfg.Admin.Listen)
	if err != nil {
		fmt.Fprintf(stderr, "edgeguard reload: %v\n", err)
		return 1
	}
	req, err := http.NewRequest("POST", "http://"+addr+"/reload", nil)
	if err != nil {
		fmt.Fprintf(stderr, "edgeguard reload: %v\n", err)
		return 1
	}
	if cfg.Admin.Token != "" {
		req.Header.Set("Authorization", "Bearer "+cfg.Admin.Token)
	}
	// No HTTP_PROXY: the token goes to the admin API only.
	client := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{Proxy: nil}}
	res, err := client.Do(req)
	if err != nil {
		fmt.Fprintf(stderr, "edgeguard reload: cannot reach the admin API: %v\n", err)
		return 1
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	var answer struct {
		Message string   `json:"message"`
		Errors  []string `json:"errors"`
		Restart []string `json:"restart_needed"`
	}
	json.Unmarshal(body, &answer)
	if res.StatusCode == http.StatusOK {
		fmt.Fprintf(stdout, "%s: %s\n", addr, answer.Message)
		for _, f := range answer.Restart {
			fmt.Fprintf(stdout, "restart needed for %s\n", f)
		}
		return 0
	}
	if answer.Message == "" {
		answer.Message = string(body)
	}
	fmt.Fprintf(stderr, "edgeguard reload: %s answered %s: %s\n", addr, res.Status, answer.Message)
	for _, e := range answer.Errors {
		fmt.Fprintln(stderr, e)
	}
	return 1
}

// adminDialAddr is the address to call the admin API listening on listen:
// a wildcard host (0.0.0.0, [::] or none) is called on loopback.
func adminDialAddr(listen string) (string, error) {
	if listen == "off" {
		return "", errors.New("the admin API is off (admin.listen: off); send SIGHUP to reload")
	}
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", fmt.Errorf("admin.listen: %w", err)
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return net.JoinHostPort(host, port), nil
}

func printConfigErrors(w io.Writer, err error) {
	var es *confnode.Errors
	if errors.As(err, &es) {
		for _, e := range es.List {
			fmt.Fprintln(w, e.Error())
		}
		return
	}
	fmt.Fprintln(w, err)
}

var demoToken string

func cmdRun(args []string, stdout, stderr io.Writer) int {
	fs, fileFl := newFlags("run", "config `FILE` (default: the embedded quickstart)", stderr)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		return usageError(stderr, "run", fs.Args())
	}
	file := &fileFl.name
	log := slog.New(slog.NewJSONHandler(stderr, nil))
	if *file == "" {
		addr, stop, err := quickstart.StartDemoUpstream()
		if err != nil {
			fmt.Fprintf(stderr, "edgeguard: cannot start the demo upstream: %v\n", err)
			return 1
		}
		defer stop()
		os.Setenv("EDGEGUARD_DEMO_UPSTREAM", addr)
		secret, tok, err := quickstart.DemoToken()
		if err != nil {
			fmt.Fprintf(stderr, "edgeguard: cannot make the demo token: %v\n", err)
			return 1
		}
		os.Setenv("EDGEGUARD_DEMO_SECRET", secret)
		demoToken = tok
	}
	g, err := proxy.New(proxy.Options{Logger: log, Loader: loaderFor(*file)})
	if err != nil {
		printConfigErrors(stderr, err)
		return 1
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT, syscall.SIGUSR1)
	// A reader of stdout or stderr that goes away (a log shipper's pipe)
	// must not kill the gateway: Go's default for a broken pipe on fd 1 or
	// 2 is to die of SIGPIPE. Ignored, the write returns EPIPE, which the
	// access log counts as a write error.
	signal.Ignore(syscall.SIGPIPE)
	done := make(chan error, 1)
	go func() { done <- g.Serve() }()
	select {
	case <-g.Ready():
	case err := <-done:
		fmt.Fprintf(stderr, "edgeguard: %v\n", err)
		return 1
	}
	if *file == "" {
		cfg := g.Config()
		h, a := cfg.Listen.HTTP, cfg.Admin.Listen
		fmt.Fprintf(stderr, `
edgeguard quickstart is running (embedded config, demo upstream). Try:

  curl -i http://%[1]s/v1/hello

  # JWT: the demo token (valid 24h); the backend receives X-User-ID etc., never a client's own copy
  TOKEN=%[3]s
  curl -i -H "Authorization: Bearer $TOKEN" -H "X-User-ID: admin" http://%[1]s/v1/me
  curl -i http://%[1]s/v1/me                                   # 401

  # the article's JSON Schema
  curl -i -X POST -H 'Content-Type: application/json' -d '{"name":"Ada","email":"ada@example.com"}' http://%[1]s/v1/users
  curl -i -X POST -H 'Content-Type: application/json' -d '{"name":"Ada","email":"ada@example.com","phone":"call me"}' http://%[1]s/v1/users   # 400

  # rate limit 5/s per client: the 6th request within a second gets 429
  for i in 1 2 3 4 5 6 7; do curl -s -o /dev/null -w '%%{http_code} ' http://%[1]s/v1/hello; done; echo

  # bots, dynamic blocks, metrics
  curl -i -A python-requests/2.31 http://%[1]s/v1/hello          # 403
  curl -X POST http://%[2]s/blocklist -d '{"ip":"192.0.2.1","ttl":"1h","reason":"demo"}'
  curl http://%[2]s/blocklist    curl http://%[2]s/status    curl http://%[2]s/metrics

stop: Ctrl-C
`, h, a, demoToken)
	}
	for {
		select {
		case err := <-done:
			if err != nil {
				fmt.Fprintf(stderr, "edgeguard: %v\n", err)
				return 1
			}
			return 0
		case s := <-sigs:
			switch s {
			case syscall.SIGHUP:
				if _, err := g.Reload(); err != nil {
					log.Error("reload rejected; the previous configuration keeps serving", "errors", err.Error())
				}
			case syscall.SIGUSR1:
				g.ReopenLogs()
			default:
				log.Info("shutting down", "signal", s.String())
				if err := g.Shutdown(); err != nil {
					log.Error("shutdown", "err", err)
				}
				<-done
				return 0
			}
		}
	}
}
