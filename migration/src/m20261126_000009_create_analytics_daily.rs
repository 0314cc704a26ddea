//! A daily rollup of each project's activity per tool and user, so dashboard overviews read a few
//! rows per day instead of every step and call.
//!
//! `analytics_daily` holds, per (project, UTC day, session tool, session user — `''` for none),
//! the sessions created and the steps, model calls (with tokens and cost), findings and alerts
//! written that day: the same figures `lux-core`'s raw overview computes. Triggers keep it exact
//! in the transaction of every write path (services, batch ingest, bulk inserts, imports): a row
//! inserted adds, a row deleted subtracts, an update of its day, session or cost moves it. A
//! session's deletion subtracts everything it contributed in a `BEFORE DELETE` trigger, because
//! once it is gone the cascaded child deletions can no longer say which rollup row they were
//! in (their own triggers then find no session and do nothing). Sessions never change project,
//! tool, user or creation time, so their updates need no trigger. The table is filled from the
//! existing rows when the migration runs. Functions are `CREATE OR REPLACE`d because `lux migrate
//! fresh` drops tables, not functions.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

const SQLITE_UP: &[&str] = &[
    r#"CREATE TABLE analytics_daily (
    project_id BLOB NOT NULL,
    day TEXT NOT NULL,
    tool TEXT NOT NULL,
    user_key TEXT NOT NULL,
    sessions BIGINT NOT NULL DEFAULT 0,
    steps BIGINT NOT NULL DEFAULT 0,
    model_calls BIGINT NOT NULL DEFAULT 0,
    input_tokens BIGINT NOT NULL DEFAULT 0,
    output_tokens BIGINT NOT NULL DEFAULT 0,
    cached_input_tokens BIGINT NOT NULL DEFAULT 0,
    reasoning_tokens BIGINT NOT NULL DEFAULT 0,
    cost_nusd BIGINT NOT NULL DEFAULT 0,
    findings BIGINT NOT NULL DEFAULT 0,
    alerts BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (project_id, day, tool, user_key)
);"#,
    r#"CREATE TRIGGER analytics_daily_steps_ai AFTER INSERT ON steps BEGIN
    INSERT INTO analytics_daily (project_id, day, tool, user_key, steps)
    SELECT s.project_id, substr(new.created_at, 1, 10), s.tool, coalesce(s.user_id, ''), 1
    FROM sessions s WHERE s.id = new.session_id
    ON CONFLICT (project_id, day, tool, user_key) DO UPDATE SET steps = analytics_daily.steps + excluded.steps;
END;"#,
    r#"CREATE TRIGGER analytics_daily_steps_ad AFTER DELETE ON steps BEGIN
    UPDATE analytics_daily SET steps = steps - 1
    WHERE day = substr(old.created_at, 1, 10) AND EXISTS (SELECT 1 FROM sessions s
        WHERE s.id = old.session_id AND s.project_id = analytics_daily.project_id
        AND s.tool = analytics_daily.tool AND coalesce(s.user_id, '') = analytics_daily.user_key);
END;"#,
    r#"CREATE TRIGGER analytics_daily_steps_au AFTER UPDATE OF session_id, created_at ON steps BEGIN
    UPDATE analytics_daily SET steps = steps - 1
    WHERE day = substr(old.created_at, 1, 10) AND EXISTS (SELECT 1 FROM sessions s
        WHERE s.id = old.session_id AND s.project_id = analytics_daily.project_id
        AND s.tool = analytics_daily.tool AND coalesce(s.user_id, '') = analytics_daily.user_key);
    INSERT INTO analytics_daily (project_id, day, tool, user_key, steps)
    SELECT s.project_id, substr(new.created_at, 1, 10), s.tool, coalesce(s.user_id, ''), 1
    FROM sessions s WHERE s.id = new.session_id
    ON CONFLICT (project_id, day, tool, user_key) DO UPDATE SET steps = analytics_daily.steps + excluded.steps;
