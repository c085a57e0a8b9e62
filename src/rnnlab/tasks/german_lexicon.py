"""The words of the German–English grammar (:mod:`rnnlab.tasks.german_grammar`): every German
form with its English translation, its agreement features and the semantic tags that keep the
generated sentences sensible.

Inflection lives here, next to the words, so that one place knows every form a word can take:

- **Nouns** (:class:`Noun`) have a gender (``"m"``, ``"f"``, ``"n"``), a singular and a plural;
  the dative plural adds ``-n`` unless the plural already ends in ``-n`` or ``-s`` (``Hunde`` →
  ``Hunden``, ``Frauen`` → ``Frauen``, ``Autos`` → ``Autos``). Weak masculine nouns (``der
  Junge, den Jungen``) and the genitive are left out of the fragment.
- **Determiners** (:data:`DETERMINERS`) inflect for gender (number), case and the declension they
  impose on a following adjective: weak after ``der``/``dieser``/``jeder``, mixed after the
  *ein*-words (``ein``, ``kein``, ``mein``, ``dein``, ``unser``), strong after a determiner that
  does not inflect or is absent (``zwei``, ``viele``, ``einige``, the bare plural).
- **Adjectives** (:class:`Adjective`) add the endings of :data:`ENDINGS` to their stem (``alt``
  → ``alte``, ``alten``, ``alter``, ``altes``); a stem ending in ``-e`` drops the ending's ``e``
  (``müde`` → ``müde``, ``müden``). Stems whose ``e`` drops or whose consonant changes before an
  ending (``dunkel`` → ``dunkle``, ``hoch`` → ``hohe``) are left out. ``RANKS`` orders stacked
  adjectives the way English orders them (opinion, size, condition, shape, age, colour), and
  German accepts that order too.
- **Verbs** (:class:`Verb`) list their present-tense forms for the four agreement slots (``ich``,
  ``du``, ``er/sie/es``, ``wir/sie``) and their English forms for the same slots, a separable
  particle if they have one (``an+rufen``: ``ruft … an``, ``anruft``), the frames they take
  (:data:`FRAMES`) and the tags of their arguments.

Tags: ``person``, ``animal``, ``flyer``, ``food``, ``baked``, ``text``, ``story``, ``song``,
``picture``, ``thing``, ``stand`` (stands upright: ``stellen``), ``openable``, ``large``,
``built``, ``place``, ``spouse`` (``Mann``, ``Frau``: after a possessive they mean husband and
wife, so they take none); and where a noun can be the object of a spatial preposition: ``in`` (also
``aus``), ``auf``, ``unter``, ``near`` (``neben``, ``hinter``, ``vor``), ``durch``, ``zu``.
"""

from __future__ import annotations

from dataclasses import dataclass

CASES = ("nom", "acc", "dat")
GENDERS = ("m", "f", "n")
NUMBERS = ("sg", "pl")

# The four present-tense agreement slots and the (person, number) each serves.
SLOTS = ((1, "sg"), (2, "sg"), (3, "sg"), (1, "pl"))  # slot 3 also serves the 3rd person plural


def slot(person: int, number: str) -> int:
    """The agreement slot (0..3) of a subject of ``person`` (1, 2, 3) and ``number``."""
    if number == "pl":
        return 3
    return person - 1


def _cells(row: str) -> dict[tuple[str, str], str]:
    """A paradigm row ``"m f n pl / m f n pl / m f n pl"`` (nominative / accusative / dative) as
    ``{(gender or "pl", case): form}``; ``-`` marks a cell outside the fragment."""
    cells = {}
    for case, group in zip(CASES, row.split("/"), strict=True):
        for column, form in zip((*GENDERS, "pl"), group.split(), strict=True):
            if form != "-":
                cells[column, case] = form
    return cells


@dataclass(frozen=True)
class Determiner:
    """A determiner: its forms by (gender or ``"pl"``, case), the declension of an adjective after
    it, and its English word in the singular and the plural (``"a"`` becomes ``"an"`` before a
    vowel; ``""`` is no word)."""

    name: str
    forms: dict[tuple[str, str], str]
    declension: str
    english: tuple[str, str]

    @property
    def numbers(self) -> tuple[str, ...]:
        """The numbers it takes (``ein`` and ``jeder`` only the singular, ``zwei`` only the
        plural)."""
        singular = any((gender, "nom") in self.forms for gender in GENDERS)
        return ("sg",) * singular + ("pl",) * (("pl", "nom") in self.forms)


# fmt: off
DETERMINERS: tuple[Determiner, ...] = tuple(
    Determiner(name, _cells(row), declension, (sg, pl))
    for name, row, declension, sg, pl in (
        ("der", "der die das die / den die das die / dem der dem den", "weak", "the", "the"),
        ("dieser", "dieser diese dieses diese / diesen diese dieses diese / "
                   "diesem dieser diesem diesen", "weak", "this", "these"),
        ("jeder", "jeder jede jedes - / jeden jede jedes - / jedem jeder jedem -",
         "weak", "every", ""),
        ("ein", "ein eine ein - / einen eine ein - / einem einer einem -", "mixed", "a", ""),
        ("kein", "kein keine kein keine / keinen keine kein keine / "
                 "keinem keiner keinem keinen", "mixed", "no", "no"),
        ("mein", "mein meine mein meine / meinen meine mein meine / "
                 "meinem meiner meinem meinen", "mixed", "my", "my"),
        ("dein", "dein deine dein deine / deinen deine dein deine / "
                 "deinem deiner deinem deinen", "mixed", "your", "your"),
        ("unser", "unser unsere unser unsere / unseren unsere unser unsere / "
                  "unserem unserer unserem unseren", "mixed", "our", "our"),
        ("zwei", "- - - zwei / - - - zwei / - - - zwei", "strong", "", "two"),
        ("drei", "- - - drei / - - - drei / - - - drei", "strong", "", "three"),
        ("viele", "- - - viele / - - - viele / - - - vielen", "strong", "", "many"),
        ("einige", "- - - einige / - - - einige / - - - einigen", "strong", "", "some"),
    )
)
POSSESSIVES = frozenset({"mein", "dein", "unser"})
# The bare plural ("Hunde", "alte Hunde"): no determiner word, strong adjectives.
BARE = Determiner("", {("pl", case): "" for case in CASES}, "strong", ("", ""))

