"""About Hark: the version, the licenses (Hark's, and the wake-word models' non-commercial
one), the projects it is built on, and where it keeps your files."""

from __future__ import annotations

import html
from importlib import metadata

from PySide6.QtCore import QSize, Qt, QUrl
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from app.gui.state import TrayState
from app.gui.tray import state_icon
from app.shared.paths import config_path, data_dir

DISTRIBUTION = "hark-assistant"
WAKE_WORD_NOTE = (
    "The wake-word models that come with Hark (hey jarvis, alexa, okay nabu, hey mycroft, hey "
    "rhasspy) are openWakeWord's pretrained models, licensed CC BY-NC-SA 4.0: "
    "non-commercial use only."
)
LINKS = (
    ("openWakeWord", "https://github.com/dscripka/openWakeWord"),
    ("CC BY-NC-SA 4.0", "https://creativecommons.org/licenses/by-nc-sa/4.0/"),
    ("faster-whisper", "https://github.com/SYSTRAN/faster-whisper"),
    ("Ollama", "https://ollama.com"),
    ("Piper", "https://github.com/rhasspy/piper"),
    ("Qt for Python (LGPL v3)", "https://doc.qt.io/qtforpython-6/"),
)


def version() -> str:
    """Hark's version as installed ("development version" when run from a bare checkout)."""
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return "development version"


def _link(text: str, url: str) -> str:
    return f'<a href="{html.escape(url, quote=True)}">{html.escape(text)}</a>'


class AboutDialog(QDialog):
    """The About window; every link opens in the browser (folders in the file manager)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("About Hark")
        self.setWindowIcon(state_icon(TrayState.IDLE))
        logo = QLabel()
        logo.setPixmap(state_icon(TrayState.IDLE).pixmap(QSize(64, 64)))
        logo.setAlignment(Qt.AlignmentFlag.AlignTop)
        self.heading = QLabel(f"<h2>Hark {html.escape(version())}</h2>")
        self.heading.setAccessibleName("Hark version")
        tagline = self._text(
            "A desktop voice assistant you own: Whisper hears you, a language model you choose "
            "answers, and nothing is sent or booked without your say."
        )
        self.license = self._text("Hark is free software under the MIT license.")
        self.wake_word = self._text(WAKE_WORD_NOTE)
        self.wake_word.setAccessibleName("Wake-word models license")
        self.links = self._text(
            "Built on " + ", ".join(_link(text, url) for text, url in LINKS) + "."
        )
        folders = (
            ("Settings folder", config_path().parent),
            ("Data folder (history, audit log)", data_dir()),
        )
        self.folders = self._text(
            " · ".join(
                _link(text, QUrl.fromLocalFile(str(path)).toString()) for text, path in folders
            )
        )
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        column = QVBoxLayout()
        for widget in (
            self.heading,
            tagline,
            self.license,
            self.wake_word,
            self.links,
            self.folders,
        ):
            column.addWidget(widget)
        top = QHBoxLayout()
        top.addWidget(logo)
        top.addLayout(column, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(buttons)
        # wrapped labels take the height their width needs only at a fixed width
        self.setFixedWidth(540)
        self.setFixedHeight(layout.heightForWidth(540))

    @staticmethod
    def _text(text: str) -> QLabel:
        label = QLabel(text)
        label.setWordWrap(True)
        label.setTextFormat(Qt.TextFormat.RichText)
        label.setOpenExternalLinks(True)
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
        return label
