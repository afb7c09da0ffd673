"""Checking a language model server from the GUI: :class:`LlmChooser` is the kind of server
(Ollama, or any OpenAI-compatible one: llama.cpp's llama-server, vLLM, LM Studio…), its
address, a model picker filled from the server's own list, and a Check button that says in
plain words whether it answers and has the model. Settings ▸ Language model and the first-run
wizard both use it.

The check (:func:`app.llm.catalog.probe_llm`: ``GET /api/tags`` on Ollama, ``GET /models`` on
an OpenAI-compatible server) runs on the engine loop and the keyring is read in a worker
thread, so the window never waits on the network.
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
from app.llm.catalog import (
    OLLAMA_DOWNLOAD,
    OLLAMA_EXAMPLE,
    OPENAI_EXAMPLE,
    LlmProbe,
    Verdict,
    llm_settings,
    probe_llm,
)
from app.settings.schema import LlmSettings

log = logging.getLogger(__name__)

Token = Callable[[], str | None]
"""Reads the key the server wants (from the keyring: slow, so called in a worker thread)."""
TypedKey = Callable[[], str]
"""Reads a key typed on the page and not saved yet (a widget: main thread only)."""

OLLAMA, OPENAI = "ollama", "openai"
KINDS = (
    (OLLAMA, "Ollama"),
    (OPENAI, "OpenAI-compatible (llama.cpp, vLLM, LM Studio…)"),
)
"""The kinds of server, as ``llm.provider`` names them and as the picker shows them."""
ADDRESS_EXAMPLE = OLLAMA_EXAMPLE
EXAMPLES = {OLLAMA: OLLAMA_EXAMPLE, OPENAI: OPENAI_EXAMPLE}
DEFAULTS = {OLLAMA: str(LlmSettings.model_fields["host"].default), OPENAI: OPENAI_EXAMPLE}
"""The address a kind starts with: Ollama's own port here, llama-server's ``/v1`` here."""
_STOCK = {*DEFAULTS.values(), *EXAMPLES.values()}
"""Addresses nobody typed: switching the kind replaces them with the new kind's default."""


def get_ollama_text(model: str) -> str:
    """How to get Ollama and the model onto a computer, with the download link."""
    return (
        f'No Ollama yet? Download it from <a href="{OLLAMA_DOWNLOAD}">ollama.com/download</a>, '
        f"install it, then get the model by running: <code>ollama pull {model}</code>"
    )


