"""The category file (事件分类): what kinds of case there are, per kind its filing and
closure standards (立案标准, 结案标准), its time limit per stage and its severity, and
which sensor rules open a case in it. Read once at start; `path:line: where: reason`.

    defaults:
      limits: {file: 2h, dispatch: 30m, accept: 1h, handle: 1d, verify: 4h}
    categories:
      - id: environment                       # 大类
        name: {zh: 市容环境, en: City appearance}
        subcategories:                        # 小类: a case names one of these
          - id: exposed_rubbish
            name: {zh: 暴露垃圾, en: Exposed rubbish}
            filing: 垃圾暴露堆放, 面积超过0.5平方米
            closure: 垃圾清理干净, 无残留
            severity: warning
            limits: {handle: 4h}
          - id: door_left_open
            ...
            rules: [door_left_open]           # a sensor alert of these rules opens a case
            auto_verify_after: 10m            # the device normal this long: verified

Stages: file (a resident's report checked on site, 核实), dispatch (派遣), accept (接单),
handle (处置), verify (核查). A subcategory's limits override the major category's, which
override `defaults`.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from gateway.cases.calendar import Limit, LimitText
from rules.model import Severity
from sensors.errors import FileError, Problem
from sensors.yamlfile import line_of, load_model

DEFAULT_CATEGORIES = Path(__file__).parent.parent / "defaults" / "categories.yaml"
CategoryId = str


class Stage(StrEnum):
    FILE = "file"  # 核实/立案: a resident's report is checked on site, then filed
    DISPATCH = "dispatch"  # 派遣
    ACCEPT = "accept"  # 接单
    HANDLE = "handle"  # 处置
    VERIFY = "verify"  # 核查


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Words(_Strict):
    zh: str = Field(min_length=1, max_length=80)
    en: str = Field(min_length=1, max_length=80)


class Limits(_Strict):
    file: LimitText | None = None
    dispatch: LimitText | None = None
    accept: LimitText | None = None
    handle: LimitText | None = None
    verify: LimitText | None = None

    def of(self, stage: Stage) -> Limit | None:
        limit: Limit | None = getattr(self, stage.value)
        return limit


_ID = r"^[a-z][a-z0-9_]{0,47}$"


class SubcategorySpec(_Strict):
    id: str = Field(pattern=_ID)
    name: Words
    filing: str = Field(min_length=1, max_length=500)
    closure: str = Field(min_length=1, max_length=500)
    severity: Severity | None = None
    limits: Limits = Limits()
    rules: tuple[str, ...] = ()
    auto_verify_after: LimitText | None = None


class CategorySpec(_Strict):
    id: str = Field(pattern=_ID)
    name: Words
    severity: Severity = Severity.WARNING
    limits: Limits = Limits()
    subcategories: tuple[SubcategorySpec, ...] = Field(min_length=1)


class Defaults(_Strict):
    limits: Limits
    auto_verify_after: LimitText = Limit.parse("10m natural")


class CategoriesFile(_Strict):
    defaults: Defaults
    categories: tuple[CategorySpec, ...] = Field(min_length=1)


@dataclass(frozen=True)
class Category:
    """One subcategory (小类) with everything resolved: what a case carries."""

    id: str
    major: str  # 大类 id
    name_zh: str
    name_en: str
    major_zh: str
    major_en: str
    filing: str
    closure: str
    severity: Severity
    limits: Mapping[Stage, Limit]
    rules: tuple[str, ...]
    auto_verify_after: Limit


@dataclass(frozen=True)
class Categories:
    path: Path
    by_id: Mapping[str, Category]
    by_rule: Mapping[str, Category]

    def get(self, category_id: str) -> Category | None:
        return self.by_id.get(category_id)

    def __iter__(self):  # type: ignore[no-untyped-def]  # a plain iterator of categories
        return iter(self.by_id.values())


def load_categories(path: Path, rule_ids: Collection[str] | None = None) -> Categories:
    """Read and cross-check a category file; FileError with `path:line: where: reason`.
    `rule_ids`: the loaded rules, which `rules:` entries must name (None: not checked)."""
    spec, lines = load_model(path, CategoriesFile)
    problems: list[Problem] = []
    by_id: dict[str, Category] = {}
    by_rule: dict[str, Category] = {}
    majors: set[str] = set()
    for i, major in enumerate(spec.categories):
        if major.id in majors:
            problems.append(
                Problem(line_of(lines, ("categories", i, "id")), major.id, "id is used twice")
            )
        majors.add(major.id)
        for j, sub in enumerate(major.subcategories):
            at = ("categories", i, "subcategories", j)
            if sub.id in by_id or sub.id in majors:
                problems.append(Problem(line_of(lines, (*at, "id")), sub.id, "id is used twice"))
                continue
            limits: dict[Stage, Limit] = {}
            for stage in Stage:
                limit = (
                    sub.limits.of(stage) or major.limits.of(stage) or spec.defaults.limits.of(stage)
                )
                if limit is None:
                    problems.append(
                        Problem(
                            line_of(lines, (*at, "limits")),
                            sub.id,
                            f"no time limit for stage {stage.value} (here, in its category "
                            "or in defaults.limits)",
                        )
                    )
                    continue
                limits[stage] = limit
            category = Category(
                id=sub.id,
                major=major.id,
                name_zh=sub.name.zh,
                name_en=sub.name.en,
                major_zh=major.name.zh,
                major_en=major.name.en,
                filing=sub.filing,
                closure=sub.closure,
                severity=sub.severity or major.severity,
                limits=limits,
                rules=sub.rules,
                auto_verify_after=sub.auto_verify_after or spec.defaults.auto_verify_after,
            )
            by_id[sub.id] = category
            for k, rule in enumerate(sub.rules):
                if rule in by_rule:
                    problems.append(
                        Problem(
                            line_of(lines, (*at, "rules", k)),
                            sub.id,
                            f"rule {rule!r} already opens cases in {by_rule[rule].id!r}",
                        )
                    )
                elif rule_ids is not None and rule not in rule_ids:
                    problems.append(
                        Problem(
                            line_of(lines, (*at, "rules", k)), sub.id, f"no rule {rule!r} is loaded"
                        )
                    )
                else:
                    by_rule[rule] = category
    if problems:
        raise FileError(path, problems)
    return Categories(path, by_id, by_rule)
