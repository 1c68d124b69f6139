package kongimport

import (
	"os"
	"path/filepath"
	"testing"

	"gopkg.in/yaml.v3"
)

// FuzzImport feeds arbitrary manifests to the reader. It must never panic,
// every problem must name its file, the output must be YAML, and when
// nothing is reported as untranslated edgeguard must accept the output.
func FuzzImport(f *testing.F) {
	files, _ := filepath.Glob("testdata/*/*.y*ml")
	for _, file := range files {
		if data, err := os.ReadFile(file); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte("kind: Ingress\nmetadata: {name: x}\nspec: {rules: [{http: {paths: [{backend: {service: {name: s, port: {number: 1}}}}]}}]}\n"))
	f.Add([]byte("_format_version: '3.0'\nservices: [{name: a, url: 'http://a:1', routes: [{paths: ['/']}]}]\n"))
	f.Add([]byte("a: &x [*x]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		res, err := Import([]Source{{Name: "in.yaml", Data: data}}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range append(res.Untranslated, res.Notes...) {
			if p.File == "" || p.Msg == "" {
				t.Fatalf("problem without file or message: %+v", p)
			}
		}
		var n yaml.Node
		if err := yaml.Unmarshal(res.Config, &n); err != nil {
			t.Fatalf("output is not YAML: %v\n%s", err, res.Config)
		}
		if !res.Partial() {
			if errs := Validate(res.Config); len(errs) > 0 {
				t.Fatalf("complete import that edgeguard rejects: %v\n%s", errs[0], res.Config)
			}
		}
	})
}