class LlmChooser(QWidget):
    """The kind of server, its address, a model picker filled from its list, and Check.

    ``probe_finished`` carries each :class:`~app.llm.catalog.LlmProbe` (also one made on the
    spot when the address cannot be a URL, or when another listed model is picked);
    ``provider_changed`` the new kind (``"ollama"`` or ``"openai"``) when the user switches.

    The key sent with a check: ``token`` (Hark's ``llm-token``, or a Hark server's key) for
    Ollama; for an OpenAI-compatible server the key typed on the page (``typed_key``) or else
    the stored one (``api_key``).
    """

    probe_finished = Signal(object)
    provider_changed = Signal(str)

    def __init__(
        self,
        llm: LlmSettings,
        bridge: Bridge,
        *,
        token: Token | None = None,
        api_key: Token | None = None,
        typed_key: TypedKey | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._base = llm
        self._bridge = bridge
        self._token = token
        self._api_key = api_key
        self.typed_key = typed_key
        self.probe: LlmProbe | None = None
        """The latest answer for the address now shown (``None`` before a check)."""
        self.checking = False
        self._key_row: QWidget | None = None
        self.kind = QComboBox()
        self.kind.setAccessibleName("Kind of language model server")
        self.kind.setToolTip(
            "Ollama, or a server that speaks OpenAI's API (llama.cpp's llama-server, vLLM, "
            "LM Studio, LocalAI, a hosted service)"
        )
        for data, label in KINDS:
            self.kind.addItem(label, data)
        self.kind.setCurrentIndex(max(0, self.kind.findData(llm.provider)))
        self.kind.currentIndexChanged.connect(self.on_kind_current_index_changed)
        self.address = QLineEdit(llm.host)
        self.address.setAccessibleName("Language model server address")
        self.address.setPlaceholderText(EXAMPLES[self.provider()])
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
        self.form = QFormLayout()
        self.form.setContentsMargins(0, 0, 0, 0)
        self.form.addRow("Server", self.kind)
        self.form.addRow("Address", self.address)
        self.form.addRow("Model", row)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(self.form)
        layout.addWidget(self.status)

    def provider(self) -> str:
        """The kind of server chosen: ``"ollama"`` or ``"openai"``."""
        return str(self.kind.currentData() or OLLAMA)

    def host(self) -> str:
        return self.address.text().strip()

    def model_name(self) -> str:
        return self.model.currentText().strip()

    def example(self) -> str:
        """An address of the chosen kind, to show how one is written."""
        return EXAMPLES[self.provider()]

    def add_key_row(self, label: str, field: QWidget) -> None:
        """Put an API key field under the address; it shows only for an OpenAI-compatible
        server (Ollama takes no key of its own)."""
        self.form.insertRow(2, label, field)
        self._key_row = field
        self._show_key_row()

    def _show_key_row(self) -> None:
        if self._key_row is not None:
            self.form.setRowVisible(self._key_row, self.provider() == OPENAI)

    def target(self) -> LlmSettings | None:
        """The settings to check (the kind, address and model chosen), or None for a bad
        URL."""
        return llm_settings(self._base, self.host(), self.model_name(), self.provider())

    def start_check(self) -> None:
        """Check the server now (in the background); the answer shows under the fields."""
        if self.checking:
            return
        target = self.target()
        provider = self.provider()
        if target is None:
            self._show(
                LlmProbe(self.host(), self.model_name(), Verdict.BAD_ADDRESS, provider=provider)
            )
            return
        self.checking = True
        self.check_button.setEnabled(False)
        self.status.show_text("busy", f"Asking {target.host}…")
        typed = ""
        if provider == OPENAI and self.typed_key is not None:
            typed = self.typed_key().strip()
        stored = self._api_key if provider == OPENAI else self._token

        async def work() -> LlmProbe:
            key = typed or None
            if key is None and stored is not None:
                key = await asyncio.to_thread(stored)
            return await probe_llm(target, key)

        self._bridge.run(
            work, while_alive(self, self._on_probed), while_alive(self, self._on_failed)
        )

    def _on_probed(self, probe: object) -> None:
        self.checking = False
        self.check_button.setEnabled(True)
        if not isinstance(probe, LlmProbe):
            return
        if probe.host != self.host().rstrip("/") or probe.provider != self.provider():
            self.status.clear_text()  # the address or the kind changed meanwhile
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

    def _forget_probe(self) -> None:
        self.probe = None
        if not self.checking:
            self.status.clear_text()

    def on_kind_current_index_changed(self, _index: int) -> None:
        """Another kind of server: its example, its default address (unless one was typed),
        and no answer until it is checked."""
        provider = self.provider()
        self.address.setPlaceholderText(EXAMPLES[provider])
        if self.host().rstrip("/") in _STOCK:
            self.address.setText(DEFAULTS[provider])
        self._show_key_row()
        self._forget_probe()
        self.provider_changed.emit(provider)

    def on_address_text_edited(self, _text: str) -> None:
        self._forget_probe()

    def on_model_current_text_changed(self, model: str) -> None:
        """Another model picked: say at once whether the server has it (no new request)."""
        probe = self.probe
        if probe is None or not probe.answered or self.checking:
            return
        model = model.strip()
        if not model:
            return
        have = probe.has(model)
        verdict = Verdict.READY if have else Verdict.NO_MODELS
        if not have and probe.models:
            verdict = Verdict.MODEL_MISSING
        self._show(
            LlmProbe(probe.host, model, verdict, probe.models, probe.timeout_s, probe.provider)
        )
