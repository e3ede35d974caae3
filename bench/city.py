"""A city on one box (issue 17, item 6): community gateways, each with its own generated
community and simulator traffic on its own edge Mosquitto, bridged to one city Mosquitto;
`gridgate city run` on a real PostgreSQL. Scripted: the city link cut (the city broker
stopped) for --cut-s and restored, one gateway killed with -9 and restarted during the cut,
the city instance restarted. Scored: every event at the city exactly once and in order per
gateway, the city's KPIs equal to the sum of the gateways' own, the lag after the restore.

    .venv/bin/python -m bench.city                      # 20 gateways, a 5-minute cut
    .venv/bin/python -m bench.city --gateways 4 --cut-s 30 --warmup-s 30

Everything on 127.0.0.1 and free ports, in a temp folder; it stops what it started (by
pid) and exits 0 when every score holds, 1 otherwise. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import itertools
import json
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import yaml

from bench.gateway_run import REPO, Gateway, shipped_rules
from bench.procstat import rss_mb
from gateway.city.store import CityStore
from gateway.runtime.broker import LocalBroker, free_port
from tests.cityrig import Postgres, bridge_config

CITY_TOKEN = "bench-city-token-not-a-secret"  # noqa: S105  # a throwaway city on 127.0.0.1
DISTRICTS = [("d-xq", "兴庆区"), ("d-jf", "金凤区")]
STREETS = [("s-fh", "凤凰街道"), ("s-dx", "大新街道"), ("s-ly", "丽景街道"), ("s-mc", "满城街道")]


def say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def community_site(folder: Path, n: int) -> Path:
    """A generated community, its ids made city-wide: two districts, four streets, one
    community per gateway, every grid, building and unit id prefixed by its community."""
    raw = folder / "generated.yaml"
    subprocess.run(  # our own simulator
        [sys.executable, "-m", "simulator", "site", "--seed", str(n + 1), "--out", str(raw),
         "--grids", "2", "--buildings", "3", "--units", "2"],
        check=True, cwd=REPO, capture_output=True,
    )  # fmt: skip
    site = yaml.safe_load(raw.read_text(encoding="utf-8"))
    street_no = n % len(STREETS)
    district = site["district"]
    district["id"], district["name"] = DISTRICTS[street_no // 2]
    [street] = district["streets"]
    street["id"], street["name"] = STREETS[street_no]
    [community] = street["communities"]
    cid = f"c{n:02d}"
    community["id"] = cid
    community["name"] = f"{community['name']}{n:02d}"
    for grid in community["grids"]:
        grid["id"] = f"{cid}-{grid['id']}"
        for building in grid.get("buildings", []):
            building["id"] = f"{cid}-{building['id']}"
            for unit in building.get("units", []):
                unit["id"] = f"{cid}-{unit['id']}"
    path = folder / "site.yaml"
    path.write_text(yaml.safe_dump(site, allow_unicode=True, sort_keys=False), "utf-8")
    return path


@dataclass
class Community:
    n: int
    folder: Path
    edge: LocalBroker
    gateway: Gateway
    site: Path
    simulator: subprocess.Popen[bytes] | None = None
    acked: set[int] = field(default_factory=set)

    @property
    def gateway_id(self) -> str:
        return f"c{self.n:02d}"

    def seq(self) -> int:
        path = Path(self.gateway.env["GRIDGATE_STATE_DIR"]) / "gridgate.db"
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10) as db:
            return int(db.execute("SELECT coalesce(max(seq), 0) FROM outbox").fetchone()[0])

    def start_simulator(self, duration_s: float) -> None:
        log = (self.folder / "simulator.log").open("ab")
        incidents = []
        for at in range(
            10, int(duration_s), 90
        ):  # a door left open every 90 s, a smoke now and then
            incidents += ["--incident", f"door_left_open@{at}:40"]
            if at % 270 == 10:
                incidents += ["--incident", f"smoke@{at + 30}:20"]
        self.simulator = subprocess.Popen(  # our own simulator
            [sys.executable, "-m", "simulator", "run", "--site", str(self.site),
             "--seed", str(self.n + 1), "--topic-root", f"gw{self.n:02d}",
             "--host", "127.0.0.1", "--port", str(self.edge.port), "--duration-s",
             str(int(duration_s)), "--max-ordinary-open-s", "8", "--rate-scale", "0.5",
             *incidents],
            cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        log.close()

    def stop_simulator(self) -> None:
        process, self.simulator = self.simulator, None
        if process is not None and process.poll() is None:
            process.terminate()
            process.wait(timeout=10)

    def act(self) -> None:
        """A grid worker acknowledges every other new alert, and resolves it soon after."""
        try:
            alerts = self.gateway.http.get("/alerts", params={"limit": 200}).json()
        except httpx.HTTPError:
            return
        for a in alerts:
            if a["id"] in self.acked or a["id"] % 2:
                continue
            self.acked.add(a["id"])
            try:
                if a["state"] in ("raised", "dispatched"):
                    self.gateway.http.post(f"/alerts/{a['id']}/ack", json={"by": "网格员"})
                self.gateway.http.post(f"/alerts/{a['id']}/resolve",
                                       json={"by": "网格员", "resolution": "handled_on_site",
                                             "note": "现场已处理"})  # fmt: skip
            except httpx.HTTPError:
                pass


class City:
    def __init__(self, folder: Path, broker_port: int, url: str) -> None:
        self.api_port = free_port()
        self.log = folder / "city.log"
        self.env = {
            "GRIDGATE_CITY__DATABASE_URL": url,
            "GRIDGATE_CITY__BROKER": f"127.0.0.1:{broker_port}",
            "GRIDGATE_CITY__API_PORT": str(self.api_port),
            "GRIDGATE_CITY__ADMIN_TOKEN": CITY_TOKEN,
            "GRIDGATE_LOG__LEVEL": "INFO",
        }
        self.process: subprocess.Popen[bytes] | None = None
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{self.api_port}", timeout=60,
                                 headers={"Authorization": f"Bearer {CITY_TOKEN}"})  # fmt: skip

    def start(self) -> None:
        import os

        with self.log.open("ab") as log:
            self.process = subprocess.Popen(  # our own command
                [sys.executable, "-m", "gateway.cli", "city", "run"],
                env={**os.environ, **self.env}, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if self.http.get("/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"the city did not start: {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)


def wait_for(condition: Any, timeout_s: float, step_s: float = 0.5) -> float | None:
    """Seconds until `condition()` held, or None at the deadline."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout_s:
        if condition():
            return time.monotonic() - t0
        time.sleep(step_s)
    return None


