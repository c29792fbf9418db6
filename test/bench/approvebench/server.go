package main

const (
	revisionsPath = "/apis/pkg.pkgserver.dev/v1alpha1/namespaces/default/packagerevisions"
	resourcesPath = "/apis/pkg.pkgserver.dev/v1alpha1/namespaces/default/packagerevisionresources"
)
