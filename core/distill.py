"""minilm-static: the bundled MiniLM distilled into one vector per word piece (model2vec's recipe, no torch).

Every word piece of MiniLM's vocabulary goes through the ONNX model once, as
"[CLS] piece [SEP]", and the output at the piece's own position, scaled to unit
length, is its raw vector. PCA (centred) then drops the few directions every piece
shares ("all-but-the-top", Mu & Viswanath 2018) and keeps the next 256, and each
piece is weighted by SIF, a / (a + p), with p its Zipf probability by vocabulary
rank (BERT's vocabulary is ordered roughly by frequency), so "the" counts less
than "glacier" in a text's mean. model2vec's StaticModel serves the result: a
text's vector is the mean of its pieces' vectors, a table look-up and no network,
at thousands of texts a second.

Measured on SciFact train (vector nDCG@10, brute force, 256 dims): model2vec's own
recipe (mean over the three outputs, PCA 256, SIF) 0.407; the piece's own output
0.434; unit length and the top 8 components dropped 0.482; all 376 remaining
dimensions 0.490 (not worth 47% more vector per chunk); word frequencies counted
on real text instead of Zipf ranks did no better. Tuned on the train split only.

The model is made once (29,524 word pieces through MiniLM: about a minute on 2
cores, with progress) and kept under data/cache/ in model2vec's own folder format;
the folder name carries the recipe, so a changed recipe makes a new model instead
of reusing an old one.
"""
from __future__ import annotations

import os
import re
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .config import DATA_DIR, MODEL_DIR
from .types import ProgressCallback, ProgressEvent, no_progress

if TYPE_CHECKING:
    from model2vec import StaticModel

CLS_ID, SEP_ID = 101, 102  # BERT's specials in MiniLM's vocabulary
# Never produced by text: [PAD], [CLS], [SEP], [MASK] and the 994 [unusedN] slots.
NOT_TEXT = re.compile(r"^\[(PAD|CLS|SEP|MASK|unused\d+)\]$")


@dataclass(frozen=True)
class StaticRecipe:
    dimension: int = 256   # model2vec's default PCA size
    shared: int = 8        # top principal components dropped: what every piece has in common
    sif: float = 1e-4      # model2vec's default SIF coefficient
    batch: int = 512       # word pieces per ONNX call

    def folder(self, cache_dir: Path) -> Path:
        return cache_dir / f"minilm-static-own-unit-drop{self.shared}-pca{self.dimension}-sif{self.sif:g}"


DEFAULT_RECIPE = StaticRecipe()
DEFAULT_CACHE_DIR = DATA_DIR / "cache"
_building = threading.Lock()  # one distillation per process at a time


def static_model_folder(recipe: StaticRecipe = DEFAULT_RECIPE, cache_dir: Path = DEFAULT_CACHE_DIR,
                        progress: ProgressCallback = no_progress) -> Path:
    """The distilled model's folder, made first if missing (atomically: a half-made model is never seen)."""
    folder = recipe.folder(cache_dir)
    if (folder / "config.json").exists():
        return folder
    with _building:
        if (folder / "config.json").exists():
            return folder
        folder.parent.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
        try:
            distill(recipe, progress).save_pretrained(scratch)
            scratch.chmod(0o755)  # mkdtemp makes it private; the cache is as readable as the rest of data/
            try:
                os.rename(scratch, folder)
            except OSError:  # another process finished first: its model is the same, keep it
                if not (folder / "config.json").exists():
                    raise
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    return folder


def distill(recipe: StaticRecipe = DEFAULT_RECIPE, progress: ProgressCallback = no_progress) -> StaticModel:
    """A model2vec StaticModel with one PCA-reduced, SIF-weighted vector per MiniLM word piece."""
    import tokenizers
    from model2vec import StaticModel

    from .minilm import MiniLMEmbedder, normalise

    tokenizer = tokenizers.Tokenizer.from_file(str(MODEL_DIR / "tokenizer.json"))
    tokenizer.no_truncation()  # the upstream file pins both to 128; a static model reads every piece
    tokenizer.no_padding()
    vocab = sorted(tokenizer.get_vocab().items(), key=lambda item: item[1])
    pieces = np.array([i for token, i in vocab if not NOT_TEXT.match(token)], dtype=np.int64)
    model = MiniLMEmbedder()
    outputs = np.zeros((len(pieces), model.dimension), dtype=np.float32)
    for lo in range(0, len(pieces), recipe.batch):
        batch = pieces[lo:lo + recipe.batch]
        ids = np.stack([np.full(len(batch), CLS_ID), batch, np.full(len(batch), SEP_ID)], axis=1)
        outputs[lo:lo + len(batch)] = model.token_states(ids)[:, 1]
        progress(ProgressEvent("distilling minilm-static (word pieces through MiniLM)", lo + len(batch),
                               len(pieces)))
    empty = model.token_states(np.array([[CLS_ID, SEP_ID]]))[0].mean(axis=0)  # MiniLM's empty text
    outputs, empty = normalise(outputs), normalise(empty[None, :])

    mean, components = _pca(outputs, recipe.shared + recipe.dimension)
    components = components[recipe.shared:]
    ranks = np.arange(2, len(pieces) + 2, dtype=np.float64)  # model2vec's Zipf estimate
    probability = (1.0 / ranks) / np.sum(1.0 / ranks)
    weights = recipe.sif / (recipe.sif + probability)
    vectors = np.zeros((len(vocab), recipe.dimension), dtype=np.float32)
    vectors[pieces] = ((outputs - mean) @ components.T) * weights[:, None].astype(np.float32)
    # The static tokenizer never emits [CLS]: its row holds the empty text's vector (see StaticMiniLMEmbedder).
    vectors[CLS_ID] = ((empty - mean) @ components.T)[0]
    config = {"model_type": "model2vec", "architectures": ["StaticModel"], "apply_pca": recipe.dimension,
              "dropped_components": recipe.shared, "sif_coefficient": recipe.sif, "hidden_dim": recipe.dimension,
              "normalize": True, "pooling": "mean", "tokenizer_name": "sentence-transformers/all-MiniLM-L6-v2"}
    return StaticModel(vectors=vectors, tokenizer=tokenizer, config=config, normalize=True, max_length=None,
                       base_model_name="sentence-transformers/all-MiniLM-L6-v2", language=["en"])


def _pca(x: np.ndarray, dimension: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean and top principal axes (rows) of x, each axis signed so its largest projection is positive:
    the same vocabulary gives the same model on any machine."""
    mean = x.mean(axis=0)
    centred = (x - mean).astype(np.float64)
    _, eigenvectors = np.linalg.eigh(centred.T @ centred)
    components = eigenvectors[:, ::-1][:, :dimension].T
    scores = centred @ components.T
    signs = np.sign(scores[np.argmax(np.abs(scores), axis=0), np.arange(dimension)])
    return mean.astype(np.float32), (components * signs[:, None]).astype(np.float32)
