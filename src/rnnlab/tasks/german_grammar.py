"""A synchronous grammar of German and English: every derivation writes a German sentence and its
English translation at once, from the words of :mod:`rnnlab.tasks.german_lexicon`.

:func:`generate` draws one sentence pair of about a requested number of German tokens; the
``german_english`` task (:mod:`rnnlab.tasks.german_english`) is built on it (``docs/tasks.md``,
"German–English sentences").

**The fragment of German covered** (present tense, declarative; ``X*`` repeats, ``[X]`` is
optional, ``X | Y`` is a choice; the English order follows each rule after ``⇒``)::

    sentence   → period | period coordinator sentence        und, oder, ", aber", ", denn"
    period     → main | main ", " sub | sub ", " main₁        main₁: the sub clause is its Vorfeld
    sub        → subordinator final                           weil, obwohl, während, bevor, sobald
    main       → Vorfeld finite middle [right] [complement]   verb second (V2)
                 ⇒ [front] subject verbs objects [adverbial] [predicate] [adverb] [complement]
    final      → middle [infinitive] finite [complement]      verb last
    middle     → subject [adverb] [dative] [accusative] [adverbial | predicate]
    complement → ", dass" final ","                           ⇒ "that" …   (verbs of saying)
    NP         → determiner adjective* noun [PP] [relative] | NP "und" NP | pronoun
    relative   → ", " pronoun final ","                       ⇒ "that" … (with its gap)
    PP         → preposition NP                               in dem → im, in das → ins, …

- **Verb second.** The finite verb (or modal) of a main clause follows exactly one constituent:
  the subject, a time adverb (``heute``), a sentence adverb (``leider``), the accusative or
  dative object, a location (``im Garten``), or a whole subordinate clause. English keeps
  subject–verb–object order: ``Den Hund sieht die Frau heute`` → ``the woman sees the dog
  today``; ``Heute sieht die Frau den Hund`` → ``today the woman sees the dog``.
- **Verb last.** Subordinate, ``dass`` and relative clauses end with the verb: ``weil der Mann
  den Hund sehen will`` → ``because the man wants to see the dog``. A separable particle stays
  at the end of a main clause (``ruft die Frau an`` → ``phones the woman``) and joins the verb
  in a final clause (``anruft``); a modal's infinitive ends the main clause (``will … sehen``).
- **Agreement.** Determiner, adjectives and noun agree in gender, number and case (weak, mixed
  or strong adjective endings after ``der``, ``ein`` or no inflected determiner); the finite
  verb agrees with its subject in person and number (``ich sehe``, ``du siehst``, ``der Hund
  sieht``, ``der Hund und die Katze sehen``); a relative pronoun agrees with its head noun in
  gender and number, and its case is its role in the relative clause.
- **Case government.** Verbs take nominative subjects, accusative (``sehen``), dative
  (``helfen``) or both (``geben``: dative before accusative); ``mit``, ``zu``, ``aus`` govern
  the dative, ``für``, ``ohne``, ``durch`` the accusative, and ``in``, ``auf``, ``unter``,
  ``neben``, ``hinter``, ``vor`` the dative for a location (``im Garten``: ``in the garden``)
  and the accusative for a direction (``in den Garten``: ``into the garden``).
- **Relative clauses** are relativised on the subject (``der Hund, der die Katze sieht`` → ``the
  dog that sees the cat``), the accusative object (``der Hund, den die Katze sieht`` → ``the
  dog that the cat sees``) or the dative object of a dative verb (``der Mann, dem das Kind
  hilft``); they may nest. English uses ``that`` throughout.
- **Commas** enclose every subordinate and relative clause and precede ``aber`` and ``denn``;
  two commas that meet become one and none ends the sentence. English writes one after a
  fronted subordinate clause and before ``but``.

**Unambiguous by construction.** German marks roles by case, and some forms do not show their
case (``die Frau`` is nominative or accusative). The grammar puts a non-subject first — an
object in the Vorfeld, or an object relative pronoun — only where the forms and the verb's
agreement admit one reading (``Den Hund sieht die Frau``, ``die Frauen, die der Hund sieht``),
and never moves the subject out of first place otherwise; so a reader who takes the
subject-first reading whenever the forms allow it recovers the derivation, and the English of a
German sentence is a function of it (the tests check this), with one known exception, kept as
an expected failure in the tests: a verb of motion takes a direction (accusative, ``into``) or
a location (dative, ``in``), and a bare plural whose dative equals its accusative shows neither
(``der Hund läuft auf Kisten``: ``runs onto boxes`` or ``runs on boxes``; about 0.5-1% of the
sentences). Attachment ambiguities (``den Hund
im Garten``) are left in, where English has the same one in the same words.

**Text.** Tokens are words and commas; German nouns keep their capital, no other word is
capitalised (English ``I`` excepted), and sentences have no final full stop.

**Length.** :func:`generate` spends a budget of German tokens top-down: it chooses structures
that fit (coordination, subordinate clauses, relative clauses, prepositional phrases,
adjectives, adverbs), splits what is left among the parts at random, and so writes sentences of
at most the requested length, often fewer: budget that a clause without growable parts cannot
use is lost (asked for 30 tokens, it writes 25 on average, exactly 30 about one time in eight;
asked for 60, about 37). :class:`~rnnlab.tasks.german_english.GermanEnglish` draws again until
the length is exact. Semantic tags (:mod:`~rnnlab.tasks.german_lexicon`) keep nouns with verbs,
adjectives and prepositions that suit them; they are coarse, so a sentence can be odd (``the
donkey reads the poem``) but never ungrammatical.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from rnnlab.tasks.german_lexicon import (
    ADJECTIVES,
    ATTRIBUTE,
    BARE,
    BENEFICIARY,
    CASES,
    COMMA,
    COMPLEMENTIZER,
    CONTRACTIONS,
    COORDINATORS,
    DETERMINERS,
    DIRECTIONS,
    ENDINGS,
    LOCATIONS,
    MODALS,
    NOUNS,
    NP_AND,
    PLACEMENTS,
    POSSESSIVES,
    PRONOUNS,
    RELATIVE_PRONOUNS,
    RELATIVIZER,
    SENTENCE_ADVERBS,
    SUBORDINATORS,
    TIME_ADVERBS,
    VERBS,
    WITH,
    WITHOUT,
    Adjective,
    Determiner,
    Noun,
    Preposition,
    Verb,
    Word,
    slot,
)

Tokens = tuple[str, ...]

# How deep constituents may embed (a relative clause, a prepositional phrase or a ``dass``
# clause each adds one level below the sentence's own clauses).
MAX_RELATIVE_DEPTH = 2
MAX_PHRASE_DEPTH = 3
# The fewest German tokens of a main clause ("der Hund schläft") and of a coordinated or
# subordinated period.
MIN_CLAUSE = 3
MIN_PERIOD = 4
# The German tokens each frame needs besides its subject and verb.
FRAME_COST = {
    "intr": 0, "move": 0, "trans": 2, "carry": 2, "put": 4, "dat": 2, "ditr": 4,
    "copula": 1, "say": 5,
}  # fmt: skip
# Frames that a modal can join.
MODAL_FRAMES = frozenset({"intr", "move", "trans", "carry", "put", "dat", "ditr"})
# The prepositional phrases a clause can take, by kind, and the kinds each frame takes (one
# phrase at most; "put" always takes its placement).
ADVERBIALS: dict[str, tuple[Preposition, ...]] = {
    "location": LOCATIONS,
    "direction": DIRECTIONS,
    "placement": PLACEMENTS,
    "with": (WITH,),
    "without": (WITHOUT,),
    "beneficiary": (BENEFICIARY,),
}
FRAME_ADVERBIALS = {
    "intr": ("location", "with", "without", "beneficiary"),
    "move": ("direction", "location", "with", "without"),
    "trans": ("location", "with", "without", "beneficiary"),
    "carry": ("direction", "location", "beneficiary"),
    "dat": ("location", "with", "without"),
    "ditr": ("location", "with", "without"),
}
# The kinds a German reader could also take as the attribute of the noun before them (the
# attributes are locations and "mit"-phrases).
ATTACHING = frozenset({"location", "with"})


@dataclass(frozen=True)
class Pair:
    """A constituent written in both languages."""

    german: Tokens
    english: Tokens


@dataclass(frozen=True)
class NounPhrase(Pair):
    """A noun phrase and what the clause needs to know about it.

    Attributes:
        person, number: its agreement features (a noun phrase is 3rd person, a pronoun its own).
        cases: every case its German words could be read in (``die Frau``: nominative and
            accusative), to keep the word order unambiguous.
        tags: the semantic tags of its noun (of both nouns, for a coordination: the shared ones).
        article: the definite article it begins with, which a preposition may absorb (``in`` +
            ``dem`` → ``im``); ``""`` when it begins otherwise or carries a relative clause.
    """

    person: int
    number: str
    cases: frozenset[str]
    tags: frozenset[str]
    article: str


@dataclass(frozen=True)
class Gap:
    """The role a relative pronoun takes in its clause (``"nom"``, ``"acc"``, ``"dat"``) and
    what the verb must accept there: the head noun's tags and number."""

    role: str
    tags: frozenset[str]
    number: str


