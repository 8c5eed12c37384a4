"""iTransformer (Liu et al., ICLR 2024, "iTransformer: Inverted Transformers Are Effective for Time
Series Forecasting") on ETTh1, lookback 96, horizon 96.

Each variate's whole lookback series is one token: a linear layer embeds the L=96 values of a
variate to d_model, a post-LN transformer encoder attends across the 7 variate tokens, a final
LayerNorm, and a linear layer projects each token to the H=96 future values. Per-window
normalisation (mean and population std over the lookback, per variate, eps 1e-5 inside the sqrt,
as the reference's `use_norm`) happens inside the graph, and the forecast is de-normalised in the
graph too, so the ONNX model maps raw values `x` [B, 96, N] to a raw `forecast` [B, 96, N]. No
weight depends on N (7 for ETTh1), so the variate axis is exported dynamic: the same graph
forecasts one NAB series (`python -m vigil_onnx.evaluate nab`).

The timestamp covariates are 4 more tokens, as the reference's `x_mark_enc` (hour of day, day of
week, day of month, day of year: `vigil tokenize variate --time-features`), embedded and attended
to like the series, not forecast.

Data comes only from the Rust tokenizer: `vigil tokenize variate ETTh1.csv --step 3600
--lookback 192 --stride 1` gives one row per 192-step window with `values` [7, 192] normalised
over the window, plus that window's `mean` and `std` per variate. We de-normalise
(`values * std + mean`, i.e. back to the raw CSV values, checked against the CSV) and split each
window into the input (first 96 steps) and the target (next 96 steps), so the statistics the model
uses are the lookback's only, computed in the graph.

Split (the reference's `Dataset_ETT_hour` borders, 30-day months): train = rows [0, 8640),
val = rows [8544, 11520), test = rows [11424, 14400) (each later split starts 96 rows early, so
its first window's lookback is in the previous split; rows after 14400 are not used). A window
starting at row s belongs to a split when rows s .. s+191 all lie in it. The reported MSE/MAE are
on values standardised with the train rows' mean/std per variate (the reference's StandardScaler),
which makes them comparable with the paper's 0.386 / 0.405; the training loss is the same MSE.

Anomaly score (computed outside the graph, from its forecast): the normalised forecast residual
    score(t) = sqrt( mean_v ( (y[t, v] - forecast[t, v]) / sigma_v )^2 )
with sigma_v the population std of variate v over the 96-step lookback (the graph's own
normalisation, floor 1e-5 inside the sqrt like the graph), for each forecast step t; a window's
score is score at its first step (t = 0, one step ahead) when scoring a stream.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from . import data as D
from . import protocol as P
from .forked import SHARED, fork_map
from .fixtures import write_parity
from .nab import nab_metrics
from .variate_data import read_windows, tokenize

ETTH1 = "timeseries/ett/ETTh1.csv"
TRAIN_ROWS, VAL_ROWS, TEST_ROWS = 12 * 30 * 24, 4 * 30 * 24, 4 * 30 * 24
EPS = 1e-5
SEEDS = (0, 1, 2)
HORIZONS = (96, 192, 336, 720)
#: The validation grid (d_model:d_ff:lr): widths the metrics pipeline's throughput target allows.
GRID = ("128:128:3e-4", "128:128:1e-4", "128:128:1e-3")
#: The paper's ETTh1 results (lookback 96), Table 10 of Liu et al. 2024.
PAPER_HORIZONS = {96: {"mse": 0.386, "mae": 0.405}, 192: {"mse": 0.441, "mae": 0.436},
                  336: {"mse": 0.487, "mae": 0.458}, 720: {"mse": 0.503, "mae": 0.491}}
PAPER = {"mse": 0.386, "mae": 0.405, "source": "iTransformer paper (Liu et al., ICLR 2024), full long-term forecasting results, ETTh1, lookback 96, horizon 96"}


@dataclass
class ITransformerConfig:
    lookback: int = 96
    horizon: int = 96
    n_variates: int = 7
    d_model: int = 128
    n_heads: int = 8
    n_layers: int = 2
    d_ff: int = 128
    dropout: float = 0.1
    time_features: int = 0  # timestamp covariate tokens (4: the reference's hourly timeF)

    def to_dict(self) -> dict:
        return asdict(self)


class EncoderLayer(nn.Module):
    """Post-LN block as the reference: x = LN(x + MHA(x)); x = LN(x + FFN(x)), FFN with ReLU."""

    def __init__(self, cfg: ITransformerConfig):
        super().__init__()
        self.h = cfg.n_heads
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.out = nn.Linear(cfg.d_model, cfg.d_model)
        self.ff1 = nn.Linear(cfg.d_model, cfg.d_ff)
        self.ff2 = nn.Linear(cfg.d_ff, cfg.d_model)
        self.norm1 = nn.LayerNorm(cfg.d_model)
        self.norm2 = nn.LayerNorm(cfg.d_model)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, e = x.shape
        dh = e // self.h
        q, k, v = self.qkv(x).reshape(b, n, 3, self.h, dh).permute(2, 0, 3, 1, 4)
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(dh), dim=-1)
        y = (self.drop(att) @ v).transpose(1, 2).reshape(b, n, e)
        x = self.norm1(x + self.drop(self.out(y)))
        y = self.ff2(self.drop(torch.relu(self.ff1(x))))
        return self.norm2(x + self.drop(y))


class ITransformer(nn.Module):
    """x: raw values [B, L, N] (and x_mark: time features [B, L, F] when cfg.time_features) ->
    forecast: raw values [B, H, N]. The F time features are extra tokens, as the reference's
    DataEmbedding_inverted: embedded and attended to like the variates, not forecast."""

    def __init__(self, cfg: ITransformerConfig):
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Linear(cfg.lookback, cfg.d_model)
        self.drop = nn.Dropout(cfg.dropout)
        self.layers = nn.ModuleList(EncoderLayer(cfg) for _ in range(cfg.n_layers))
        self.norm = nn.LayerNorm(cfg.d_model)
        self.project = nn.Linear(cfg.d_model, cfg.horizon)

    def forward(self, x: torch.Tensor, x_mark: torch.Tensor | None = None) -> torch.Tensor:
        n = x.shape[2]
        mean = x.mean(dim=1, keepdim=True)                                   # [B, 1, N]
        xc = x - mean
        std = torch.sqrt((xc * xc).mean(dim=1, keepdim=True) + EPS)         # population std
        tokens = (xc / std).transpose(1, 2)                                  # [B, N, L]
        if self.cfg.time_features:
            tokens = torch.cat([tokens, x_mark.transpose(1, 2)], dim=1)      # [B, N + F, L]
        tok = self.drop(self.embed(tokens))                                  # [B, N(+F), E]
        for layer in self.layers:
            tok = layer(tok)
        y = self.project(self.norm(tok))[:, :n, :].transpose(1, 2)          # [B, H, N]
        return y * std + mean


def anomaly_score(x: np.ndarray, y: np.ndarray, forecast: np.ndarray) -> np.ndarray:
    """Normalised forecast residual per forecast step: [B, H] (see the module docstring)."""
    sigma = np.sqrt(x.astype(np.float64).var(axis=1, keepdims=True) + EPS)
    return np.sqrt((((y - forecast) / sigma) ** 2).mean(axis=2))


# ---------------------------------------------------------------- data (Rust tokenizer only)

@dataclass
class Split:
    x: np.ndarray  # [B, L, N] raw
    y: np.ndarray  # [B, H, N] raw
    start: np.ndarray  # [B] first row of each window
    mark: np.ndarray  # [B, L, 4] the lookback's time features


def check_against_csv(raw: np.ndarray, csv: Path, series: list[str]) -> float:
    """Max abs difference between the de-normalised windows' first rows and the CSV."""
    with open(csv) as f:
        header = f.readline().strip().split(",")
        rows = np.array([[float(v) for v in line.strip().split(",")[1:]] for line in f if line.strip()])
    assert header[1:] == series, (header, series)
    first = raw[:, 0, :]
    return float(np.max(np.abs(first - rows[: len(first)])))


