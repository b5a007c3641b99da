"""Binary COPY through psycopg 3 (Debian's python3-psycopg).

Run by psycopg3_test.go with /usr/bin/python3: reads one query with
COPY ... TO STDOUT (FORMAT BINARY), its values decoded by psycopg 3's binary
loaders (set_types), and the same query with a text COPY decoded by its text
loaders. Reads the DSN from argv[1], the query from argv[2] and its column
types, comma-separated, from argv[3]; prints one JSON document: each value
as str() with its Python type, both ways.
"""
import json
import struct
import sys

import psycopg


def plain(v, pgtype):
    """The value as [type, str]. Two differences are psycopg's own, not the
    server's: its binary bytea loader returns a memoryview, its text one
    bytes; a float4 read as text is the shortest decimal that rounds to the
    same float32, read as binary it is that float32 exactly."""
    if isinstance(v, memoryview):
        v = bytes(v)
    if pgtype == "float4" and v is not None:
        v = struct.unpack("f", struct.pack("f", v))[0]
    return [type(v).__name__, str(v)]


def copy_rows(cur, statement, types):
    with cur.copy(statement) as copy:
        copy.set_types(types)
        return [[plain(v, t) for v, t in zip(row, types)] for row in copy.rows()]


def main():
    dsn, query, types = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
    out = {}
    with psycopg.connect(dsn, autocommit=True) as conn:
        cur = conn.cursor()
        out["binary"] = copy_rows(cur, f"COPY ({query}) TO STDOUT (FORMAT BINARY)", types)
        out["binary_rowcount"] = cur.rowcount
        out["text"] = copy_rows(cur, f"COPY ({query}) TO STDOUT", types)
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
