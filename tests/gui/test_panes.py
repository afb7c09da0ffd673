"""The calendar and inbox panes: loading, empty, not connected and error states, the new-event
form through the policy, the preview and the assistant buttons, with a scripted
:class:`Services` on the real engine loop; then once with the real :class:`EngineServices` over
the fake Google and the fake Ollama."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import shiboken6
from PySide6.QtCore import QDate, Qt, QTime, QUrl

from app.compose.build import build_engine
from app.core.events import TurnResult
from app.google.auth import GoogleAccount
from app.google.scopes import scopes_for
from app.gui.bridge import Bridge, EngineThread
from app.gui.panes.calendar import CalendarPane
from app.gui.panes.conversation import ConversationWindow
from app.gui.panes.inbox import InboxPane
from app.gui.panes.status import GooglePane, PaneState
from app.gui.services import NOT_CONNECTED, ActionOutcome, EngineServices
from app.settings.load import load_settings
from app.settings.secrets import SecretStore
from app.shared.errors import HarkError
from tests.fakes.google import FakeGoogle
from tests.fakes.ollama import FakeOllama
from tests.gui.scripted_services import EVENTS, TODAY, TT, ScriptedServices

WAIT = 5000


def state_of(pane: GooglePane) -> PaneState:
    """The pane's state, read afresh (a plain call, so type checkers do not carry it over)."""
    return pane.state


def calendar(qtbot: Any, services: ScriptedServices, bridge: Bridge, **kw: Any) -> CalendarPane:
    pane = CalendarPane(services, bridge, today=lambda: TODAY, autoload=False, **kw)
    qtbot.addWidget(pane)
    return pane


def inbox(qtbot: Any, services: ScriptedServices, bridge: Bridge) -> InboxPane:
    pane = InboxPane(services, bridge, today=lambda: TODAY, autoload=False)
    qtbot.addWidget(pane)
    return pane


# --- calendar ------------------------------------------------------------------------------


def test_the_calendar_shows_loading_then_the_events_in_their_own_zone(
    qtbot: Any, bridge: Bridge
) -> None:
    services = ScriptedServices()
    services.hold = concurrent.futures.Future()
    pane = calendar(qtbot, services, bridge)
    pane.reload()
    assert state_of(pane) is PaneState.LOADING
    assert pane.status.message == "Loading your calendar…"
    with qtbot.waitSignal(pane.loaded, timeout=WAIT) as loaded:
        services.hold.set_result(None)
    assert loaded.args == [3]
    assert state_of(pane) is PaneState.READY
    assert services.called("upcoming_events") == [1]
    # Tokyo times as Google gave them, whatever this machine's zone; all-day events first.
    assert pane.event_rows() == [
        ("All day, until Wed 25 Nov", "Offsite · Lake house"),
        ("09:00 – 09:15", "Standup"),
        ("23:00 – Wed 01:00", "Late call"),
    ]
    assert pane.headings() == ["Today · Mon 23 Nov", "Tomorrow · Tue 24 Nov"]


def test_the_week_switch_asks_for_seven_days_and_says_when_there_is_nothing(
    qtbot: Any, bridge: Bridge
) -> None:
    services = ScriptedServices()
    services.events = []
    pane = calendar(qtbot, services, bridge)
    with qtbot.waitSignal(pane.loaded, timeout=WAIT) as loaded:
        qtbot.mouseClick(pane.week_button, Qt.MouseButton.LeftButton)
    assert loaded.args == [0]
    assert services.called("upcoming_events") == [7]
    assert state_of(pane) is PaneState.EMPTY
    assert pane.status.message == "Nothing on your calendar in the next 7 days."
    assert pane.week_button.isChecked()
    assert not pane.today_button.isChecked()


def test_without_google_the_pane_offers_connect_which_signs_in_and_reloads(
    qtbot: Any, bridge: Bridge
) -> None:
    services = ScriptedServices(connected=False)
    pane = calendar(qtbot, services, bridge)
    with qtbot.waitSignal(pane.failed, timeout=WAIT):
        pane.reload()
    assert state_of(pane) is PaneState.NOT_CONNECTED
    assert not pane.status.connect_button.isHidden()
    assert services.calls == []  # nothing was asked of Google
    with qtbot.waitSignal(pane.loaded, timeout=WAIT):
        qtbot.mouseClick(pane.status.connect_button, Qt.MouseButton.LeftButton)
    assert [name for name, _ in services.calls] == ["connect_google", "upcoming_events"]
    assert state_of(pane) is PaneState.READY


