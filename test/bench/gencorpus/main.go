// Command gencorpus writes a corpus of KRM packages for benchmarking
// validation: P packages of about 21 resources each — Deployments,
// StatefulSets, Services, ConfigMaps, Secrets, RBAC, autoscalers, disruption
// budgets, Ingresses, and custom resources of three CRDs — one resource per
// file, with a small share of resources carrying one schema defect each.
//
// Layout of -out:
//
//	pkgs/<name>/Kptfile, pkgs/<name>/*.yaml   the packages
//	crds/*.yaml                               the CRDs of the custom resources
//	defects.tsv                               file, field and kind of each defect
package main

import (
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
)

func main() {
	out := flag.String("out", "corpus", "directory to write")
	packages := flag.Int("packages", 500, "number of packages")
	defectRate := flag.Float64("defects", 0.02, "share of resources given a schema defect")
	seed := flag.Uint64("seed", 1, "random seed")
	flag.Parse()
	g := &gen{out: *out, rng: rand.New(rand.NewPCG(*seed, *seed)), defectRate: *defectRate}
	if err := os.RemoveAll(*out); err != nil {
		log.Fatal(err)
	}
	g.write("crds/databases.yaml", databaseCRD)
	g.write("crds/queues.yaml", queueCRD)
	g.write("crds/caches.yaml", cacheCRD)
	for i := range *packages {
		g.pkg(fmt.Sprintf("svc-%04d", i))
	}
	var defects strings.Builder
	for _, d := range g.defects {
		defects.WriteString(d + "\n")
	}
	g.write("defects.tsv", defects.String())
	fmt.Printf("wrote %s: %d packages, %d resources, %d defects\n", *out, *packages, g.resources, len(g.defects))
}

type gen struct {
	out        string
	rng        *rand.Rand
	defectRate float64
	resources  int
	defects    []string
}

func (g *gen) write(name, data string) {
	p := filepath.Join(g.out, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		log.Fatal(err)
	}
}

// defect is one way to break a resource's schema: a text replacement and
// the field the finding names.
type defect struct {
	name, from, to, field string
}

func (g *gen) resource(pkg, file, doc string, defects ...defect) {
	g.resources++
	if len(defects) > 0 && g.rng.Float64() < g.defectRate {
		d := defects[g.rng.IntN(len(defects))]
		if !strings.Contains(doc, d.from) {
			log.Fatalf("%s/%s: defect %s does not apply", pkg, file, d.name)
		}
		doc = strings.Replace(doc, d.from, d.to, 1)
		g.defects = append(g.defects, fmt.Sprintf("pkgs/%s/%s\t%s\t%s", pkg, file, d.field, d.name))
	}
	g.write(filepath.Join("pkgs", pkg, file), doc)
}

