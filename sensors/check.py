"""`gridgate sensors check ADAPTER [SAMPLES.jsonl]`: run sample payloads through an adapter.

ADAPTER is a shipped adapter's name (`zigbee2mqtt`, `native`) or the path of an adapter
file; SAMPLES defaults to `sensors/adapters/samples/<name>.jsonl`. The adapter is loaded
beside every shipped adapter (and the site folders named with `--adapter-dir`) exactly as
the gateway loads them, so a file whose topics another adapter could claim is refused
here as `gridgate check-config` refuses it. Each line of SAMPLES:

    {"topic": "zigbee2mqtt/door-1", "payload": {"contact": true}, "kind": "door",
     "expect": {"kind": "door", "fields": {"open": false}}}
    {"topic": "...", "payload": "not json", "expect": {"reject": "malformed_json"}}

`payload` is sent as JSON, or as the text itself when it is a string. `kind` is the
device's kind in the registry (for formats whose topic does not say it). `received_at`
(ISO 8601) is the arrival time, by default 2026-11-25T05:04:05Z. `expect` may also give
`device_id`, `event_at`, and, for a rejection, a `detail` that must appear in the reason.

For each sample it prints the reading or the rejection, and whether it is what the sample
expects. Exit status: 0 all samples as expected, 1 some not, 2 the adapter or samples
file cannot be used.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sensors.adapt import AdapterSet
from sensors.errors import FileError
from sensors.kinds import Kind
from sensors.load import SAMPLES_DIR, folder_paths, shipped_paths
from sensors.native import NativeAdapter
from sensors.reading import FieldValue, Reading, Rejection

DEFAULT_RECEIVED_AT = datetime(2026, 11, 25, 5, 4, 5, tzinfo=UTC)
EXAMPLES = """\
exit status: 0 all samples as expected, 1 some not, 2 the adapter or samples unusable

examples:
  gridgate sensors check zigbee2mqtt
  gridgate sensors check adapters/vendorx.yaml adapters/samples/vendorx.jsonl
  gridgate sensors check ./vendorx.yaml ./vendorx.jsonl --adapter-dir /etc/gridgate/adapters