def test_a_not_connected_error_also_shows_connect(qtbot: Any, bridge: Bridge) -> None:
    services = ScriptedServices()
    services.events = HarkError(NOT_CONNECTED, "Google is not connected: use Connect Google")
    pane = calendar(qtbot, services, bridge)
    with qtbot.waitSignal(pane.failed, timeout=WAIT):
        pane.reload()
    assert state_of(pane) is PaneState.NOT_CONNECTED
    assert pane.status.message == "Google is not connected: use Connect Google"
    assert not pane.status.connect_button.isHidden()


def test_an_error_shows_its_message_and_try_again_loads_again(qtbot: Any, bridge: Bridge) -> None:
    services = ScriptedServices()
    services.events = HarkError("google-unreachable", "Google could not be reached. Try later.")
    pane = calendar(qtbot, services, bridge)
    with qtbot.waitSignal(pane.failed, timeout=WAIT) as failed:
        pane.reload()
    assert failed.args == ["Google could not be reached. Try later."]
    assert state_of(pane) is PaneState.ERROR
    assert pane.status.message == "Google could not be reached. Try later."
    assert pane.status.connect_button.isHidden()
    services.events = list(EVENTS[:1])
    with qtbot.waitSignal(pane.loaded, timeout=WAIT):
        qtbot.mouseClick(pane.status.retry_button, Qt.MouseButton.LeftButton)
    assert pane.event_rows() == [("09:00 – 09:15", "Standup")]


def test_opening_an_event_hands_its_link_to_the_browser(qtbot: Any, bridge: Bridge) -> None:
    opened: list[QUrl] = []
    pane = calendar(qtbot, ScriptedServices(), bridge, open_url=opened.append)
    with qtbot.waitSignal(pane.loaded, timeout=WAIT):
        pane.reload()
    assert not pane.open_button.isEnabled()
    standup = next(
        item
        for item in pane.tree.findItems("Standup", Qt.MatchFlag.MatchExactly, 1)
        if item is not None
    )
    pane.tree.setCurrentItem(standup)
    assert pane.open_button.isEnabled()
    qtbot.mouseClick(pane.open_button, Qt.MouseButton.LeftButton)
    assert opened == [QUrl("https://cal.example/standup")]


def fill_form(pane: CalendarPane, title: str, guests: str = "") -> None:
    form = pane.form
    form.title_edit.setText(title)
    form.date_edit.setDate(QDate(2026, 11, 24))
    form.time_edit.setTime(QTime(15, 30))
    form.duration_spin.setValue(45)
    form.guests_edit.setText(guests)


def test_a_new_event_goes_through_the_policy_and_a_refusal_is_shown(
    qtbot: Any, bridge: Bridge
) -> None:
    services = ScriptedServices()
    services.outcome = ActionOutcome(False, "you said no", {"not_done": "you said no"})
    pane = calendar(qtbot, services, bridge)
    qtbot.mouseClick(pane.new_button, Qt.MouseButton.LeftButton)
    assert not pane.form.isHidden()
    fill_form(pane, "  Dentist  visit ", "ana@example.com, bo@example.org")
    with qtbot.waitSignal(pane.action_finished, timeout=WAIT) as finished:
        qtbot.mouseClick(pane.form.create_button, Qt.MouseButton.LeftButton)
    assert services.called("act") == [
        (
            "calendar_create_event",
            {
                "title": "Dentist visit",
                "start": "2026-11-24T15:30",
                "duration_minutes": 45,
                "attendees": ["ana@example.com", "bo@example.org"],
            },
        )
    ]
    assert finished.args[0].ok is False
    assert pane.form.message_label.text() == "Not created: you said no"
    assert pane.form.title_edit.text() == "  Dentist  visit "  # kept, to try again
    assert pane.form.create_button.isEnabled()
    assert services.called("upcoming_events") == []  # nothing changed: no reload


def test_a_created_event_clears_the_form_and_reloads(qtbot: Any, bridge: Bridge) -> None:
    services = ScriptedServices()
    pane = calendar(qtbot, services, bridge)
    pane.show_form()
    fill_form(pane, "Dentist")
    with qtbot.waitSignal(pane.loaded, timeout=WAIT):
        qtbot.keyClick(pane.form.title_edit, Qt.Key.Key_Return)
    [(tool, args)] = services.called("act")
    assert tool == "calendar_create_event"
    assert "attendees" not in args
    assert pane.form.message_label.text() == "Created “Dentist”."
    assert pane.form.title_edit.text() == ""
    assert services.called("upcoming_events") == [1]


@pytest.mark.parametrize(
    ("title", "guests", "message"),
    [
        ("", "", "Give the event a title."),
        ("Tea", "ana@example.com, bob", "“bob” is not an email address"),
    ],
)
def test_the_form_says_what_to_fix_and_sends_nothing(
    qtbot: Any, bridge: Bridge, title: str, guests: str, message: str
) -> None:
    services = ScriptedServices()
    pane = calendar(qtbot, services, bridge)
    pane.show_form()
    fill_form(pane, title, guests)
    qtbot.mouseClick(pane.form.create_button, Qt.MouseButton.LeftButton)
    assert message in pane.form.message_label.text()
    assert services.calls == []
    qtbot.keyClick(pane.form, Qt.Key.Key_Escape)
    assert pane.form.isHidden()


