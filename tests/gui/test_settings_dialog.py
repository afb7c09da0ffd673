"""The Settings dialog with real parts: the settings file, the file keyring, the engine loop
and bridge, WAV files as the microphone, a WAV sink as the speaker, and FakeGoogle."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from app.audio.capture import WavFileSource
from app.audio.devices import DeviceInfo
from app.audio.playback import WavFileSink
from app.core.events import TurnResult
from app.google.auth import TOKEN_SECRET
from app.google.scopes import (
    CALENDAR_EVENTS,
    CALENDAR_READ,
    GMAIL_COMPOSE,
    GMAIL_READ,
    AccountStatus,
)
from app.gui.autostart import Autostart
from app.gui.bridge import Bridge
from app.gui.context import GuiContext
from app.gui.dialogs.settings import SettingsDialog, changed_values
from app.gui.dialogs.settings_audio import AudioPage
from app.gui.dialogs.settings_google import GooglePage, PolicyPage
from app.gui.dialogs.settings_pages import SpeechPage, StartupPage, TalkPage, chord_text
from app.gui.dialogs.settings_server import ServerPage, VoicePage
from app.gui.services import ActionOutcome
from app.settings.load import load_settings
from app.settings.schema import GoogleSettings, Settings
from app.settings.secrets import SecretStore
from tests.fakes.google import FakeGoogle
from tests.support.speech import silence, speak_16k, write_wav

FILE = """\
[llm]
model = "llama3.1:8b"

[talk]
hotkey = "<ctrl>+<shift>+h"
wake_word = "alexa"
wake_sensitivity = 0.3

