// Package v1alpha1 is the pkg.pkgserver.dev/v1alpha1 API: package revisions
// and their resources.
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/pkgserver/pkgserver/internal/result"
)

// Group and version of this API.
const (
	Group      = "pkg.pkgserver.dev"
	Version    = "v1alpha1"
	APIVersion = Group + "/" + Version
)

// LatestRevisionLabel marks the highest published revision of a package.
const LatestRevisionLabel = "pkg.pkgserver.dev/latest-revision"

// PackageRevision is one revision of a package.
type PackageRevision struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec identifies the revision and its lifecycle.
	Spec PackageRevisionSpec `json:"spec"`
	// Status is what git says of the revision.
	Status PackageRevisionStatus `json:"status,omitempty"`
}

// PackageRevisionSpec identifies the revision.
type PackageRevisionSpec struct {
	// PackageName is the package's path in its repository, below the
	// repository's directory.
	PackageName string `json:"packageName"`
	// Repository is the name of the Repository the revision is in, in the
	// same namespace.
	Repository string `json:"repository"`
	// WorkspaceName names the revision among the package's: a draft's or
	// proposal's branch name, or the workspace a published revision was
	// proposed from.
	WorkspaceName string `json:"workspaceName"`
	// Revision is v<N>, another tag's last segment, the branch name for
	// the revision at the head of the branch, or "" for drafts and
	// proposals.
	Revision string `json:"revision"`
	// Lifecycle is Draft, Proposed, Published or DeletionProposed; a write
	// moves a revision from Draft to Proposed (or back).
	Lifecycle string `json:"lifecycle"`
	// Tasks say, when a revision is created, where its content comes from:
	// exactly one task (Porch's shape). They are not kept.
	Tasks []Task `json:"tasks,omitempty"`
	// ReadinessGates are the conditions that must be True before the
	// revision is approved: the Kptfile's info.readinessGates.
	ReadinessGates []ReadinessGate `json:"readinessGates,omitempty"`
}

// ReadinessGate names a condition of the revision's status.
type ReadinessGate struct {
	// ConditionType is the type of the condition that must be True.
	ConditionType string `json:"conditionType"`
}

// Condition statuses.
const (
	ConditionTrue    = "True"
	ConditionFalse   = "False"
	ConditionUnknown = "Unknown"
)

// ValidatedCondition is the condition pkgserver sets itself: the outcome of
// its last validation of the revision's content.
const ValidatedCondition = "pkg.pkgserver.dev/validated"

// Condition is a condition of a revision: those of the Kptfile's
// status.conditions, and ValidatedCondition.
type Condition struct {
	// Type names the condition.
	Type string `json:"type"`
	// Status is True, False or Unknown.
	Status string `json:"status"`
	// Reason is a one-word reason for the status.
	Reason string `json:"reason,omitempty"`
	// Message says more, for people.
	Message string `json:"message,omitempty"`
}

// Task types.
const (
	TaskTypeInit    = "init"
	TaskTypeEdit    = "edit"
	TaskTypeClone   = "clone"
	TaskTypeUpgrade = "upgrade"
)

// Task is how a new revision gets its content.
type Task struct {
	// Type is init, edit, clone or upgrade: which of the other fields is
	// set.
	Type string `json:"type"`
	// Init makes a new package.
	Init *InitTaskSpec `json:"init,omitempty"`
	// Edit copies a published revision of the same package.
	Edit *EditTaskSpec `json:"edit,omitempty"`
	// Clone copies a published revision of another repository's package.
	Clone *CloneTaskSpec `json:"clone,omitempty"`
	// Upgrade rebases the package onto a newer upstream revision.
	Upgrade *UpgradeTaskSpec `json:"upgrade,omitempty"`
}

// InitTaskSpec makes a new package.
type InitTaskSpec struct {
	// Description, Keywords and Site go to the new Kptfile's info.
	Description string   `json:"description,omitempty"`
	Keywords    []string `json:"keywords,omitempty"`
	Site        string   `json:"site,omitempty"`
}

// EditTaskSpec copies a published revision of the same package.
type EditTaskSpec struct {
	// SourceRef names the published revision to copy.
	SourceRef *PackageRevisionRef `json:"sourceRef,omitempty"`
}

// CloneTaskSpec copies a published revision of another repository's
// package.
type CloneTaskSpec struct {
	// UpstreamRef names the published revision to copy.
	UpstreamRef *PackageRevisionRef `json:"upstreamRef,omitempty"`
}

// UpgradeTaskSpec rebases a package onto a newer upstream revision.
type UpgradeTaskSpec struct {
	// OldUpstream is the upstream revision the local one was cloned from.
	OldUpstream *PackageRevisionRef `json:"oldUpstreamRef,omitempty"`
	// NewUpstream is the upstream revision to rebase onto.
	NewUpstream *PackageRevisionRef `json:"newUpstreamRef,omitempty"`
	// LocalPackageRevision is the revision to upgrade.
	LocalPackageRevision *PackageRevisionRef `json:"localPackageRevisionRef,omitempty"`
	// Strategy is how upstream changes meet local ones, as Porch and kpt name
	// them: resource-merge (the default: a three-way merge of resources,
	// local edits kept), copy-merge (upstream files copied over local ones,
	// local-only files kept), force-delete-replace (the upstream package as
	// it is, local changes dropped) or fast-forward (the upstream package,
	// refused when the local one changed since its upstream lock).
	Strategy string `json:"strategy,omitempty"`
}

// The upgrade strategies.
const (
	ResourceMerge      = "resource-merge"
	CopyMerge          = "copy-merge"
	ForceDeleteReplace = "force-delete-replace"
	FastForward        = "fast-forward"
)

