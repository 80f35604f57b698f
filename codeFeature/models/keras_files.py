"""Model files: a keras.Model as architecture JSON + .weights.h5, written by training and read by every engine."""
from __future__ import annotations

import json
from pathlib import Path

from codeFeature.errors import ModelFilesError
from codeFeature.models.runtime import keras_module


def save_keras(model, json_path: Path, weights_path: Path) -> tuple[Path, Path]:
    """Write a model as architecture JSON + .weights.h5, without compile settings or optimizer slots."""
    json_path.parent.mkdir(parents=True, exist_ok=True)
    keras = keras_module()
    clean = keras.models.model_from_json(_architecture_json(model))
    clean.set_weights(model.get_weights())
    json_path.write_text(json.dumps(json.loads(clean.to_json()), indent=1) + "\n")
    clean.save_weights(weights_path)
    return json_path, weights_path


TRAIN_HINT = "Train one with `python -m codeFeature.train`."


def load_keras(json_path: Path, weights_path: Path, hint: str = TRAIN_HINT):
    """Load a model written by `save_keras`. Raises ModelFilesError (with `hint` on how to make the files) if a
    file is missing or unreadable."""
    for path in (json_path, weights_path):
        if not path.is_file():
            raise ModelFilesError(f"Model file missing: {path}. {hint}")
    keras = keras_module()
    try:
        model = keras.models.model_from_json(json_path.read_text())
        model.load_weights(weights_path)
    except Exception as exc:  # keras raises many types for a damaged file; the user needs one message
        raise ModelFilesError(f"The model files {json_path.name} / {weights_path.name} in {json_path.parent} "
                              f"could not be loaded: {exc}") from exc
    return model


def _architecture_json(model) -> str:
    config = json.loads(model.to_json())
    config.pop("compile_config", None)
    return json.dumps(config)
