"""The result tables of the evaluation protocol (issue 12) as Markdown, from the artifacts'
manifests: `python -m vigil_onnx.evaluate tables`. Figures are test means ± standard deviations
over the training seeds; `evaluate flows` re-computes the exported models' own test figures
from the artifacts and the committed splits.
"""

from __future__ import annotations

import json
from pathlib import Path


def ms(d: dict | None) -> str:
    """`mean ± std` of a `protocol.mean_std` record."""
    if not d:
        return "-"
    return f"{d['mean']:.3f} ± {d['std']:.3f}"


def manifest(artifacts: Path, name: str) -> dict:
    return json.loads((artifacts / name / "manifest.json").read_text())


def flow_table(m: dict) -> str:
    """FlowTransformer and its baselines: validation and test (NSL-KDD: held-out attack types)."""
    t = m["metrics"]["table_mean_std_over_seeds"]
    first = next(iter(t.values()))
    binary = "attack_f1" in first["test"]
    all_types = "test_all_types" in first
    head = "| model | val macro-F1 | test macro-F1 | test accuracy |"
    rule = "|---|---|---|---|"
    if binary:
        head += " test attack F1 | test attack recall | test AUC |" + (" all test types macro-F1 |" if all_types else "")
        rule += "---|---|---|" + ("---|" if all_types else "")
    rows = [head, rule]
    for name, r in t.items():
        row = f"| {name} | {ms(r['validation']['macro_f1'])} | {ms(r['test']['macro_f1'])} | {ms(r['test']['accuracy'])} |"
        if binary:
            row += f" {ms(r['test']['attack_f1'])} | {ms(r['test']['attack_recall'])} | {ms(r['test']['attack_auc'])} |"
            if all_types:
                row += f" {ms(r['test_all_types']['macro_f1'])} |"
        rows.append(row)
    e = m["metrics"]["exported_model"]
    rows.append("")
    rows.append(f"Exported: {e.get('variant', 'window')}, seed {e['seed']} (best validation): test macro-F1 "
                f"{e['test']['macro_f1']:.4f}, 95% bootstrap {e['test_macro_f1_bootstrap_95']}, accuracy "
                f"{e['test']['accuracy']:.4f}. Removed as encoded like a training row: "
                f"{m['training_data']['split']['removed_encoded_identical_to_training']}.")
    return "\n".join(rows)


def operating_table(points: dict) -> str:
    """The alerting thresholds chosen on validation, with recall, FPR and ECE on test."""
    rows = ["| point | target FPR | threshold | resolvable on validation | val recall | test recall | test FPR | test ECE |",
            "|---|---|---|---|---|---|---|---|"]
    for k, p in points.items():
        target = f"{p['target_fpr']:g}" if p.get("target_fpr") is not None else f"— ({p['chosen_for']})"
        rows.append(f"| {k} | {target} | {p['threshold']:.6g} | {p['resolvable']} | {p['validation']['recall']} | "
                    f"{p['test']['recall']} | {p['test']['fpr']} | {p['ece_test']} |")
    return "\n".join(rows)


def hstu_table(m: dict) -> str:
    t = m["metrics"]["table_mean_std_over_seeds"]
    rows = ["| model | val HR@10 | test HR@10 | test NDCG@10 | test MRR | test HR@10, seen items kept |",
            "|---|---|---|---|---|---|"]
    for name in ("hstu", "sasrec"):
        r = t[name]
        rows.append(f"| {name} | {ms(r['validation']['hr@10'])} | {ms(r['test']['hr@10'])} | "
                    f"{ms(r['test']['ndcg@10'])} | {ms(r['test']['mrr'])} | {ms(r['test_seen_items_kept']['hr@10'])} |")
    p = t["popularity"]
    rows.append(f"| popularity | {p['validation']['hr@10']:.3f} | {p['test']['hr@10']:.3f} | "
                f"{p['test']['ndcg@10']:.3f} | {p['test']['mrr']:.3f} | - |")
    v = m["training_data"].get("vocabulary")
    if v:
        oov = v["out_of_vocabulary_targets"]
        rows += ["", f"Vocabulary fitted on the training events: {v['objects']} objects, {v['actions']} actions; "
                     f"targets out of it (each a miss): {oov['validation']} validation, {oov['test']} test."]
    return "\n".join(rows)


def itransformer_table(m: dict) -> str:
    rows = ["| horizon | test MSE | paper MSE | test MAE | paper MAE | repeat-last MSE |", "|---|---|---|---|---|---|"]
    for h, r in m["metrics"]["horizons_mean_std_over_seeds"].items():
        rows.append(f"| {h} | {ms(r['test_mse'])} | {r['paper']['mse']} | {ms(r['test_mae'])} | {r['paper']['mae']} | "
                    f"{r['baseline_repeat_last_value_test']['mse']} |")
    nab = m["metrics"].get("nab", {}).get("protocol")
    if nab:
        s = nab["test_files_with_shipped_results"]
        rows += ["", f"NAB (split `{nab['split']}`, detector `{nab['chosen']}` chosen on {nab['selection_files']} "
                     f"files): standard profile on the {nab['test_files']} test files {nab['test']['standard']}; on "
                     f"the {s['files']} of them with shipped results: iTransformer {s['itransformer']['standard']}, "
                     f"HTM {s['numenta']['standard']}, twitterADVec {s['twitterADVec']['standard']}."]
        ablations = {"spatial_rule_only": "the spatial rule alone",
                     "persistence_forecast": "the same detector over a repeat-last-value forecast"}
        for key, text in ablations.items():
            if f"test_{key}" in nab:
                rows[-1] += (f" Ablation, {text} (threshold chosen the same way): {nab[f'test_{key}']['standard']} "
                             f"on the test files, {s[key]['standard']} on those with shipped results.")
    return "\n".join(rows)


def netfound_table(m: dict) -> str:
    t = m["metrics"]["table_mean_std_over_seeds"]
    rows = ["| model | test macro-F1 | test accuracy |", "|---|---|---|"]
    for name, r in t.items():
        rows.append(f"| {name} | {ms(r['test_macro_f1'])} | {ms(r['test_accuracy'])} |")
    mal = m["metrics"]["malicious_test"]
    rows += ["", "| malicious test family | flows | F1 | AUC |", "|---|---|---|---|"]
    for fam, r in mal["by_family"].items():
        rows.append(f"| {fam} | {r['flows']} | {r['f1']} | {r['auc']} |")
    return "\n".join(rows)


def tables(artifacts: Path) -> str:
    """Every family's table, in issue 12's order."""
    out = []
    for name, title, fn in (("flow-transformer-cicids2017", "FlowTransformer, CIC-IDS2017", flow_table),
                            ("flow-transformer-nslkdd", "FlowTransformer, NSL-KDD (held-out attack types)", flow_table),
                            ("flow-transformer-iot23", "FlowTransformer, IoT-23 (test: two held-out captures)",
                             flow_table),
                            ("hstu-ml100k", "HSTU, ml-100k", hstu_table),
                            ("hstu-user-actions", "HSTU, web-access and auth logs", hstu_table),
                            ("netfound", "netFound", netfound_table),
                            ("itransformer-etth1", "iTransformer, ETTh1", itransformer_table)):
        m = manifest(artifacts, name)
        if "protocol" not in m.get("metrics", {}):
            out.append(f"#### {title}\n\nNot yet trained under the protocol.")
            continue
        out.append(f"#### {title}\n\n{fn(m)}")
        if "operating_points" in m:
            out.append(operating_table(m["operating_points"]))
    return "\n\n".join(out) + "\n"
