-- The views of the database: the one place they are defined.
-- version_runs are split into buckets of 64 snapshots (pge_outages/database.py, BUCKET),
-- so one snapshot's outages are one range of one index.

CREATE VIEW outage_snapshots AS
SELECT
    v.outage AS outage,
    s.id AS snapshot,
    v.estCustAffected,
    v.latitude,
    v.longitude,
    causes.name AS cause,
    crew_statuses.name AS crewCurrentStatus,
    regions.name AS regionName,
    v.outageStartTime,
    v.lastUpdateTime,
    v.currentEtor,
    v.autoEtor,
    v.crewEta,
    v.hazardFlag,
    v.outageExtent,
    v.outageDeviceId,
    v.outageCircuitId,
    v.county,
    v.zip,
    v.deviceCount,
    v.spid,
    v.ftsFlag,
    device_lists.name AS outageDevices,
    v.extra,
    v.id AS version
FROM snapshots s
JOIN version_runs r
    ON r.bucket = s.id / 64 AND r.first_snapshot <= s.id AND r.last_snapshot >= s.id
JOIN outage_versions v ON v.id = r.version
LEFT JOIN causes ON causes.id = v.cause
LEFT JOIN crew_statuses ON crew_statuses.id = v.crewCurrentStatus
LEFT JOIN regions ON regions.id = v.regionName
LEFT JOIN device_lists ON device_lists.id = v.outageDevices;

CREATE VIEW most_recent_snapshot AS
SELECT *
FROM outage_snapshots
WHERE snapshot = (SELECT max(id) FROM snapshots);

CREATE VIEW outages_expanded AS
SELECT
    o.id AS outage,
    first.title AS earliest,
    last.title AS latest,
    o.snapshot_count AS num_snapshots,
    round((last.[when] - first.[when]) / 3600.0, 2) AS possible_duration_hours,
    o.last_snapshot < (SELECT max(id) FROM snapshots) AS probably_ended,
    o.min_estCustAffected,
    o.max_estCustAffected,
    o.regionName,
    o.latitude,
    o.longitude,
    o.outageStartTime,
    o.first_snapshot,
    o.last_snapshot
FROM outages o
JOIN snapshots first ON first.id = o.first_snapshot
JOIN snapshots last ON last.id = o.last_snapshot;
