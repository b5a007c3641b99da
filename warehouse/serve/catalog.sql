-- Serving engine setup for one published marts version, run once on the
-- engine's first connection, in order. A text/template: {{.Catalog}} is the
-- database name clients see, the generated parts come from types.go and
-- params.go so the catalog agrees with what the wire reports.
--
-- 1. Resource limits, while settings can still change.
{{if .MemoryLimit}}SET memory_limit = {{quote .MemoryLimit}};{{end}}
{{if .Threads}}SET threads = {{.Threads}};{{end}}
-- No spilling to disk: the memory limit is a hard limit for queries.
SET temp_directory = '';
SET TimeZone = 'UTC';
-- Results stream (stream.go): the engine runs at most this far ahead of a
-- client's reads (at least a chunk); the default, about 1 MB, let one slow
-- client hold some 60 MB.
SET streaming_buffer_size = '64KiB';
SET autoinstall_known_extensions = false;
SET autoload_known_extensions = false;

-- 2. The marts, read-only.
ATTACH {{quote .Path}} AS {{.Catalog}} (READ_ONLY);

-- 3. The PostgreSQL catalog emulation. Clients' pg_catalog.x references are
-- rewritten to x and resolve here first (see rewrite.go); what is not here
-- falls through to DuckDB's own pg_catalog.
CREATE SCHEMA memory.pgcompat;

-- PostgreSQL types DuckDB lacks, as aliases so casts like ::oid work.
CREATE TYPE memory.pgcompat.oid AS BIGINT;
CREATE TYPE memory.pgcompat.regclass AS BIGINT;
CREATE TYPE memory.pgcompat.regtype AS BIGINT;
CREATE TYPE memory.pgcompat.regproc AS BIGINT;
CREATE TYPE memory.pgcompat.regprocedure AS BIGINT;
CREATE TYPE memory.pgcompat.regnamespace AS BIGINT;
CREATE TYPE memory.pgcompat.regrole AS BIGINT;
CREATE TYPE memory.pgcompat.regoper AS BIGINT;
CREATE TYPE memory.pgcompat.regconfig AS BIGINT;
CREATE TYPE memory.pgcompat.xid AS BIGINT;
CREATE TYPE memory.pgcompat.cid AS BIGINT;
CREATE TYPE memory.pgcompat.name AS VARCHAR;
CREATE TYPE memory.pgcompat.pg_node_tree AS VARCHAR;
CREATE TYPE memory.pgcompat.aclitem AS VARCHAR;
CREATE TYPE memory.pgcompat.int2vector AS VARCHAR;
CREATE TYPE memory.pgcompat.oidvector AS VARCHAR;

-- Stable OIDs: the same table has the same OID in every version, so a client
-- that looked a table up keeps finding it after a publish.
CREATE MACRO memory.pgcompat.pg_rel_oid(schema_name, rel_name) AS
    (16384 + hash('{{.Catalog}}.' || schema_name || '.' || rel_name) % 1000000000)::BIGINT;
CREATE MACRO memory.pgcompat.pg_nsp_oid(schema_name) AS CASE schema_name
    WHEN 'pg_catalog' THEN 11 WHEN 'information_schema' THEN 12000 WHEN 'main' THEN 2200
    ELSE (16384 + hash('{{.Catalog}}.' || schema_name) % 1000000)::BIGINT END;
CREATE MACRO memory.pgcompat.pg_role_oid(role_name) AS CASE role_name
    WHEN 'custmart' THEN 10 ELSE (16384 + hash('role.' || role_name) % 1000000)::BIGINT END;
-- The marts' keys, from the version's _version.json, as primary keys named
-- <mart>_pkey (a key whose columns a mart lacks is left out), and their
-- meanings from the README's Marts section, as comments. Computed once:
-- a version's marts never change.
CREATE TABLE memory.pgcompat.mart_keys AS
    SELECT d.schema_name, d.table_name, d.table_name || '_pkey' AS index_name,
        memory.pgcompat.pg_rel_oid(d.schema_name, d.table_name) AS table_oid,
        memory.pgcompat.pg_rel_oid(d.schema_name, d.table_name || '_pkey') AS index_oid,
        memory.pgcompat.pg_rel_oid(d.schema_name, d.table_name || '.pkey') AS constraint_oid,
        list(d.column_index::SMALLINT ORDER BY k.key_seq) AS attnums,
        list(d.column_name ORDER BY k.key_seq) AS column_names
    FROM {{.Keys}}
    JOIN duckdb_columns() d ON d.database_name = '{{.Catalog}}' AND d.schema_name = 'main'
        AND d.table_name = k.table_name AND d.column_name = k.column_name
    GROUP BY d.schema_name, d.table_name HAVING count(*) = any_value(k.key_columns);
CREATE TABLE memory.pgcompat.mart_descriptions AS
    SELECT memory.pgcompat.pg_rel_oid(t.schema_name, t.table_name) AS objoid, 1259::BIGINT AS classoid, 0 AS objsubid,
        coalesce(t."comment", d.description) AS description
    FROM {{.Descriptions}}
    JOIN duckdb_tables() t ON t.database_name = '{{.Catalog}}' AND t.schema_name = 'main' AND t.table_name = d.table_name
    WHERE d.column_name = ''
    UNION ALL
    SELECT memory.pgcompat.pg_rel_oid(c.schema_name, c.table_name), 1259, c.column_index, coalesce(c."comment", d.description)
    FROM {{.Descriptions}}
    JOIN duckdb_columns() c ON c.database_name = '{{.Catalog}}' AND c.schema_name = 'main' AND c.table_name = d.table_name
        AND c.column_name = d.column_name;

CREATE MACRO memory.pgcompat.pg_type_oid(duck_type) AS CASE
    {{.TypeOIDCases}}
    ELSE {{.TextOID}} END;

-- Functions clients call on connect and in psql's describe queries.
CREATE MACRO memory.pgcompat.version() AS
    'PostgreSQL {{.ServerVersion}} on x86_64-pc-linux-gnu, served from DuckDB ' || (SELECT library_version FROM pragma_version());
