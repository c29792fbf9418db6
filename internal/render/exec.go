package render

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"sigs.k8s.io/kustomize/kyaml/fn/framework"
	"sigs.k8s.io/kustomize/kyaml/fn/runtime/runtimeutil"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// execPath is the whole environment of an exec function: no variable of
// the caller reaches it.
const execPath = "PATH=/usr/bin:/bin"

// execFunc is an `exec:` function: a program run with the ResourceList on
// its standard input, writing the ResourceList out on its standard output.
type execFunc struct {
	path    string
	args    []string
	timeout time.Duration
}

// newExecFunc splits an exec command as kpt does (shell words: quotes,
// backslash escapes, a # comment) and finds its program: a path with a
// slash is taken relative to the current directory, a bare name is looked
// up in PATH.
func newExecFunc(command string, timeout time.Duration) (*execFunc, error) {
	words, err := splitWords(command)
	if err != nil {
		return nil, fmt.Errorf("exec command %q must be valid: %w", command, err)
	}
	if len(words) == 0 {
		return nil, fmt.Errorf("exec command %q names no program", command)
	}
	prog := words[0]
	if strings.ContainsRune(prog, '/') {
		prog, err = filepath.Abs(prog)
	} else {
		prog, err = exec.LookPath(prog)
	}
	if err != nil {
		return nil, fmt.Errorf("exec %q: %w", command, err)
	}
	return &execFunc{path: prog, args: words[1:], timeout: timeout}, nil
}

// execError is an exec function that failed: it exited non-zero, or was
// killed when its time ran out.
type execError struct {
	code     int
	timedOut time.Duration
	stderr   string
}

func (e *execError) Error() string {
	if e.timedOut > 0 {
		return fmt.Sprintf("the function did not finish within %s and was killed", e.timedOut)
	}
	msg := fmt.Sprintf("the function exited with status %d", e.code)
	if line := lastLine(e.stderr); line != "" {
		msg += ": " + line
	}
	return msg
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// filter runs the function over items as kpt's function runner does
// (kyaml's FunctionFilter, over all items), recording its standard error,
// exit status and structured results in res.
func (e *execFunc) filter(ctx context.Context, config *yaml.RNode, items []*yaml.RNode, res *FunctionResult) ([]*yaml.RNode, error) {
	var stderr bytes.Buffer
	ff := &runtimeutil.FunctionFilter{
		Run: func(r io.Reader, w io.Writer) error {
			return e.run(ctx, r, w, &stderr)
		},
		FunctionConfig: config,
		GlobalScope:    true,
	}
	out, err := ff.Filter(items)
	res.Stderr = stderr.String()
	if rerr := parseResults(ff.Results, res); rerr != nil && err == nil {
		err = rerr
	}
	var ee *execError
	if errors.As(err, &ee) {
		res.ExitCode = ee.code
		if ee.timedOut > 0 {
			res.Results = append(res.Results, &framework.Result{Message: ee.Error(), Severity: framework.Error})
		}
	}
	return out, err
}

// run runs the program once, in a new empty directory that is removed
// afterwards, with nothing of the caller's environment, killed with its
// whole process group when its time runs out.
func (e *execFunc) run(parent context.Context, stdin io.Reader, stdout io.Writer, stderr *bytes.Buffer) error {
	dir, err := os.MkdirTemp("", "pkgserver-fn-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(parent, e.timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, e.path, e.args...)
	cmd.Dir = dir
	cmd.Env = []string{execPath}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, stderr
	cmd.WaitDelay = time.Second
	isolate(cmd)
	err = cmd.Run()
	killGroup(cmd)
	if err == nil {
		return nil
	}
	if perr := parent.Err(); perr != nil {
		return perr
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return &execError{code: 1, timedOut: e.timeout, stderr: stderr.String()}
	}
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		code := exit.ExitCode()
		if code <= 0 {
			code = 1
		}
		return &execError{code: code, stderr: stderr.String()}
	}
	return fmt.Errorf("run %s: %w", e.path, err)
}

// parseResults reads the results of a function's output ResourceList into
// res, in either of the forms kpt reads: a list of results, or one wrapped
// in items.
func parseResults(n *yaml.RNode, res *FunctionResult) error {
	if n.IsNilOrEmpty() {
		return nil
	}
	if n.YNode().Kind == yaml.MappingNode {
		if items := n.Field("items"); items != nil && !items.Value.IsNilOrEmpty() {
			n = items.Value
		}
	}
	s, err := n.String()
	if err != nil {
		return err
	}
	var results framework.Results
	if err := yaml.Unmarshal([]byte(s), &results); err != nil {
		return fmt.Errorf("the function's results: %w", err)
	}
	res.Results = append(res.Results, results...)
	return nil
}

// splitWords splits a command line into words as a POSIX shell would
// without expanding anything: blanks separate words, single quotes keep
// everything, double quotes keep everything but a backslash escape, a
// backslash outside quotes escapes the next character, and a # starting a
// word begins a comment.
func splitWords(s string) ([]string, error) {
	var words []string
	var word strings.Builder
	inWord := false
	rs := []rune(s)
	for i := 0; i < len(rs); i++ {
		c := rs[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			if inWord {
				words, inWord = append(words, word.String()), false
				word.Reset()
			}
		case c == '#' && !inWord:
			return words, nil
		case c == '\\':
			if i+1 >= len(rs) {
				return nil, errors.New("EOF found after escape character")
			}
			i++
			word.WriteRune(rs[i])
			inWord = true
		case c == '\'' || c == '"':
			end, err := quoted(rs, i, &word)
			if err != nil {
				return nil, err
			}
			i, inWord = end, true
		default:
			word.WriteRune(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, word.String())
	}
	return words, nil
}

// quoted copies the quoted text starting at rs[start] into word and
// returns the index of its closing quote.
func quoted(rs []rune, start int, word *strings.Builder) (int, error) {
	q := rs[start]
	for i := start + 1; i < len(rs); i++ {
		switch {
		case rs[i] == q:
			return i, nil
		case q == '"' && rs[i] == '\\' && i+1 < len(rs):
			i++
			word.WriteRune(rs[i])
		default:
			word.WriteRune(rs[i])
		}
	}
	return 0, errors.New("EOF found when expecting closing quote")
}
