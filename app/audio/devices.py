"""Sound devices: loading PortAudio, listing devices and picking one by index or name.

``sounddevice`` initialises PortAudio when it is imported, and that import fails outright when
the system library is missing. Everything here imports it lazily, through
:func:`load_sounddevice`, so that Hark starts (text mode, WAV files, ``hark doctor``) on a
machine without PortAudio and says clearly what to install.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Literal

from app.shared.errors import AudioCode, AudioError

log = logging.getLogger(__name__)

Direction = Literal["input", "output"]

_sd: ModuleType | None = None


def load_sounddevice() -> ModuleType:
    """Import ``sounddevice`` once, turning a missing PortAudio into a clear ``AudioError``."""
    global _sd
    if _sd is None:
        try:
            import sounddevice
        except OSError as exc:  # raised by sounddevice when libportaudio cannot be loaded
            raise AudioError(
                AudioCode.PORTAUDIO_MISSING,
                "The PortAudio library is not installed, so Hark cannot use a microphone or "
                "speaker. Install it (Debian/Ubuntu: `sudo apt-get install libportaudio2`) "
                "and start Hark again.",
            ) from exc
        except ImportError as exc:
            raise AudioError(
                AudioCode.SOUNDDEVICE_MISSING,
                "The Python package `sounddevice` is not installed; install Hark with its "
                "desktop extra (`scripts/setup desktop in Hark's folder`).",
            ) from exc
        _sd = sounddevice
    return _sd


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """One PortAudio device as ``hark doctor`` and the settings dialog show it."""

    index: int
    name: str
    hostapi: str
    max_input_channels: int
    max_output_channels: int
    default_samplerate: float
    is_default_input: bool = False
    is_default_output: bool = False

    def has(self, direction: Direction) -> bool:
        """Can this device record (``input``) or play (``output``)?"""
        if direction == "input":
            return self.max_input_channels > 0
        return self.max_output_channels > 0


def list_devices() -> list[DeviceInfo]:
    """All devices PortAudio knows, with the default input and output marked."""
    sd = load_sounddevice()
    try:
        raw: Any = sd.query_devices()
        hostapis: Any = sd.query_hostapis()
        default_in, default_out = _default_indices(sd)
    except Exception as exc:  # sounddevice.PortAudioError and friends
        raise AudioError(
            AudioCode.DEVICES_UNAVAILABLE, f"Could not list the sound devices: {exc}"
        ) from exc
    devices: list[DeviceInfo] = []
    for index, dev in enumerate(raw):
        api = hostapis[dev["hostapi"]]["name"] if dev["hostapi"] < len(hostapis) else "?"
        devices.append(
            DeviceInfo(
                index=index,
                name=str(dev["name"]),
                hostapi=str(api),
                max_input_channels=int(dev["max_input_channels"]),
                max_output_channels=int(dev["max_output_channels"]),
                default_samplerate=float(dev["default_samplerate"]),
                is_default_input=index == default_in,
                is_default_output=index == default_out,
            )
        )
    return devices


def _default_indices(sd: ModuleType) -> tuple[int, int]:
    default: Any = sd.default.device
    try:
        return int(default[0]), int(default[1])
    except (TypeError, ValueError):
        return -1, -1


def resolve_device(
    spec: str | int | None, devices: Sequence[DeviceInfo], direction: Direction
) -> DeviceInfo | None:
    """Find the device a setting names: an index, or a case-insensitive (partial) name.

    ``None`` (or an empty string / ``"default"``) means the system default, returned as
    ``None`` so that PortAudio picks it. An exact name wins over partial matches; a name that
    fits several devices, or none, raises ``AudioError`` listing the devices to choose from.
    """
    if spec is None or (isinstance(spec, str) and spec.strip().lower() in ("", "default")):
        return None
    usable = [d for d in devices if d.has(direction)]
    if isinstance(spec, int) or spec.strip().isdigit():
        index = int(spec)
        for dev in usable:
            if dev.index == index:
                return dev
        raise AudioError(
            f"audio-{direction}-device-not-found",
            f"There is no {direction} device number {index}. {_choices(usable, direction)}",
        )
    wanted = spec.strip().lower()
    exact = [d for d in usable if d.name.lower() == wanted]
    if exact:
        return exact[0]
    partial = [d for d in usable if wanted in d.name.lower()]
    if len(partial) == 1:
        return partial[0]
    if partial:
        names = ", ".join(f"{d.index}: {d.name}" for d in partial)
        raise AudioError(
            f"audio-{direction}-device-ambiguous",
            f"The {direction} device name {spec!r} fits several devices ({names}); "
            "write more of the name or use the number.",
        )
    raise AudioError(
        f"audio-{direction}-device-not-found",
        f"No {direction} device is called {spec!r}. {_choices(usable, direction)}",
    )


def _choices(usable: Sequence[DeviceInfo], direction: Direction) -> str:
    if not usable:
        return f"This computer has no {direction} devices that PortAudio can see."
    listed = "; ".join(f"{d.index}: {d.name}" for d in usable)
    return f"Available {direction} devices: {listed}. Set one by number or name."


def choose_format(
    supports: Callable[[int, int], bool],
    *,
    wanted_rate: int,
    default_rate: float,
    max_channels: int,
    force_rate: int | None = None,
    force_channels: int | None = None,
) -> tuple[int, int]:
    """Pick the (rate, channels) to open a device with: Hark's own format if it is offered.

    ``supports(rate, channels)`` asks PortAudio. Mono at ``wanted_rate`` needs no conversion;
    otherwise the device's default rate (which every device takes) and then two channels are
    tried, and the caller resamples and mixes. ``force_*`` pin one choice (a setting or a test).
    """
    rates = [force_rate] if force_rate else [wanted_rate, round(default_rate)]
    channels = [force_channels] if force_channels else [1, min(2, max(1, max_channels))]
    tried: list[str] = []
    for rate in dict.fromkeys(rates):
        for ch in dict.fromkeys(channels):
            if supports(rate, ch):
                return rate, ch
            tried.append(f"{rate} Hz × {ch} ch")
    raise AudioError(
        AudioCode.DEVICE_FORMAT,
        f"The device takes none of the formats Hark can use ({', '.join(tried)}, 16-bit). "
        "Pick another device in the settings (`hark doctor` lists them).",
    )


def open_format(
    spec: str | int | None,
    direction: Direction,
    *,
    wanted_rate: int,
    force_rate: int | None = None,
    force_channels: int | None = None,
) -> tuple[DeviceInfo, int, int]:
    """The device a setting names and the (rate, channels) to open it with, asking PortAudio."""
    sd = load_sounddevice()
    dev = find_device(spec, direction)
    check = sd.check_input_settings if direction == "input" else sd.check_output_settings

    def supports(rate: int, channels: int) -> bool:
        try:
            check(device=dev.index, channels=channels, dtype="int16", samplerate=rate)
        except Exception:
            return False
        return True

    rate, channels = choose_format(
        supports,
        wanted_rate=wanted_rate,
        default_rate=dev.default_samplerate,
        max_channels=dev.max_input_channels if direction == "input" else dev.max_output_channels,
        force_rate=force_rate,
        force_channels=force_channels,
    )
    return dev, rate, channels


def find_device(spec: str | int | None, direction: Direction) -> DeviceInfo:
    """The device a setting names, or the system default one; ``AudioError`` when none fits."""
    devices = list_devices()
    chosen = resolve_device(spec, devices, direction)
    if chosen is not None:
        return chosen
    flag = "is_default_input" if direction == "input" else "is_default_output"
    for dev in devices:
        if getattr(dev, flag) and dev.has(direction):
            return dev
    usable = [d for d in devices if d.has(direction)]
    if usable:  # PortAudio names no default (some ALSA setups): the first one will do
        return usable[0]
    raise AudioError(
        f"audio-no-{direction}-device",
        f"No {direction} device was found. {_choices(usable, direction)} "
        "Plug one in, or check that your user may use audio (the `audio` group).",
    )
