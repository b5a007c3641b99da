"""SQLAlchemy reflection and pandas over the custmart server, as Superset does.

Run by sqlalchemy_test.go with Debian's /usr/bin/python3 (python3-sqlalchemy,
python3-pandas, python3-psycopg2). Reads the URL from argv[1] and prints one
JSON document.
"""
import json
import sys

import pandas
import sqlalchemy


def main():
    engine = sqlalchemy.create_engine(sys.argv[1])
    insp = sqlalchemy.inspect(engine)
    out = {
        "schemas": insp.get_schema_names(),
        "tables": insp.get_table_names(),
        "views": insp.get_view_names(),
        "columns": {t: [[c["name"], str(c["type"]), c["nullable"]] for c in insp.get_columns(t)] for t in insp.get_table_names()},
        "pk": insp.get_pk_constraint("rfm"),
        "fks": insp.get_foreign_keys("rfm"),
        "comment": insp.get_table_comment("rfm"),
        "indexes": insp.get_indexes("rfm"),
        "unique": insp.get_unique_constraints("rfm"),
    }
    with engine.connect() as conn:
        df = pandas.read_sql("SELECT segment, customers FROM segment_summary ORDER BY segment", conn)
    out["frame"] = {"columns": list(df.columns), "dtypes": [str(d) for d in df.dtypes], "rows": df.values.tolist()}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