# Adjective endings by the declension the determiner imposes. The strong singular (bare mass
# nouns: "kaltes Wasser") is outside the fragment.
ENDINGS: dict[str, dict[tuple[str, str], str]] = {
    "weak": _cells("e e e en / en e e en / en en en en"),
    "mixed": _cells("er e es en / en e es en / en en en en"),
    "strong": _cells("- - - e / - - - e / - - - en"),
}

# Relative pronouns agree with the head noun in gender and number; their case is their role in
# the relative clause.
RELATIVE_PRONOUNS = _cells("der die das die / den die das die / dem der dem denen")
# fmt: on


@dataclass(frozen=True)
class Noun:
    """A noun: German singular and plural, gender, English singular and plural, tags."""

    german: str
    gender: str
    plural: str
    english: str
    english_plural: str
    tags: frozenset[str]

    def form(self, number: str, case: str) -> str:
        """The German form in ``number`` and ``case`` (only the dative plural differs by case)."""
        if number == "sg":
            return self.german
        if case == "dat" and not self.plural.endswith(("n", "s")):
            return self.plural + "n"
        return self.plural

    def forms(self) -> set[str]:
        return {self.form(n, c) for n in NUMBERS for c in CASES}


@dataclass(frozen=True)
class Adjective:
    """An adjective: German stem (its predicative form), English, its rank in the order of
    stacked adjectives, and the tags of the nouns it can describe."""

    german: str
    english: str
    rank: int
    tags: frozenset[str]

    def inflect(self, ending: str) -> str:
        """The stem with ``ending`` (``müde`` + ``en`` → ``müden``: an ``-e`` stem drops the
        ending's ``e``)."""
        return self.german + (ending[1:] if self.german.endswith("e") else ending)

    def forms(self) -> set[str]:
        endings = {e for table in ENDINGS.values() for e in table.values()}
        return {self.german} | {self.inflect(e) for e in endings}


FRAMES = ("intr", "move", "trans", "carry", "put", "dat", "ditr", "copula", "say")
"""The verb frames (which arguments a verb takes):

- ``intr``: subject only (``schlafen``); ``move``: subject and an optional directional phrase
  (``laufen … in den Garten``);
- ``trans``: subject and accusative object (``sehen``); ``carry``: the same and an optional
  directional phrase (``werfen``); ``put``: the same and an obligatory one (``legen``);
- ``dat``: subject and dative object (``helfen``); ``ditr``: subject, dative and accusative object
  (``geben``);
- ``copula``: ``sein`` with a predicative adjective or a location (``ist müde``, ``ist im
  Garten``);
- ``say``: subject and a ``dass`` clause (``sagen``).
"""


@dataclass(frozen=True)
class Verb:
    """A verb: its infinitive, present-tense forms by agreement slot (:func:`slot`), separable
    particle (``""`` for none), English forms by slot and English base form, frames, and the tags
    of its subject, accusative object and dative object; ``benefactive`` allows ``für``-phrases
    (``kauft … für das Kind``)."""

    infinitive: str
    forms: tuple[str, str, str, str]
    particle: str
    english: tuple[str, str, str, str]
    english_base: str
    frames: tuple[str, ...]
    subjects: frozenset[str]
    objects: frozenset[str]
    recipients: frozenset[str]
    benefactive: bool

    def finite(self, index: int, *, joined: bool) -> str:
        """The finite form of ``slot`` ``index``; ``joined`` prefixes the particle (the verb at
        the end of a subordinate clause: ``anruft``)."""
        return (self.particle if joined else "") + self.forms[index]

    def forms_all(self) -> set[str]:
        words = {self.infinitive, *self.forms}
        if self.particle:
            words |= {self.particle} | {self.particle + f for f in self.forms}
        return words


def _verb(
    infinitive: str,
    forms: str,
    english: str,
    frames: str = "",
    flags: str = "",
    subjects: str = "",
    recipients: str = "",
    objects: str = "",
) -> Verb:
    """A :class:`Verb` from the cells of the verb tables: ``infinitive`` with ``+`` after a
    separable particle (``"an+rufen"``), the four forms ``"ich du er wir"`` without it, English
    ``"3sg/base"`` (``"looks at/look at"``) or the four slots and the base
    (``"am/are/is/are/be"``), then space-separated frames, flags (``für``) and tags."""
    particle, _, stem = infinitive.rpartition("+")
    english_forms = english.split("/")
    if len(english_forms) == 2:
        third, base = english_forms
        english_forms = [base, base, third, base, base]
    ich, du, er, wir = forms.split()
    return Verb(
        infinitive=particle + stem,
        forms=(ich, du, er, wir),
        particle=particle,
        english=tuple(english_forms[:4]),
        english_base=english_forms[4],
        frames=tuple(frames.split()),
        subjects=frozenset(subjects.split()),
        objects=frozenset(objects.split()),
        recipients=frozenset(recipients.split()),
        benefactive="für" in flags.split(),
    )


def _joined(conjugations: list[list[str]], valences: list[list[str]]) -> tuple[Verb, ...]:
    """The verbs of the two verb tables, whose rows pair up by infinitive."""
    verbs = []
    for conjugation, (infinitive, *valence) in zip(conjugations, valences, strict=True):
        if conjugation[0] != infinitive:
            raise ValueError(f"verb tables out of step: {conjugation[0]} and {infinitive}")
        verbs.append(_verb(*conjugation, *valence))
    return tuple(verbs)


def _table(text: str) -> list[list[str]]:
    """The rows of a ``|``-separated table, cells stripped; blank lines and ``#`` lines skipped."""
    rows = []
    for line in text.strip().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            rows.append([cell.strip() for cell in line.split("|")])
    return rows


