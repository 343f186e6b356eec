-- The views of the database: the one place they are defined.
-- version_runs and area_runs are split into buckets of BUCKET snapshots (pge_outages/schema.py),
-- so one snapshot's outages, or areas, are one range of one index. They join snapshots on
-- snapshots.bucket (id / BUCKET, indexed with id), an equality the planner can use both ways:
-- from a snapshot to its runs, and from a run (found by region, cause or outage) to its snapshots.
-- Causes and regions are joined, so a question can start from a name (by their unique index);
-- crew statuses and device lists are read by a subquery, only when a query asks for them: SQLite
-- omits an unused LEFT JOIN, but not from an aggregate query (count, sum ... group by), which
-- would pay a lookup per row for each one.
-- The code's constants are written in by cog (.venv/bin/cog -r views.sql), never by hand:
-- [[[cog
-- from pge_outages.glitches import GAP_SECONDS
-- from pge_outages.schema import BUCKET
-- def unseen(alias):
--     """SQL true when the gap before snapshot `alias` was blind, or unknown and long."""
--     gap = f"{alias}.gap_class"
--     return f"coalesce({gap} = 'blind' OR {gap} = 'unknown' AND {alias}.gap_seconds > {GAP_SECONDS}, 0)"
-- # An outage's duration in hours, the one definition (see outages_expanded).
-- DURATION = "round((last.[when] - min(coalesce(o.outageStartTime, first.[when]), first.[when])) / 3600.0, 2)"
-- ]]]
-- [[[end]]]

CREATE VIEW outage_snapshots AS
SELECT
    v.outage AS outage,
    s.id AS snapshot,
    v.estCustAffected,
    v.latitude,
    v.longitude,
    causes.name AS cause,
    (SELECT name FROM crew_statuses WHERE id = v.crewCurrentStatus) AS crewCurrentStatus,
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
    v.county_fips,
    v.zip,
    v.deviceCount,
    v.spid,
    v.ftsFlag,
    v.layers,
    (SELECT name FROM device_lists WHERE id = v.outageDevices) AS outageDevices,
    v.extra,
    v.id AS version
FROM snapshots s
JOIN version_runs r
    ON r.bucket = s.bucket AND r.first_snapshot <= s.id AND r.last_snapshot >= s.id
JOIN outage_versions v ON v.id = r.version
LEFT JOIN causes ON causes.id = v.cause
LEFT JOIN regions ON regions.id = v.regionName;

CREATE VIEW most_recent_snapshot AS
SELECT *
FROM outage_snapshots
WHERE snapshot = (SELECT max(id) FROM snapshots);

