"""Music genre classifier: drop in a song (or record one) and see its genres, overall and through the song.

    streamlit run main.py

All audio and model work happens in `codeFeature`; this page only asks for input and draws the results.
`streamlit run` finds `app` below and serves the page through it: as the server starts, it loads the default engine
(`lifespan`) before it takes connections, so the first visitor does not wait for it.
"""
from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from types import FrameType

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st
from streamlit.runtime.uploaded_file_manager import UploadedFile

from codeFeature import (
    AUDIO_EXTENSIONS,
    ENGINES,
    GENRES,
    Classifiers,
    Featurised,
    GenreClassifier,
    GenreClassifierError,
    ModelCard,
    Prediction,
    shared_classifiers,
)
from codeFeature.config import MUSICNN_SAMPLE_RATE, SAMPLE_RATE, SEGMENT_SECONDS
from codeFeature.engine.engines import engine as engine_record

log = logging.getLogger(__name__)

GENRE_COLOURS = ["#1f77b4", "#aec7e8", "#ff7f0e", "#e377c2", "#2ca02c", "#17becf", "#7f7f7f", "#ffbb78",
                 "#98df8a", "#d62728"]


@asynccontextmanager
async def lifespan(_: st.App) -> AsyncIterator[None]:
    """As the server starts, before it takes connections: load and warm up the default engine, so the first visitor
    gets an answer as quickly as later ones. A model folder that cannot be opened or loaded is shown on the page;
    Ctrl-C or SIGTERM while it loads stops the server at once."""
    try:
        loading = shared_classifiers()
    except GenreClassifierError as exc:  # the page says so (see models)
        log.error("the model folder cannot be opened: %s", exc)
        yield
        return
    loading.start()
    with _stop_requested() as stop:
        while not (loading.ready or loading.error or stop.is_set()):
            await asyncio.sleep(0.05)
    yield


@contextmanager
def _stop_requested() -> Iterator[threading.Event]:
    """An event set when SIGINT or SIGTERM arrives in this block; the server's own handlers still run. (Signal
    handlers belong to the main thread: elsewhere the event is never set.)"""
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

    def handle(sig: int, frame: FrameType | None) -> None:
        stop.set()
        handler = previous[sig]
        if callable(handler):
            handler(sig, frame)
        elif handler == signal.SIG_DFL:  # the default action (terminate), as if this block were not here
            signal.signal(sig, signal.SIG_DFL)
            signal.raise_signal(sig)

    for sig in previous:
        signal.signal(sig, handle)
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def models() -> Classifiers | None:
    """This server's engines (shared_classifiers: the model folder opened once, each engine loaded and warmed up
    once, shared by every session), or None after showing why the model folder cannot be opened."""
    try:
        return shared_classifiers()
    except GenreClassifierError as exc:
        st.error(str(exc))
        return None


@st.cache_resource(show_spinner="Loading the model…")
def get_classifier(engine: str) -> GenreClassifier:
    """An engine's loaded models (prediction does not mutate them)."""
    return shared_classifiers().get(engine)


def input_ui() -> UploadedFile | None:
    """Upload or record; returns the newest input (shown in a player), or None."""
    upload_tab, record_tab = st.tabs(["Upload a song", "Record with the microphone"])
    with upload_tab:
        upload = st.file_uploader("Any common audio file: mp3, wav, flac, ogg, opus, m4a, aac, aiff, au, wma, "
                                  "or a video with sound", type=[ext.lstrip(".") for ext in AUDIO_EXTENSIONS])
    with record_tab:
        recording = st.audio_input("Record at least 3 seconds of music", sample_rate=SAMPLE_RATE)
    chosen = _newest({"upload": upload, "recording": recording})
    if chosen is not None:
        st.audio(chosen.getvalue())
    return chosen