def split(raw: np.ndarray, marks: np.ndarray, lookback: int, horizon: int) -> dict[str, Split]:
    w = lookback + horizon
    borders = {"train": (0, TRAIN_ROWS),
               "val": (TRAIN_ROWS - lookback, TRAIN_ROWS + VAL_ROWS),
               "test": (TRAIN_ROWS + VAL_ROWS - lookback, TRAIN_ROWS + VAL_ROWS + TEST_ROWS)}
    out = {}
    for name, (b1, b2) in borders.items():
        s = np.arange(b1, b2 - w + 1)
        out[name] = Split(raw[s, :lookback], raw[s, lookback:], s, np.ascontiguousarray(marks[s, :lookback]))
    return out


# ---------------------------------------------------------------- train

def predict(model: ITransformer, sp: Split, batch: int = 512) -> np.ndarray:
    model.eval()
    with torch.no_grad():
        return np.concatenate([model(torch.from_numpy(sp.x[s:s + batch]), torch.from_numpy(sp.mark[s:s + batch])).numpy()
                               for s in range(0, len(sp.x), batch)])


def scaled_metrics(pred: np.ndarray, y: np.ndarray, mu: np.ndarray, sd: np.ndarray) -> dict:
    e = (pred.astype(np.float64) - y) / sd  # (pred - mu)/sd - (y - mu)/sd
    return {"mse": float(np.mean(e ** 2)), "mae": float(np.mean(np.abs(e)))}


