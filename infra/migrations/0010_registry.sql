-- CBL event ids are keyed (issue 11 #8): a melding's id can no longer be computed by others.
-- A melding keeps the id it was first imported under (ids from before, or under an earlier
-- key), found by the organisation and the melding number: one id per melding.
CREATE UNIQUE INDEX import_receipt_melding_idx ON import_receipt (organisation_id, source, source_ref);