END;"#,
    r#"CREATE TRIGGER analytics_daily_calls_ai AFTER INSERT ON model_calls BEGIN
    INSERT INTO analytics_daily (project_id, day, tool, user_key, model_calls, input_tokens, output_tokens, cached_input_tokens, reasoning_tokens, cost_nusd)
    SELECT s.project_id, substr(new.created_at, 1, 10), s.tool, coalesce(s.user_id, ''), 1, new.input_tokens, new.output_tokens, new.cached_input_tokens, new.reasoning_tokens, new.cost_nusd
    FROM sessions s WHERE s.id = new.session_id
    ON CONFLICT (project_id, day, tool, user_key) DO UPDATE SET model_calls = analytics_daily.model_calls + excluded.model_calls, input_tokens = analytics_daily.input_tokens + excluded.input_tokens, output_tokens = analytics_daily.output_tokens + excluded.output_tokens, cached_input_tokens = analytics_daily.cached_input_tokens + excluded.cached_input_tokens, reasoning_tokens = analytics_daily.reasoning_tokens + excluded.reasoning_tokens, cost_nusd = analytics_daily.cost_nusd + excluded.cost_nusd;
END;"#,
    r#"CREATE TRIGGER analytics_daily_calls_ad AFTER DELETE ON model_calls BEGIN
    UPDATE analytics_daily SET model_calls = model_calls - 1, input_tokens = input_tokens - old.input_tokens, output_tokens = output_tokens - old.output_tokens, cached_input_tokens = cached_input_tokens - old.cached_input_tokens, reasoning_tokens = reasoning_tokens - old.reasoning_tokens, cost_nusd = cost_nusd - old.cost_nusd
    WHERE day = substr(old.created_at, 1, 10) AND EXISTS (SELECT 1 FROM sessions s
        WHERE s.id = old.session_id AND s.project_id = analytics_daily.project_id
        AND s.tool = analytics_daily.tool AND coalesce(s.user_id, '') = analytics_daily.user_key);
END;"#,
    r#"CREATE TRIGGER analytics_daily_calls_au AFTER UPDATE OF session_id, created_at, input_tokens, output_tokens, cached_input_tokens, reasoning_tokens, cost_nusd ON model_calls BEGIN
    UPDATE analytics_daily SET model_calls = model_calls - 1, input_tokens = input_tokens - old.input_tokens, output_tokens = output_tokens - old.output_tokens, cached_input_tokens = cached_input_tokens - old.cached_input_tokens, reasoning_tokens = reasoning_tokens - old.reasoning_tokens, cost_nusd = cost_nusd - old.cost_nusd
    WHERE day = substr(old.created_at, 1, 10) AND EXISTS (SELECT 1 FROM sessions s
        WHERE s.id = old.session_id AND s.project_id = analytics_daily.project_id
        AND s.tool = analytics_daily.tool AND coalesce(s.user_id, '') = analytics_daily.user_key);
    INSERT INTO analytics_daily (project_id, day, tool, user_key, model_calls, input_tokens, output_tokens, cached_input_tokens, reasoning_tokens, cost_nusd)
    SELECT s.project_id, substr(new.created_at, 1, 10), s.tool, coalesce(s.user_id, ''), 1, new.input_tokens, new.output_tokens, new.cached_input_tokens, new.reasoning_tokens, new.cost_nusd
    FROM sessions s WHERE s.id = new.session_id
    ON CONFLICT (project_id, day, tool, user_key) DO UPDATE SET model_calls = analytics_daily.model_calls + excluded.model_calls, input_tokens = analytics_daily.input_tokens + excluded.input_tokens, output_tokens = analytics_daily.output_tokens + excluded.output_tokens, cached_input_tokens = analytics_daily.cached_input_tokens + excluded.cached_input_tokens, reasoning_tokens = analytics_daily.reasoning_tokens + excluded.reasoning_tokens, cost_nusd = analytics_daily.cost_nusd + excluded.cost_nusd;
END;"#,
    r#"CREATE TRIGGER analytics_daily_findings_ai AFTER INSERT ON bias_findings BEGIN
    INSERT INTO analytics_daily (project_id, day, tool, user_key, findings)
    SELECT s.project_id, substr(new.created_at, 1, 10), s.tool, coalesce(s.user_id, ''), 1
    FROM sessions s WHERE s.id = new.session_id
    ON CONFLICT (project_id, day, tool, user_key) DO UPDATE SET findings = analytics_daily.findings + excluded.findings;