-- The session-dependent ones get their value from the rewriter:
-- current_user becomes current_user('analyst').
CREATE MACRO memory.pgcompat.current_user(user_name) AS user_name;
CREATE MACRO memory.pgcompat.current_setting(setting_name, setting_value) AS setting_value;
CREATE MACRO memory.pgcompat.pg_backend_pid(pid) AS pid;
CREATE MACRO memory.pgcompat.pg_encoding_to_char(encoding) AS CASE encoding WHEN 6 THEN 'UTF8' WHEN 0 THEN 'SQL_ASCII' ELSE '' END;
CREATE MACRO memory.pgcompat.pg_char_to_encoding(encoding) AS CASE upper(encoding) WHEN 'UTF8' THEN 6 WHEN 'SQL_ASCII' THEN 0 ELSE -1 END;
CREATE MACRO memory.pgcompat.pg_type_is_visible(type_oid) AS true;
CREATE MACRO memory.pgcompat.pg_function_is_visible(func_oid) AS true;
CREATE MACRO memory.pgcompat.format_type(type_oid, typemod) AS CASE
    WHEN type_oid = {{.NumericOID}} AND typemod >= 4 THEN 'numeric(' || ((typemod - 4) // 65536) || ',' || ((typemod - 4) % 65536) || ')'
    ELSE coalesce(map_extract_value({{.FormatTypeNames}}, type_oid), CASE WHEN type_oid IS NOT NULL THEN '???' END) END;
CREATE MACRO memory.pgcompat.obj_description(object_oid) AS
    (SELECT description FROM memory.pgcompat.mart_descriptions WHERE objoid = object_oid AND objsubid = 0),
    (object_oid, catalog_name) AS
    (SELECT description FROM memory.pgcompat.mart_descriptions WHERE objoid = object_oid AND objsubid = 0);
CREATE MACRO memory.pgcompat.col_description(rel_oid, column_number) AS
    (SELECT description FROM memory.pgcompat.mart_descriptions WHERE objoid = rel_oid AND objsubid = column_number);
CREATE MACRO memory.pgcompat.shobj_description(object_oid, catalog_name) AS NULL::VARCHAR;
CREATE MACRO memory.pgcompat.pg_get_expr(expr, rel_oid) AS expr::VARCHAR, (expr, rel_oid, pretty) AS expr::VARCHAR;
CREATE MACRO memory.pgcompat.pg_relation_size(rel_oid) AS
    (SELECT estimated_size * 64 FROM duckdb_tables() WHERE database_name = '{{.Catalog}}' AND memory.pgcompat.pg_rel_oid(schema_name, table_name) = rel_oid);
CREATE MACRO memory.pgcompat.pg_total_relation_size(rel_oid) AS memory.pgcompat.pg_relation_size(rel_oid);
CREATE MACRO memory.pgcompat.pg_table_size(rel_oid) AS memory.pgcompat.pg_relation_size(rel_oid);
CREATE MACRO memory.pgcompat.pg_indexes_size(rel_oid) AS 0;
CREATE MACRO memory.pgcompat.pg_database_size(db) AS
    (SELECT sum(estimated_size * 64)::BIGINT FROM duckdb_tables() WHERE database_name = '{{.Catalog}}');
CREATE MACRO memory.pgcompat.pg_get_statisticsobjdef_columns(stat_oid) AS NULL::VARCHAR;
CREATE MACRO memory.pgcompat.pg_get_function_result(func_oid) AS NULL::VARCHAR;
CREATE MACRO memory.pgcompat.pg_get_function_arguments(func_oid) AS NULL::VARCHAR;
CREATE MACRO memory.pgcompat.pg_get_function_identity_arguments(func_oid) AS NULL::VARCHAR;
CREATE MACRO memory.pgcompat.pg_relation_is_publishable(rel_oid) AS false;
CREATE MACRO memory.pgcompat.pg_statistics_obj_is_visible(stat_oid) AS true;
CREATE MACRO memory.pgcompat.getdatabaseencoding() AS 'UTF8';
-- PostgreSQL's rounding and units (DuckDB's own says KiB).
CREATE MACRO memory.pgcompat.pg_size_pretty(size) AS CASE
    WHEN size::BIGINT < 10240 THEN size::BIGINT || ' bytes'
    WHEN size::BIGINT >> 9 < 20479 THEN ((size::BIGINT >> 9) + 1) // 2 || ' kB'
    WHEN size::BIGINT >> 19 < 20479 THEN ((size::BIGINT >> 19) + 1) // 2 || ' MB'
    WHEN size::BIGINT >> 29 < 20479 THEN ((size::BIGINT >> 29) + 1) // 2 || ' GB'
    ELSE ((size::BIGINT >> 39) + 1) // 2 || ' TB' END;
CREATE MACRO memory.pgcompat.pg_is_in_recovery() AS false;
-- '\xdeadbeef'::bytea, PostgreSQL's hex format; DuckDB reads \xde as one escaped byte.
CREATE MACRO memory.pgcompat.pg_bytea(literal) AS
    CASE WHEN regexp_full_match(literal, '\\x([0-9a-fA-F]{2})*') THEN unhex(literal[3:]) ELSE literal::BLOB END;
CREATE MACRO memory.pgcompat.txid_current() AS 1;
CREATE MACRO memory.pgcompat.pg_tablespace_location(tablespace_oid) AS '';
CREATE MACRO memory.pgcompat.quote_ident(ident) AS
    CASE WHEN regexp_full_match(ident, '[a-z_][a-z0-9_$]*') THEN ident ELSE '"' || replace(ident, '"', '""') || '"' END;
CREATE MACRO memory.pgcompat.array_upper(arr, dimension) AS CASE WHEN dimension = 1 AND len(arr) > 0 THEN len(arr) END;
CREATE MACRO memory.pgcompat.array_lower(arr, dimension) AS CASE WHEN dimension = 1 AND len(arr) > 0 THEN 1 END;
-- PostgreSQL's array_length is an integer, NULL for an empty array or another
-- dimension; DuckDB's one-argument form stays.
CREATE MACRO memory.pgcompat.array_length(arr) AS len(arr),
    (arr, dimension) AS CASE WHEN dimension = 1 AND len(arr) > 0 THEN len(arr)::INTEGER END;

CREATE MACRO memory.pgcompat.quote_literal(val) AS '''' || replace(val::VARCHAR, '''', '''''') || '''';
CREATE MACRO memory.pgcompat.quote_nullable(val) AS coalesce(memory.pgcompat.quote_literal(val), 'NULL');
-- 'a.b' or '"A".b' to its parts, as PostgreSQL splits a qualified name.
CREATE MACRO memory.pgcompat.parse_ident(qualified) AS list_transform(
    regexp_extract_all(qualified, '("([^"]|"")*"|[^."]+)'),
    part -> CASE WHEN part[1] = '"' THEN replace(part[2:-2], '""', '"') ELSE lower(part) END);
-- The marts' only indexes and constraints are their keys; they have no
-- sequences, partitions or statistics counters.
CREATE MACRO memory.pgcompat.pg_key_columns(names) AS
    array_to_string(list_transform(names, c -> memory.pgcompat.quote_ident(c)), ', ');
CREATE MACRO memory.pgcompat.pg_indexdef(rel_oid) AS
    (SELECT 'CREATE UNIQUE INDEX ' || memory.pgcompat.quote_ident(index_name) || ' ON ' || memory.pgcompat.quote_ident(schema_name)
        || '.' || memory.pgcompat.quote_ident(table_name) || ' USING btree (' || memory.pgcompat.pg_key_columns(column_names) || ')'
     FROM memory.pgcompat.mart_keys WHERE index_oid = rel_oid);
