-- What the judged alert stated and rested on (issue 15 items 4 and 5), kept with each
-- judgement. Retention purges the alert's payload after `personal_data_retention_days` (28 by
-- default), and both the check of stated chances against the verdicts (`heterdaad model judged`,
-- the monthly digest) and the series fit (`heterdaad model fit`) must still read a judgement a
-- year on.
-- * model_version, stated_probability, stated_recurrence_days: the alert's `basis`.
-- * evidence (series only): the alert's evidence links with numbers alone: per link the event
--   ids, distance, gap, similarity per feature, and each reason's contribution and numeric value;
--   every descriptive value (a getaway mode, "match") is dropped. Which two robberies were how
--   alike, not what anyone looked like: the same as the fit reads.
-- Judgements stored before this migration take them from their alert's payload where it is
-- still there; otherwise they stay empty ("nothing stated", no pairs for the fit).
ALTER TABLE judgement
    ADD COLUMN model_version          text,
    ADD COLUMN stated_probability     double precision,
    ADD COLUMN stated_recurrence_days double precision,
    ADD COLUMN evidence               jsonb;

UPDATE judgement j
SET model_version          = a.payload->'basis'->>'model_version',
    stated_probability     = (a.payload->'basis'->>'probability')::double precision,
    stated_recurrence_days = (a.payload->'basis'->>'recurrence_days')::double precision,
    evidence = CASE WHEN j.kind = 'series' THEN (
        SELECT coalesce(jsonb_agg(
                   (link - 'reasons') || jsonb_build_object('reasons', (
                       SELECT coalesce(jsonb_agg(CASE
                                  WHEN jsonb_typeof(reason->'value') = 'number'
                                       OR reason->>'feature' = 'linked_with' THEN reason
                                  ELSE reason || '{"value": null}'::jsonb END), '[]'::jsonb)
                       FROM jsonb_array_elements(coalesce(link->'reasons', '[]'::jsonb))
                            AS reason))), '[]'::jsonb)
        FROM jsonb_array_elements(coalesce(a.payload->'evidence', '[]'::jsonb)) AS link)
    END
FROM alert a
WHERE a.alert_id = j.alert_id AND a.payload IS NOT NULL;

CREATE INDEX judgement_judged_at_idx ON judgement (judged_at);
