"""The Vast.ai wizard's pages: key → offers → deploy (live progress) → ready or failed.

The pages only show and ask; the work (the Vast.ai client, the deployer task, cancelling it)
belongs to the wizard, which each page is given as :class:`DeployWork`: just the few calls
the pages make.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from PySide6.QtCore import Qt, QTimer, Slot
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QStyle,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
    QWizard,
    QWizardPage,
)

from app.gui.widgets import StatusLine
from app.gui.wizards.common import CheckedPage
from app.gui.wording import user_message

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from app.gui.bridge import Bridge
    from remote.deploy.options import DeployProgress
    from remote.vast.models import Offer

KEY, OFFERS, DEPLOY, READY, FAILED = range(5)
LOG_ROWS = 500

STEP_SPAN: dict[str, tuple[int, int]] = {
    "creating": (0, 10),
    "booting": (10, 30),
    "address": (30, 35),
    "tls": (35, 42),
    "upload": (42, 50),
    "provisioning": (50, 99),
    "ready": (100, 100),
}
"""Where each deploy step sits on the one progress bar (percent)."""

STEP_TEXT = {
    "creating": "Renting the machine",
    "booting": "Starting the machine",
    "address": "Finding its address",
    "tls": "Waiting for the machine to answer",
    "upload": "Sending Hark's code",
    "provisioning": "Installing the server and loading the model",
    "ready": "Ready",
}


def progress_percent(event: DeployProgress) -> int:
    """The bar's value for one progress event (the pull's own fraction fills its span)."""
    low, high = STEP_SPAN.get(event.step, (0, 0))
    if event.fraction is None:
        return low
    return round(low + (high - low) * min(1.0, max(0.0, event.fraction)))


class DeployWork(Protocol):
    """What the pages ask of the wizard that does the work (the Vast.ai client, the deploy)."""

    @property
    def offers(self) -> list[Offer]:
        """The offers the key's check found, cheapest first."""
        ...

    def check_key(self, typed: str) -> Awaitable[str | None]:
        """Try the key (typed, else stored) and fetch the offers; a problem to show, or None."""
        ...

    def refresh_offers(
        self, on_result: Callable[[list[Offer]], None], on_error: Callable[[BaseException], None]
    ) -> None:
        """Look for offers again; the answer comes back on the GUI thread."""
        ...

    def start_deploy(self) -> None:
        """Rent the selected offer and bring the server up."""
        ...


class KeyPage(CheckedPage):
    """The Vast.ai API key; Next checks it and fetches the offers."""

    def __init__(
        self, bridge: Bridge, stored: bool, work: DeployWork, parent: QWidget | None = None
    ) -> None:
        super().__init__(bridge, parent)
        self._work = work
        self.setTitle("Vast.ai API key")
        self.setSubTitle("Hark rents a GPU on Vast.ai with your account. Paste your API key.")
        self._stored = stored
        self.key = QLineEdit(self)
        self.key.setEchoMode(QLineEdit.EchoMode.Password)
        self.key.setAccessibleName("Vast.ai API key")
        self.key.setPlaceholderText(
            "stored (type a new key to replace it)"
            if stored
            else "cloud.vast.ai → Account → API keys"
        )
        self.key.textChanged.connect(self.inputs_changed)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("API key:", self))
        layout.addWidget(self.key)
        layout.addWidget(self.status)
        layout.addStretch(1)

    def ready(self) -> bool:
        return self._stored or bool(self.key.text().strip())

    def check_key(self) -> object:
        return ("key", self.key.text().strip())

    def checking_text(self) -> str:
        return "Checking the key and looking for machines…"

    def passed_text(self) -> str:
        return "The key works."

    def check(self) -> Awaitable[str | None]:
        return self._work.check_key(self.key.text().strip())