CREATE MACRO memory.pgcompat.pg_get_indexdef(rel_oid) AS memory.pgcompat.pg_indexdef(rel_oid),
    (rel_oid, column_number, pretty) AS CASE WHEN column_number = 0 THEN memory.pgcompat.pg_indexdef(rel_oid)
        ELSE (SELECT column_names[column_number] FROM memory.pgcompat.mart_keys WHERE index_oid = rel_oid) END;
CREATE MACRO memory.pgcompat.pg_get_serial_sequence(table_name, column_name) AS NULL::VARCHAR;
CREATE MACRO memory.pgcompat.pg_get_partkeydef(rel_oid) AS NULL::VARCHAR;
CREATE MACRO memory.pgcompat.pg_get_constraintdef(con_oid) AS
    (SELECT 'PRIMARY KEY (' || memory.pgcompat.pg_key_columns(column_names) || ')' FROM memory.pgcompat.mart_keys WHERE constraint_oid = con_oid),
    (con_oid, pretty) AS
    (SELECT 'PRIMARY KEY (' || memory.pgcompat.pg_key_columns(column_names) || ')' FROM memory.pgcompat.mart_keys WHERE constraint_oid = con_oid);
CREATE MACRO memory.pgcompat.pg_stat_get_numscans(rel_oid) AS 0::BIGINT;
CREATE MACRO memory.pgcompat.pg_blocking_pids(pid) AS []::INTEGER[];
-- to_char of a timestamp with the patterns clients use; others stay as written.
CREATE MACRO memory.pgcompat.to_char(value, pattern) AS strftime(value::TIMESTAMPTZ,
    replace(replace(replace(replace(replace(replace(replace(replace(replace(pattern,
        'YYYY', '%Y'), 'HH24', '%H'), 'HH12', '%I'), 'MI', '%M'), 'SS', '%S'), 'MM', '%m'), 'DD', '%d'), 'TZ', '%Z'), 'US', '%f'));
-- PostgreSQL's format(): %s, %I, %L and %% with optional positions (%2$s);
-- the rewriter turns format(f, a, b) into pg_format(f, [a::VARCHAR, b::VARCHAR]).
CREATE MACRO memory.pgcompat.pg_format_arg(spec, args, seq) AS
    CASE WHEN spec LIKE '%$_' THEN TRY_CAST(regexp_extract(spec, '[0-9]+') AS INTEGER) ELSE seq END;
CREATE MACRO memory.pgcompat.pg_format_spec(spec, args, seq) AS CASE
    WHEN spec = '%%' THEN '%'
    WHEN memory.pgcompat.pg_format_arg(spec, args, seq) > len(args) THEN error('too few arguments for format()')
    WHEN right(spec, 1) = 's' THEN coalesce(args[memory.pgcompat.pg_format_arg(spec, args, seq)], '')
    WHEN right(spec, 1) = 'I' THEN coalesce(memory.pgcompat.quote_ident(args[memory.pgcompat.pg_format_arg(spec, args, seq)]),
        error('null values cannot be formatted as an SQL identifier'))
    ELSE memory.pgcompat.quote_nullable(args[memory.pgcompat.pg_format_arg(spec, args, seq)]) END;
CREATE MACRO memory.pgcompat.pg_format_parts(parts, specs, args) AS
    parts[1] || array_to_string(list_transform(range(1, len(specs) + 1), i ->
        memory.pgcompat.pg_format_spec(specs[i], args, len(list_filter(specs[1:i], s -> s <> '%%'))) || parts[i + 1]), '');
CREATE MACRO memory.pgcompat.pg_format(fmt, args) AS memory.pgcompat.pg_format_parts(
    regexp_split_to_array(fmt, '%([0-9]+\$)?[sIL%]'), regexp_extract_all(fmt, '%([0-9]+\$)?[sIL%]'), args);
-- information_schema._pg_expandarray(array): a row (x, n) per element, the
-- element and its position; JDBC's getPrimaryKeys reads index keys with it.
CREATE MACRO memory.pgcompat._pg_expandarray(arr) AS
    unnest(list_transform(range(1, len(arr) + 1), pos -> {'x': arr[pos], 'n': pos}));
CREATE MACRO memory.pgcompat.row_to_json(record) AS to_json(record);
CREATE MACRO memory.pgcompat.has_database_privilege(db, privilege) AS upper(privilege) IN ('CONNECT', 'TEMPORARY', 'TEMP'),
    (role_name, db, privilege) AS upper(privilege) IN ('CONNECT', 'TEMPORARY', 'TEMP');

-- The catalog tables, over the marts only.
CREATE VIEW memory.pgcompat.pg_namespace AS
    SELECT memory.pgcompat.pg_nsp_oid(schema_name) AS oid, schema_name AS nspname, 10::BIGINT AS nspowner, NULL::VARCHAR[] AS nspacl
    FROM duckdb_schemas() WHERE database_name = '{{.Catalog}}'
    UNION ALL SELECT 11, 'pg_catalog', 10, NULL
    UNION ALL SELECT 12000, 'information_schema', 10, NULL;

