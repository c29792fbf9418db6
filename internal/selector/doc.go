// Package selector parses the label and field selectors of list and watch
// requests, in the Kubernetes syntax, within the bounds the API documents:
// what reaches the index from a query string is parsed here, in one place,
// and nowhere else. It depends on the selector packages of apimachinery
// only, so that its fuzz targets build quickly.
package selector
