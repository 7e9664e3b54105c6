"""Live relay rate: WebSocket messages per second through mitmdump, without and with the inspector addon.

    python bench/bench_live.py [--messages 4000] [--size 64] [--repeat 3]

One websockets server and one websockets client on 127.0.0.1 (this process); the client sends ``--messages``
text messages of ``--size`` bytes as fast as the socket takes them, through a mitmdump reverse proxy.  Two
rates: msg/s = messages / (time from the first send until the server has received the last), and msg/CPU-s =
messages / CPU seconds the mitmdump process spent on them (/proc; steadier than wall clock on a shared
machine, and what the addon adds to; its resolution is a clock tick, too coarse for the raw TCP relay
rows).  The ratios pair each round's configurations (they run back to back) and take the median over
rounds, which absorbs the load other processes put on a shared machine.  Rows, interleaved per round, best of
``--repeat`` rounds:

* direct: no proxy (the peers' own ceiling);
* mitmdump: plain mitmdump, mitmproxy's WebSocket layer (the anchor for message mode);
* mitmdump + no-op script (floor): a script addon whose ``websocket_message`` does nothing: what mitmproxy
  itself charges for dispatching hooks to any script addon;
* mitmdump + inspector (message mode): ``-s addons/inspector.py`` with a JSONL file and default logging;
* mitmdump websocket=false: plain mitmdump relaying the upgraded connection as raw TCP (the anchor for
  wire mode, which relays the same way);
* mitmdump + inspector (wire mode): ``--set inspector_wire=true``, every frame decoded.

mitmdump runs with its defaults (it prints a line per message; the addon's default ``inspector_log=summary``
does not); its output goes to a file.  "vs mitmdump" compares each row with plain mitmdump (the
target for the addon: >= 0.90); "vs anchor" compares each addon row with the same relay path without the
addon (wire mode against raw TCP relaying, which does no per-message work at all).  Never run as a test:
wall-clock figures on a shared machine are only comparable within one run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ADDON = REPO / "addons" / "inspector.py"
MITMDUMP = Path(sys.executable).parent / "mitmdump"
NOOP_SCRIPT = """
class Noop:
    def websocket_message(self, flow):
        pass


addons = [Noop()]
"""


class Proxy:
    def __init__(self, upstream_port: int, workdir: Path, args: list[str]) -> None:
        self.workdir = workdir
        self.log = workdir / "mitmdump.log"
        cmd = [str(MITMDUMP), "--listen-host", "127.0.0.1", "--listen-port", "0",
               "--mode", f"reverse:http://127.0.0.1:{upstream_port}", "--set", f"confdir={workdir / 'conf'}",
               *args]
        self.proc = subprocess.Popen(cmd, stdout=open(self.log, "wb"), stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, cwd=workdir)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            m = re.search(r"listening at \S*?:(\d+)", self.log.read_text(errors="replace"))
            if m:
                self.port = int(m.group(1))
                return
            if self.proc.poll() is not None:
                raise SystemExit(f"mitmdump failed:\n{self.log.read_text()}")
            time.sleep(0.05)
        raise SystemExit("mitmdump did not start")

    def cpu_seconds(self) -> float:
        """User + system CPU time of the mitmdump process so far (all threads), from /proc."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


async def measure(port: int, server_state: dict, messages: int, size: int) -> float:
    from websockets.asyncio.client import connect

    payload = "x" * size
    done = asyncio.Event()
    server_state.update(count=0, target=messages, done=done)
    async with connect(f"ws://127.0.0.1:{port}/bench", compression=None, ping_interval=None,
                       max_queue=None) as ws:
        start = time.perf_counter()
        for _ in range(messages):
            await ws.send(payload)
        await asyncio.wait_for(done.wait(), 300)
        elapsed = time.perf_counter() - start
    return messages / elapsed


