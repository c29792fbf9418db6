package main

import (
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/pkgserver/pkgserver/test/bench/benchutil"
)

// setSecret stores the webhook secret the repository will name.
func setSecret(pkgserver, dataDir, name, secret string) {
	f := filepath.Join(dataDir, "..", name+".secret")
	if err := os.WriteFile(f, []byte(secret), 0o600); err != nil {
		log.Fatal(err)
	}
	out, err := exec.Command(pkgserver, "secret", "set", name, "--token-file", f, "--data", dataDir).CombinedOutput()
	if err != nil {
		log.Fatalf("secret set: %v\n%s", err, out)
	}
}

// register creates the github repository the deliveries are for and
// waits for its first sync, so that the pushes find it indexed.
func register(s *benchutil.Server, name, gitURL, secretName, apiURL string) {
	s.Register(name, map[string]any{
		"provider":      "github",
		"git":           map[string]any{"url": gitURL},
		"webhookSecret": secretName,
		"github":        map[string]any{"owner": "acme", "repo": "blueprints", "baseURL": apiURL},
	}, 2*time.Minute)
}
