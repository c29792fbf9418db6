-- The deliveries other replicas hold, found by a claim once: a range of
-- the pending deliveries' leases. It replaces the index a claim looked in
-- once per candidate delivery.
DROP INDEX deliveries_repository_leases;
CREATE INDEX deliveries_leased ON deliveries (lease_until) WHERE done = 0;
