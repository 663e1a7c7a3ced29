#!/usr/bin/env bash
# Install truth: set jupyter_speechcustom up from nothing in a brand-new virtual environment
# with scripts/setup.sh, then smoke-test it through its console script. Fails if any import
# of the package needs a distribution that pyproject.toml does not declare.
#
#   scripts/fresh_env_check.sh        (make check-install runs it; make test depends on that)
#
# Steps, each timed:
#   1. copy the working tree (tracked and untracked, not ignored files: no .setup/ stamp, no
#      egg-info, no caches) into a temporary folder, so setup.sh's pip stamp cannot skip the
#      install and the real checkout is not touched;
#   2. `python3 -m venv` there (no --system-site-packages);
#   3. scripts/setup.sh with PYTHON=<the venv's python> and an empty SPEECHCUSTOM_CACHE, so
#      torch, the package with its declared dependencies and the KenLM builders are all
#      installed or compiled afresh (pip's download/wheel cache is used);
#   4. checks in the venv: `pip check`; import the package; import every third-party module that
#      the package, tests, bench and notebooks name (scripts/check_imports.py); the Jupyter server
#      extension: `jupyter server extension list` shows it enabled (and OK) in the venv's own
#      sys-prefix config, and a `jupyter server` started from the venv with nothing but that config
#      answers GET /speechcustom/api/v1/models; then, with the venv's `speechcustom`, build a
#      custom LM from a corpus with numbers, units and OOV words (tests/fresh_env_corpus.txt),
#      transcribe a bundled demo recording with it and score it.
# The temporary folder is removed and the server stopped at the end, whatever happens
# (FRESH_ENV_KEEP=1 keeps the folder).
# Environment: PYTHON (interpreter the venv is made from; default python3), TMPDIR.
set -euo pipefail

now_us() { echo "${EPOCHREALTIME/./}"; }  # bash 5: microseconds since the epoch
elapsed() { local us=$(($(now_us) - $1)); printf '%d.%d' $((us / 1000000)) $((us % 1000000 / 100000)); }
t_all=$(now_us)

repo=$(cd "$(dirname "$0")/.." && pwd)
base_python=${PYTHON:-python3}
corpus_fixture=$repo/tests/fresh_env_corpus.txt
demo_test=jupyter_speechcustom/demo/data/domain/test

work=$(mktemp -d "${TMPDIR:-/tmp}/speechcustom-fresh-env.XXXXXX")
src=$work/src
venv=$work/venv
out=$work/out
current_step=""
timings=()
server_pid=""

# Stop the `jupyter server` of check_extension_served, if it runs: TERM, then KILL after 10 s.
stop_server() {
  [[ -n $server_pid ]] || return 0
  kill "$server_pid" 2>/dev/null || true
  local i
  for ((i = 0; i < 50; i++)); do
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.2
  done
  kill -9 "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
}

