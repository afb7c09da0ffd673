"""Settings pages for how the user talks to Hark: hotkey and wake word, speech recognition, and
starting at login."""

from __future__ import annotations

import logging
from collections.abc import Callable

from PySide6.QtCore import QKeyCombination, Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QKeySequenceEdit,
    QLabel,
    QLineEdit,
    QPushButton,
    QSlider,
    QWidget,
)

from app.gui.autostart import Autostart
from app.gui.dialogs.settings_widgets import PathPicker, SettingsPage, SettingsValues
from app.settings.schema import Settings

log = logging.getLogger(__name__)

WAKE_WORDS = {
    "hey_jarvis": "Hey Jarvis",
    "alexa": "Alexa",
    "okay_nabu": "Okay Nabu",
    "hey_mycroft": "Hey Mycroft",
    "hey_rhasspy": "Hey Rhasspy",
}
ASR_MODELS = ("tiny.en", "base.en", "small.en", "large-v3-turbo")
LANGUAGES = ("en", "auto", "de", "fr", "es", "it", "nl", "pt", "pl", "sv", "ja", "zh")
_MODIFIERS = (
    (Qt.KeyboardModifier.ControlModifier, "<ctrl>"),
    (Qt.KeyboardModifier.AltModifier, "<alt>"),
    (Qt.KeyboardModifier.ShiftModifier, "<shift>"),
    (Qt.KeyboardModifier.MetaModifier, "<cmd>"),
)
_NAMED_KEYS = {
    Qt.Key.Key_Space: "<space>",
    Qt.Key.Key_Tab: "<tab>",
    Qt.Key.Key_Return: "<enter>",
    Qt.Key.Key_Enter: "<enter>",
    Qt.Key.Key_Escape: "<esc>",
    Qt.Key.Key_Backspace: "<backspace>",
    Qt.Key.Key_Insert: "<insert>",
    Qt.Key.Key_Delete: "<delete>",
    Qt.Key.Key_Home: "<home>",
    Qt.Key.Key_End: "<end>",
    Qt.Key.Key_PageUp: "<page_up>",
    Qt.Key.Key_PageDown: "<page_down>",
    Qt.Key.Key_Pause: "<pause>",
    Qt.Key.Key_Left: "<left>",
    Qt.Key.Key_Right: "<right>",
    Qt.Key.Key_Up: "<up>",
    Qt.Key.Key_Down: "<down>",
}


def chord_text(combo: QKeyCombination) -> str | None:
    """A Qt key chord in pynput's notation (``<ctrl>+<alt>+h``); None for a bare modifier."""
    key = combo.key()
    parts = [name for flag, name in _MODIFIERS if combo.keyboardModifiers() & flag]
    if Qt.Key.Key_F1.value <= key.value <= Qt.Key.Key_F24.value:
        parts.append(f"<f{key.value - Qt.Key.Key_F1.value + 1}>")
    elif key in _NAMED_KEYS:
        parts.append(_NAMED_KEYS[key])
    elif 0x21 <= key.value <= 0x7E:
        parts.append(chr(key.value).lower())
    else:
        return None
    return "+".join(parts)


_WORDS = {
    "ctrl": "Ctrl",
    "alt": "Alt",
    "shift": "Shift",
    "cmd": "Meta",
    "space": "Space",
    "tab": "Tab",
    "enter": "Enter",
    "esc": "Esc",
    "backspace": "Backspace",
    "insert": "Insert",
    "delete": "Delete",
    "home": "Home",
    "end": "End",
    "page_up": "PgUp",
    "page_down": "PgDown",
    "pause": "Pause",
    "left": "Left",
    "right": "Right",
    "up": "Up",
    "down": "Down",
}
_NAMES = {word.lower(): name for name, word in _WORDS.items()} | {
    "control": "ctrl",
    "super": "cmd",
    "win": "cmd",
    "meta": "cmd",
    "return": "enter",
    "escape": "esc",
    "del": "delete",
    "ins": "insert",
    "page up": "page_up",
    "page down": "page_down",
}