def prepare(args, horizon: int) -> dict:
    """ETTh1 tokenized for `horizon`: splits, series, the train scaler, the tokenizer command."""
    csv = Path(args.data) / ETTH1
    parquet, cmd = tokenize(csv, Path(args.work), args.lookback, horizon)
    raw, series, marks = read_windows(parquet)
    csv_diff = check_against_csv(raw, csv, series)
    assert csv_diff < 1e-3, f"de-normalised windows differ from the CSV by {csv_diff}"
    sp = split(raw, marks, args.lookback, horizon)
    # The reference's StandardScaler: train rows [0, 8640), per variate (population std).
    train_rows = np.concatenate([raw[:TRAIN_ROWS - args.lookback - horizon + 1, 0, :],
                                 raw[TRAIN_ROWS - args.lookback - horizon, 1:, :]]).astype(np.float64)
    assert len(train_rows) == TRAIN_ROWS
    return {"split": sp, "series": series, "mu": train_rows.mean(0), "sd": train_rows.std(0), "cmd": cmd,
            "csv_diff": csv_diff}


def fit(d: dict, cfg: ITransformerConfig, args, seed: int, lr: float) -> dict:
    """One seeded model: Adam from `lr`, halved every epoch, the epoch with the best validation MSE
    kept (patience args.patience). Test is not read."""
    torch.manual_seed(seed)
    np.random.seed(seed)
    torch.use_deterministic_algorithms(True)
    sp, mu, sd = d["split"], d["mu"], d["sd"]
    model = ITransformer(cfg)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    xt, mt, yt = (torch.from_numpy(a) for a in (sp["train"].x, sp["train"].mark, sp["train"].y))
    inv_sd = torch.tensor(1.0 / sd, dtype=torch.float32)
    history, best, best_state, bad = [], math.inf, None, 0
    t1 = time.time()
    for epoch in range(args.epochs):
        model.train()
        perm = torch.randperm(len(xt), generator=gen)
        total = 0.0
        for s in range(0, len(xt), args.batch):
            i = perm[s:s + args.batch]
            opt.zero_grad()
            loss = (((model(xt[i], mt[i]) - yt[i]) * inv_sd) ** 2).mean()
            loss.backward()
            opt.step()
            total += loss.item() * len(i)
        val = scaled_metrics(predict(model, sp["val"]), sp["val"].y, mu, sd)
        history.append({"epoch": epoch + 1, "lr": opt.param_groups[0]["lr"], "train_mse": round(total / len(xt), 5),
                        "val_mse": round(val["mse"], 5)})
        print(f"H={cfg.horizon} d={cfg.d_model} lr={lr:g} seed {seed} epoch {epoch + 1}/{args.epochs}: train {total / len(xt):.4f}, "
              f"val mse {val['mse']:.4f}", flush=True)
        if val["mse"] < best:
            best, bad = val["mse"], 0
            best_state = {k: v.clone() for k, v in model.state_dict().items()}
            history[-1]["best"] = True
        else:
            bad += 1
            if bad >= args.patience:
                break
        for g in opt.param_groups:  # the reference's lradj type1: halve every epoch
            g["lr"] = g["lr"] * 0.5
    model.load_state_dict(best_state)
    model.eval()
    return {"model": model, "seed": seed, "history": history, "val_mse": best,
            "train_seconds": round(time.time() - t1, 1)}