_PERSON = "person near zu"
_ANIMAL = "animal near"
NOUNS: tuple[Noun, ...] = tuple(
    Noun(german, gender, plural, english, english_plural, frozenset(tags.split()))
    for german, gender, plural, english, english_plural, tags in _table(
        f"""
    # people
    Mann         | m | Männer        | man         | men          | {_PERSON} spouse
    Frau         | f | Frauen        | woman       | women        | {_PERSON} spouse
    Kind         | n | Kinder        | child       | children     | {_PERSON}
    Mädchen      | n | Mädchen       | girl        | girls        | {_PERSON}
    Lehrer       | m | Lehrer        | teacher     | teachers     | {_PERSON}
    Lehrerin     | f | Lehrerinnen   | teacher     | teachers     | {_PERSON}
    Arzt         | m | Ärzte         | doctor      | doctors      | {_PERSON}
    Ärztin       | f | Ärztinnen     | doctor      | doctors      | {_PERSON}
    Freund       | m | Freunde       | friend      | friends      | {_PERSON}
    Freundin     | f | Freundinnen   | friend      | friends      | {_PERSON}
    Bruder       | m | Brüder        | brother     | brothers     | {_PERSON}
    Schwester    | f | Schwestern    | sister      | sisters      | {_PERSON}
    Vater        | m | Väter         | father      | fathers      | {_PERSON}
    Mutter       | f | Mütter        | mother      | mothers      | {_PERSON}
    Sohn         | m | Söhne         | son         | sons         | {_PERSON}
    Tochter      | f | Töchter       | daughter    | daughters    | {_PERSON}
    Onkel        | m | Onkel         | uncle       | uncles       | {_PERSON}
    Tante        | f | Tanten        | aunt        | aunts        | {_PERSON}
    Großvater    | m | Großväter     | grandfather | grandfathers | {_PERSON}
    Großmutter   | f | Großmütter    | grandmother | grandmothers | {_PERSON}
    Koch         | m | Köche         | cook        | cooks        | {_PERSON}
    Köchin       | f | Köchinnen     | cook        | cooks        | {_PERSON}
    König        | m | Könige        | king        | kings        | {_PERSON}
    Königin      | f | Königinnen    | queen       | queens       | {_PERSON}
    Prinzessin   | f | Prinzessinnen | princess    | princesses   | {_PERSON}
    Bäcker       | m | Bäcker        | baker       | bakers       | {_PERSON}
    Maler        | m | Maler         | painter     | painters     | {_PERSON}
    Sänger       | m | Sänger        | singer      | singers      | {_PERSON}
    Sängerin     | f | Sängerinnen   | singer      | singers      | {_PERSON}
    Fischer      | m | Fischer       | fisherman   | fishermen    | {_PERSON}
    Jäger        | m | Jäger         | hunter      | hunters      | {_PERSON}
    Kellner      | m | Kellner       | waiter      | waiters      | {_PERSON}
    Kellnerin    | f | Kellnerinnen  | waitress    | waitresses   | {_PERSON}
    Dieb         | m | Diebe         | thief       | thieves      | {_PERSON}
    Richter      | m | Richter       | judge       | judges       | {_PERSON}
    Gast         | m | Gäste         | guest       | guests       | {_PERSON}
    Ritter       | m | Ritter        | knight      | knights      | {_PERSON}
    Schüler      | m | Schüler       | pupil       | pupils       | {_PERSON}
    Schülerin    | f | Schülerinnen  | pupil       | pupils       | {_PERSON}
    Nachbarin    | f | Nachbarinnen  | neighbour   | neighbours   | {_PERSON}
    Baby         | n | Babys         | baby        | babies       | {_PERSON}
    Zauberer     | m | Zauberer      | wizard      | wizards      | {_PERSON}
    Hexe         | f | Hexen         | witch       | witches      | {_PERSON}
    Fahrer       | m | Fahrer        | driver      | drivers      | {_PERSON}
    Tänzerin     | f | Tänzerinnen   | dancer      | dancers      | {_PERSON}
    # animals
    Hund         | m | Hunde         | dog         | dogs         | {_ANIMAL}
    Katze        | f | Katzen        | cat         | cats         | {_ANIMAL}
    Pferd        | n | Pferde        | horse       | horses       | {_ANIMAL}
    Vogel        | m | Vögel         | bird        | birds        | {_ANIMAL} flyer
    Maus         | f | Mäuse         | mouse       | mice         | {_ANIMAL}
    Kuh          | f | Kühe          | cow         | cows         | {_ANIMAL}
    Fisch        | m | Fische        | fish        | fish         | {_ANIMAL}
    Schwein      | n | Schweine      | pig         | pigs         | {_ANIMAL}
    Schaf        | n | Schafe        | sheep       | sheep        | {_ANIMAL}
    Esel         | m | Esel          | donkey      | donkeys      | {_ANIMAL}
    Fuchs        | m | Füchse        | fox         | foxes        | {_ANIMAL}
    Wolf         | m | Wölfe         | wolf        | wolves       | {_ANIMAL}
    Ente         | f | Enten         | duck        | ducks        | {_ANIMAL} flyer
    Huhn         | n | Hühner        | chicken     | chickens     | {_ANIMAL}
    Ziege        | f | Ziegen        | goat        | goats        | {_ANIMAL}
    Frosch       | m | Frösche       | frog        | frogs        | {_ANIMAL}
    Schlange     | f | Schlangen     | snake       | snakes       | {_ANIMAL}
    Tiger        | m | Tiger         | tiger       | tigers       | {_ANIMAL}
    Eule         | f | Eulen         | owl         | owls         | {_ANIMAL} flyer
    Biene        | f | Bienen        | bee         | bees         | {_ANIMAL} flyer
    Kaninchen    | n | Kaninchen     | rabbit      | rabbits      | {_ANIMAL}
    Igel         | m | Igel          | hedgehog    | hedgehogs    | {_ANIMAL}
    Eichhörnchen | n | Eichhörnchen  | squirrel    | squirrels    | {_ANIMAL}
    Käfer        | m | Käfer         | beetle      | beetles      | {_ANIMAL} flyer
    Papagei      | m | Papageien     | parrot      | parrots      | {_ANIMAL} flyer
    # food
    Apfel        | m | Äpfel         | apple       | apples       | food
    Birne        | f | Birnen        | pear        | pears        | food
    Kuchen       | m | Kuchen        | cake        | cakes        | food baked
    Keks         | m | Kekse         | biscuit     | biscuits     | food baked
    Pizza        | f | Pizzas        | pizza       | pizzas       | food baked
    Suppe        | f | Suppen        | soup        | soups        | food
    Ei           | n | Eier          | egg         | eggs         | food
    Wurst        | f | Würste        | sausage     | sausages     | food
    Kartoffel    | f | Kartoffeln    | potato      | potatoes     | food
    Tomate       | f | Tomaten       | tomato      | tomatoes     | food
    Banane       | f | Bananen       | banana      | bananas      | food
    Salat        | m | Salate        | salad       | salads       | food
    Kirsche      | f | Kirschen      | cherry      | cherries     | food
    Zwiebel      | f | Zwiebeln      | onion       | onions       | food
    Orange       | f | Orangen       | orange      | oranges      | food
    Nuss         | f | Nüsse         | nut         | nuts         | food
    # texts, songs, pictures
    Buch         | n | Bücher        | book        | books        | text openable
    Brief        | m | Briefe        | letter      | letters      | text openable
    Zeitung      | f | Zeitungen     | newspaper   | newspapers   | text
    Heft         | n | Hefte         | notebook    | notebooks    | text
    Geschichte   | f | Geschichten   | story       | stories      | text story
    Märchen      | n | Märchen       | fairy tale  | fairy tales  | text story
    Gedicht      | n | Gedichte      | poem        | poems        | text
    Lied         | n | Lieder        | song        | songs        | song
    Bild         | n | Bilder        | picture     | pictures     | picture
    # things
    Ball         | m | Bälle         | ball        | balls        | thing
    Schlüssel    | m | Schlüssel     | key         | keys         | thing
    Tasche       | f | Taschen       | bag         | bags         | thing in openable
    Hut          | m | Hüte          | hat         | hats         | thing
    Schuh        | m | Schuhe        | shoe        | shoes        | thing
    Lampe        | f | Lampen        | lamp        | lamps        | thing stand
    Uhr          | f | Uhren         | clock       | clocks       | thing stand
    Flasche      | f | Flaschen      | bottle      | bottles      | thing stand in openable
    Tasse        | f | Tassen        | cup         | cups         | thing stand in
    Teller       | m | Teller        | plate       | plates       | thing auf
    Messer       | n | Messer        | knife       | knives       | thing
    Löffel       | m | Löffel        | spoon       | spoons       | thing
    Kiste        | f | Kisten        | box         | boxes        | thing stand in auf openable
    Korb         | m | Körbe         | basket      | baskets      | thing stand in
    Koffer       | m | Koffer        | suitcase    | suitcases    | thing stand in openable
    Spiegel      | m | Spiegel       | mirror      | mirrors      | thing stand
    Geschenk     | n | Geschenke     | present     | presents     | thing openable
    Kerze        | f | Kerzen        | candle      | candles      | thing stand
    Topf         | m | Töpfe         | pot         | pots         | thing stand in
    Ring         | m | Ringe         | ring        | rings        | thing
    Mantel       | m | Mäntel        | coat        | coats        | thing
    Kleid        | n | Kleider       | dress       | dresses      | thing
    Hemd         | n | Hemden        | shirt       | shirts       | thing
    Jacke        | f | Jacken        | jacket      | jackets      | thing
    Kissen       | n | Kissen        | pillow      | pillows      | thing
    Glas         | n | Gläser        | glass       | glasses      | thing stand in
    Vase         | f | Vasen         | vase        | vases        | thing stand in
    Eimer        | m | Eimer         | bucket      | buckets      | thing stand in
    Stein        | m | Steine        | stone       | stones       | thing
    Stock        | m | Stöcke        | stick       | sticks       | thing
    Blume        | f | Blumen        | flower      | flowers      | thing
    Puppe        | f | Puppen        | doll        | dolls        | thing
    Regenschirm  | m | Regenschirme  | umbrella    | umbrellas    | thing
    Feder        | f | Federn        | feather     | feathers     | thing
    Seil         | n | Seile         | rope        | ropes        | thing
    # large things
    Tisch        | m | Tische        | table       | tables       | large built near auf unter
    Stuhl        | m | Stühle        | chair       | chairs       | large built near auf unter
    Bett         | n | Betten        | bed         | beds         | large near in auf unter
    Schrank      | m | Schränke      | cupboard    | cupboards    | large built near in auf openable
    Sofa         | n | Sofas         | sofa        | sofas        | large near auf unter
    Auto         | n | Autos         | car         | cars         | large near in
    Boot         | n | Boote         | boat        | boats        | large built near in
    Fahrrad      | n | Fahrräder     | bicycle     | bicycles     | large near
    Tür          | f | Türen         | door        | doors        | near durch openable
    Fenster      | n | Fenster       | window      | windows      | near durch openable
    Baum         | m | Bäume         | tree        | trees        | near unter
    Zaun         | m | Zäune         | fence       | fences       | built near
    Mauer        | f | Mauern        | wall        | walls        | built near auf
    Brücke       | f | Brücken       | bridge      | bridges      | built near auf unter
    Zelt         | n | Zelte         | tent        | tents        | built near in
    # places
    Garten       | m | Gärten        | garden      | gardens      | place near in durch
    Haus         | n | Häuser        | house       | houses       | place built near in zu
    Wald         | m | Wälder        | forest      | forests      | place in durch
    Stadt        | f | Städte        | city        | cities       | place in durch
    Dorf         | n | Dörfer        | village     | villages     | place in durch
    Schule       | f | Schulen       | school      | schools      | place near in zu
    Küche        | f | Küchen        | kitchen     | kitchens     | place in
    Park         | m | Parks         | park        | parks        | place in durch
    Kirche       | f | Kirchen       | church      | churches     | place near in zu
    Laden        | m | Läden         | shop        | shops        | place near in zu
    Zimmer       | n | Zimmer        | room        | rooms        | place in durch
    Hof          | m | Höfe          | yard        | yards        | place in
    Fluss        | m | Flüsse        | river       | rivers       | place near in zu durch
    See          | m | Seen          | lake        | lakes        | place in zu
    Insel        | f | Inseln        | island      | islands      | place auf
    Dach         | n | Dächer        | roof        | roofs        | place auf unter
    Bahnhof      | m | Bahnhöfe      | station     | stations     | place near in zu
    Schloss      | n | Schlösser     | castle      | castles      | place built near in zu
    Turm         | m | Türme         | tower       | towers       | place built near in auf
    Höhle        | f | Höhlen        | cave        | caves        | place near in
    Stall        | m | Ställe        | stable      | stables      | place near in
    Bibliothek   | f | Bibliotheken  | library     | libraries    | place near in zu
    Krankenhaus  | n | Krankenhäuser | hospital    | hospitals    | place near in zu
    Bäckerei     | f | Bäckereien    | bakery      | bakeries     | place near in zu
        """
    )
)

