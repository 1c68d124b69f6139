package kongimport

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// Usage is the command line of Command.
const Usage = "edgeguard import kong [--allow-partial] [--target name=host:port ...] [-o out.yaml] FILE..."

type targetFlag map[string]string

func (t targetFlag) String() string { return "" }

func (t targetFlag) Set(v string) error {
	name, addr, ok := strings.Cut(v, "=")
	if !ok || name == "" || !validTarget(addr) {
		return fmt.Errorf("want name=host:port, got %q", v)
	}
	t[name] = addr
	return nil
}

// Command runs `edgeguard import ARGS` (args start after "import"). It
// writes the config to stdout or -o, the report to stderr, and returns the
// exit status: 0 when everything was translated (or --allow-partial), 1
// when something was not (nothing is written then), 2 for usage errors.
func Command(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "kong" {
		fmt.Fprintf(stderr, "usage: %s\n", Usage)
		return 2
	}
	fs := flag.NewFlagSet("import kong", flag.ContinueOnError)
	fs.SetOutput(stderr)
	allowPartial := fs.Bool("allow-partial", false, "write the config even when parts could not be translated")
	out := fs.String("o", "", "write the config to this file (default stdout)")
	targets := targetFlag{}
	fs.Var(targets, "target", "name=host:port: the address of a service (repeatable)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: %s\n", Usage)
		fs.PrintDefaults()
	}
	var files []string
	rest := args[1:]
	for {
		if err := fs.Parse(rest); err != nil {
			return 2
		}
		rest = fs.Args()
		for len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
			files = append(files, rest[0])
			rest = rest[1:]
		}
		if len(rest) == 0 {
			break
		}
	}
	if len(files) == 0 {
		fmt.Fprintln(stderr, "edgeguard import kong: no input files")
		fs.Usage()
		return 2
	}
	var srcs []Source
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			fmt.Fprintf(stderr, "edgeguard import kong: %v\n", err)
			return 2
		}
		srcs = append(srcs, Source{Name: f, Data: data})
	}
	res, err := Import(srcs, Options{Targets: targets})
	if err != nil {
		fmt.Fprintf(stderr, "edgeguard import kong: %v\n", err)
		return 2
	}
	WriteReport(stderr, res)
	if res.Partial() && !*allowPartial {
		fmt.Fprintf(stderr, "edgeguard import kong: %d part(s) not translated; nothing written (rerun with --allow-partial to write the config anyway)\n", len(res.Untranslated))
		return 1
	}
	if *out == "" {
		stdout.Write(res.Config)
		return 0
	}
	// 0600: imported consumers may carry secrets inline.
	if err := os.WriteFile(*out, res.Config, 0o600); err != nil {
		fmt.Fprintf(stderr, "edgeguard import kong: %v\n", err)
		return 2
	}
	fmt.Fprintf(stderr, "edgeguard import kong: wrote %s\n", *out)
	return 0
}

// WriteReport prints the untranslated parts and the notes of res.
func WriteReport(w io.Writer, res *Result) {
	if len(res.Untranslated) > 0 {
		fmt.Fprintf(w, "not translated (%d):\n", len(res.Untranslated))
		for _, p := range res.Untranslated {
			fmt.Fprintf(w, "  %s\n", p)
		}
	}
	if len(res.Notes) > 0 {
		fmt.Fprintf(w, "notes (%d):\n", len(res.Notes))
		for _, p := range res.Notes {
			fmt.Fprintf(w, "  %s\n", p)
		}
	}
}
