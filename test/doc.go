// Package test holds pkgserver's end-to-end tests: the corpus of bad
// packages with their expected findings, command-line scripts run against
// the real binary, and (in bench/) the benchmarks and their data generators.
package test
