-- Issue 11, finding 5: the history routes check their scopes now (events:read, alerts:read).
-- Keys issued before kept what they could do: a key that posts events, or reads alerts, reads
-- its organisation's events; an admin's default key (no scopes) reads events and alerts. A key
-- narrowed on purpose (only subscriptions:write) stays narrow.
UPDATE api_key SET scopes = scopes || '{events:read}'::text[]
 WHERE NOT ('events:read' = ANY (scopes))
   AND scopes && '{alarm-activations:write,incident-reports:write,recon-sightings:write,alerts:read}'::text[];

UPDATE api_key k SET scopes = '{events:read,alerts:read}'::text[]
  FROM organisation o
 WHERE o.organisation_id = k.organisation_id AND o.role = 'admin' AND k.scopes = '{}'::text[];