"""


@dataclass(frozen=True)
class Sample:
    line: int
    topic: str
    payload: bytes
    received_at: datetime
    kind: Kind | None
    expect: dict[str, Any]


class SampleError(ValueError):
    """A samples line that cannot be run; the message says why."""


def parse_sample(line: int, text: str) -> Sample:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise SampleError(f"not a JSON object: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("topic"), str):
        raise SampleError("a sample is an object with a topic, a payload and expect")
    unknown = set(data) - {"topic", "payload", "kind", "expect", "received_at", "note"}
    if unknown:
        raise SampleError(f"unknown keys: {', '.join(sorted(unknown))}")
    payload = data.get("payload", "")
    raw = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
    expect = data.get("expect")
    if not isinstance(expect, dict) or ("reject" in expect) == ("kind" in expect):
        raise SampleError('expect is {"kind": ..., "fields": {...}} or {"reject": reason}')
    try:
        kind = Kind(data["kind"]) if data.get("kind") is not None else None
        received_at = (
            datetime.fromisoformat(data["received_at"]).astimezone(UTC)
            if "received_at" in data
            else DEFAULT_RECEIVED_AT
        )
    except (ValueError, TypeError) as exc:
        raise SampleError(str(exc)) from exc
    return Sample(line, data["topic"], raw, received_at, kind, expect)


def read_samples(path: Path) -> list[Sample | SampleError]:
    out: list[Sample | SampleError] = []
    for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not text.strip() or text.lstrip().startswith("//"):
            continue
        try:
            out.append(parse_sample(number, text))
        except SampleError as exc:
            out.append(SampleError(f"{path}:{number}: {exc}"))
    return out


def run(adapters: AdapterSet, sample: Sample) -> Reading | Rejection:
    kind = sample.kind
    return adapters.adapt(sample.topic, sample.payload, sample.received_at, lambda _: kind)


def mismatch(result: Reading | Rejection, expect: dict[str, Any]) -> str | None:
    """Why `result` is not what `expect` says, or None when it is."""
    if "reject" in expect:
        if isinstance(result, Reading):
            return f"expected rejection {expect['reject']}, got a reading"
        if result.reason.value != expect["reject"]:
            return f"expected rejection {expect['reject']}, got {result.reason.value}"
        if "detail" in expect and str(expect["detail"]) not in result.detail:
            return f"expected the detail to say {expect['detail']!r}"
        return None
    if isinstance(result, Rejection):
        return f"expected a {expect['kind']} reading, got rejection {result.reason.value}"
    if result.kind.value != expect["kind"]:
        return f"expected kind {expect['kind']}, got {result.kind.value}"
    want = expect.get("fields", {})
    if not isinstance(want, dict) or not same_fields(result.fields, want):
        return f"expected fields {_render(want)}"
    if "device_id" in expect and result.device_id != expect["device_id"]:
        return f"expected device_id {expect['device_id']}"
    if "event_at" in expect:
        try:
            at = datetime.fromisoformat(str(expect["event_at"]))
        except ValueError:
            return f"expect.event_at {expect['event_at']!r} is not ISO 8601"
        if at.tzinfo is None or at != result.event_at:
            return f"expected event_at {expect['event_at']}"
    return None


def same_fields(got: dict[str, FieldValue], want: dict[str, Any]) -> bool:
    if set(got) != set(want):
        return False
    for name, value in got.items():
        other = want[name]
        if isinstance(value, bool) or isinstance(other, bool) or isinstance(value, str):
            if type(value) is not type(other) or value != other:
                return False
        elif not isinstance(other, int | float) or not math.isclose(value, other, rel_tol=1e-9):
            return False
    return True


def _render(fields: dict[str, Any]) -> str:
    return json.dumps(fields, ensure_ascii=False, sort_keys=True)


def describe(result: Reading | Rejection) -> str:
    if isinstance(result, Rejection):
        return f"rejected {result.reason.value}: {result.detail}"
    return (
        f"{result.kind.value} {result.device_id} {_render(result.fields)} "
        f"at {result.event_at.isoformat()}"
    )


def _adapter_set(spec: str, folders: list[Path]) -> tuple[AdapterSet, str]:
    """Every shipped adapter, the site folders' and the one named or at the path `spec`,
    checked against each other as the gateway does; and that adapter's name."""
    native = NativeAdapter()
    site = [p for folder in folders for p in folder_paths(folder)]
    if spec == native.name:
        return AdapterSet.of_paths(native, [*shipped_paths(), *site]), native.name
    path = Path(spec)
    if not path.suffix:
        path = next((p for p in shipped_paths() if p.stem == spec), Path(spec + ".yaml"))
    adapters = AdapterSet.of_paths(native, [*shipped_paths(), *site, path])
    checked = next(a for a in adapters.declared if a.path and a.path.resolve() == path.resolve())
    return adapters, checked.name


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="gridgate sensors check",
        description=__doc__.split("\n\n")[0] if __doc__ else "",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("adapter", help="a shipped adapter's name, or an adapter file")
    parser.add_argument("samples", nargs="?", type=Path, help="a .jsonl file of samples")
    parser.add_argument(
        "--adapter-dir",
        action="append",
        type=Path,
        default=[],
        help="a site adapter folder loaded beside the shipped adapters (GRIDGATE_ADAPTER_DIRS)",
    )
    args = parser.parse_args(argv)
    out = sys.stdout
    try:
        adapters, name = _adapter_set(args.adapter, args.adapter_dir)
    except FileError as exc:
        out.write(f"{exc}\n")
        return 2
    samples_path: Path = args.samples or SAMPLES_DIR / f"{name}.jsonl"
    try:
        samples = read_samples(samples_path)
    except (OSError, UnicodeDecodeError) as exc:
        out.write(f"{samples_path}: cannot read samples: {exc}\n")
        return 2
    failed = 0
    for sample in samples:
        if isinstance(sample, SampleError):
            failed += 1
            out.write(f"FAIL {sample}\n")
            continue
        result = run(adapters, sample)
        problem = mismatch(result, sample.expect)
        mark = "ok  " if problem is None else "FAIL"
        out.write(f"{mark} {samples_path}:{sample.line} {sample.topic}\n")
        out.write(f"       got {describe(result)}\n")
        if problem is not None:
            failed += 1
            out.write(f"       {problem}\n")
    verdict = "all as expected" if failed == 0 else f"{failed} not as expected"
    out.write(f"{name}: {len(samples)} samples, {verdict}\n")
    return 0 if failed == 0 and samples else 1
