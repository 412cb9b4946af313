-- Receipts are written 'pending' before an event is published and confirmed after the broker's
-- acknowledgement, in two short transactions: no transaction (and no advisory lock) waits on
-- Kafka. A receipt with confirmed_at NULL is a publish under way, or one whose API process died
-- before confirming it: after a while another delivery of the event may take it over.
ALTER TABLE ingest_receipt ADD COLUMN confirmed_at timestamptz DEFAULT now();