def run(args: argparse.Namespace) -> int:  # one script, in order
    folder = Path(tempfile.mkdtemp(prefix="gg-city-bench-"))
    say(f"bench/city: {args.gateways} gateways, cut {args.cut_s:.0f} s, folder {folder}")
    pg = Postgres()
    city_broker = LocalBroker(folder / "city-broker", persistence=True)
    communities: list[Community] = []
    city: City | None = None
    figures: dict[str, Any] = {"gateways": args.gateways, "cut_s": args.cut_s}
    t_start = time.monotonic()
    try:
        pg.start()
        url = pg.create_database("city")
        store = CityStore(url)
        store.migrate()
        city_broker.write_config()
        city_broker.start()
        rules = shipped_rules(folder / "rules", hold_s=20)
        for n in range(args.gateways):
            sub = folder / f"gw{n:02d}"
            sub.mkdir()
            store.add_gateway(f"c{n:02d}", f"社区{n:02d}", datetime.now(UTC))
            edge = LocalBroker(sub / "edge", persistence=True)
            edge.write_config(bridge_config(f"bridge-c{n:02d}", [city_broker.port]))
            edge.start()
            site = community_site(sub, n)
            gateway = Gateway(sub, edge.port, f"gw{n:02d}", site, 20, rules="shipped", env={
                "GRIDGATE_RULES_FILE": str(rules),
                "GRIDGATE_CITY__GATEWAY_ID": f"c{n:02d}",
                "GRIDGATE_CITY__HEARTBEAT_S": str(args.heartbeat_s),
                "GRIDGATE_OUTBOX__RETRY_MAX_S": "5",
            })  # fmt: skip
            communities.append(Community(n, sub, edge, gateway, site))
        city = City(folder, city_broker.port, url)
        city.start()
        with ThreadPoolExecutor(max_workers=8) as pool:  # each start waits for its /health
            list(pool.map(lambda c: c.gateway.start(), communities))
        total_s = args.warmup_s + args.cut_s + args.after_s + 120
        for c in communities:
            c.start_simulator(total_s)
        say(f"started in {time.monotonic() - t_start:.0f} s; warm-up {args.warmup_s:.0f} s")

        def act_for(seconds: float) -> None:
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                for c in communities:
                    c.act()
                time.sleep(min(5.0, max(0.0, end - time.monotonic())))

        act_for(args.warmup_s)
        # the cut: the city's broker is gone for every bridge
        city_broker.stop()
        cut_seq = {c.gateway_id: c.seq() for c in communities}
        say(f"cut: city broker stopped at {sum(cut_seq.values())} events")
        act_for(args.cut_s / 2)
        victim = communities[0]
        victim.gateway.process.send_signal(signal.SIGKILL)  # type: ignore[union-attr]
        victim.gateway.process.wait(timeout=10)  # type: ignore[union-attr]
        victim.gateway.process = None
        victim.gateway.http = httpx.Client(base_url=victim.gateway.url, timeout=30,
                                           headers=dict(victim.gateway.http.headers))  # fmt: skip
        restart_s = victim.gateway.start()
        say(f"gateway {victim.gateway_id} killed with -9 and restarted in {restart_s:.1f} s")
        act_for(args.cut_s / 2)
        at_restore = {c.gateway_id: c.seq() for c in communities}
        figures["events_during_cut"] = sum(at_restore.values()) - sum(cut_seq.values())
        restored_at = datetime.now(UTC)
        figures["restored_at"] = restored_at.isoformat()
        city_broker.start()

        def caught_up(target: dict[str, int]) -> bool:
            shown = {g.gateway_id: g.last_seq for g in store.gateways()}
            return all(shown.get(k, 0) >= v for k, v in target.items())

        figures["catch_up_after_restore_s"] = wait_for(lambda: caught_up(at_restore), 600)
        figures["max_lag_after_restore_s"] = max_lag_since(store, restored_at)
        say(f"restored: caught up in {figures['catch_up_after_restore_s']} s")
        act_for(args.after_s / 2)
        # the city instance restarted
        figures["city_stopped_at"] = datetime.now(UTC).isoformat()
        city.stop()
        down_at = {c.gateway_id: c.seq() for c in communities}
        time.sleep(10)
        while_down = sum(c.seq() for c in communities) - sum(down_at.values())
        figures["events_while_city_down_10s"] = while_down
        city.start()
        figures["catch_up_after_city_restart_s"] = wait_for(lambda: caught_up(down_at), 300)
        act_for(args.after_s / 2)
        # the end: traffic stops, then the gateways, so every last number is known
        for c in communities:
            c.stop_simulator()
        time.sleep(25)  # past the door hold: what the last readings raise is raised
        until = datetime.now(UTC) + timedelta(minutes=1)
        period = {"since": (until - timedelta(days=1)).isoformat(), "until": until.isoformat()}
        own = [own_kpis(c, period) for c in communities]
        for c in communities:
            c.gateway.stop()
        final = {c.gateway_id: c.seq() for c in communities}
        figures["final_catch_up_s"] = wait_for(lambda: caught_up(final), 120)
        figures.update(score(store, city, communities, final, own, period))
        figures["city_db_bytes"] = db_bytes(url)
        if args.load_events:
            figures.update(apply_rate(store, url, city_broker.port, args.load_events))
        figures["city_rss_mb"] = rss_mb(city.process.pid) if city.process else None
        figures["wall_s"] = round(time.monotonic() - t_start, 1)
        store.close()
    finally:
        for c in communities:
            c.stop_simulator()
            c.gateway.stop()
            c.edge.stop()
        if city is not None:
            city.stop()
        city_broker.stop()
        pg.remove()
    say(json.dumps(figures, ensure_ascii=False, indent=1))
    if args.out:
        Path(args.out).write_text(json.dumps(figures, ensure_ascii=False, indent=1), "utf-8")
    good = figures.get("exactly_once") and figures.get("in_order") and figures.get("kpis_equal")
    return 0 if good else 1


