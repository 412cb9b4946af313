-- What the judged alert stated (issue 15 items 4 and 5), kept with each judgement: the check of
-- stated chances against the analysts' verdicts (`heterdaad model judged`, the monthly digest)
-- must outlive the alert's payload, which retention purges. A model version and a number: no
-- personal data. Judgements stored before this migration take them from their alert's payload
-- where it is still there; otherwise they stay empty ("nothing stated").
ALTER TABLE judgement
    ADD COLUMN model_version          text,
    ADD COLUMN stated_probability     double precision,
    ADD COLUMN stated_recurrence_days double precision;

UPDATE judgement j
SET model_version          = a.payload->'basis'->>'model_version',
    stated_probability     = (a.payload->'basis'->>'probability')::double precision,
    stated_recurrence_days = (a.payload->'basis'->>'recurrence_days')::double precision
FROM alert a
WHERE a.alert_id = j.alert_id AND a.payload IS NOT NULL;

CREATE INDEX judgement_judged_at_idx ON judgement (judged_at);
