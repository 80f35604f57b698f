"""Music genre classifier: drop in a song (or record one) and see its genres, overall and through the song.

    streamlit run main.py

All audio and model work happens in `codeFeature`; this page only asks for input and draws the results.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st
from streamlit.runtime.uploaded_file_manager import UploadedFile

from codeFeature.classifier import GenreClassifier, Prediction
from codeFeature.config import (AUDIO_EXTENSIONS, GENRES, METRICS_JSON, MODEL_DIR, SAMPLE_RATE,
                                SEGMENT_SECONDS)
from codeFeature.errors import GenreClassifierError
from codeFeature.file_split import Segments

log = logging.getLogger(__name__)

CLOSE_CALL = 0.15  # top two genres closer than this: say it is a close call
GENRE_COLOURS = ["#1f77b4", "#aec7e8", "#ff7f0e", "#e377c2", "#2ca02c", "#17becf", "#7f7f7f", "#ffbb78",
                 "#98df8a", "#d62728"]


@dataclass(frozen=True)
class Analysis:
    """What the page shows for one input: the segments and MFCCs the model judged, and its prediction."""

    segments: Segments
    features: np.ndarray
    prediction: Prediction


@st.cache_resource(show_spinner="Loading the model…")
def get_classifier() -> GenreClassifier:
    """The CNN, loaded and warmed up once per server, shared by every session (prediction does not mutate it)."""
    classifier = GenreClassifier()
    classifier.warm_up()
    return classifier


@st.cache_data
def model_metrics() -> dict | None:
    """class_xls/metrics.json as written by the training command, or None if it is missing."""
    path = MODEL_DIR / METRICS_JSON
    return json.loads(path.read_text()) if path.is_file() else None


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


def cached_analysis(given: UploadedFile) -> Analysis | None:
    """Analyse the input once per session (widgets rerun the script); show a plain error if it fails."""
    name = given.name or "recording.wav"
    stored = st.session_state.get("analysis")
    if stored is not None and stored[0] == given.file_id:
        return stored[1]
    try:
        classifier = get_classifier()
        with st.spinner("Listening…"):
            analysis = Analysis(*classifier.analyse(given.getvalue(), name, suffix=Path(name).suffix.lower()))
    except GenreClassifierError as exc:
        st.error(str(exc))
        return None
    except Exception:  # never a traceback on the page; the server log keeps it
        log.exception("analysis of %s failed", name)
        st.error("Something went wrong while analysing this file. Please try another one.")
        return None
    st.session_state["analysis"] = (given.file_id, analysis)
    return analysis


def headline_ui(prediction: Prediction) -> None:
    (top, p_top), (second, p_second) = prediction.ranked()[:2]
    st.header(f"{top.title()} · {p_top:.0%}")
    if p_top - p_second < CLOSE_CALL:
        st.info(f"Close call: {top} ({p_top:.0%}) and {second} ({p_second:.0%}) are near each other; "
                f"the song may mix both styles.")
    st.caption(f"{prediction.duration_s:.1f} s of audio, analysed in {prediction.elapsed_s:.2f} s "
               f"from ten {SEGMENT_SECONDS:.0f}-second segments.")


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


def inside_ui(analysis: Analysis) -> None:
    """Waveform, mel spectrogram, the model's 13-MFCC input and chroma of one segment."""
    import librosa

    choices = [f"{i + 1}: {_clock(s.start)}–{_clock(s.end)} ({s.genre})"
               for i, s in enumerate(analysis.prediction.segments)]
    index = choices.index(st.selectbox("Segment", choices))
    audio = analysis.segments.audio[index]
    wave_tab, mel_tab, mfcc_tab, chroma_tab = st.tabs(["Waveform", "Mel spectrogram", "MFCC (model input)", "Chroma"])
    with wave_tab:
        step = max(1, len(audio) // 2000)
        st.line_chart(pd.DataFrame({"seconds": np.arange(0, len(audio), step) / SAMPLE_RATE,
                                    "amplitude": audio[::step]}), x="seconds", y="amplitude", height=220)
    with mel_tab:
        mel = librosa.power_to_db(librosa.feature.melspectrogram(y=audio, sr=SAMPLE_RATE), ref=np.max)
        _heatmap(mel, "mel band", "dB")
    with mfcc_tab:
        _heatmap(analysis.features[index, :, :, 0].T, "coefficient", "value")
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


def sidebar_ui(metrics: dict | None) -> None:
    with st.sidebar:
        st.subheader("About the model")
        if metrics is None:
            st.warning("No metrics.json next to the model: train one with `python -m codeFeature.train`.")
            return
        trained = metrics["model"]["trained_on"]
        st.markdown(f"A {metrics['model']['parameters']:,}-parameter CNN over 13 MFCCs, trained on "
                    f"{trained['tracks']} GTZAN tracks ({trained['full_clips']} full 30-s clips, the rest short "
                    f"excerpts).")
        cv = metrics["evaluation"].get("cv")
        if cv is not None:
            clips = cv["original_full_clips_only"]
            st.metric("Cross-validated accuracy (full clips)", f"{clips['accuracy']:.0%}",
                      help=f"Held-out GTZAN tracks, {len(cv['runs'])}-fold, by track; macro recall "
                           f"{clips['macro_recall']:.0%}.")
            per_class = cv["original"]["track"]["per_class"]
            st.dataframe(pd.DataFrame({"genre": list(per_class),
                                       "recall": [f"{c['recall']:.0%}" for c in per_class.values()],
                                       "tracks": [c["support"] for c in per_class.values()]}),
                         hide_index=True, width="stretch")
        st.caption("Honest caveats: GTZAN is 1990s-era audio and we had a third of it; songs by artists the model "
                   "never heard score far lower (see the README), and modern loud masters can drift toward "
                   "pop, disco or country. Treat the result as a hint, not a verdict.")


def _clock(seconds: float) -> str:
    return f"{int(seconds // 60)}:{int(seconds % 60):02d}"


def main() -> None:
    st.set_page_config(page_title="Genre classifier", page_icon="🎵", layout="centered")
    st.title("What genre is this song?")
    sidebar_ui(model_metrics())
    given = input_ui()
    if given is None:
        st.caption("Drop in a song to see its genre as percentages and how it moves through the song.")
        get_classifier()  # load the model while the person chooses a file
        return
    analysis = cached_analysis(given)
    if analysis is None:
        return
    headline_ui(analysis.prediction)
    genre_chart_ui(analysis.prediction)
    st.subheader("Through the song")
    timeline_ui(analysis.prediction)
    if st.toggle("Look inside: what the model heard"):  # on demand: its charts cost more than the analysis
        inside_ui(analysis)


main()
