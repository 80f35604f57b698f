"""Convert the pretrained networks of the `musicnn` wheel (models/ears.py) from their TF1 checkpoints to Keras 3 files.

    python -m codeFeature.training.musicnn_convert [--wheel musicnn-0.1.0-py3-none-any.whl] [--out class_xls]

Without --wheel, the wheel is fetched with `pip download --no-deps musicnn==0.1.0` into a temporary folder (it is
never installed: its numpy<1.17 pin would break this environment). Writes each network's JSON and .weights.h5
(`musicnn_msd.*`, `musicnn_mtt.*`, `vgg_msd.*`) and the licence notice `musicnn.LICENSE.md` to --out. The
converted files are committed, so users never run this; it is here so that they can be reproduced.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from codeFeature.config import EARS, MODEL_DIR, MUSICNN_LICENSE
from codeFeature.errors import ModelFilesError
from codeFeature.models.ears import Ear, ear
from codeFeature.models.musicnn import build_musicnn
from codeFeature.models.vgg import build_vgg

WHEEL = "musicnn==0.1.0"
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
VGG_CHECKPOINT_NAMES = {
    "input_bn": "batch_normalization",
    **{name: scope for i in range(1, 6)
       for name, scope in ((f"conv{i}", f"{i}CNN"), (f"conv{i}_bn", f"batch_normalization_{i}"))},
    "tags": "dense",
}
_NAMES = {build_musicnn: CHECKPOINT_NAMES, build_vgg: VGG_CHECKPOINT_NAMES}  # per architecture
_BN_VARIABLES = ("gamma", "beta", "moving_mean", "moving_variance")


def fetch_wheel(folder: Path) -> Path:
    """Download the musicnn wheel (no dependencies, not installed) into `folder`; return its path."""
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", WHEEL, "-d", str(folder)]
    result = subprocess.run(command, capture_output=True, text=True)
    wheels = sorted(folder.glob("musicnn-*.whl"))
    if result.returncode != 0 or not wheels:
        raise ModelFilesError(f"Could not download {WHEEL}: {result.stderr.strip()[-300:]}")
    return wheels[0]


def extract_checkpoint(wheel: Path, folder: Path, checkpoint: str = "MSD_musicnn") -> tuple[Path, str]:
    """Unpack the checkpoint of the wheel's folder `checkpoint` (e.g. "MSD_vgg") and the licence from `wheel` into
    `folder`.

    The wheel's `checkpoint` file names a path on the author's machine, so the variables are copied to an explicit
    prefix (`folder/<checkpoint>.index`, `folder/<checkpoint>.data-00000-of-00001`). Returns (prefix, licence)."""
    with zipfile.ZipFile(wheel) as archive:
        for part in (".index", ".data-00000-of-00001"):
            (folder / f"{checkpoint}{part}").write_bytes(archive.read(f"musicnn/{checkpoint}/{part}"))
        licence = archive.read(_LICENSE_MEMBER).decode()
    return folder / checkpoint, licence


def load_weights(model, prefix: Path, names: dict[str, str] = CHECKPOINT_NAMES) -> None:
    """Copy every checkpoint variable onto `model`'s layers (`names`: layer -> checkpoint scope, CHECKPOINT_NAMES or
    VGG_CHECKPOINT_NAMES); Adam slots are skipped."""
    import tensorflow as tf

    reader = tf.train.load_checkpoint(str(prefix))
    for layer_name, scope in names.items():
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


def checkpoint_names(spec: Ear) -> dict[str, str]:
    """Keras layer -> checkpoint scope for `spec`'s architecture."""
    return _NAMES[spec.builder]


def convert(wheel: Path | None, out_dir: Path, names: tuple[str, ...] = EARS) -> list[Path]:
    """Fetch (if `wheel` is None) and convert the checkpoints of the ears `names`; write their model files and the
    licence notice to `out_dir`."""
    from codeFeature.models.keras_files import save_keras

    written = []
    with tempfile.TemporaryDirectory(prefix="musicnn-") as tmp:
        folder = Path(tmp)
        wheel = wheel or fetch_wheel(folder)
        for name in names:
            spec = ear(name)
            prefix, licence = extract_checkpoint(wheel, folder, spec.checkpoint)
            model = spec.build()
            load_weights(model, prefix, checkpoint_names(spec))
            written += save_keras(model, *spec.files(out_dir))
    licence_path = out_dir / MUSICNN_LICENSE
    listed = "\n".join(f"- `{ear(n).json_name}`, `{ear(n).weights_name}`: {ear(n).checkpoint}" for n in EARS)
    licence_path.write_text(
        "These files hold networks of the `musicnn` package (https://github.com/jordipons/musicnn, version 0.1.0;\n"
        "J. Pons and X. Serra, \"musicnn: pre-trained convolutional neural networks for music audio tagging\",\n"
        "ISMIR 2019 LBD), converted to Keras 3 by `python -m codeFeature.training.musicnn_convert`:\n\n"
        + listed + "\n\nTheir licence (ISC):\n\n" + licence.strip() + "\n")
    return [*written, licence_path]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m codeFeature.training.musicnn_convert",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--wheel", type=Path, help="a downloaded musicnn-0.1.0 wheel (default: pip download it)")
    parser.add_argument("--out", type=Path, default=MODEL_DIR, help="where the Keras files go (class_xls/)")
    parser.add_argument("--ears", nargs="+", choices=EARS, default=list(EARS), help="which networks (default: all)")
    args = parser.parse_args(argv)
    try:
        written = convert(args.wheel, args.out, tuple(args.ears))
    except (ModelFilesError, OSError, zipfile.BadZipFile, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print("wrote " + ", ".join(str(path) for path in written))
    return 0


if __name__ == "__main__":
    sys.exit(main())
