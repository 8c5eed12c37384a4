"""DuckDB, Polars and pyarrow read every table of a Vigil store, partition columns
included, with the row counts and sums of `vigil sql`: over the demo store and over a
store whose `flows` files were written before and after netFound's verdict column
appeared (schema evolution: the older files' rows read it as null).

Each reader reads a table the way the README's "Analyse the store in your notebook"
shows: the glob `<store>/<table>/**/*.parquet` (which leaves out `_checkpoints/`,
`_quarantine/`, `_stats/`, `eve.json` and writes in flight, `*.parquet.tmp`, as `vigil sql`
does), hive partitions, and the union of the files' schemas.
"""

import datetime
import glob
import math
import re
from functools import lru_cache
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from conftest import ROOT

TABLES = ["flows", "metrics", "actions", "alerts", "dead_letters", "alert_state"]
STORES = ["demo_store", "evolution_store"]

# Per table, besides `count(*)` and the rows per partition: sums, non-null counts (a
# model's verdict struct is null where the model did not score, or was not there yet)
# and rows per value (`a.b` is field b of struct column a). Checks on a column the
# store's table lacks are left out.
CHECKS = {
    "flows": [
        "sum(orig_bytes)",
        "sum(resp_bytes)",
        "sum(orig_pkts)",
        "count(netfound)",
        "count(flow_transformer_iot23)",
        "count(flow_transformer_cicids2017)",
        "by netfound.label",
        "by flow_transformer_iot23.label",
        "by flow_transformer_cicids2017.label",
        "by conn_state",
    ],
    "metrics": ["sum(value)", "count(forecast)", "sum(anomaly_score)", "by series, model"],
    "actions": ["sum(rank)", "sum(surprise)", "count(predicted)", "by action"],
    "alerts": ["by severity", "by model, label", "sum(suppressed)", "sum(signature_id)"],
    "alert_state": ["by state, actor"],
    "dead_letters": ["by position, source"],
}


def table_files(store: Path, table: str) -> list:
    return sorted(glob.glob(f"{store}/{table}/**/*.parquet", recursive=True))


def partition_columns(store: Path, table: str) -> list:
    hourly = any("/hour=" in f for f in table_files(store, table))
    return ["date", "hour"] if hourly else ["date"]


def parse(check: str):
    """("rows" | "sum" | "count", column) or ("by", [columns])."""
    if check == "count(*)":
        return "rows", None
    if check.startswith("by "):
        return "by", [c.strip() for c in check[3:].split(",")]
    m = re.fullmatch(r"(sum|count)\(([\w.]+)\)", check)
    assert m, check
    return m.group(1), m.group(2)


def columns_of(check: str) -> list:
    _, arg = parse(check)
    cols = [] if arg is None else [arg] if isinstance(arg, str) else arg
    return [c.split(".")[0] for c in cols]


def key(v):
    """A group key as all readers agree on it: hive partition values are typed
    differently by each (`date` a date or a string, `hour` an integer or a string)."""
    if isinstance(v, datetime.date):
        return v.isoformat()
    if isinstance(v, str) and v.isdigit():
        return int(v)
    return v


def same(a, b) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9)
    return a == b


# ---- vigil sql -------------------------------------------------------------------------


@lru_cache(maxsize=None)
def vigil_columns(vigil, store: Path, table: str) -> tuple:
    rows = vigil.sql(
        store,
        "select column_name as c from information_schema.columns "
        f"where table_schema = 'public' and table_name = '{table}' order by ordinal_position",
    )
    return tuple(r["c"] for r in rows)


@lru_cache(maxsize=None)
def vigil_answer(vigil, store: Path, table: str, check: str):
    kind, arg = parse(check)
    if kind == "by":
        keys = ", ".join(f"{c} as k{i}" for i, c in enumerate(arg))
        by = ", ".join(str(i + 1) for i in range(len(arg)))
        rows = vigil.sql(store, f"select {keys}, count(*) as n from {table} group by {by}")
        return {tuple(key(r.get(f"k{i}")) for i in range(len(arg))): r["n"] for r in rows}
    expr = "count(*)" if kind == "rows" else check
    return vigil.sql(store, f"select {expr} as v from {table}")[0].get("v")


# ---- the readers -----------------------------------------------------------------------