RANKS = ("opinion", "size", "condition", "shape", "age", "colour")
_CONCRETE = "person animal food text song picture thing large place"
_OBJECT = "thing large"
ADJECTIVES: tuple[Adjective, ...] = tuple(
    Adjective(german, english, RANKS.index(rank), frozenset(tags.split()))
    for german, english, rank, tags in _table(
        f"""
        schön       | beautiful | opinion   | {_CONCRETE}
        seltsam     | strange   | opinion   | {_CONCRETE}
        berühmt     | famous    | opinion   | person animal picture song text place
        nett        | nice      | opinion   | person animal
        klug        | clever    | opinion   | person animal
        freundlich  | friendly  | opinion   | person animal
        höflich     | polite    | opinion   | person
        mutig       | brave     | opinion   | person animal
        faul        | lazy      | opinion   | person animal
        frech       | cheeky    | opinion   | person animal
        lustig      | funny     | opinion   | person animal story song picture
        spannend    | exciting  | opinion   | text song
        lecker      | tasty     | opinion   | food
        groß        | big       | size      | animal food text picture {_OBJECT} place
        klein       | small     | size      | person animal food text picture {_OBJECT} place
        lang        | long      | size      | text song
        kurz        | short     | size      | text song
        müde        | tired     | condition | person animal
        hungrig     | hungry    | condition | person animal
        durstig     | thirsty   | condition | person animal
        traurig     | sad       | condition | person animal story song
        fröhlich    | cheerful  | condition | person animal song
        glücklich   | happy     | condition | person animal
        wütend      | angry     | condition | person animal
        krank       | sick      | condition | person animal
        stark       | strong    | condition | person animal
        schnell     | fast      | condition | person animal
        arm         | poor      | condition | person
        reich       | rich      | condition | person
        stolz       | proud     | condition | person animal
        wild        | wild      | condition | animal
        ruhig       | quiet     | condition | person animal place
        laut        | loud      | condition | person animal song place
        leer        | empty     | condition | in
        voll        | full      | condition | in
        schwer      | heavy     | condition | {_OBJECT}
        weich       | soft      | condition | thing food
        hart        | hard      | condition | thing food
        nass        | wet       | condition | person animal {_OBJECT}
        trocken     | dry       | condition | food {_OBJECT}
        sauber      | clean     | condition | {_OBJECT} place
        schmutzig   | dirty     | condition | person animal {_OBJECT} place
        billig      | cheap     | condition | food text {_OBJECT}
        frisch      | fresh     | condition | food
        warm        | warm      | condition | food thing place
        kalt        | cold      | condition | food thing place
        heiß        | hot       | condition | food
        salzig      | salty     | condition | food
        rund        | round     | shape     | food {_OBJECT}
        alt         | old       | age       | person animal text song picture {_OBJECT} place
        jung        | young     | age       | person animal
        neu         | new       | age       | text song picture {_OBJECT} place
        rot         | red       | colour    | {_OBJECT}
        blau        | blue      | colour    | {_OBJECT}
        grün        | green     | colour    | food {_OBJECT}
        gelb        | yellow    | colour    | food {_OBJECT}
        schwarz     | black     | colour    | animal {_OBJECT}
        weiß        | white     | colour    | animal {_OBJECT}
        braun       | brown     | colour    | animal food {_OBJECT}
        grau        | grey      | colour    | animal {_OBJECT}
        """
    )
)

