"""Roster files: the people who answer for each part of a generated site.

For every grid a grid leader (网格长) and `workers_per_grid` grid workers (网格员), for every
community and street `staff_per_node` staff. Names are common Chinese names drawn with the
seed; phone numbers come from 1380000xxxx (then 1390000xxxx, ...), numbers no one is given.
Duty hours cover the whole day: a grid's workers take day, night and weekend shifts.

    people:
      - {id: w-g1-1, name: 王芳, role: grid_worker, phone: "13800000001", nodes: [g1],
         duty: [{days: mon-sun, from: "08:00", to: "20:00"}], channels: [sms, wecom]}
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import yaml

from simulator.errors import SiteError

_SURNAMES = (
    "王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴", "徐", "孙", "胡", "朱", "高",
    "林", "何", "郭", "马", "罗", "梁", "宋", "郑", "谢", "韩", "唐", "冯", "于", "董", "萧",
)  # fmt: skip
_GIVEN = (
    "伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛",
    "明", "超", "秀英", "霞", "平", "刚", "桂英", "建华", "文", "华", "红", "玉兰", "志强",
    "海燕", "建国", "淑珍", "晓东", "春梅", "国庆", "丹", "琳", "鹏", "辉", "宁", "倩",
)  # fmt: skip
_PHONE_BLOCKS = tuple(13800000000 + k * 100000000 for k in range(2))  # 1380000xxxx, 1390000xxxx
_PHONES_PER_BLOCK = 10_000
_SHIFTS = (
    [{"days": "mon-sun", "from": "08:00", "to": "20:00"}],
    [{"days": "mon-sun", "from": "20:00", "to": "08:00"}],
    [{"days": "sat-sun", "from": "08:00", "to": "20:00"}],
)
_OFFICE = [{"days": "mon-fri", "from": "08:30", "to": "17:30"}]
_ON_CALL = [{"days": "mon-sun", "from": "17:30", "to": "08:30"}]
_CHANNELS = {
    "grid_worker": ["sms", "wecom"],
    "grid_leader": ["sms", "wecom", "dingtalk"],
    "community": ["wecom", "dingtalk"],
    "street": ["sms", "wecom"],
}


@dataclass(frozen=True)
class Staffing:
    workers_per_grid: int = 3  # with the leader, ~4 a grid: 2,600 staff for 620 grids
    staff_per_node: int = 2  # per community and per street


class _Phones:
    def __init__(self) -> None:
        self._n = 0

    def next(self) -> str:
        block, index = divmod(self._n, _PHONES_PER_BLOCK)
        if block >= len(_PHONE_BLOCKS):
            raise SiteError(f"more than {self._n} people: out of reserved phone numbers")
        self._n += 1
        return str(_PHONE_BLOCKS[block] + index)


def generate_roster(
    site: dict[str, Any],
    seed: int,
    staffing: Staffing = Staffing(),  # frozen, never mutated
) -> list[Any]:
    """The people of a generated (or any) site's plain data, streets first, then down."""
    rng = random.Random(f"roster/{seed}")
    used: set[str] = set()
    phones = _Phones()
    people: list[dict[str, Any]] = []

    def add(pid: str, role: str, node: str, duty: list[dict[str, str]]) -> None:
        people.append(
            {
                "id": pid,
                "name": _name(rng, used),
                "role": role,
                "phone": phones.next(),
                "nodes": [node],
                "duty": [dict(w) for w in duty],
                "channels": list(_CHANNELS[role]),
            }
        )

    for street in site["district"].get("streets") or []:
        for k in range(staffing.staff_per_node):
            add(
                f"st-{street['id']}-{k + 1}",
                "street",
                street["id"],
                _OFFICE if k == 0 else _ON_CALL,
            )
        for community in street.get("communities") or []:
            cid = community["id"]
            for k in range(staffing.staff_per_node):
                add(f"cm-{cid}-{k + 1}", "community", cid, _OFFICE if k == 0 else _ON_CALL)
            for grid in community.get("grids") or []:
                gid = grid["id"]
                add(f"gl-{gid}", "grid_leader", gid, _OFFICE)
                for k in range(staffing.workers_per_grid):
                    add(f"w-{gid}-{k + 1}", "grid_worker", gid, _SHIFTS[k % len(_SHIFTS)])
    return people


def _name(rng: random.Random, used: set[str]) -> str:
    for _ in range(50):
        name = rng.choice(_SURNAMES) + rng.choice(_GIVEN)
        if rng.random() < 0.3:
            name += rng.choice(_GIVEN)[:1]
        if name not in used:
            used.add(name)
            return name
    # a large roster: people share names in real life too, the id tells them apart
    return rng.choice(_SURNAMES) + rng.choice(_GIVEN)


class _Quoted(str):
    """Written in double quotes: phone numbers and clock times stay strings for any reader."""


class _Flow(dict[str, Any]):
    """A mapping written on one line."""


class _Dumper(yaml.SafeDumper):
    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)

    def ignore_aliases(self, data: Any) -> bool:
        return True  # every person spelled out: no &id001 anchors


_Dumper.add_representer(
    _Quoted, lambda d, s: d.represent_scalar("tag:yaml.org,2002:str", str(s), style='"')
)
_Dumper.add_representer(
    _Flow, lambda d, m: d.represent_mapping("tag:yaml.org,2002:map", m, flow_style=True)
)


def _styled(person: dict[str, Any]) -> dict[str, Any]:
    duty = [
        _Flow(days=w["days"], **{"from": _Quoted(w["from"]), "to": _Quoted(w["to"])})
        for w in person["duty"]
    ]
    return {**person, "phone": _Quoted(person["phone"]), "duty": duty}


def roster_yaml(people: list[Any], header: str = "") -> str:
    body = yaml.dump(
        {"people": [_styled(p) for p in people]},
        Dumper=_Dumper,
        allow_unicode=True,
        sort_keys=False,
        width=120,
    )
    return (f"# {header}\n" if header else "") + body
