package pkgcheck_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/pkgserver/pkgserver/internal/gitrepo/gittest"
	"github.com/pkgserver/pkgserver/internal/krm"
	"github.com/pkgserver/pkgserver/internal/pkgcheck"
	"github.com/pkgserver/pkgserver/internal/result"
	"github.com/pkgserver/pkgserver/internal/validate"
)

// withPipeline is the Kptfile of package nginx whose pipeline runs fn, a
// function of a Kptfile's pipeline.
func withPipeline(fn string) string {
	return gittest.Kptfile("nginx") + "pipeline:\n  mutators:\n" + fn
}

// setNamespace sets the namespace staging, as the kpt catalog's example.
const setNamespace = "  - image: gcr.io/kpt-fn/set-namespace:v0.4.1\n    configMap:\n      namespace: staging\n"

// renderedConfig is nginx's ConfigMap as setNamespace leaves it.
const renderedConfig = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: nginx\n  namespace: staging\ndata:\n  version: \"1\"\n"

// TestRendered: a package whose pipeline would change it gets a warning
// at the first line rendering changes, an error where the repository
// requires rendered packages; a rendered package gets none; a pipeline
// that cannot be rendered in process is told, never refused; a failing
// pipeline is a warning, or an error where rendered packages are required.
func TestRendered(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		files   map[string]string
		require bool
		want    string // the rendering finding as a line, "" for none
	}{
		{name: "not rendered", files: map[string]string{"nginx/Kptfile": withPipeline(setNamespace)},
			want: `nginx/config.yaml:5: warning: not rendered: rendering writes "namespace: staging" at this line (1 file to change); run ` +
				"`pkgserver fn render` or `kpt fn render` and push the result [render/not-rendered]"},
		{name: "not rendered, required", require: true, files: map[string]string{"nginx/Kptfile": withPipeline(setNamespace)},
			want: `nginx/config.yaml:5: error: not rendered: rendering writes "namespace: staging" at this line`},
		{name: "rendered", require: true, files: map[string]string{"nginx/Kptfile": withPipeline(setNamespace), "nginx/config.yaml": renderedConfig}},
		{name: "a file of no resources", files: map[string]string{"nginx/Kptfile": withPipeline(setNamespace), "nginx/config.yaml": renderedConfig,
			"nginx/a.yaml": "# nothing but a comment\n"}},
		{name: "no built-in", require: true, files: map[string]string{"nginx/Kptfile": withPipeline("  - image: gcr.io/kpt-fn/kubeval:v0.3.0\n")},
			want: "nginx/Kptfile: warning: rendering not checked: pipeline.mutators[0]: "},
		{name: "no built-in, not required", files: map[string]string{"nginx/Kptfile": withPipeline("  - image: gcr.io/kpt-fn/kubeval:v0.3.0\n")},
			want: "nginx/Kptfile: info: rendering not checked: "},
		{name: "exec", files: map[string]string{"nginx/Kptfile": withPipeline("  - exec: ./set-namespace\n")},
			want: "nginx/Kptfile: info: rendering not checked: pipeline.mutators[0]: exec \"./set-namespace\": exec functions are not allowed on this server"},
		{name: "failing", files: map[string]string{"nginx/Kptfile": withPipeline("  - image: gcr.io/kpt-fn/set-namespace:v0.4.1\n    configMap:\n      other: x\n")},
			want: `nginx/Kptfile:7: warning: the pipeline fails: function "gcr.io/kpt-fn/set-namespace:v0.4.1" failed: `},
		{name: "failing, required", require: true, files: map[string]string{"nginx/Kptfile": withPipeline("  - image: gcr.io/kpt-fn/set-namespace:v0.4.1\n    configMap:\n      other: x\n")},
			want: `nginx/Kptfile:7: error: the pipeline fails: `},
		{name: "no pipeline", require: true, files: map[string]string{"nginx/Kptfile": gittest.Kptfile("nginx") + "pipeline: {}\n"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newRepo(t)
			c := commit(r, tc.files)
			s := pkgcheck.New(validate.Config{Limits: krm.DefaultLimits()}).For(pkgcheck.Rules{RequireRendered: tc.require})
			rep, err := s.ValidateAt(context.Background(), open(t, r), c, c, []string{"nginx"})
			if err != nil {
				t.Fatal(err)
			}
			var got []result.Result
			for _, res := range rep.Results {
				if strings.HasPrefix(res.Check, "render/") {
					got = append(got, res)
				}
			}
			switch {
			case tc.want == "" && len(got) > 0:
				t.Fatalf("findings %+v, want none", got)
			case tc.want == "":
				return
			case len(got) != 1 || !strings.HasPrefix(validate.Line(got[0]), tc.want):
				t.Fatalf("findings %+v, want one starting %q", got, tc.want)
			}
			if wantAccept := got[0].Severity != result.Error; rep.Accept != wantAccept {
				t.Errorf("accept = %v, want %v", rep.Accept, wantAccept)
			}
			if !slices.Contains(rep.Lines, validate.Line(got[0])) {
				t.Errorf("lines %q do not tell the finding", rep.Lines)
			}
		})
	}
}