-- An outage's duration, the one definition (largest_outages and the outage's page read it from
-- here): from its start, PG&E's outageStartTime, or its first sighting when PG&E gives none or a
-- later one, to the last snapshot it was in. Durations and "probably ended" skip suspect
-- snapshots (snapshots.suspect): an outage missing only from suspect snapshots is one
-- continuous outage. When the outage began or ended inside a gap the scraper was blind to, or
-- inside one longer than GAP_SECONDS (pge_outages/glitches.py) with no evidence either way
-- (snapshots.gap_class 'blind', or 'unknown' and that long: the gap that ends at the first
-- trustworthy snapshot from its first on, or at the first trustworthy snapshot after its
-- last), its duration is uncertain: possible_duration_hours is NULL, duration_hours is the
-- least it lasted and duration_hours_max the most (to the snapshot after its last, and from the
-- snapshot before its first when PG&E gives no start).
CREATE VIEW outages_expanded AS
SELECT
    o.id AS outage,
    first.title AS earliest,
    last.title AS latest,
    o.snapshot_count AS num_snapshots,
    CASE WHEN NOT (
        -- [[[cog cog.outl(f"        {unseen('began')}\n        OR {unseen('ended')}") ]]]
        coalesce(began.gap_class = 'blind' OR began.gap_class = 'unknown' AND began.gap_seconds > 1800, 0)
        OR coalesce(ended.gap_class = 'blind' OR ended.gap_class = 'unknown' AND ended.gap_seconds > 1800, 0)
        -- [[[end]]]
    -- [[[cog cog.outl(f"    ) THEN {DURATION} END AS possible_duration_hours,") ]]]
    ) THEN round((last.[when] - min(coalesce(o.outageStartTime, first.[when]), first.[when])) / 3600.0, 2) END AS possible_duration_hours,
    -- [[[end]]]
    o.last_snapshot < (SELECT max(id) FROM snapshots WHERE suspect IS NULL) AS probably_ended,
    o.min_estCustAffected,
    o.max_estCustAffected,
    round(o.customer_minutes) AS customer_minutes,
    -- [[[cog cog.outl(f"    {unseen('began')}\n        OR {unseen('ended')}") ]]]
    coalesce(began.gap_class = 'blind' OR began.gap_class = 'unknown' AND began.gap_seconds > 1800, 0)
        OR coalesce(ended.gap_class = 'blind' OR ended.gap_class = 'unknown' AND ended.gap_seconds > 1800, 0)
    -- [[[end]]]
        AS duration_uncertain,
    -- [[[cog cog.outl(f"    {DURATION} AS duration_hours,") ]]]
    round((last.[when] - min(coalesce(o.outageStartTime, first.[when]), first.[when])) / 3600.0, 2) AS duration_hours,
    -- [[[end]]]
    round((coalesce(after.[when], last.[when]) - CASE WHEN o.outageStartTime IS NULL THEN coalesce(before.[when], first.[when])
        ELSE min(o.outageStartTime, first.[when]) END) / 3600.0, 2) AS duration_hours_max,
    o.regionName,
    o.latitude,
    o.longitude,
    counties.name AS county,
    CASE WHEN o.county_fips IS NOT NULL THEN printf('%05d', o.county_fips) END AS county_fips,
    o.place,
    o.place_inferred,
    o.outageStartTime,
    o.first_snapshot,
    o.last_snapshot
FROM outages o
LEFT JOIN counties ON counties.fips = o.county_fips
JOIN snapshots first ON first.id = o.first_snapshot
JOIN snapshots last ON last.id = o.last_snapshot
LEFT JOIN snapshots before ON before.id = o.first_snapshot - 1
LEFT JOIN snapshots after ON after.id = o.last_snapshot + 1
LEFT JOIN snapshots began ON began.id = (
    SELECT n.id FROM snapshots n WHERE n.id >= o.first_snapshot AND n.suspect IS NULL ORDER BY n.id LIMIT 1
)
LEFT JOIN snapshots ended ON ended.id = (
    SELECT n.id FROM snapshots n WHERE n.id > o.last_snapshot AND n.suspect IS NULL ORDER BY n.id LIMIT 1
);

-- The gaps the scraper did not see: between two trustworthy snapshots, 'blind' where
-- the feed's own times (or the scraper's trailers) show it missed changes, 'unknown'
-- where nothing shows either way. Quiet and watched gaps are not gaps in coverage.
CREATE VIEW coverage_gaps AS
SELECT
    previous.id AS before_snapshot,
    previous.title AS gap_start,
    s.id AS after_snapshot,
    s.title AS gap_end,
    round(s.gap_seconds / 3600.0, 2) AS gap_hours,
    s.gap_class
FROM snapshots s
JOIN snapshots previous ON previous.id = (
    SELECT max(p.id) FROM snapshots p WHERE p.id < s.id AND p.suspect IS NULL
)
WHERE s.gap_class IN ('blind', 'unknown');

-- Hours of each class of gap per day (UTC), a gap counted on the day it ends.
CREATE VIEW coverage_by_day AS
SELECT
    day,
    round(total(CASE WHEN gap_class = 'watched' THEN gap_seconds END) / 3600.0, 2) AS watched_hours,
    round(total(CASE WHEN gap_class = 'quiet' THEN gap_seconds END) / 3600.0, 2) AS quiet_hours,
    round(total(CASE WHEN gap_class = 'blind' THEN gap_seconds END) / 3600.0, 2) AS blind_hours,
    round(total(CASE WHEN gap_class = 'unknown' THEN gap_seconds END) / 3600.0, 2) AS unknown_hours,
    count(*) AS snapshots
