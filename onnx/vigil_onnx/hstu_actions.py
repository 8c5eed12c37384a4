"""The second HSTU instance, `hstu-user-actions`: per-entity "surprise" (-log p of the observed
event's object) on the web-access and auth logs of `$VIGIL_DATA/user_actions`.

Each log goes through `vigil tokenize actions` (its reader defines the entity: the client IP for
the access log, the source IP for the auth logs, falling back to the user, then host/process). One
vocabulary covers all logs: each log is tokenized once with a vocabulary fitted on it (which names
its events' tokens), the tokens of the training events of all logs are counted and ranked as the
tokenizer ranks them (count, then byte order; `hstu.fit_vocab`), and each log is tokenized again
with that vocabulary (`--vocab`), which the manifest carries for the scorer (`vigil score
actions`). Rows of different logs never share an entity (entities are prefixed with the log's name
for the split only). The model is hstu.py's, with the action id of each context
event added as an embedding (`action_ids` input); it predicts the object id (request path, user
name) of the scored event. Split, baselines, training and export are hstu.py's.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from . import hstu as H
from .data import DEFAULT_DATA

NAME = "hstu-user-actions"

# (name, path under user_actions/, `--log` kind, what the reader makes of a line)
LOGS = [
    ("web", "web-access-logs/elastic-apache/apache_logs", "access",
     "entity = client IP, action = method + status class (GET 2xx), object = normalised request path"),
    ("openssh", "loghub/OpenSSH/OpenSSH_2k.log", "auth",
     "entity = source IP (else user, else host/process[pid]), action = sshd template name, object = user"),
    ("linux", "loghub/Linux/Linux_2k.log", "auth",
     "entity = source IP (else user, else host/process[pid]), action = PAM template name or "
     "<process>:unmatched, object = user"),
]


def train(args) -> None:
    H.setup(args)
    t0 = time.time()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    root = Path(args.data)
    whole = []
    for name, rel, kind, _ in LOGS:
        seq, vocab = H.tokenize_actions(root / rel, work, args.max_len, log=kind, stem=f"{name}.fit")
        whole.append((H.read_rows(seq, entity_prefix=f"{name}:"), json.loads(vocab.read_text())))
    vocab_path = work / "vocab.json"
    vocab = H.fit_vocab(whole, H.training_events(H.Rows.concat([r for r, _ in whole])), vocab_path)
    parts = []
    for name, rel, kind, _ in LOGS:
        seq, _ = H.tokenize_actions(root / rel, work, args.max_len, log=kind, stem=name, vocab_in=vocab_path)
        parts.append(H.read_rows(seq, entity_prefix=f"{name}:"))
    rows = H.Rows.concat(parts)
    names = np.concatenate([H.event_tokens(r, v, "objects") for r, v in whole])
    (work / "parts.json").write_text(json.dumps([name for name, *_ in LOGS]))
    print(f"vocabulary: {len(vocab['actions'])} actions, {len(vocab['objects'])} objects; "
          + ", ".join(f"{name} {len(r.entity)} rows" for (name, *_), r in zip(LOGS, parts)))
    artifact = {
        "name": NAME,
        "preprocessing": {
            "tokenizer": (f"vigil tokenize actions <log> --log access|auth --max-len {args.max_len} "
                          "--vocab <preprocessing.vocab>"),
            "logs": [{"name": name, "file": f"user_actions/{rel}", "log": kind, "reader": what}
                     for name, rel, kind, what in LOGS],
            "context": "action_ids and object_ids of the L-1 events before the scored one",
        },
        "training_data": {
            "dataset": "shared/data/user_actions: elastic/examples apache_logs (10,000 lines, May 2015), "
                       "loghub OpenSSH_2k and Linux_2k (2,000 lines each); see PROVENANCE.md",
            "entities": len(set(rows.entity)),
        },
    }
    data = {"n_events": int(len(rows.entity)), "entities": "entities"}
    H.train_rows(args, work, rows, names, vocab_path, data, t0, artifact)


def read_parts(work: Path) -> H.Rows:
    """The training rows again, for re-export."""
    return H.Rows.concat([H.read_rows(work / f"{name}.parquet", entity_prefix=f"{name}:")
                          for name in json.loads((work / "parts.json").read_text())])


NOTES = ("Full ranking over all objects (ids >= 2: request paths and user names of all logs together), "
         "the entity's earlier objects removed, ties count against the target; an object out of the "
         "vocabulary (fitted on the training events) is a miss. Test = each entity's last event, "
         "validation = its second-to-last, entities with fewer than 3 events only in training context. "
         "Surprise separation: the real next object's -log p against a uniformly drawn other object's "
         "(AUC = P(substitute more surprising)). Seeds 0-2, early stopping on validation NDCG@10; small "
         "data (about 14k events).")


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("hstu_actions", help="HSTU surprise model on the web-access and auth logs")
    H.add_training_arguments(p, NAME, "hstu_actions", epochs=20, batch=256)
    p.add_argument("--data", default=str(DEFAULT_DATA / "user_actions"))
    p.set_defaults(action_context=True, notes=NOTES)
    return p