CREATE VIEW memory.pgcompat.pg_class AS
    SELECT memory.pgcompat.pg_rel_oid(schema_name, table_name) AS oid, table_name AS relname,
        memory.pgcompat.pg_nsp_oid(schema_name) AS relnamespace, 0::BIGINT AS reltype, 0::BIGINT AS reloftype,
        10::BIGINT AS relowner, 2::BIGINT AS relam, 0::BIGINT AS relfilenode, 0::BIGINT AS reltablespace,
        (estimated_size // 100)::INTEGER AS relpages, estimated_size::FLOAT AS reltuples, 0 AS relallvisible,
        0::BIGINT AS reltoastrelid,
        memory.pgcompat.pg_rel_oid(schema_name, table_name) IN (SELECT table_oid FROM memory.pgcompat.mart_keys) AS relhasindex,
        false AS relisshared, 'p' AS relpersistence, 'r' AS relkind,
        column_count::SMALLINT AS relnatts, 0::SMALLINT AS relchecks, false AS relhasrules, false AS relhastriggers,
        false AS relhassubclass, false AS relrowsecurity, false AS relforcerowsecurity, true AS relispopulated,
        'd' AS relreplident, false AS relispartition, 0::BIGINT AS relrewrite, 0::BIGINT AS relfrozenxid,
        0::BIGINT AS relminmxid, NULL::VARCHAR[] AS relacl, NULL::VARCHAR[] AS reloptions, NULL::VARCHAR AS relpartbound
    FROM duckdb_tables() WHERE database_name = '{{.Catalog}}'
    UNION ALL
    SELECT memory.pgcompat.pg_rel_oid(schema_name, view_name), view_name, memory.pgcompat.pg_nsp_oid(schema_name), 0, 0,
        10, 0, 0, 0, 0, 0, 0, 0, false, false, 'p', 'v', column_count::SMALLINT, 0, true, false, false, false, false,
        true, 'n', false, 0, 0, 0, NULL, NULL, NULL
    FROM duckdb_views() WHERE database_name = '{{.Catalog}}' AND NOT internal
    UNION ALL
    SELECT index_oid, index_name, memory.pgcompat.pg_nsp_oid(schema_name), 0, 0, 10, 403, 0, 0, 1, 0, 0, 0, false, false,
        'p', 'i', len(attnums)::SMALLINT, 0, false, false, false, false, false, true, 'n', false, 0, 0, 0, NULL, NULL, NULL
    FROM memory.pgcompat.mart_keys;

CREATE VIEW memory.pgcompat.pg_attribute AS
    SELECT memory.pgcompat.pg_rel_oid(schema_name, table_name) AS attrelid, column_name AS attname,
        memory.pgcompat.pg_type_oid(data_type) AS atttypid, -1 AS attstattarget, -1::SMALLINT AS attlen,
        column_index::SMALLINT AS attnum, 0 AS attndims, -1 AS attcacheoff,
        CASE WHEN data_type LIKE 'DECIMAL(%' AND data_type NOT LIKE '%]' THEN numeric_precision * 65536 + numeric_scale + 4 ELSE -1 END AS atttypmod,
        false AS attbyval, 'd' AS attalign, 'p' AS attstorage, '' AS attcompression, NOT is_nullable AS attnotnull,
        column_default IS NOT NULL AS atthasdef, false AS atthasmissing, '' AS attidentity, '' AS attgenerated,
        false AS attisdropped, true AS attislocal, 0 AS attinhcount, 0::BIGINT AS attcollation, NULL::VARCHAR[] AS attacl,
        NULL::VARCHAR[] AS attoptions, NULL::VARCHAR[] AS attfdwoptions, NULL::VARCHAR AS attmissingval
    FROM duckdb_columns() WHERE database_name = '{{.Catalog}}';

CREATE VIEW memory.pgcompat.pg_attrdef AS
    SELECT memory.pgcompat.pg_rel_oid(schema_name, table_name) * 1000 + column_index AS oid,
        memory.pgcompat.pg_rel_oid(schema_name, table_name) AS adrelid, column_index::SMALLINT AS adnum,
        column_default AS adbin
    FROM duckdb_columns() WHERE database_name = '{{.Catalog}}' AND column_default IS NOT NULL;

CREATE VIEW memory.pgcompat.pg_type AS
    SELECT * FROM (VALUES {{.TypeRows}}) t(oid, typname, typnamespace, typowner, typlen, typbyval, typtype,
        typcategory, typispreferred, typisdefined, typdelim, typrelid, typelem, typarray, typinput, typoutput,
        typreceive, typsend, typmodin, typmodout, typanalyze, typalign, typstorage, typnotnull, typbasetype,
        typtypmod, typndims, typcollation, typdefaultbin, typdefault, typacl);
-- The types' I/O functions, with PostgreSQL's OIDs and names: pg_type's
-- typinput, typoutput, typreceive and typsend point here, and clients such
-- as Npgsql tell arrays by their typreceive, array_recv.
CREATE VIEW memory.pgcompat.pg_proc AS
    SELECT * FROM (VALUES {{.ProcRows}}) p(oid, proname, pronamespace, proowner, prolang, procost, prorows, provariadic,
        prosupport, prokind, prosecdef, proleakproof, proisstrict, proretset, provolatile, proparallel,
        pronargs, pronargdefaults, prorettype, proargtypes, proallargtypes, proargmodes, proargnames,
        proargdefaults, protrftypes, prosrc, probin, prosqlbody, proconfig, proacl);

CREATE VIEW memory.pgcompat.pg_database AS
    SELECT 16384::BIGINT AS oid, '{{.Catalog}}' AS datname, 10::BIGINT AS datdba, 6 AS encoding, 'c' AS datlocprovider,
        false AS datistemplate, true AS datallowconn, -1 AS datconnlimit, 0::BIGINT AS datfrozenxid,
        0::BIGINT AS datminmxid, 1663::BIGINT AS dattablespace, 'C.UTF-8' AS datcollate, 'C.UTF-8' AS datctype,
        NULL::VARCHAR AS daticulocale, NULL::VARCHAR AS datcollversion, NULL::VARCHAR[] AS datacl;

CREATE VIEW memory.pgcompat.pg_roles AS
    SELECT rolname, false AS rolsuper, true AS rolinherit, false AS rolcreaterole, false AS rolcreatedb,
        rolname <> 'custmart' AS rolcanlogin, false AS rolreplication, -1 AS rolconnlimit, '********' AS rolpassword,
        NULL::TIMESTAMPTZ AS rolvaliduntil, false AS rolbypassrls, NULL::VARCHAR[] AS rolconfig,
        memory.pgcompat.pg_role_oid(rolname) AS oid
    FROM (VALUES ('custmart'){{range .Users}}, ({{quote .}}){{end}}) r(rolname);
CREATE VIEW memory.pgcompat.pg_user AS
    SELECT rolname AS usename, oid AS usesysid, false AS usecreatedb, false AS usesuper, false AS userepl,
        false AS usebypassrls, '********' AS passwd, NULL::TIMESTAMPTZ AS valuntil, NULL::VARCHAR[] AS useconfig
    FROM memory.pgcompat.pg_roles WHERE rolcanlogin;

CREATE VIEW memory.pgcompat.pg_settings AS
    SELECT name, setting, NULL::VARCHAR AS unit, 'Client Connection Defaults' AS category, short_desc,
        NULL::VARCHAR AS extra_desc, 'user' AS context, 'string' AS vartype, 'default' AS source,
        NULL::VARCHAR AS min_val, NULL::VARCHAR AS max_val, NULL::VARCHAR[] AS enumvals, setting AS boot_val,
        setting AS reset_val, NULL::VARCHAR AS sourcefile, NULL::INTEGER AS sourceline, false AS pending_restart
    FROM (VALUES {{.SettingRows}}) s(name, setting, short_desc);

CREATE VIEW memory.pgcompat.pg_am AS
    SELECT * FROM (VALUES (2::BIGINT, 'heap', 'heap_tableam_handler', 't'), (403::BIGINT, 'btree', 'bthandler', 'i'))
        a(oid, amname, amhandler, amtype);
CREATE VIEW memory.pgcompat.pg_tablespace AS
    SELECT * FROM (VALUES (1663::BIGINT, 'pg_default', 10::BIGINT, NULL::VARCHAR[], NULL::VARCHAR[]),
        (1664::BIGINT, 'pg_global', 10::BIGINT, NULL::VARCHAR[], NULL::VARCHAR[])) t(oid, spcname, spcowner, spcacl, spcoptions);
CREATE VIEW memory.pgcompat.pg_collation AS
    SELECT * FROM (VALUES (100::BIGINT, 'default', 11::BIGINT, 10::BIGINT, 'd', true, -1, NULL::VARCHAR, NULL::VARCHAR, NULL::VARCHAR, NULL::VARCHAR),
        (950::BIGINT, 'C', 11::BIGINT, 10::BIGINT, 'c', true, -1, 'C', 'C', NULL::VARCHAR, NULL::VARCHAR))
        c(oid, collname, collnamespace, collowner, collprovider, collisdeterministic, collencoding, collcollate,
          collctype, colliculocale, collversion);
CREATE VIEW memory.pgcompat.pg_description AS
    SELECT * FROM memory.pgcompat.mart_descriptions;

-- Functions that read the catalog views.
CREATE MACRO memory.pgcompat.pg_get_userbyid(role_oid) AS
    coalesce((SELECT rolname FROM memory.pgcompat.pg_roles WHERE oid = role_oid), 'unknown (OID=' || role_oid || ')');
CREATE MACRO memory.pgcompat.pg_table_is_visible(rel_oid) AS
    EXISTS (SELECT 1 FROM memory.pgcompat.pg_class c WHERE c.oid = rel_oid AND c.relnamespace = 2200);
-- 'name'::regclass, rewritten to pg_regclass('name'). Catalog tables keep
-- PostgreSQL's OIDs, which clients compare pg_description.classoid with.
CREATE MACRO memory.pgcompat.pg_regclass(rel_name) AS coalesce(
    (SELECT c.oid FROM memory.pgcompat.pg_class c JOIN memory.pgcompat.pg_namespace n ON n.oid = c.relnamespace
     WHERE replace(rel_name, '"', '') IN (c.relname, n.nspname || '.' || c.relname)
     ORDER BY n.nspname <> 'main' LIMIT 1),
    CASE replace(rel_name, 'pg_catalog.', '') WHEN 'pg_class' THEN 1259 WHEN 'pg_type' THEN 1247
        WHEN 'pg_attribute' THEN 1249 WHEN 'pg_proc' THEN 1255 WHEN 'pg_namespace' THEN 2615
        WHEN 'pg_database' THEN 1262 WHEN 'pg_constraint' THEN 2606 END);
-- 'pg_catalog.array_in'::regproc, the function's OID ('-' is 0, none), which
-- pg_type.typinput compares with.
CREATE MACRO memory.pgcompat.pg_regproc(proc_name) AS CASE WHEN proc_name = '-' THEN 0::BIGINT ELSE
    (SELECT oid FROM memory.pgcompat.pg_proc WHERE proname = replace(replace(proc_name, 'pg_catalog.', ''), '"', '') LIMIT 1) END;
CREATE MACRO memory.pgcompat.pg_regtype(type_name) AS (
    SELECT oid FROM memory.pgcompat.pg_type WHERE type_name IN (typname, memory.pgcompat.format_type(oid, NULL)) LIMIT 1);
-- expr::regclass (regtype, regproc) of a name or an OID, and back to a name.
CREATE MACRO memory.pgcompat.pg_to_regclass(val) AS
    CASE WHEN typeof(val) = 'VARCHAR' THEN memory.pgcompat.pg_regclass(val::VARCHAR) ELSE TRY_CAST(val AS BIGINT) END;
CREATE MACRO memory.pgcompat.pg_regclass_text(rel_oid) AS coalesce(
    (SELECT CASE WHEN n.nspname IN ('main', 'pg_catalog') THEN memory.pgcompat.quote_ident(c.relname)
        ELSE memory.pgcompat.quote_ident(n.nspname) || '.' || memory.pgcompat.quote_ident(c.relname) END
     FROM memory.pgcompat.pg_class c JOIN memory.pgcompat.pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = rel_oid),
    CASE rel_oid WHEN 1259 THEN 'pg_class' WHEN 1247 THEN 'pg_type' WHEN 1249 THEN 'pg_attribute' WHEN 1255 THEN 'pg_proc'
        WHEN 2615 THEN 'pg_namespace' WHEN 1262 THEN 'pg_database' WHEN 2606 THEN 'pg_constraint' END,
    rel_oid::VARCHAR);
CREATE MACRO memory.pgcompat.pg_to_regtype(val) AS
    CASE WHEN typeof(val) = 'VARCHAR' THEN memory.pgcompat.pg_regtype(val::VARCHAR) ELSE TRY_CAST(val AS BIGINT) END;
-- format_type() once: the macro would copy type_oid, often a subquery, into each call.
CREATE MACRO memory.pgcompat.pg_regtype_text(type_oid) AS
    coalesce(nullif(memory.pgcompat.format_type(type_oid, NULL), '???'), type_oid::VARCHAR);
CREATE MACRO memory.pgcompat.pg_to_regproc(val) AS
    CASE WHEN typeof(val) = 'VARCHAR' THEN memory.pgcompat.pg_regproc(val::VARCHAR) ELSE TRY_CAST(val AS BIGINT) END;
CREATE MACRO memory.pgcompat.pg_regproc_text(proc_oid) AS CASE WHEN proc_oid = 0 THEN '-' ELSE coalesce(
    (SELECT proname FROM memory.pgcompat.pg_proc WHERE oid = proc_oid), proc_oid::VARCHAR) END;
CREATE MACRO memory.pgcompat.pg_regnamespace(schema_name) AS memory.pgcompat.pg_nsp_oid(schema_name);

-- information_schema over the marts with PostgreSQL's type names; the
-- rewriter maps information_schema.columns to information_schema_columns.
CREATE VIEW memory.pgcompat.information_schema_schemata AS
    SELECT '{{.Catalog}}' AS catalog_name, nspname AS schema_name, 'custmart' AS schema_owner,
        NULL::VARCHAR AS default_character_set_catalog, NULL::VARCHAR AS default_character_set_schema,
        NULL::VARCHAR AS default_character_set_name, NULL::VARCHAR AS sql_path
    FROM memory.pgcompat.pg_namespace;
CREATE VIEW memory.pgcompat.information_schema_tables AS
    SELECT '{{.Catalog}}' AS table_catalog, n.nspname AS table_schema, c.relname AS table_name,
        CASE c.relkind WHEN 'v' THEN 'VIEW' ELSE 'BASE TABLE' END AS table_type,
        NULL::VARCHAR AS self_referencing_column_name, NULL::VARCHAR AS reference_generation,
        NULL::VARCHAR AS user_defined_type_catalog, NULL::VARCHAR AS user_defined_type_schema,
        NULL::VARCHAR AS user_defined_type_name, 'NO' AS is_insertable_into, 'NO' AS is_typed, NULL::VARCHAR AS commit_action
    FROM memory.pgcompat.pg_class c JOIN memory.pgcompat.pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'v');