def late_events(conn: Any, gateway_id: str, rows: list[Any]) -> list[tuple[int, datetime]]:
    """The numbers applied after a later one, with when they arrived."""
    late = [int(b[0]) for a, b in itertools.pairwise(rows) if int(b[1]) < int(a[1])]
    late += [int(a[0]) for a, b in itertools.pairwise(rows) if int(b[1]) < int(a[1])]
    found = conn.execute(
        "SELECT seq, received_at FROM events WHERE gateway_id = %s AND seq = ANY(%s) ORDER BY seq",
        (gateway_id, sorted(set(late))),
    ).fetchall()
    return [(int(r[0]), r[1]) for r in found]


def own_kpis(c: Community, period: dict[str, str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A gateway's own alert and case KPI totals over `period`."""
    alerts = c.gateway.http.get("/kpis", params={"level": "community", **period}).json()
    cases = c.gateway.http.get("/cases/kpis", params={"group": "community", **period}).json()
    return alerts["total"], cases["total"]


def score(store: CityStore, city: City, communities: list[Community], final: dict[str, int],
          own: list[tuple[dict[str, Any], dict[str, Any]]],
          period: dict[str, str]) -> dict[str, Any]:  # fmt: skip
    out: dict[str, Any] = {}
    once = True
    ordered = True
    out_of_order = 0
    events = 0
    with store.connection() as conn:
        for c in communities:
            rows = conn.execute(
                "SELECT seq, applied FROM events WHERE gateway_id = %s ORDER BY seq",
                (c.gateway_id,),
            ).fetchall()
            seqs = [int(r[0]) for r in rows]
            events += len(seqs)
            if seqs != list(range(1, final[c.gateway_id] + 1)):
                once = False
                say(f"{c.gateway_id}: {len(seqs)} events at the city, gateway numbered "
                    f"{final[c.gateway_id]}")  # fmt: skip
            applied = [int(r[1]) for r in rows]  # in the order of the numbers
            late = sum(1 for a, b in itertools.pairwise(applied) if b < a)
            if late:
                ordered = False
                out_of_order += late
                say(f"{c.gateway_id}: {late} events applied after a later number")
                for seq, when in late_events(conn, c.gateway_id, rows):
                    say(f"  {c.gateway_id}:{seq} received {when.isoformat()}")
                    out.setdefault("late_events", []).append(
                        {"id": f"{c.gateway_id}:{seq}", "received_at": when.isoformat()}
                    )
    rows = store.gateways()
    out["events"] = events
    out["exactly_once"] = once
    out["in_order"] = ordered
    out["applied_out_of_order"] = out_of_order
    out["redeliveries"] = sum(g.redeliveries for g in rows)
    out["gaps"] = sum(g.gaps for g in rows)
    out["refused_city_owned"] = sum(g.refused for g in rows)
    # KPIs: the city's per community against each gateway's own, same period
    theirs = city.http.get("/kpis", params={"level": "community", **period}).json()
    city_alerts = {n["node_id"]: n for n in theirs["alerts"]["nodes"]}
    city_cases = {n["key"]: n for n in theirs["cases"]["nodes"]}
    equal = True
    sums = {"raised": 0, "acknowledged": 0, "resolved": 0, "open": 0}
    case_sums = {"reported": 0, "due": 0, "closed": 0, "open": 0}
    for c, (alerts, cases) in zip(communities, own, strict=True):
        for key in sums:
            sums[key] += alerts[key]
            if city_alerts.get(c.gateway_id, {}).get(key, 0) != alerts[key]:
                equal = False
                say(f"{c.gateway_id} alerts {key}: gateway {alerts[key]}, city "
                    f"{city_alerts.get(c.gateway_id, {}).get(key)}")  # fmt: skip
        for key in case_sums:
            case_sums[key] += cases[key]
            if city_cases.get(c.gateway_id, {}).get(key, 0) != cases[key]:
                equal = False
                say(f"{c.gateway_id} cases {key}: gateway {cases[key]}, city "
                    f"{city_cases.get(c.gateway_id, {}).get(key)}")  # fmt: skip
    for key, value in sums.items():
        equal = equal and theirs["alerts"]["total"][key] == value
    for key, value in case_sums.items():
        equal = equal and theirs["cases"]["total"][key] == value
    out["kpis_equal"] = equal
    out["alerts_sum_of_gateways"] = sums
    out["cases_sum_of_gateways"] = case_sums
    return out


def max_lag_since(store: CityStore, since: datetime) -> float | None:
    """The longest an event received since `since` took from its gateway to the city."""
    with store.connection() as conn:
        row = conn.execute(
            "SELECT max(extract(epoch FROM received_at - at)) FROM events WHERE received_at >= %s",
            (since,),
        ).fetchone()
    return None if row is None or row[0] is None else round(float(row[0]), 1)


def apply_rate(store: CityStore, url: str, broker_port: int, n: int) -> dict[str, Any]:
    """`n` events of one more gateway, each carrying a real alert record of the run,
    published at once to the city broker: how fast the city applies them, and what each
    costs in PostgreSQL (events, items and their indexes)."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    with store.connection() as conn:
        row = conn.execute("SELECT record FROM events WHERE subject = 'alert' LIMIT 1").fetchone()
    record = dict(row[0]) if row else {}
    store.add_gateway("load", "load", datetime.now(UTC))
    before = db_bytes(url)
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-city-load")
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", broker_port)
    client.loop_start()
    at = datetime.now(UTC).isoformat()
    t0 = time.monotonic()
    infos = []
    for seq in range(1, n + 1):
        # a new alert every 4 events, each updated 4 times: items grow as events do
        body = {**record, "id": 1_000_000 + seq // 4}
        message = {"v": 1, "id": f"load:{seq}", "gateway": "load", "seq": seq, "at": at,
                   "event": "alert.raised", "alert": body}  # fmt: skip
        infos.append(client.publish("gridgate/city/load", json.dumps(message), qos=1))
    for info in infos:
        info.wait_for_publish(timeout=120)
    published_s = time.monotonic() - t0

    def done() -> bool:
        return any(g.gateway_id == "load" and g.last_seq >= n for g in store.gateways())

    applied_s = wait_for(done, 600, 0.2)
    client.disconnect()
    client.loop_stop()
    total_s = time.monotonic() - t0
    grown = db_bytes(url) - before
    return {
        "load_events": n,
        "load_published_s": round(published_s, 1),
        "load_applied_s": round(total_s, 1) if applied_s is not None else None,
        "city_apply_events_per_s": round(n / total_s) if applied_s is not None else None,
        "db_bytes_per_event": round(grown / n),
        "alert_record_bytes": len(json.dumps(record, ensure_ascii=False).encode()),
    }


def db_bytes(url: str) -> int:
    import psycopg

    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT pg_database_size(current_database())").fetchone()
    return int(row[0]) if row else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gateways", type=int, default=20)
    parser.add_argument("--cut-s", type=float, default=300.0, help="the city link cut (5 min)")
    parser.add_argument("--warmup-s", type=float, default=60.0)
    parser.add_argument("--after-s", type=float, default=60.0)
    parser.add_argument("--heartbeat-s", type=float, default=30.0)
    parser.add_argument(
        "--load-events",
        type=int,
        default=20_000,
        help="then this many events at once: the city's apply rate (0: none)",
    )
    parser.add_argument("--out", help="write the figures here (JSON)")
    return run(parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())
