// Package webhooks receives GitHub and GitLab webhooks: one URL per
// repository (/webhooks/github/{ns}/{repo}, /webhooks/gitlab/{ns}/{repo}), so
// the secret is known before the body is read; signatures and tokens
// checked in constant time; every accepted delivery stored durably, once
// per forge id, before it is acknowledged; then processed in the
// background, after a restart too, by the one replica of those sharing the
// database that claimed it. Payloads are hints: what they name is
// fetched from git, and the core never sees a forge type.
package webhooks
