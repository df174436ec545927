# make install honours PREFIX and DESTDIR; the installed headers compile
# alone; a program builds against the installed attest.pc and runs.
. "$(dirname "$0")/lib.bash"
REPO=$PWD
DEST="$T/dest"
if make -s -C "$REPO" install BUILD="$BUILD" DESTDIR="$DEST" PREFIX=/opt/attest >"$T/out" 2>"$T/err"; then
    ok "make install with DESTDIR and PREFIX"
else
    nok "make install with DESTDIR and PREFIX"
fi
for f in bin/attest lib/libattest.a lib/libattest.so lib/libattest.so.0 lib/pkgconfig/attest.pc \
    include/attest/attest.h include/attest/log.h; do
    assert "installs /opt/attest/$f" test -e "$DEST/opt/attest/$f"
done
assert "attest.pc names the install prefix" grep -qx 'prefix=/opt/attest' "$DEST/opt/attest/lib/pkgconfig/attest.pc"
assert "libattest.so has its SONAME" sh -c "readelf -d '$DEST/opt/attest/lib/libattest.so' | grep -q 'SONAME.*libattest.so.0'"
assert "libattest.so exports the API and hides the internals" sh -c \
    "nm -D --defined-only '$DEST/opt/attest/lib/libattest.so' | grep -q ' attest_log_open$' &&
     ! nm -D --defined-only '$DEST/opt/attest/lib/libattest.so' | grep -q 'attest_rules_'"

all=1
for h in "$DEST"/opt/attest/include/attest/*.h; do
    printf '#include "attest/%s"\nint header_compiles;\n' "$(basename "$h")" >"$T/h.c"
    cc -std=c11 -Wall -Wextra -Wpedantic -Werror -I"$DEST/opt/attest/include" -c "$T/h.c" -o "$T/h.o" 2>"$T/err" || { all=0; echo "# $h"; }
done
[ $all = 1 ] && ok "every public header compiles alone" || nok "every public header compiles alone"

cat >"$T/prog.c" <<'C'
#include <attest/attest.h>
#include <stdio.h>
int main(void)
{
    uint8_t leaf[ATTEST_HASH_SIZE];
    attest_merkle_leaf_hash(leaf, "", 0);
    printf("%02x%02x %s\n", leaf[0], leaf[1], attest_strerror(ATTEST_EVERIFY));
    return 0;
}
C
export PKG_CONFIG_PATH="$DEST/opt/attest/lib/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$DEST"
# The sanitizer build's library needs its runtime linked in.
case "$BUILD" in *sanitize*) SAN="-fsanitize=address,undefined" ;; *) SAN="" ;; esac
if cc $SAN -o "$T/prog" "$T/prog.c" $(pkg-config --cflags --libs attest) 2>"$T/err" &&
    LD_LIBRARY_PATH="$DEST/opt/attest/lib" "$T/prog" >"$T/out" 2>"$T/err"; then
    ok "a program builds and links against the installed library"
else
    nok "a program builds and links against the installed library"
fi
assert "it runs the installed code" grep -qx "6e34 verification failed" "$T/out"
make -s -C "$REPO" uninstall BUILD="$BUILD" DESTDIR="$DEST" PREFIX=/opt/attest >/dev/null 2>&1
assert "make uninstall removes the files" test ! -e "$DEST/opt/attest/lib/libattest.so" -a ! -e "$DEST/opt/attest/bin/attest"