CREATE VIEW memory.pgcompat.information_schema_views AS
    SELECT '{{.Catalog}}' AS table_catalog, schema_name AS table_schema, view_name AS table_name, "sql" AS view_definition,
        'NONE' AS check_option, 'NO' AS is_updatable, 'NO' AS is_insertable_into, 'NO' AS is_trigger_updatable,
        'NO' AS is_trigger_deletable, 'NO' AS is_trigger_insertable_into
    FROM duckdb_views() WHERE database_name = '{{.Catalog}}' AND NOT internal;
CREATE VIEW memory.pgcompat.information_schema_columns AS
    SELECT '{{.Catalog}}' AS table_catalog, d.schema_name AS table_schema, d.table_name, d.column_name,
        d.column_index AS ordinal_position, d.column_default, CASE WHEN d.is_nullable THEN 'YES' ELSE 'NO' END AS is_nullable,
        CASE WHEN t.typcategory = 'A' THEN 'ARRAY' ELSE memory.pgcompat.format_type(t.oid, NULL) END AS data_type,
        NULL::INTEGER AS character_maximum_length, NULL::INTEGER AS character_octet_length,
        CASE WHEN t.typcategory = 'N' THEN d.numeric_precision END AS numeric_precision,
        CASE WHEN t.typcategory = 'N' THEN d.numeric_precision_radix END AS numeric_precision_radix,
        CASE WHEN t.typcategory = 'N' THEN d.numeric_scale END AS numeric_scale,
        CASE WHEN t.typcategory = 'D' THEN 6 END AS datetime_precision, NULL::VARCHAR AS interval_type,
        NULL::INTEGER AS interval_precision, NULL::VARCHAR AS character_set_catalog, NULL::VARCHAR AS character_set_schema,
        NULL::VARCHAR AS character_set_name, NULL::VARCHAR AS collation_catalog, NULL::VARCHAR AS collation_schema,
        NULL::VARCHAR AS collation_name, NULL::VARCHAR AS domain_catalog, NULL::VARCHAR AS domain_schema,
        NULL::VARCHAR AS domain_name, '{{.Catalog}}' AS udt_catalog, 'pg_catalog' AS udt_schema, t.typname AS udt_name,
        NULL::VARCHAR AS scope_catalog, NULL::VARCHAR AS scope_schema, NULL::VARCHAR AS scope_name,
        NULL::INTEGER AS maximum_cardinality, d.column_index::VARCHAR AS dtd_identifier, 'NO' AS is_self_referencing,
        'NO' AS is_identity, NULL::VARCHAR AS identity_generation, NULL::VARCHAR AS identity_start,
        NULL::VARCHAR AS identity_increment, NULL::VARCHAR AS identity_maximum, NULL::VARCHAR AS identity_minimum,
        NULL::VARCHAR AS identity_cycle, 'NEVER' AS is_generated, NULL::VARCHAR AS generation_expression, 'NO' AS is_updatable
    FROM duckdb_columns() d JOIN memory.pgcompat.pg_type t ON t.oid = memory.pgcompat.pg_type_oid(d.data_type)
    WHERE d.database_name = '{{.Catalog}}';