[policy]
tools = { mail_send = "deny" }
max_recipients = 3
"""


class ScriptedServices:
    """Services for the settings dialog: only the Google sign-in is used."""

    def __init__(self, status: AccountStatus | None = None) -> None:
        self.status = status
        self.connects = 0

    def google_connected(self) -> bool:
        return self.status is not None

    async def connect_google(self) -> AccountStatus:
        self.connects += 1
        if self.status is None:
            raise RuntimeError("no sign-in scripted")
        return self.status

    async def upcoming_events(self, days: int) -> list[Any]:
        return []

    async def unread_mail(self, limit: int = 25) -> list[Any]:
        return []

    async def read_mail(self, message_id: str) -> Any:
        raise NotImplementedError

    async def ask(self, text: str) -> TurnResult:
        raise NotImplementedError

    async def act(self, tool: str, arguments: Mapping[str, Any]) -> ActionOutcome:
        raise NotImplementedError


@pytest.fixture
def config_file(isolated_home: Path) -> Path:
    path = isolated_home / "hark" / "config.toml"
    path.parent.mkdir()
    path.write_text(FILE, encoding="utf-8")
    return path


@pytest.fixture
def secrets() -> SecretStore:
    return SecretStore(env={})


@pytest.fixture
def wavs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("wav")
    return {
        "speech": write_wav(folder / "speech.wav", speak_16k("Hello Hark, can you hear me?")),
        "silence": write_wav(folder / "silence.wav", silence(1.0)),
    }


MakeDialog = Callable[..., SettingsDialog]
DEVICES = (
    DeviceInfo(0, "USB Mic", "ALSA", 1, 0, 48000.0, is_default_input=True),
    DeviceInfo(1, "Speakers", "ALSA", 0, 2, 48000.0, is_default_output=True),
)
"""What the sound system lists unless a test says otherwise (a microphone and a speaker)."""


@pytest.fixture
def make_dialog(
    qtbot: QtBot,
    bridge: Bridge,
    config_file: Path,
    secrets: SecretStore,
    wavs: dict[str, Path],
    tmp_path: Path,
) -> Iterator[MakeDialog]:
    made: list[SettingsDialog] = []

    def make(
        settings: Settings | None = None, services: ScriptedServices | None = None, **kw: Any
    ) -> SettingsDialog:
        kw.setdefault("mic_source", lambda device: WavFileSource(wavs["speech"]))
        kw.setdefault("speaker_sink", lambda device: WavFileSink(tmp_path / "played.wav"))
        kw.setdefault("autostart", Autostart(platform="linux", command=["hark", "tray"]))
        kw.setdefault("audio_devices", lambda: list(DEVICES))
        dialog = SettingsDialog(
            GuiContext(
                settings or load_settings(config_file, env={}),
                services or ScriptedServices(),
                bridge,
                secrets,
            ),
            config_file=config_file,
            **kw,
        )
        qtbot.addWidget(dialog)
        made.append(dialog)
        qtbot.waitUntil(lambda: not dialog.loading())
        return dialog

    yield make
    for dialog in made:
        dialog.reject()


def save(qtbot: QtBot, dialog: SettingsDialog) -> Settings:
    with qtbot.waitSignal(dialog.settings_saved, timeout=5000) as saved:
        qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    assert isinstance(saved.args[0], Settings)
    return saved.args[0]


def test_loads_the_current_values(make_dialog: MakeDialog) -> None:
    dialog = make_dialog()
    talk = dialog.page(TalkPage)
    assert isinstance(talk, TalkPage)
    assert talk.hotkey.text() == "Ctrl+Shift+H"  # as people write it
    assert talk.wake.currentData() == "alexa"
    assert talk.sensitivity.value() == 30
    assert talk.barge_in.isChecked()
    policy = dialog.page(PolicyPage)
    assert isinstance(policy, PolicyPage)
    assert policy.modes["mail_send"].currentData() == "deny"
    assert policy.modes["mail_reply"].currentData() is None
    assert len(policy.modes) == 13
    assert policy.max_recipients.value() == 3
    server = dialog.page(ServerPage)
    assert isinstance(server, ServerPage)
    assert server.local.isChecked()
    assert dialog.updates() == {}


def test_saving_writes_only_what_changed(
    qtbot: QtBot, make_dialog: MakeDialog, config_file: Path
) -> None:
    dialog = make_dialog()
    talk = dialog.page(TalkPage)
    assert isinstance(talk, TalkPage)
    talk.hotkey.setText("Ctrl+Alt+K")
    talk.wake.setCurrentIndex(talk.wake.findData("hey_jarvis"))
    talk.mode.setCurrentIndex(talk.mode.findData("toggle"))
    policy = dialog.page(PolicyPage)
    assert isinstance(policy, PolicyPage)
    policy.modes["mail_send"].setCurrentIndex(0)  # back to the default
    policy.modes["calendar_delete_event"].setCurrentIndex(
        policy.modes["calendar_delete_event"].findData("deny")
    )
    saved = save(qtbot, dialog)
    assert dialog.result() == SettingsDialog.DialogCode.Accepted
    reread = load_settings(config_file, env={})
    assert reread == saved
    assert reread.talk.hotkey == "<ctrl>+<alt>+k"
    assert reread.talk.wake_word == "hey_jarvis"
    assert reread.talk.hotkey_mode == "toggle"
    assert reread.policy.tools == {"calendar_delete_event": "deny"}
    data = tomllib.loads(config_file.read_text(encoding="utf-8"))
    assert data["llm"] == {"model": "llama3.1:8b"}
    assert set(data) == {"llm", "talk", "policy"}  # untouched sections stay unwritten
    assert config_file.with_name("config.toml.bak").read_text(encoding="utf-8") == FILE


def test_nothing_changed_writes_nothing(make_dialog: MakeDialog, config_file: Path) -> None:
    dialog = make_dialog()
    saved: list[object] = []
    dialog.settings_saved.connect(saved.append)
    dialog.save_button.click()
    assert dialog.result() == SettingsDialog.DialogCode.Accepted
    assert saved == []
    assert config_file.read_text(encoding="utf-8") == FILE
    assert not config_file.with_name("config.toml.bak").exists()


def test_a_bad_value_shows_the_error_and_writes_nothing(
    qtbot: QtBot, make_dialog: MakeDialog, config_file: Path, secrets: SecretStore
) -> None:
    dialog = make_dialog()
    dialog.show()
    dialog.nav.setCurrentRow(0)
    server = dialog.page(ServerPage)
    assert isinstance(server, ServerPage)
    server.server.setChecked(True)
    server.url.setText("ftp://x")
    qtbot.keyClicks(server.key.edit, "server-key-1")
    qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "http(s) URL" in dialog.error.text(), timeout=5000)
    assert "remote.url" not in dialog.error.text()  # the user's words, not the file's keys
    assert "write it like https://" in dialog.error.text()
    assert dialog.error.isVisible()
    assert dialog.isVisible()
    assert dialog.stack.currentWidget().widget() is server  # type: ignore[attr-defined]
    assert dialog.save_button.isEnabled()
    assert config_file.read_text(encoding="utf-8") == FILE
    assert secrets.get("server-api-key") is None


def test_a_missing_server_address_is_caught_before_saving(
    make_dialog: MakeDialog, config_file: Path
) -> None:
    dialog = make_dialog()
    server = dialog.page(ServerPage)
    assert isinstance(server, ServerPage)
    server.server.setChecked(True)
    dialog.save_button.click()
    assert "Type the Hark server's address" in dialog.error.text()
    assert dialog.result() != SettingsDialog.DialogCode.Accepted
    assert config_file.read_text(encoding="utf-8") == FILE


def test_secrets_go_to_the_keyring_never_the_file(
    qtbot: QtBot, make_dialog: MakeDialog, config_file: Path, secrets: SecretStore
) -> None:
    dialog = make_dialog()
    server = dialog.page(ServerPage)
    voice = dialog.page(VoicePage)
    assert isinstance(server, ServerPage)
    assert isinstance(voice, VoicePage)
    assert server.key.status.text() == "not set"
    server.server.setChecked(True)
    server.url.setText("https://203.0.113.7:41234")
    qtbot.keyClicks(server.key.edit, "server-key-1")
    qtbot.keyClicks(voice.key.edit, "el-key-2")
    saved = save(qtbot, dialog)
    assert saved.remote.url == "https://203.0.113.7:41234"
    assert secrets.get("server-api-key") == "server-key-1"
    assert secrets.get("elevenlabs-api-key") == "el-key-2"
    text = config_file.read_text(encoding="utf-8")
    assert "server-key-1" not in text
    assert "el-key-2" not in text
    assert tomllib.loads(text)["remote"] == {"url": "https://203.0.113.7:41234"}

    again = make_dialog(saved)
    server = again.page(ServerPage)
    assert isinstance(server, ServerPage)
    assert server.key.status.text() == "stored"
    assert server.key.edit.text() == ""
    assert server.server.isChecked()
    qtbot.mouseClick(server.key.forget, Qt.MouseButton.LeftButton)
    save(qtbot, again)
    assert secrets.get("server-api-key") is None
    assert secrets.get("elevenlabs-api-key") == "el-key-2"


def test_cancel_changes_nothing(
    qtbot: QtBot, make_dialog: MakeDialog, config_file: Path, secrets: SecretStore
) -> None:
    dialog = make_dialog()
    talk = dialog.page(TalkPage)
    voice = dialog.page(VoicePage)
    assert isinstance(talk, TalkPage)
    assert isinstance(voice, VoicePage)
    talk.hotkey.setText("Ctrl+Alt+K")
    qtbot.keyClicks(voice.key.edit, "el-key-2")
    saved: list[object] = []
    dialog.settings_saved.connect(saved.append)
    qtbot.keyClick(dialog, Qt.Key.Key_Escape)
    assert dialog.result() == SettingsDialog.DialogCode.Rejected
    assert saved == []
    assert config_file.read_text(encoding="utf-8") == FILE
    assert secrets.get("elevenlabs-api-key") is None


def _levels(qtbot: QtBot, page: AudioPage) -> list[float]:
    levels: list[float] = []
    page.monitor.level_measured.connect(levels.append)
    with qtbot.waitSignal(page.monitor.monitor_stopped, timeout=10_000) as stopped:
        qtbot.mouseClick(page.listen, Qt.MouseButton.LeftButton)
    assert stopped.args == [None]
    assert not page.listen.isChecked()
    return levels


def test_the_level_meter_moves_with_speech(
    qtbot: QtBot, make_dialog: MakeDialog, wavs: dict[str, Path]
) -> None:
    dialog = make_dialog(mic_source=lambda device: WavFileSource(wavs["speech"]))
    page = dialog.page(AudioPage)
    assert isinstance(page, AudioPage)
    shown: list[float] = []
    page.meter.level_changed.connect(shown.append)
    levels = _levels(qtbot, page)
    assert len(levels) > 50, (page.monitor.frames_seen, len(shown))
    assert max(levels) > 0.5
    assert max(shown) == max(levels)


def test_the_level_meter_stays_low_in_silence(
    qtbot: QtBot, make_dialog: MakeDialog, wavs: dict[str, Path]
) -> None:
    dialog = make_dialog(mic_source=lambda device: WavFileSource(wavs["silence"]))
    page = dialog.page(AudioPage)
    assert isinstance(page, AudioPage)
    levels = _levels(qtbot, page)
    assert len(levels) >= 30, page.monitor.frames_seen
    assert max(levels) < 0.05


def test_a_microphone_that_fails_says_so(qtbot: QtBot, make_dialog: MakeDialog) -> None:
    dialog = make_dialog(mic_source=lambda device: WavFileSource("/nonexistent.wav"))
    page = dialog.page(AudioPage)
    assert isinstance(page, AudioPage)
    with qtbot.waitSignal(page.monitor.monitor_stopped, timeout=5000):
        page.listen.click()
    assert page.mic_status.text().startswith("Could not use the microphone")


def test_the_speaker_test_plays_through_the_sink(
    qtbot: QtBot, make_dialog: MakeDialog, tmp_path: Path
) -> None:
    played = tmp_path / "speaker.wav"
    devices_asked: list[object] = []

    def sink(device: object) -> WavFileSink:
        devices_asked.append(device)
        return WavFileSink(played)

    dialog = make_dialog(speaker_sink=sink)
    page = dialog.page(AudioPage)
    assert isinstance(page, AudioPage)
    with qtbot.waitSignal(page.tester.test_finished, timeout=5000) as done:
        page.play.click()
    assert done.args[0] is True
    assert "Played a test sound" in page.speaker_status.text()
    assert devices_asked == [None]
    assert played.stat().st_size > 16_000  # 0.6 s of 16 kHz int16 and a header


def test_device_lists_keep_a_device_that_is_not_plugged_in(
    qtbot: QtBot, make_dialog: MakeDialog, config_file: Path
) -> None:
    devices = [
        DeviceInfo(0, "USB Mic", "ALSA", 1, 0, 48000.0, is_default_input=True),
        DeviceInfo(1, "Speakers", "ALSA", 0, 2, 48000.0, is_default_output=True),
    ]
    with config_file.open("a", encoding="utf-8") as f:
        f.write('\n[audio]\noutput_device = "HDMI"\n')
    dialog = make_dialog(audio_devices=lambda: devices)
    page = dialog.page(AudioPage)
    assert isinstance(page, AudioPage)
    assert page.microphone.count() == 2
    assert page.speaker.currentText() == "HDMI (not connected)"
    assert "1 microphone(s) and 1 speaker(s)" in page.devices_status.text()
    page.microphone.setCurrentIndex(1)
    saved = save(qtbot, dialog)
    assert saved.audio.input_device == "USB Mic"
    assert saved.audio.output_device == "HDMI"


def test_no_devices_says_what_to_do(make_dialog: MakeDialog) -> None:
    page = make_dialog(audio_devices=lambda: []).page(AudioPage)
    assert isinstance(page, AudioPage)
    assert "No sound devices were found" in page.devices_status.text()


def test_without_devices_the_tests_are_off_until_rescan_finds_them(
    qtbot: QtBot, make_dialog: MakeDialog
) -> None:
    plugged: list[DeviceInfo] = []
    page = make_dialog(audio_devices=lambda: list(plugged)).page(AudioPage)
    assert isinstance(page, AudioPage)
    assert not page.listen.isEnabled()
    assert not page.play.isEnabled()
    assert "No microphone is connected" in page.listen.toolTip()
    assert "Rescan" in page.devices_status.text()
    plugged.extend(DEVICES)  # the user plugs in a headset
    qtbot.mouseClick(page.rescan, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not page.loading(), timeout=5000)
    assert page.listen.isEnabled()
    assert page.play.isEnabled()
    assert page.listen.toolTip() == ""
    assert page.microphone.findData("USB Mic") > 0
    page.microphone.setCurrentIndex(page.microphone.findData("USB Mic"))
    qtbot.mouseClick(page.rescan, Qt.MouseButton.LeftButton)  # a second look keeps the choice
    qtbot.waitUntil(lambda: not page.loading(), timeout=5000)
    assert page.input_device() == "USB Mic"


def test_only_a_microphone_missing_leaves_the_speaker_test_on(make_dialog: MakeDialog) -> None:
    page = make_dialog(audio_devices=lambda: [DEVICES[1]]).page(AudioPage)
    assert isinstance(page, AudioPage)
    assert not page.listen.isEnabled()
    assert page.play.isEnabled()
    assert "No microphone was found" in page.devices_status.text()


def test_the_listening_window_can_be_turned_off(qtbot: QtBot, make_dialog: MakeDialog) -> None:
    dialog = make_dialog()
    page = dialog.page(AudioPage)
    assert isinstance(page, AudioPage)
    assert page.overlay.isChecked()
    page.overlay.setChecked(False)
    assert save(qtbot, dialog).audio.overlay is False


def test_start_at_login_writes_and_removes_the_entry(
    qtbot: QtBot, make_dialog: MakeDialog, isolated_home: Path
) -> None:
    autostart = Autostart(platform="linux", command=["hark", "tray"])
    entry = isolated_home / ".config" / "autostart" / "hark.desktop"
    dialog = make_dialog(autostart=autostart)
    page = dialog.page(StartupPage)
    assert isinstance(page, StartupPage)
    assert not page.enabled.isChecked()
    page.enabled.setChecked(True)
    save(qtbot, dialog)
    assert entry.is_file()
    assert "Exec=hark tray" in entry.read_text(encoding="utf-8")
    again = make_dialog(autostart=autostart)
    page = again.page(StartupPage)
    assert isinstance(page, StartupPage)
    assert page.enabled.isChecked()
    page.enabled.setChecked(False)
    save(qtbot, again)
    assert not entry.exists()


def test_start_at_login_elsewhere_is_explained(make_dialog: MakeDialog) -> None:
    page = make_dialog(autostart=Autostart(platform="win32")).page(StartupPage)
    assert isinstance(page, StartupPage)
    assert not page.enabled.isEnabled()
    assert "cannot be set from here" in page.status.text()


def test_google_connect_and_scopes(qtbot: QtBot, make_dialog: MakeDialog) -> None:
    status = AccountStatus(
        True, "me@example.org", (CALENDAR_READ, CALENDAR_EVENTS, GMAIL_READ), (), ()
    )
    services = ScriptedServices(status)
    dialog = make_dialog(services=services)
    page = dialog.page(GooglePage)
    assert isinstance(page, GooglePage)
    assert page.account.text().startswith("Not connected")
    assert not page.disconnect_button.isEnabled()
    page.connect_button.click()
    qtbot.waitUntil(lambda: "me@example.org" in page.account.text(), timeout=5000)
    assert services.connects == 1
    assert page.disconnect_button.isEnabled()
    assert "Not granted yet: gmail.compose" in page.scopes.text()
    page.mail.setCurrentIndex(page.mail.findData("read"))
    assert "Not granted" not in page.scopes.text()
    page.calendar.setCurrentIndex(page.calendar.findData("off"))
    page.mail.setCurrentIndex(page.mail.findData("off"))
    assert page.scopes.text().startswith("None")


def test_google_disconnect_revokes_and_forgets(
    qtbot: QtBot, make_dialog: MakeDialog, secrets: SecretStore
) -> None:
    with FakeGoogle() as g:
        scopes = [CALENDAR_READ, CALENDAR_EVENTS, GMAIL_READ, GMAIL_COMPOSE]
        info = g.oauth.authorized_user(scopes, email="me@example.org")
        info["scopes"] = scopes
        secrets.set(TOKEN_SECRET, json.dumps(info))
        google = GoogleSettings(token_uri=g.url + "/token", retry_backoff_s=0.01)
        dialog = make_dialog(Settings(google=google))
        page = dialog.page(GooglePage)
        assert isinstance(page, GooglePage)
        assert page.account.text() == "Connected as me@example.org"
        assert (
            page.scopes.text()
            == "Needs " + ", ".join(s.rsplit("/", 1)[1] for s in sorted(scopes)) + "."
        )
        page.disconnect_button.click()
        qtbot.waitUntil(lambda: page.account.text().startswith("Not connected"), timeout=5000)
        assert g.oauth.revoked_count == 1
        assert secrets.get(TOKEN_SECRET) is None
        assert not page.disconnect_button.isEnabled()


def test_deploy_button_asks_for_the_wizard(qtbot: QtBot, make_dialog: MakeDialog) -> None:
    dialog = make_dialog()
    server = dialog.page(ServerPage)
    assert isinstance(server, ServerPage)
    with qtbot.waitSignal(dialog.deploy_requested, timeout=1000):
        server.deploy.click()


def test_speech_model_and_language_checks(qtbot: QtBot, make_dialog: MakeDialog) -> None:
    dialog = make_dialog()
    page = dialog.page(SpeechPage)
    assert isinstance(page, SpeechPage)
    page.model.setCurrentText("small.en")
    page.language.setCurrentText("de")
    dialog.save_button.click()
    assert "English only" in dialog.error.text()
    page.model.setCurrentText("large-v3-turbo")
    saved = save(qtbot, dialog)
    assert (saved.asr.model, saved.asr.language) == ("large-v3-turbo", "de")


def test_the_hotkey_can_be_pressed(qtbot: QtBot, make_dialog: MakeDialog) -> None:
    page = make_dialog().page(TalkPage)
    assert isinstance(page, TalkPage)
    page.recorder.setKeySequence(QKeySequence("Ctrl+Alt+Space"))
    assert page.hotkey.text() == "Ctrl+Alt+Space"
    assert chord_text(QKeySequence("Ctrl+Shift+F5")[0]) == "<ctrl>+<shift>+<f5>"
    assert chord_text(QKeySequence("Meta+J")[0]) == "<cmd>+j"
    assert page.values()["talk"]["hotkey"] == "<ctrl>+<alt>+<space>"
    page.hotkey.setText("<ctrl>+<shift>+<f5>")  # the settings file's notation works too
    assert page.problem() is None
    assert page.values()["talk"]["hotkey"] == "<ctrl>+<shift>+<f5>"
    page.hotkey.setText("ctrl alt")
    problem = page.problem()
    assert problem is not None
    assert "write it like Ctrl+Alt+H" in problem
    assert "<" not in problem
    page.hotkey.setText("Ctrl+Alt")
    assert page.problem() is not None  # modifiers alone are no hotkey


def test_ask_returns_the_new_settings(
    qtbot: QtBot,
    bridge: Bridge,
    config_file: Path,
    secrets: SecretStore,
) -> None:
    def drive() -> None:
        dialog = QApplication.activeModalWidget()
        if not isinstance(dialog, SettingsDialog) or dialog.loading():
            QTimer.singleShot(10, drive)
            return
        talk = dialog.page(TalkPage)
        assert isinstance(talk, TalkPage)
        talk.barge_in.setChecked(False)
        dialog.save_button.click()

    QTimer.singleShot(0, drive)
    result = SettingsDialog.ask(
        GuiContext(load_settings(config_file, env={}), ScriptedServices(), bridge, secrets),
        config_file=config_file,
        autostart=Autostart(platform="linux", command=["hark"]),
        audio_devices=lambda: [],
    )
    assert result is not None
    assert result.talk.barge_in is False
    assert load_settings(config_file, env={}).talk.barge_in is False


def test_ask_returns_none_on_cancel(
    bridge: Bridge, config_file: Path, secrets: SecretStore
) -> None:
    def drive() -> None:
        dialog = QApplication.activeModalWidget()
        if not isinstance(dialog, SettingsDialog):
            QTimer.singleShot(10, drive)
            return
        dialog.reject()

    QTimer.singleShot(0, drive)
    result = SettingsDialog.ask(
        GuiContext(load_settings(config_file, env={}), ScriptedServices(), bridge, secrets),
        config_file=config_file,
        autostart=Autostart(platform="linux", command=["hark"]),
        audio_devices=lambda: [],
    )
    assert result is None
    assert config_file.read_text(encoding="utf-8") == FILE


def test_changed_values_is_a_nested_diff() -> None:
    old = {"talk": {"hotkey": "a", "barge_in": True}, "policy": {"tools": {"mail_send": "deny"}}}
    new = {"talk": {"hotkey": "a", "barge_in": False}, "policy": {"tools": {"mail_send": None}}}
    assert changed_values(new, old) == {
        "talk": {"barge_in": False},
        "policy": {"tools": {"mail_send": None}},
    }