@dataclass(frozen=True)
class Clause:
    """A clause before it is put in order: main (verb second) or final (verb last).

    ``gap`` is the role taken by a relative pronoun, whose noun phrase is then missing;
    ``front`` names what a main clause puts before its finite verb
    (``"subject"``, ``"adverb"``, ``"sentence_adverb"``, ``"acc"``, ``"dat"``, ``"adverbial"``;
    ``"none"`` for a verb-last clause and after a fronted subordinate clause).
    """

    verb: Verb
    modal: Verb | None
    index: int  # the agreement slot of the subject
    subject: NounPhrase | None
    dative: NounPhrase | None
    accusative: NounPhrase | None
    adverbial: Pair | None  # a prepositional phrase of one of the ADVERBIALS
    adverbial_kind: str | None
    predicate: Pair | None  # the copula's adjective or location
    adverb: Word | None  # a time adverb
    sentence_adverb: Word | None
    complement: Pair | None  # a dass clause
    gap: Gap | None
    front: str

    @property
    def finite(self) -> Verb:
        return self.modal or self.verb


# ---------------------------------------------------------------------------- word order


def german_main(clause: Clause) -> Tokens:
    """A main clause: one constituent (or none, after a fronted subordinate clause), the finite
    verb, the middle field, the infinitive or particle, the complement clause."""
    fields = _middle(clause)
    vorfeld = (
        tuple(clause.sentence_adverb.german.split())
        if clause.front == "sentence_adverb"
        else fields.pop(clause.front, ())
    )
    right = (clause.verb.infinitive,) if clause.modal else (clause.verb.particle,)
    return (
        *vorfeld,
        clause.finite.finite(clause.index, joined=False),
        *_join(fields.values()),
        *filter(None, right),
        *(clause.complement.german if clause.complement else ()),
    )


