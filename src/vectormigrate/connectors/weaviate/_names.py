"""Weaviate's naming rules for collections, properties, tenants and vectors, and the renames that satisfy them.

Pure Python (no SDK import), so a plan can ask for renames without connecting. The rules, from Weaviate's
schema validation (``entities/schema/validation.go``) and the Python client:

* a collection (class) name matches ``[A-Z][_0-9A-Za-z]*``. Weaviate upper-cases the first letter of a name it
  is given, so ``docs`` silently becomes ``Docs``; the connector refuses such a name instead of letting the
  collection appear under another name.
* a property name matches ``[_A-Za-z][_0-9A-Za-z]*`` and is not ``_additional``, ``_id`` or ``id``; the Python
  client also refuses ``vector``. Weaviate lower-cases the first letter of top-level property names, so
  ``Title`` would be stored as ``title`` and a record's ``Title`` key would no longer match: such names are
  refused too. A leading underscore (``_source_id``) is allowed, though Weaviate keeps the right to give
  underscore names to future internal properties.
* a tenant name matches ``[A-Za-z0-9\\-_]{1,64}``.
* a named vector matches ``[_A-Za-z][_0-9A-Za-z]{0,230}``.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable

__all__ = [
    "COLLECTION_NAME",
    "PROPERTY_NAME",
    "RESERVED_PROPERTIES",
    "TENANT_NAME",
    "VECTOR_NAME",
    "collection_name_problem",
    "property_name_problem",
    "suggest_collection_name",
    "suggest_property_renames",
    "suggest_tenant_name",
    "tenant_name_problem",
    "vector_name_problem",
]

COLLECTION_NAME = re.compile(r"^[A-Z][_0-9A-Za-z]*$")
PROPERTY_NAME = re.compile(r"^[_A-Za-z][_0-9A-Za-z]*$")
TENANT_NAME = re.compile(r"^[A-Za-z0-9\-_]{1,64}$")
VECTOR_NAME = re.compile(r"^[_A-Za-z][_0-9A-Za-z]{0,230}$")
RESERVED_PROPERTIES = frozenset({"_additional", "_id", "id", "vector"})
"""``_additional``, ``_id``, ``id``: reserved by Weaviate; ``vector``: refused by the Python client."""


def collection_name_problem(name: str) -> str | None:
    """Why Weaviate cannot hold a collection called ``name`` as is, or None."""
    if COLLECTION_NAME.match(name):
        return None
    if name[:1].islower() and COLLECTION_NAME.match(name[:1].upper() + name[1:]):
        return "starts with a lower-case letter (Weaviate would create it capitalised)"
    return "must start with an upper-case letter A-Z followed by letters, digits or '_'"


def property_name_problem(name: str) -> str | None:
    """Why a top-level property cannot be called ``name`` in Weaviate, or None."""
    if name in RESERVED_PROPERTIES:
        return "is reserved"
    if not PROPERTY_NAME.match(name):
        return "must match [_A-Za-z][_0-9A-Za-z]* (ASCII letters, digits and '_', not starting with a digit)"
    if name[:1].isupper():
        return "starts with an upper-case letter (Weaviate would store it lower-cased)"
    return None


def tenant_name_problem(name: str) -> str | None:
    """Why a tenant cannot be called ``name``, or None."""
    if TENANT_NAME.match(name):
        return None
    return "must be 1-64 characters of A-Z, a-z, 0-9, '-' and '_'"


def vector_name_problem(name: str) -> str | None:
    """Why a named vector cannot be called ``name``, or None."""
    if VECTOR_NAME.match(name):
        return None
    return "must match [_A-Za-z][_0-9A-Za-z]{0,230}"


_LETTERS = str.maketrans({"ß": "ss", "æ": "ae", "Æ": "Ae", "ø": "o", "Ø": "O", "œ": "oe", "Œ": "Oe", "ł": "l",
                          "Ł": "L", "đ": "d", "Đ": "D", "þ": "th", "Þ": "Th", "ð": "d", "Ð": "D"})
"""Latin letters that Unicode decomposition does not reduce to ASCII."""


def _ascii_words(name: str) -> str:
    """``name`` folded to ASCII (accents dropped), every other run of characters turned into one ``_``."""
    folded = unicodedata.normalize("NFKD", name.translate(_LETTERS)).encode("ascii", "ignore").decode()
    return re.sub(r"[^0-9A-Za-z_]+", "_", folded).strip("_") if folded else ""


def _digest(name: str) -> str:
    return hashlib.sha1(name.encode(), usedforsecurity=False).hexdigest()[:8]


def suggest_property_renames(names: Iterable[str], *, taken: Iterable[str] = ()) -> dict[str, str]:
    """The rename each invalid property name needs, as ``{old: new}`` (valid names are left out).

    The rule: fold to ASCII (``café`` -> ``cafe``, ``ß`` -> ``ss``), replace other characters by ``_``,
    lower-case the first letter (``Größe`` -> ``grosse``), prefix ``p_`` when the result starts with a digit,
    append ``_`` to a reserved name (``id`` -> ``id_``), use ``p_<sha1[:8]>`` when nothing ASCII is left
    (``名前``), and add ``_2``, ``_3``... until the name clashes with no other property. Deterministic, so a
    resumed run renames the same way.

    Args:
        names: every property name of the records.
        taken: names already used in the target (the valid names of ``names`` count as taken too).
    """
    names = list(dict.fromkeys(names))
    used = {n.lower() for n in taken} | {n.lower() for n in names if property_name_problem(n) is None}
    out: dict[str, str] = {}
    for name in names:
        if property_name_problem(name) is None:
            continue
        base = _ascii_words(name)
        if not base:
            base = f"p_{_digest(name)}"
        elif base[0].isdigit():
            base = f"p_{base}"
        base = base[:1].lower() + base[1:]
        if base in RESERVED_PROPERTIES:
            base = f"{base}_"
        candidate, n = base, 2
        while candidate.lower() in used:
            candidate, n = f"{base}_{n}", n + 1
        used.add(candidate.lower())
        out[name] = candidate
    return out


def suggest_collection_name(name: str) -> str:
    """A valid collection name close to ``name`` (``docs-2024`` -> ``Docs_2024``)."""
    base = _ascii_words(name) or f"C_{_digest(name)}"
    if not base[0].isalpha():
        base = f"C_{base}"
    return base[:1].upper() + base[1:]


def suggest_tenant_name(name: str) -> str:
    """A valid tenant name close to ``name`` (``""`` -> ``default``; others get a hash suffix, so two
    invalid names never meet in one tenant)."""
    if tenant_name_problem(name) is None:
        return name
    if not name:
        return "default"
    folded = unicodedata.normalize("NFKD", name.translate(_LETTERS)).encode("ascii", "ignore").decode()
    base = re.sub(r"[^A-Za-z0-9\-_]+", "_", folded).strip("_")[:55] or "t"
    return f"{base}_{_digest(name)}"
