// Package v1alpha1 is the config.pkg.pkgserver.dev/v1alpha1 API: repositories.
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Group and version of this API.
const (
	Group      = "config.pkg.pkgserver.dev"
	Version    = "v1alpha1"
	APIVersion = Group + "/" + Version
)

// Repository providers.
const (
	ProviderGit    = "git"
	ProviderHosted = "hosted"
	ProviderGitHub = "github"
	ProviderGitLab = "gitlab"
)

// Repository registers a git repository with pkgserver.
type Repository struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec says where the repository is and how to keep up with it.
	Spec RepositorySpec `json:"spec"`
	// Status is what pkgserver observed of it.
	Status RepositoryStatus `json:"status,omitempty"`
}

// RepositorySpec is what the user asks for.
type RepositorySpec struct {
	// Type is the repository's type; "git" is the only one.
	Type string `json:"type,omitempty"`
	// Deployment marks a repository of deployable packages rather than
	// blueprints.
	Deployment bool `json:"deployment,omitempty"`
	// Provider says how pkgserver learns of changes: git (polling or the
	// standalone hook), hosted (its own git host), github, gitlab.
	Provider string  `json:"provider,omitempty"`
	Git      GitSpec `json:"git"`
	Sync     *Sync   `json:"sync,omitempty"`
	// WebhookSecret names the stored secret the forge's webhooks are
	// verified with (provider github or gitlab).
	WebhookSecret string `json:"webhookSecret,omitempty"`
	// GitHub and GitLab locate the repository on its forge.
	GitHub *GitHubSpec `json:"github,omitempty"`
	GitLab *GitLabSpec `json:"gitlab,omitempty"`
	// Packages must be pushed rendered: a package that rendering would
	// change is refused rather than warned about.
	RequireRendered bool `json:"requireRendered,omitempty"`
}

// GitHubSpec is a repository on GitHub or GitHub Enterprise.
type GitHubSpec struct {
	// Owner is the user or organization that owns the repository.
	Owner string `json:"owner"`
	// Repo is the repository's name on GitHub.
	Repo string `json:"repo"`
	// BaseURL is the API's URL; default https://api.github.com/.
	BaseURL string `json:"baseURL,omitempty"`
}

// GitLabSpec is a project on GitLab.
type GitLabSpec struct {
	// Project is the project's path (group/project) or numeric id.
	Project string `json:"project"`
	// BaseURL is the API's URL; default https://gitlab.com/api/v4/.
	BaseURL string `json:"baseURL,omitempty"`
}

// GitSpec locates the packages in git.
type GitSpec struct {
	// URL is the repository's URL, or a local path.
	URL string `json:"url"`
	// Branch is the repository branch; default main.
	Branch string `json:"branch,omitempty"`
	// Directory is where the packages are in the repository; default its
	// root.
	Directory string `json:"directory,omitempty"`
	// Credentials names the stored secret to authenticate with.
	Credentials string `json:"credentials,omitempty"`
}

// Sync says how often to look for changes without being told.
type Sync struct {
	// Interval is the time between syncs, such as 5m; 5 s to 24 h.
	Interval metav1.Duration `json:"interval,omitempty"`
}

// RepositoryStatus is what pkgserver observed.
type RepositoryStatus struct {
	// Conditions hold Ready: whether the index is up to date with git.
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// LastSyncTime is when the repository was last synced with git.
	LastSyncTime *metav1.Time `json:"lastSyncTime,omitempty"`
	// PackageCount is the number of packages the repository holds.
	PackageCount int `json:"packageCount"`
	// Commit is the head of the repository branch when last indexed.
	Commit string `json:"commit,omitempty"`
	// Problems lists refs and packages that could not be indexed, and why.
	Problems []string `json:"problems,omitempty"`
	// CloneURLs are where a hosted repository is cloned from and pushed to.
	CloneURLs *CloneURLs `json:"cloneURLs,omitempty"`
	// WebhookURL is where the forge of a github or gitlab repository sends
	// its webhooks.
	WebhookURL string `json:"webhookURL,omitempty"`
}

// CloneURLs are the addresses of a hosted repository.
type CloneURLs struct {
	// SSH is the repository's address over SSH.
	SSH string `json:"ssh,omitempty"`
	// HTTP is the repository's address over git's smart HTTP.
	HTTP string `json:"http,omitempty"`
}

// BranchOrDefault returns the repository branch.
func (s GitSpec) BranchOrDefault() string {
	if s.Branch == "" {
		return "main"
	}
	return s.Branch
}

// RepositoryList is a list of repositories.
type RepositoryList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	// Items are the repositories.
	Items []Repository `json:"items"`
}