CREATE VIEW memory.pgcompat.information_schema_table_constraints AS
    SELECT '{{.Catalog}}' AS constraint_catalog, schema_name AS constraint_schema, index_name AS constraint_name,
        '{{.Catalog}}' AS table_catalog, schema_name AS table_schema, table_name, 'PRIMARY KEY' AS constraint_type,
        'NO' AS is_deferrable, 'NO' AS initially_deferred, 'YES' AS enforced, NULL::VARCHAR AS nulls_distinct
    FROM memory.pgcompat.mart_keys;
CREATE VIEW memory.pgcompat.information_schema_key_column_usage AS
    SELECT '{{.Catalog}}' AS constraint_catalog, schema_name AS constraint_schema, index_name AS constraint_name,
        '{{.Catalog}}' AS table_catalog, schema_name AS table_schema, table_name, unnest(column_names) AS column_name,
        unnest(range(1, len(column_names) + 1))::INTEGER AS ordinal_position, NULL::INTEGER AS position_in_unique_constraint
    FROM memory.pgcompat.mart_keys;

-- Views the marts are not: their SQL, pretty-printed or not.
CREATE MACRO memory.pgcompat.pg_get_viewdef(rel_oid) AS
    (SELECT "sql" FROM duckdb_views() WHERE database_name = '{{.Catalog}}' AND memory.pgcompat.pg_rel_oid(schema_name, view_name) = rel_oid),
    (rel_oid, pretty) AS
    (SELECT "sql" FROM duckdb_views() WHERE database_name = '{{.Catalog}}' AND memory.pgcompat.pg_rel_oid(schema_name, view_name) = rel_oid);
-- Statistics views: the marts, read-only, with their row counts.
CREATE VIEW memory.pgcompat.pg_stat_user_tables AS
    SELECT memory.pgcompat.pg_rel_oid(schema_name, table_name) AS relid, schema_name AS schemaname, table_name AS relname,
        0::BIGINT AS seq_scan, NULL::TIMESTAMPTZ AS last_seq_scan, 0::BIGINT AS seq_tup_read, 0::BIGINT AS idx_scan,
        NULL::TIMESTAMPTZ AS last_idx_scan, 0::BIGINT AS idx_tup_fetch, 0::BIGINT AS n_tup_ins, 0::BIGINT AS n_tup_upd,
        0::BIGINT AS n_tup_del, 0::BIGINT AS n_tup_hot_upd, estimated_size::BIGINT AS n_live_tup, 0::BIGINT AS n_dead_tup,
        0::BIGINT AS n_mod_since_analyze, 0::BIGINT AS n_ins_since_vacuum, NULL::TIMESTAMPTZ AS last_vacuum,
        NULL::TIMESTAMPTZ AS last_autovacuum, NULL::TIMESTAMPTZ AS last_analyze, NULL::TIMESTAMPTZ AS last_autoanalyze,
        0::BIGINT AS vacuum_count, 0::BIGINT AS autovacuum_count, 0::BIGINT AS analyze_count, 0::BIGINT AS autoanalyze_count
    FROM duckdb_tables() WHERE database_name = '{{.Catalog}}';
CREATE VIEW memory.pgcompat.pg_stat_all_tables AS SELECT * FROM memory.pgcompat.pg_stat_user_tables;
CREATE VIEW memory.pgcompat.pg_statio_user_tables AS
    SELECT relid, schemaname, relname, 0::BIGINT AS heap_blks_read, 0::BIGINT AS heap_blks_hit, NULL::BIGINT AS idx_blks_read,
        NULL::BIGINT AS idx_blks_hit, NULL::BIGINT AS toast_blks_read, NULL::BIGINT AS toast_blks_hit,
        NULL::BIGINT AS tidx_blks_read, NULL::BIGINT AS tidx_blks_hit
    FROM memory.pgcompat.pg_stat_user_tables;