END;"#,
    r#"CREATE TRIGGER analytics_daily_findings_ad AFTER DELETE ON bias_findings BEGIN
    UPDATE analytics_daily SET findings = findings - 1
    WHERE day = substr(old.created_at, 1, 10) AND EXISTS (SELECT 1 FROM sessions s
        WHERE s.id = old.session_id AND s.project_id = analytics_daily.project_id
        AND s.tool = analytics_daily.tool AND coalesce(s.user_id, '') = analytics_daily.user_key);
END;"#,
    r#"CREATE TRIGGER analytics_daily_findings_au AFTER UPDATE OF session_id, created_at ON bias_findings BEGIN
    UPDATE analytics_daily SET findings = findings - 1
    WHERE day = substr(old.created_at, 1, 10) AND EXISTS (SELECT 1 FROM sessions s
        WHERE s.id = old.session_id AND s.project_id = analytics_daily.project_id
        AND s.tool = analytics_daily.tool AND coalesce(s.user_id, '') = analytics_daily.user_key);
    INSERT INTO analytics_daily (project_id, day, tool, user_key, findings)
    SELECT s.project_id, substr(new.created_at, 1, 10), s.tool, coalesce(s.user_id, ''), 1
    FROM sessions s WHERE s.id = new.session_id
    ON CONFLICT (project_id, day, tool, user_key) DO UPDATE SET findings = analytics_daily.findings + excluded.findings;
END;"#,
    r#"CREATE TRIGGER analytics_daily_alerts_ai AFTER INSERT ON monitor_events BEGIN
    INSERT INTO analytics_daily (project_id, day, tool, user_key, alerts)
    SELECT s.project_id, substr(new.created_at, 1, 10), s.tool, coalesce(s.user_id, ''), 1
    FROM sessions s WHERE s.id = new.session_id
    ON CONFLICT (project_id, day, tool, user_key) DO UPDATE SET alerts = analytics_daily.alerts + excluded.alerts;
END;"#,
    r#"CREATE TRIGGER analytics_daily_alerts_ad AFTER DELETE ON monitor_events BEGIN
    UPDATE analytics_daily SET alerts = alerts - 1
    WHERE day = substr(old.created_at, 1, 10) AND EXISTS (SELECT 1 FROM sessions s
        WHERE s.id = old.session_id AND s.project_id = analytics_daily.project_id
        AND s.tool = analytics_daily.tool AND coalesce(s.user_id, '') = analytics_daily.user_key);
END;"#,
    r#"CREATE TRIGGER analytics_daily_alerts_au AFTER UPDATE OF session_id, created_at ON monitor_events BEGIN
    UPDATE analytics_daily SET alerts = alerts - 1
    WHERE day = substr(old.created_at, 1, 10) AND EXISTS (SELECT 1 FROM sessions s
        WHERE s.id = old.session_id AND s.project_id = analytics_daily.project_id
        AND s.tool = analytics_daily.tool AND coalesce(s.user_id, '') = analytics_daily.user_key);
    INSERT INTO analytics_daily (project_id, day, tool, user_key, alerts)
    SELECT s.project_id, substr(new.created_at, 1, 10), s.tool, coalesce(s.user_id, ''), 1
    FROM sessions s WHERE s.id = new.session_id
    ON CONFLICT (project_id, day, tool, user_key) DO UPDATE SET alerts = analytics_daily.alerts + excluded.alerts;
END;"#,
    r#"CREATE TRIGGER analytics_daily_sessions_ai AFTER INSERT ON sessions BEGIN
    INSERT INTO analytics_daily (project_id, day, tool, user_key, sessions)
    SELECT new.project_id, substr(new.created_at, 1, 10), new.tool, coalesce(new.user_id, ''), 1
    WHERE true
    ON CONFLICT (project_id, day, tool, user_key) DO UPDATE SET sessions = analytics_daily.sessions + excluded.sessions;
