"""Scenarios of the planners' workspace: the shipped ones and each planner's copies (kept in the store).

A copy holds the YAML files of its shipped scenario (``scenario.yaml`` of a site; ``quarter.yaml`` and
``hydrogen-site.yaml`` of a quarter). Every change goes through the shared loader
(:func:`h2quarters.config.parse_yaml_model`) before it is stored, so the browser shows the same messages (path,
value, allowed range) as ``h2q simulate`` and ``h2q quarter`` on the command line; a refused change stores
nothing. The edit form is generated from the pydantic models' JSON schema (:func:`form_fields`).
"""

from __future__ import annotations

import functools
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml
from pydantic import BaseModel

from h2quarters.config import SCENARIOS_DIR, ConfigError, Problem, Scenario, parse_yaml_model
from h2quarters.store import Store
from h2quarters.store.schema_planning import plan_scenarios as T
from h2quarters.store.store import now_ms

# ≈2× the largest shipped file; 16,000 characters stay below the 64 KiB body limit even as 4-byte UTF-8, so a
# too-long upload is a clear 422, not a 413
MAX_FILE_BYTES = 16_000
MAX_COPIES_PER_USER = 50
NAME_RE = re.compile(r"^[\w .()+-]{1,80}$")


@dataclass(frozen=True)
class Kind:
    """What a scenario kind is made of: its files (the first is the main file) and each file's model."""

    name: str
    files: tuple[str, ...]

    def model(self, file: str) -> type[BaseModel]:
        """The pydantic model of ``file``."""
        if self.name == "quarter" and file == "quarter.yaml":
            from h2quarters.quarter.config import Quarter

            return Quarter
        return Scenario


KINDS = {"site": Kind("site", ("scenario.yaml",)), "quarter": Kind("quarter", ("hydrogen-site.yaml", "quarter.yaml"))}
SHIPPED = {"oskar-von-miller": "site", "wesertor": "quarter"}


class NotFound(KeyError):
    """No such scenario (or not the caller's)."""


def shipped() -> list[dict[str, Any]]:
    """The scenarios shipped under ``scenarios/`` (name, kind, description)."""
    out = []
    for name, kind in SHIPPED.items():
        files = shipped_files(name)
        main = yaml.safe_load(files[KINDS[kind].files[-1]]) or {}
        out.append({"id": f"shipped:{name}", "name": name, "kind": kind, "base": name, "owner": None,
                    "description": " ".join(str(main.get("description", "")).split())})
    return out


def shipped_files(name: str) -> dict[str, str]:
    """YAML texts of a shipped scenario (KeyError if unknown)."""
    if name not in SHIPPED:
        raise NotFound(name)
    d = SCENARIOS_DIR / name
    return {f: (d / f).read_text(encoding="utf-8") for f in KINDS[SHIPPED[name]].files}


def _row(r: Any, with_files: bool = False) -> dict[str, Any]:
    d = {"id": str(r.scenario_id), "name": r.name, "kind": r.kind, "base": r.base, "owner": r.owner,
         "t_created_ms": r.t_created_ms, "t_updated_ms": r.t_updated_ms}
    if with_files:
        d["files"] = json.loads(r.files)
    return d


def copies(store: Store, owner: str) -> list[dict[str, Any]]:
    """The planner's own copies, newest first."""
    with store.r.connect() as c:
        rows = c.execute(sa.select(T).where(T.c.owner == owner).order_by(T.c.t_updated_ms.desc())).all()
    return [_row(r) for r in rows]


def get(store: Store, scenario_id: str, owner: str | None) -> dict[str, Any]:
    """A shipped scenario (``shipped:<name>``) or the caller's copy with its files; NotFound otherwise.

    ``owner`` None means any owner (admins)."""
    if scenario_id.startswith("shipped:"):
        name = scenario_id.split(":", 1)[1]
        s = next((x for x in shipped() if x["name"] == name), None)
        if s is None:
            raise NotFound(scenario_id)
        return {**s, "files": shipped_files(name)}
    if not scenario_id.isdigit() or len(scenario_id) > 15:  # also keeps ids within a 64-bit integer
        raise NotFound(scenario_id)
    q = sa.select(T).where(T.c.scenario_id == int(scenario_id))
    if owner is not None:
        q = q.where(T.c.owner == owner)
    with store.r.connect() as c:
        r = c.execute(q).first()
    if r is None:
        raise NotFound(scenario_id)
    return _row(r, with_files=True)


def check_name(name: str) -> str:
    """A copy's display name: 1..80 letters, digits, space and ``._-()+``."""
    name = name.strip()
    if not NAME_RE.match(name):
        raise ValueError(f"name {name!r}: 1..80 letters, digits, spaces or . _ - ( ) +")
    return name


