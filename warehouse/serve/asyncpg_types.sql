-- asyncpg's type introspection (asyncpg/introspection.py, INTRO_LOOKUP_TYPES),
-- which it runs with the OIDs of the result and parameter types it has no
-- codec for. Its recursive typeinfo_tree CTE takes DuckDB minutes to plan; the
-- served catalog has no domain, composite or range types, so the tree is the
-- requested types (depth 0) and the elements of the arrays among them
-- (depth 1), with PostgreSQL's columns; the server reports their types as
-- PostgreSQL does (oid, name, "char", oid[], text[]; asyncpgTypeColumns).
WITH requested AS (
    SELECT t.oid, t.typname, t.typtype, t.typelem, t.typlen, 0 AS depth
    FROM pg_type t WHERE list_contains($1::oid[], t.oid)
), tree AS (
    SELECT * FROM requested
    UNION ALL
    SELECT e.oid, e.typname, e.typtype, e.typelem, e.typlen, 1 AS depth
    FROM requested r JOIN pg_type e ON e.oid = r.typelem
)
SELECT DISTINCT
    t.oid::BIGINT AS oid,
    'pg_catalog' AS ns,
    t.typname AS name,
    t.typtype AS kind,
    NULL::BIGINT AS basetype,
    t.typelem::BIGINT AS elemtype,
    CASE WHEN t.typlen = -1 AND t.typelem <> 0 THEN ',' END AS elemdelim,
    NULL::BIGINT AS range_subtype,
    NULL::BIGINT[] AS attrtypoids,
    NULL::TEXT[] AS attrnames,
    t.depth::INTEGER AS depth,
    NULL::TEXT AS basetype_name,
    CASE WHEN t.typelem <> 0 THEN format_type(t.typelem, NULL) END AS elemtype_name,
    NULL::TEXT AS range_subtype_name
FROM tree t
ORDER BY depth DESC