# --- inbox ---------------------------------------------------------------------------------


def test_the_inbox_lists_unread_mail_and_previews_a_message(qtbot: Any, bridge: Bridge) -> None:
    services = ScriptedServices()
    pane = inbox(qtbot, services, bridge)
    with qtbot.waitSignal(pane.loaded, timeout=WAIT):
        pane.reload()
    assert pane.rows() == [
        ("Ann <ann@example.org>", "Lunch?", "Are you free", "12:05"),
        ("Bo <bo@example.org>", "(no subject)", "", "Sat 21 Nov"),
    ]
    assert [pane.list.headerItem().text(i) for i in range(4)] == [
        "From",
        "Subject",
        "Preview",
        "Received",
    ]
    assert not pane.summarize_button.isEnabled()
    with qtbot.waitSignal(pane.preview_loaded, timeout=WAIT):
        pane.select(0)
    assert pane.preview_text() == "Are you free for lunch on Friday?\nAnn"
    assert "Attachments: menu.pdf" in pane.header_label.text()
    assert services.called("read_mail") == ["m1"]
    assert pane.summarize_button.isEnabled()


def test_a_message_that_cannot_be_read_says_so(qtbot: Any, bridge: Bridge) -> None:
    services = ScriptedServices()
    pane = inbox(qtbot, services, bridge)
    with qtbot.waitSignal(pane.loaded, timeout=WAIT):
        pane.reload()
    with qtbot.waitSignal(pane.preview_failed, timeout=WAIT):
        pane.select(1)
    assert pane.header_label.text() == "Could not open it: It is gone."


def test_summarize_runs_a_turn_about_the_message_and_shows_the_reply(
    qtbot: Any, bridge: Bridge
) -> None:
    services = ScriptedServices()
    pane = inbox(qtbot, services, bridge)
    with qtbot.waitSignal(pane.loaded, timeout=WAIT):
        pane.reload()
    with qtbot.waitSignal(pane.preview_loaded, timeout=WAIT):
        pane.select(0)
    services.hold = concurrent.futures.Future()
    qtbot.mouseClick(pane.summarize_button, Qt.MouseButton.LeftButton)
    assert pane.reply_text() == "Thinking…"
    assert not pane.summarize_button.isEnabled()  # one at a time
    with qtbot.waitSignal(pane.reply_received, timeout=WAIT):
        services.hold.set_result(None)
    [prompt] = services.called("ask")
    assert prompt.startswith("Summarize this email")
    assert "Are you free for lunch on Friday?" in prompt  # the model needs no tool to read it
    assert services.asked_with == [{"shown": "Summarize “Lunch?” from Ann", "tools": []}]
    assert pane.reply_text() == "Ann asks about lunch."
    assert pane.reply_title.text() == "<b>Summary of “Lunch?”</b>"
    assert pane.draft_button.isEnabled()


def test_draft_reply_shows_why_a_turn_failed(qtbot: Any, bridge: Bridge) -> None:
    services = ScriptedServices()
    services.reply = TurnResult(
        2, "", "", (), TT, error_code="llm-unreachable", error_message="Ollama did not answer."
    )
    pane = inbox(qtbot, services, bridge)
    with qtbot.waitSignal(pane.loaded, timeout=WAIT):
        pane.reload()
    with qtbot.waitSignal(pane.preview_loaded, timeout=WAIT):
        pane.select(0)
    with qtbot.waitSignal(pane.reply_failed, timeout=WAIT):
        qtbot.mouseClick(pane.draft_button, Qt.MouseButton.LeftButton)
    [prompt] = services.called("ask")
    assert prompt.startswith("Write a reply to this email")
    assert "to ann@example.org, subject “Re: Lunch?”" in prompt
    assert services.asked_with == [
        {"shown": "Draft a reply to “Lunch?” from Ann", "tools": ["mail_draft"]}
    ]
    assert pane.reply_text() == "Could not do it: Ollama did not answer."


def test_an_empty_inbox_and_a_failing_one(qtbot: Any, bridge: Bridge) -> None:
    services = ScriptedServices()
    services.mail = []
    pane = inbox(qtbot, services, bridge)
    with qtbot.waitSignal(pane.loaded, timeout=WAIT):
        pane.reload()
    assert state_of(pane) is PaneState.EMPTY
    assert pane.status.message == "No unread mail. Nice."
    services.mail = HarkError("google-rate-limited", "Gmail is busy. Try again in a minute.")
    with qtbot.waitSignal(pane.failed, timeout=WAIT):
        qtbot.mouseClick(pane.refresh_button, Qt.MouseButton.LeftButton)
    assert state_of(pane) is PaneState.ERROR
    assert pane.status.message == "Gmail is busy. Try again in a minute."


