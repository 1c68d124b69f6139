// Command edgeguard is the API security gateway.
//
//	edgeguard run [-c FILE]     serve (without -c: the embedded quickstart)
//	edgeguard validate -c FILE  check a config; print every problem as FILE:LINE:COL: field: message
//	edgeguard import kong [--allow-partial] [--target name=host:port ...] [-o out.yaml] FILE...
//	edgeguard version
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/edgeguard/edgeguard/cmd/edgeguard/kongimport"
	"github.com/edgeguard/edgeguard/cmd/edgeguard/quickstart"
	_ "github.com/edgeguard/edgeguard/filters/all"
	"github.com/edgeguard/edgeguard/proxy"
	"github.com/edgeguard/edgeguard/proxy/config"
	"github.com/edgeguard/edgeguard/proxy/config/confnode"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage:
  edgeguard run [-c FILE]       serve; without -c, the embedded quickstart config
  edgeguard validate -c FILE    check a config file, print every problem
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
		fmt.Fprintf(stdout, "edgeguard %s\n", proxy.Version)
		return 0
	case "validate":
		return cmdValidate(args[1:], stdout, stderr)
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

func loaderFor(file string) func() (*config.Config, *confnode.Errors) {
	if file == "" {
		return func() (*config.Config, *confnode.Errors) { return config.Parse(quickstart.File, quickstart.Config) }
	}
	return func() (*config.Config, *confnode.Errors) { return config.Load(file) }
}

func cmdValidate(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("c", "", "config file")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *file == "" {
		fmt.Fprintln(stderr, "edgeguard validate: -c FILE is required")
		return 2
	}
	if err := proxy.Check(loaderFor(*file)); err != nil {
		printConfigErrors(stderr, err)
		return 1
	}
	fmt.Fprintf(stdout, "%s: ok\n", *file)
	return 0
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
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("c", "", "config file (default: the embedded quickstart)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
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
				if err := g.Reload(); err != nil {
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
