// Command kubectl is the real kubectl, built from the k8s.io/kubectl module
// at the version this module pins, so the end-to-end test drives pkgserver
// with exactly the client its users run. It starts kubectl as
// kubernetes/cmd/kubectl/kubectl.go does.
package main

import (
	"k8s.io/component-base/cli"
	"k8s.io/kubectl/pkg/cmd"
	"k8s.io/kubectl/pkg/cmd/util"

	// The client auth plugins are registered as in the released binary.
	_ "k8s.io/client-go/plugin/pkg/client/auth"
)

func main() {
	command := cmd.NewDefaultKubectlCommand()
	if err := cli.RunNoErrOutput(command); err != nil {
		util.CheckErr(err)
	}
}