func (g *gen) pkg(name string) {
	g.write(filepath.Join("pkgs", name, "Kptfile"), fmt.Sprintf(kptfile, name, name))
	workloadDefects := []defect{
		{"unknown-field", "  replicas: ", "  replica: ", "spec.replica"},
		{"wrong-type", "containerPort: 8080", `containerPort: "8080"`, "spec.template.spec.containers[0].ports[0].containerPort"},
		{"unknown-nested-field", "        imagePullPolicy: IfNotPresent", "        imagePullPolicyy: IfNotPresent", "spec.template.spec.containers[0].imagePullPolicyy"},
	}
	for i := range 2 {
		app := fmt.Sprintf("%s-api-%d", name, i)
		g.resource(name, fmt.Sprintf("deployment-%d.yaml", i), fmt.Sprintf(deployment, app, g.rng.IntN(5)+1, app, app, app, g.rng.IntN(20), app), workloadDefects...)
		g.resource(name, fmt.Sprintf("service-%d.yaml", i), fmt.Sprintf(service, app, app),
			defect{"wrong-type", "port: 80", "port: http", "spec.ports[0].port"})
	}
	db := name + "-db"
	g.resource(name, "statefulset.yaml", fmt.Sprintf(statefulset, db, db, db, db, db), workloadDefects[:2]...)
	for i := range 5 {
		g.resource(name, fmt.Sprintf("configmap-%d.yaml", i), fmt.Sprintf(configmap, name, i, g.rng.IntN(1000), name),
			defect{"unknown-field", "\ndata:\n", "\ndatas:\n", "datas"})
	}
	g.resource(name, "secret.yaml", fmt.Sprintf(secret, name),
		defect{"wrong-format", "cGFzc3dvcmQ=", "not base64!", "data.password"})
	g.resource(name, "serviceaccount.yaml", fmt.Sprintf(serviceaccount, name))
	g.resource(name, "role.yaml", fmt.Sprintf(role, name),
		defect{"wrong-type", "verbs: [get, list, watch]", "verbs: get", "rules[0].verbs"})
	g.resource(name, "rolebinding.yaml", fmt.Sprintf(rolebinding, name, name, name),
		defect{"missing-required", "  kind: Role\n", "", "roleRef.kind"})
	g.resource(name, "hpa.yaml", fmt.Sprintf(hpa, name, name),
		defect{"wrong-type", "maxReplicas: 10", "maxReplicas: ten", "spec.maxReplicas"})
	g.resource(name, "pdb.yaml", fmt.Sprintf(pdb, name, name))
	g.resource(name, "ingress.yaml", fmt.Sprintf(ingress, name, name, name))
	crDefects := []defect{
		{"enum", `engine: postgres`, `engine: oracle`, "spec.engine"},
		{"minimum", "replicas: 3", "replicas: 0", "spec.replicas"},
		{"unknown-field", "  storage:", "  storag:", "spec.storag"},
	}
	for i := range 2 {
		g.resource(name, fmt.Sprintf("database-%d.yaml", i), fmt.Sprintf(database, name, i), crDefects...)
	}
	g.resource(name, "queue.yaml", fmt.Sprintf(queue, name),
		defect{"pattern", "retention: 7d", "retention: a week", "spec.retention"})
	g.resource(name, "cache.yaml", fmt.Sprintf(cache, name),
		defect{"wrong-type", "memoryMiB: 512", "memoryMiB: lots", "spec.memoryMiB"})
}

const kptfile = `apiVersion: kpt.dev/v1
kind: Kptfile
metadata:
  name: %s
  annotations:
    config.kubernetes.io/local-config: "true"
info:
  description: The %s service and its dependencies.
pipeline:
  mutators:
  - image: ghcr.io/kptdev/krm-functions-catalog/set-namespace:v0.4.1
    configMap:
      namespace: shop
`

const deployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: %s
  labels:
    app.kubernetes.io/name: api
    app.kubernetes.io/part-of: shop
spec:
  replicas: %d
  revisionHistoryLimit: 5
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxSurge: 25%%
      maxUnavailable: 0
  selector:
    matchLabels:
      app: %s
  template:
    metadata:
      labels:
        app: %s
      annotations:
        prometheus.io/scrape: "true"
    spec:
      serviceAccountName: %s
      securityContext:
        runAsNonRoot: true
        fsGroup: 2000
      containers:
      - name: api
        image: registry.example.com/shop/api:1.%d.0
        imagePullPolicy: IfNotPresent
        args: ["--port=8080", "--log-level=info"]
        ports:
        - name: http
          containerPort: 8080
          protocol: TCP
        env:
        - name: DATABASE_URL
          valueFrom:
            secretKeyRef:
              name: %s-credentials
              key: url
        - name: GOMAXPROCS
          value: "2"
        resources:
          requests:
            cpu: 250m
            memory: 256Mi
          limits:
            memory: 512Mi
        readinessProbe:
          httpGet:
            path: /ready
            port: http
          periodSeconds: 5
        livenessProbe:
          httpGet:
            path: /healthz
            port: 8080
          initialDelaySeconds: 10
        securityContext:
          allowPrivilegeEscalation: false
          readOnlyRootFilesystem: true
          capabilities:
            drop: [ALL]
        volumeMounts:
        - name: tmp
          mountPath: /tmp
      volumes:
      - name: tmp
        emptyDir:
          sizeLimit: 64Mi
`

const statefulset = `apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: %s
spec:
  serviceName: %s
  replicas: 3
  selector:
    matchLabels:
      app: %s
  template:
    metadata:
      labels:
        app: %s
    spec:
      containers:
      - name: db
        image: postgres:16.4
        ports:
        - name: pg
          containerPort: 8080
        env:
        - name: PGDATA
          value: /var/lib/postgresql/data/pgdata
        resources:
          requests: {cpu: 500m, memory: 1Gi}
        volumeMounts:
        - name: data
          mountPath: /var/lib/postgresql/data
  volumeClaimTemplates:
  - metadata:
      name: data
    spec:
      accessModes: [ReadWriteOnce]
      storageClassName: %s-ssd
      resources:
        requests:
          storage: 20Gi
