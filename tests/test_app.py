"""main.py, headless (Streamlit AppTest): upload -> genre, chart and timeline; bad input -> st.error; microphone."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import free_port, synth_song, write_audio
from streamlit.testing.v1 import AppTest

from codeFeature.config import GENRES, METRICS_JSON, MODEL_DIR
from codeFeature.engine import registry
from codeFeature.engine.engines import ENGINES
from codeFeature.engine.settings import EngineSettings

MAIN = str(Path(__file__).resolve().parent.parent / "main.py")
HEADLINE = re.compile(r"^(\w+) · (\d+)%$")


def fresh_app() -> AppTest:
    at = AppTest.from_file(MAIN, default_timeout=120)
    at.run()
    assert not at.exception
    return at


def chart_data(at: AppTest) -> list[dict]:
    """The data behind each Vega-Lite chart on the page, as column -> values."""
    import pyarrow as pa
    return [pa.ipc.open_stream(chart.proto.datasets[0].data.data).read_all().to_pydict()
            for chart in at.get("vega_lite_chart")]


def test_start_page_has_inputs_and_model_facts() -> None:
    at = fresh_app()
    assert at.title[0].value == "What genre is this song?"
    assert len(at.file_uploader) == 1 and len(at.audio_input) == 1
    assert not at.header and not at.error
    sidebar = " ".join(c.value for c in at.sidebar.caption)
    assert "GTZAN tracks" in sidebar
    # Real songs first (what a user should expect), GTZAN below.
    assert [m.label for m in at.sidebar.metric] == ["Right on real songs", "GTZAN cross-validation (full clips)"]
    engine = at.sidebar.radio[0]
    assert engine.value == EngineSettings.read(MODEL_DIR).default_engine and list(engine.options)[0]
    assert list(at.sidebar.dataframe[0].value.columns) == ["genre", *ENGINES]


def test_engine_choice_changes_the_analysis_and_tags(tmp_path: Path) -> None:
    metrics = json.loads((MODEL_DIR / METRICS_JSON).read_text())
    at = fresh_app()
    song = write_audio(tmp_path / "song.wav", synth_song(12.0, seed=5))
    at.file_uploader[0].upload("song.wav", song.read_bytes(), "audio/wav")
    for engine, name in [("cnn", "MFCC CNN"), ("musicnn", "musicnn + genre head")]:
        at.sidebar.radio[0].set_value(engine).run()
        assert not at.exception and not at.error and HEADLINE.match(at.header[0].value)
        assert any(f"by the {name} engine" in c.value for c in at.caption), engine
        sounds_like = [m.value for m in at.markdown if m.value.startswith("**Sounds like:**")]
        assert len(sounds_like) == (engine != "cnn") and (not sounds_like or sounds_like[0].count(" · ") == 2)
        assert at.sidebar.caption[0].value.startswith(f"{name}: ")
        evaluation = metrics["engines"][engine]["evaluation"]
        assert at.sidebar.metric[0].value == f"{evaluation['realsongs']['original']['track']['accuracy']:.0%}"
        assert at.sidebar.metric[1].value == f"{evaluation['cv']['original_full_clips_only']['accuracy']:.0%}"


def test_an_unreadable_model_folder_is_one_message_instead_of_the_page(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import codeFeature

    monkeypatch.setattr(codeFeature, "shared_classifiers", lambda: registry.shared_classifiers(tmp_path))
    at = AppTest.from_file(MAIN, default_timeout=60)
    at.run()
    assert not at.exception and not at.file_uploader and len(at.error) == 1
    assert at.error[0].value.startswith(f"No usable model folder at {tmp_path}: engines.json is missing")


def test_upload_mp3_shows_genre_chart_and_timeline(tmp_path: Path) -> None:
    at = fresh_app()
    song = write_audio(tmp_path / "song.mp3", synth_song(30.0, rate=44100), rate=44100, channels=2)
    at.file_uploader[0].upload("song.mp3", song.read_bytes(), "audio/mpeg")
    at.run()
    assert not at.exception and not at.error
    match = HEADLINE.match(at.header[0].value)
    assert match and match.group(1).lower() in GENRES and 10 <= int(match.group(2)) <= 100
    bars, timeline = chart_data(at)[:2]
    assert bars["genre"] == list(GENRES) and abs(max(bars["percent"]) - int(match.group(2))) <= 1
    assert len(set(timeline["segment"])) == 10 and set(timeline["genre"]) == set(GENRES)
    assert any("analysed in" in c.value for c in at.caption)
    # The session keeps only the prediction. The look-inside views decode the song once when opened, reuse it when
    # their segment changes, and let it go when closed.
    first_caption = [c.value for c in at.caption if "analysed in" in c.value]
    assert not at.selectbox and "judged" not in at.session_state
    at.toggle[0].set_value(True).run()
    assert len(chart_data(at)) == 6  # + waveform, mel spectrogram, MFCC and chroma
    opened = at.session_state["judged"]
    at.selectbox[0].select_index(4).run()
    assert at.session_state["judged"] is opened
    assert [c.value for c in at.caption if "analysed in" in c.value] == first_caption
    at.toggle[0].set_value(False).run()
    assert "judged" not in at.session_state and not at.exception


def test_not_sure_is_said_plainly(tmp_path: Path) -> None:
    """A synthesised chord sounds like ambient / electronic to musicnn: none of the ten genres, so not sure; the
    page says exactly what the CLI says (run in its own process: one TensorFlow model user per test process)."""
    song = write_audio(tmp_path / "song.wav", synth_song(12.0, seed=3, base_hz=330.0))
    cli = subprocess.run([sys.executable, "-m", "codeFeature.predict", "--json", str(song)], capture_output=True,
                         text=True, cwd=Path(MAIN).parent, timeout=300)
    expected = json.loads(cli.stdout)
    assert expected["confident"] is False and expected["doubt"].startswith("Not sure: this sounds like ")
    at = fresh_app()
    at.file_uploader[0].upload("song.wav", song.read_bytes(), "audio/wav")
    at.run()
    assert not at.exception and HEADLINE.match(at.header[0].value)
    assert [w.value for w in at.warning] == [expected["doubt"]]


def test_percentages_of_the_chart_sum_to_100(tmp_path: Path) -> None:
    at = fresh_app()
    song = write_audio(tmp_path / "song.wav", synth_song(12.0, seed=3))
    at.file_uploader[0].upload("song.wav", song.read_bytes(), "audio/wav")
    at.run()
    values = chart_data(at)[0]["percent"]
    assert len(values) == len(GENRES) and sum(values) == pytest.approx(100.0, abs=0.6)


@pytest.mark.parametrize("name,data,message", [
    ("garbage.mp3", np.random.default_rng(0).integers(0, 256, 30_000, dtype=np.uint8).tobytes(), "not an audio"),
    ("empty.wav", b"", "empty"),
])
def test_bad_upload_shows_an_error_and_the_page_stays_usable(name: str, data: bytes, message: str,
                                                              tmp_path: Path) -> None:
    at = fresh_app()
    at.file_uploader[0].upload(name, data, "audio/mpeg")
    at.run()
    assert not at.exception and message in at.error[0].value.lower() and not at.header
    song = write_audio(tmp_path / "ok.wav", synth_song(6.0))
    at.file_uploader[0].upload("ok.wav", song.read_bytes(), "audio/wav")
    at.run()
    assert not at.error and HEADLINE.match(at.header[0].value)


def test_short_and_silent_uploads_say_what_is_wrong(tmp_path: Path) -> None:
    at = fresh_app()
    at.file_uploader[0].upload("short.wav", write_audio(tmp_path / "s.wav", synth_song(1.5)).read_bytes(), "audio/wav")
    at.run()
    assert "at least 3 s" in at.error[0].value
    silence = write_audio(tmp_path / "z.wav", np.zeros(22050 * 8, np.float32))
    at.file_uploader[0].upload("silence.wav", silence.read_bytes(), "audio/wav")
    at.run()
    assert "silent" in at.error[0].value


def test_microphone_recording_at_16_khz(tmp_path: Path) -> None:
    at = fresh_app()
    clip = write_audio(tmp_path / "mic.wav", synth_song(5.0, rate=16000), rate=16000)
    at.audio_input[0].set_value(("clip.wav", clip.read_bytes(), "audio/wav"))
    at.run()
    assert not at.exception and not at.error and HEADLINE.match(at.header[0].value)


def test_the_newest_input_wins(tmp_path: Path) -> None:
    at = fresh_app()
    at.file_uploader[0].upload("song.wav", write_audio(tmp_path / "a.wav", synth_song(6.0)).read_bytes(), "audio/wav")
    at.run()
    first = [c.value for c in at.caption if "analysed in" in c.value]
    assert first and first[0].startswith("6.0 s of audio")
    clip = write_audio(tmp_path / "mic.wav", synth_song(4.0, rate=16000), rate=16000)
    at.audio_input[0].set_value(("clip.wav", clip.read_bytes(), "audio/wav"))
    at.run()
    assert [c.value for c in at.caption if "analysed in" in c.value][0].startswith("4.0 s of audio")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_the_page_server_stops_at_once_while_the_models_load(sig: signal.Signals, tmp_path: Path) -> None:
    """`streamlit run main.py` loads the default engine before it takes connections (main.lifespan, ~5 s here); a
    Ctrl-C or SIGTERM meanwhile stops it within a couple of seconds, with no traceback and no temp files."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "main.py", "--server.headless", "true", "--server.address",
         "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats", "false"],
        cwd=Path(MAIN).parent, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "TMPDIR": str(tmp_path)})
    time.sleep(3.5)  # streamlit has imported the page and the models are loading
    assert process.poll() is None
    process.send_signal(sig)
    started = time.monotonic()
    output = process.communicate(timeout=30)[0]
    assert time.monotonic() - started < 3, output
    assert "Traceback" not in output and list(tmp_path.iterdir()) == []
