"""Voice prompts through espeak-ng (Mandarin ``cmn`` and English), in a child process so the GUI thread
never waits: a new prompt cuts the one still speaking. ``available()`` is checked at start-up; without
an engine the kiosk shows a notice instead of speaking (and says so in the self-test).

(Qt TextToSpeech would need the 170 MB PySide6-Addons wheel and speech-dispatcher; espeak-ng speaks
both languages from a 10 MB Debian package.)
"""

from __future__ import annotations

import logging
import shutil
import subprocess
from pathlib import Path

log = logging.getLogger(__name__)

VOICES = {"zh_CN": "cmn", "en": "en"}


class EspeakVoice:
    def __init__(self, *, rate_wpm: int = 140, binary: str | None = None) -> None:
        self._binary = binary or shutil.which("espeak-ng") or shutil.which("espeak")
        self._rate = rate_wpm  # slow and clear, for elderly patients
        self._current: subprocess.Popen[bytes] | None = None
        self.description = f"espeak-ng ({self._binary})" if self._binary else "no speech engine"

    def available(self) -> bool:
        return self._binary is not None and Path(self._binary).exists()

    def command(self, text: str, language: str, *, wav: Path | None = None) -> list[str]:
        argv = [self._binary or "espeak-ng", "-v", VOICES.get(language, "en"), "-s", str(self._rate)]
        if wav is not None:
            argv += ["-w", str(wav)]
        return [*argv, "--", text]

    def say(self, text: str, language: str) -> bool:
        """Start speaking (returns at once); False when no engine is installed."""
        if not self.available() or not text.strip():
            return False
        self.stop()
        try:
            self._current = subprocess.Popen(self.command(text, language), stdin=subprocess.DEVNULL,
                                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        except OSError as exc:
            log.warning("voice prompt failed: %s", exc)
            return False
        return True

    def render(self, text: str, language: str, wav: Path) -> Path:
        """The same speech written to a WAV file (tests and the technician's check; no sound device needed)."""
        subprocess.run(self.command(text, language, wav=wav), check=True, timeout=30,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return wav

    def stop(self) -> None:
        if self._current is not None and self._current.poll() is None:
            self._current.terminate()
        self._current = None
