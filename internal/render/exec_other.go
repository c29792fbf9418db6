//go:build !unix

package render

import "os/exec"

// isolate does nothing where there are no process groups: a timeout kills
// the program alone.
func isolate(*exec.Cmd) {}

func killGroup(*exec.Cmd) {}
