# The HTML report of `attest verify --html` (verify/html.c): one well-formed,
# self-contained page for an honest replayed run, a forged one, a log without
# steps, a log that could not be checked, a TPM-anchored run, and a log whose
# strings try to inject markup; then a real browser (headless Chromium)
# renders one and the test reads back its DOM and a screenshot.
. "$(dirname "$0")/lib.bash"
BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD="$PWD/$BUILD" ;; esac
REPO=$PWD
SMALL=(--steps 12 --ckpt-every 4 --seal-every 5 --batch 4 --threads 2 --code "$REPO")
NONCE=00112233445566778899aabbccddeeff
PY=/usr/bin/python3

# page NAME RC DIR [verify options]: attest verify DIR's run with --html $T/NAME.html.
page() {
    local name=$1 want=$2 dir=$3
    shift 3
    expect "verify --html writes the $name report (exit $want)" "$want" \
        "$ATTEST" verify "$dir/run.log" --pub "$dir/run.pub" --quiet --html "$T/$name.html" "$@"
    assert "  ... the $name page exists" test -s "$T/$name.html"
}

"$BUILD/train_gpt" --out "$T/honest" "${SMALL[@]}" >/dev/null 2>"$T/err" || nok "train_gpt records a run"
page honest 0 "$T/honest" --replay all --nonce $NONCE
"$BUILD/tests/forge_gpt" --out "$T/forged" "${SMALL[@]}" --forge edit-loss:6 >/dev/null 2>"$T/err" ||
    nok "forge_gpt records a run with an edited loss"
page forged 1 "$T/forged" --replay all

# A run whose origin and records carry markup: first sealed with no steps
# (verified), then with a forged frame after the seal whose type is markup,
# which the verifier names in its failure reason.
mkdir "$T/evil"
"$ATTEST" keygen '<script>alert(1)</script>' -o "$T/evil/run" >/dev/null
"$ATTEST" log init "$T/evil/run.log" --key "$T/evil/run.key" >/dev/null
"$ATTEST" record note "$T/evil/run.log" '<script>alert(2)</script>' >/dev/null
"$ATTEST" log seal "$T/evil/run.log" --key "$T/evil/run.key" >/dev/null
page nosteps 0 "$T/evil"
"$PY" - "$T/evil/run.log" <<'PY'
import hashlib, struct, sys
rec = b'{"type":"<img src=x onerror=alert(3)>"}'
frame = struct.pack("<I", len(rec)) + rec + hashlib.sha256(b"\0" + rec).digest()[:8]
open(sys.argv[1], "ab").write(frame)
PY
page evil 1 "$T/evil"
assert "  ... its failure reason names the markup" grep -q "onerror=alert(3)" "$T/out"

mkdir "$T/missing"
cp "$T/honest/run.pub" "$T/missing/"
page missing 2 "$T/missing"

if command -v swtpm >/dev/null; then
    mkdir "$T/tpm-run"
    TCTI=$(scripts/swtpm start "$T/tpm") || nok "swtpm starts"
    trap 'scripts/swtpm stop "$T/tpm"; rm -rf "$T"' EXIT
    "$ATTEST" keygen example.com/html-tpm -o "$T/tpm-run/run" >/dev/null
    ATTEST_TCTI="$TCTI" "$BUILD/record_minimal" "$T/tpm-run" >/dev/null 2>"$T/err" ||
        nok "record_minimal records with a TPM"
    page tpm 0 "$T/tpm-run"
else
    ok "TPM-anchored report # SKIP swtpm not installed"
fi

# check.py PAGE KIND: one TAP line per property of a page.
cat >"$T/check.py" <<'PY'
import html.parser, re, sys

path, kind = sys.argv[1], sys.argv[2]
raw = open(path, "rb").read()
VOID = {"meta", "br", "hr", "img", "input", "link", "wbr", "col", "area", "base", "source"}

def check(name, cond):
    print(("ok - " if cond else "not ok - ") + kind + ": " + name)

