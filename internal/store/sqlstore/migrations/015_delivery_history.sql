-- A repository's recent webhook deliveries, newest first (the API's
-- deliveries of a Repository), read from an index without sorting.
CREATE INDEX deliveries_repository ON deliveries (namespace, repository, id);
