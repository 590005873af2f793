"""The model directory: the fitted IntentModel plus metadata that says what it is and what it may run with.

Pickles are only safe under the scikit-learn version that wrote them (scikit-learn's own persistence advice),
so the exact version is recorded and a mismatch is refused with a message instead of failing strangely at
prediction time. The intents fingerprint refuses a model trained for other intents. The directory is
written beside its destination and renamed into place: a crash never leaves half a model.
"""
from __future__ import annotations

import json
import os
import platform
import shutil
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

import joblib
import sklearn

from bot.brain.articles import ArticleIndex
from bot.brain.classifier import IntentModel
from bot.brain.decide import Brain
from bot.brain.records import IntentsConfig
from bot.errors import BadInput
from bot.files import read_articles, read_intents
from bot.training import intents_fingerprint

FORMAT = 1
MODEL_FILE = "model.joblib"
META_FILE = "metadata.json"


def now_iso() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def save_model(out: str | os.PathLike, model: IntentModel, config: IntentsConfig, data_hash: str,
               metrics: dict, extra: Optional[dict] = None) -> dict:
    out = Path(out)
    if out.exists() and not (out / META_FILE).exists() and any(out.iterdir()):
        raise BadInput(f"{out}: exists and is not a model directory; refusing to overwrite it")
    trained_at = now_iso()
    meta = {
        "format": FORMAT,
        "version": f"{trained_at}-{data_hash[:4]}",
        "trained_at": trained_at,
        "sklearn_version": sklearn.__version__,
        "python_version": platform.python_version(),
        "data_hash": data_hash,
        "intents_fingerprint": intents_fingerprint(config),
        "intents": list(model.classes),
        "thresholds": model.thresholds,
        "default_threshold": model.default_threshold,
        "temperature": model.temperature,
        "metrics": metrics,
        **(extra or {}),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}."))
    try:
        joblib.dump(model, tmp / MODEL_FILE, compress=3)
        (tmp / META_FILE).write_text(json.dumps(meta, indent=2) + "\n")
        if out.exists():
            old = out.with_name(f".{out.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(out, old)
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return meta


def read_metadata(model_dir: str | os.PathLike) -> dict:
    d = Path(model_dir)
    if not (d / META_FILE).is_file() or not (d / MODEL_FILE).is_file():
        raise BadInput(f"{d}: not a model directory (run 'bot train' to make one)")
    try:
        meta = json.loads((d / META_FILE).read_text())
    except ValueError:
        raise BadInput(f"{d / META_FILE}: not valid JSON") from None
    if meta.get("format") != FORMAT:
        raise BadInput(f"{d}: model format {meta.get('format')!r}, this bot reads format {FORMAT}; retrain it")
    if meta.get("sklearn_version") != sklearn.__version__:
        raise BadInput(f"{d}: trained with scikit-learn {meta.get('sklearn_version')}, this is "
                       f"{sklearn.__version__}; retrain the model with 'bot train'")
    return meta


def load_model(model_dir, config: Optional[IntentsConfig] = None) -> tuple[IntentModel, dict]:
    meta = read_metadata(model_dir)
    if config is not None and meta.get("intents_fingerprint") != intents_fingerprint(config):
        raise BadInput(f"{model_dir}: trained for other intents (names, tags or examples changed since); "
                       "retrain with 'bot train'")
    try:
        model = joblib.load(Path(model_dir) / MODEL_FILE)
    except Exception as e:  # a corrupt or foreign pickle: say so in one line
        raise BadInput(f"{model_dir}: the model file cannot be loaded ({type(e).__name__})") from None
    if not isinstance(model, IntentModel):
        raise BadInput(f"{model_dir}: the model file holds a {type(model).__name__}, not an intent model")
    return model, meta


def load_brain(model_dir, intents_path, articles_path) -> Brain:
    articles = read_articles(articles_path)
    config = read_intents(intents_path, {a.id for a in articles})
    model, meta = load_model(model_dir, config)
    return Brain(model, config, ArticleIndex(articles), meta["version"])
