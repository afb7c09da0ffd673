"""Checking a language model server from the GUI: :class:`LlmChooser` is an Ollama server's
address, a model picker filled from the server's own list, and a Check button that says in
plain words whether it answers and has the model. Settings ▸ Language model and the first-run
wizard both use it.

The check (:func:`app.llm.catalog.probe_llm`, one ``GET /api/tags``) runs on the engine loop
and the keyring is read in a worker thread, so the window never waits on the network.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.gui.bridge import Bridge, while_alive
from app.gui.widgets import StatusLine
from app.llm.catalog import OLLAMA_DOWNLOAD, LlmProbe, Verdict, llm_settings, probe_llm
from app.llm.ollama import model_available
from app.settings.schema import LlmSettings

log = logging.getLogger(__name__)

Token = Callable[[], str | None]
"""Reads the key the server wants (from the keyring: slow, so called in a worker thread)."""
ADDRESS_EXAMPLE = "http://192.168.1.100:11434"


def get_ollama_text(model: str) -> str:
    """How to get Ollama and the model onto a computer, with the download link."""
    return (
        f'No Ollama yet? Download it from <a href="{OLLAMA_DOWNLOAD}">ollama.com/download</a>, '
        f"install it, then get the model by running: <code>ollama pull {model}</code>"
    )


class LlmChooser(QWidget):
    """An Ollama server's address, a model picker filled from its list, and Check.

    ``probe_finished`` carries each :class:`~app.llm.catalog.LlmProbe` (also one made on the
    spot when the address cannot be a URL, or when another listed model is picked).
    """

    probe_finished = Signal(object)

    def __init__(
        self,
        llm: LlmSettings,
        bridge: Bridge,
        *,
        token: Token | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._base = llm
        self._bridge = bridge
        self._token = token
        self.probe: LlmProbe | None = None
        """The latest answer for the address now shown (``None`` before a check)."""
        self.checking = False
        self.address = QLineEdit(llm.host)
        self.address.setAccessibleName("Language model server address")
        self.address.setPlaceholderText(ADDRESS_EXAMPLE)
        self.address.textEdited.connect(self.on_address_text_edited)
        self.address.returnPressed.connect(self.start_check)
        self.model = QComboBox()
        self.model.setEditable(True)
        self.model.setAccessibleName("Language model")
        self.model.setToolTip("The models the server has; or type the name of another")
        self.model.addItem(llm.model)
        self.model.setCurrentText(llm.model)
        self.model.setMinimumContentsLength(18)
        self.model.currentTextChanged.connect(self.on_model_current_text_changed)
        self.check_button = QPushButton("Check")
        self.check_button.setAccessibleName("Check the language model")
        self.check_button.setToolTip("Ask the server whether it answers and has the model")
        self.check_button.clicked.connect(self.start_check)
        self.status = StatusLine("Language model status", self)
        row = QHBoxLayout()
        row.addWidget(self.model, 1)
        row.addWidget(self.check_button)
        form = QFormLayout()
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("Address", self.address)
        form.addRow("Model", row)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(form)
        layout.addWidget(self.status)

    def host(self) -> str:
        return self.address.text().strip()

    def model_name(self) -> str:
        return self.model.currentText().strip()

    def target(self) -> LlmSettings | None:
        """The settings to check (the address and model typed in), or None for a bad URL."""
        return llm_settings(self._base, self.host(), self.model_name())

    def start_check(self) -> None:
        """Check the server now (in the background); the answer shows under the fields."""
        if self.checking:
            return
        target = self.target()
        if target is None:
            self._show(LlmProbe(self.host(), self.model_name(), Verdict.BAD_ADDRESS))
            return
        self.checking = True
        self.check_button.setEnabled(False)
        self.status.show_text("busy", f"Asking {target.host}…")
        token = self._token

        async def work() -> LlmProbe:
            key = await asyncio.to_thread(token) if token is not None else None
            return await probe_llm(target, key)

        self._bridge.run(
            work, while_alive(self, self._on_probed), while_alive(self, self._on_failed)
        )

    def _on_probed(self, probe: object) -> None:
        self.checking = False
        self.check_button.setEnabled(True)
        if not isinstance(probe, LlmProbe):
            return
        if probe.host != self.host().rstrip("/"):  # the address changed meanwhile
            self.status.clear_text()
            return
        if probe.models:
            typed = self.model_name()
            self.model.blockSignals(True)
            self.model.clear()
            self.model.addItems(list(probe.models))
            self.model.setCurrentText(typed)
            self.model.blockSignals(False)
        self._show(probe)

    def _on_failed(self, error: BaseException) -> None:
        self.checking = False
        self.check_button.setEnabled(True)
        log.warning("LLM check failed: %r", error)
        self.status.show_text(
            "error", "Hark could not check the language model just now. Try Check again."
        )

    def _show(self, probe: LlmProbe) -> None:
        self.probe = probe
        self.status.show_text("ok" if probe.ok else "error", probe.words())
        self.probe_finished.emit(probe)

    def on_address_text_edited(self, _text: str) -> None:
        self.probe = None
        if not self.checking:
            self.status.clear_text()

    def on_model_current_text_changed(self, model: str) -> None:
        """Another model picked: say at once whether the server has it (no new request)."""
        probe = self.probe
        if probe is None or not probe.answered or self.checking:
            return
        model = model.strip()
        if not model:
            return
        have = model_available(model, probe.models)
        verdict = Verdict.READY if have else Verdict.NO_MODELS
        if not have and probe.models:
            verdict = Verdict.MODEL_MISSING
        self._show(LlmProbe(probe.host, model, verdict, probe.models, probe.timeout_s))