END;"#,
    r#"CREATE TRIGGER analytics_daily_sessions_bd BEFORE DELETE ON sessions BEGIN
    UPDATE analytics_daily SET
    sessions = sessions - CASE WHEN day = substr(old.created_at, 1, 10) THEN 1 ELSE 0 END,
    steps = steps - (SELECT COUNT(*) FROM steps x
        WHERE x.session_id = old.id AND substr(x.created_at, 1, 10) = analytics_daily.day),
    model_calls = model_calls - (SELECT COUNT(*) FROM model_calls x
        WHERE x.session_id = old.id AND substr(x.created_at, 1, 10) = analytics_daily.day),
    input_tokens = input_tokens - (SELECT coalesce(SUM(x.input_tokens), 0) FROM model_calls x
        WHERE x.session_id = old.id AND substr(x.created_at, 1, 10) = analytics_daily.day),
    output_tokens = output_tokens - (SELECT coalesce(SUM(x.output_tokens), 0) FROM model_calls x
        WHERE x.session_id = old.id AND substr(x.created_at, 1, 10) = analytics_daily.day),
    cached_input_tokens = cached_input_tokens - (SELECT coalesce(SUM(x.cached_input_tokens), 0) FROM model_calls x
        WHERE x.session_id = old.id AND substr(x.created_at, 1, 10) = analytics_daily.day),
    reasoning_tokens = reasoning_tokens - (SELECT coalesce(SUM(x.reasoning_tokens), 0) FROM model_calls x
        WHERE x.session_id = old.id AND substr(x.created_at, 1, 10) = analytics_daily.day),
    cost_nusd = cost_nusd - (SELECT coalesce(SUM(x.cost_nusd), 0) FROM model_calls x
        WHERE x.session_id = old.id AND substr(x.created_at, 1, 10) = analytics_daily.day),
    findings = findings - (SELECT COUNT(*) FROM bias_findings x
        WHERE x.session_id = old.id AND substr(x.created_at, 1, 10) = analytics_daily.day),
    alerts = alerts - (SELECT COUNT(*) FROM monitor_events x
        WHERE x.session_id = old.id AND substr(x.created_at, 1, 10) = analytics_daily.day)
    WHERE project_id = old.project_id AND tool = old.tool
    AND user_key = coalesce(old.user_id, '');
END;"#,
    r#"INSERT INTO analytics_daily (project_id, day, tool, user_key, sessions)
SELECT s.project_id, substr(s.created_at, 1, 10), s.tool, coalesce(s.user_id, ''), COUNT(*)
FROM sessions s WHERE true GROUP BY 1, 2, 3, 4;"#,
    r#"INSERT INTO analytics_daily (project_id, day, tool, user_key, steps)
SELECT s.project_id, substr(x.created_at, 1, 10), s.tool, coalesce(s.user_id, ''), COUNT(*)
FROM steps x JOIN sessions s ON s.id = x.session_id WHERE true GROUP BY 1, 2, 3, 4
ON CONFLICT (project_id, day, tool, user_key) DO UPDATE SET steps = analytics_daily.steps + excluded.steps;"#,
    r#"INSERT INTO analytics_daily (project_id, day, tool, user_key, model_calls, input_tokens, output_tokens, cached_input_tokens, reasoning_tokens, cost_nusd)
SELECT s.project_id, substr(x.created_at, 1, 10), s.tool, coalesce(s.user_id, ''), COUNT(*), SUM(x.input_tokens), SUM(x.output_tokens), SUM(x.cached_input_tokens), SUM(x.reasoning_tokens), SUM(x.cost_nusd)
FROM model_calls x JOIN sessions s ON s.id = x.session_id WHERE true GROUP BY 1, 2, 3, 4
ON CONFLICT (project_id, day, tool, user_key) DO UPDATE SET model_calls = analytics_daily.model_calls + excluded.model_calls, input_tokens = analytics_daily.input_tokens + excluded.input_tokens, output_tokens = analytics_daily.output_tokens + excluded.output_tokens, cached_input_tokens = analytics_daily.cached_input_tokens + excluded.cached_input_tokens, reasoning_tokens = analytics_daily.reasoning_tokens + excluded.reasoning_tokens, cost_nusd = analytics_daily.cost_nusd + excluded.cost_nusd;"#,
    r#"INSERT INTO analytics_daily (project_id, day, tool, user_key, findings)