CREATE VIEW memory.pgcompat.pg_stat_database AS
    SELECT 16384::BIGINT AS datid, '{{.Catalog}}' AS datname, NULL::INTEGER AS numbackends, 0::BIGINT AS xact_commit,
        0::BIGINT AS xact_rollback, 0::BIGINT AS blks_read, 0::BIGINT AS blks_hit, 0::BIGINT AS tup_returned,
        0::BIGINT AS tup_fetched, 0::BIGINT AS tup_inserted, 0::BIGINT AS tup_updated, 0::BIGINT AS tup_deleted,
        0::BIGINT AS conflicts, 0::BIGINT AS temp_files, 0::BIGINT AS temp_bytes, 0::BIGINT AS deadlocks,
        NULL::TIMESTAMPTZ AS stats_reset;

-- The marts' keys as indexes and constraints.
CREATE VIEW memory.pgcompat.pg_index AS
    SELECT index_oid AS indexrelid, table_oid AS indrelid, len(attnums)::SMALLINT AS indnatts, len(attnums)::SMALLINT AS indnkeyatts,
        true AS indisunique, false AS indnullsnotdistinct, true AS indisprimary, false AS indisexclusion, true AS indimmediate,
        false AS indisclustered, true AS indisvalid, false AS indcheckxmin, true AS indisready, true AS indislive,
        false AS indisreplident, attnums AS indkey, list_transform(attnums, a -> 0::BIGINT) AS indcollation,
        list_transform(attnums, a -> 0::BIGINT) AS indclass, list_transform(attnums, a -> 0::SMALLINT) AS indoption,
        NULL::VARCHAR AS indexprs, NULL::VARCHAR AS indpred
    FROM memory.pgcompat.mart_keys;
CREATE VIEW memory.pgcompat.pg_constraint AS
    SELECT constraint_oid AS oid, index_name AS conname, memory.pgcompat.pg_nsp_oid(schema_name) AS connamespace, 'p' AS contype,
        false AS condeferrable, false AS condeferred, true AS convalidated, table_oid AS conrelid,
        0::BIGINT AS contypid, index_oid AS conindid, 0::BIGINT AS conparentid, 0::BIGINT AS confrelid,
        ' ' AS confupdtype, ' ' AS confdeltype, ' ' AS confmatchtype,
        true AS conislocal, 0 AS coninhcount, true AS connoinherit, attnums AS conkey,
        NULL::SMALLINT[] AS confkey, NULL::BIGINT[] AS conpfeqop, NULL::BIGINT[] AS conppeqop, NULL::BIGINT[] AS conffeqop,
        NULL::SMALLINT[] AS confdelsetcols, NULL::BIGINT[] AS conexclop, NULL::VARCHAR AS conbin
    FROM memory.pgcompat.mart_keys;
-- Catalogs of features the marts do not use: empty, with PostgreSQL's columns.
CREATE VIEW memory.pgcompat.pg_shdescription AS
    SELECT NULL::BIGINT AS objoid, NULL::BIGINT AS classoid, NULL::VARCHAR AS description
    WHERE false;
CREATE VIEW memory.pgcompat.pg_locks AS
    SELECT NULL::VARCHAR AS locktype, NULL::BIGINT AS database, NULL::BIGINT AS relation, NULL::INTEGER AS page,
        NULL::SMALLINT AS tuple, NULL::VARCHAR AS virtualxid, NULL::BIGINT AS transactionid, NULL::BIGINT AS classid,
        NULL::BIGINT AS objid, NULL::SMALLINT AS objsubid, NULL::VARCHAR AS virtualtransaction, NULL::INTEGER AS pid,
        NULL::VARCHAR AS mode, NULL::BOOLEAN AS granted, NULL::BOOLEAN AS fastpath, NULL::TIMESTAMPTZ AS waitstart
    WHERE false;
CREATE VIEW memory.pgcompat.pg_rules AS
    SELECT NULL::VARCHAR AS schemaname, NULL::VARCHAR AS tablename, NULL::VARCHAR AS rulename, NULL::VARCHAR AS definition
    WHERE false;
CREATE VIEW memory.pgcompat.pg_matviews AS
    SELECT NULL::VARCHAR AS schemaname, NULL::VARCHAR AS matviewname, NULL::VARCHAR AS matviewowner,
        NULL::VARCHAR AS tablespace, NULL::BOOLEAN AS hasindexes, NULL::BOOLEAN AS ispopulated, NULL::VARCHAR AS definition
    WHERE false;
CREATE VIEW memory.pgcompat.pg_language AS
    SELECT NULL::BIGINT AS oid, NULL::VARCHAR AS lanname, NULL::BIGINT AS lanowner, NULL::BOOLEAN AS lanispl,
        NULL::BOOLEAN AS lanpltrusted, NULL::BIGINT AS lanplcallfoid, NULL::BIGINT AS laninline,
        NULL::BIGINT AS lanvalidator, NULL::VARCHAR[] AS lanacl
    WHERE false;
CREATE VIEW memory.pgcompat.pg_opclass AS
    SELECT NULL::BIGINT AS oid, NULL::BIGINT AS opcmethod, NULL::VARCHAR AS opcname, NULL::BIGINT AS opcnamespace,
        NULL::BIGINT AS opcowner, NULL::BIGINT AS opcfamily, NULL::BIGINT AS opcintype, NULL::BOOLEAN AS opcdefault,
        NULL::BIGINT AS opckeytype
    WHERE false;
CREATE VIEW memory.pgcompat.pg_conversion AS
    SELECT NULL::BIGINT AS oid, NULL::VARCHAR AS conname, NULL::BIGINT AS connamespace, NULL::BIGINT AS conowner,
        NULL::INTEGER AS conforencoding, NULL::INTEGER AS contoencoding, NULL::VARCHAR AS conproc, NULL::BOOLEAN AS condefault
    WHERE false;
CREATE VIEW memory.pgcompat.pg_foreign_data_wrapper AS
    SELECT NULL::BIGINT AS oid, NULL::VARCHAR AS fdwname, NULL::BIGINT AS fdwowner, NULL::BIGINT AS fdwhandler,
        NULL::BIGINT AS fdwvalidator, NULL::VARCHAR[] AS fdwacl, NULL::VARCHAR[] AS fdwoptions
    WHERE false;
CREATE VIEW memory.pgcompat.pg_foreign_server AS
    SELECT NULL::BIGINT AS oid, NULL::VARCHAR AS srvname, NULL::BIGINT AS srvowner, NULL::BIGINT AS srvfdw,
        NULL::VARCHAR AS srvtype, NULL::VARCHAR AS srvversion, NULL::VARCHAR[] AS srvacl, NULL::VARCHAR[] AS srvoptions
    WHERE false;
