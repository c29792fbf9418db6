-- Events of modifications carry the object's state before them (previous,
-- '' for other events), so that a watch with a selector tells an object
-- entering or leaving the selection from one that never was in it, as the
-- Kubernetes API server does. Events are read by kind: a watch of revisions
-- never reads the events of repositories, nor the other way round.
--
-- Events name the repository of their object (a repository's own name for
-- its events), so that a watch of revisions of a namespace, repository or
-- name reads only theirs, and a full reindex of one repository, which
-- records its revisions' changes as one RELIST marker rather than an event
-- each, sends only the watches that may see that repository's revisions
-- back to list.

ALTER TABLE events ADD COLUMN previous TEXT NOT NULL DEFAULT '';
ALTER TABLE events ADD COLUMN repository TEXT NOT NULL DEFAULT '';
CREATE INDEX events_kind_rv ON events (kind, resource_version);

-- The events recorded before say nothing of the previous states: watches
-- from then list again.
DELETE FROM events;
UPDATE counters SET value = (SELECT value FROM counters WHERE name = 'resource_version') WHERE name = 'events_compacted';