`

const service = `apiVersion: v1
kind: Service
metadata:
  name: %s
spec:
  type: ClusterIP
  selector:
    app: %s
  ports:
  - name: http
    port: 80
    targetPort: http
    protocol: TCP
`

const configmap = `apiVersion: v1
kind: ConfigMap
metadata:
  name: %s-config-%d
data:
  LOG_LEVEL: info
  CACHE_TTL: "%d"
  FEATURE_FLAGS: "search,recommendations"
  app.properties: |
    server.port=8080
    server.name=%s
`

const secret = `apiVersion: v1
kind: Secret
metadata:
  name: %s-credentials
type: Opaque
data:
  password: cGFzc3dvcmQ=
  empty: ""
stringData:
  url: postgres://db:5432/shop
`

const serviceaccount = `apiVersion: v1
kind: ServiceAccount
metadata:
  name: %s
automountServiceAccountToken: false
`

const role = `apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: %s-reader
rules:
- apiGroups: [""]
  resources: [configmaps, secrets]
  verbs: [get, list, watch]
`

const rolebinding = `apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: %s-reader
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: %s-reader
subjects:
- kind: ServiceAccount
  name: %s
`

const hpa = `apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: %s
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: %s-api-0
  minReplicas: 2
  maxReplicas: 10
  metrics:
  - type: Resource
    resource:
      name: cpu
      target:
        type: Utilization
        averageUtilization: 70
`

const pdb = `apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: %s
spec:
  minAvailable: 1
  selector:
    matchLabels:
      app: %s-api-0
`

const ingress = `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: %s
  annotations:
    nginx.ingress.kubernetes.io/rewrite-target: /
spec:
  ingressClassName: nginx
  tls:
  - hosts: [%s.shop.example.com]
    secretName: shop-tls
  rules:
  - host: %s.shop.example.com
    http:
      paths:
      - path: /
        pathType: Prefix
        backend:
          service:
            name: api
            port:
              number: 80
`

const database = `apiVersion: data.example.com/v1
kind: Database
metadata:
  name: %s-db-%d
spec:
  engine: postgres
  version: "16"
  replicas: 3
  storage:
    size: 20Gi
    class: ssd
  backup:
    schedule: "0 3 * * *"
    retentionDays: 14
`

const queue = `apiVersion: data.example.com/v1
kind: Queue
metadata:
  name: %s-events
spec:
  partitions: 6
  retention: 7d
  consumers: [billing, search]
`

const cache = `apiVersion: data.example.com/v1alpha1
kind: Cache
metadata:
  name: %s-cache
spec:
  memoryMiB: 512
  evictionPolicy: allkeys-lru
`

const databaseCRD = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: databases.data.example.com
spec:
  group: data.example.com
  scope: Namespaced
  names: {kind: Database, plural: databases, singular: database}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            required: [engine, storage]
            properties:
              engine: {type: string, enum: [postgres, mysql]}
              version: {type: string}
              replicas: {type: integer, minimum: 1, maximum: 9}
              storage:
                type: object
                required: [size]
                properties:
                  size: {type: string, pattern: '^[0-9]+(Mi|Gi|Ti)$'}
                  class: {type: string}
              backup:
                type: object
                properties:
                  schedule: {type: string}
                  retentionDays: {type: integer, minimum: 1}
`

const queueCRD = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: queues.data.example.com
spec:
  group: data.example.com
  scope: Namespaced
  names: {kind: Queue, plural: queues, singular: queue}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              partitions: {type: integer, minimum: 1}
              retention: {type: string, pattern: '^[0-9]+[hd]$'}
              consumers: {type: array, items: {type: string}}
`

const cacheCRD = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: caches.data.example.com
spec:
  group: data.example.com
  scope: Namespaced
  names: {kind: Cache, plural: caches, singular: cache}
  versions:
  - name: v1alpha1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              memoryMiB: {type: integer}
              evictionPolicy: {type: string, enum: [allkeys-lru, volatile-lru, noeviction]}
`