@dataclass(frozen=True)
class Candidate:
    """One point of the validation grid: the widths and the initial learning rate."""
    d_model: int
    d_ff: int
    lr: float

    @staticmethod
    def parse(text: str) -> "Candidate":
        """`D_MODEL:D_FF:LR`, e.g. `128:128:3e-4`."""
        d_model, d_ff, lr = text.split(":")
        return Candidate(int(d_model), int(d_ff), float(lr))

    def key(self) -> str:
        return f"{self.d_model}:{self.d_ff}:{self.lr:g}"


def _fit_job(key: str, seed: int) -> dict:
    """One (candidate, seed) of `fit_grid`, in a worker process (`forked.fork_map`): the fitted
    weights, not the model."""
    torch.set_num_threads(1)
    cfg, lr = SHARED["configs"][key]
    r = fit(SHARED["data"], cfg, SHARED["args"], seed, lr)
    r["state_dict"] = r.pop("model").state_dict()
    return {"key": key, **r}


def fit_grid(d: dict, configs: dict[str, tuple[ITransformerConfig, float]], args) -> dict[str, list[dict]]:
    """Every candidate over SEEDS, in `args.jobs` processes: runs per candidate key, each with its
    model (in eval mode). Test is not read."""
    jobs = [(key, seed) for key in configs for seed in SEEDS]
    done = fork_map(_fit_job, jobs, args.jobs, data=d, configs=configs, args=args)
    runs = {key: [] for key in configs}
    for r in done:
        model = ITransformer(configs[r["key"]][0])
        model.load_state_dict(r.pop("state_dict"))
        model.eval()
        runs[r.pop("key")].append({"model": model, **r})
    return runs