class DuckDB:
    def __init__(self, store: Path, table: str):
        self.con = duckdb.connect()
        self.src = (
            f"read_parquet('{store}/{table}/**/*.parquet',"
            " hive_partitioning = true, union_by_name = true)"
        )

    def columns(self):
        return [d[0] for d in self.con.execute(f"select * from {self.src} limit 0").description]

    def answer(self, check: str):
        kind, arg = parse(check)
        if kind == "by":
            query = f"select {', '.join(arg)}, count(*) from {self.src} group by all"
            rows = self.con.execute(query).fetchall()
            return {tuple(key(v) for v in r[:-1]): r[-1] for r in rows}
        expr = "count(*)" if kind == "rows" else check
        return self.con.execute(f"select {expr} from {self.src}").fetchone()[0]


def polars_scan(pattern: str) -> pl.LazyFrame:
    """As in the README: the union of the files' schemas; a column or struct field a file
    lacks reads as null."""
    files = glob.glob(pattern, recursive=True)
    schema = pl.concat(
        [pl.LazyFrame(schema=pl.read_parquet_schema(f)) for f in files], how="diagonal_relaxed"
    ).collect_schema()
    return pl.scan_parquet(
        pattern,
        hive_partitioning=True,
        schema=schema,
        missing_columns="insert",
        cast_options=pl.ScanCastOptions(missing_struct_fields="insert"),
    )


def polars_col(path: str) -> pl.Expr:
    first, *rest = path.split(".")
    e = pl.col(first)
    for f in rest:
        e = e.struct.field(f)
    return e


class Polars:
    def __init__(self, store: Path, table: str):
        self.lf = polars_scan(f"{store}/{table}/**/*.parquet")

    def columns(self):
        return self.lf.collect_schema().names()

    def answer(self, check: str):
        kind, arg = parse(check)
        if kind == "by":
            exprs = [polars_col(c).alias(f"k{i}") for i, c in enumerate(arg)]
            rows = self.lf.group_by(exprs).agg(pl.len()).collect().rows()
            return {tuple(key(v) for v in r[:-1]): r[-1] for r in rows}
        if kind == "rows":
            expr = pl.len()
        elif kind == "sum":
            expr = polars_col(arg).sum()
        else:
            expr = polars_col(arg).is_not_null().sum()
        return self.lf.select(expr).collect().item()


def pyarrow_dataset(store: Path, table: str) -> ds.Dataset:
    """The table's files with one schema, the union of theirs, and its partition columns
    as strings (as `vigil sql` has them)."""
    files = table_files(store, table)
    schema = pa.unify_schemas([pq.read_schema(f) for f in files], promote_options="permissive")
    parts = [pa.field(p, pa.string()) for p in partition_columns(store, table)]
    return ds.dataset(
        files,
        format="parquet",
        partitioning="hive",
        partition_base_dir=f"{store}/{table}",
        schema=pa.schema(list(schema) + parts),
    )


def pyarrow_col(table: pa.Table, path: str):
    first, *rest = path.split(".")
    a = table[first]
    for f in rest:
        a = pc.struct_field(a, f)
    return a


class PyArrow:
    def __init__(self, store: Path, table: str):
        self.table = pyarrow_dataset(store, table).to_table()

    def columns(self):
        return self.table.column_names

    def answer(self, check: str):
        kind, arg = parse(check)
        t = self.table
        if kind == "by":
            keys = pa.table({f"k{i}": pyarrow_col(t, c) for i, c in enumerate(arg)})
            rows = keys.group_by(keys.column_names).aggregate([([], "count_all")]).to_pylist()
            return {tuple(key(r[f"k{i}"]) for i in range(len(arg))): r["count_all"] for r in rows}
        if kind == "rows":
            return t.num_rows
        if kind == "sum":
            return pc.sum(pyarrow_col(t, arg)).as_py()
        return len(t) - pyarrow_col(t, arg).null_count


READERS = {"duckdb": DuckDB, "polars": Polars, "pyarrow": PyArrow}


# ---- the tests -------------------------------------------------------------------------


def test_vigil_sql_has_these_tables(vigil, demo_store):
    query = "select table_name as t from information_schema.tables where table_schema = 'public'"
    tables = sorted(r["t"] for r in vigil.sql(demo_store, query))
    assert tables == sorted(TABLES), f"vigil sql's tables are {tables}: update TABLES and CHECKS"


@pytest.mark.parametrize("table", TABLES)
def test_some_store_has_files_of(table, demo_store, evolution_store):
    both = [("demo", demo_store), ("evolution", evolution_store)]
    held = {name: len(table_files(s, table)) for name, s in both}
    assert any(held.values()), f"no test store has a {table} file, so no reader reads one: {held}"


def netfound_fields(f: str):
    schema = pq.read_schema(f)
    return None if "netfound" not in schema.names else schema.field("netfound").type.names


