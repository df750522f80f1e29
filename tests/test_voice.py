"""Voice prompts: espeak-ng speaks both languages (rendered to WAV here: no sound device in CI), the window
speaks each screen and face prompt when voice is on (always in elderly mode), and says when it cannot."""

from __future__ import annotations

import wave
from pathlib import Path

import pytest

from kiosk.config import UiConfig
from kiosk.visit import State, VisitMachine

from drivers.voice.espeak import EspeakVoice
from ui.bridge import TaskRunner
from ui.controller import LANES, VisitController
from ui.i18n import CATALOG
from ui.window import KioskWindow


@pytest.mark.parametrize("language", ["zh_CN", "en"])
def test_espeak_speaks_both_languages(tmp_path: Path, language: str) -> None:
    voice = EspeakVoice()
    assert voice.available(), "espeak-ng missing: scripts/setup.sh installs it"
    wav = voice.render(CATALOG["face.challenge.blink"][language], language, tmp_path / "prompt.wav")
    with wave.open(str(wav)) as audio:
        seconds = audio.getnframes() / audio.getframerate()
    assert 0.5 < seconds < 10
    assert voice.say(CATALOG["idle.title"][language], language)  # starts a child process, returns at once
    voice.stop()


class RecordingVoice:
    """A fake that records what would be spoken (the real engine is tested above)."""

    def __init__(self, available: bool = True) -> None:
        self.spoken: list[tuple[str, str]] = []
        self._available = available

    def available(self) -> bool:
        return self._available

    def say(self, text: str, language: str) -> bool:
        self.spoken.append((text, language))
        return self._available


def window_with(qtbot, rig, voice, ui: UiConfig) -> KioskWindow:
    tasks = TaskRunner(LANES)
    controller = VisitController(VisitMachine(), rig.services.effects, tasks, rig.services.card_reader)
    window = KioskWindow(controller, ui, camera=rig.services.camera, manual_window="1F",
                         status_probe=rig.services.status, demo=True, on_demo_insert=rig.insert_card, voice=voice)
    qtbot.addWidget(window)
    rig.services.start()
    window.show()
    return window


@pytest.fixture
def rig(tmp_path: Path):
    from kiosk.config import KioskConfig
    from scripts.demo import start_demo

    r = start_demo(KioskConfig(), tmp_path / "demo")
    yield r
    r.close()


def test_elderly_mode_speaks_each_screen_and_standard_mode_does_not(qtbot, rig) -> None:
    voice = RecordingVoice()
    window = window_with(qtbot, rig, voice, UiConfig(elderly_mode=True, fullscreen=False))
    rig.insert_card()
    qtbot.waitUntil(lambda: window.controller.state == State.CONSENT, timeout=15000)
    assert any(CATALOG["consent.title"]["zh_CN"] in text for text, _ in voice.spoken)
    assert all(language == "zh_CN" for _, language in voice.spoken)
    window.current.button("agree").click()  # the services menu: its tiles are read out, one by one
    qtbot.waitUntil(lambda: window.controller.state == State.SERVICES, timeout=30000)
    menu = next(text for text, _ in reversed(voice.spoken) if CATALOG["errand.tile.pay_fees"]["zh_CN"] in text)
    for errand in ("records", "balance", "filings"):
        assert CATALOG[f"errand.tile.{errand}"]["zh_CN"] in menu
    quiet = RecordingVoice()
    window.voice, window.elderly = quiet, False
    window.speak("x")
    assert quiet.spoken == []


def test_no_speech_engine_is_shown_not_silent(qtbot, rig) -> None:
    window = window_with(qtbot, rig, RecordingVoice(available=False), UiConfig(voice=True, fullscreen=False))
    window._render_status()
    assert window.voice_label.isVisible() and window.voice_label.text() == CATALOG["bar.no_voice"]["zh_CN"]
    assert not EspeakVoice(binary="/nonexistent/espeak-ng").say("测试", "zh_CN")
