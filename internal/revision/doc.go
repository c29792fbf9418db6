// Package revision is the git contract as pure functions: which refs make
// which package revisions (Draft, Proposed, Published, DeletionProposed), how
// they are named, which is the latest, and what the next revision number is.
// It reads nothing and writes nothing; callers resolve refs to commits and
// trees and hand over the observations.
package revision