def train(args) -> None:
    """Every horizon of HORIZONS: each candidate of the grid (`--grid`, default GRID; an empty
    one: `--d-model/--d-ff/--lr` alone) over SEEDS, the candidate with the best mean validation MSE kept per
    horizon; the artifact is the args.horizon model of that candidate's seed with the best
    validation MSE. Test is read once per kept model, after every choice."""
    torch.set_num_threads(args.threads)
    t0 = time.time()
    work = Path(args.work)
    grid = [Candidate.parse(g) for g in args.grid] or [Candidate(args.d_model, args.d_ff, args.lr)]
    horizons, artifact = {}, None
    for horizon in sorted({args.horizon, *args.horizons}):
        d = prepare(args, horizon)
        sp, mu, sd = d["split"], d["mu"], d["sd"]
        configs = {c.key(): (ITransformerConfig(lookback=args.lookback, horizon=horizon,
                                                n_variates=len(d["series"]), d_model=c.d_model,
                                                n_heads=args.heads, n_layers=args.layers, d_ff=c.d_ff,
                                                dropout=args.dropout, time_features=4), c.lr) for c in grid}
        by_key = fit_grid(d, configs, args)
        val_by_key = {k: P.mean_std([r["val_mse"] for r in rs]) for k, rs in by_key.items()}
        chosen = min(by_key, key=lambda k: np.mean([r["val_mse"] for r in by_key[k]]))
        cfg, lr = configs[chosen]
        runs = by_key[chosen]
        for r in runs:  # test, once per kept model
            r["pred_test"] = predict(r["model"], sp["test"])
            r["test"] = scaled_metrics(r["pred_test"], sp["test"].y, mu, sd)
        naive = scaled_metrics(np.repeat(sp["test"].x[:, -1:, :], horizon, axis=1), sp["test"].y, mu, sd)
        horizons[str(horizon)] = {
            "val_mse": P.mean_std([r["val_mse"] for r in runs]),
            "test_mse": P.mean_std([r["test"]["mse"] for r in runs]),
            "test_mae": P.mean_std([r["test"]["mae"] for r in runs]),
            "paper": PAPER_HORIZONS[horizon],
            "baseline_repeat_last_value_test": {k: round(v, 4) for k, v in naive.items()},
            "windows": {k: int(len(v.x)) for k, v in sp.items()},
            "epochs_run": [len(r["history"]) for r in runs],
            "candidate": {"d_model": cfg.d_model, "d_ff": cfg.d_ff, "lr": lr},
            "grid_val_mse": val_by_key,
        }
        print(f"H={horizon}: {json.dumps(horizons[str(horizon)])}", flush=True)
        if horizon == args.horizon:
            artifact = (d, cfg, lr, runs)
    d, cfg, lr, runs = artifact
    best = min(runs, key=lambda r: r["val_mse"])
    sp, mu, sd, series = d["split"], d["mu"], d["sd"], d["series"]
    model, pred_test = best["model"], best["pred_test"]
    val = scaled_metrics(predict(model, sp["val"]), sp["val"].y, mu, sd)
    test = best["test"]
    per_var = {n: scaled_metrics(pred_test[..., j], sp["test"].y[..., j], mu[j], sd[j])
               for j, n in enumerate(series)}
    val_scores = anomaly_score(sp["val"].x, sp["val"].y, predict(model, sp["val"]))[:, 0]
    test_scores = anomaly_score(sp["test"].x, sp["test"].y, pred_test)[:, 0]

    torch.save({"config": cfg.to_dict(), "state_dict": model.state_dict()}, work / "model.pt")
    q = lambda a: {f"p{p}": round(float(np.percentile(a, p)), 4) for p in (50, 90, 99, 99.9)}
    meta = {
        "series": series,
        "tokenizer_command": ["vigil"] + d["cmd"],
        "scaler": {"mean": mu.tolist(), "std": sd.tolist()},
        "csv_check_max_abs_diff": d["csv_diff"],
        "split": {
            "kind": "chronological, the reference's Dataset_ETT_hour borders (30-day months)",
            "train_rows": [0, TRAIN_ROWS],
            "val_rows": [TRAIN_ROWS - args.lookback, TRAIN_ROWS + VAL_ROWS],
            "test_rows": [TRAIN_ROWS + VAL_ROWS - args.lookback, TRAIN_ROWS + VAL_ROWS + TEST_ROWS],
            "windows": {k: int(len(v.x)) for k, v in sp.items()},
            "rows_unused_after": TRAIN_ROWS + VAL_ROWS + TEST_ROWS,
        },
        "training": {"optimizer": "Adam", "lr": lr, "grid": [c.key() for c in grid], "lr_schedule": "halved every epoch (reference lradj type1)",
                     "epochs_max": args.epochs, "epochs_run": len(best["history"]),
                     "early_stopping_patience": args.patience, "checkpoint": "best validation MSE",
                     "batch": args.batch, "loss": "MSE on train-scaler standardised values", "seeds": list(SEEDS),
                     "exported_seed": best["seed"], "exported": "the seed with the best validation MSE",
                     "threads": args.threads, "train_seconds": best["train_seconds"]},
        "metrics": {
            "protocol": ("issue 12: the reference's chronological split, scaler on train rows, every choice "
                         "(epoch, exported seed) on validation MSE, test read once per model"),
            "test_standardised": {k: round(v, 4) for k, v in test.items()},
            "val_standardised": {k: round(v, 4) for k, v in val.items()},
            "paper": PAPER,
            "horizons_mean_std_over_seeds": horizons,
            "baseline_repeat_last_value_test": horizons[str(args.horizon)]["baseline_repeat_last_value_test"],
            "test_per_variate": {n: {k: round(v, 4) for k, v in m.items()} for n, m in per_var.items()},
            "anomaly_score_step0_quantiles": {"val": q(val_scores), "test": q(test_scores)},
            "history": best["history"],
            "notes": ("MSE/MAE averaged over all test windows (stride 1), H steps and 7 variates, on values "
                      "standardised with the train rows' per-variate mean/std, as the reference reports. "
                      "4 timestamp covariate tokens (hour of day, day of week, day of month, day of year, "
                      "the reference's timeF for hourly data) from `vigil tokenize variate --time-features`. "
                      "Schedule as the reference's ETTh1 script (2 layers, 8 heads, dropout 0.1, Adam, batch 32, "
                      "10 epochs, patience 3, lr halved every epoch). Widths and initial lr: per horizon, the "
                      f"candidate of {[c.key() for c in grid]} (d_model:d_ff:lr) with the best mean validation MSE "
                      "over the seeds (`grid_val_mse`); test is read for that candidate only. Wider models are "
                      "not candidates: d_model = d_ff = 192 runs 1.35x slower per batch of 256 (ONNX Runtime, "
                      "one thread), which puts the metrics pipeline under its 200k points/s target (int8 "
                      "meets it at 205k with d_model 128); the reference's d_model 256 also exceeds the "
                      "3 MB graph budget (3.5 MB)."),
        },
    }
    (work / "meta.json").write_text(json.dumps(meta, indent=1))
    np.savez_compressed(work / "test_windows.npz", x=sp["test"].x, y=sp["test"].y, start=sp["test"].start,
                        mark=sp["test"].mark)
    export(work, Path(args.artifacts))
    print(f"total {time.time() - t0:.1f}s")