_AGENT = "person animal"
_HANDLED = "thing food text picture"
_GOODS = f"{_HANDLED} animal large"
_OWNABLE = f"{_GOODS} place"
# How each verb conjugates and translates: infinitive ("+" after a separable particle) | ich du
# er wir | English 3rd person singular/base, or the four slots and the base.
_CONJUGATIONS = _table(
    """
    # intransitive
    schlafen     | schlafe schläfst schläft schlafen           | sleeps/sleep
    lachen       | lache lachst lacht lachen                   | laughs/laugh
    arbeiten     | arbeite arbeitest arbeitet arbeiten         | works/work
    singen       | singe singst singt singen                   | sings/sing
    tanzen       | tanze tanzt tanzt tanzen                    | dances/dance
    spielen      | spiele spielst spielt spielen               | plays/play
    weinen       | weine weinst weint weinen                   | cries/cry
    warten       | warte wartest wartet warten                 | waits/wait
    träumen      | träume träumst träumt träumen               | dreams/dream
    lernen       | lerne lernst lernt lernen                   | learns/learn
    ein+schlafen | schlafe schläfst schläft schlafen           | falls asleep/fall asleep
    auf+wachen   | wache wachst wacht wachen                   | wakes up/wake up
    auf+stehen   | stehe stehst steht stehen                   | gets up/get up
    weg+laufen   | laufe läufst läuft laufen                   | runs away/run away
    # motion
    gehen        | gehe gehst geht gehen                       | goes/go
    laufen       | laufe läufst läuft laufen                   | runs/run
    schwimmen    | schwimme schwimmst schwimmt schwimmen       | swims/swim
    springen     | springe springst springt springen           | jumps/jump
    kommen       | komme kommst kommt kommen                   | comes/come
    kriechen     | krieche kriechst kriecht kriechen           | crawls/crawl
    klettern     | klettere kletterst klettert klettern        | climbs/climb
    fliegen      | fliege fliegst fliegt fliegen               | flies/fly
    # transitive (accusative object)
    sehen        | sehe siehst sieht sehen                     | sees/see
    an+sehen     | sehe siehst sieht sehen                     | looks at/look at
    kennen       | kenne kennst kennt kennen                   | knows/know
    suchen       | suche suchst sucht suchen                   | looks for/look for
    finden       | finde findest findet finden                 | finds/find
    lesen        | lese liest liest lesen                      | reads/read
    schreiben    | schreibe schreibst schreibt schreiben       | writes/write
    essen        | esse isst isst essen                        | eats/eat
    auf+essen    | esse isst isst essen                        | eats up/eat up
    lieben       | liebe liebst liebt lieben                   | loves/love
    mögen        | mag magst mag mögen                         | likes/like
    brauchen     | brauche brauchst braucht brauchen           | needs/need
    hören        | höre hörst hört hören                       | hears/hear
    malen        | male malst malt malen                       | paints/paint
    zeichnen     | zeichne zeichnest zeichnet zeichnen         | draws/draw
    bauen        | baue baust baut bauen                       | builds/build
    holen        | hole holst holt holen                       | fetches/fetch
    waschen      | wasche wäschst wäscht waschen               | washes/wash
    fangen       | fange fängst fängt fangen                   | catches/catch
    besuchen     | besuche besuchst besucht besuchen           | visits/visit
    fragen       | frage fragst fragt fragen                   | asks/ask
    rufen        | rufe rufst ruft rufen                       | calls/call
    an+rufen     | rufe rufst ruft rufen                       | phones/phone
    füttern      | füttere fütterst füttert füttern            | feeds/feed
    treffen      | treffe triffst trifft treffen               | meets/meet
    vergessen    | vergesse vergisst vergisst vergessen        | forgets/forget
    verstehen    | verstehe verstehst versteht verstehen       | understands/understand
    beobachten   | beobachte beobachtest beobachtet beobachten | watches/watch
    kochen       | koche kochst kocht kochen                   | cooks/cook
    backen       | backe backst backt backen                   | bakes/bake
    öffnen       | öffne öffnest öffnet öffnen                 | opens/open
    auf+machen   | mache machst macht machen                   | opens/open
    zu+machen    | mache machst macht machen                   | closes/close
    verlieren    | verliere verlierst verliert verlieren       | loses/lose
    putzen       | putze putzt putzt putzen                    | cleans/clean
    ein+laden    | lade lädst lädt laden                       | invites/invite
    ab+holen     | hole holst holt holen                       | picks up/pick up
    weg+werfen   | werfe wirfst wirft werfen                   | throws away/throw away
    kaufen       | kaufe kaufst kauft kaufen                   | buys/buy
    verkaufen    | verkaufe verkaufst verkauft verkaufen       | sells/sell
    tragen       | trage trägst trägt tragen                   | carries/carry
    werfen       | werfe wirfst wirft werfen                   | throws/throw
    schieben     | schiebe schiebst schiebt schieben           | pushes/push
    ziehen       | ziehe ziehst zieht ziehen                   | pulls/pull
    bringen      | bringe bringst bringt bringen               | brings/bring
    legen        | lege legst legt legen                       | puts/put
    stellen      | stelle stellst stellt stellen               | puts/put
    # dative object
    helfen       | helfe hilfst hilft helfen                   | helps/help
    danken       | danke dankst dankt danken                   | thanks/thank
    folgen       | folge folgst folgt folgen                   | follows/follow
    vertrauen    | vertraue vertraust vertraut vertrauen       | trusts/trust
    antworten    | antworte antwortest antwortet antworten     | answers/answer
    winken       | winke winkst winkt winken                   | waves to/wave to
    zu+hören     | höre hörst hört hören                       | listens to/listen to
    gehören      | gehöre gehörst gehört gehören               | belongs to/belong to
    geben        | gebe gibst gibt geben                       | gives/give
    schenken     | schenke schenkst schenkt schenken           | gives/give
    zeigen       | zeige zeigst zeigt zeigen                   | shows/show
    schicken     | schicke schickst schickt schicken           | sends/send
    erzählen     | erzähle erzählst erzählt erzählen           | tells/tell
    leihen       | leihe leihst leiht leihen                   | lends/lend
    reichen      | reiche reichst reicht reichen               | passes/pass
    vor+lesen    | lese liest liest lesen                      | reads/read
    # copula and verbs of saying
    sein         | bin bist ist sind                           | am/are/is/are/be
    sagen        | sage sagst sagt sagen                       | says/say
    glauben      | glaube glaubst glaubt glauben               | believes/believe
    denken       | denke denkst denkt denken                   | thinks/think
    hoffen       | hoffe hoffst hofft hoffen                   | hopes/hope
    wissen       | weiß weißt weiß wissen                      | knows/know
    """
)
# What each verb takes: infinitive | frames | für (takes a beneficiary) | subject tags | dative
# tags | accusative tags.
_VALENCES = _table(
    f"""
    # intransitive
    schlafen     | intr            |     | {_AGENT}
    lachen       | intr            |     | person
    arbeiten     | intr            |     | person
    singen       | intr trans      | für | person flyer |          | song
    tanzen       | intr            |     | person
    spielen      | intr            |     | {_AGENT}
    weinen       | intr            |     | person
    warten       | intr            |     | {_AGENT}
    träumen      | intr            |     | {_AGENT}
    lernen       | intr            |     | person
    ein+schlafen | intr            |     | {_AGENT}
    auf+wachen   | intr            |     | {_AGENT}
    auf+stehen   | intr            |     | person
    weg+laufen   | intr            |     | {_AGENT}
    # motion
    gehen        | move            |     | {_AGENT}
    laufen       | move            |     | {_AGENT}
    schwimmen    | move            |     | {_AGENT}
    springen     | move            |     | {_AGENT}
    kommen       | move            |     | {_AGENT}
    kriechen     | move            |     | {_AGENT}
    klettern     | move            |     | {_AGENT}
    fliegen      | move            |     | flyer
    # transitive (accusative object)
    sehen        | trans           |     | {_AGENT}     |          | {_CONCRETE}
    an+sehen     | trans           |     | {_AGENT}     |          | {_CONCRETE}
    kennen       | trans           |     | {_AGENT}     |          | {_AGENT} text song place
    suchen       | trans           |     | {_AGENT}     |          | {_HANDLED} {_AGENT}
    finden       | trans           |     | {_AGENT}     |          | {_HANDLED} {_AGENT}
    lesen        | intr trans      |     | person       |          | text
    schreiben    | intr trans ditr | für | person       | person   | text song
    essen        | intr trans      |     | {_AGENT}     |          | food
    auf+essen    | trans           |     | {_AGENT}     |          | food
    lieben       | trans           |     | person       |          | {_AGENT} food song place
    mögen        | trans           |     | {_AGENT}     |          | {_CONCRETE}
    brauchen     | trans           |     | {_AGENT}     |          | food text thing large
    hören        | trans           |     | {_AGENT}     |          | {_AGENT} song
    malen        | intr trans      | für | person       |          | {_CONCRETE}
    zeichnen     | intr trans      | für | person       |          | {_CONCRETE}
    bauen        | trans           | für | person       |          | built
    holen        | trans           | für | {_AGENT}     |          | {_HANDLED}
    waschen      | trans           |     | person       |          | {_AGENT} food thing large
    fangen       | trans           |     | {_AGENT}     |          | animal thing
    besuchen     | trans           |     | person       |          | person place
    fragen       | trans           |     | person       |          | person
    rufen        | trans           |     | {_AGENT}     |          | {_AGENT}
    an+rufen     | trans           |     | person       |          | person
    füttern      | trans           |     | person       |          | {_AGENT}
    treffen      | trans           |     | person       |          | person
    vergessen    | trans           |     | {_AGENT}     |          | person text song thing
    verstehen    | trans           |     | {_AGENT}     |          | person text song
    beobachten   | trans           |     | {_AGENT}     |          | {_AGENT}
    kochen       | intr trans      | für | person       |          | food
    backen       | trans ditr      | für | person       | person   | baked
    öffnen       | trans           |     | person       |          | openable
    auf+machen   | trans           |     | person       |          | openable
    zu+machen    | trans           |     | person       |          | openable
    verlieren    | trans           |     | {_AGENT}     |          | text thing
    putzen       | trans           |     | person       |          | thing large place
    ein+laden    | trans           |     | person       |          | person
    ab+holen     | trans           |     | person       |          | {_AGENT} thing
    weg+werfen   | trans           |     | person       |          | food text thing
    kaufen       | trans ditr      | für | person       | person   | {_GOODS}
    verkaufen    | trans ditr      |     | person       | person   | {_OWNABLE}
    tragen       | carry           | für | {_AGENT}     |          | {_GOODS}
    werfen       | carry           |     | person       |          | food thing
    schieben     | carry           |     | {_AGENT}     |          | large
    ziehen       | carry           |     | {_AGENT}     |          | large
    bringen      | carry ditr      |     | {_AGENT}     | {_AGENT} | {_HANDLED}
    legen        | put             |     | person       |          | {_HANDLED}
    stellen      | put             |     | person       |          | stand large
    # dative object
    helfen       | dat             |     | {_AGENT}     | {_AGENT}
    danken       | dat             |     | person       | person
    folgen       | dat             |     | {_AGENT}     | {_AGENT}
    vertrauen    | dat             |     | {_AGENT}     | {_AGENT}
    antworten    | dat             |     | person       | person
    winken       | dat             |     | person       | person
    zu+hören     | dat             |     | {_AGENT}     | {_AGENT}
    gehören      | dat             |     | {_OWNABLE}   | person
    geben        | ditr            |     | person       | {_AGENT} | {_HANDLED} animal
    schenken     | ditr            |     | person       | person   | {_HANDLED} animal
    zeigen       | ditr            |     | person       | person   | {_OWNABLE}
    schicken     | ditr            |     | person       | person   | text picture thing
    erzählen     | trans ditr      |     | person       | person   | story
    leihen       | ditr            |     | person       | person   | text thing large
    reichen      | ditr            |     | person       | person   | food text thing
    vor+lesen    | ditr            |     | person       | person   | text
    # copula and verbs of saying
    sein         | copula          |     | {_CONCRETE}
    sagen        | say             |     | person
    glauben      | say             |     | person
    denken       | say             |     | person
    hoffen       | say             |     | person
    wissen       | say             |     | person
    """
)
VERBS = _joined(_CONJUGATIONS, _VALENCES)