SELECT s.project_id, substr(x.created_at, 1, 10), s.tool, coalesce(s.user_id, ''), COUNT(*)
FROM bias_findings x JOIN sessions s ON s.id = x.session_id WHERE true GROUP BY 1, 2, 3, 4
ON CONFLICT (project_id, day, tool, user_key) DO UPDATE SET findings = analytics_daily.findings + excluded.findings;"#,
    r#"INSERT INTO analytics_daily (project_id, day, tool, user_key, alerts)
SELECT s.project_id, substr(x.created_at, 1, 10), s.tool, coalesce(s.user_id, ''), COUNT(*)
FROM monitor_events x JOIN sessions s ON s.id = x.session_id WHERE true GROUP BY 1, 2, 3, 4
ON CONFLICT (project_id, day, tool, user_key) DO UPDATE SET alerts = analytics_daily.alerts + excluded.alerts;"#,
];

const SQLITE_DOWN: &[&str] = &[
    r#"DROP TRIGGER IF EXISTS analytics_daily_steps_ai;"#,
    r#"DROP TRIGGER IF EXISTS analytics_daily_steps_ad;"#,
    r#"DROP TRIGGER IF EXISTS analytics_daily_steps_au;"#,
    r#"DROP TRIGGER IF EXISTS analytics_daily_calls_ai;"#,
    r#"DROP TRIGGER IF EXISTS analytics_daily_calls_ad;"#,
    r#"DROP TRIGGER IF EXISTS analytics_daily_calls_au;"#,
    r#"DROP TRIGGER IF EXISTS analytics_daily_findings_ai;"#,
    r#"DROP TRIGGER IF EXISTS analytics_daily_findings_ad;"#,
    r#"DROP TRIGGER IF EXISTS analytics_daily_findings_au;"#,
    r#"DROP TRIGGER IF EXISTS analytics_daily_alerts_ai;"#,
    r#"DROP TRIGGER IF EXISTS analytics_daily_alerts_ad;"#,
    r#"DROP TRIGGER IF EXISTS analytics_daily_alerts_au;"#,
    r#"DROP TRIGGER IF EXISTS analytics_daily_sessions_ai;"#,
    r#"DROP TRIGGER IF EXISTS analytics_daily_sessions_bd;"#,
    r#"DROP TABLE IF EXISTS analytics_daily;"#,
];

