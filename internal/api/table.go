package api

import (
	"encoding/json"
	"mime"
	"net/http"
	"reflect"
	"strings"

	"github.com/labstack/echo/v4"
	"k8s.io/apimachinery/pkg/api/meta"
	metatable "k8s.io/apimachinery/pkg/api/meta/table"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	configv1alpha1 "github.com/pkgserver/pkgserver/internal/apis/config/v1alpha1"
	pkgv1alpha1 "github.com/pkgserver/pkgserver/internal/apis/pkg/v1alpha1"
)

// Table output, as kube-apiserver does it: a client that accepts
// application/json;as=Table;g=meta.k8s.io;v=v1 (kubectl get) gets a
// metav1.Table of any object or list of the API's kinds, with the columns
// porchctl shows, each row carrying the object's metadata
// (includeObject=Metadata, the default), the whole object (Object) or
// nothing (None).

// tableVersion returns the version of meta.k8s.io's Table the request's
// Accept header prefers ("" when it prefers something else): its media
// types are tried in order, as kube-apiserver does.
func tableVersion(r *http.Request) string {
	accept := r.Header.Get("Accept")
	if !strings.Contains(accept, "as=Table") {
		return "" // the common case, without parsing
	}
	for _, part := range strings.Split(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		if mt != "application/json" && mt != "*/*" && mt != "application/*" {
			continue
		}
		if params["as"] == "" {
			return "" // plain JSON is preferred
		}
		if params["as"] == "Table" && params["g"] == "meta.k8s.io" && (params["v"] == "v1" || params["v"] == "v1beta1") {
			return params["v"]
		}
	}
	return ""
}

// tableKind describes the columns of a kind.
type tableKind struct {
	columns []metav1.TableColumnDefinition
	cells   func(obj any) []any
}

var nameColumn = metav1.TableColumnDefinition{Name: "Name", Type: "string", Format: "name",
	Description: metav1.ObjectMeta{}.SwaggerDoc()["name"]}

