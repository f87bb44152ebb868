#!/usr/bin/env bash
# Records a CPU profile of a Tessera command with `perf record -g` and writes a text report of the
# hottest symbols, Swift names demangled.
#
#   Profiles/perf-record.sh [-o DIR] [-n TOP] [-F HZ] [-g fp|dwarf|lbr] -- COMMAND [ARGS...]
#
#   Profiles/perf-record.sh -o out/perf -- \
#     .build/release/tessera bench --heads 8 --seq 4096 --dim 128 --threads 1 --iterations 2
#
# Writes into DIR (default out/perf, ignored by git):
#   perf.data          the raw profile (open it again with `perf report -i DIR/perf.data`)
#   top-symbols.txt    the TOP hottest symbols by self time, demangled, with their module
#   report.txt         the full `perf report --stdio` (self time, call graphs), demangled
#   stacks.folded      one line per unique stack, "frame;frame;... count", root first (input
#                      for flamegraph.pl, speedscope, inferno); kernel frames end in _[k]
#   flame.svg          the flame graph of stacks.folded (Profiles/flamegraph.py, python3; open
#                      it in a browser to hover for names and sample counts)
#   meta.txt           command, event, perf version, host
#
# Event: `cycles` when the machine exposes hardware counters, otherwise the software clock
# `cpu-clock` (virtual machines and containers often have no PMU; `perf stat -e cycles` then
# prints "<not supported>" and still exits 0, so the script reads the count, not the status).
# Call graphs: frame pointers by default (cheap; Swift on Linux keeps them); `-g dwarf` unwinds
# from stack copies when a frame shows up without callers.
#
# Needs: perf (Debian: `apt-get install -y linux-perf`), and `swift demangle` from the toolchain
# (without it the report keeps mangled `$s7Tessera...` names). Run as root or with
# kernel.perf_event_paranoid <= 1.
set -euo pipefail

out=out/perf
top=25
freq=999
callgraph=fp

usage() {
  sed -n '2,29p' "$0" | sed 's/^# \{0,1\}//'
  exit "${1:-2}"
}

while [[ $# -gt 0 ]]; do
  case "$1" in
    -o) out="$2"; shift 2 ;;
    -n) top="$2"; shift 2 ;;
    -F) freq="$2"; shift 2 ;;
    -g) callgraph="$2"; shift 2 ;;
    -h|--help) usage 0 ;;
    --) shift; break ;;
    -*) echo "perf-record.sh: unknown option $1" >&2; usage ;;
    *) break ;;
  esac
done
[[ $# -gt 0 ]] || { echo "perf-record.sh: no command to profile" >&2; usage; }
[[ "$top" =~ ^[0-9]+$ && "$top" -gt 0 ]] || { echo "perf-record.sh: -n wants a count, got '$top'" >&2; exit 2; }

if ! command -v perf >/dev/null 2>&1; then
  echo "perf-record.sh: perf not found; on Debian: apt-get install -y linux-perf" >&2
  exit 1
fi

# Hardware cycles, or the software clock when the PMU is missing. CSV mode (-x,) puts the count
# first: a number when counted, "<not supported>" / "<not counted>" otherwise.
event=cpu-clock
if count=$(perf stat -x, -e cycles true 2>&1 >/dev/null | awk -F, '/cycles/ { print $1; exit }') &&
  [[ "$count" =~ ^[0-9]+$ ]]; then
  event=cycles
fi

demangle() {
  if command -v swift >/dev/null 2>&1 && swift demangle --simplified </dev/null >/dev/null 2>&1; then
    swift demangle --simplified
  else
    cat
  fi
}

mkdir -p "$out"
data="$out/perf.data"
{
  echo "command:   $*"
  echo "event:     $event (frequency $freq Hz, call graph $callgraph)"
  echo "perf:      $(perf --version)"
  echo "host:      $(uname -srm), $(nproc) CPUs"
  echo "date:      $(date -u +%Y-%m-%dT%H:%M:%SZ)"
} >"$out/meta.txt"
cat "$out/meta.txt"

echo "== perf record ($event) =="
perf record -e "$event" -F "$freq" --call-graph "$callgraph" -o "$data" -- "$@"

# Self time per symbol, one line each: "  41.23%  tessera  [.] $s7Tessera11FlashKernelO...".
perf report -i "$data" --stdio --no-children --sort dso,symbol -g none --percent-limit 0 \
  2>/dev/null | demangle >"$out/self.txt"
perf report -i "$data" --stdio --no-children --sort dso,symbol 2>/dev/null | demangle \
  >"$out/report.txt"

{
  printf '%-8s  %-24s  %s\n' "self" "module" "symbol"
  awk '/^ +[0-9.]+%/ {
         pct = $1; dso = $2; $1 = ""; $2 = ""; $3 = ""
         sub(/^ +/, ""); sub(/([ \t]+-)*[ \t]*$/, "")
         printf "%-8s  %-24s  %s\n", pct, dso, $0
       }' "$out/self.txt" | head -n "$top"
} >"$out/top-symbols.txt"
rm -f "$out/self.txt"

# Folded stacks: perf script prints each sample as a header line and then its frames, innermost
# first, one per line ("<tab>addr symbol (module)"), ended by a blank line. The module is cut
# off; frames of the OS kernel keep a "_[k]" suffix (flamegraph.pl's convention) so renderers
# can colour them apart.
perf script -i "$data" -F comm,ip,sym,dso 2>/dev/null | demangle | awk '
  function flush() {
    if (n > 0) {
      s = comm
      for (i = n; i >= 1; i--) s = s ";" frames[i]
      counts[s]++
    }
    n = 0
  }
  /^[^ \t]/ { flush(); comm = $1; next }
  /^[ \t]*$/ { flush(); next }
  {
    line = $0
    sub(/^[ \t]+[0-9a-f]+ /, "", line)
    kernel = (line ~ / \(\[kernel\.kallsyms\]\)$/)
    sub(/ \([^()]*\)$/, "", line)
    sub(/\+0x[0-9a-f]+$/, "", line)
    if (kernel) line = line "_[k]"
    gsub(/;/, ":", line)
    frames[++n] = line
  }
  END { flush(); for (s in counts) print s, counts[s] }
' | sort >"$out/stacks.folded"

# Flame graph: the renderer next to this script, standard-library Python only.
written="perf.data,top-symbols.txt,report.txt,stacks.folded,meta.txt"
if command -v python3 >/dev/null 2>&1 && [[ -s "$out/stacks.folded" ]]; then
  python3 "$(dirname "$0")/flamegraph.py" -o "$out/flame.svg" \
    --title "tessera: $(basename "${1}") ${*:2}" "$out/stacks.folded" &&
    written="$written,flame.svg"
else
  echo "perf-record.sh: no python3 or no stacks: flame.svg not written" >&2
fi

echo "== top $top symbols by self time ($event) =="
cat "$out/top-symbols.txt"
echo "== written: $out/{$written} =="