// PackageRevisionRef names a package revision of the same namespace.
type PackageRevisionRef struct {
	// Name is the PackageRevision's name.
	Name string `json:"name"`
}

// PackageRevisionStatus is what git says of the revision.
type PackageRevisionStatus struct {
	// Commit is the commit the revision's ref leads to.
	Commit string `json:"commit,omitempty"`
	// PublishedBy and PublishTimestamp are the tagger of an annotated tag,
	// else the committer of the commit; for a revision Porch published, its
	// approval commit's author email and author time, as Porch reports them.
	PublishedBy      string       `json:"publishedBy,omitempty"`
	PublishTimestamp *metav1.Time `json:"publishTimestamp,omitempty"`
	// PullRequest is the number of the GitHub pull request or GitLab merge
	// request that proposes the revision, or that it was published from.
	PullRequest int `json:"pullRequest,omitempty"`
	// Conditions are the Kptfile's status.conditions and, last,
	// ValidatedCondition.
	Conditions []Condition `json:"conditions,omitempty"`
}

// PackageRevisionList is a list of package revisions.
type PackageRevisionList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	// Items are the package revisions.
	Items []PackageRevision `json:"items"`
}

// PackageRevisionResources is the content of a package revision.
type PackageRevisionResources struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec holds the revision's files.
	Spec PackageRevisionResourcesSpec `json:"spec"`
	// Status, in the answer to an update, holds the validation's warnings
	// and how the package rendered.
	Status *PackageRevisionResourcesStatus `json:"status,omitempty"`
}

// PackageRevisionResourcesStatus is what an update of resources found.
type PackageRevisionResourcesStatus struct {
	// Results are the findings of the validation of the new content, and
	// the render's failure when the package was committed as given.
	Results []result.Result `json:"results,omitempty"`
	// RenderStatus is the outcome of rendering the package before it was
	// committed, as Porch reports it; absent when the package has no
	// pipeline.
	RenderStatus *RenderStatus `json:"renderStatus,omitempty"`
}

// RenderStatus is the outcome of rendering a package (Porch's shape).
type RenderStatus struct {
	// Result lists the results of the functions that ran.
	Result FunctionResultList `json:"result,omitempty"`
	// Err says why the render failed, empty when it did not.
	Err string `json:"error"`
}

// FunctionResultList is kpt's FunctionResultList (kpt.dev/v1): the results
// of the functions of a render, in order.
type FunctionResultList struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	// ExitCode is the render's: 0 when it succeeded, 1 when it failed.
	ExitCode int `json:"exitCode"`
	// Items are the results of each function that ran.
	Items []FunctionResult `json:"items,omitempty"`
}

// FunctionResult is what one function of a render reported.
type FunctionResult struct {
	// Image is the function's image, for a container function.
	Image string `json:"image,omitempty"`
	// ExecPath is the function's command, for an exec function.
	ExecPath string `json:"exec,omitempty"`
	// Stderr is what the function wrote to its standard error.
	Stderr string `json:"stderr,omitempty"`
	// ExitCode is the function's: 0 when it succeeded.
	ExitCode int `json:"exitCode"`
	// Results are the function's structured results.
	Results []FunctionResultItem `json:"results,omitempty"`
}

// FunctionResultItem is one structured result of a function.
type FunctionResultItem struct {
	// Message says what the function found.
	Message string `json:"message,omitempty"`
	// Severity is error, warning or info.
	Severity string `json:"severity,omitempty"`
	// ResourceRef names the resource the result is about.
	ResourceRef *ResultResourceRef `json:"resourceRef,omitempty"`
	// Field is the field of the resource the result is about.
	Field *ResultField `json:"field,omitempty"`
	// File is the file of the resource the result is about.
	File *ResultFile `json:"file,omitempty"`
	// Tags are metadata of tools that set them.
	Tags map[string]string `json:"tags,omitempty"`
}

// ResultResourceRef names a resource.
type ResultResourceRef struct {
	// APIVersion and Kind are the resource's.
	APIVersion string `json:"apiVersion,omitempty"`
	Kind       string `json:"kind,omitempty"`
	// Name and Namespace are the resource's metadata.name and
	// metadata.namespace.
	Name      string `json:"name,omitempty"`
	Namespace string `json:"namespace,omitempty"`
}

// ResultField is a field of a resource.
type ResultField struct {
	// Path is the field's path.
	Path string `json:"path,omitempty"`
	// CurrentValue is the field's value.
	CurrentValue string `json:"currentValue,omitempty"`
	// ProposedValue is the value the function proposes.
	ProposedValue string `json:"proposedValue,omitempty"`
}

// ResultFile is the file of a resource.
type ResultFile struct {
	// Path is the file's path in the package.
	Path string `json:"path,omitempty"`
	// Index is the resource's index in the file.
	Index int `json:"index,omitempty"`
}

// PackageRevisionResourcesSpec holds the files of a revision.
type PackageRevisionResourcesSpec struct {
	// PackageName, WorkspaceName, Revision and Repository are those of the
	// PackageRevision.
	PackageName   string `json:"packageName"`
	WorkspaceName string `json:"workspaceName"`
	Revision      string `json:"revision"`
	Repository    string `json:"repository"`
	// Resources maps each file's path in the package to its text.
	Resources map[string]string `json:"resources"`
}

// PackageRevisionResourcesList is a list of the contents of package
// revisions.
type PackageRevisionResourcesList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	// Items are the contents of the package revisions.
	Items []PackageRevisionResources `json:"items"`
}