def german_final(clause: Clause) -> Tokens:
    """A verb-last clause (without its subordinator or relative pronoun): the middle field, then
    the infinitive and the finite modal, or the finite verb with its particle joined."""
    if clause.modal:
        verbs: Tokens = (clause.verb.infinitive, clause.modal.finite(clause.index, joined=False))
    else:
        verbs = (clause.verb.finite(clause.index, joined=True),)
    complement = clause.complement.german if clause.complement else ()
    return (*_join(_middle(clause).values()), *verbs, *complement)


def _middle(clause: Clause) -> dict[str, Tokens]:
    """The middle field in German order; a relativised role is left out."""
    adverb = tuple(clause.adverb.german.split()) if clause.adverb else ()
    fields = {
        "subject": clause.subject.german if clause.subject else (),
        "adverb": adverb,
        "dat": clause.dative.german if clause.dative else (),
        "acc": clause.accusative.german if clause.accusative else (),
        "adverbial": clause.adverbial.german if clause.adverbial else (),
        "predicate": clause.predicate.german if clause.predicate else (),
    }
    return {name: tokens for name, tokens in fields.items() if tokens}


def english(clause: Clause) -> Tokens:
    """The clause in English order: what a German main clause fronted (an adverb, a sentence
    adverb, a location; not an object), subject, verbs, dative and accusative objects, the
    adverbial or predicate, the time adverb, the complement clause."""
    front: Tokens = ()
    if clause.front == "sentence_adverb":
        front = tuple(clause.sentence_adverb.english.split())
    elif clause.front == "adverb":
        front = tuple(clause.adverb.english.split())
    elif clause.front == "adverbial":
        front = clause.adverbial.english
    if clause.modal:
        verbs = (*clause.modal.english[clause.index].split(), *clause.verb.english_base.split())
    else:
        verbs = tuple(clause.verb.english[clause.index].split())
    adverb = clause.adverb.english.split() if clause.adverb and clause.front != "adverb" else ()
    return (
        *front,
        *(clause.subject.english if clause.subject else ()),
        *verbs,
        *(clause.dative.english if clause.dative else ()),
        *(clause.accusative.english if clause.accusative else ()),
        *(clause.adverbial.english if clause.adverbial and clause.front != "adverbial" else ()),
        *(clause.predicate.english if clause.predicate else ()),
        *adverb,
        *(clause.complement.english if clause.complement else ()),
    )