def test_evolution_store_mixes_schemas(evolution_store):
    files = table_files(evolution_store, "flows")
    kinds = [netfound_fields(f) for f in files]
    without = sum(k is None for k in kinds)
    embedded = sum(k is not None and "embedding" in k for k in kinds)
    assert 0 < without and 0 < embedded < len(files) - without, (
        f"want flows files without netfound ({without}), with it ({len(files) - without}) "
        f"and with its embedding ({embedded}), of {len(files)}"
    )
    in_flight = glob.glob(f"{evolution_store}/flows/**/*.parquet.tmp", recursive=True)
    assert in_flight, "no write in flight"
    quarantined = glob.glob(f"{evolution_store}/_quarantine/flows/**/*.parquet", recursive=True)
    assert quarantined, "no quarantined file"


@pytest.mark.parametrize("reader", READERS)
@pytest.mark.parametrize("table", TABLES)
@pytest.mark.parametrize("store", STORES)
def test_reader_agrees_with_vigil_sql(store, table, reader, vigil, request):
    what = f"{reader} reading {store.removesuffix('_store')}'s {table}"
    store = request.getfixturevalue(store)
    rows = vigil_answer(vigil, store, table, "count(*)")
    if not table_files(store, table):
        assert rows == 0, f"{table} has no files, yet vigil sql counts {rows} rows"
        return
    r = READERS[reader](store, table)

    columns = r.columns()
    parts = partition_columns(store, table)
    assert [c for c in ("date", "hour") if c in columns] == parts, (
        f"{what}: partition columns {parts} wanted, columns are {columns}"
    )
    expected = vigil_columns(vigil, store, table)
    assert sorted(columns) == sorted(expected), (
        f"{what}: columns differ from vigil sql's: only {reader}'s: "
        f"{sorted(set(columns) - set(expected))}, only vigil sql's: "
        f"{sorted(set(expected) - set(columns))}"
    )

    checks = ["count(*)", f"by {', '.join(parts)}"] + [
        c for c in CHECKS[table] if all(col in expected for col in columns_of(c))
    ]
    wrong = []
    for check in checks:
        want, got = vigil_answer(vigil, store, table, check), r.answer(check)
        if isinstance(want, dict):
            ok = want.keys() == got.keys() and all(same(want[k], got[k]) for k in want)
        else:
            ok = same(want, got)
        if not ok:
            wrong.append(f"  {check}: vigil sql {want!r}, {reader} {got!r}")
    assert not wrong, f"{what} disagrees with vigil sql:\n" + "\n".join(wrong)


def test_evolved_rows_read_what_they_lack_as_null(evolution_store, vigil):
    """The rows of the files written before netFound was added read `netfound` as null,
    those scored without the embedding `netfound.embedding`."""
    checks = ["count(*)", "count(netfound)", "count(netfound.embedding)"]
    total, scored, embedded = (vigil_answer(vigil, evolution_store, "flows", c) for c in checks)
    assert 0 < embedded < scored < total, (
        f"vigil sql: of {total} flows {scored} scored, {embedded} with an embedding"
    )
    for name, reader in READERS.items():
        r = reader(evolution_store, "flows")
        got = [r.answer(c) for c in checks]
        assert got == [total, scored, embedded], (
            f"{name} counts {got} for {checks}, vigil sql {[total, scored, embedded]}"
        )


def readme_snippets() -> list:
    text = (ROOT / "README.md").read_text()
    m = re.search(r"^## Analyse the store in your notebook\n(.*?)(?=^## )", text, re.S | re.M)
    assert m, "README.md has no '## Analyse the store in your notebook' section"
    snippets = re.findall(r"^```python\n(.*?)^```", m.group(1), re.S | re.M)
    assert len(snippets) >= 2, "want a Polars and a DuckDB snippet in the README's notebook section"
    return snippets


@pytest.mark.parametrize("store", STORES)
def test_readme_snippets_work(store, vigil, monkeypatch, request):
    """The README's snippets run as they are in a directory holding the store as `vigil-data`
    (`vigil demo`'s default), and their `flows_by_label` counts what `vigil sql` counts."""
    store = request.getfixturevalue(store)
    monkeypatch.chdir(store.parent)
    want = vigil_answer(vigil, store, "flows", "count(*)")
    for snippet in readme_snippets():
        scope = {}
        exec(compile(snippet, "README.md", "exec"), scope)
        got = scope["flows_by_label"]
        if isinstance(got, pl.LazyFrame):
            n = got.collect()["flows"].sum()
        else:
            n = sum(r[-1] for r in got.fetchall())
        assert n == want, f"README snippet counts {n} flows, vigil sql {want}:\n{snippet}"
