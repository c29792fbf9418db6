-- The API's common question, one package's revisions in a namespace in
-- name order, answered from an index without sorting.
CREATE INDEX revisions_api_package ON revisions (namespace, package, name);
