"""Binary COPY through psycopg 3 (Debian's python3-psycopg).

Run by psycopg3_test.go with /usr/bin/python3: reads one query with
COPY ... TO STDOUT (FORMAT BINARY), its values decoded by psycopg 3's binary
loaders (set_types), and the same query with a text COPY decoded by its text
loaders. Reads the DSN from argv[1] and the query from argv[2], prints one
JSON document: each value as str() with its Python type, both ways.
"""
import json
import sys

import psycopg

TYPES = ["text", "int2", "int4", "int8", "numeric", "numeric", "numeric", "float8",
         "date", "date", "timestamp", "timestamp", "timestamptz", "bool", "bool"]


def copy_rows(cur, statement):
    with cur.copy(statement) as copy:
        copy.set_types(TYPES)
        return [[[type(v).__name__, str(v)] for v in row] for row in copy.rows()]


def main():
    dsn, query = sys.argv[1], sys.argv[2]
    out = {}
    with psycopg.connect(dsn, autocommit=True) as conn:
        cur = conn.cursor()
        out["binary"] = copy_rows(cur, f"COPY ({query}) TO STDOUT (FORMAT BINARY)")
        out["binary_rowcount"] = cur.rowcount
        out["text"] = copy_rows(cur, f"COPY ({query}) TO STDOUT")
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
