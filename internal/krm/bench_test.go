package krm

import (
	"strings"
	"testing"
)

// BenchmarkParseAndConvert is the cost of reading a file of 20 resources.
func BenchmarkParseAndConvert(b *testing.B) {
	doc := `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, labels: {app: web}}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: nginx:1.27
        ports: [{name: http, containerPort: 8080}]
        resources: {requests: {cpu: 250m, memory: 256Mi}}
`
	data := []byte(strings.Repeat(doc+"---\n", 20))
	limits := DefaultLimits()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		docs, problems := ParseDocuments(data, limits)
		if len(problems) > 0 || len(docs) != 20 {
			b.Fatal(problems)
		}
		for _, d := range docs {
			if _, err := ToObject(d.Node); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkBillionLaughs is the cost of refusing an alias bomb of 387
// million nodes: it must not depend on the expanded size.
func BenchmarkBillionLaughs(b *testing.B) {
	data := []byte(billionLaughs)
	limits := DefaultLimits()
	b.ReportAllocs()
	for b.Loop() {
		if docs, problems := ParseDocuments(data, limits); len(docs) != 0 || len(problems) != 1 {
			b.Fatal(problems)
		}
	}
}
