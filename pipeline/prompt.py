"""Words -> attribute values of the conditional GAN: `--prompt` text and exact `--attr` pairs.

`parse_prompt` reads plain English the way people describe a face: adjectives before the noun
they describe ("black curly hair", "brown eyes"), a word for the person ("young woman", "guy"),
things a face has or has not ("glasses", "no beard", "bald"). A colour or size word is bound to
the attribute of the noun that follows it, so "brown eyes" sets eye_colour and "brown hair"
hair_colour; with no such noun it is used only where exactly one attribute allows it ("curly"
can only be hair_style), otherwise it is reported as ambiguous. Synonyms map onto the
vocabulary's own values ("blond" -> "blonde", "gray" -> "grey", "lady" -> female); a synonym
with several candidates takes the first the vocabulary has ("wavy" -> "wavy", or "curly" where
the vocabulary has no "wavy"). Age words give a range; the model takes one number, the middle.

Everything the parser did is in the result: what each word was taken as, and the words it did
not understand, so the CLI can print both. Only `parse_attrs` raises: an `--attr` the vocabulary
does not allow is the user's explicit request, and the error lists what is allowed.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pipeline.formats.encoding import ONE_HOT, SCALAR, Encoding

# What a noun (or the "-ed" adjective made from it) lets the words before it describe.
NOUNS: dict[str, tuple[str, ...]] = {
    # The first noun of each group is the one error messages suggest.
    **dict.fromkeys(["hair", "haired"], ("hair_colour", "hair_style")),
    **dict.fromkeys(["eyes", "eye", "eyed"], ("eye_colour", "eye_size")),
    **dict.fromkeys(["lips", "lip", "lipped", "mouth"], ("lip_colour", "lip_type")),
    **dict.fromkeys(["skin", "skinned", "complexion"], ("skin_colour",)),
    **dict.fromkeys(["eyebrows", "eyebrow", "brow", "brows", "browed"], ("eyebrow_style",)),
    **dict.fromkeys(["jaw", "jawline", "jawed", "chin", "face", "faced"], ("jaw_line",)),
    **dict.fromkeys(["forehead"], ("forehead",)),
    **dict.fromkeys(["ears", "ear", "eared"], ("ear",)),
}
# Adjective -> vocabulary values to try, in order (a word not listed stands for itself).
SYNONYMS: dict[str, tuple[str, ...]] = {
    "blond": ("blonde",), "gray": ("grey",), "greying": ("grey",), "graying": ("grey",),
    "silver": ("grey", "white"), "ginger": ("red",), "auburn": ("red",),
    "dark": ("dark", "black"), "fair": ("fair", "blonde"), "pale": ("fair", "light"),
    "tanned": ("olive", "brown"), "tan": ("olive", "brown"),
    "wavy": ("wavy", "curly"), "curly": ("curly", "wavy"), "curled": ("curly", "wavy"),
    "big": ("large",), "little": ("small",), "tiny": ("small",),
    "wide": ("broad",), "high": ("broad",), "low": ("narrow",),
    "thick": ("thick", "bushy", "full"), "bushy": ("bushy", "thick"), "plump": ("full",),
    "pointy": ("pointed",), "rounded": ("round",),
}
# Words that name a person: they set gender and end a run of adjectives.
PERSON: dict[str, str | None] = {
    **dict.fromkeys(["woman", "women", "lady", "girl", "female", "gal"], "female"),
    **dict.fromkeys(["man", "men", "guy", "boy", "male", "gentleman", "dude"], "male"),
    **dict.fromkeys(["person", "people", "someone", "adult", "portrait", "photo", "picture",
                     "headshot"], None),
}
# Age words -> (low, high) years.
AGES: dict[str, tuple[int, int]] = {
    **dict.fromkeys(["young", "youthful"], (18, 30)),
    **dict.fromkeys(["teen", "teenage", "teenager", "teenaged"], (13, 19)),
    **dict.fromkeys(["child", "kid"], (5, 12)),
    **dict.fromkeys(["old", "elderly", "senior", "aged"], (65, 85)),
    "middle aged": (40, 60),
}
# Words that carry a value without needing a noun; negated by "no"/"without".
# word -> (column, values to try, values to try when negated)
THINGS: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    **dict.fromkeys(["glasses", "spectacles", "specs", "bespectacled", "eyeglasses"],
                    ("eye_defect", ("glasses",), ("none",))),
    **dict.fromkeys(["squint", "squinting", "cross eyed"], ("eye_defect", ("squint",), ("none",))),
    **dict.fromkeys(["beard", "bearded"], ("beard_mustache", ("beard",), ("none",))),
    **dict.fromkeys(["mustache", "moustache", "mustached", "moustached"],
                    ("beard_mustache", ("mustache",), ("none",))),
    **dict.fromkeys(["stubble", "stubbly", "unshaven"],
                    ("beard_mustache", ("stubble",), ("none",))),
    **dict.fromkeys(["clean shaven", "shaven", "beardless", "shaved"],
                    ("beard_mustache", ("none",), ("none",))),
    **dict.fromkeys(["dimples", "dimple", "dimpled"], ("dimples", ("yes",), ("no",))),
    **dict.fromkeys(["bald", "balding"], ("hair_style", ("bald",), ())),
    **dict.fromkeys(["ponytail", "bun", "braid", "braids", "tied"], ("hair_style", ("tied",), ())),
    **dict.fromkeys(["brunette", "brunet"], ("hair_colour", ("brown",), ())),
    **dict.fromkeys(["redhead", "redheaded"], ("hair_colour", ("red",), ())),
}
NEGATIONS = {"no", "without", "not", "non"}
# Words that end a run of adjectives without describing anything themselves.
# "and" is not one of them: "black and curly hair" is one noun's adjectives.
BREAKS = {"with", "who", "has", "have", "having", "wearing", "wears", "is", "but"}
FILLER = {"a", "an", "the", "and", "of", "her", "his", "their", "s", "very", "quite", "rather",
          "slightly", "fairly", "somewhat", "looking", "in", "on", "at", "to", "wearing"}
YEARS = {"year", "years", "yr", "yrs", "yo"}


class PromptError(ValueError):
    """An --attr the vocabulary does not allow; the message lists what is allowed."""


@dataclass(frozen=True)
class ModelVocabulary:
    """What the conditional model can be asked for: the choice and number columns of its
    condition encoding (not `pipeline.attributes.Vocabulary`, the vocabulary students fill in,
    which also has free text)."""

    choices: Mapping[str, tuple[str, ...]]  # column -> allowed values
    numbers: Mapping[str, tuple[float, float]] = field(default_factory=dict)  # column -> range

    @classmethod
    def from_encoding(cls, encoding: Encoding | Mapping[str, Any]) -> ModelVocabulary:
        """From an Encoding, or its JSON form as stored with the model."""
        if not isinstance(encoding, Encoding):
            encoding = Encoding.from_json(encoding)
        choices = {b.column: b.values for b in encoding.blocks if b.kind == ONE_HOT}
        numbers = {b.column: (float(b.low), float(b.high)) for b in encoding.blocks
                   if b.kind == SCALAR}
        return cls(choices, numbers)

    @property
    def columns(self) -> list[str]:
        return [*self.choices, *self.numbers]


@dataclass(frozen=True)
class Understood:
    words: str  # as written in the prompt
    column: str
    value: str

    def __str__(self) -> str:
        return f"{self.words!r} -> {self.column}={self.value}"


@dataclass(frozen=True)
class PromptResult:
    attributes: dict[str, str]  # column -> value, ready for the condition encoding
    understood: tuple[Understood, ...]
    unknown: tuple[str, ...]  # words not understood, in order
    notes: tuple[str, ...] = ()  # ambiguities and conflicts, one sentence each


def parse_prompt(text: str, vocabulary: ModelVocabulary) -> PromptResult:
    """Map the words of `text` onto `vocabulary` (see the module docstring for the rules)."""
    return _Parser(vocabulary).run(text)


def describe(result: PromptResult) -> list[str]:
    """Lines for the terminal: what each word was taken as, the words not understood, notes."""
    lines = [f"understood: {u}" for u in result.understood]
    if not result.understood:
        lines.append("understood: nothing (every attribute will be drawn at random)")
    if result.unknown:
        lines.append(f"not understood: {', '.join(repr(w) for w in result.unknown)}")
    lines.extend(f"note: {n}" for n in result.notes)
    return lines


def parse_attrs(items: Iterable[str], vocabulary: ModelVocabulary) -> dict[str, str]:
    """`column=value` pairs -> attributes; PromptError naming the allowed columns or values."""
    out: dict[str, str] = {}
    for item in items:
        column, sep, value = (part.strip().lower() for part in item.partition("="))
        if not sep or not column or not value:
            raise PromptError(f"--attr {item!r}: write it as column=value, e.g. hair_colour=black")
        if column not in vocabulary.choices and column not in vocabulary.numbers:
            raise PromptError(f"--attr {item!r}: unknown attribute {column!r}"
                              f"{_did_you_mean(column, vocabulary.columns)}; the model knows "
                              f"{', '.join(vocabulary.columns)}")
        if column in vocabulary.numbers:
            low, high = vocabulary.numbers[column]
            try:
                number = float(value)
            except ValueError:
                number = float("nan")
            if not low <= number <= high:
                raise PromptError(f"--attr {item!r}: {column} must be a number from "
                                  f"{low:g} to {high:g}")
            out[column] = f"{number:g}"
            continue
        allowed = vocabulary.choices[column]
        if value not in allowed:
            raise PromptError(f"--attr {item!r}: {value!r} is not a {column}"
                              f"{_did_you_mean(value, allowed)}; allowed: {', '.join(allowed)}")
        out[column] = value
    return out


def _did_you_mean(word: str, options: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(options), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _tokens(text: str) -> list[str]:
    # Hyphens split ("blue-eyed" -> blue, eyed); punctuation is kept as a break.
    return re.findall(r"[a-z]+|\d+(?:\.\d+)?|[,.;:!?/]", text.lower().replace("-", " "))


class _Parser:
    def __init__(self, vocabulary: ModelVocabulary):
        self.vocab = vocabulary
        self.attributes: dict[str, str] = {}
        self.understood: list[Understood] = []
        self.unknown: list[str] = []
        self.notes: list[str] = []
        self.pending: list[str] = []  # adjectives waiting for their noun

    def run(self, text: str) -> PromptResult:
        tokens = _tokens(text)
        i = 0
        while i < len(tokens):
            i = self._step(tokens, i)
        self._flush()
        self._combine_beard_and_mustache()
        return PromptResult(dict(self.attributes), tuple(self.understood), tuple(self.unknown),
                            tuple(self.notes))

    def _step(self, tokens: list[str], i: int) -> int:
        word = tokens[i]
        pair = " ".join(tokens[i:i + 2])
        nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
        if re.fullmatch(r"\d+(?:\.\d+)?", word):
            return self._number(tokens, i)
        if pair in AGES:
            self._age(pair, AGES[pair])
            return i + 2
        if word in ("aged", "age") and re.fullmatch(r"\d+(?:\.\d+)?", nxt):
            return self._number(tokens, i + 1, prefix=word)
        if word in NEGATIONS and (nxt in THINGS or " ".join(tokens[i + 1:i + 3]) in THINGS):
            thing = nxt if nxt in THINGS else " ".join(tokens[i + 1:i + 3])
            column, _, negated = THINGS[thing]
            self._set(f"{word} {thing}", column, negated)
            return i + 1 + len(thing.split())
        if pair in THINGS:
            column, values, _ = THINGS[pair]
            self._set(pair, column, values)
            return i + 2
        if word in NOUNS:
            self._noun(word)
        elif word in PERSON:
            self._flush()
            if PERSON[word]:
                self._set(word, "gender", (PERSON[word],))
        elif word in AGES:
            self._age(word, AGES[word])
        elif word in THINGS:
            column, values, _ = THINGS[word]
            self._set(word, column, values)
        elif self._is_value(word):
            self.pending.append(word)
        elif word in BREAKS or not word.isalnum():
            self._flush()
        elif word not in FILLER and word not in NEGATIONS:
            self.unknown.append(word)
        return i + 1

    def _number(self, tokens: list[str], i: int, prefix: str = "") -> int:
        """An age: "30 years old", "30 year old", "30yo", "aged 30"."""
        j = i + 1
        while j < len(tokens) and tokens[j] in YEARS:
            j += 1
        if j < len(tokens) and tokens[j] == "old":
            j += 1
        words = " ".join(([prefix] if prefix else []) + tokens[i:j])
        if j == i + 1 and not prefix:
            self.unknown.append(tokens[i])
            return j
        age_column = self._age_column()
        if age_column is None:
            self.unknown.append(words)
            return j
        low, high = self.vocab.numbers[age_column]
        years = float(tokens[i])
        if not low <= years <= high:
            self.unknown.append(words)
            self.notes.append(f"{words!r}: {age_column} must be from {low:g} to {high:g}")
            return j
        self._record(words, age_column, f"{years:g}")
        return j

    def _age_column(self) -> str | None:
        if "age" in self.vocab.numbers:
            return "age"
        return None

    def _age(self, words: str, span: tuple[int, int]) -> None:
        column = self._age_column()
        if column is None:
            self.unknown.append(words)
            return
        low, high = self.vocab.numbers[column]
        middle = min(max((span[0] + span[1]) / 2, low), high)
        self._record(words, column, f"{middle:g}")
        self.notes.append(f"{words!r} read as age {span[0]}-{span[1]}; the model takes one "
                          f"number: {middle:g}")

    def _candidates(self, word: str) -> tuple[str, ...]:
        return SYNONYMS.get(word, (word,))

    def _is_value(self, word: str) -> bool:
        return any(v in values for v in self._candidates(word)
                   for values in self.vocab.choices.values())

    def _noun(self, noun: str) -> None:
        columns = [c for c in NOUNS[noun] if c in self.vocab.choices]
        words, self.pending = self.pending, []
        for word in words:
            if not self._assign(word, columns, noun):
                self._resolve_alone(word)

    def _flush(self) -> None:
        words, self.pending = self.pending, []
        for word in words:
            self._resolve_alone(word)

    def _assign(self, word: str, columns: list[str], noun: str = "") -> bool:
        for column in columns:
            for value in self._candidates(word):
                if value in self.vocab.choices[column]:
                    self._record(f"{word} {noun}".strip(), column, value)
                    return True
        return False

    def _resolve_alone(self, word: str) -> None:
        """An adjective with no noun: used only where a single attribute allows it."""
        columns = [c for c, values in self.vocab.choices.items()
                   if any(v in values for v in self._candidates(word))]
        if len(columns) == 1:
            self._assign(word, columns)
            return
        self.unknown.append(word)
        if columns:
            nouns = {c: next(n for n, cs in NOUNS.items() if c in cs) for c in columns
                     if any(c in cs for cs in NOUNS.values())}
            example = next(iter(nouns.values()), "")
            self.notes.append(f"{word!r} could be {', '.join(columns)}: say which, e.g. "
                              f"'{word} {example}'" if example else
                              f"{word!r} could be {', '.join(columns)}")

    def _set(self, words: str, column: str, values: tuple[str, ...]) -> None:
        allowed = self.vocab.choices.get(column, ())
        value = next((v for v in values if v in allowed), None)
        if value is None:
            self.unknown.append(words)
            if not values:
                self.notes.append(f"{words!r}: the model cannot be asked for the absence of "
                                  "that")
            elif column in self.vocab.choices:
                self.notes.append(f"{words!r}: the vocabulary's {column} has no "
                                  f"{' or '.join(repr(v) for v in values)}")
            return
        self._record(words, column, value)

    def _record(self, words: str, column: str, value: str) -> None:
        old = self.attributes.get(column)
        if old is not None and old != value and not (
                column == "beard_mustache" and {old, value} == {"beard", "mustache"}):
            self.notes.append(f"{column} asked for twice ({old!r} and {value!r}); the model "
                              f"takes one value, using {value!r}")
        self.attributes[column] = value
        self.understood.append(Understood(words, column, value))

    def _combine_beard_and_mustache(self) -> None:
        asked = {u.value for u in self.understood if u.column == "beard_mustache"}
        allowed = self.vocab.choices.get("beard_mustache", ())
        if {"beard", "mustache"} <= asked and "both" in allowed:
            self.attributes["beard_mustache"] = "both"