# ---------------------------------------------------------------- export

def load_checkpoint(work: Path) -> ITransformer:
    ckpt = torch.load(work / "model.pt", map_location="cpu", weights_only=True)
    model = ITransformer(ITransformerConfig(**ckpt["config"]))
    model.load_state_dict(ckpt["state_dict"])
    return model.eval()


def export(work: Path, out: Path, parity_rows: int = 8) -> dict:
    import onnx
    import onnxruntime as ort

    from . import __version__
    from .export import OPSET, PARITY_TOL, sha256

    meta = json.loads((work / "meta.json").read_text())
    test = np.load(work / "test_windows.npz")
    model = load_checkpoint(work)
    cfg = model.cfg
    out.mkdir(parents=True, exist_ok=True)
    onnx_path = out / "model.onnx"

    # Parity rows: evenly spaced over the test windows (fixed).
    rows = np.linspace(0, len(test["x"]) - 1, parity_rows).round().astype(np.int64)
    x = np.ascontiguousarray(test["x"][rows], dtype=np.float32)
    mark = np.ascontiguousarray(test["mark"][rows], dtype=np.float32)
    feed = {"x": x, "x_mark": mark}
    with torch.no_grad():
        forecast = model(torch.from_numpy(x), torch.from_numpy(mark)).numpy().astype(np.float32)

    torch.onnx.export(
        model, (torch.from_numpy(x), torch.from_numpy(mark)), str(onnx_path),
        input_names=["x", "x_mark"], output_names=["forecast"],
        # Variate tokens allow any N (no layer depends on it), so the variate axis is dynamic too:
        # the same graph forecasts ETTh1's 7 series or one NAB series.
        dynamic_axes={"x": {0: "batch", 2: "variates"}, "x_mark": {0: "batch"},
                      "forecast": {0: "batch", 2: "variates"}},
        opset_version=OPSET, dynamo=False, do_constant_folding=True,
    )
    onnx.checker.check_model(onnx.load(str(onnx_path)))

    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    got = sess.run(["forecast"], feed)[0]
    max_diff = float(np.max(np.abs(got - forecast)))
    print(f"parity: {len(rows)} rows, max abs diff ONNX Runtime vs PyTorch = {max_diff:.3e}")
    if max_diff > PARITY_TOL:
        raise SystemExit(f"parity failed: {max_diff} > {PARITY_TOL}")
    for b in (1, 3):
        assert np.max(np.abs(sess.run(["forecast"], {"x": x[:b], "x_mark": mark[:b]})[0] - forecast[:b])) <= PARITY_TOL
    # Fewer variates: each alone, and a pair, against PyTorch on the same columns.
    for cols in ([0], [6], [2, 5]):
        xs = np.ascontiguousarray(x[:, :, cols])
        with torch.no_grad():
            want = model(torch.from_numpy(xs), torch.from_numpy(mark)).numpy()
        d = float(np.max(np.abs(sess.run(["forecast"], {"x": xs, "x_mark": mark})[0] - want)))
        assert d <= PARITY_TOL, f"variates {cols}: max abs diff {d}"
    # The whole test split through ONNX Runtime gives the same metrics.
    full = np.concatenate([sess.run(["forecast"], {"x": test["x"][s:s + 512], "x_mark": test["mark"][s:s + 512]})[0]
                           for s in range(0, len(test["x"]), 512)])
    mu, sd = np.array(meta["scaler"]["mean"]), np.array(meta["scaler"]["std"])
    onnx_test = scaled_metrics(full, test["y"], mu, sd)

    write_parity(out, feed, {"forecast": forecast})

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    s1 = ort.InferenceSession(str(onnx_path), so, providers=["CPUExecutionProvider"])
    latency = {}
    for b in (1, 32, 256):
        fb = {"x": test["x"][:b], "x_mark": test["mark"][:b]}
        s1.run(["forecast"], fb)
        n = max(3, 200 // b)
        t = time.perf_counter()
        for _ in range(n):
            s1.run(["forecast"], fb)
        latency[f"batch_{b}_ms"] = round((time.perf_counter() - t) / n * 1e3, 3)

    L, H = cfg.lookback, cfg.horizon
    manifest = {
        "name": "itransformer-etth1",
        "family": "itransformer",
        "version": __version__,
        "model_file": "model.onnx",
        "sha256": sha256(onnx_path),
        "opset": OPSET,
        "exporter": f"torch.onnx.export (dynamo=False), torch {torch.__version__}",
        "inputs": [{"name": "x", "dtype": "float32", "shape": [-1, L, "variates"]},
                   {"name": "x_mark", "dtype": "float32", "shape": [-1, L, cfg.time_features]}],
        "outputs": [{"name": "forecast", "dtype": "float32", "shape": [-1, H, "variates"]}],
        "labels": [],
        "decision": ("forecast: raw values of the next H steps per variate. Anomaly score (outside the graph) = "
                     "normalised forecast residual sqrt(mean_v((y[t,v] - forecast[t,v]) / sigma_v)^2), sigma_v = "
                     "sqrt(population variance of x[:, v] over the lookback + 1e-5)"),
        "thresholds": {},
        "architecture": {
            **cfg.to_dict(),
            "tokens": "one per variate: its L lookback values -> linear -> d_model",
            "normalisation": "in the graph: per window and variate, mean and population std over the lookback "
                             "(eps 1e-5 inside the sqrt); forecast de-normalised with them",
            "encoder": "post-LN blocks (MHA over variate tokens, ReLU FFN), final LayerNorm",
            "head": "linear d_model -> H per variate token",
            "covariate_tokens": ("x_mark: 4 time-feature tokens (hour of day, day of week, day of month, day "
                                 "of year, each scaled to [-0.5, 0.5], UTC), embedded and attended to like the "
                                 "variates, not forecast (the reference's DataEmbedding_inverted)"),
        },
        "preprocessing": {
            "tokenizer": "vigil tokenize variate",
            "tokenizer_command": meta["tokenizer_command"],
            "series": meta["series"],
            "step_seconds": 3600,
            "lookback": L,
            "horizon": H,
            "input": "raw values of one lookback window, [batch, lookback, variates] in `series` order; the "
                     "tokenizer's per-window normalisation is undone (values * std + mean) before the model, "
                     "which normalises over the lookback itself",
            "time_features": ("x_mark [batch, lookback, 4]: the lookback steps' hour/23, weekday/6 (Monday 0), "
                              "(day - 1)/30, (day of year - 1)/365, each minus 0.5, UTC (`--time-features`)"),
            "scaler": {"kind": "StandardScaler on the train rows (metrics only, not in the graph)",
                       **meta["scaler"]},
        },
        "training_data": {
            "dataset": "ETTh1 (Zhou et al., Informer): shared/data/timeseries/ett/ETTh1.csv",
            "split": meta["split"],
            "csv_check_max_abs_diff": meta["csv_check_max_abs_diff"],
        },
        "training": meta["training"],
        "metrics": {
            **meta["metrics"],
            "test_standardised_onnxruntime": {k: round(v, 4) for k, v in onnx_test.items()},
            "parity_max_abs_diff_onnxruntime_vs_pytorch": max_diff,
            "onnxruntime_cpu_latency_1_thread": latency,
            **nab_metrics(out),
        },
        "parity": {
            "fixture": "parity.json",
            "inputs": "parity_inputs.npz",
            "outputs": "parity_outputs.npz",
            "rows": int(len(rows)),
            "tolerance": PARITY_TOL,
            "source": "PyTorch eval-mode forecasts of test windows evenly spaced over the test split",
        },
    }
    # Chosen on NAB for this graph by `python -m vigil_onnx.evaluate nab` and `itransformer-points`:
    # a re-export keeps them, as it keeps the NAB figures.
    old = json.loads((out / "manifest.json").read_text()) if (out / "manifest.json").is_file() else {}
    manifest |= {k: old[k] for k in ("operating_points", "anomaly_likelihood") if k in old}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    size = sum(p.stat().st_size for p in out.iterdir() if p.is_file())
    print(f"artifacts in {out}: {size / 1024:.0f} KiB; onnx test {onnx_test}; latency {latency}")
    return manifest


def add_arguments(p, onnx_dir: Path) -> None:
    p.add_argument("--data", default=str(D.DEFAULT_DATA))
    p.add_argument("--artifacts", default=str(onnx_dir / "artifacts" / "itransformer-etth1"))
    p.add_argument("--work", default=str(onnx_dir / "build" / "itransformer"), help="tokenized data and checkpoint")
    p.add_argument("--lookback", type=int, default=96)
    p.add_argument("--horizon", type=int, default=96, help="the exported model's horizon")
    p.add_argument("--horizons", type=int, nargs="*", default=list(HORIZONS),
                   help="horizons trained and reported (the paper's four)")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--patience", type=int, default=3)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--d-model", type=int, default=128)
    p.add_argument("--d-ff", type=int, default=128)
    p.add_argument("--heads", type=int, default=8)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--dropout", type=float, default=0.1)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--grid", nargs="*", default=list(GRID), metavar="D_MODEL:D_FF:LR",
                   help="candidates, each over every seed; per horizon the best mean validation MSE is kept "
                        "(an empty --grid: --d-model:--d-ff:--lr alone)")
    p.add_argument("--jobs", type=int, default=1, help="worker processes for the fits (one thread each)")
