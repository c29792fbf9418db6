// Package apis holds the types of pkgserver's HTTP API, in the Kubernetes
// style: config.pkg.pkgserver.dev/v1alpha1 (Repository) and
// pkg.pkgserver.dev/v1alpha1 (PackageRevision, PackageRevisionResources).
package apis
