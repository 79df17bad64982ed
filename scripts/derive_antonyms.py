#!/usr/bin/env python3
"""Derives the curated adjective antonym allowlist (data/antonyms.tsv) from WordNet 3.0, once.

The table is committed with WordNet's licence (data/WORDNET-LICENSE); nothing reads WordNet at run
time. A raw WordNet antonym lookup is mostly noise in running text (on/off, found/lost, leading/
following), so a pair is kept only when, for both words:
  - the word is a single lower-case alphabetic adjective (no participle in -ed/-ing),
  - its first (most frequent) adjective sense is the synset that carries the antonym pointer,
  - it has exactly one antonym over all its senses (dull -> bright/lively/sharp is dropped),
  - it is only an adjective, or, where it is also a noun, verb or adverb, it is attested as an
    adjective in WordNet's sense-tagged corpus at least as often (drops light, present, right, back),
  - it is not a closed-class or particle word and not on the hand blocklist below.

usage: apt-get download wordnet-base && dpkg-deb -x wordnet-base_*.deb wn
       derive_antonyms.py wn/usr/share/wordnet > data/antonyms.tsv
"""
import re
import sys
from pathlib import Path

# Words that pass the rules above but whose antonym does not contradict in expository text
# (relational or evaluative pairs, and words mostly used in fixed phrases).
BLOCKLIST = {
    "first", "last", "same", "other", "former", "latter", "own", "such", "much", "many", "few", "more", "less",
    "most", "least", "only", "whole", "single", "double", "general", "specific", "particular", "common",
    "usual", "present", "absent", "next", "previous", "full", "empty", "left", "right", "well", "ill",
    "pro", "anti", "male", "female", "major", "minor", "senior", "junior", "inner", "outer", "upper",
    "lower", "higher", "top", "bottom", "front", "back", "forward", "backward", "east", "west", "north",
    "south", "northern", "southern", "eastern", "western", "alive", "dead", "live", "new", "old", "young",
    "near", "far", "early", "late", "fast", "slow", "good", "bad", "big", "little", "great", "real",
    "certain", "uncertain", "sure", "unsure", "able", "unable", "likely", "unlikely", "possible",
    "impossible", "necessary", "unnecessary", "due", "free", "open", "closed", "clean", "dirty",
    "hard", "soft", "up", "down", "in", "out", "on", "off", "over", "under", "kind", "basic", "instrumental",
    "proximate", "gross", "born", "ready", "asleep", "consonantal", "known", "paid", "inside", "outside", "brotherly",
    "sisterly", "husbandly", "wifely", "cousinly", "uncousinly", "mental", "physical", "actual", "potential",
    "private", "public", "patient", "impatient",
}
CLOSED_CLASS = {"all", "some", "any", "no", "none", "each", "every", "either", "neither", "both", "this", "that"}


def read_index(path):
    """lemma -> (first synset offset, tagged sense count, synset offsets)."""
    out = {}
    for line in path.read_text(encoding="latin-1").splitlines():
        if line.startswith(" "):
            continue
        f = line.split()
        lemma, p_cnt = f[0], int(f[3])
        rest = f[4 + p_cnt:]
        tagged = int(rest[1])
        offsets = rest[2:]
        out[lemma] = (offsets[0], tagged, offsets)
    return out


def read_adjective_antonyms(path):
    """(offset, word) -> set of antonym words, from lexical '!' pointers."""
    antonyms = {}
    for line in path.read_text(encoding="latin-1").splitlines():
        if line.startswith(" "):
            continue
        head = line.split("|")[0].split()
        offset, w_cnt = head[0], int(head[3], 16)
        words = [re.sub(r"\(.*\)$", "", head[4 + 2 * i]).lower() for i in range(w_cnt)]
        i = 4 + 2 * w_cnt
        p_cnt = int(head[i])
        ptrs = head[i + 1:i + 1 + 4 * p_cnt]
        targets = {}
        for j in range(p_cnt):
            sym, target, pos, st = ptrs[4 * j:4 * j + 4]
            if sym != "!":
                continue
            source_word, target_word = int(st[:2], 16), int(st[2:], 16)
            if source_word == 0:
                continue
            targets.setdefault(words[source_word - 1], []).append((target, target_word))
        for word, ts in targets.items():
            antonyms.setdefault((offset, word), []).extend(ts)
    return antonyms


def main():
    root = Path(sys.argv[1])
    index = {pos: read_index(root / f"index.{pos}") for pos in ("adj", "noun", "verb", "adv")}
    raw = read_adjective_antonyms(root / "data.adj")
    # Resolve target (offset, word number) to the word itself.
    words_at = {}
    for line in (root / "data.adj").read_text(encoding="latin-1").splitlines():
        if line.startswith(" "):
            continue
        head = line.split()
        w_cnt = int(head[3], 16)
        words_at[head[0]] = [re.sub(r"\(.*\)$", "", head[4 + 2 * i]).lower() for i in range(w_cnt)]
    antonyms_of = {}
    for (offset, word), targets in raw.items():
        for target, n in targets:
            antonyms_of.setdefault(word, set()).add((offset, words_at[target][n - 1]))

    def usable(word):
        if not re.fullmatch(r"[a-z]+", word) or word.endswith(("ed", "ing")):
            return False
        if word in BLOCKLIST or word in CLOSED_CLASS or word not in index["adj"]:
            return False
        first, tagged, _ = index["adj"][word]
        for pos in ("noun", "verb", "adv"):
            if word in index[pos] and (tagged == 0 or index[pos][word][1] > tagged):
                return False
        pairs = antonyms_of.get(word, set())
        return len({w for _, w in pairs}) == 1 and all(off == first for off, _ in pairs)

    pairs = set()
    for word, targets in antonyms_of.items():
        if not usable(word):
            continue
        (_, other), = targets
        if usable(other):
            pairs.add(tuple(sorted((word, other))))
    print("# Curated adjective antonym pairs derived from WordNet 3.0 by scripts/derive_antonyms.py.")
    print("# WordNet 3.0 Copyright 2006 by Princeton University. All rights reserved. See data/WORDNET-LICENSE.")
    for a, b in sorted(pairs):
        print(f"{a}\t{b}")


if __name__ == "__main__":
    main()