def _newest(inputs: dict[str, UploadedFile | None]) -> UploadedFile | None:
    """The input that changed most recently in this session (an upload, then a recording: the recording)."""
    seen = st.session_state.setdefault("seen_inputs", {})
    for key, item in inputs.items():
        ident = None if item is None else item.file_id
        if ident != seen.get(key):
            seen[key] = ident
            if ident is not None:
                st.session_state["active_input"] = key
    active = st.session_state.get("active_input")
    return inputs.get(active) or next((item for item in inputs.values() if item is not None), None)


def cached_prediction(given: UploadedFile, engine: str) -> Prediction | None:
    """Classify the input once per session and engine (widgets rerun the script); show a plain error if it fails.
    The session keeps just the Prediction (a few KB); what was judged is decoded again on demand (`judged`)."""
    key = (given.file_id, engine)
    stored = st.session_state.get("prediction")
    if stored is not None and stored[0] == key:
        return stored[1]
    with _errors_shown(given):
        classifier = get_classifier(engine)
        with st.spinner("Listening…"):
            prediction = classifier.classify(given.getvalue(), _name(given), suffix=_suffix(given))
        st.session_state["prediction"] = (key, prediction)
        return prediction
    return None


def judged(given: UploadedFile, engine: str) -> Featurised | None:
    """The segments and model inputs `engine` judged for this input: decoded again (the same bytes give the same
    samples), and kept in the session only while the person looks inside (see main)."""
    key = (given.file_id, engine)
    stored = st.session_state.get("judged")
    if stored is not None and stored[0] == key:
        return stored[1]
    with _errors_shown(given):
        with st.spinner("Listening again…"):
            featurised = get_classifier(engine).featurise(given.getvalue(), suffix=_suffix(given))
        st.session_state["judged"] = (key, featurised)
        return featurised
    return None


@contextmanager
def _errors_shown(given: UploadedFile) -> Iterator[None]:
    """Turn a failure in the block into a plain message on the page (never a traceback; the server log keeps it)."""
    try:
        yield
    except GenreClassifierError as exc:
        st.error(str(exc))
    except Exception:
        log.exception("analysis of %s failed", _name(given))
        st.error("Something went wrong while analysing this file. Please try another one.")


def _name(given: UploadedFile) -> str:
    return given.name or "recording.wav"


def _suffix(given: UploadedFile) -> str:
    return Path(_name(given)).suffix.lower()


def preload(engine: str) -> None:
    """Load the engine while the person chooses a file; a missing model file is shown, not raised."""
    try:
        get_classifier(engine)
    except GenreClassifierError as exc:
        st.error(str(exc))


def headline_ui(prediction: Prediction) -> None:
    top, p_top = prediction.ranked()[0]
    st.header(f"{top.title()} · {p_top:.0%}")
    if prediction.tags:
        st.markdown("**Sounds like:** " + " · ".join(tag for tag, _ in prediction.tags[:3]),
                    help="The song's most likely Million Song Dataset tags, from musicnn.")
    if prediction.doubt:
        st.warning(prediction.doubt, icon=":material/help:")
    st.caption(f"{prediction.duration_s:.1f} s of audio, analysed in {prediction.elapsed_s:.2f} s by the "
               f"{engine_record(prediction.engine).label} engine from ten {SEGMENT_SECONDS:.0f}-second segments.")


def genre_chart_ui(prediction: Prediction) -> None:
    frame = pd.DataFrame({"genre": list(prediction.probabilities),
                          "percent": [round(100 * p, 1) for p in prediction.probabilities.values()]})
    chart = alt.Chart(frame).mark_bar().encode(
        x=alt.X("percent:Q", title="%", scale=alt.Scale(domain=[0, 100])),
        y=alt.Y("genre:N", sort="-x", title=None),
        color=alt.Color("genre:N", scale=alt.Scale(domain=list(GENRES), range=GENRE_COLOURS), legend=None),
        tooltip=["genre", "percent"])
    st.altair_chart(chart, width="stretch")


