-- A robbery linked back to reconnaissance is published as a `reconnaissance_warning` update
-- with dedup key recon-link:<robbery id>:<n> (docs/reconnaissance.md). Judging it says whether
-- this robbery was preceded by this reconnaissance, not whether the pattern is one: its own
-- kind, `reconnaissance_link`, named `recon-link:<robbery id>` (docs/desk.md).
ALTER TABLE judgement DROP CONSTRAINT judgement_kind_check;

-- Such judgements stored before this were filed as the pattern's, named after the bare robbery
-- id; they are re-filed by their alert's dedup key. A judgement whose alert row is missing is
-- told by its name: a pattern is named rp-<hex>, never by a uuid as a robbery is.
UPDATE judgement j
SET kind = 'reconnaissance_link', pattern = 'recon-link:' || j.pattern
WHERE j.kind = 'reconnaissance_warning'
  AND (EXISTS (SELECT 1 FROM alert a
               WHERE a.alert_id = j.alert_id AND a.dedup_key LIKE 'recon-link:%')
       OR (NOT EXISTS (SELECT 1 FROM alert a WHERE a.alert_id = j.alert_id)
           AND j.pattern ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'));

ALTER TABLE judgement ADD CONSTRAINT judgement_kind_check
    CHECK (kind IN ('series', 'reconnaissance_warning', 'reconnaissance_link', 'hotspot'));
