"""Prompt words -> attribute values; --attr pairs; errors that list what is allowed."""

from __future__ import annotations

import pytest

from pipeline.formats.encoding import ONE_HOT, SCALAR, make_encoding
from pipeline.prompt import ModelVocabulary, PromptError, describe, parse_attrs, parse_prompt

# The starting vocabulary of docs (DESIGN.md), as the shard stage encodes it.
CHOICES = {
    "lip_type": ("thin", "medium", "full"),
    "lip_colour": ("pink", "red", "brown", "dark"),
    "forehead": ("narrow", "medium", "broad"),
    "dimples": ("yes", "no"),
    "ear": ("small", "medium", "large"),
    "eye_size": ("small", "medium", "large"),
    "eye_defect": ("none", "glasses", "squint", "other"),
    "eye_colour": ("brown", "black", "blue", "green", "hazel", "grey"),
    "eyebrow_style": ("thin", "thick", "arched", "straight", "bushy"),
    "jaw_line": ("round", "square", "pointed", "oval"),
    "skin_colour": ("fair", "light", "medium", "olive", "brown", "dark"),
    "hair_colour": ("black", "brown", "blonde", "red", "grey", "white", "other"),
    "hair_style": ("short", "medium", "long", "curly", "wavy", "straight", "bald", "tied"),
    "beard_mustache": ("none", "beard", "mustache", "both", "stubble"),
    "gender": ("female", "male", "other"),
}
ENCODING = make_encoding([*((c, ONE_HOT, v) for c, v in CHOICES.items()),
                          ("age", SCALAR, (1, 100)), ("identification_mark", "text", ())])
VOCAB = ModelVocabulary.from_encoding(ENCODING)


def test_vocabulary_from_the_encoding_and_its_json():
    assert VOCAB.choices == CHOICES and VOCAB.numbers == {"age": (1.0, 100.0)}
    assert ModelVocabulary.from_encoding(ENCODING.to_json()) == VOCAB
    assert "identification_mark" not in VOCAB.columns


def test_the_example_prompt():
    result = parse_prompt("young woman with black curly hair and brown eyes", VOCAB)
    assert result.attributes == {"age": "24", "gender": "female", "hair_colour": "black",
                                 "hair_style": "curly", "eye_colour": "brown"}
    assert result.unknown == ()
    assert [u.words for u in result.understood] == ["young", "woman", "black hair",
                                                    "curly hair", "brown eyes"]
    assert any("18-30" in n for n in result.notes)  # the age range behind the single number


@pytest.mark.parametrize(("text", "expected"), [
    ("brown eyes", {"eye_colour": "brown"}),
    ("brown hair", {"hair_colour": "brown"}),
    ("brown skin", {"skin_colour": "brown"}),
    ("brown-eyed, brown-haired", {"eye_colour": "brown", "hair_colour": "brown"}),
    ("black and curly hair", {"hair_colour": "black", "hair_style": "curly"}),
    ("blond lady", {"hair_colour": "blonde", "gender": "female"}),
    ("blonde girl", {"hair_colour": "blonde", "gender": "female"}),
    ("gray eyes", {"eye_colour": "grey"}),
    ("grey hair", {"hair_colour": "grey"}),
    ("a guy with wavy hair", {"gender": "male", "hair_style": "wavy"}),
    ("old man with a beard and moustache", {"age": "75", "gender": "male",
                                            "beard_mustache": "both"}),
    ("clean-shaven man without glasses", {"beard_mustache": "none", "gender": "male",
                                          "eye_defect": "none"}),
    ("30 year old woman", {"age": "30", "gender": "female"}),
    ("dark hair, thin lips, big ears", {"hair_colour": "black", "lip_type": "thin",
                                        "ear": "large"}),
])
def test_words_map_onto_the_vocabulary(text, expected):
    result = parse_prompt(text, VOCAB)
    assert result.attributes == expected and result.unknown == ()


def test_a_synonym_falls_back_to_what_the_vocabulary_has():
    no_wavy = ModelVocabulary({**CHOICES, "hair_style": ("short", "long", "curly", "bald")})
    assert parse_prompt("wavy hair", no_wavy).attributes == {"hair_style": "curly"}


def test_unknown_words_are_named():
    result = parse_prompt("smiling young woman with freckles and black hair", VOCAB)
    assert result.unknown == ("smiling", "freckles")
    assert result.attributes == {"age": "24", "gender": "female", "hair_colour": "black"}
    lines = describe(result)
    assert "not understood: 'smiling', 'freckles'" in lines


def test_a_colour_without_a_noun_is_ambiguous_not_guessed():
    result = parse_prompt("brown", VOCAB)
    assert result.attributes == {} and result.unknown == ("brown",)
    assert "hair_colour" in result.notes[0] and "eye_colour" in result.notes[0]
    # ...but a word only one attribute allows needs no noun
    assert parse_prompt("curly", VOCAB).attributes == {"hair_style": "curly"}


def test_asking_twice_keeps_the_last_and_says_so():
    result = parse_prompt("long curly hair", VOCAB)
    assert result.attributes == {"hair_style": "curly"}
    assert "hair_style asked for twice" in result.notes[0]


def test_an_age_outside_the_range_is_not_used():
    result = parse_prompt("150 years old", VOCAB)
    assert "age" not in result.attributes and result.unknown == ("150 years old",)


def test_attrs_exact_control():
    assert parse_attrs(["hair_colour=black", " Eye_Colour = Blue ", "age=33"], VOCAB) == {
        "hair_colour": "black", "eye_colour": "blue", "age": "33"}


@pytest.mark.parametrize(("item", "message"), [
    ("hair_colour=purple", "allowed: black, brown, blonde, red, grey, white, other"),
    ("hair_color=black", "did you mean 'hair_colour'?"),
    ("hair_colour=blak", "did you mean 'black'?"),
    ("age=200", "age must be a number from 1 to 100"),
    ("age=young", "age must be a number"),
    ("black", "write it as column=value"),
])
def test_attrs_errors_list_what_is_allowed(item, message):
    with pytest.raises(PromptError, match=message.replace("?", r"\?").replace("(", r"\(")):
        parse_attrs([item], VOCAB)