# Modal verbs: finite in second position (main clauses) or last (subordinate clauses), the
# infinitive of the main verb at the end of the clause.
MODALS: tuple[Verb, ...] = tuple(
    _verb(infinitive, forms, english)
    for infinitive, forms, english in (
        ("können", "kann kannst kann können", "can/can/can/can/can"),
        ("wollen", "will willst will wollen", "want to/want to/wants to/want to/want to"),
        ("müssen", "muss musst muss müssen", "must/must/must/must/must"),
        ("dürfen", "darf darfst darf dürfen", "may/may/may/may/may"),
        ("sollen", "soll sollst soll sollen", "should/should/should/should/should"),
    )
)


@dataclass(frozen=True)
class Pronoun:
    """A subject pronoun: German, English, person and number."""

    german: str
    english: str
    person: int
    number: str


PRONOUNS = (
    Pronoun("ich", "I", 1, "sg"),
    Pronoun("du", "you", 2, "sg"),
    Pronoun("wir", "we", 1, "pl"),
)


@dataclass(frozen=True)
class Preposition:
    """A preposition in one use: the case it governs there, its English, and the tags of the
    nouns that can be its object."""

    german: str
    case: str
    english: str
    tags: frozenset[str]


def _prepositions(case: str, rows: tuple[tuple[str, str, str], ...]) -> tuple[Preposition, ...]:
    """:class:`Preposition` s governing ``case`` from ``(german, english, "tag tag")`` rows."""
    return tuple(Preposition(g, case, e, frozenset(tags.split())) for g, e, tags in rows)