cleanup() {
  local rc=$?
  stop_server
  if [[ ${FRESH_ENV_KEEP:-0} == 1 ]]; then
    echo "fresh-env: kept $work"
  else
    local t0
    t0=$(now_us)
    rm -rf "$work"
    echo "fresh-env: removed $work in $(elapsed "$t0") s"
  fi
  if ((rc != 0)); then
    echo "fresh-env: FAILED${current_step:+ at step '$current_step'} (exit $rc); see the output above" >&2
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() {
  echo "fresh-env: $*" >&2
  exit 1
}

# step NAME COMMAND...: run COMMAND, print how long it took; a failure ends the check.
step() {
  current_step=$1
  shift
  echo "fresh-env: [$current_step] ..."
  local t0
  t0=$(now_us)
  "$@"
  local took
  took=$(elapsed "$t0")
  timings+=("$(printf '%-28s %7s s' "$current_step" "$took")")
  echo "fresh-env: [$current_step] done in $took s"
  current_step=""
}

[[ -f $corpus_fixture ]] || fail "missing the smoke-test corpus $corpus_fixture"

copy_tree() {
  mkdir -p "$src"
  if git -C "$repo" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    # Files as they are in the working tree (uncommitted changes included), minus ignored
    # ones and tracked files deleted from the tree.
    git -C "$repo" ls-files -z --cached --others --exclude-standard \
      | while IFS= read -r -d '' f; do if [[ -e $repo/$f || -L $repo/$f ]]; then printf '%s\0' "$f"; fi; done \
      | sort -zu | tar -C "$repo" --null -T - -cf - | tar -C "$src" -xf -
  else
    tar -C "$repo" --exclude=.git --exclude=.setup --exclude='*.egg-info' --exclude=__pycache__ \
      --exclude=build --exclude=dist -cf - . | tar -C "$src" -xf -
  fi
  [[ -f $src/pyproject.toml && -f $src/scripts/setup.sh ]] || fail "the copy of $repo has no pyproject.toml or scripts/setup.sh"
  [[ ! -e $src/.setup ]] || fail "the copy has a .setup/ stamp folder; it must start without one"
  echo "fresh-env: copied $(find "$src" -type f | wc -l) files into $src"
}

make_venv() {
  "$base_python" -m venv "$venv"
  [[ -x $venv/bin/python ]] || fail "no python in the new venv $venv"
  "$venv/bin/python" -c 'import sys; sys.exit(sys.prefix == sys.base_prefix)' || fail "$venv/bin/python is not a venv"
  echo "fresh-env: $("$venv/bin/python" --version) venv from $("$base_python" -c 'import sys; print(sys.executable)')"
}

run_setup() {
  mkdir -p "$work/cache"
  # An empty cache: `speechcustom setup` must compile lmplz and build_binary from scratch.
  # Each output line of setup.sh is stamped with the seconds since it started, which times its
  # phases (CPU torch, pip install -e ".[test]", compiling the KenLM builders).
  local t0
  t0=$(now_us)
  (cd "$src" && env -u SPEECHCUSTOM_KENLM_BIN PATH="$venv/bin:$PATH" \
    PYTHON="$venv/bin/python" SPEECHCUSTOM_CACHE="$work/cache" bash scripts/setup.sh 2>&1) \
    | while IFS= read -r line; do printf '  [setup +%6s s] %s\n' "$(elapsed "$t0")" "$line"; done
  for tool in lmplz build_binary; do
    find "$work/cache" -type f -name "$tool" -perm -u+x | grep -q . || fail "setup.sh did not compile $tool into $work/cache"
  done
  [[ -x $venv/bin/speechcustom ]] || fail "setup.sh did not install the speechcustom console script into $venv/bin"
}

# The smoke tests run with the venv first on PATH, from a neutral folder (not the copy's root,
# so `import jupyter_speechcustom` must come from the installed package), with the same cache.
in_venv() {
  (cd "$work" && env -u SPEECHCUSTOM_KENLM_BIN PATH="$venv/bin:$PATH" SPEECHCUSTOM_CACHE="$work/cache" "$@")
}

check_package_import() {
  local where
  where=$(in_venv "$venv/bin/python" -c 'import jupyter_speechcustom as p; print(p.__file__)') \
    || fail "'import jupyter_speechcustom' fails in the fresh venv"
  [[ $where == "$src"/* ]] || fail "jupyter_speechcustom imported from $where, not from the fresh install in $src"
  echo "fresh-env: import jupyter_speechcustom -> $where"
}

check_third_party_imports() {
  # The package's imports need [project] dependencies only; tests/, bench/ and notebooks/ may
  # also use the test and notebooks extras (setup.sh installs ".[test]").
  local dirs=("$src/jupyter_speechcustom")
  for d in tests bench notebooks; do
    if [[ -d $src/$d ]]; then dirs+=("$src/$d"); fi
  done
  in_venv "$venv/bin/python" "$src/scripts/check_imports.py" "${dirs[@]}"
}

check_pip_consistency() {
  in_venv "$venv/bin/python" -m pip check || fail "pip check: the fresh venv has conflicting requirements"
}

# The extension must be enabled by the venv's own config (what setup.sh wrote there), not by a
# user or system config of this machine, so only the venv's section of the listing counts.
check_extension_listed() {
  local env_config listing section
  env_config=$("$venv/bin/python" -c 'import jupyter_core.paths as p; print(p.ENV_CONFIG_PATH[0])')
  listing=$(in_venv "$venv/bin/jupyter" server extension list 2>&1 | sed 's/\x1b\[[0-9;]*m//g') \
    || fail "jupyter server extension list failed in the fresh venv"
  section=$(awk -v dir="Config dir: $env_config" '$0 == dir { on = 1; next } /^Config dir: / { on = 0 } on' <<<"$listing")
  if ! grep -Eq '^ *jupyter_speechcustom enabled$' <<<"$section" \
    || ! grep -Eq '^ *jupyter_speechcustom [^ ]+ OK$' <<<"$section"; then
    echo "$listing" >&2
    fail "jupyter server extension list does not show 'jupyter_speechcustom enabled' and OK under $env_config"
  fi
  echo "fresh-env: jupyter_speechcustom enabled and OK in $env_config"
}

# A `jupyter server` from the venv with its own config (only the runtime folder, the root folder
# and the service's workspace are set here) must serve the API: GET /speechcustom/api/v1/models.
check_extension_served() {
  local root=$work/jupyter token port info i
  mkdir -p "$root/runtime" "$root/files" "$root/workspace"
  token=$("$venv/bin/python" -c 'import secrets; print(secrets.token_hex(16))')
  port=$("$venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  # exec: the background job's pid is the server's (jupyter execs jupyter-server in place too).
  (cd "$work" && exec env -u SPEECHCUSTOM_KENLM_BIN PATH="$venv/bin:$PATH" SPEECHCUSTOM_CACHE="$work/cache" \
    JUPYTER_RUNTIME_DIR="$root/runtime" "$venv/bin/jupyter" server --no-browser --allow-root --ip=127.0.0.1 \
    --port="$port" --ServerApp.port_retries=0 --IdentityProvider.token="$token" \
    --ServerApp.root_dir="$root/files" --SpeechCustomService.workspace="$root/workspace") >"$root/server.log" 2>&1 &
  server_pid=$!
  # The server writes jpserver-PID.json to the runtime folder once it listens.
  info=$root/runtime/jpserver-$server_pid.json
  for ((i = 0; ; i++)); do
    [[ -s $info ]] && break
    if ! kill -0 "$server_pid" 2>/dev/null; then
      tail -n 40 "$root/server.log" >&2
      server_pid=""
      fail "jupyter server exited before it was ready; its log is above"
    fi
    ((i < 600)) || { tail -n 40 "$root/server.log" >&2; fail "jupyter server not ready after 120 s"; }
    sleep 0.2
  done
  echo "fresh-env: jupyter server (pid $server_pid) listening on 127.0.0.1:$port"
  "$venv/bin/python" - "http://127.0.0.1:$port/speechcustom/api/v1/models" "$token" <<'PY' \
    || { tail -n 40 "$root/server.log" >&2; fail "GET /speechcustom/api/v1/models failed; the server's log is above"; }
import json, sys, urllib.error, urllib.request
url, token = sys.argv[1], sys.argv[2]
request = urllib.request.Request(url, headers={"Authorization": f"token {token}"})
try:
    with urllib.request.urlopen(request, timeout=60) as response:
        status, kind, body = response.status, response.headers.get("Content-Type", ""), response.read()
except urllib.error.HTTPError as exc:  # 404: the extension is not loaded
    sys.exit(f"fresh-env: GET {url} -> {exc.code} {exc.reason}")
assert status == 200 and kind.startswith("application/json"), (status, kind)
models = json.loads(body).get("models")
assert isinstance(models, list) and models, body[:300]
print(f"fresh-env: GET {url} -> 200 JSON, {len(models)} models: {', '.join(m['name'] for m in models)}")
PY
  stop_server
}

nonempty() { [[ -s $1 ]] || fail "$2: $1 is missing or empty"; }

lm_build() {
  mkdir -p "$out"
  in_venv speechcustom lm build --base demo --corpus "$corpus_fixture" --out "$out/lm" --word-model
  for f in lm.json tokens.arpa corpus.txt words.arpa words.binary; do
    nonempty "$out/lm/$f" "speechcustom lm build"
  done
  # Numbers, units and symbols are spelled out (num2words); jargon is kept.
  if grep -q '[0-9]' "$out/lm/corpus.txt"; then fail "the normalized corpus $out/lm/corpus.txt still has digits"; fi
  grep -qw twenty "$out/lm/corpus.txt" || fail "the normalized corpus does not spell out 20 as 'twenty'"
  grep -qw kubectl "$out/lm/corpus.txt" || fail "the normalized corpus lost the OOV word 'kubectl'"
  echo "fresh-env: LM built: $(du -sh "$out/lm" | cut -f1), $(wc -l <"$out/lm/corpus.txt") normalized lines"
}

transcribe() {
  # A one-line manifest pointing at the first bundled demo test recording (absolute path).
  "$venv/bin/python" - "$src/$demo_test/manifest.json" "$out/one.json" <<'PY'
import json, sys
from pathlib import Path
manifest, dest = Path(sys.argv[1]), Path(sys.argv[2])
entry = json.loads(manifest.read_text(encoding="utf-8").splitlines()[0])
entry["audio_filepath"] = str((manifest.parent / entry["audio_filepath"]).resolve())
assert Path(entry["audio_filepath"]).is_file(), entry["audio_filepath"]
dest.write_text(json.dumps(entry) + "\n", encoding="utf-8")
PY
  in_venv speechcustom transcribe --base demo --lm "$out/lm" --manifest "$out/one.json" --out "$out/hyp.jsonl"
  nonempty "$out/hyp.jsonl" "speechcustom transcribe"
  "$venv/bin/python" - "$out/hyp.jsonl" <<'PY' || fail "speechcustom transcribe wrote no non-empty pred_text"
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1], encoding="utf-8") if line.strip()]
assert len(rows) == 1 and rows[0].get("pred_text", "").strip(), rows
print(f"fresh-env: pred_text: {rows[0]['pred_text']!r}")
PY
  echo "fresh-env: reference: $("$venv/bin/python" -c 'import json,sys; print(repr(json.load(open(sys.argv[1]))["text"]))' "$out/one.json")"
}

evaluate() {
  local summary
  summary=$(in_venv speechcustom evaluate --manifest "$out/one.json" --hyp "$out/hyp.jsonl" --json)
  echo "fresh-env: evaluate: $summary"
  "$venv/bin/python" -c 'import json, sys; s = json.loads(sys.argv[1]); assert 0 <= s["wer"] <= 1, s' "$summary" \
    || fail "speechcustom evaluate --json printed no WER between 0 and 1"
}

step "copy working tree" copy_tree
step "create venv" make_venv
step "setup.sh (fresh)" run_setup
step "import package" check_package_import
step "pip check" check_pip_consistency
step "third-party imports" check_third_party_imports
step "server extension listed" check_extension_listed
step "server extension served" check_extension_served
step "speechcustom lm build" lm_build
step "speechcustom transcribe" transcribe
step "speechcustom evaluate" evaluate

echo "fresh-env: all checks passed; timings:"
printf '  %s\n' "${timings[@]}"
printf '  %-28s %7s s\n' "total" "$(elapsed "$t_all")"
