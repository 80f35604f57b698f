"""Convert the MSD-trained musicnn from its TF1 checkpoint (inside the `musicnn` wheel) to Keras 3 files.

    python -m codeFeature.training.musicnn_convert [--wheel musicnn-0.1.0-py3-none-any.whl] [--out class_xls]

Without --wheel, the wheel is fetched with `pip download --no-deps musicnn==0.1.0` into a temporary folder (it is
never installed: its numpy<1.17 pin would break this environment). Writes `musicnn_msd.json`,
`musicnn_msd.weights.h5` and the licence notice `musicnn_msd.LICENSE.md` to --out. The converted files are
committed, so users never run this; it is here so that they can be reproduced.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from codeFeature.config import MODEL_DIR, MUSICNN_LICENSE
from codeFeature.errors import ModelFilesError

WHEEL = "musicnn==0.1.0"
_CHECKPOINT_DIR = "musicnn/MSD_musicnn/"
_LICENSE_MEMBER = "musicnn-0.1.0.dist-info/LICENSE.md"
# Keras layer -> checkpoint scope, in the order the original TF1 graph created them.
CHECKPOINT_NAMES = {
    "input_bn": "batch_normalization",
    "timbral_38": "conv2d", "timbral_38_bn": "batch_normalization_1",
    "timbral_67": "conv2d_1", "timbral_67_bn": "batch_normalization_2",
    "temporal_128": "conv2d_2", "temporal_128_bn": "batch_normalization_3",
    "temporal_64": "conv2d_3", "temporal_64_bn": "batch_normalization_4",
    "temporal_32": "conv2d_4", "temporal_32_bn": "batch_normalization_5",
    "midend_1": "conv2d_5", "midend_1_bn": "batch_normalization_6",
    "midend_2": "conv2d_6", "midend_2_bn": "batch_normalization_7",
    "midend_3": "conv2d_7", "midend_3_bn": "batch_normalization_8",
    "pooled_bn": "batch_normalization_9",
    "penultimate_dense": "dense", "penultimate": "batch_normalization_10",
    "tags": "dense_1",
}
_BN_VARIABLES = ("gamma", "beta", "moving_mean", "moving_variance")


def fetch_wheel(folder: Path) -> Path:
    """Download the musicnn wheel (no dependencies, not installed) into `folder`; return its path."""
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", WHEEL, "-d", str(folder)]
    result = subprocess.run(command, capture_output=True, text=True)
    wheels = sorted(folder.glob("musicnn-*.whl"))
    if result.returncode != 0 or not wheels:
        raise ModelFilesError(f"Could not download {WHEEL}: {result.stderr.strip()[-300:]}")
    return wheels[0]


def extract_checkpoint(wheel: Path, folder: Path) -> tuple[Path, str]:
    """Unpack the MSD_musicnn checkpoint and licence from `wheel` into `folder`.

    The wheel's `checkpoint` file names a path on the author's machine, so the variables are copied to an explicit
    prefix (`folder/model.index`, `folder/model.data-00000-of-00001`). Returns (prefix, licence text)."""
    with zipfile.ZipFile(wheel) as archive:
        for part in (".index", ".data-00000-of-00001"):
            (folder / f"model{part}").write_bytes(archive.read(_CHECKPOINT_DIR + part))
        licence = archive.read(_LICENSE_MEMBER).decode()
    return folder / "model", licence


def load_weights(model, prefix: Path) -> None:
    """Copy every checkpoint variable onto `model`'s layers (see CHECKPOINT_NAMES); Adam slots are skipped."""
    import tensorflow as tf

    reader = tf.train.load_checkpoint(str(prefix))
    for layer_name, scope in CHECKPOINT_NAMES.items():
        layer = model.get_layer(layer_name)
        if scope.startswith("batch_normalization"):
            values = [reader.get_tensor(f"{scope}/{name}") for name in _BN_VARIABLES]
        else:
            kernel = reader.get_tensor(f"{scope}/kernel")
            if len(layer.get_weights()[0].shape) == 3:  # mid-end: a TF1 Conv2D spanning all channels = a Conv1D
                kernel = kernel[:, :, 0, :]
            values = [kernel, reader.get_tensor(f"{scope}/bias")]
        expected = [w.shape for w in layer.get_weights()]
        if [v.shape for v in values] != expected:
            raise ModelFilesError(f"{scope} has shapes {[v.shape for v in values]}, layer {layer_name} {expected}")
        layer.set_weights([np.asarray(v, dtype=np.float32) for v in values])


def convert(wheel: Path | None, out_dir: Path) -> list[Path]:
    """Fetch (if `wheel` is None) and convert the checkpoint; write the model files and licence to `out_dir`."""
    from codeFeature.models.cnn import save_keras
    from codeFeature.models.musicnn import build_musicnn, files

    with tempfile.TemporaryDirectory(prefix="musicnn-") as tmp:
        folder = Path(tmp)
        prefix, licence = extract_checkpoint(wheel or fetch_wheel(folder), folder)
        model = build_musicnn()
        load_weights(model, prefix)
    json_path, weights_path = save_keras(model, *files(out_dir))
    licence_path = out_dir / MUSICNN_LICENSE
    licence_path.write_text(
        "The files musicnn_msd.json and musicnn_msd.weights.h5 hold the MSD_musicnn model of the `musicnn` package\n"
        "(https://github.com/jordipons/musicnn, version 0.1.0; J. Pons and X. Serra, \"musicnn: pre-trained\n"
        "convolutional neural networks for music audio tagging\", ISMIR 2019 LBD), converted to Keras 3 by\n"
        "`python -m codeFeature.training.musicnn_convert`. Its licence (ISC):\n\n" + licence.strip() + "\n")
    return [json_path, weights_path, licence_path]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m codeFeature.training.musicnn_convert",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--wheel", type=Path, help="a downloaded musicnn-0.1.0 wheel (default: pip download it)")
    parser.add_argument("--out", type=Path, default=MODEL_DIR, help="where the Keras files go (class_xls/)")
    args = parser.parse_args(argv)
    try:
        written = convert(args.wheel, args.out)
    except (ModelFilesError, OSError, zipfile.BadZipFile, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print("wrote " + ", ".join(str(path) for path in written))
    return 0


if __name__ == "__main__":
    sys.exit(main())