def timeline_ui(prediction: Prediction) -> None:
    """Stacked genre probabilities of each segment over time: a song that changes genre shows it here."""
    rows = [{"segment": f"{_clock(s.start)}–{_clock(s.end)}", "order": i, "genre": genre,
             "percent": round(100 * p, 1)}
            for i, s in enumerate(prediction.segments) if not s.silent for genre, p in s.probabilities.items()]
    chart = alt.Chart(pd.DataFrame(rows)).mark_bar().encode(
        x=alt.X("segment:N", sort=alt.SortField("order"), title="segment of the song",
                axis=alt.Axis(labelAngle=-45)),
        y=alt.Y("percent:Q", stack="normalize", title="share", axis=alt.Axis(format="%")),
        color=alt.Color("genre:N", scale=alt.Scale(domain=list(GENRES), range=GENRE_COLOURS)),
        order=alt.Order("genre:N"),
        tooltip=["segment", "genre", "percent"])
    st.altair_chart(chart, width="stretch")
    silent = [f"{_clock(s.start)}–{_clock(s.end)}" for s in prediction.segments if s.silent]
    if silent:
        st.caption("Silent, left out of the result: " + ", ".join(silent))


def inside_ui(prediction: Prediction, judged_song: Featurised) -> None:
    """Waveform, the models' inputs (13 MFCCs for the CNN, musicnn's log-mel patch) and chroma of one segment."""
    import librosa

    from codeFeature.feature_extractor_cnn import mfcc_features

    choices = [f"{i + 1}: {_clock(s.start)}–{_clock(s.end)} ({s.genre})"
               for i, s in enumerate(prediction.segments)]
    index = choices.index(st.selectbox("Segment", choices))
    audio = judged_song.segments.audio[index]
    judged_by = judged_song.features  # the model inputs this engine computed
    wave_tab, mel_tab, mfcc_tab, chroma_tab = st.tabs(
        ["Waveform", "Log-mel (musicnn input)" if "log_mel" in judged_by else "Mel spectrogram",
         "MFCC (CNN input)" if "mfcc" in judged_by else "MFCC", "Chroma"])
    with wave_tab:
        step = max(1, len(audio) // 2000)
        st.line_chart(pd.DataFrame({"seconds": np.arange(0, len(audio), step) / SAMPLE_RATE,
                                    "amplitude": audio[::step]}), x="seconds", y="amplitude", height=220)
    with mel_tab:
        if "log_mel" in judged_by:
            _heatmap(judged_by["log_mel"][index].T, "mel band", "log10(1 + 10⁴·power)")
            st.caption(f"Exactly what musicnn judged: 96 mel bands at {MUSICNN_SAMPLE_RATE // 1000} kHz.")
        else:
            mel = librosa.power_to_db(librosa.feature.melspectrogram(y=audio, sr=SAMPLE_RATE), ref=np.max)
            _heatmap(mel, "mel band", "dB")
    with mfcc_tab:
        mfcc = judged_by.get("mfcc")
        _heatmap((mfcc[index] if mfcc is not None else mfcc_features(audio[None])[0])[:, :, 0].T, "coefficient",
                 "value")
    with chroma_tab:
        _heatmap(librosa.feature.chroma_stft(y=audio, sr=SAMPLE_RATE), "pitch class", "energy")


def _heatmap(matrix: np.ndarray, row_title: str, value_title: str) -> None:
    rows, cols = matrix.shape
    frame = pd.DataFrame({"frame": np.tile(np.arange(cols), rows), row_title: np.repeat(np.arange(rows), cols),
                          value_title: matrix.ravel().round(2)})
    chart = alt.Chart(frame).mark_rect().encode(
        x=alt.X("frame:O", axis=None, title="time"), y=alt.Y(f"{row_title}:O", sort="descending"),
        color=alt.Color(f"{value_title}:Q", scale=alt.Scale(scheme="magma")))
    st.altair_chart(chart.properties(height=260), width="stretch")


def sidebar_ui(card: ModelCard, default: str) -> str:
    """The engine choice (`default` first chosen) and what it measured, real songs first; returns the choice."""
    with st.sidebar:
        st.subheader("Engine")
        engine = st.radio("Engine", ENGINES, index=ENGINES.index(default), label_visibility="collapsed",
                          format_func=lambda e: engine_record(e).label + (" (best measured)" if e == default else ""),
                          key="engine")
        st.caption(f"{engine_record(engine).label}: {engine_record(engine).description}.")
        measured = card.engines[engine].measured if engine in card.engines else {}
        real = measured.get("realsongs")
        if real is not None:
            st.metric("Right on real songs", f"{real.accuracy:.0%}",
                      help=f"{real.tracks} real recordings (not GTZAN), each judged by a model that never heard its "
                           f"artist, and whose design and 'not sure' rule were chosen without it. On the "
                           f"{real.no_doubt_tracks} whose genre is clear-cut: {real.no_doubt_accuracy:.0%}.")
        if engine in card.engines:
            st.caption(card.engines[engine].in_words())
        cv = measured.get("cv")
        if cv is not None:
            st.metric("GTZAN cross-validation (full clips)", f"{cv.full_clips_accuracy:.0%}",
                      help=f"Held-out GTZAN tracks, {cv.folds}-fold, by track; all tracks {cv.accuracy:.0%}; "
                           f"loud + lossy copies {cv.loud_lossy_accuracy:.0%}.")
        st.caption("Recall per genre on held-out real songs (GTZAN's where an engine has none):")
        st.dataframe(_engine_table(card), hide_index=True, width="stretch")
        st.caption(f"Trained on {card.gtzan_tracks} GTZAN tracks and the real songs above. GTZAN is "
                   "1990s-era audio and we had a third of it; the real-song figure is the one to trust. Most of "
                   "those songs are rock and pop from before 2002, so treat the result as a hint, not a verdict.")
    return engine


def _engine_table(card: ModelCard) -> pd.DataFrame:
    """Per-genre recall of every engine on held-out real songs (GTZAN cross-validation where there are none),
    side by side (short column names: the sidebar is narrow)."""
    columns = {"genre": list(GENRES)}
    for engine in (e for e in ENGINES if e in card.engines):
        details = card.engines[engine]
        figures = details.measured.get("realsongs") or details.measured.get("cv")
        if figures is not None:
            columns[engine] = [f"{figures.recall[g]:.0%}" if figures.recall[g] is not None else "–"
                                               for g in GENRES]
    return pd.DataFrame(columns)


def _clock(seconds: float) -> str:
    return f"{int(seconds // 60)}:{int(seconds % 60):02d}"


def main() -> None:
    st.set_page_config(page_title="Genre classifier", page_icon="🎵", layout="centered")
    st.title("What genre is this song?")
    engines = models()
    if engines is None:
        return
    given = input_ui()  # before the sidebar: the uploader's code reaches the browser first
    engine = sidebar_ui(engines.folder.card, engines.default)
    if given is None:
        st.caption("Drop in a song to see its genre as percentages and how it moves through the song.")
        preload(engine)
        return
    prediction = cached_prediction(given, engine)
    if prediction is None:
        return
    headline_ui(prediction)
    genre_chart_ui(prediction)
    st.subheader("Through the song")
    timeline_ui(prediction)
    if st.toggle("Look inside: what the model heard"):  # on demand: its charts cost more than the analysis
        judged_song = judged(given, engine)
        if judged_song is not None:
            inside_ui(prediction, judged_song)
    else:  # the decoded song is a few MB: a session holds it only while it is looked at
        st.session_state.pop("judged", None)


if __name__ == "__main__":  # a page view (Streamlit runs the page as __main__)
    main()
else:  # imported by `streamlit run`, which then serves the page through this app
    app = st.App(__file__, lifespan=lifespan)
