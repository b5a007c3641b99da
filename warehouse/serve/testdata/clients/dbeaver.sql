-- DBeaver's PostgreSQL plugin (plugins/org.jkiss.dbeaver.ext.postgresql, master 2428359b74),
-- PostgreDataSource, PostgreDatabase and PostgreSchema, with the JDBC ? parameters bound to
-- the main schema (OID 2200) and the mart rfm as DBeaver binds them.

-- name: current database
SELECT current_database()

-- name: version
SELECT version()

-- name: databases
SELECT db.oid,db.* FROM pg_catalog.pg_database db WHERE 1 = 1 AND datallowconn AND NOT datistemplate ORDER BY db.datname

-- name: template databases
SELECT db.datname FROM pg_catalog.pg_database db WHERE datistemplate

-- name: database by name
SELECT db.oid,db.* FROM pg_catalog.pg_database db WHERE datname='custmart'

-- name: database comment
select description from pg_shdescription where objoid = 16384

-- name: settings
select * from pg_catalog.pg_settings

-- name: schemas
SELECT n.oid,n.*,d.description FROM pg_catalog.pg_namespace n
LEFT OUTER JOIN pg_catalog.pg_description d ON d.objoid=n.oid AND d.objsubid=0 AND d.classoid='pg_namespace'::regclass
ORDER BY nspname

-- name: roles
SELECT a.oid,a.*,pd.description FROM pg_catalog.pg_roles a 
left outer join pg_catalog.pg_shdescription pd on a.oid = pd.objoid
ORDER BY a.rolname

-- name: access methods
SELECT am.oid,am.* FROM pg_catalog.pg_am am 
ORDER BY am.oid

-- name: encodings
SELECT c.contoencoding as encid,pg_catalog.pg_encoding_to_char(c.contoencoding) as encname
FROM pg_catalog.pg_conversion c
GROUP BY c.contoencoding
ORDER BY 2

-- name: collations
SELECT c.oid,c.* FROM pg_catalog.pg_collation c 
ORDER BY c.oid

-- name: languages
SELECT l.oid,l.* FROM pg_catalog.pg_language l 
ORDER BY l.oid

-- name: foreign data wrappers
SELECT l.oid,l.*,p.pronamespace as handler_schema_id 
FROM pg_catalog.pg_foreign_data_wrapper l
LEFT OUTER JOIN pg_catalog.pg_proc p ON p.oid=l.fdwhandler 
ORDER BY l.fdwname

-- name: foreign servers
SELECT l.oid,l.* FROM pg_catalog.pg_foreign_server l
ORDER BY l.srvname

-- name: tablespaces
SELECT t.oid,t.*,pg_tablespace_location(t.oid) loc
FROM pg_catalog.pg_tablespace t 
ORDER BY t.oid

-- name: enums
SELECT * FROM pg_catalog.pg_enum

-- name: tables
SELECT c.oid,c.*,d.description,pg_catalog.pg_get_expr(c.relpartbound, c.oid) as partition_expr,  pg_catalog.pg_get_partkeydef(c.oid) as partition_key 
FROM pg_catalog.pg_class c
LEFT OUTER JOIN pg_catalog.pg_description d ON d.objoid=c.oid AND d.objsubid=0 AND d.classoid='pg_class'::regclass
WHERE c.relnamespace=2200 AND c.relkind not in ('i','I','c')

-- name: columns
SELECT c.relname,a.*,pg_catalog.pg_get_expr(ad.adbin, ad.adrelid, true) as def_value,dsc.description,dep.objid
FROM pg_catalog.pg_attribute a
INNER JOIN pg_catalog.pg_class c ON (a.attrelid=c.oid)
LEFT OUTER JOIN pg_catalog.pg_attrdef ad ON (a.attrelid=ad.adrelid AND a.attnum = ad.adnum)
LEFT OUTER JOIN pg_catalog.pg_description dsc ON (c.oid=dsc.objoid AND a.attnum = dsc.objsubid)
LEFT OUTER JOIN pg_depend dep on dep.refobjid = a.attrelid AND dep.deptype = 'i' and dep.refobjsubid = a.attnum and dep.classid = dep.refclassid
WHERE NOT a.attisdropped AND c.relkind not in ('i','I','c') AND c.relnamespace=2200
ORDER BY a.attnum

-- name: constraints
SELECT c.oid,c.*,t.relname as tabrelname,rt.relnamespace as refnamespace,d.description, case when c.contype='c' then "substring"(pg_get_constraintdef(c.oid), 7) else null end consrc_copy
FROM pg_catalog.pg_constraint c
INNER JOIN pg_catalog.pg_class t ON t.oid=c.conrelid
LEFT OUTER JOIN pg_catalog.pg_class rt ON rt.oid=c.confrelid
LEFT OUTER JOIN pg_catalog.pg_description d ON d.objoid=c.oid AND d.objsubid=0 AND d.classoid='pg_constraint'::regclass
WHERE t.relnamespace=2200
ORDER BY c.oid

-- name: indexes
SELECT i.*,i.indkey as keys,c.relname,c.relnamespace,c.relam,c.reltablespace,tc.relname as tabrelname,dsc.description,pg_catalog.pg_get_expr(i.indpred, i.indrelid) as pred_expr,pg_catalog.pg_get_expr(i.indexprs, i.indrelid, true) as expr,pg_catalog.pg_relation_size(i.indexrelid) as index_rel_size,pg_catalog.pg_stat_get_numscans(i.indexrelid) as index_num_scans
FROM pg_catalog.pg_index i
INNER JOIN pg_catalog.pg_class c ON c.oid=i.indexrelid
INNER JOIN pg_catalog.pg_class tc ON tc.oid=i.indrelid
LEFT OUTER JOIN pg_catalog.pg_description dsc ON i.indexrelid=dsc.objoid
WHERE  c.relnamespace=2200 ORDER BY c.relname

-- name: inheritance
SELECT i.inhrelid relid, pc.relnamespace parent_ns, pc.oid parent_oid, i.inhseqno
FROM pg_catalog.pg_inherits i, pg_class rc, pg_class pc
WHERE rc.oid = i.inhrelid AND rc.relnamespace = 2200 AND pc.oid = i.inhparent
ORDER BY i.inhrelid, i.inhseqno

-- name: sessions
SELECT sa.* FROM pg_catalog.pg_stat_activity sa

-- name: locks
SELECT * FROM pg_catalog.pg_locks

-- name: rules
SELECT * FROM pg_catalog.pg_rules WHERE schemaname = 'main'

-- name: materialized views
SELECT * FROM pg_catalog.pg_matviews WHERE schemaname = 'main'

-- name: operator classes
SELECT c.oid,c.* FROM pg_catalog.pg_opclass c ORDER BY c.oid

-- name: view definition
SELECT pg_catalog.pg_get_viewdef(c.oid, true) FROM pg_catalog.pg_class c WHERE c.relnamespace = 2200 AND c.relkind = 'v'

-- name: index definition
SELECT pg_catalog.pg_get_indexdef(i.indexrelid) FROM pg_catalog.pg_index i

-- name: serial sequence
SELECT pg_catalog.pg_get_serial_sequence('main.rfm', 'customer_id')

-- name: quoting
SELECT quote_ident('rfm'), quote_literal('it''s'), quote_nullable(NULL), quote_nullable('x')