def chord_words(chord: str | None) -> str:
    """A chord in pynput's notation as people write it: ``<ctrl>+<alt>+h`` → ``Ctrl+Alt+H``."""
    words = []
    for part in (chord or "").split("+") if chord else []:
        name = part.strip("<>")
        if name in _WORDS:
            words.append(_WORDS[name])
        elif len(name) > 1 and name[0] == "f" and name[1:].isdigit():
            words.append(name.upper())
        else:
            words.append(name.upper() if len(name) == 1 else name)
    return "+".join(words)


def words_chord(text: str) -> str | None:
    """``Ctrl+Alt+H`` (or ``<ctrl>+<alt>+h``) in pynput's notation; None when it is no chord."""
    parts = [p.strip() for p in text.replace(" + ", "+").split("+")]
    if not text.strip() or any(not p for p in parts):
        return None
    out = []
    for part in parts:
        name = part.strip("<>").lower()
        if name in _NAMES.values() or name in _NAMES:
            out.append(f"<{_NAMES.get(name, name)}>")
        elif len(name) > 1 and name[0] == "f" and name[1:].isdigit() and 1 <= int(name[1:]) <= 24:
            out.append(f"<{name}>")
        elif len(name) == 1 and not name.isspace():
            out.append(name)
        else:
            return None
    if all(p in ("<ctrl>", "<alt>", "<shift>", "<cmd>") for p in out):
        return None  # modifiers alone are not a chord
    return "+".join(out)


def check_chord(text: str) -> str | None:
    """What is wrong with a typed chord, or None (empty means "no hotkey")."""
    if not text.strip() or words_chord(text) is not None:
        return None
    return (
        f"“{text}” is not a key combination Hark can use as a hotkey. Click the box beside "
        "it and press the keys, or write it like Ctrl+Alt+H."
    )


