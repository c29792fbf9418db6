package benchutil

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// WaitReady polls base/readyz until it answers 200, for at most timeout.
func WaitReady(c *http.Client, base string, timeout time.Duration) error {
	for deadline := time.Now().Add(timeout); ; time.Sleep(50 * time.Millisecond) {
		resp, err := c.Get(base + "/readyz")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the server is not ready after %s", timeout)
		}
	}
}

// AdminToken reads the token `pkgserver serve` wrote into its data
// directory.
func AdminToken(dataDir string) (string, error) {
	tok, err := os.ReadFile(filepath.Join(dataDir, "admin.token"))
	return strings.TrimSpace(string(tok)), err
}

// LoadAvg is the machine's load average over 1, 5 and 15 minutes.
func LoadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// ParseLogLine splits a log line of `key=value key="quoted value"` into a
// map.
func ParseLogLine(line string) map[string]string {
	attrs := map[string]string{}
	for line != "" {
		line = strings.TrimLeft(line, " ")
		key, rest, ok := strings.Cut(line, "=")
		if !ok {
			break
		}
		var value string
		if strings.HasPrefix(rest, `"`) {
			end := 1
			for end < len(rest) && (rest[end] != '"' || rest[end-1] == '\\') {
				end++
			}
			if end < len(rest) {
				end++
			}
			value = rest[:end]
			if u, err := strconv.Unquote(value); err == nil {
				value = u
			}
			rest = rest[end:]
		} else {
			value, rest, _ = strings.Cut(rest, " ")
		}
		attrs[key] = value
		line = rest
	}
	return attrs
}