// ageColumn follows the convention of custom resources: the age of the
// object since its creationTimestamp, as the server formats it.
var ageColumn = metav1.TableColumnDefinition{Name: "Age", Type: "date",
	Description: metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"]}

func column(name, typ, description string) metav1.TableColumnDefinition {
	return metav1.TableColumnDefinition{Name: name, Type: typ, Description: description}
}

// The columns revisions and their resources share.
var (
	packageColumn    = column("Package", "string", "The package's path in its repository.")
	workspaceColumn  = column("Workspace", "string", "The workspace name: unique among the package's revisions.")
	revisionColumn   = column("Revision", "string", "v<N>, another tag's last segment, or the branch name; empty for drafts and proposals.")
	repositoryColumn = column("Repository", "string", "The repository the revision is in.")
)

var (
	revisionTable = tableKind{
		columns: []metav1.TableColumnDefinition{
			nameColumn,
			packageColumn,
			workspaceColumn,
			revisionColumn,
			column("Latest", "boolean", "Whether this is the highest published v<N> of the package."),
			column("Lifecycle", "string", "Draft, Proposed, Published or DeletionProposed."),
			repositoryColumn,
			ageColumn,
		},
		cells: func(obj any) []any {
			pr := obj.(*pkgv1alpha1.PackageRevision)
			return []any{pr.Name, pr.Spec.PackageName, pr.Spec.WorkspaceName, pr.Spec.Revision,
				pr.Labels[pkgv1alpha1.LatestRevisionLabel] == "true", pr.Spec.Lifecycle, pr.Spec.Repository,
				metatable.ConvertToHumanReadableDateType(pr.CreationTimestamp)}
		},
	}
	resourcesTable = tableKind{
		columns: []metav1.TableColumnDefinition{
			nameColumn,
			packageColumn,
			workspaceColumn,
			revisionColumn,
			repositoryColumn,
			column("Files", "integer", "The number of files of the package."),
			ageColumn,
		},
		cells: func(obj any) []any {
			r := obj.(*pkgv1alpha1.PackageRevisionResources)
			return []any{r.Name, r.Spec.PackageName, r.Spec.WorkspaceName, r.Spec.Revision, r.Spec.Repository,
				int64(len(r.Spec.Resources)), metatable.ConvertToHumanReadableDateType(r.CreationTimestamp)}
		},
	}
	repositoryTable = tableKind{
		columns: []metav1.TableColumnDefinition{
			nameColumn,
			column("Type", "string", "The repository's type: git."),
			column("Deployment", "boolean", "Whether the repository holds deployable packages rather than blueprints."),
			column("Ready", "string", "The status of the Ready condition: whether the index is up to date with git."),
			column("Address", "string", "The git URL, or where a hosted repository is cloned from."),
			ageColumn,
		},
		cells: func(obj any) []any {
			r := obj.(*configv1alpha1.Repository)
			typ := r.Spec.Type
			if typ == "" {
				typ = "git"
			}
			ready := ""
			if c := meta.FindStatusCondition(r.Status.Conditions, "Ready"); c != nil {
				ready = string(c.Status)
			}
			addr := r.Spec.Git.URL
			if addr == "" && r.Status.CloneURLs != nil {
				addr = r.Status.CloneURLs.HTTP
			}
			return []any{r.Name, typ, r.Spec.Deployment, ready, addr, metatable.ConvertToHumanReadableDateType(r.CreationTimestamp)}
		},
	}
)

// tableSource is an answer of one of the API's kinds, as a Table sees it:
// its rows' objects and metadata.
type tableSource struct {
	kind     tableKind
	items    []any // pointers to objects
	listMeta *metav1.ListMeta
}

// tableSourceOf recognises the answers that convert to a Table, given as
// values or as pointers.
func tableSourceOf(v any) (tableSource, bool) {
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.Struct {
		p := reflect.New(rv.Type())
		p.Elem().Set(rv)
		v = p.Interface()
	}
	switch o := v.(type) {
	case *pkgv1alpha1.PackageRevision:
		return tableSource{kind: revisionTable, items: []any{o}}, true
	case *pkgv1alpha1.PackageRevisionList:
		return revisionListSource(o), true
	case *pkgv1alpha1.PackageRevisionResources:
		return tableSource{kind: resourcesTable, items: []any{o}}, true
	case *pkgv1alpha1.PackageRevisionResourcesList:
		return resourcesListSource(o), true
	case *configv1alpha1.Repository:
		return tableSource{kind: repositoryTable, items: []any{o}}, true
	case *configv1alpha1.RepositoryList:
		return repositoryListSource(o), true
	}
	return tableSource{}, false
}

func revisionListSource(l *pkgv1alpha1.PackageRevisionList) tableSource {
	s := tableSource{kind: revisionTable, listMeta: &l.ListMeta, items: make([]any, len(l.Items))}
	for i := range l.Items {
		s.items[i] = &l.Items[i]
	}
	return s
}

func resourcesListSource(l *pkgv1alpha1.PackageRevisionResourcesList) tableSource {
	s := tableSource{kind: resourcesTable, listMeta: &l.ListMeta, items: make([]any, len(l.Items))}
	for i := range l.Items {
		s.items[i] = &l.Items[i]
	}
	return s
}

func repositoryListSource(l *configv1alpha1.RepositoryList) tableSource {
	s := tableSource{kind: repositoryTable, listMeta: &l.ListMeta, items: make([]any, len(l.Items))}
	for i := range l.Items {
		s.items[i] = &l.Items[i]
	}
	return s
}

// objectMeta returns the metadata of one of the API's objects.
func objectMeta(obj any) (metav1.TypeMeta, *metav1.ObjectMeta) {
	switch o := obj.(type) {
	case *pkgv1alpha1.PackageRevision:
		return o.TypeMeta, &o.ObjectMeta
	case *pkgv1alpha1.PackageRevisionResources:
		return o.TypeMeta, &o.ObjectMeta
	case *configv1alpha1.Repository:
		return o.TypeMeta, &o.ObjectMeta
	}
	panic("table row of an unexpected type") // tableSourceOf lets no other in
}

// includeObject reads the includeObject parameter: Metadata by default.
func includeObject(c echo.Context) (metav1.IncludeObjectPolicy, error) {
	switch p := metav1.IncludeObjectPolicy(c.QueryParam("includeObject")); p {
	case "":
		return metav1.IncludeMetadata, nil
	case metav1.IncludeNone, metav1.IncludeMetadata, metav1.IncludeObject:
		return p, nil
	default:
		return "", badRequest("includeObject must be None, Metadata or Object, not %q", p)
	}
}

// tableBuilder makes a Table row by row, keeping of each object only what
// its row holds.
type tableBuilder struct {
	t       *metav1.Table
	kind    tableKind
	version string
	include metav1.IncludeObjectPolicy
}

func newTableBuilder(kind tableKind, tableVersion string, include metav1.IncludeObjectPolicy) *tableBuilder {
	return &tableBuilder{kind: kind, version: tableVersion, include: include, t: &metav1.Table{
		TypeMeta:          metav1.TypeMeta{APIVersion: "meta.k8s.io/" + tableVersion, Kind: "Table"},
		ColumnDefinitions: kind.columns,
		Rows:              []metav1.TableRow{},
	}}
}

// add adds the row of an object (a pointer to one of the API's objects).
func (b *tableBuilder) add(obj any) error {
	row := metav1.TableRow{Cells: b.kind.cells(obj)}
	var raw any
	switch b.include {
	case metav1.IncludeObject:
		raw = obj
	case metav1.IncludeMetadata:
		_, m := objectMeta(obj)
		raw = metav1.PartialObjectMetadata{
			TypeMeta:   metav1.TypeMeta{APIVersion: "meta.k8s.io/" + b.version, Kind: "PartialObjectMetadata"},
			ObjectMeta: *m,
		}
	}
	if raw != nil {
		data, err := json.Marshal(raw)
		if err != nil {
			return err
		}
		row.Object = runtime.RawExtension{Raw: data}
	}
	b.t.Rows = append(b.t.Rows, row)
	return nil
}

// buildTable converts an answer into a Table of a version of meta.k8s.io.
func buildTable(src tableSource, tableVersion string, include metav1.IncludeObjectPolicy) (*metav1.Table, error) {
	b := newTableBuilder(src.kind, tableVersion, include)
	if src.listMeta != nil {
		b.t.ListMeta = *src.listMeta
	} else if len(src.items) == 1 {
		_, m := objectMeta(src.items[0])
		b.t.ResourceVersion = m.ResourceVersion
	}
	for _, obj := range src.items {
		if err := b.add(obj); err != nil {
			return nil, err
		}
	}
	return b.t, nil
}

// resourcesTableBuilder returns a builder of the Table of a list of resources
// when the request asks for one, else nil: the list is streamed, and its
// Table built as it is read, without holding every revision's files.
func resourcesTableBuilder(c echo.Context) (*resourcesTableRows, error) {
	tv := tableVersion(c.Request())
	if tv == "" {
		return nil, nil
	}
	include, err := includeObject(c)
	if err != nil {
		return nil, err
	}
	return &resourcesTableRows{b: newTableBuilder(resourcesTable, tv, include)}, nil
}

// resourcesTableRows is the Table of a list of resources being read.
type resourcesTableRows struct{ b *tableBuilder }

// Add adds a revision's resources.
func (r *resourcesTableRows) Add(obj *pkgv1alpha1.PackageRevisionResources) error {
	return r.b.add(obj)
}

// NeedsContent reports whether the rows' objects carry the files'
// content: a row itself only counts the files.
func (r *resourcesTableRows) NeedsContent() bool {
	return r.b.include == metav1.IncludeObject
}

// Table is the Table of what was added, with the list's metadata.
func (r *resourcesTableRows) Table(meta metav1.ListMeta) *metav1.Table {
	r.b.t.ListMeta = meta
	return r.b.t
}

// asTable returns the Table to answer instead of v when the request asks
// for one and v converts; else v itself.
func asTable(c echo.Context, v any) (any, error) {
	tv := tableVersion(c.Request())
	if tv == "" {
		return v, nil
	}
	src, ok := tableSourceOf(v)
	if !ok {
		return v, nil
	}
	include, err := includeObject(c)
	if err != nil {
		return nil, err
	}
	return buildTable(src, tv, include)
}

// tableKinds are the kinds whose JSON answers convert to a Table, and the
// types they decode into.
var tableKinds = map[string]func() any{
	"PackageRevision":              func() any { return &pkgv1alpha1.PackageRevision{} },
	"PackageRevisionList":          func() any { return &pkgv1alpha1.PackageRevisionList{} },
	"PackageRevisionResources":     func() any { return &pkgv1alpha1.PackageRevisionResources{} },
	"PackageRevisionResourcesList": func() any { return &pkgv1alpha1.PackageRevisionResourcesList{} },
	"Repository":                   func() any { return &configv1alpha1.Repository{} },
	"RepositoryList":               func() any { return &configv1alpha1.RepositoryList{} },
}

// asTableBytes is asTable for an answer already in JSON (from a cache):
// decoded only when a Table is asked for. It returns nil when the answer
// stays as it is.
func asTableBytes(c echo.Context, b []byte) (any, error) {
	if tableVersion(c.Request()) == "" {
		return nil, nil
	}
	var tm metav1.TypeMeta
	if err := json.Unmarshal(b, &tm); err != nil {
		return nil, nil // not an object: not a Table's either
	}
	newObj, ok := tableKinds[tm.Kind]
	if !ok {
		return nil, nil
	}
	obj := newObj()
	if err := json.Unmarshal(b, obj); err != nil {
		return nil, err
	}
	return asTable(c, obj)
}

// tableEvent is the object of a watch event for the request: a Table of
// one row when the watch asked for Tables (kubectl get --watch), else obj.
func tableEvent(c echo.Context, obj any) (any, error) {
	return asTable(c, obj)
}
