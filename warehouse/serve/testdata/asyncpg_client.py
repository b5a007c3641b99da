"""A client of the custmart server built on asyncpg (Debian's python3-asyncpg).

Run by asyncpg_test.go with /usr/bin/python3. asyncpg speaks only the
extended protocol, asks for binary results, introspects unknown types with
its own catalog query and binds parameters in binary. Reads host, port,
user and password from argv, prints one JSON document.
"""
import asyncio
import decimal
import json
import sys

import asyncpg


def plain(v):
    if isinstance(v, decimal.Decimal):
        return str(v)
    if isinstance(v, list):
        return [plain(x) for x in v]
    return v


async def main():
    host, port, user, password = sys.argv[1:5]
    out = {}
    conn = await asyncpg.connect(host=host, port=int(port), user=user, password=password,
                                 database="custmart", ssl=False)
    out["server_version"] = list(conn.get_server_version())[:2]
    out["select"] = await conn.fetchval("SELECT 40 + 2")
    out["int_array"] = await conn.fetchval("SELECT [1,2,3]::int[]")
    out["literal_array"] = await conn.fetchval("SELECT '{1,2}'::int[]")
    out["text_array"] = await conn.fetchval("SELECT ['a', NULL, 'c d']")
    out["array_param"] = int(await conn.fetchval("SELECT list_sum($1::bigint[])", [5, 6, 7]))
    out["text_array_param"] = await conn.fetchval("SELECT array_length($1::text[], 1)", ["x", "y"])
    stmt = await conn.prepare(
        "SELECT customer_id, frequency, monetary FROM customer_value"
        " WHERE segment = $1 AND frequency > $2 ORDER BY customer_id LIMIT 5")
    out["param_types"] = [t.name for t in stmt.get_parameters()]
    rows = await stmt.fetch("loyal", 10)
    out["prepared"] = [[plain(v) for v in r] for r in rows]
    out["mart"] = [[r["segment"], r["customers"]] for r in await conn.fetch(
        "SELECT segment, count(*) AS customers FROM customer_value GROUP BY segment ORDER BY segment")]
    await conn.close()
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    asyncio.run(main())