def copy(store: Store, source_id: str, owner: str, name: str | None = None) -> dict[str, Any]:
    """Copy a shipped scenario or one of the caller's copies into a new copy owned by ``owner``."""
    src = get(store, source_id, owner)
    with store.r.connect() as c:
        n = c.execute(sa.select(sa.func.count()).select_from(T).where(T.c.owner == owner)).scalar_one()
    if n >= MAX_COPIES_PER_USER:
        raise ValueError(f"scenario copies: {n} stored, at most {MAX_COPIES_PER_USER} per planner; delete one first")
    name = check_name(name or f"{src['name']} (copy)"[:80])
    t = now_ms()
    with store.w.begin() as c:
        sid = c.execute(T.insert().values(owner=owner, name=name, kind=src["kind"], base=src["base"],
                                          files=json.dumps(src["files"]), t_created_ms=t, t_updated_ms=t)
                        ).inserted_primary_key[0]
    return get(store, str(sid), owner)


def delete(store: Store, scenario_id: str, owner: str) -> None:
    """Delete the caller's copy (NotFound if it is not theirs)."""
    get(store, scenario_id, owner)
    with store.w.begin() as c:
        c.execute(T.delete().where(T.c.scenario_id == int(scenario_id), T.c.owner == owner))


def validate_file(kind: str, file: str, text: str, base: str) -> BaseModel:
    """Validate one YAML file of a scenario of ``kind`` with the shared loader.

    Raises
    ------
    ConfigError
        Every problem with its YAML path, line, value and allowed range; also a file that is too large, not
        UTF-8 text, or (quarter) a ``hydrogen_site`` that is not the copy's own ``hydrogen-site.yaml``.
    """
    k = KINDS[kind]
    if file not in k.files:
        raise ConfigError(file, [Problem("", None, f"file name '{file}' not allowed; a {kind} scenario has "
                                                   f"{', '.join(k.files)}")])
    if len(text.encode("utf-8")) > MAX_FILE_BYTES:
        raise ConfigError(file, [Problem("", None, f"file of {len(text.encode('utf-8'))} bytes too large; "
                                                   f"at most {MAX_FILE_BYTES} bytes")])
    model = parse_yaml_model(text, k.model(file), source=file)
    if kind == "quarter" and file == "quarter.yaml" and str(model.hydrogen_site) != "hydrogen-site.yaml":
        # no path tricks: a copy's quarter refers to its own hydrogen site, never to a file on the server
        raise ConfigError(file, [Problem("hydrogen_site", None, f"value '{model.hydrogen_site}' not allowed; a copy "
                                                                "refers to its own 'hydrogen-site.yaml'")])
    if isinstance(model, Scenario):
        model.base_dir = SCENARIOS_DIR / base
        from h2quarters.config.loader import _file_refs

        bad = [Problem(p, None, f"value '{ref}': a copy may not refer to files") for p, ref in _file_refs(model)]
        if bad:
            raise ConfigError(file, bad)
    return model


def save_file(store: Store, scenario_id: str, owner: str, file: str, text: str) -> dict[str, Any]:
    """Validate and store one file of the caller's copy (nothing is stored when a problem is found)."""
    s = get(store, scenario_id, owner)
    if scenario_id.startswith("shipped:"):
        raise ValueError("shipped scenarios are read-only; copy one first")
    validate_file(s["kind"], file, text, s["base"])
    files = {**s["files"], file: text}
    with store.w.begin() as c:
        c.execute(T.update().where(T.c.scenario_id == int(scenario_id), T.c.owner == owner)
                  .values(files=json.dumps(files), t_updated_ms=now_ms()))
    return get(store, scenario_id, owner)


def rename(store: Store, scenario_id: str, owner: str, name: str) -> dict[str, Any]:
    """Rename the caller's copy."""
    get(store, scenario_id, owner)
    with store.w.begin() as c:
        c.execute(T.update().where(T.c.scenario_id == int(scenario_id), T.c.owner == owner)
                  .values(name=check_name(name), t_updated_ms=now_ms()))
    return get(store, scenario_id, owner)