class TalkPage(SettingsPage):
    """Push-to-talk hotkey, the wake word and barge-in."""

    title = "Talking"
    sections = ("talk",)

    def __init__(self, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        talk = settings.talk
        self._hotkey = talk.hotkey
        form = QFormLayout(self)
        self.hotkey = QLineEdit(chord_words(talk.hotkey))
        self.hotkey.setPlaceholderText("no hotkey")
        self.hotkey.setAccessibleName("Hotkey")
        self.recorder = QKeySequenceEdit()
        self.recorder.setMaximumSequenceLength(1)
        self.recorder.setAccessibleName("Press the hotkey")
        self.recorder.setToolTip("Click here and press the keys you want to hold to talk")
        self.recorder.keySequenceChanged.connect(self.on_recorder_key_sequence_changed)
        row = QHBoxLayout()
        row.addWidget(self.hotkey, 1)
        row.addWidget(QLabel("or press:"))
        row.addWidget(self.recorder)
        form.addRow("Hotkey", row)
        self.mode = QComboBox()
        self.mode.setAccessibleName("Hotkey mode")
        self.mode.addItem("Hold the keys while you talk", "hold")
        self.mode.addItem("Press once to talk, again to stop", "toggle")
        self.mode.setCurrentIndex(max(0, self.mode.findData(talk.hotkey_mode)))
        form.addRow("Mode", self.mode)
        self.wake = QComboBox()
        self.wake.setAccessibleName("Wake word")
        self.wake.addItem("None (use the hotkey)", None)
        for key, label in WAKE_WORDS.items():
            self.wake.addItem(label, key)
        if talk.wake_word and self.wake.findData(talk.wake_word) < 0:
            self.wake.addItem(talk.wake_word, talk.wake_word)  # a custom .tflite model
        self.wake.setCurrentIndex(max(0, self.wake.findData(talk.wake_word)))
        form.addRow("Wake word", self.wake)
        self.sensitivity = QSlider(Qt.Orientation.Horizontal)
        self.sensitivity.setAccessibleName("Wake word sensitivity")
        self.sensitivity.setRange(5, 95)
        self.sensitivity.setValue(round(talk.wake_sensitivity * 100))
        self.sensitivity.setToolTip("Higher hears the wake word more readily, and mishears more")
        form.addRow("Sensitivity", self.sensitivity)
        self.wake.currentIndexChanged.connect(lambda _: self._sync())
        self.barge_in = QCheckBox("Stop talking when I start to speak")
        self.barge_in.setAccessibleName("Barge-in")
        self.barge_in.setChecked(talk.barge_in)
        form.addRow("", self.barge_in)
        self._sync()

    def _sync(self) -> None:
        self.sensitivity.setEnabled(self.wake.currentData() is not None)

    def on_recorder_key_sequence_changed(self, sequence: QKeySequence) -> None:
        if sequence.count() == 0:
            return
        text = chord_text(sequence[0])  # type: ignore[index]  # the stubs lack __getitem__
        if text:
            self.hotkey.setText(chord_words(text))

    def values(self) -> SettingsValues:
        return {
            "talk": {
                "hotkey": self._chord(),
                "hotkey_mode": self.mode.currentData(),
                "wake_word": self.wake.currentData(),
                "wake_sensitivity": self.sensitivity.value() / 100,
                "barge_in": self.barge_in.isChecked(),
            }
        }

    def _chord(self) -> str | None:
        """The hotkey in pynput's notation, as the settings keep it (unchanged when the user
        did not touch it, so an unusual chord written in the file stays as it was)."""
        text = self.hotkey.text().strip()
        if not text:
            return None
        if text == chord_words(self._hotkey):
            return self._hotkey
        return words_chord(text) or text

    def problem(self) -> str | None:
        return check_chord(self.hotkey.text().strip())


class SpeechPage(SettingsPage):
    """The Whisper model and the language it listens for."""

    title = "Speech recognition"
    sections = ("asr",)

    def __init__(self, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        asr = settings.asr
        form = QFormLayout(self)
        self.model = QComboBox()
        self.model.setEditable(True)
        self.model.setAccessibleName("Speech model")
        self.model.addItems(ASR_MODELS)
        self.model.setCurrentText(asr.model)
        self.model.setToolTip(
            "tiny.en is fastest; large-v3-turbo is most accurate (best on a GPU server). "
            "Or choose a folder holding a CTranslate2 Whisper model."
        )
        self.folder = QPushButton("Folder…")
        self.folder.setAccessibleName("Choose a model folder")
        self.folder.clicked.connect(self.on_folder_clicked)
        row = QHBoxLayout()
        row.addWidget(self.model, 1)
        row.addWidget(self.folder)
        form.addRow("Model", row)
        self.language = QComboBox()
        self.language.setEditable(True)
        self.language.setAccessibleName("Language")
        self.language.addItems(LANGUAGES)
        self.language.setCurrentText(asr.language)
        form.addRow("Language", self.language)
        hint = QLabel("Models ending in .en understand English only. “auto” detects the language.")
        hint.setWordWrap(True)
        form.addRow("", hint)

    def on_folder_clicked(self) -> None:
        picker = PathPicker(None, caption="Choose a Whisper model folder", folder=True)
        picker.on_browse_clicked()
        chosen = picker.path()
        picker.deleteLater()
        if chosen is not None:
            self.model.setCurrentText(str(chosen))

    def values(self) -> SettingsValues:
        return {
            "asr": {
                "model": self.model.currentText().strip(),
                "language": self.language.currentText().strip(),
            }
        }

    def problem(self) -> str | None:
        model = self.model.currentText().strip()
        language = self.language.currentText().strip()
        if not model:
            return "Choose a speech model (base.en is a good start)."
        if not language:
            return "Choose a language (en, or auto to detect it)."
        if model.endswith(".en") and language not in ("en", "auto"):
            return (
                f"The {model} model understands English only; choose large-v3-turbo to be "
                f"understood in {language!r}."
            )
        return None


class StartupPage(SettingsPage):
    """Whether Hark starts when the user logs in (not a settings key: a desktop entry)."""

    title = "Start at login"

    def __init__(self, autostart: Autostart, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._autostart = autostart
        form = QFormLayout(self)
        self.enabled = QCheckBox("Start Hark when I log in")
        self.enabled.setAccessibleName("Start at login")
        self.was_enabled = autostart.enabled
        self.enabled.setChecked(self.was_enabled)
        self.enabled.setEnabled(autostart.supported)
        form.addRow("", self.enabled)
        self.status = QLabel(autostart.status())
        self.status.setWordWrap(True)
        form.addRow("", self.status)

    def extra_changes(self) -> list[Callable[[], None]]:
        wanted = self.enabled.isChecked()
        if wanted == self.was_enabled or not self._autostart.supported:
            return []
        autostart = self._autostart
        return [lambda: autostart.set(wanted)]
