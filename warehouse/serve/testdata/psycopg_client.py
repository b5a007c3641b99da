"""A third, independent client for the custmart server: Debian's psycopg2.

Run by psycopg_test.go with /usr/bin/python3. Reads the DSN from argv[1],
exercises what Python BI tooling does, and prints one JSON document the Go
test compares with DuckDB's own answers.
"""
import datetime
import decimal
import io
import json
import sys

import psycopg2
import psycopg2.errors


def plain(v):
    if isinstance(v, decimal.Decimal):
        return str(v)
    if isinstance(v, (datetime.date, datetime.datetime)):
        return v.isoformat()
    return v


def main():
    out = {}
    conn = psycopg2.connect(sys.argv[1])
    out["server_version"] = conn.server_version
    out["encoding"] = conn.encoding

    # psycopg2 opens a transaction implicitly and interpolates parameters
    # on the client, then sends simple queries.
    cur = conn.cursor()
    cur.execute(
        "SELECT customer_id, segment, frequency, monetary, clv, first_order, last_order, churned"
        " FROM customer_value WHERE segment = %s AND frequency > %s ORDER BY customer_id LIMIT 20",
        ("loyal", 10),
    )
    out["columns"] = [d.name for d in cur.description]
    out["type_codes"] = [d.type_code for d in cur.description]
    out["rows"] = [[plain(v) for v in row] for row in cur.fetchall()]
    cur.execute("SELECT monetary, first_order, last_order, churned FROM customer_value ORDER BY customer_id LIMIT 1")
    out["python_types"] = [type(v).__name__ for v in cur.fetchone()]
    out["status_in_transaction"] = conn.get_transaction_status()

    # Errors carry SQLSTATE; the transaction then must be rolled back.
    try:
        cur.execute("SELECT * FROM no_such_table")
    except psycopg2.errors.UndefinedTable as e:
        out["undefined_table"] = e.pgcode
    try:
        cur.execute("SELECT 1")
    except psycopg2.errors.InFailedSqlTransaction as e:
        out["in_failed_transaction"] = e.pgcode
    conn.rollback()
    try:
        cur.execute("DELETE FROM customer_value")
    except psycopg2.errors.ReadOnlySqlTransaction as e:
        out["read_only"] = e.pgcode
    conn.rollback()

    # COPY TO STDOUT, as pandas and dbt seeds do it.
    buf = io.StringIO()
    cur.copy_expert("COPY (SELECT segment, count(*) AS customers FROM customer_value GROUP BY segment ORDER BY segment) TO STDOUT WITH (FORMAT csv, HEADER)", buf)
    out["copy_csv"] = buf.getvalue()

    conn.commit()

    # A named cursor: DECLARE ... CURSOR, then FETCH FORWARD itersize.
    with conn.cursor(name="all_customers") as named:
        named.itersize = 300
        named.execute("SELECT customer_id FROM customer_value ORDER BY customer_id")
        ids = [row[0] for row in named]
    out["named_cursor"] = [len(ids), ids[0], ids[-1]]
    conn.commit()
    conn.autocommit = True
    cur.execute("SHOW server_version")
    out["show_server_version"] = cur.fetchone()[0]
    cur.execute("SELECT current_database(), current_user, version()")
    out["identity"] = list(cur.fetchone())
    conn.close()
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