# ============================================================================ the form from the JSON schema
def _resolve(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = {**defs[schema["$ref"].rsplit("/", 1)[1]], **{k: v for k, v in schema.items() if k != "$ref"}}
    return schema


def _branch(schema: dict[str, Any], value: Any, defs: dict[str, Any]) -> dict[str, Any]:
    """The branch of an ``anyOf`` that describes ``value`` (``X | None``, ``number | SeriesRef``)."""
    schema = _resolve(schema, defs)
    if "anyOf" not in schema:
        return schema
    opts = [_resolve(o, defs) for o in schema["anyOf"] if o.get("type") != "null"]
    want = "object" if isinstance(value, dict) else "array" if isinstance(value, list) else None
    for o in opts:
        if want and (o.get("type") == want or (want == "object" and "properties" in o)):
            return {**o, "description": schema.get("description", o.get("description", ""))}
    for o in opts:
        if o.get("type") not in ("object", "array") and "properties" not in o:
            return {**o, "description": schema.get("description", o.get("description", "")), "nullable": True}
    return opts[0] if opts else schema


@functools.cache
def _schema_text(model: type[BaseModel]) -> str:
    # pydantic builds a model's JSON schema anew on every call (30–40 ms for a scenario model, two per page)
    return json.dumps(model.model_json_schema())


def form_fields(model: type[BaseModel], data: dict[str, Any]) -> list[dict[str, Any]]:
    """Leaf fields of ``data`` (validated, defaults filled in) described by ``model``'s JSON schema.

    Each field: ``path`` (as the loader names it, e.g. ``electrolyser.p_rated_kw``), ``value``, ``type`` (number,
    integer, string, boolean, enum, list), ``enum``, ``min``/``max`` with ``min_excl``/``max_excl``, ``unit``
    (from the key name, as the loader's messages), ``section`` (top-level key) and ``description``.
    """
    root = json.loads(_schema_text(model))  # a fresh copy: the fields refer into it (enum lists)
    defs = root.get("$defs", {})
    out: list[dict[str, Any]] = []

    def leaf(path: str, key: str, sch: dict[str, Any], value: Any) -> None:
        typ = sch.get("type")
        f: dict[str, Any] = {"path": path, "value": value, "section": path.split(".")[0].split("[")[0] if ("." in path or "[" in path) else "general",
                             "unit": unit_label(key), "description": " ".join(str(sch.get("description", "")).split()),
                             "enum": None, "min": None, "max": None, "min_excl": False, "max_excl": False}
        if "enum" in sch or "const" in sch:
            f["type"], f["enum"] = "enum", sch.get("enum", [sch.get("const")])
        elif typ == "array":
            f["type"] = "list"
        elif typ in ("number", "integer", "boolean"):
            f["type"] = typ
        else:
            f["type"] = "string"
        for a, b, excl in (("minimum", "min", False), ("exclusiveMinimum", "min", True),
                           ("maximum", "max", False), ("exclusiveMaximum", "max", True)):
            if a in sch:
                f[b], f[b + "_excl"] = sch[a], excl
        out.append(f)

    def walk(sch: dict[str, Any], value: Any, path: str, key: str) -> None:
        sch = _branch(sch, value, defs)
        if value is None and ("properties" in sch or sch.get("type") == "object"):
            return  # an optional section that is not configured (e.g. pem for an AEM stack)
        if isinstance(value, dict) and "properties" in sch:
            for k, sub in sch["properties"].items():
                if k in value:
                    walk(sub, value[k], f"{path}.{k}" if path else k, k)
        elif isinstance(value, list) and sch.get("type") == "array" and value and isinstance(value[0], dict):
            for i, item in enumerate(value):
                walk(sch.get("items", {}), item, f"{path}[{i}]", key)
        elif isinstance(value, list) and sch.get("type") == "array":
            if not value and "$ref" in sch.get("items", {}):
                return  # an empty list of objects (e.g. no extra loads): nothing to edit in a flat form
            items = _branch(sch.get("items", {}), value[0] if value else None, defs)
            leaf(path, key, {**sch, **{k: v for k, v in items.items() if k in
                                       ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")},
                             "type": "array"}, value)
        else:
            leaf(path, key, sch, value)

    walk(root, data, "", "")
    return out


_UNIT_TOKENS = {"kw": "kW", "kwp": "kWp", "kwh": "kWh", "kg": "kg", "bar": "bar", "c": "°C", "deg": "°",
                "m2": "m²", "m3": "m³", "m": "m", "pct": "%", "min": "min", "a": "a", "eur": "EUR", "h": "h",
                "g": "g", "k": "K", "kj": "kJ", "ohm": "Ω", "s": "s", "v": "V", "cm4": "cm⁴", "ma2": "mA²", "c2": "°C²",
                "frac": "fraction"}


def unit_label(key: str) -> str:
    """The unit of a key as shown beside a field: ``import_eur_per_kwh`` → EUR/kWh, ``e_kwh_per_a`` → kWh/a,
    ``r1_ohm_m2`` → Ω·m² (units are part of the key names, as the loader's messages say)."""
    tok = key.lower().split("_")
    per = tok.index("per") if "per" in tok else len(tok)
    num: list[str] = []
    for t in reversed(tok[1:per]):
        if t not in _UNIT_TOKENS:
            break
        num.insert(0, _UNIT_TOKENS[t])
    den = [_UNIT_TOKENS.get(t, t) for t in tok[per + 1:]]
    out = "·".join(num) or ("1" if den else "")
    if den:
        out += "/" + (den[0] if len(den) == 1 else "(" + "·".join(den) + ")")
    return out


def model_data(model: BaseModel) -> dict[str, Any]:
    """JSON-ready dump of a validated model (excluded fields such as ``base_dir`` left out)."""
    return model.model_dump(mode="json")


_PATH_RE = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def _parts(path: str) -> list[str | int]:
    parts: list[str | int] = []
    for name, idx in _PATH_RE.findall(path):
        parts.append(int(idx) if idx else name)
    if not parts or "".join(str(p) for p in parts) != re.sub(r"[.\[\]]", "", path):
        raise ValueError(f"field path {path!r} is not a path like electrolyser.p_rated_kw or pv[0].p_kwp")
    return parts


def _convert(raw: Any, typ: str) -> Any:
    """Text from a form input → YAML value (left as text when it does not parse: the loader names it)."""
    if not isinstance(raw, str):
        return raw
    s = raw.strip()
    try:
        if typ == "number":
            v = float(s.replace(",", ".")) if re.fullmatch(r"[-+]?\d+(,\d+)?", s) else float(s)
            return v if math.isfinite(v) else s
        if typ == "integer":
            return int(s)
        if typ == "boolean":
            return {"true": True, "false": False}.get(s.lower(), s)
        if typ == "list":
            return [float(x) for x in s.split(";" if ";" in s else ",") if x.strip()] if s else []
    except ValueError:
        return s
    return s


def apply_edits(kind: str, file: str, text: str, edits: dict[str, Any]) -> str:
    """YAML text of ``file`` with form ``edits`` (path → text) applied; not yet validated.

    Values are converted by the field's type from the JSON schema; an unparsable number stays text so the loader
    reports it (``value 'abc' is not a plain number``). Comments of the file are not kept by an edit through the
    form (upload a YAML file to keep them).
    """
    data = yaml.safe_load(text) or {}
    if not isinstance(data, dict):
        raise ConfigError(file, [Problem("", 1, "the file must hold a mapping of keys to values")])
    try:
        types = {f["path"]: f["type"] for f in form_fields(KINDS[kind].model(file),
                                                              model_data(parse_yaml_model(text, KINDS[kind].model(file),
                                                                                          source=file)))}
    except ConfigError:
        types = {}
    for path, raw in edits.items():
        parts = _parts(path)
        cur: Any = data
        for i, p in enumerate(parts[:-1]):
            nxt = parts[i + 1]
            if isinstance(p, int):
                if not isinstance(cur, list) or p >= len(cur):
                    raise ConfigError(file, [Problem(path, None, f"list index {p} does not exist")])
                cur = cur[p]
            else:
                if not isinstance(cur, dict):
                    raise ConfigError(file, [Problem(path, None, "not a field of this file")])
                cur = cur.setdefault(p, [] if isinstance(nxt, int) else {})
        last = parts[-1]
        val = _convert(raw, types.get(path, "number" if isinstance(raw, str) and _looks_numeric(raw) else "string"))
        if isinstance(last, int):
            if not isinstance(cur, list) or last >= len(cur):
                raise ConfigError(file, [Problem(path, None, f"list index {last} does not exist")])
            cur[last] = val
        elif isinstance(cur, dict):
            if isinstance(raw, str) and raw.strip() == "":
                cur.pop(last, None)  # empty field: back to the model's default (or "required value is missing")
            else:
                cur[last] = val
        else:
            raise ConfigError(file, [Problem(path, None, "not a field of this file")])
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def _looks_numeric(s: str) -> bool:
    return bool(re.fullmatch(r"\s*[-+]?(\d+([.,]\d*)?|\.\d+)([eE][-+]?\d+)?\s*", s))


def materialise(files: dict[str, str], kind: str, into: Path) -> Path:
    """Write a scenario's files into directory ``into`` (only the kind's own file names) and return the path
    to give the simulator (the directory)."""
    into.mkdir(parents=True, exist_ok=True)
    for f in KINDS[kind].files:
        (into / f).write_text(files[f], encoding="utf-8")
    return into
