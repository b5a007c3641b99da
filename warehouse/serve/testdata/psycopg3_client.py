"""A client of the custmart server built on psycopg 3 (Debian's python3-psycopg).

Run by psycopg3_test.go with /usr/bin/python3: server-side (named) cursors,
MOVE, SQL PREPARE/EXECUTE and psycopg 3's own prepared statements. Reads the
DSN from argv[1], prints one JSON document.
"""
import decimal
import json
import sys

import psycopg


def plain(v):
    return str(v) if isinstance(v, decimal.Decimal) else v


def main():
    out = {}
    with psycopg.connect(sys.argv[1]) as conn:
        # A named cursor: DECLARE, Describe Portal for its columns, FETCH.
        with conn.cursor(name="all_customers") as cur:
            cur.itersize = 300
            cur.execute("SELECT customer_id, frequency FROM customer_value ORDER BY customer_id")
            out["named_description"] = [d.name for d in cur.description]
            rows = cur.fetchmany(3)
            out["named_first"] = [list(r) for r in rows]
            cur.scroll(2)  # MOVE FORWARD 2
            out["after_move"] = list(cur.fetchone())
            out["named_rest"] = len(cur.fetchall())
        conn.commit()
        cur = conn.cursor()
        cur.execute("BEGIN")
        cur.execute("DECLARE c CURSOR FOR SELECT customer_id FROM customer_value ORDER BY customer_id")
        cur.execute("MOVE FORWARD 10 IN c")
        out["move_status"] = cur.statusmessage
        cur.execute("FETCH 1 FROM c")
        out["fetch_after_move"] = cur.fetchone()[0]
        cur.execute("COMMIT")

        cur.execute("PREPARE by_segment (text, bigint) AS SELECT count(*), min(customer_id) FROM customer_value WHERE segment = $1 AND frequency > $2")
        cur.execute("EXECUTE by_segment ('loyal', 10)")
        out["execute"] = [plain(v) for v in cur.fetchone()]
        out["execute_status"] = cur.statusmessage
        cur.execute("DEALLOCATE by_segment")

        # psycopg 3 binds parameters server-side and prepares repeated queries.
        q = "SELECT monetary FROM customer_value WHERE customer_id = %s"
        out["bound"] = [plain(cur.execute(q, (cid,), prepare=True).fetchone()[0]) for cid in ("C0000001", "C0000002")]
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
