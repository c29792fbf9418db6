// Package reconcile keeps the index in step with git. Every source of change
// — hooks, webhooks, polling, API writes — becomes a RefUpdate; the
// reconciler reads the refs' current values from git, compares them with
// the index, reads only what changed (refs whose target moved; on the
// branch, trees whose ids differ), derives the revisions of the packages
// concerned with package revision, and writes the index in one transaction.
// Work for one repository is serialized, different repositories proceed in
// parallel; replicas sharing one database sync a repository one at a time,
// under its lease, and poll it together as often as one would.
package reconcile
