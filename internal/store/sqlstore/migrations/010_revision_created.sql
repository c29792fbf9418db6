-- When git says each revision was made (its creationTimestamp): a published
-- revision's publish time (for the revision at the head of the branch, the
-- time of the newest commit that changed its package), a draft's or
-- proposal's newest commit. Drafts and proposals indexed before kept no
-- time: their refs, and the branch's, are marked as changed (and their
-- repositories' digests too) so that the next sync reads their commits again
-- rather than trust what an older version stored.

ALTER TABLE revisions ADD COLUMN created_at BIGINT NOT NULL DEFAULT 0;
UPDATE revisions SET created_at = published_at;
UPDATE repositories SET refs_hash = '' WHERE id IN (SELECT repository_id FROM refs WHERE contract = 1 AND kind IN (1, 2, 3));
UPDATE refs SET target = '' WHERE contract = 1 AND kind IN (1, 2, 3);