def test_an_answer_for_a_closed_pane_is_dropped(qtbot: Any, bridge: Bridge) -> None:
    services = ScriptedServices()
    services.hold = concurrent.futures.Future()
    pane = InboxPane(services, bridge, today=lambda: TODAY)
    qtbot.waitUntil(lambda: services.called("unread_mail") == [25], timeout=WAIT)
    shiboken6.delete(pane)  # closed while its mail was still loading
    services.hold.set_result(None)
    qtbot.waitUntil(lambda: services.answered == ["unread_mail"], timeout=WAIT)
    # The pane's answer is queued before this one; reaching this one means it was handled
    # (and pytest-qt fails the test if handling it raised on the deleted widget).
    done: list[bool] = []
    bridge.run(asyncio.to_thread(lambda: None), lambda _: done.append(True))
    qtbot.waitUntil(lambda: bool(done), timeout=WAIT)


# --- the real engine over the fakes --------------------------------------------------------

ZONE = "America/New_York"


def test_the_panes_over_the_real_engine_list_the_fake_googles_events_and_mail(
    qtbot: Any,
    bridge: Bridge,
    engine_thread: EngineThread,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    with FakeGoogle() as google, FakeOllama(models=["llama3.2:3b"]) as ollama:
        monkeypatch.setenv("HARK_GOOGLE__API_ENDPOINT", google.url)
        monkeypatch.setenv("HARK_GOOGLE__TOKEN_URI", google.url + "/token")
        monkeypatch.setenv("HARK_GOOGLE__TIME_ZONE", ZONE)
        monkeypatch.setenv("HARK_LLM__HOST", ollama.url)
        settings = load_settings()
        secrets = SecretStore()
        info = google.oauth.authorized_user(scopes_for(settings.google), email="me@example.com")
        signed_in = tmp_path / "authorized_user.json"
        signed_in.write_text(json.dumps(info))
        GoogleAccount(settings.google, secrets).import_authorized_user(signed_in)
        zone = ZoneInfo(ZONE)
        today = datetime.now(zone).date()
        start = datetime.combine(today, time(9, 30), zone)
        google.calendar.add_event("Standup", start, start + timedelta(minutes=15))
        google.calendar.add_event("Offsite", today, today + timedelta(days=1))
        google.calendar.add_event(
            "Next week", start + timedelta(days=8), start + timedelta(days=8, hours=1)
        )
        google.gmail.add_message(subject="Lunch?", body="Free on Friday?")
        ollama.reply("Ann asks whether you are free for lunch on Friday.")

        engine = build_engine(
            settings, bridge.publish, secrets=secrets, speak=False, with_asr=False
        )
        try:
            services = EngineServices(engine, settings, secrets)
            conversation = ConversationWindow(bridge)
            qtbot.addWidget(conversation)
            pane = CalendarPane(services, bridge, today=lambda: today, autoload=False)
            qtbot.addWidget(pane)
            pane.reload()
            qtbot.waitUntil(lambda: pane.state is not PaneState.LOADING, timeout=10000)
            assert state_of(pane) is PaneState.READY, pane.status.message
            assert pane.event_rows() == [("All day", "Offsite"), ("09:30 – 09:45", "Standup")]

            mail = InboxPane(services, bridge, autoload=False)
            qtbot.addWidget(mail)
            mail.reload()
            qtbot.waitUntil(lambda: mail.state is not PaneState.LOADING, timeout=10000)
            assert state_of(mail) is PaneState.READY, mail.status.message
            assert [row[1] for row in mail.rows()] == ["Lunch?"]
            with qtbot.waitSignal(mail.preview_loaded, timeout=10000):
                mail.select(0)
            assert mail.preview_text().strip() == "Free on Friday?"
            with qtbot.waitSignal(conversation.turn_finished, timeout=10000):
                qtbot.mouseClick(mail.summarize_button, Qt.MouseButton.LeftButton)
            qtbot.waitUntil(lambda: "lunch on Friday" in mail.reply_text(), timeout=10000)
            [turn] = conversation.turns()
            assert turn.transcript == "Summarize “Lunch?” from Ann Example"
            assert turn.reply == "Ann asks whether you are free for lunch on Friday."
            assert turn.tools() == []
            [asked] = [r for r in ollama.requests if "messages" in r]
            assert not asked.get("tools")  # Summarize offers the model no tool at all
            assert "Free on Friday?" in asked["messages"][-1]["content"]
            assert "total" in turn.timings
        finally:
            engine_thread.submit(engine.aclose()).result(timeout=10)