async def run(args) -> None:
    from websockets.asyncio.server import serve

    state: dict = {}

    async def handler(ws):
        async for _ in ws:
            state["count"] += 1
            if state["count"] == state["target"]:
                state["done"].set()

    workroot = tempfile.TemporaryDirectory()
    tmp = workroot.name
    noop = Path(tmp) / "noop_addon.py"
    noop.write_text(NOOP_SCRIPT)
    configs = [
        ("direct", None, None),
        ("mitmdump", [], None),
        ("mitmdump + no-op script (floor)", ["-s", str(noop)], "mitmdump"),
        ("mitmdump + inspector (message mode)", ["-s", str(ADDON)], "mitmdump"),
        ("mitmdump websocket=false", ["--set", "websocket=false"], None),
        ("mitmdump + inspector (wire mode)", ["-s", str(ADDON), "--set", "inspector_wire=true"],
         "mitmdump websocket=false"),
    ]
    best: dict[str, float] = {}
    cpu_rates: dict[str, list[float]] = {name: [] for name, _, _ in configs}
    async with serve(handler, "127.0.0.1", 0, compression=None, ping_interval=None, max_queue=None) as server:
        port = server.sockets[0].getsockname()[1]
        for rnd in range(args.repeat):
            for name, extra, _ in configs:
                if extra is None:
                    rate = await measure(port, state, args.messages, args.size)
                else:
                    workdir = Path(tmp) / f"{rnd}-{len(best)}-{abs(hash(name))}"
                    workdir.mkdir()
                    inspector = "-s" in extra and extra[1] == str(ADDON)
                    if inspector:
                        extra = [*extra, "--set", f"inspector_jsonl={workdir / 'records.jsonl'}"]
                    proxy = Proxy(port, workdir, extra)
                    try:
                        await measure(proxy.port, state, 200, args.size)  # warm-up (imports, first flow)
                        cpu0 = proxy.cpu_seconds()
                        rate = await measure(proxy.port, state, args.messages, args.size)
                        cpu = proxy.cpu_seconds() - cpu0
                    finally:
                        proxy.stop()
                    per_cpu = args.messages / cpu if cpu > 0 else float("inf")
                    cpu_rates[name].append(per_cpu)
                    if inspector:
                        lines = (workdir / "records.jsonl").read_text().count('"type":"message"')
                        if lines < args.messages:
                            raise SystemExit(f"{name}: only {lines} message records for {args.messages}")
                best[name] = max(best.get(name, 0.0), rate)
                cpu_note = f", {cpu_rates[name][-1]:,.0f} msg per mitmdump CPU-second" if cpu_rates[name] else ""
                print(f"  round {rnd + 1}: {name}: {rate:,.0f} msg/s{cpu_note}", file=sys.stderr)

    workroot.cleanup()

    def paired(name: str, anchor: str) -> str:
        """Median over rounds of this round's CPU rate / the anchor's in the same round."""
        ratios = [a / b for a, b in zip(cpu_rates[name], cpu_rates[anchor])]
        return f"{statistics.median(ratios):.2f}" if ratios else ""

    print(f"\n{args.messages} text messages of {args.size} bytes, client -> mitmdump (reverse) -> server, "
          f"{args.repeat} rounds; Python {sys.version.split()[0]}, mitmproxy {mitmproxy_version()}")
    print("msg/s: best round; msg/CPU-s: median; ratios: median of the per-round paired CPU ratios")
    print(f"{'configuration':<38} {'msg/s':>8} {'msg/CPU-s':>10} {'vs mitmdump':>12} {'vs anchor':>10}")
    for name, _, anchor in configs:
        cpu = f"{statistics.median(cpu_rates[name]):,.0f}" if cpu_rates[name] else ""
        vs_plain = paired(name, "mitmdump") if cpu_rates[name] else ""
        ratio = paired(name, anchor) if anchor else ""
        print(f"{name:<38} {best[name]:>8,.0f} {cpu:>10} {vs_plain:>12} {ratio:>10}")


def mitmproxy_version() -> str:
    out = subprocess.run([str(MITMDUMP), "--version"], capture_output=True, text=True).stdout
    m = re.search(r"Mitmproxy: (\S+)", out)
    return m.group(1) if m else "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=4000)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if not MITMDUMP.exists():
        raise SystemExit(f"no mitmdump next to {sys.executable}")
    os.environ.pop("http_proxy", None)
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
