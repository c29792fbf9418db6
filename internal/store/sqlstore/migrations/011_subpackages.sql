-- A directory holding a Kptfile below a package is a subpackage, content of
-- its package, no longer a reason not to index the package, and no package
-- of its own. The refs whose tree an older version judged a "nested
-- package", the branch of the repositories where it judged a package of the
-- branch so, and the refs naming a package below the repository directory's
-- first level (which may be a subpackage) are marked as changed (and their
-- repositories' digests too), so that the next sync reads their trees again
-- rather than trust what an older version judged.

UPDATE repositories SET refs_hash = ''
  WHERE id IN (SELECT repository_id FROM refs WHERE problem LIKE 'nested package:%')
  OR id IN (SELECT repository_id FROM branch_packages WHERE problem LIKE 'nested package:%')
  OR id IN (SELECT repository_id FROM refs WHERE contract = 1 AND kind <> 1 AND package LIKE '%/%');
UPDATE refs SET target = '' WHERE problem LIKE 'nested package:%'
  OR (contract = 1 AND kind <> 1 AND package LIKE '%/%');
UPDATE refs SET target = '' WHERE contract = 1 AND kind = 1
  AND repository_id IN (SELECT repository_id FROM branch_packages WHERE problem LIKE 'nested package:%');