def punctuate(tokens: Iterable[str]) -> Tokens:
    """Commas that meet become one; none begins or ends the sentence."""
    out: list[str] = []
    for token in tokens:
        if token == COMMA and (not out or out[-1] == COMMA):
            continue
        out.append(token)
    while out and out[-1] == COMMA:
        out.pop()
    return tuple(out)


def _join(parts: Iterable[Sequence[str]]) -> Tokens:
    return tuple(token for part in parts for token in part)


def unambiguous(
    arguments: Sequence[tuple[str, frozenset[str], int]], finite: Verb, index: int
) -> bool:
    """Whether the roles of a clause's noun phrases can be read in one way only.

    ``arguments`` holds each phrase's ``(role, cases its form allows, agreement slot)``; a
    reading gives every phrase a different role its form allows, the nominative one agreeing
    with the finite verb (whose form may serve several slots: ``liest`` is ``du`` and ``er``).
    """
    form = finite.forms[index]
    agreeing = {i for i, f in enumerate(finite.forms) if f == form}
    roles = [role for role, _, _ in arguments]
    readings = {
        reading
        for reading in itertools.permutations(roles)
        if all(
            role in cases and (role != "nom" or agreement in agreeing)
            for role, (_, cases, agreement) in zip(reading, arguments, strict=True)
        )
    }
    return len(readings) == 1


def attachment_clear(clause: Clause) -> bool:
    """Whether the clause's prepositional phrase can be read as the clause's only.

    German could also read a location or ``mit``-phrase as the attribute of a noun phrase just
    before it. That reading has the same English where the English phrase also follows that
    noun phrase (the last object: ``sieht den Hund im Garten`` → ``sees the dog in the
    garden``), but not where German puts another one there: the subject after a fronted object
    or adverb, or in a verb-last clause (``weil der Hund im Garten schläft`` could be ``because
    the dog in the garden sleeps``), or the dative after a fronted accusative. A pronoun, an
    adverb, or a phrase closed by its relative clause's comma leaves no such reading.
    """
    if clause.adverbial is None or clause.adverbial_kind not in ATTACHING:
        return True
    fields = list(_middle(clause))
    if clause.front == "adverbial":
        return True
    before = [f for f in fields[: fields.index("adverbial")] if f != clause.front]
    if not before or before[-1] == "adverb":
        return True
    phrase = {"subject": clause.subject, "dat": clause.dative, "acc": clause.accusative}[before[-1]]
    if phrase.person != 3 or phrase.german[-1] == COMMA:
        return True
    english_last = "acc" if clause.accusative else "dat" if clause.dative else None
    return before[-1] == english_last


# ---------------------------------------------------------------------------- generation


def _by_tags(words: Sequence, tags: frozenset[str]) -> list:
    return [w for w in words if w.tags & tags]


_FRAMES: dict[str, list[Verb]] = {}
for _verb in VERBS:
    for _frame in _verb.frames:
        _FRAMES.setdefault(_frame, []).append(_verb)
_COORDINABLE = tuple(d for d in DETERMINERS if d.name not in ("jeder", "kein"))


