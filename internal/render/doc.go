// Package render renders a kpt package in process, as `kpt fn render` does:
// it reads the package's resources with the annotations kpt gives
// functions, runs the Kptfile's pipeline (the mutators in order, then the
// validators on copies), and writes back only the files whose resources
// changed, keeping comments and formatting through kyaml. A failing function
// leaves the package untouched. Results come back as kpt's
// FunctionResultList (kpt.dev/v1).
//
// Functions run in process: an image is served by a built-in function when
// it names one of the catalog functions implemented here (set-namespace,
// set-labels and set-annotations, under gcr.io/kpt-fn/ or
// ghcr.io/kptdev/krm-functions-catalog/, any tag). There is no container
// runtime: any other image is an error naming it.
//
// This is kpt v1.0's reading of a package: the Kptfile is not among the
// resources a function sees, and a successful render writes no Rendered
// condition to the Kptfile. Subpackages, selectors and exclusions,
// configPath and exec functions are refused with ErrUnsupported rather than
// rendered differently from kpt.
package render
