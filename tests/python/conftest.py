"""Stores for the interop tests, written by the `vigil` binary under test.

`VIGIL_BIN` names the binary (the Rust test `pipelines/tests/store_interop.rs` sets it);
else `$CARGO_TARGET_DIR/debug/vigil`, else `<checkout>/target/debug/vigil`.
"""

import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def vigil_bin() -> Path:
    if os.environ.get("VIGIL_BIN"):
        return Path(os.environ["VIGIL_BIN"])
    target = Path(os.environ.get("CARGO_TARGET_DIR") or ROOT / "target")
    return target / "debug" / "vigil"


class Vigil:
    """Runs the `vigil` binary; `sql` answers like `vigil sql --format json`."""

    def __init__(self, path: Path):
        self.path = path

    def __call__(self, *args, cwd=None) -> str:
        cmd = [str(self.path), *map(str, args)]
        r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, f"{' '.join(cmd)} exited {r.returncode}:\n{r.stdout}\n{r.stderr}"
        return r.stdout

    def sql(self, store: Path, query: str) -> list:
        """The rows of `query` over `store` as dicts (a null value's key is absent)."""
        out = self("sql", "-q", "--data", store, "--format", "json", query)
        return [json.loads(line) for line in out.splitlines() if line.strip()]


@pytest.fixture(scope="session")
def vigil() -> Vigil:
    path = vigil_bin()
    if not path.is_file():
        pytest.fail(
            f"no vigil binary at {path}: set VIGIL_BIN or run "
            "`cargo build --locked -p vigil-pipelines --bin vigil`"
        )
    return Vigil(path)


@pytest.fixture(scope="session")
def demo_store(vigil, tmp_path_factory) -> Path:
    """`vigil demo`'s store (flows with three models' verdicts, metrics, actions, alerts)
    plus one acknowledged alert, so that `alert_state` has a file too."""
    work = tmp_path_factory.mktemp("demo")
    store = work / "vigil-data"
    vigil("-q", "demo", "--data", store, "--root", ROOT, cwd=work)
    first = "select alert_id from alerts where alert_id is not null order by alert_id limit 1"
    rows = vigil.sql(store, first)
    assert rows, "the demo raised no alert"
    alert = rows[0]["alert_id"]
    vigil("-q", "alerts", "ack", alert, "--data", store, "--by", "ci", "--comment", "interop test")
    return store


TOPOLOGY = """
sensor = "{sensor}"
[store]
dir = "{store}"
[sources.capture]
type = "pcap"
paths = ["{root}/samples/ssh.pcap"]
{score}
[sinks.store]
type = "store"
inputs = ["{last}"]
"""

NETFOUND = """
[transforms.netfound]
type = "score"
model = "{root}/onnx/artifacts/netfound"
inputs = ["capture"]
embedding = {embedding}
"""


@pytest.fixture(scope="session")
def evolution_store(vigil, tmp_path_factory) -> Path:
    """A store whose `flows` files differ in schema: `samples/ssh.pcap` turned into flows
    unscored (sensor `before`: no `netfound` column), then the same capture scored by
    netFound (sensor `after`, so it is not skipped as a resumed source), then once more
    with netFound's embedding kept (sensor `embedding`: a struct field the others lack),
    all into the same partitions. Also: a write in flight (`*.parquet.tmp`, not part of the
    table) and a corrupt file, which the first `vigil sql` moves to `_quarantine/` and
    records in `dead_letters`."""
    work = tmp_path_factory.mktemp("evolution")
    store = work / "vigil-data"
    runs = [
        ("before", "", "capture"),
        ("after", NETFOUND.format(root=ROOT, embedding="false"), "netfound"),
        ("embedding", NETFOUND.format(root=ROOT, embedding="true"), "netfound"),
    ]
    for sensor, score, last in runs:
        toml = work / f"{sensor}.toml"
        toml.write_text(
            TOPOLOGY.format(sensor=sensor, store=store, root=ROOT, score=score, last=last)
        )
        vigil("-q", "run", "--config", toml, cwd=work)
    flows = sorted((store / "flows").glob("date=*/hour=*/*.parquet"))
    assert flows, f"no flows written to {store}"
    (flows[0].parent / "in-flight.parquet.tmp").write_bytes(b"PAR1 half written")
    corrupt = flows[0].parent / "corrupt.parquet"
    corrupt.write_bytes(b"not parquet")
    vigil.sql(store, "select count(*) from flows")
    assert not corrupt.exists(), "vigil sql did not quarantine the corrupt file"
    return store