FROM (SELECT date([when], 'unixepoch') AS day, gap_class, gap_seconds FROM snapshots WHERE gap_class IS NOT NULL)
GROUP BY day;

-- One row for every outage area in every snapshot it was in, like outage_snapshots:
-- area_runs are bucketed the same way. Fast for one snapshot or one outage.
CREATE VIEW area_snapshots AS
SELECT
    a.outage AS outage,
    s.id AS snapshot,
    a.geometry,
    a.id AS area
FROM snapshots s
JOIN area_runs r
    ON r.bucket = s.bucket AND r.first_snapshot <= s.id AND r.last_snapshot >= s.id
JOIN areas a ON a.id = r.area;

-- The outages of the latest snapshot that have an area, with the area as GeoJSON
-- geometry text (the column name datasette-geojson-map draws). An area whose
-- outage is not in that snapshot's outage file is left out. CROSS JOIN keeps the
-- join order: from the snapshot's outages to their areas by index, never from
-- each area run of a bucket to each version run of it.
CREATE VIEW most_recent_areas AS
SELECT
    o.outage,
    o.estCustAffected,
    o.cause,
    o.crewCurrentStatus,
    a.geometry
FROM outage_snapshots o
CROSS JOIN areas a ON a.outage = o.outage
CROSS JOIN area_runs r
    -- [[[cog cog.outl(f"    ON r.area = a.id AND r.bucket = o.snapshot / {BUCKET}") ]]]
    ON r.area = a.id AND r.bucket = o.snapshot / 64
    -- [[[end]]]
    AND r.first_snapshot <= o.snapshot AND r.last_snapshot >= o.snapshot
WHERE o.snapshot = (SELECT max(id) FROM snapshots);

-- IEEE 1366's figures, per day and per year, from reliability_days (pge_outages/events.py): SAIDI
-- and SAIFI divide by reliability_basis.customers_served, which can be changed in place. They are
-- estimates from the public outage map: momentary outages, and outages shorter than a scrape, are
-- not in it, and time the scraper did not see counts for nothing.
CREATE VIEW reliability_by_day AS
SELECT
    d.day,
    d.seen_hours,
    round(d.customer_minutes) AS customer_minutes,
    round(d.customer_minutes / b.customers_served, 4) AS saidi_minutes,
    d.outages_started,
    d.customers_interrupted,
    round(d.customers_interrupted * 1.0 / b.customers_served, 6) AS saifi,
    d.major_event,
    d.unusual,
    round(b.med_threshold_customer_minutes / b.customers_served, 4) AS major_event_threshold_saidi,
    b.provisional
FROM reliability_days d
CROSS JOIN reliability_basis b;

CREATE VIEW reliability_years AS
SELECT
    year,
    days,
    days_seen,
    major_event_days,
    round(minutes / served, 3) AS saidi_minutes,
    round(interrupted / served, 4) AS saifi,
    round(minutes / nullif(interrupted, 0), 1) AS caidi_minutes,
    round(minutes_normal / served, 3) AS saidi_minutes_without_med,
    round(interrupted_normal / served, 4) AS saifi_without_med,
    round(minutes_normal / nullif(interrupted_normal, 0), 1) AS caidi_minutes_without_med,
    served AS customers_served,
    years_of_history,
    provisional,
    'estimate from the public outage map' AS basis
FROM (
    SELECT
        substr(d.day, 1, 4) AS year,
        count(*) AS days,
        round(total(d.seen_hours) / 24, 1) AS days_seen,
        total(d.major_event) AS major_event_days,
        total(d.customer_minutes) AS minutes,
        total(d.customers_interrupted) AS interrupted,
        total(CASE WHEN NOT d.major_event THEN d.customer_minutes END) AS minutes_normal,
        total(CASE WHEN NOT d.major_event THEN d.customers_interrupted END) AS interrupted_normal,
        b.customers_served AS served,
        b.years AS years_of_history,
        b.provisional
    FROM reliability_days d
    CROSS JOIN reliability_basis b
    GROUP BY substr(d.day, 1, 4)
);