class OffersPage(QWizardPage):
    """The machines that can run the model, cheapest first; the selected one is rented."""

    HEADERS = ("GPU", "GPU memory", "$/hour", "Reliability", "Download", "Where")

    def __init__(self, model: str, work: DeployWork, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._work = work
        self.setTitle("Pick a machine")
        self.setSubTitle(f"Machines that can run {model} and speech recognition, cheapest first.")
        self.offers: list[Offer] = []
        self.table = QTableWidget(0, len(self.HEADERS), self)
        self.table.setHorizontalHeaderLabels(list(self.HEADERS))
        self.table.setAccessibleName("Offers")
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)  # each column as wide as its words; spare room last
        self.table.itemSelectionChanged.connect(self.completeChanged)
        self.refresh = QPushButton("Look again", self)
        self.refresh.setAccessibleName("Look for offers again")
        self.refresh.clicked.connect(self.on_refresh_clicked)
        self.refresh.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self.status = StatusLine("Offers status", self)
        bill = QLabel(
            "The machine bills by the hour from the moment it is rented until you stop or "
            "destroy it (Hark's tray menu).",
            self,
        )
        bill.setWordWrap(True)
        row = QHBoxLayout()
        row.addWidget(self.status, 1)
        row.addWidget(self.refresh)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table, 1)
        layout.addLayout(row)
        layout.addWidget(bill)
        self.setCommitPage(True)
        self.setButtonText(QWizard.WizardButton.CommitButton, "Rent and deploy")

    def initializePage(self) -> None:
        self.show_offers(self._work.offers)

    def show_offers(self, offers: list[Offer]) -> None:
        self.offers = list(offers)
        self.table.setRowCount(len(offers))
        for row, o in enumerate(offers):
            cells = (
                f"{o.num_gpus or 1}× {o.gpu_name or 'GPU'}",
                f"{(o.gpu_ram_mb or 0) / 1024:.0f} GB",
                f"{o.dph_total:.3f}" if o.dph_total is not None else "?",
                f"{o.reliability:.1%}" if o.reliability is not None else "?",
                f"{o.inet_down_mbps:.0f} Mb/s" if o.inet_down_mbps is not None else "?",
                o.geolocation or "?",
            )
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if col in (1, 2, 3, 4):
                    item.setTextAlignment(
                        Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
                    )
                self.table.setItem(row, col, item)
        self._fit_columns()
        if offers:
            self.table.selectRow(0)
            self.status.clear_text()
        else:
            self.status.show_text(
                "error",
                "No machine fits right now. Look again in a while, or pick a smaller model.",
            )
        self.completeChanged.emit()

    def _fit_columns(self) -> None:
        """Make the table (and so the wizard) wide enough that no column is cut off."""
        table = self.table
        header = table.horizontalHeader()
        needed = sum(
            max(header.sectionSizeHint(c), table.sizeHintForColumn(c)) + 1  # the grid line
            for c in range(table.columnCount())
        )
        scrollbar = table.style().pixelMetric(QStyle.PixelMetric.PM_ScrollBarExtent)
        table.setMinimumWidth(needed + 2 * table.frameWidth() + scrollbar + 8)

    def chosen(self) -> Offer | None:
        rows = self.table.selectionModel().selectedRows()
        return self.offers[rows[0].row()] if rows and rows[0].row() < len(self.offers) else None

    def isComplete(self) -> bool:
        return self.chosen() is not None

    @Slot()
    def on_refresh_clicked(self) -> None:
        self.refresh.setEnabled(False)
        self.status.show_text("busy", "Looking for machines…")
        self._work.refresh_offers(self._on_refreshed, self._on_refresh_failed)

    def _on_refreshed(self, offers: list[Offer]) -> None:
        self.refresh.setEnabled(True)
        self.show_offers(offers)

    def _on_refresh_failed(self, error: BaseException) -> None:
        self.refresh.setEnabled(True)
        message = user_message(error, "Looking for machines")
        self.status.show_text("error", message)


class DeployPage(QWizardPage):
    """The deploy as it happens: a bar, the current step, and a log of every message."""

    def __init__(self, work: DeployWork, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._work = work
        self.setTitle("Deploying your server")
        self.setSubTitle("This takes a few minutes. Cancel stops it and removes what was rented.")
        self.bar = QProgressBar(self)
        self.bar.setRange(0, 100)
        self.bar.setAccessibleName("Deploy progress")
        self.step = QLabel("Starting…", self)
        self.step.setAccessibleName("Deploy step")
        self.log = QListWidget(self)
        self.log.setAccessibleName("Deploy log")
        self.status = StatusLine("Deploy status", self)
        layout = QVBoxLayout(self)
        layout.addWidget(self.step)
        layout.addWidget(self.bar)
        layout.addWidget(self.log, 1)
        layout.addWidget(self.status)
        self.finished = False
        self.succeeded = False
        self.setCommitPage(True)

    def initializePage(self) -> None:
        self.finished = self.succeeded = False
        self.bar.setValue(0)
        self.log.clear()
        self._work.start_deploy()

    @Slot(object)
    def on_wizard_progressed(self, event: DeployProgress) -> None:
        self.bar.setValue(progress_percent(event))
        self.step.setText(f"{STEP_TEXT.get(event.step, event.step)}: {event.message}")
        last = self.log.item(self.log.count() - 1) if self.log.count() else None
        if last is None or last.text() != event.message:
            self.log.addItem(event.message)
            if self.log.count() > LOG_ROWS:
                self.log.takeItem(0)
            self.log.scrollToBottom()

    def settle(self, succeeded: bool) -> None:
        """The deploy ended: go on to the ready or the failure page (after this event, so a
        deploy that ends at once does not move the wizard from inside its own page change)."""
        self.finished, self.succeeded = True, succeeded
        self.completeChanged.emit()
        QTimer.singleShot(0, self, self._advance)

    def _advance(self) -> None:
        wizard = self.wizard()
        if wizard is not None and wizard.currentPage() is self:
            wizard.next()

    def isComplete(self) -> bool:
        return self.finished

    def nextId(self) -> int:
        return READY if self.succeeded else FAILED


class ResultPage(QWizardPage):
    """The end: the ready server (address, price, "Hark will use it"), or what went wrong."""

    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setTitle(title)
        self.text = QLabel(self)
        self.text.setWordWrap(True)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.text.setAccessibleName(title)
        self.status = StatusLine(f"{title} status", self)
        layout = QVBoxLayout(self)
        layout.addWidget(self.text)
        layout.addWidget(self.status)
        layout.addStretch(1)
        self.setFinalPage(True)

    def nextId(self) -> int:
        return -1
