"""Blocking keys: which stored records are worth scoring against an incoming one (DESIGN 4.5).

The service stores every key of every customer (one row per key) and, for a query, reads at
most `MAX_BLOCK` members of each of the query's blocks, then scores them with `score.compare`.
Exact phones, e-mails and national IDs are looked up in the separate exact index, so these
keys exist for the *fuzzy* cases only: a name with a mistyped phone, an e-mail with a
mistyped domain, and records whose name, birth date, address or ID carry typos.

Every key joins two independent pieces of evidence, so that one typo leaves at least one key
intact while no block grows with a common surname.  Sizes are for 1,000,000 customers where
Cohen is ~3 % (30,000 people):

* ``d:`` birth date + initial of the given name, and again + initial of the surname.
  ~30,000 dates × ~15 initials → a handful per block, even on 1 January (the date given to
  immigrants with an unknown birthday, ~10× the average).  Two keys, so a replaced or
  mistyped given name *or* surname still leaves one, and swapped names still meet.
* ``p:`` postcode + initial of the given name / of the surname.  An Israeli 7-digit postcode
  holds a few dozen customers; an Australian 4-digit one (Febrl) a few hundred → tens.
* ``t:`` two windows of a phone's digits, each with a name: the last four digits + the initial
  of the first name token in sorted order, and the four digits before the fifth-from-last +
  the whole sorted name.  A single substituted digit or an adjacent transposition spoils at
  most one window.  The last four are ~uniform (≈100 customers per value, ÷ the initial);
  the other window is mostly the operator prefix (05X: ~800 values, ~1,250 customers each),
  so it takes the whole name to stay in the tens.  Sorted tokens make both order-free.
* ``l:`` an e-mail's local part, for a mistyped domain (``dana.levi@gmial.com``).  Personal
  local parts are near-unique; generic ones (``info``) are what `MAX_BLOCK` is for.
* ``s:`` house number and street word (order-free: "245 duncan", "herzl 5") + initial of
  the first name token in sorted order (swap-proof, like ``t:``): one household's address,
  for people whose birth date, postcode and given name were all mistyped or replaced. Added
  after the first test evaluation, from misses on the development sets (febrl2 pairs
  completeness 0.9974 → 0.9995).
* ``n:`` the whole name, tokens sorted (swap-proof), only when it has at least two tokens: a
  lone surname would be a 30,000-member block.  "david cohen" may hold a few hundred people at
  most; it serves name + address / e-mail cases, never a match on its own (a name never
  decides).

A company (a record without a person's name) is keyed by its name in the same places: its
initial in ``d:``/``p:``/``t:``, its sorted tokens in ``n:`` even when it is one word.  A
record without any name keeps bare ``d:``/``p:`` keys (rare, so those blocks stay small) and
``l:``, but no ``t:``: a phone typo without a name can never make a candidate.

Only the first (primary) phone and e-mail get fuzzy keys; every one of them is in the exact
index.  So a lead with a name, a phone and an e-mail has 4 keys, a Febrl record (name, birth
date, postcode, street) 6, and a record with everything 9 at most.
"""

from dedup_svc.domain.record import Record

MAX_BLOCK = 100
"""Members read per block.  Every block but ``n:`` stays in the tens even for Cohen (see above);
a full-name block larger than this is read only in part, which costs recall only for a
common full name whose other evidence is all mistyped.  A query has ≤ 9 keys, so it scores a
few hundred candidates at worst — a few milliseconds at ≥ 50,000 `compare` calls a second."""

MAX_KEYED = 1
"""Phones and e-mails per record that get fuzzy keys (more would only multiply keys)."""


KEY_MAX = 400  # block_keys.key: a longer key (two 200-character names) is cut alike on both sides


def blocking_keys(r: Record) -> set[str]:
    """The record's fuzzy blocking keys (see the module docstring)."""
    parts = [p for p in (r.given_name, r.surname) if p] or ([r.company] if r.company else [])
    initials = {p[0] for p in parts} or {""}
    tokens = sorted(" ".join(parts).split())
    keys: set[str] = set()
    if r.birth_date:
        keys.update(f"d:{r.birth_date}{i}" for i in initials)
    if r.postcode:
        keys.update(f"p:{r.postcode}{i}" for i in initials)
    for number in r.phones[:MAX_KEYED] if tokens else ():
        digits = number.lstrip("+")
        if len(digits) >= 9:
            keys.add(f"t:{tokens[0][0]}{digits[-4:]}")
            keys.add(f"t:{' '.join(tokens)}:{digits[-9:-5]}")
    for address in r.emails[:MAX_KEYED]:
        local = address.rpartition("@")[0]
        if local:
            keys.add(f"l:{local}")
    street = r.street.split()[:2]
    if len(street) == 2 and any(t.isdigit() for t in street) and tokens:
        keys.add(f"s:{' '.join(sorted(street))}{tokens[0][0]}")
    if len(tokens) >= 2 or (tokens and r.company == parts[0]):
        keys.add("n:" + " ".join(tokens))
    return {key[:KEY_MAX] for key in keys}


NAME_BLOCK_CAP = 30
"""Members read from a whole-name (``n:``) block. For a common name ("noa cohen": thousands
of people in a million) any capped read is an arbitrary sample, so it is kept small; the
block earns its place for rare names, which stay far below the cap."""


def block_caps(r: Record) -> dict[str, int]:
    """The record's blocking keys with the number of members to read from each."""
    return {k: NAME_BLOCK_CAP if k.startswith("n:") else MAX_BLOCK for k in sorted(blocking_keys(r))}
