"""Translations: German and English cover the same keys, and every key the pages and scripts use exists."""

from __future__ import annotations

import json
import re

from h2quarters.control.controller import MANUAL_SETPOINTS
from h2quarters.plc.registers import load_register_map
from h2quarters.web import WEB_DIR


def _load(lang: str) -> dict[str, str]:
    return json.loads((WEB_DIR / "static" / "i18n" / f"{lang}.json").read_text(encoding="utf-8"))


def test_languages_have_the_same_keys_and_no_empty_texts() -> None:
    de, en = _load("de"), _load("en")
    assert set(de) == set(en)
    assert all(v.strip() for v in de.values()) and all(v.strip() for v in en.values())
    assert de["mode.manual"] != en["mode.manual"]  # really translated


def test_every_used_key_is_translated() -> None:
    de = _load("de")
    used: set[str] = set()
    for p in (WEB_DIR / "templates").glob("*.html"):
        used |= set(re.findall(r'data-i18n="([a-z0-9_.]+)"', p.read_text(encoding="utf-8")))
    for p in (WEB_DIR / "static").glob("*.js"):
        used |= set(re.findall(r'\bt\("([a-z0-9_.]+)"', p.read_text(encoding="utf-8")))
    used |= {f"sig.{s}" for s in MANUAL_SETPOINTS} | {f"sig.{s.name}" for s in load_register_map().signals}
    used |= {f"mode.{m}" for m in ("off", "manual", "auto", "safe")}
    used |= {f"role.{r}" for r in ("admin", "engineer", "teacher", "student", "planner", "viewer")}
    used |= {f"cmd.status.{s}" for s in ("ok", "refused", "failed", "unknown", "pending")}
    used = {k for k in used if "{{" not in k and not k.endswith(".")}  # prefixes of dynamic keys
    used |= {f"severity.{s}" for s in ("info", "warning", "alarm", "trip")}
    missing = sorted(used - set(de))
    assert not missing, missing


def test_no_visible_text_hard_coded_in_templates() -> None:
    for p in (WEB_DIR / "templates").glob("*.html"):
        html = p.read_text(encoding="utf-8")
        # text nodes between tags, ignoring template expressions, units and symbols
        texts = re.findall(r">([^<>{}]+)<", html)
        words = [t.strip() for t in texts if re.search(r"[A-Za-zÄÖÜäöüß]{3,}", t)]
        allowed = {"kW", "bar", "NL/h", "kg H₂", "°C", "h2quarters"}
        assert [w for w in words if w not in allowed] == [], p.name