# Two-way prepositions take the dative for a location and the accusative for a direction.
_SPATIAL = (
    ("in", "in", "in"),
    ("auf", "on", "auf"),
    ("unter", "under", "unter"),
    ("neben", "next to", "near"),
    ("hinter", "behind", "near"),
    ("vor", "in front of", "near"),
)
LOCATIONS = _prepositions("dat", _SPATIAL)
PLACEMENTS = _prepositions("acc", (("in", "into", "in"), ("auf", "onto", "auf"), *_SPATIAL[2:]))
DIRECTIONS = (  # where something moves or is carried to: a placement, or a path
    *PLACEMENTS,
    *_prepositions("acc", (("durch", "through", "durch"),)),
    *_prepositions("dat", (("zu", "to", "zu"), ("aus", "out of", "in"))),
)
(WITH,) = _prepositions("dat", (("mit", "with", "person animal"),))  # with someone
(WITHOUT,) = _prepositions("acc", (("ohne", "without", "person animal"),))
(BENEFICIARY,) = _prepositions("acc", (("für", "for", "person animal"),))
(ATTRIBUTE,) = _prepositions("dat", (("mit", "with", "thing animal"),))  # der Mann mit dem Hut

# Preposition + definite article written as one word (not before a relative clause, where the
# article points ahead to it: "in dem Haus, das …").
CONTRACTIONS = {("in", "dem"): "im", ("in", "das"): "ins", ("zu", "dem"): "zum",
                ("zu", "der"): "zur"}  # fmt: skip