const POSTGRES_UP: &[&str] = &[
    r#"CREATE TABLE analytics_daily (
    project_id uuid NOT NULL,
    day TEXT NOT NULL,
    tool TEXT NOT NULL,
    user_key TEXT NOT NULL,
    sessions BIGINT NOT NULL DEFAULT 0,
    steps BIGINT NOT NULL DEFAULT 0,
    model_calls BIGINT NOT NULL DEFAULT 0,
    input_tokens BIGINT NOT NULL DEFAULT 0,
    output_tokens BIGINT NOT NULL DEFAULT 0,
    cached_input_tokens BIGINT NOT NULL DEFAULT 0,
    reasoning_tokens BIGINT NOT NULL DEFAULT 0,
    cost_nusd BIGINT NOT NULL DEFAULT 0,
    findings BIGINT NOT NULL DEFAULT 0,
    alerts BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (project_id, day, tool, user_key)
);"#,
    r#"CREATE OR REPLACE FUNCTION analytics_daily_steps() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        UPDATE analytics_daily SET steps = steps - 1
    WHERE day = to_char(OLD.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AND EXISTS (SELECT 1 FROM sessions s
        WHERE s.id = OLD.session_id AND s.project_id = analytics_daily.project_id
        AND s.tool = analytics_daily.tool AND coalesce(s.user_id, '') = analytics_daily.user_key);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO analytics_daily (project_id, day, tool, user_key, steps)
    SELECT s.project_id, to_char(NEW.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD'), s.tool, coalesce(s.user_id, ''), 1
    FROM sessions s WHERE s.id = NEW.session_id
    ON CONFLICT (project_id, day, tool, user_key) DO UPDATE SET steps = analytics_daily.steps + excluded.steps;
    END IF;
    RETURN NULL;
END $$;"#,
    r#"CREATE TRIGGER analytics_daily_steps AFTER INSERT OR DELETE OR UPDATE OF session_id, created_at ON steps
    FOR EACH ROW EXECUTE FUNCTION analytics_daily_steps();"#,
    r#"CREATE OR REPLACE FUNCTION analytics_daily_calls() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        UPDATE analytics_daily SET model_calls = model_calls - 1, input_tokens = input_tokens - OLD.input_tokens, output_tokens = output_tokens - OLD.output_tokens, cached_input_tokens = cached_input_tokens - OLD.cached_input_tokens, reasoning_tokens = reasoning_tokens - OLD.reasoning_tokens, cost_nusd = cost_nusd - OLD.cost_nusd
    WHERE day = to_char(OLD.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AND EXISTS (SELECT 1 FROM sessions s
        WHERE s.id = OLD.session_id AND s.project_id = analytics_daily.project_id
        AND s.tool = analytics_daily.tool AND coalesce(s.user_id, '') = analytics_daily.user_key);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO analytics_daily (project_id, day, tool, user_key, model_calls, input_tokens, output_tokens, cached_input_tokens, reasoning_tokens, cost_nusd)
    SELECT s.project_id, to_char(NEW.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD'), s.tool, coalesce(s.user_id, ''), 1, NEW.input_tokens, NEW.output_tokens, NEW.cached_input_tokens, NEW.reasoning_tokens, NEW.cost_nusd
    FROM sessions s WHERE s.id = NEW.session_id
    ON CONFLICT (project_id, day, tool, user_key) DO UPDATE SET model_calls = analytics_daily.model_calls + excluded.model_calls, input_tokens = analytics_daily.input_tokens + excluded.input_tokens, output_tokens = analytics_daily.output_tokens + excluded.output_tokens, cached_input_tokens = analytics_daily.cached_input_tokens + excluded.cached_input_tokens, reasoning_tokens = analytics_daily.reasoning_tokens + excluded.reasoning_tokens, cost_nusd = analytics_daily.cost_nusd + excluded.cost_nusd;
    END IF;
    RETURN NULL;
END $$;"#,
    r#"CREATE TRIGGER analytics_daily_calls AFTER INSERT OR DELETE OR UPDATE OF session_id, created_at, input_tokens, output_tokens, cached_input_tokens, reasoning_tokens, cost_nusd ON model_calls
    FOR EACH ROW EXECUTE FUNCTION analytics_daily_calls();"#,
    r#"CREATE OR REPLACE FUNCTION analytics_daily_findings() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        UPDATE analytics_daily SET findings = findings - 1
    WHERE day = to_char(OLD.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AND EXISTS (SELECT 1 FROM sessions s
        WHERE s.id = OLD.session_id AND s.project_id = analytics_daily.project_id
        AND s.tool = analytics_daily.tool AND coalesce(s.user_id, '') = analytics_daily.user_key);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO analytics_daily (project_id, day, tool, user_key, findings)
    SELECT s.project_id, to_char(NEW.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD'), s.tool, coalesce(s.user_id, ''), 1
    FROM sessions s WHERE s.id = NEW.session_id
    ON CONFLICT (project_id, day, tool, user_key) DO UPDATE SET findings = analytics_daily.findings + excluded.findings;
    END IF;
    RETURN NULL;
END $$;"#,
    r#"CREATE TRIGGER analytics_daily_findings AFTER INSERT OR DELETE OR UPDATE OF session_id, created_at ON bias_findings
    FOR EACH ROW EXECUTE FUNCTION analytics_daily_findings();"#,
    r#"CREATE OR REPLACE FUNCTION analytics_daily_alerts() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        UPDATE analytics_daily SET alerts = alerts - 1
    WHERE day = to_char(OLD.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AND EXISTS (SELECT 1 FROM sessions s
        WHERE s.id = OLD.session_id AND s.project_id = analytics_daily.project_id
        AND s.tool = analytics_daily.tool AND coalesce(s.user_id, '') = analytics_daily.user_key);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO analytics_daily (project_id, day, tool, user_key, alerts)
    SELECT s.project_id, to_char(NEW.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD'), s.tool, coalesce(s.user_id, ''), 1
    FROM sessions s WHERE s.id = NEW.session_id
    ON CONFLICT (project_id, day, tool, user_key) DO UPDATE SET alerts = analytics_daily.alerts + excluded.alerts;
    END IF;
    RETURN NULL;
END $$;"#,
    r#"CREATE TRIGGER analytics_daily_alerts AFTER INSERT OR DELETE OR UPDATE OF session_id, created_at ON monitor_events
    FOR EACH ROW EXECUTE FUNCTION analytics_daily_alerts();"#,
    r#"CREATE OR REPLACE FUNCTION analytics_daily_sessions() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        UPDATE analytics_daily SET
    sessions = sessions - CASE WHEN day = to_char(OLD.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') THEN 1 ELSE 0 END,
    steps = steps - (SELECT COUNT(*) FROM steps x
        WHERE x.session_id = OLD.id AND to_char(x.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') = analytics_daily.day),
    model_calls = model_calls - (SELECT COUNT(*) FROM model_calls x
        WHERE x.session_id = OLD.id AND to_char(x.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') = analytics_daily.day),
    input_tokens = input_tokens - (SELECT coalesce(SUM(x.input_tokens), 0) FROM model_calls x
        WHERE x.session_id = OLD.id AND to_char(x.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') = analytics_daily.day),
    output_tokens = output_tokens - (SELECT coalesce(SUM(x.output_tokens), 0) FROM model_calls x
        WHERE x.session_id = OLD.id AND to_char(x.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') = analytics_daily.day),
    cached_input_tokens = cached_input_tokens - (SELECT coalesce(SUM(x.cached_input_tokens), 0) FROM model_calls x
        WHERE x.session_id = OLD.id AND to_char(x.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') = analytics_daily.day),
    reasoning_tokens = reasoning_tokens - (SELECT coalesce(SUM(x.reasoning_tokens), 0) FROM model_calls x
        WHERE x.session_id = OLD.id AND to_char(x.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') = analytics_daily.day),
    cost_nusd = cost_nusd - (SELECT coalesce(SUM(x.cost_nusd), 0) FROM model_calls x
        WHERE x.session_id = OLD.id AND to_char(x.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') = analytics_daily.day),
    findings = findings - (SELECT COUNT(*) FROM bias_findings x
        WHERE x.session_id = OLD.id AND to_char(x.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') = analytics_daily.day),
    alerts = alerts - (SELECT COUNT(*) FROM monitor_events x
        WHERE x.session_id = OLD.id AND to_char(x.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') = analytics_daily.day)
    WHERE project_id = OLD.project_id AND tool = OLD.tool
    AND user_key = coalesce(OLD.user_id, '');
        RETURN OLD;
    END IF;
    INSERT INTO analytics_daily (project_id, day, tool, user_key, sessions)
    SELECT NEW.project_id, to_char(NEW.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD'), NEW.tool, coalesce(NEW.user_id, ''), 1
    WHERE true
    ON CONFLICT (project_id, day, tool, user_key) DO UPDATE SET sessions = analytics_daily.sessions + excluded.sessions;
    RETURN NULL;
END $$;"#,
    r#"CREATE TRIGGER analytics_daily_sessions_ai AFTER INSERT ON sessions
    FOR EACH ROW EXECUTE FUNCTION analytics_daily_sessions();"#,
    r#"CREATE TRIGGER analytics_daily_sessions_bd BEFORE DELETE ON sessions
    FOR EACH ROW EXECUTE FUNCTION analytics_daily_sessions();"#,
    r#"INSERT INTO analytics_daily (project_id, day, tool, user_key, sessions)
SELECT s.project_id, to_char(s.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD'), s.tool, coalesce(s.user_id, ''), COUNT(*)
FROM sessions s WHERE true GROUP BY 1, 2, 3, 4;"#,
    r#"INSERT INTO analytics_daily (project_id, day, tool, user_key, steps)
SELECT s.project_id, to_char(x.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD'), s.tool, coalesce(s.user_id, ''), COUNT(*)
FROM steps x JOIN sessions s ON s.id = x.session_id WHERE true GROUP BY 1, 2, 3, 4
ON CONFLICT (project_id, day, tool, user_key) DO UPDATE SET steps = analytics_daily.steps + excluded.steps;"#,
    r#"INSERT INTO analytics_daily (project_id, day, tool, user_key, model_calls, input_tokens, output_tokens, cached_input_tokens, reasoning_tokens, cost_nusd)
SELECT s.project_id, to_char(x.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD'), s.tool, coalesce(s.user_id, ''), COUNT(*), SUM(x.input_tokens), SUM(x.output_tokens), SUM(x.cached_input_tokens), SUM(x.reasoning_tokens), SUM(x.cost_nusd)
FROM model_calls x JOIN sessions s ON s.id = x.session_id WHERE true GROUP BY 1, 2, 3, 4
ON CONFLICT (project_id, day, tool, user_key) DO UPDATE SET model_calls = analytics_daily.model_calls + excluded.model_calls, input_tokens = analytics_daily.input_tokens + excluded.input_tokens, output_tokens = analytics_daily.output_tokens + excluded.output_tokens, cached_input_tokens = analytics_daily.cached_input_tokens + excluded.cached_input_tokens, reasoning_tokens = analytics_daily.reasoning_tokens + excluded.reasoning_tokens, cost_nusd = analytics_daily.cost_nusd + excluded.cost_nusd;"#,
    r#"INSERT INTO analytics_daily (project_id, day, tool, user_key, findings)
SELECT s.project_id, to_char(x.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD'), s.tool, coalesce(s.user_id, ''), COUNT(*)
FROM bias_findings x JOIN sessions s ON s.id = x.session_id WHERE true GROUP BY 1, 2, 3, 4
ON CONFLICT (project_id, day, tool, user_key) DO UPDATE SET findings = analytics_daily.findings + excluded.findings;"#,
    r#"INSERT INTO analytics_daily (project_id, day, tool, user_key, alerts)
SELECT s.project_id, to_char(x.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD'), s.tool, coalesce(s.user_id, ''), COUNT(*)
FROM monitor_events x JOIN sessions s ON s.id = x.session_id WHERE true GROUP BY 1, 2, 3, 4
ON CONFLICT (project_id, day, tool, user_key) DO UPDATE SET alerts = analytics_daily.alerts + excluded.alerts;"#,
];

const POSTGRES_DOWN: &[&str] = &[
    r#"DROP TRIGGER IF EXISTS analytics_daily_steps ON steps;"#,
    r#"DROP FUNCTION IF EXISTS analytics_daily_steps();"#,
    r#"DROP TRIGGER IF EXISTS analytics_daily_calls ON model_calls;"#,
    r#"DROP FUNCTION IF EXISTS analytics_daily_calls();"#,
    r#"DROP TRIGGER IF EXISTS analytics_daily_findings ON bias_findings;"#,
    r#"DROP FUNCTION IF EXISTS analytics_daily_findings();"#,
    r#"DROP TRIGGER IF EXISTS analytics_daily_alerts ON monitor_events;"#,
    r#"DROP FUNCTION IF EXISTS analytics_daily_alerts();"#,
    r#"DROP TRIGGER IF EXISTS analytics_daily_sessions_ai ON sessions;"#,
    r#"DROP TRIGGER IF EXISTS analytics_daily_sessions_bd ON sessions;"#,
    r#"DROP FUNCTION IF EXISTS analytics_daily_sessions();"#,
    r#"DROP TABLE IF EXISTS analytics_daily;"#,
];

/// One statement at a time: SQLite runs only the first statement of a multi-statement string here.
async fn run(manager: &SchemaManager<'_>, statements: &[&str]) -> Result<(), DbErr> {
    for statement in statements {
        manager
            .get_connection()
            .execute_unprepared(statement)
            .await?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let statements = match manager.get_database_backend() {
            DbBackend::Postgres => POSTGRES_UP,
            _ => SQLITE_UP,
        };
        run(manager, statements).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let statements = match manager.get_database_backend() {
            DbBackend::Postgres => POSTGRES_DOWN,
            _ => SQLITE_DOWN,
        };
        run(manager, statements).await
    }
}