class Parser(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack, self.errors, self.tags, self.refs, self.text = [], [], [], [], []
        self.svg_titles, self.doctype = [], None
    def handle_decl(self, decl):
        self.doctype = decl
    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        for k, v in attrs:
            if k in ("src", "href", "xlink:href", "action", "formaction", "data", "poster") or \
                    k.startswith("on") or "url(" in (v or ""):
                self.refs.append((tag, k, v))
        if tag not in VOID:
            self.stack.append(tag)
    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self.stack.pop()
    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append("</%s> closes <%s>" % (tag, self.stack[-1] if self.stack else ""))
        else:
            self.stack.pop()
    def handle_data(self, data):
        self.text.append(data)
        if self.stack and self.stack[-1] == "title" and "svg" in self.stack:
            self.svg_titles.append(data)

try:
    page = raw.decode("utf-8")
    check("is UTF-8", True)
except UnicodeDecodeError:
    check("is UTF-8", False)
    page = raw.decode("utf-8", "replace")
p = Parser()
p.feed(page)
p.close()
check("starts with <!DOCTYPE html>", page.startswith("<!DOCTYPE html>") and p.doctype == "DOCTYPE html")
check("declares its charset as utf-8", '<meta charset="utf-8">' in page)
check("every element is closed in order" + (" (%s)" % p.errors[:3] if p.errors else ""),
      not p.errors and not p.stack)
check("has no script, link, img, iframe, object or embed element",
      not set(p.tags) & {"script", "link", "img", "iframe", "object", "embed", "base", "audio", "video"})
check("references only fragments of itself (%s)" % p.refs[:3],
      all(re.fullmatch(r"url\(#[a-z]+\)", v or "") for _, k, v in p.refs))
check("names no http:// or https:// address", "http://" not in page and "https://" not in page)
check("has no CSS import", "@import" not in page)
text = " ".join(p.text)
svgs = p.tags.count("svg")
plots = {"Timeline of the run", "Training loss", "Weight change per checkpoint segment",
         "Replay error per segment", "TPM clock vs claimed time"}
want = {
    "honest": ("VERIFIED", plots - {"TPM clock vs claimed time"}),
    "forged": ("FAILED", plots - {"TPM clock vs claimed time"}),
    "tpm": ("VERIFIED", {"Timeline of the run", "Training loss", "TPM clock vs claimed time"}),
    "nosteps": ("VERIFIED", set()),
    "evil": ("FAILED", set()),
    "missing": ("ERROR", set()),
}[kind]
check("says %s" % want[0], re.search(r"\b%s\b" % want[0], text) is not None)
check("has the plots %s" % sorted(want[1]), want[1] <= set(p.svg_titles) and
      set(p.svg_titles) <= plots and svgs == len(p.svg_titles) + 1)
if kind == "honest":
    check("shows the nonce, the challenge and the detection probabilities",
          "given: the challenge mixes" in text and "Detection probability" in text and
          "57.8%" in text and "bit-exact" in text)
    check("plots use log scales where the data spans decades", "(log scale)" in text)
    check("says where replay ran and that every segment was checked for plausibility",
          "(bit for bit), on cpu" in text and
          re.search(r"Plausibility: \d+ segment\(s\) checked without replay against the AdamW "
                    r"bound and the movement floor; none implausible", text) is not None)
if kind == "forged":
    check("gives the failure reason", "step 6: loss logged" in text)
    check("marks the failed segment in the plots", "replayed: FAILED" in text)
    check("warns that no nonce was given", "NONE: the challenge comes from the last seal" in text)
if kind == "nosteps":
    check("says there is no training to show", "no step and no checkpoint records" in text and
          "No loss curve" in text and "not TPM-anchored" in text)
if kind == "evil":
    check("shows the markup as text", "<script>alert(1)</script>" in text and
          "<img src=x onerror=alert(3)>" in text)
    check("escapes it", "&lt;script&gt;alert(1)&lt;/script&gt;" in page and
          "<script" not in page and "<img" not in page)
if kind == "missing":
    check("says the log could not be checked", "could not be checked" in text)
if kind == "tpm":
    check("shows the TPM anchoring", "TPM-anchored: 2 of 2 seals" in text)
PY
for kind in honest forged nosteps evil missing tpm; do
    [ -s "$T/$kind.html" ] && "$PY" "$T/check.py" "$T/$kind.html" $kind
done

# A real browser: the DOM it builds and what it draws.
CHROME=$(command -v chromium || command -v chromium-browser)
if [ -z "$CHROME" ]; then
    ok "headless Chromium renders the report # SKIP no chromium"
    exit 0
fi
mkdir -p "$T/home" "$BUILD/artifacts"
chrome() {
    HOME="$T/home" timeout 60 "$CHROME" --headless --no-sandbox --disable-gpu \
        --user-data-dir="$T/home/profile" --no-first-run --hide-scrollbars "$@" 2>>"$T/chrome.err"
}
chrome --dump-dom "file://$T/honest.html" >"$T/dom.html"
assert "Chromium renders the honest report" test -s "$T/dom.html"
assert "  ... its DOM says VERIFIED" grep -q "VERIFIED" "$T/dom.html"
assert "  ... with five <svg> elements (four plots and the patterns)" \
    test "$(grep -o '<svg' "$T/dom.html" | wc -l)" -eq 5
for t in "Timeline of the run" "Training loss" "Weight change per checkpoint segment" \
    "Replay error per segment"; do
    assert "  ... with the plot titled \"$t\"" grep -q "<title>$t</title>" "$T/dom.html"
done
chrome --dump-dom "file://$T/evil.html" >"$T/dom-evil.html"
assert "Chromium renders the injected markup as text, not elements" \
    "$PY" -c 'import sys; d = open(sys.argv[1]).read()
assert "FAILED" in d and "&lt;script&gt;alert(1)" in d, d[:300]
assert d.count("<script") == 0 and d.count("<img") == 0' "$T/dom-evil.html"

rm -f "$BUILD/artifacts/report.png"
(cd "$T" && chrome --screenshot="$BUILD/artifacts/report.png" --window-size=1000,2600 \
    "file://$T/forged.html" >/dev/null)
assert "Chromium screenshots the forged run's report (\$BUILD/artifacts/report.png)" \
    test -s "$BUILD/artifacts/report.png"
# Decodes the PNG (zlib, PNG filters) and checks it shows a page: mostly white,
# with the verdict's red and some of every plot's colors.
assert "  ... the screenshot is a drawn page, not a blank one" "$PY" - "$BUILD/artifacts/report.png" <<'PY'
import struct, sys, zlib
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n"
pos, idat = 8, b""
while pos < len(data):
    n, typ = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + n]
    if typ == b"IHDR":
        w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
    if typ == b"IDAT":
        idat += body
    pos += 12 + n
assert depth == 8 and ctype in (2, 6), (depth, ctype)
bpp = 3 if ctype == 2 else 4
raw, stride = zlib.decompress(idat), w * bpp
prev, colors, white = bytearray(stride), {}, 0
for y in range(h):
    f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
    for i in range(stride):
        a = line[i - bpp] if i >= bpp else 0
        b, c = prev[i], prev[i - bpp] if i >= bpp else 0
        if f == 1: line[i] = (line[i] + a) & 255
        elif f == 2: line[i] = (line[i] + b) & 255
        elif f == 3: line[i] = (line[i] + (a + b) // 2) & 255
        elif f == 4:
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    prev = line
    if y % 4 == 0:
        for x in range(0, w, 4):
            px = bytes(line[x * bpp:x * bpp + 3])
            colors[px] = colors.get(px, 0) + 1
total = sum(colors.values())
white = colors.get(b"\xff\xff\xff", 0)
red = sum(v for k, v in colors.items() if k[0] > 150 and k[1] < 80 and k[2] < 80)
assert w == 1000 and h == 2600, (w, h)
assert 0.3 < white / total < 0.98, white / total
assert len(colors) > 50 and red > 20, (len(colors), red)
PY