@dataclass(frozen=True)
class Word:
    """A closed-class word (adverb, conjunction): German and English, either possibly several
    tokens."""

    german: str
    english: str


# Time adverbs: first in the main clause (English: first too) or in the middle field after the
# subject (English: last in the clause).
TIME_ADVERBS = tuple(
    Word(g, e)
    for g, e in (
        ("heute", "today"),
        ("jetzt", "now"),
        ("manchmal", "sometimes"),
        ("oft", "often"),
        ("morgens", "in the morning"),
        ("abends", "in the evening"),
    )
)
# Sentence adverbs: only first in the main clause (English: first).
SENTENCE_ADVERBS = tuple(
    Word(g, e)
    for g, e in (
        ("leider", "unfortunately"),
        ("vielleicht", "perhaps"),
        ("natürlich", "of course"),
        ("plötzlich", "suddenly"),
        ("zum Glück", "luckily"),
    )
)
SUBORDINATORS = tuple(
    Word(g, e)
    for g, e in (
        ("weil", "because"),
        ("obwohl", "although"),
        ("während", "while"),
        ("bevor", "before"),
        ("sobald", "as soon as"),
    )
)


@dataclass(frozen=True)
class Coordinator:
    """A conjunction joining main clauses; ``comma``: German writes a comma before it, and so does
    English (``", aber"`` → ``", but"``; ``", denn"`` → ``"because"``, without one)."""

    german: str
    english: str
    german_comma: bool
    english_comma: bool


COORDINATORS = (
    Coordinator("und", "and", False, False),
    Coordinator("oder", "or", False, False),
    Coordinator("aber", "but", True, True),
    Coordinator("denn", "because", True, False),
)
COMPLEMENTIZER = Word("dass", "that")
RELATIVIZER = "that"  # English for every relative pronoun (restrictive relative clauses)
NP_AND = Word("und", "and")
COMMA = ","


def german_words() -> set[str]:
    """Every German token the grammar can write."""
    words = {COMMA, NP_AND.german, COMPLEMENTIZER.german}
    for noun in NOUNS:
        words |= noun.forms()
    for adjective in ADJECTIVES:
        words |= adjective.forms()
    for verb in (*VERBS, *MODALS):
        words |= verb.forms_all()
    for determiner in DETERMINERS:
        words |= set(determiner.forms.values())
    words |= set(RELATIVE_PRONOUNS.values()) | {p.german for p in PRONOUNS}
    words |= {p.german for p in (*LOCATIONS, *DIRECTIONS, WITH, WITHOUT, BENEFICIARY, ATTRIBUTE)}
    words |= set(CONTRACTIONS.values())
    for word in (*TIME_ADVERBS, *SENTENCE_ADVERBS, *SUBORDINATORS, *COORDINATORS):
        words |= set(word.german.split())
    return words


def english_words() -> set[str]:
    """Every English token the grammar can write."""
    words = {COMMA, NP_AND.english, COMPLEMENTIZER.english, RELATIVIZER, "an"}
    for noun in NOUNS:
        words |= set(noun.english.split()) | set(noun.english_plural.split())
    for adjective in ADJECTIVES:
        words.add(adjective.english)
    for verb in (*VERBS, *MODALS):
        for form in (*verb.english, verb.english_base):
            words |= set(form.split())
    for determiner in DETERMINERS:
        words |= {w for w in determiner.english if w}
    words |= {p.english for p in PRONOUNS}
    for p in (*LOCATIONS, *DIRECTIONS, WITH, WITHOUT, BENEFICIARY, ATTRIBUTE):
        words |= set(p.english.split())
    for word in (*TIME_ADVERBS, *SENTENCE_ADVERBS, *SUBORDINATORS, *COORDINATORS):
        words |= set(word.english.split())
    return words
