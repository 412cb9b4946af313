-- Bulk imports (the CBL tool's export): which event each imported row became, so that
-- importing the same file again, or an export that overlaps an earlier one, publishes nothing
-- twice. The event id is derived from the organisation and the source's own number, so the
-- same melding always has the same id; a row whose content changed since its import is
-- refused rather than published again under that id.
CREATE TABLE import_receipt (
    event_id        uuid PRIMARY KEY,
    organisation_id text NOT NULL REFERENCES organisation ON DELETE CASCADE,
    source          text NOT NULL CHECK (source IN ('cbl')),
    -- The melding number in the source tool; not personal data.
    source_ref      text NOT NULL,
    -- SHA-256 of the published (pseudonymised) event, never of a row with a raw plate.
    body_sha256     text NOT NULL,
    file_sha256     text NOT NULL,
    file_row        integer NOT NULL CHECK (file_row >= 2),
    imported_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX import_receipt_file_idx ON import_receipt (file_sha256);
CREATE INDEX import_receipt_imported_idx ON import_receipt (imported_at);
