#!/usr/bin/env bash
# Hark GPU box: start-up script (the instance's onstart, or the image's entrypoint).
#
# Installs what is missing (Ollama, Hark's server in a venv), starts Ollama on 127.0.0.1 with
# its models on the persistent disk, starts `hark server` (uvicorn + Caddy, the only public
# port), pulls the LLM while writing its progress into the state file that /status shows, and
# restarts Ollama and the server whenever they stop. See remote/image/README.md for the
# environment it reads. Secrets never reach the log: no `set -x`, no echo of values.
#
#   onstart.sh          install what is missing, then run and supervise (default)
#   onstart.sh install  install only (used when building the image)
set -euo pipefail
umask 077

HARK_HOME=${HARK_HOME:-/workspace/hark}
HARK_PORT=${HARK_PORT:-8443}
HARK_LLM_MODEL=${HARK_LLM_MODEL:-llama3.1:8b}
HARK_WHISPER_MODEL=${HARK_WHISPER_MODEL:-}
HARK_VERSION=${HARK_VERSION:-}
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
SUPERVISORS=()
INSTALL_ONLY=0

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

fail() {  # fail MESSAGE: record the failure for /status and stop
  write_state failed "$1"
  log "FAILED: $1"
  exit 1
}

join_b64_env() {  # join_b64_env PREFIX OUT: join PREFIX_0, PREFIX_1, … and base64-decode to OUT
  local prefix=$1 out=$2 i=0 name data=""
  while true; do
    name="${prefix}_${i}"
    [[ -n "${!name+x}" ]] || break
    data+="${!name}"
    i=$((i + 1))
  done
  if ((i == 0)); then return 1; fi
  mkdir -p "$(dirname "$out")"
  if ! printf '%s' "$data" | tr -d ' \n\r' | base64 -d >"$out.tmp" 2>/dev/null; then
    rm -f "$out.tmp"
    log "${prefix}_0..$((i - 1)) do not hold valid base64"
    return 2
  fi
  chmod 600 "$out.tmp"
  mv -f "$out.tmp" "$out"
}

unset_prefixed() {  # unset_prefixed PREFIX: forget PREFIX_0, PREFIX_1, … (no child sees them)
  local name
  for name in $(compgen -v "${1}_"); do unset "$name"; done
}

write_secrets() {  # the API key and the TLS pair from the environment into 0600 files
  mkdir -p "$SECRETS"
  chmod 700 "$SECRETS"
  if [[ -n "${HARK_API_KEY:-}" ]]; then
    printf '%s\n' "$HARK_API_KEY" | tr ',' '\n' >"$SECRETS/api-keys.tmp"
    chmod 600 "$SECRETS/api-keys.tmp"
    mv -f "$SECRETS/api-keys.tmp" "$SECRETS/api-keys"
  fi
  unset HARK_API_KEY
  [[ -s "$SECRETS/api-keys" ]] || fail "no API key: set HARK_API_KEY for the instance"
  local rc=0
  join_b64_env HARK_TLS_CERT_B64 "$SECRETS/tls.pem" || rc=$?
  ((rc != 2)) || fail "HARK_TLS_CERT_B64_* is not valid base64"
  rc=0
  join_b64_env HARK_TLS_KEY_B64 "$SECRETS/tls.key" || rc=$?
  ((rc != 2)) || fail "HARK_TLS_KEY_B64_* is not valid base64"
  unset_prefixed HARK_TLS_CERT_B64
  unset_prefixed HARK_TLS_KEY_B64
  if [[ -z "$HARK_DOMAIN" && ! (-s "$SECRETS/tls.pem" && -s "$SECRETS/tls.key") ]]; then
    fail "no TLS certificate: set HARK_TLS_CERT_B64_0.. and HARK_TLS_KEY_B64_0.. (or HARK_DOMAIN)"
  fi
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

hark_requirement() {  # what to pip-install for HARK_VERSION (empty: latest; a version; a URL)
  if [[ -z "$HARK_VERSION" ]]; then
    printf 'hark-assistant[server]'
  elif [[ "$HARK_VERSION" =~ ^[0-9][0-9A-Za-z.+!-]*$ ]]; then
    printf 'hark-assistant[server]==%s' "$HARK_VERSION"
  else
    printf '%s' "$HARK_VERSION"  # a full requirement: "hark-assistant[server] @ git+https://…"
  fi
}

install_hark() {  # Hark's server in a venv (Python 3.12 via uv: any base image will do)
  local req marker="$HARK_VENV/.hark-requirement" extra=()
  req=$(hark_requirement)
  if [[ -x "$HARK_VENV/bin/hark" && -f "$marker" && "$(cat "$marker")" == "$req" ]]; then
    return 0
  fi
  write_state starting "installing the Hark server"
  export PATH="$HOME/.local/bin:$HOME/.cargo/bin:$PATH"
  if ! command -v uv >/dev/null; then
    curl -LsSf https://astral.sh/uv/install.sh | env UV_NO_MODIFY_PATH=1 sh >/dev/null ||
      fail "could not install uv"
  fi
  if [[ "$HARK_CUDA_LIBS" == yes ]] || { [[ "$HARK_CUDA_LIBS" == auto ]] && have_gpu; }; then
    extra=(nvidia-cublas-cu12 "nvidia-cudnn-cu12==9.*")  # what faster-whisper needs on CUDA
  fi
  log "installing $req"
  uv venv --quiet --allow-existing --python 3.12 "$HARK_VENV" || fail "could not create $HARK_VENV"
  uv pip install --quiet --python "$HARK_VENV/bin/python" "$req" "${extra[@]}" ||
    fail "could not install $req"
  printf '%s' "$req" >"$marker"
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
  local args=(server --listen "0.0.0.0:$HARK_PORT" --api-key-file "$SECRETS/api-keys"
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

provision() {  # the model pull and warm-up, while the server already answers /status
  if pull_model; then
    write_state pulling-model "loading $HARK_LLM_MODEL" 1.0
    warm_up
    fetch_whisper
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
  write_secrets
  install_system
  install_ollama
  install_hark
  start_ollama
  start_server
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
