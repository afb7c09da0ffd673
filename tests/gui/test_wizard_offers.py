"""The Vast.ai wizard's offers table: every column readable at the wizard's own size."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from app.gui.bridge import Bridge
from app.gui.wizards import RemoteWizard
from app.gui.wizards.deploy_pages import OFFERS
from app.settings.schema import Settings
from app.settings.secrets import SecretStore
from remote.deploy.records import RecordStore
from remote.vast.models import Offer

OFFERS_SHOWN = [
    Offer(1, "RTX 4080", 1, 16_376, 0.05, 0.995, inet_down_mbps=800, geolocation="Quebec, CA"),
    Offer(2, "A100 SXM4", 2, 81_920, 1.234, 0.9912, inet_down_mbps=4512.3, geolocation="Texas, US"),
]


def test_no_offer_column_is_clipped(qtbot: Any, bridge: Bridge, tmp_path: Path) -> None:
    wizard = RemoteWizard(
        bridge,
        SecretStore(env={}),
        Settings(),
        lambda _updates: None,
        records=RecordStore(tmp_path / "records"),
    )
    qtbot.addWidget(wizard)
    wizard.setStartId(OFFERS)
    wizard.show()
    qtbot.waitUntil(lambda: wizard.currentPage() is wizard.offers_page)
    page = wizard.offers_page
    page.show_offers(OFFERS_SHOWN)
    table = page.table
    header = table.horizontalHeader()
    # the wizard grows to fit the table: no column runs off the side
    qtbot.waitUntil(lambda: header.length() <= table.viewport().width() + 1)
    for column, title in enumerate(page.HEADERS):
        needed = max(header.sectionSizeHint(column), table.sizeHintForColumn(column))
        assert header.sectionSize(column) >= needed, (title, header.sectionSize(column), needed)
