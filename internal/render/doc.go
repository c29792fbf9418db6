// Package render renders a kpt package in process, as `kpt fn render` does.
// It reads the package and, recursively, its subpackages (directories
// holding a Kptfile), each resource annotated as kpt annotates it for
// functions: its file relative to its package and the package's directory.
// Subpackages render first, depth first: each one's pipeline over its own
// resources and its subpackages' rendered ones, then the package's pipeline
// over its resources and all of its subpackages'. A pipeline runs its
// mutators in order, each over the resources its selectors pick and its
// exclusions leave, its output merged back as kpt merges it, then its
// validators on copies. The functionConfig comes from a configMap or from
// the package file a configPath names. The files whose resources changed
// are written back, keeping comments and formatting through kyaml; a file
// whose every resource was removed is deleted; a resource a function
// created goes where kyaml's default path puts it, in the package whose
// pipeline created it. A failure anywhere leaves every file of the tree
// untouched. Results come back as kpt's FunctionResultList (kpt.dev/v1),
// every function that ran in kpt's order.
//
// Image functions run in process: an image is served by a built-in function
// when it names one of the catalog functions implemented here, under
// gcr.io/kpt-fn/ or ghcr.io/kptdev/krm-functions-catalog/, any tag. There is
// no container runtime: any other image is an error naming it. As kpt's
// function runner does, the comments and field order of what a built-in
// returns are restored from its input. Exec functions run as processes
// only where Options allow them, in an empty temporary directory, with no
// variable of the caller's environment, killed with their process group
// when their time runs out.
//
// This is kpt v1.0's reading of a package: the Kptfile is not among the
// resources a function sees, and a successful render writes no Rendered
// condition to the Kptfile.
package render
