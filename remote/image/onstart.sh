#!/usr/bin/env bash
# Hark GPU box: start-up script, run by bootstrap.sh once Hark's code is on the box (it comes
# out of that verified wheel, so script and code are always the same version).
#
# Installs what is missing (Ollama; the locked dependencies and Hark's wheel in a venv),
# starts Ollama on 127.0.0.1 with its models on the persistent disk, starts `hark server`
# (uvicorn + Caddy, the only public port), pulls the LLM while writing its progress into the
# state file that /status shows, and restarts Ollama and the server whenever they stop. Each
# step's duration goes into $HARK_HOME/steps.tsv (shown by /status). See
# remote/image/README.md for the environment it reads. Secrets are only in 0600 files
# (bootstrap.sh wrote them) and never reach the log: no `set -x`, no echo of values.
#
#   onstart.sh          install what is missing, then run and supervise (default)
#   onstart.sh install  install only (used when building the image)
set -euo pipefail
umask 077

HARK_HOME=${HARK_HOME:-/workspace/hark}
HARK_PORT=${HARK_PORT:-8443}
HARK_LLM_MODEL=${HARK_LLM_MODEL:-llama3.1:8b}
HARK_WHISPER_MODEL=${HARK_WHISPER_MODEL:-}
HARK_BIND=${HARK_BIND:-0.0.0.0}
HARK_CODE_WHEEL=${HARK_CODE_WHEEL:-}
HARK_CODE_SHA256=${HARK_CODE_SHA256:-}
HARK_PIP_ARGS=${HARK_PIP_ARGS:-}
HARK_DOMAIN=${HARK_DOMAIN:-}
HARK_CUDA_LIBS=${HARK_CUDA_LIBS:-auto}
HARK_VENV=${HARK_VENV:-$HARK_HOME/venv}
OLLAMA_MODELS=${OLLAMA_MODELS:-/workspace/ollama}
OLLAMA_KEEP_ALIVE=${OLLAMA_KEEP_ALIVE:-30m}
OLLAMA_ADDR=${OLLAMA_ADDR:-127.0.0.1:11434}

SECRETS=$HARK_HOME/secrets
LOG_DIR=$HARK_HOME/logs
STATE_FILE=${STATE_FILE:-$HARK_HOME/state.json}
PY=${PY:-$HARK_VENV/bin/python}
PY3=${PY3:-python3}
HARK_BOX_BIN=${HARK_BOX_BIN:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)}
STEPS_FILE=$HARK_HOME/steps.tsv
SUPERVISORS=()
INSTALL_ONLY=0
SERVING=0
RESPONDER=""

log() { printf '%s onstart: %s\n' "$(date -u +%FT%TZ)" "$*" >&2; }