CREATE VIEW memory.pgcompat.pg_range AS
    SELECT NULL::BIGINT AS rngtypid, NULL::BIGINT AS rngsubtype, NULL::BIGINT AS rngmultitypid, NULL::BIGINT AS rngcollation,
        NULL::BIGINT AS rngsubopc, NULL::VARCHAR AS rngcanonical, NULL::VARCHAR AS rngsubdiff
    WHERE false;
CREATE VIEW memory.pgcompat.pg_sequence AS
    SELECT NULL::BIGINT AS seqrelid, NULL::BIGINT AS seqtypid, NULL::BIGINT AS seqstart, NULL::BIGINT AS seqincrement,
        NULL::BIGINT AS seqmax, NULL::BIGINT AS seqmin, NULL::BIGINT AS seqcache, NULL::BOOLEAN AS seqcycle
    WHERE false;
CREATE VIEW memory.pgcompat.pg_depend AS
    SELECT NULL::BIGINT AS classid, NULL::BIGINT AS objid, NULL::INTEGER AS objsubid, NULL::BIGINT AS refclassid,
        NULL::BIGINT AS refobjid, NULL::INTEGER AS refobjsubid, NULL::VARCHAR AS deptype
    WHERE false;
CREATE VIEW memory.pgcompat.pg_inherits AS
    SELECT NULL::BIGINT AS inhrelid, NULL::BIGINT AS inhparent, NULL::INTEGER AS inhseqno, NULL::BOOLEAN AS inhdetachpending
    WHERE false;
CREATE VIEW memory.pgcompat.pg_trigger AS
    SELECT NULL::BIGINT AS oid, NULL::BIGINT AS tgrelid, NULL::BIGINT AS tgparentid, NULL::VARCHAR AS tgname,
        NULL::BIGINT AS tgfoid, NULL::SMALLINT AS tgtype, NULL::VARCHAR AS tgenabled, NULL::BOOLEAN AS tgisinternal,
        NULL::BIGINT AS tgconstrrelid, NULL::BIGINT AS tgconstrindid, NULL::BIGINT AS tgconstraint
    WHERE false;
CREATE VIEW memory.pgcompat.pg_policy AS
    SELECT NULL::BIGINT AS oid, NULL::VARCHAR AS polname, NULL::BIGINT AS polrelid, NULL::VARCHAR AS polcmd,
        NULL::BOOLEAN AS polpermissive, NULL::BIGINT[] AS polroles, NULL::VARCHAR AS polqual, NULL::VARCHAR AS polwithcheck
    WHERE false;
CREATE VIEW memory.pgcompat.pg_rewrite AS
    SELECT NULL::BIGINT AS oid, NULL::VARCHAR AS rulename, NULL::BIGINT AS ev_class, NULL::VARCHAR AS ev_type,
        NULL::VARCHAR AS ev_enabled, NULL::BOOLEAN AS is_instead, NULL::VARCHAR AS ev_qual, NULL::VARCHAR AS ev_action
    WHERE false;
CREATE VIEW memory.pgcompat.pg_statistic_ext AS
    SELECT NULL::BIGINT AS oid, NULL::BIGINT AS stxrelid, NULL::VARCHAR AS stxname, NULL::BIGINT AS stxnamespace,
        NULL::BIGINT AS stxowner, NULL::INTEGER AS stxstattarget, NULL::VARCHAR AS stxkeys, NULL::VARCHAR[] AS stxkind,
        NULL::VARCHAR AS stxexprs
    WHERE false;
CREATE VIEW memory.pgcompat.pg_publication AS
    SELECT NULL::BIGINT AS oid, NULL::VARCHAR AS pubname, NULL::BIGINT AS pubowner, NULL::BOOLEAN AS puballtables,
        NULL::BOOLEAN AS pubinsert, NULL::BOOLEAN AS pubupdate, NULL::BOOLEAN AS pubdelete, NULL::BOOLEAN AS pubtruncate,
        NULL::BOOLEAN AS pubviaroot
    WHERE false;
CREATE VIEW memory.pgcompat.pg_publication_rel AS
    SELECT NULL::BIGINT AS oid, NULL::BIGINT AS prpubid, NULL::BIGINT AS prrelid, NULL::VARCHAR AS prqual, NULL::VARCHAR AS prattrs
    WHERE false;
CREATE VIEW memory.pgcompat.pg_publication_namespace AS
    SELECT NULL::BIGINT AS oid, NULL::BIGINT AS pnpubid, NULL::BIGINT AS pnnspid
    WHERE false;
CREATE VIEW memory.pgcompat.pg_partitioned_table AS
    SELECT NULL::BIGINT AS partrelid, NULL::VARCHAR AS partstrat, NULL::SMALLINT AS partnatts, NULL::BIGINT AS partdefid
    WHERE false;
CREATE VIEW memory.pgcompat.pg_foreign_table AS
    SELECT NULL::BIGINT AS ftrelid, NULL::BIGINT AS ftserver, NULL::VARCHAR[] AS ftoptions
    WHERE false;
CREATE VIEW memory.pgcompat.pg_extension AS
    SELECT NULL::BIGINT AS oid, NULL::VARCHAR AS extname, NULL::BIGINT AS extowner, NULL::BIGINT AS extnamespace,
        NULL::BOOLEAN AS extrelocatable, NULL::VARCHAR AS extversion
    WHERE false;
CREATE VIEW memory.pgcompat.pg_auth_members AS
    SELECT NULL::BIGINT AS oid, NULL::BIGINT AS roleid, NULL::BIGINT AS member, NULL::BIGINT AS grantor, NULL::BOOLEAN AS admin_option
    WHERE false;
CREATE VIEW memory.pgcompat.pg_enum AS
    SELECT NULL::BIGINT AS oid, NULL::BIGINT AS enumtypid, NULL::FLOAT AS enumsortorder, NULL::VARCHAR AS enumlabel
    WHERE false;

-- DuckDB's introspection without the server's file system paths: the marts
-- file, the paths the lock-down allows, the secret and extension
-- directories under the server's home (rewrite.go points clients here).
CREATE VIEW memory.pgcompat.duckdb_databases AS
    SELECT * REPLACE (NULL::VARCHAR AS path) FROM system.main.duckdb_databases();
CREATE VIEW memory.pgcompat.pragma_database_list AS
    SELECT database_oid AS seq, database_name AS name, NULL::VARCHAR AS file
    FROM system.main.duckdb_databases() WHERE NOT internal;
CREATE VIEW memory.pgcompat.duckdb_settings AS
    SELECT * REPLACE (CASE WHEN name SIMILAR TO '.*(directory|directories|path|paths|file|output)' AND value NOT IN ('', '[]')
        THEN '(hidden)' ELSE value END AS value)
    FROM system.main.duckdb_settings();

-- 4. Lock-down, last: no file access (read_csv, COPY TO, ATTACH), and no
-- setting can change any more.
SET enable_external_access = false;
SET lock_configuration = true;