class Generator:
    """Draws sentence pairs with ``rng`` (a :class:`random.Random`, so that a seed fixes every
    choice; Python's ``random`` draws the same numbers on every platform and version)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    # ------------------------------------------------------------------ helpers
    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def split(self, total: int, minimums: Sequence[int]) -> list[int]:
        """``total`` cut at random into parts of at least ``minimums`` (the minimums alone when
        ``total`` is smaller)."""
        if not minimums:
            return []
        spare = max(0, total - sum(minimums))
        cuts = sorted(self.rng.randint(0, spare) for _ in range(len(minimums) - 1))
        shares = [b - a for a, b in zip([0, *cuts], [*cuts, spare], strict=True)]
        return [m + s for m, s in zip(minimums, shares, strict=True)]

    # ------------------------------------------------------------------ sentences
    def sentence(self, budget: int) -> Pair:
        """Main clauses joined by coordinators, each perhaps with a subordinate clause."""
        if budget >= 2 * MIN_PERIOD + 2 and self.chance(min(0.5, budget / 60)):
            coordinator = self.rng.choice(COORDINATORS)
            first, rest = self.split(budget - 1 - coordinator.german_comma, (MIN_PERIOD,) * 2)
            left = self.period(first, may_front=True)
            # "denn" takes one plain period: "because because …" is no English.
            if coordinator.german == "denn":
                right = self.period(rest, may_front=False)
            else:
                right = self.sentence(rest)
            return Pair(
                (*left.german, *(COMMA,) * coordinator.german_comma, coordinator.german,
                 *right.german),
                (*left.english, *(COMMA,) * coordinator.english_comma, coordinator.english,
                 *right.english),
            )  # fmt: skip
        return self.period(budget, may_front=True)

    def period(self, budget: int, *, may_front: bool) -> Pair:
        """A main clause alone, or with a subordinate clause after it or (``may_front``) before
        it, as its Vorfeld."""
        if budget < MIN_CLAUSE + MIN_PERIOD + 1 or not self.chance(min(0.6, budget / 30)):
            clause = self.clause(budget, main=True, depth=0)
            return Pair(german_main(clause), english(clause))
        subordinator = self.rng.choice(SUBORDINATORS)
        main_budget, sub_budget = self.split(budget - 2, (MIN_CLAUSE, MIN_CLAUSE))
        sub = self.clause(sub_budget, main=False, depth=0)
        sub_german = (subordinator.german, *german_final(sub))
        sub_english = (*subordinator.english.split(), *english(sub))
        if may_front and self.chance(0.4):
            main = self.clause(main_budget, main=True, depth=0, front_taken=True)
            return Pair(
                (*sub_german, COMMA, *german_main(main)),
                (*sub_english, COMMA, *english(main)),
            )
        main = self.clause(main_budget, main=True, depth=0)
        return Pair((*german_main(main), COMMA, *sub_german, COMMA), (*english(main), *sub_english))

    # ------------------------------------------------------------------ clauses
    def clause(self, budget: int, *, main: bool, depth: int, front_taken: bool = False) -> Clause:
        """A clause of about ``budget`` German tokens (not counting a subordinator), verb second
        (``main``, its Vorfeld already filled if ``front_taken``) or verb last."""
        clause = self._clause(max(2, budget), main=main, depth=depth, front_taken=front_taken)
        assert clause is not None  # an intransitive verb with a pronoun fits 2 tokens
        return clause

    def _clause(
        self,
        budget: int,
        *,
        main: bool,
        depth: int,
        front_taken: bool = False,
        gap: Gap | None = None,
    ) -> Clause | None:
        """:meth:`clause`, or a relative clause missing the role of ``gap`` (``None`` if no
        verb that fits ``budget`` takes the head noun in that role)."""
        choices = self._verbs(budget, gap)
        if not choices:
            return None
        role = gap.role if gap else None
        frame = self.rng.choice(sorted(choices))
        verb = self.rng.choice(choices[frame])
        pronoun = None
        if role != "nom" and "person" in verb.subjects and self.chance(0.15):
            pronoun = self.rng.choice(PRONOUNS)
        subject_cost = 0 if role == "nom" else 1 if pronoun else 2
        spare = budget - 1 - subject_cost - FRAME_COST[frame] - (main and bool(verb.particle))

        modal = None
        if frame in MODAL_FRAMES and spare >= 3 and self.chance(0.2):
            modal, spare = self.rng.choice(MODALS), spare - 1
        adverb = None
        if frame != "say" and spare >= 3 and self.chance(0.25):
            adverb, spare = self.rng.choice(TIME_ADVERBS), spare - 1
        sentence_adverb = None
        if main and not front_taken and spare >= 3 and self.chance(0.12):
            sentence_adverb = self.rng.choice(SENTENCE_ADVERBS)
            spare -= len(sentence_adverb.german.split())
        adverbial_kind = None
        if frame == "put":
            adverbial_kind = "placement"
        elif frame in FRAME_ADVERBIALS and spare >= 2 and self.chance(0.45):
            kinds = [k for k in FRAME_ADVERBIALS[frame] if k != "beneficiary" or verb.benefactive]
            adverbial_kind = self.rng.choice(kinds)
            spare -= 2

        # Split what is left among the parts that can grow.
        parts = [
            part
            for part, present in (
                ("subject", role != "nom" and pronoun is None),
                ("dat", frame in ("dat", "ditr") and role != "dat"),
                ("acc", frame in ("trans", "carry", "put", "ditr") and role != "acc"),
                ("adverbial", adverbial_kind is not None),
                ("predicate", frame == "copula"),
                ("complement", frame == "say"),
            )
            if present
        ]
        shares = dict(zip(parts, self.split(spare, [0] * len(parts)), strict=True))

        if gap and gap.role == "nom":
            subject = None
            person, number = 3, gap.number
        elif pronoun is not None:
            subject = self._pronoun(pronoun)
            person, number = pronoun.person, pronoun.number
        else:
            subject = self.noun_phrase(2 + shares["subject"], "nom", verb.subjects, depth)
            person, number = subject.person, subject.number
        dative = (
            self.noun_phrase(2 + shares["dat"], "dat", verb.recipients, depth)
            if "dat" in shares
            else None
        )
        accusative = (
            self.noun_phrase(2 + shares["acc"], "acc", verb.objects, depth)
            if "acc" in shares
            else None
        )
        adverbial = (
            self.prepositional(
                self.rng.choice(ADVERBIALS[adverbial_kind]), 2 + shares["adverbial"], depth
            )
            if adverbial_kind
            else None
        )
        predicate = None
        if frame == "copula":
            subject_tags = subject.tags if subject else gap.tags
            predicate = self.predicate(1 + shares["predicate"], subject_tags, depth)
        complement = None
        if frame == "say":
            complement = self.complement(shares["complement"] + 4, depth)

        clause = Clause(
            verb=verb,
            modal=modal,
            index=slot(person, number),
            subject=subject,
            dative=dative,
            accusative=accusative,
            adverbial=adverbial,
            adverbial_kind=adverbial_kind,
            predicate=predicate,
            adverb=adverb,
            sentence_adverb=sentence_adverb,
            complement=complement,
            gap=gap,
            front="subject" if main and not front_taken else "none",
        )
        if main and not front_taken:
            clause = self._front(clause)
        if not attachment_clear(clause):
            clause = replace(clause, adverbial=None, adverbial_kind=None)
        return clause

    @staticmethod
    def _verbs(budget: int, gap: Gap | None) -> dict[str, list[Verb]]:
        """The verbs that fit ``budget`` by frame; with a ``gap``, those whose argument in its
        role can be the head noun."""
        role = gap.role if gap else None
        choices = {}
        for frame, verbs in _FRAMES.items():
            if 1 + (role != "nom") + FRAME_COST[frame] > budget:
                continue
            if role == "nom":
                verbs = [v for v in verbs if v.subjects & gap.tags]
            elif role == "acc":
                ok = frame in ("trans", "carry", "put", "ditr")
                verbs = [v for v in verbs if ok and v.objects & gap.tags]
            elif role == "dat":  # English strands no recipient ("the child that he gives it")
                verbs = [v for v in verbs if frame == "dat" and v.recipients & gap.tags]
            if verbs:
                choices[frame] = verbs
        return choices

    def _front(self, clause: Clause) -> Clause:
        """Choose what opens a main clause: a sentence adverb if it has one; else the subject,
        the time adverb, a location, or an object whose role stays unambiguous — whichever
        keeps the clause's prepositional phrase unambiguous too (the subject always does)."""
        if clause.sentence_adverb:
            return replace(clause, front="sentence_adverb")
        options = ["subject", "subject"]
        if clause.adverb:
            options.append("adverb")
        if clause.adverbial_kind == "location":
            options.append("adverbial")
        objects = [r for r, p in (("acc", clause.accusative), ("dat", clause.dative)) if p]
        if objects and self._object_may_front(clause):
            options.extend(objects)
        fronted = [replace(clause, front=option) for option in options]
        return self.rng.choice([c for c in fronted if attachment_clear(c)])

    @staticmethod
    def _object_may_front(clause: Clause) -> bool:
        arguments = [
            (role, phrase.cases, slot(phrase.person, phrase.number))
            for role, phrase in (
                ("nom", clause.subject),
                ("dat", clause.dative),
                ("acc", clause.accusative),
            )
            if phrase
        ]
        return unambiguous(arguments, clause.finite, clause.index)

    def complement(self, budget: int, depth: int) -> Pair:
        """``, dass`` and a verb-last clause (a verb of saying's object)."""
        clause = self.clause(budget - 3, main=False, depth=depth + 1)
        return Pair(
            (COMMA, COMPLEMENTIZER.german, *german_final(clause), COMMA),
            (COMPLEMENTIZER.english, *english(clause)),
        )

    def predicate(self, budget: int, tags: frozenset[str], depth: int) -> Pair:
        """The copula's predicate: an adjective that suits the subject (one token), or a
        location (more)."""
        adjectives = _by_tags(ADJECTIVES, tags)
        if adjectives and budget < 3:
            adjective = self.rng.choice(adjectives)
            return Pair((adjective.german,), (adjective.english,))
        return self.prepositional(self.rng.choice(LOCATIONS), max(2, budget), depth)

    # ------------------------------------------------------------------ phrases

    def prepositional(self, preposition: Preposition, budget: int, depth: int) -> Pair:
        """``preposition`` and its noun phrase, the article absorbed where German writes one
        word (``im``, ``ins``, ``zum``, ``zur``)."""
        phrase = self.noun_phrase(
            max(1, budget - 1), preposition.case, preposition.tags, depth + 1, coordinate=False
        )
        contracted = CONTRACTIONS.get((preposition.german, phrase.article))
        german = (contracted, *phrase.german[1:]) if contracted else (
            *preposition.german.split(), *phrase.german
        )  # fmt: skip
        return Pair(german, (*preposition.english.split(), *phrase.english))

    def _pronoun(self, pronoun) -> NounPhrase:
        return NounPhrase(
            (pronoun.german,),
            (pronoun.english,),
            person=pronoun.person,
            number=pronoun.number,
            cases=frozenset({"nom"}),
            tags=frozenset({"person"}),
            article="",
        )

    def noun_phrase(
        self,
        budget: int,
        case: str,
        tags: frozenset[str],
        depth: int,
        *,
        coordinate: bool = True,
    ) -> NounPhrase:
        """A noun phrase in ``case`` whose noun has one of ``tags``, of about ``budget`` tokens:
        two simple ones joined by ``und``, or a :meth:`simple_noun_phrase`."""
        if coordinate and 5 <= budget <= 9 and self.chance(0.15):
            left_budget, right_budget = self.split(budget - 1, (2, 2))
            left = self.simple_noun_phrase(left_budget, case, tags, depth, coordinated=True)
            right = self.simple_noun_phrase(right_budget, case, tags, depth, coordinated=True)
            return NounPhrase(
                (*left.german, NP_AND.german, *right.german),
                (*left.english, NP_AND.english, *right.english),
                person=3,
                number="pl",
                cases=left.cases & right.cases,
                tags=left.tags & right.tags,
                article=left.article,
            )
        return self.simple_noun_phrase(budget, case, tags, depth, coordinated=not coordinate)

    def simple_noun_phrase(
        self, budget: int, case: str, tags: frozenset[str], depth: int, *, coordinated: bool
    ) -> NounPhrase:
        """Determiner, adjectives (at most two), noun, then — unless ``coordinated`` (a conjunct
        of ``und``, which also takes no ``jeder`` or ``kein``) — a prepositional phrase, a
        relative clause, or both."""
        noun = self.rng.choice(_by_tags(NOUNS, tags))
        number = "pl" if budget == 1 or self.chance(0.3) else "sg"
        determiners = _COORDINABLE if coordinated else DETERMINERS
        choices = [
            d for d in determiners
            if number in d.numbers and not ("spouse" in noun.tags and d.name in POSSESSIVES)
        ]  # fmt: skip
        if number == "pl":
            choices.append(BARE)
        determiner = BARE if budget == 1 else self.rng.choice(choices)
        spare = budget - 1 - (determiner is not BARE)

        modifiable = not coordinated and depth < MAX_PHRASE_DEPTH and spare >= 2
        count = self.rng.choice((0, 0, 1, 1, 2)) if modifiable else 2
        adjectives = self.adjectives(noun, min(spare, count))
        spare -= len(adjectives)
        attribute = relative = None
        if modifiable and spare >= 4 and depth < MAX_RELATIVE_DEPTH and self.chance(0.6):
            attribute_budget = 0
            if spare >= 8 and self.chance(0.3):
                attribute_budget, spare = self.split(spare, (2, 4))
            relative = self.relative(spare, noun, number, depth)
            spare = attribute_budget if relative else spare + attribute_budget
        if modifiable and spare >= 2:
            attribute = self.attribute(noun, spare, depth)

        german, english = _head(determiner, adjectives, noun, number, case)
        cases = frozenset(c for c in CASES if _head(determiner, adjectives, noun, number, c)[0]
                          == german)  # fmt: skip
        article = german[0] if determiner.name == "der" and relative is None else ""
        for part in (attribute, relative):
            if part:
                german, english = german + part.german, english + part.english
        return NounPhrase(
            german,
            english,
            person=3,
            number=number,
            cases=cases,
            tags=noun.tags,
            article=article,
        )

    def adjectives(self, noun: Noun, count: int) -> list[Adjective]:
        """Up to ``count`` adjectives that suit ``noun``, of different ranks, in English (and
        German) order."""
        chosen: list[Adjective] = []
        for _ in range(count):
            free = [
                a for a in _by_tags(ADJECTIVES, noun.tags)
                if all(a.rank != b.rank for b in chosen)
            ]  # fmt: skip
            if free:
                chosen.append(self.rng.choice(free))
        return sorted(chosen, key=lambda a: a.rank)

    def attribute(self, noun: Noun, budget: int, depth: int) -> Pair:
        """A prepositional phrase after a noun: where it is, or (a person's or an animal's) what
        it has (``mit``)."""
        preposition = (
            ATTRIBUTE
            if noun.tags & {"person", "animal"} and self.chance(0.5)
            else self.rng.choice(LOCATIONS)
        )
        return self.prepositional(preposition, budget, depth)

    def relative(self, budget: int, noun: Noun, number: str, depth: int) -> Pair | None:
        """``, pronoun …,``: a relative clause on ``noun``, its pronoun the subject, the
        accusative object or the dative object; an object only where the roles stay clear."""
        column = "pl" if number == "pl" else noun.gender
        for role in self.rng.sample(("nom", "nom", "acc", "dat"), 4):
            gap = Gap(role, noun.tags, number)
            clause = self._clause(max(1, budget - 3), main=False, depth=depth + 1, gap=gap)
            if clause is None:
                continue
            pronoun = RELATIVE_PRONOUNS[column, role]
            if role != "nom":
                cases = frozenset(c for c in CASES if RELATIVE_PRONOUNS[column, c] == pronoun)
                arguments = [
                    (role, cases, slot(3, number)),
                    *(
                        (role, phrase.cases, slot(phrase.person, phrase.number))
                        for role, phrase in (
                            ("nom", clause.subject),
                            ("dat", clause.dative),
                            ("acc", clause.accusative),
                        )
                        if phrase
                    ),
                ]
                if not unambiguous(arguments, clause.finite, clause.index):
                    continue
            return Pair(
                (COMMA, pronoun, *german_final(clause), COMMA),
                (RELATIVIZER, *english(clause)),
            )
        return None


def _head(
    determiner: Determiner, adjectives: Sequence[Adjective], noun: Noun, number: str, case: str
) -> tuple[Tokens, Tokens]:
    """Determiner, adjectives and noun in German (agreeing in gender, number and ``case``) and in
    English (``a`` → ``an`` before a vowel)."""
    column = "pl" if number == "pl" else noun.gender
    ending = ENDINGS[determiner.declension][column, case]
    german = tuple(
        filter(None, (determiner.forms[column, case], *(a.inflect(ending) for a in adjectives),
                      noun.form(number, case)))
    )  # fmt: skip
    words = [*(a.english for a in adjectives),
             *(noun.english if number == "sg" else noun.english_plural).split()]  # fmt: skip
    article = determiner.english[number == "pl"]
    if article == "a" and words[0][0] in "aeiou":
        article = "an"
    return german, (*filter(None, (article,)), *words)


def generate(rng: random.Random, length: int) -> tuple[Tokens, Tokens]:
    """One (German, English) sentence pair of about ``length`` German tokens (commas
    included), drawn with ``rng``."""
    pair = Generator(rng).sentence(length)
    return punctuate(pair.german), punctuate(pair.english)