json_str() {  # json_str TEXT: TEXT as a JSON string literal (one line)
  local s=$1
  s=${s//\\/\\\\}
  s=${s//\"/\\\"}
  s=${s//$'\n'/ }
  s=${s//$'\r'/ }
  s=${s//$'\t'/ }
  printf '"%s"' "$s"
}

write_state() {  # write_state STATE DETAIL [PROGRESS]: replace the state file atomically
  if ((INSTALL_ONLY)); then return 0; fi
  local tmp="$STATE_FILE.tmp.$$"
  mkdir -p "$(dirname "$STATE_FILE")"
  {
    printf '{"state": %s, "detail": %s, "model": %s' \
      "$(json_str "$1")" "$(json_str "${2:-}")" "$(json_str "$HARK_LLM_MODEL")"
    if [[ -n "${3:-}" ]]; then printf ', "progress": %s' "$3"; fi
    printf ', "updated": %s}\n' "$(date +%s)"
  } >"$tmp"
  chmod 644 "$tmp"
  mv -f "$tmp" "$STATE_FILE"
}

fail() {  # fail MESSAGE: record the failure for /status; before the server runs, keep telling
  write_state failed "$1"
  log "FAILED: $1"
  if ((!INSTALL_ONLY && !SERVING)) && [[ -s "$SECRETS/tls.key" && -f "$HARK_BOX_BIN/boxboot.py" ]]
  then
    status_responder off
    export HARK_HOME HARK_PORT HARK_BIND
    exec "$PY3" "$HARK_BOX_BIN/boxboot.py" status >>"$LOG_DIR/onstart.log" 2>&1
  fi
  exit 1
}

check_secrets() {  # the 0600 files bootstrap.sh wrote from the instance's environment
  [[ -s "$SECRETS/api-keys" ]] || fail "no API key: the instance needs HARK_API_KEY"
  if [[ -z "$HARK_DOMAIN" && ! (-s "$SECRETS/tls.pem" && -s "$SECRETS/tls.key") ]]; then
    fail "no TLS certificate: set HARK_TLS_CERT_B64_0.. and HARK_TLS_KEY_B64_0.. (or HARK_DOMAIN)"
  fi
}

STEP_NAME=""
STEP_STARTED=""

step() {  # step NAME: the previous step ends (its duration is recorded), NAME begins
  local now
  now=$(date +%s.%N)
  if [[ -n "$STEP_NAME" ]]; then
    printf '%s\t%s\n' "$STEP_NAME" \
      "$(awk -v a="$STEP_STARTED" -v b="$now" 'BEGIN { printf "%.1f", b - a }')" >>"$STEPS_FILE"
  fi
  STEP_NAME=${1:-}
  STEP_STARTED=$now
}

have_gpu() { command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; }

install_system() {  # curl and friends, when the image lacks them (Debian/Ubuntu images)
  local missing=()
  command -v curl >/dev/null || missing+=(curl ca-certificates)
  command -v zstd >/dev/null || missing+=(zstd)
  if ((${#missing[@]})); then
    command -v apt-get >/dev/null || fail "missing ${missing[*]} and no apt-get to install them"
    log "installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
}

# Ollama, pinned: one release, checked against its SHA-256 before anything is unpacked (never a
# remote install script). The sums are those of the release's sha256sum.txt as Homebrew pins them
# (Homebrew/homebrew-cask, Casks/o/ollama-binary.rb, version 0.35.1); several independent
# projects quote the same amd64 sum. To move to a newer release, change all three together.
OLLAMA_RELEASE=0.35.1
OLLAMA_SHA256_AMD64=9fcd79ac4575b2bd31b992eee18b1000c8ad126b451627c8f8cd091714cfbb10
OLLAMA_SHA256_ARM64=b1b1c85d25136b256d3740f6ecd2f7c0105e8ca71642fd6ff2fc199f3cefd69d

ollama_arch() {  # Ollama's name for this machine's architecture (fails for others)
  case "$(uname -m)" in
    x86_64 | amd64) printf amd64 ;;
    aarch64 | arm64) printf arm64 ;;
    *) return 1 ;;
  esac
}

ollama_prefix() {  # where the release goes: HARK_OLLAMA_PREFIX, else /usr/local as root
  if [[ -n "${HARK_OLLAMA_PREFIX:-}" ]]; then
    printf '%s' "$HARK_OLLAMA_PREFIX"
  elif ((EUID == 0)); then
    printf /usr/local
  else
    printf '%s' "$HARK_HOME/ollama"
  fi
}

fetch_ollama() {  # fetch_ollama PREFIX: download the pinned release, verify it, unpack into PREFIX
  local prefix=$1 arch sha url work marker
  arch=$(ollama_arch) ||
    fail "Ollama has no Linux build for this machine ($(uname -m)): choose an x86_64 or arm64 offer"
  if [[ $arch == amd64 ]]; then sha=$OLLAMA_SHA256_AMD64; else sha=$OLLAMA_SHA256_ARM64; fi
  sha=${HARK_OLLAMA_SHA256:-$sha}  # for mirrors that repackage the release
  url="${HARK_OLLAMA_URL:-https://github.com/ollama/ollama/releases/download}"
  url="${url%/}/v$OLLAMA_RELEASE/ollama-linux-$arch.tar.zst"
  marker="$prefix/lib/ollama/.hark-sha256"
  if [[ -x "$prefix/bin/ollama" && "$(cat "$marker" 2>/dev/null)" == "$sha" ]]; then return 0; fi
  command -v zstd >/dev/null || fail "zstd is missing, and Ollama's release needs it: install zstd"
  mkdir -p "$HARK_HOME"
  work=$(mktemp -d "$HARK_HOME/ollama-download.XXXXXX")
  log "downloading Ollama $OLLAMA_RELEASE from $url"
  if ! curl -fsSL --retry 3 --connect-timeout 30 -o "$work/ollama.tar.zst" "$url"; then
    rm -rf "$work"
    fail "could not download Ollama $OLLAMA_RELEASE from $url"
  fi
  if ! printf '%s  %s\n' "$sha" "$work/ollama.tar.zst" | sha256sum -c --status -; then
    rm -rf "$work"
    fail "the Ollama $OLLAMA_RELEASE download from $url is not the file its SHA-256 pins (damaged or replaced), so nothing was installed: start again, or set HARK_OLLAMA_URL to a mirror of the official files"
  fi
  mkdir -p "$prefix/bin" "$prefix/lib"
  rm -rf "$prefix/lib/ollama"  # the libraries of an older release (as Ollama's docs advise)
  if ! zstd -dcq "$work/ollama.tar.zst" | tar -xf - --no-same-owner -C "$prefix"; then
    rm -rf "$work"
    fail "could not unpack Ollama into $prefix (is the disk full?)"
  fi
  rm -rf "$work"
  [[ -x "$prefix/bin/ollama" ]] || fail "the Ollama release from $url holds no bin/ollama"
  mkdir -p "$prefix/lib/ollama"
  printf '%s\n' "$sha" >"$marker"
}

install_ollama() {  # the image's Ollama when it is on PATH, else the pinned release
  command -v ollama >/dev/null && return 0
  local prefix
  prefix=$(ollama_prefix)
  fetch_ollama "$prefix"
  export PATH="$prefix/bin:$PATH"
  log "Ollama $OLLAMA_RELEASE is in $prefix"
}

status_responder() {  # status_responder on|off: answer /status on the port while installing
  if [[ $1 == on ]]; then
    if ((INSTALL_ONLY)) || [[ ! -s "$SECRETS/tls.key" || ! -f "$HARK_BOX_BIN/boxboot.py" ]]; then
      return 0
    fi
    HARK_HOME=$HARK_HOME HARK_PORT=$HARK_PORT HARK_BIND=$HARK_BIND \
      "$PY3" "$HARK_BOX_BIN/boxboot.py" status >>"$LOG_DIR/onstart.log" 2>&1 &
    RESPONDER=$!
  elif [[ -n "${RESPONDER:-}" ]]; then
    kill -TERM "$RESPONDER" 2>/dev/null || true
    wait "$RESPONDER" 2>/dev/null || true
    RESPONDER=""
  fi
}

pip_install() {  # pip_install ARGS…: into the venv, hashes required, quietly, log on failure
  # shellcheck disable=SC2086  # HARK_PIP_ARGS is a list of pip options (a mirror, a wheelhouse)
  "$PY" -m pip install --quiet --disable-pip-version-check --no-input $HARK_PIP_ARGS "$@" \
    >>"$LOG_DIR/pip.log" 2>&1
}

pip_failure() {  # the last lines pip wrote, for the failure message
  tail -n 3 "$LOG_DIR/pip.log" 2>/dev/null | tr '\n' ' ' | cut -c1-240
}

need_cuda_libs() {  # the CUDA libraries faster-whisper needs, unless the image has them
  [[ "$HARK_CUDA_LIBS" == yes ]] && return 0
  [[ "$HARK_CUDA_LIBS" == auto ]] && have_gpu || return 1
  ! { ldconfig -p 2>/dev/null | grep -q 'libcudnn.so.9' && ldconfig -p | grep -q 'libcublas.so.12'; }
}

install_hark() {  # the locked dependencies, then Hark's wheel (verified by its hash), in a venv
  local marker="$HARK_VENV/.hark-code" deps="$HARK_VENV/.hark-deps" lock sum
  if [[ -x "$HARK_VENV/bin/hark" && -f "$marker" && "$(cat "$marker")" == "$HARK_CODE_SHA256" ]]
  then
    log "Hark's code ${HARK_CODE_SHA256:0:12} is installed already"
    return 0
  fi
  [[ -f "$HARK_CODE_WHEEL" ]] || fail "no Hark wheel to install (HARK_CODE_WHEEL)"
  sum=$(sha256sum "$HARK_CODE_WHEEL" | cut -d' ' -f1)
  [[ "$sum" == "$HARK_CODE_SHA256" ]] || fail "the Hark wheel's hash is not the expected one"
  write_state installing "installing the Hark server"
  status_responder on
  step install
  lock=$(mktemp)
  "$PY3" - "$HARK_CODE_WHEEL" "$lock" "$(need_cuda_libs && echo cuda)" <<'PY' ||
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as wheel, open(sys.argv[2], "wb") as out:
    out.write(wheel.read("remote/image/requirements-server.lock"))
    if sys.argv[3]:
        out.write(wheel.read("remote/image/requirements-cuda.lock"))
PY
    fail "the Hark wheel holds no dependency lock"
  if [[ ! -x "$PY" ]]; then
    "$PY3" -m venv "$HARK_VENV" >>"$LOG_DIR/pip.log" 2>&1 ||
      { command -v uv >/dev/null && uv venv --seed --python "$PY3" "$HARK_VENV" >>"$LOG_DIR/pip.log" 2>&1; } ||
      fail "could not create a Python venv in $HARK_VENV (install python3-venv)"
  fi
  sum=$(sha256sum "$lock" | cut -d' ' -f1)
  if [[ ! -f "$deps" || "$(cat "$deps")" != "$sum" ]]; then
    log "installing the server's dependencies (locked, hashes required)"
    pip_install --require-hashes -r "$lock" ||
      fail "could not install the server's dependencies: $(pip_failure)"
    printf '%s' "$sum" >"$deps"
  fi
  rm -f "$lock"
  log "installing Hark's code ${HARK_CODE_SHA256:0:12}"
  local named  # pip wants the wheel's own file name (name-version-tags.whl)
  named="$(mktemp -d)/$("$PY3" -c 'import sys, zipfile
info = next(n for n in zipfile.ZipFile(sys.argv[1]).namelist() if n.endswith(".dist-info/WHEEL"))
print(info.split("/")[0].removesuffix(".dist-info") + "-py3-none-any.whl")' "$HARK_CODE_WHEEL")" ||
    fail "Hark's wheel is not a wheel"
  cp "$HARK_CODE_WHEEL" "$named"
  pip_install --no-deps --force-reinstall "$named" ||
    fail "could not install Hark's code: $(pip_failure)"
  rm -rf "$(dirname "$named")"
  printf '%s' "$HARK_CODE_SHA256" >"$marker"
  status_responder off
}

cuda_library_path() {  # the pip-installed CUDA libraries, for faster-whisper
  "$PY" - <<'PY' 2>/dev/null || true
import os
try:
    import nvidia.cublas.lib as cublas
    import nvidia.cudnn.lib as cudnn
except ImportError:
    raise SystemExit(0)
print(os.path.dirname(cublas.__file__) + ":" + os.path.dirname(cudnn.__file__))
PY
}

SUPERVISE_STOP=0
SUPERVISE_CHILD=""

supervise_stop() {  # the TERM/INT trap of a supervisor: stop the child, then the loop
  SUPERVISE_STOP=1
  if [[ -n "$SUPERVISE_CHILD" ]]; then kill -TERM "$SUPERVISE_CHILD" 2>/dev/null || true; fi
}

supervise() {  # supervise NAME COMMAND…: run it, and start it again with backoff when it stops
  local name=$1 delay=1 started status
  shift
  trap supervise_stop TERM INT
  while ((!SUPERVISE_STOP)); do
    if [[ -f "$LOG_DIR/$name.log" ]] && (($(stat -c %s "$LOG_DIR/$name.log") > 100000000)); then
      mv -f "$LOG_DIR/$name.log" "$LOG_DIR/$name.log.1"
    fi
    started=$SECONDS
    "$@" >>"$LOG_DIR/$name.log" 2>&1 &
    SUPERVISE_CHILD=$!
    status=0
    wait "$SUPERVISE_CHILD" || status=$?
    if ((SUPERVISE_STOP)); then break; fi
    if ((SECONDS - started > 120)); then delay=1; fi
    log "$name stopped (status $status, see $LOG_DIR/$name.log); starting it again in ${delay}s"
    sleep "$delay" &
    SUPERVISE_CHILD=$!
    wait "$SUPERVISE_CHILD" || true
    delay=$((delay * 2 > 60 ? 60 : delay * 2))
  done
  # A signal ends the first `wait` early: wait for the child to finish stopping.
  wait "$SUPERVISE_CHILD" 2>/dev/null || true
  SUPERVISE_CHILD=""
}

start_ollama() {
  mkdir -p "$OLLAMA_MODELS"
  OLLAMA_HOST=$OLLAMA_ADDR OLLAMA_MODELS=$OLLAMA_MODELS OLLAMA_KEEP_ALIVE=$OLLAMA_KEEP_ALIVE \
    supervise ollama ollama serve &
  SUPERVISORS+=($!)
  local deadline=$((SECONDS + 120))
  until curl -fsS "http://$OLLAMA_ADDR/api/version" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || fail "Ollama did not start; see $LOG_DIR/ollama.log"
    sleep 1
  done
}

start_server() {
  local args=(server --listen "$HARK_BIND:$HARK_PORT" --api-key-file "$SECRETS/api-keys"
    --ollama-url "http://$OLLAMA_ADDR" --data-dir "$HARK_HOME/caddy" --startup-timeout 600)
  if [[ -s "$SECRETS/tls.pem" ]]; then
    args+=(--tls-cert "$SECRETS/tls.pem" --tls-key "$SECRETS/tls.key")
  else
    args+=(--domain "$HARK_DOMAIN")
  fi
  if [[ -n "$HARK_WHISPER_MODEL" ]]; then args+=(--whisper-model "$HARK_WHISPER_MODEL"); fi
  local libs
  libs=$(cuda_library_path)
  HARK_SERVER__STATE_FILE=$STATE_FILE HARK_SERVER__WHISPER_DOWNLOAD_ROOT=$HARK_HOME/whisper \
    HARK_SERVER__VAST_INSTANCE_KEY_FILE=$SECRETS/vast-instance-key \
    HARK_SERVER__BOX_CODE_DIR=$HARK_HOME/code HARK_SERVER__CODE_SHA256=$HARK_CODE_SHA256 \
    LD_LIBRARY_PATH="${libs:+$libs:}${LD_LIBRARY_PATH:-}" \
    supervise hark-server "$HARK_VENV/bin/hark" "${args[@]}" &
  SUPERVISORS+=($!)
}

pull_model() {  # pull HARK_LLM_MODEL through Ollama's /api/pull, progress into the state file
  "$PY" - "http://$OLLAMA_ADDR" "$HARK_LLM_MODEL" "$STATE_FILE" <<'PY'
import json, os, sys, time, urllib.error, urllib.request

base, model, state_file = sys.argv[1:4]


def state(name, detail, progress=None):
    data = {"state": name, "detail": detail, "model": model, "updated": int(time.time())}
    if progress is not None:
        data["progress"] = round(progress, 4)
    tmp = f"{state_file}.tmp.{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f)
    os.chmod(tmp, 0o644)
    os.replace(tmp, state_file)


def post(path, body, timeout):
    req = urllib.request.Request(
        base + path, json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    return urllib.request.urlopen(req, timeout=timeout)


try:
    post("/api/show", {"model": model}, 30).close()
    print(f"{model} is already here", file=sys.stderr)
    raise SystemExit(0)
except urllib.error.HTTPError:
    pass  # 404: not pulled yet

error = "no answer"
for attempt in range(1, 6):
    sizes, done, shown, written = {}, {}, 0.0, 0.0
    state("pulling-model", f"pulling {model}", 0.0)
    try:
        with post("/api/pull", {"model": model, "stream": True}, 600) as resp:
            for raw in resp:
                line = json.loads(raw)
                if "error" in line:
                    raise RuntimeError(line["error"])
                if line.get("digest") and line.get("total"):
                    sizes[line["digest"]] = line["total"]
                    done[line["digest"]] = line.get("completed", 0)
                    fraction = sum(done.values()) / max(1, sum(sizes.values()))
                    shown = max(shown, min(fraction, 1.0))  # never backwards
                    if shown - written >= 0.01:  # at most a hundred writes
                        state("pulling-model", f"pulling {model}", shown)
                        print(f"pulling {model}: {shown:.0%}", file=sys.stderr, flush=True)
                        written = shown
                if line.get("status") == "success":
                    state("pulling-model", f"pulled {model}", 1.0)
                    raise SystemExit(0)
        error = "the pull ended before success"
    except urllib.error.HTTPError as exc:
        error = f"HTTP {exc.code}: {exc.read(300).decode('utf-8', 'replace')}"
    except (OSError, ValueError, RuntimeError) as exc:
        error = str(exc) or type(exc).__name__
    print(f"pull {model}, attempt {attempt}: {error}", file=sys.stderr)
    if "file does not exist" in error or "not found" in error:
        break  # no such model: retrying will not help
    time.sleep(min(60, 5 * attempt))
state("failed", f"could not pull {model}: {error}"[:300])
raise SystemExit(1)
PY
}

warm_up() {  # load the LLM into GPU memory now, so the first reply is quick (best effort)
  curl -fsS --max-time 600 "http://$OLLAMA_ADDR/api/generate" \
    -d "{\"model\": $(json_str "$HARK_LLM_MODEL"), \"keep_alive\": $(json_str "$OLLAMA_KEEP_ALIVE")}" \
    >/dev/null 2>&1 || log "could not load $HARK_LLM_MODEL ahead of time"
}

fetch_whisper() {  # download the Whisper model into the server's cache (best effort)
  local device=cpu
  if have_gpu; then device=cuda; fi
  if ! "$PY" - "$HARK_HOME/whisper" "${HARK_WHISPER_MODEL:-auto}" "$device" <<'PY'; then
import sys
from pathlib import Path

from app.asr.download import hub_repo_id, snapshot
from remote.server.settings import resolve_whisper_model

root, device = Path(sys.argv[1]), sys.argv[3]
name = resolve_whisper_model(sys.argv[2], device)
repo = hub_repo_id(name) if not Path(name).is_dir() else None
if repo:
    snapshot(name, repo, root, lambda message: None)
PY
    log "could not fetch the Whisper model now; the server fetches it on first use"
  fi
}

wait_for_server() {  # until Hark's server answers on its port (any HTTP status), ≤ 10 min
  [[ -z "$HARK_DOMAIN" ]] || return 0
  local deadline=$((SECONDS + 600)) code
  while ((SECONDS < deadline)); do
    code=$(curl -ks -o /dev/null -w '%{http_code}' --max-time 5 "https://127.0.0.1:$HARK_PORT/healthz" || true)
    [[ "$code" == 000 ]] || return 0
    sleep 1
  done
  log "the server does not answer on port $HARK_PORT yet; see $LOG_DIR/hark-server.log"
}

provision() {  # the model pull and warm-up, while the server already answers /status
  step "model pull"
  if pull_model; then
    step "model load"
    write_state pulling-model "loading $HARK_LLM_MODEL" 1.0
    warm_up
    step "whisper download"
    fetch_whisper
    step
    wait_for_server
    write_state ready "ready"
    log "ready"
  else
    log "the model pull failed; the server keeps running (see /status)"
  fi
}

stop_all() {
  log "stopping"
  if ((${#SUPERVISORS[@]})); then
    kill -TERM "${SUPERVISORS[@]}" 2>/dev/null || true
    wait "${SUPERVISORS[@]}" 2>/dev/null || true
  fi
  exit 0
}

main() {
  if [[ "${1:-run}" == install ]]; then
    INSTALL_ONLY=1
    install_system
    install_ollama
    install_hark
    return 0
  fi
  mkdir -p "$HARK_HOME" "$LOG_DIR"
  trap stop_all TERM INT
  write_state starting "starting"
  check_secrets
  install_system
  install_hark
  step "ollama start"
  install_ollama
  start_ollama
  SERVING=1
  start_server
  step
  log "Hark server starting on port $HARK_PORT; pulling $HARK_LLM_MODEL"
  provision &
  SUPERVISORS+=($!)
  # Wait here (signals are handled at once while waiting); the supervisors never return.
  wait "${SUPERVISORS[@]}" || true
  fail "the supervisors stopped; see $LOG_DIR"
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  main "$@"
fi
