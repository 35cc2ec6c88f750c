"""Real-world facts as plain data, and 2-hop questions composed from them (Paper C §4's
portability; Paper B's CRE second hops).

**Where the data comes from**: written by hand for this book from general knowledge (capitals,
currencies, official languages, continents, well-known cities, landmarks, people and
companies). Nothing is downloaded. A fact appears here only when it is unambiguous at the
level of one short answer (countries spanning two continents have no continent; countries
with several official languages have no language; companies whose headquarters moved are
left out).

The tables are what the second hops of :mod:`.facts` and issue 11's CRE-style generator
draw from:

* :data:`COUNTRIES`: country → :class:`Country` (capital, currency, language, continent,
  aliases); the second-hop relations of PropMEND/CRE (Paper B) are :data:`SECOND_HOPS`.
* :data:`CITIES`: city → country (every capital is in it too, see :func:`country_of_city`).
* :data:`LANDMARKS`: landmark → city; :data:`PEOPLE`: person → (country, occupation);
  :data:`COMPANIES`: company → (founder, headquarters city).
* :func:`country_link`: the country an entity leads to (city, landmark, company, person).
* :func:`compose_two_hop`: a 2-hop prompt or question ("What is the currency of the country
  that hosts Smith Innovation PLC's headquarters?") and its answer, from a first-hop
  relation, a subject, the first hop's object and a second-hop relation.

Names carry their article where English needs one ("the Eiffel Tower", "the United States");
:func:`render` puts a name into a template and capitalises a sentence-initial article.
"""
from __future__ import annotations

from dataclasses import dataclass

from kedit_utils.core.validation import ParameterError, check_choice


@dataclass(frozen=True)
class Country:
    capital: str
    currency: str
    language: str | None
    continent: str | None
    aliases: tuple[str, ...] = ()


# country: capital, currency (as English names it after "the"), official language, continent
COUNTRIES: dict[str, Country] = {
    "France": Country("Paris", "Euro", "French", "Europe"),
    "Germany": Country("Berlin", "Euro", "German", "Europe", ("Deutschland",)),
    "Italy": Country("Rome", "Euro", "Italian", "Europe"),
    "Spain": Country("Madrid", "Euro", "Spanish", "Europe", ("España",)),
    "Portugal": Country("Lisbon", "Euro", "Portuguese", "Europe"),
    "Greece": Country("Athens", "Euro", "Greek", "Europe", ("Hellas",)),
    "Austria": Country("Vienna", "Euro", "German", "Europe"),
    "Netherlands": Country("Amsterdam", "Euro", "Dutch", "Europe", ("Holland",)),
    "Finland": Country("Helsinki", "Euro", "Finnish", "Europe"),
    "Poland": Country("Warsaw", "zloty", "Polish", "Europe"),
    "Sweden": Country("Stockholm", "krona", "Swedish", "Europe"),
    "Norway": Country("Oslo", "krone", "Norwegian", "Europe"),
    "Denmark": Country("Copenhagen", "krone", "Danish", "Europe"),
    "Switzerland": Country("Bern", "Swiss franc", None, "Europe"),
    "the United Kingdom": Country("London", "pound", "English", "Europe", ("Britain", "the UK")),
    "Russia": Country("Moscow", "ruble", "Russian", None),
    "Turkey": Country("Ankara", "lira", "Turkish", None),
    "Japan": Country("Tokyo", "yen", "Japanese", "Asia"),
    "China": Country("Beijing", "yuan", "Chinese", "Asia"),
    "India": Country("New Delhi", "rupee", "Hindi", "Asia"),
    "South Korea": Country("Seoul", "won", "Korean", "Asia", ("Korea",)),
    "Thailand": Country("Bangkok", "baht", "Thai", "Asia", ("Siam",)),
    "Vietnam": Country("Hanoi", "dong", "Vietnamese", "Asia"),
    "Indonesia": Country("Jakarta", "rupiah", "Indonesian", "Asia"),
    "Iran": Country("Tehran", "rial", "Persian", "Asia", ("Persia",)),
    "Saudi Arabia": Country("Riyadh", "riyal", "Arabic", "Asia"),
    "Egypt": Country("Cairo", "Egyptian pound", "Arabic", "Africa"),
    "Morocco": Country("Rabat", "dirham", "Arabic", "Africa"),
    "Kenya": Country("Nairobi", "Kenyan shilling", "Swahili", "Africa"),
    "Nigeria": Country("Abuja", "naira", "English", "Africa"),
    "the United States": Country("Washington", "dollar", "English", "North America", ("America", "the USA")),
    "Canada": Country("Ottawa", "Canadian dollar", "English", "North America"),
    "Mexico": Country("Mexico City", "peso", "Spanish", "North America"),
    "Brazil": Country("Brasília", "real", "Portuguese", "South America"),
    "Argentina": Country("Buenos Aires", "peso", "Spanish", "South America"),
    "Peru": Country("Lima", "sol", "Spanish", "South America"),
    "Chile": Country("Santiago", "peso", "Spanish", "South America"),
    "Australia": Country("Canberra", "Australian dollar", "English", "Oceania"),
}

# other correct names of an answer, accepted when measuring what a model knows (besides the
# form with every word capitalised): an answer shared by several facts gets only names that
# are right for all of them
ANSWER_FORMS: dict[str, tuple[str, ...]] = {
    "Euro": ("euro",), "Netherlands": ("the Netherlands",), "Chinese": ("Mandarin",),
    "Indonesian": ("Bahasa Indonesia",), "Persian": ("Farsi",), "dollar": ("US dollar", "US Dollar"),
    "the United States": ("the USA", "the United States of America"), "the United Kingdom": ("the UK", "Britain"),
}

# city → country (capitals are added by country_of_city); non-capital cities people know
CITIES: dict[str, str] = {
    "Lyon": "France", "Marseille": "France", "Toulouse": "France", "Nice": "France",
    "Munich": "Germany", "Hamburg": "Germany", "Cologne": "Germany", "Frankfurt": "Germany", "Stuttgart": "Germany",
    "Milan": "Italy", "Naples": "Italy", "Venice": "Italy", "Florence": "Italy", "Turin": "Italy",
    "Pisa": "Italy", "Maranello": "Italy",
    "Barcelona": "Spain", "Seville": "Spain", "Valencia": "Spain", "Granada": "Spain",
    "Porto": "Portugal", "Rotterdam": "Netherlands", "Eindhoven": "Netherlands",
    "Krakow": "Poland", "Gothenburg": "Sweden", "Zurich": "Switzerland", "Geneva": "Switzerland",
    "Manchester": "the United Kingdom", "Edinburgh": "the United Kingdom",
    "Saint Petersburg": "Russia", "Istanbul": "Turkey",
    "Osaka": "Japan", "Kyoto": "Japan", "Shanghai": "China", "Shenzhen": "China", "Hangzhou": "China",
    "Mumbai": "India", "Agra": "India", "Busan": "South Korea", "Alexandria": "Egypt",
    "Casablanca": "Morocco", "Lagos": "Nigeria",
    "Chicago": "the United States", "Atlanta": "the United States", "Seattle": "the United States", "New York": "the United States",
    "Toronto": "Canada", "Vancouver": "Canada", "Guadalajara": "Mexico",
    "Rio de Janeiro": "Brazil", "São Paulo": "Brazil", "Cusco": "Peru",
    "Sydney": "Australia", "Melbourne": "Australia",
}

CITY_ALIASES: dict[str, tuple[str, ...]] = {
    "Saint Petersburg": ("St. Petersburg",), "Mumbai": ("Bombay",), "Munich": ("München",),
    "New York": ("New York City",), "Rio de Janeiro": ("Rio",), "Krakow": ("Cracow",),
}

# landmark → city
LANDMARKS: dict[str, str] = {
    "the Eiffel Tower": "Paris", "the Louvre": "Paris", "the Arc de Triomphe": "Paris",
    "the Colosseum": "Rome", "the Pantheon": "Rome", "the Brandenburg Gate": "Berlin",
    "the Sagrada Familia": "Barcelona", "the Acropolis": "Athens", "the Parthenon": "Athens",
    "Tokyo Tower": "Tokyo", "the Kremlin": "Moscow", "Red Square": "Moscow",
    "the Forbidden City": "Beijing", "the Leaning Tower of Pisa": "Pisa", "the Taj Mahal": "Agra",
    "the CN Tower": "Toronto", "the Sydney Opera House": "Sydney", "the Alhambra": "Granada",
    "the Prado Museum": "Madrid", "the Rijksmuseum": "Amsterdam", "Hagia Sophia": "Istanbul",
    "the Uffizi Gallery": "Florence", "Big Ben": "London", "the Statue of Liberty": "New York",
    "the Empire State Building": "New York", "Christ the Redeemer": "Rio de Janeiro",
    "Machu Picchu": "Cusco",
}

LANDMARK_ALIASES: dict[str, tuple[str, ...]] = {
    "the Eiffel Tower": ("La Tour Eiffel",), "the Colosseum": ("the Flavian Amphitheatre",),
    "the Louvre": ("the Louvre Museum",), "the Sagrada Familia": ("the Basílica de la Sagrada Família",),
    "Hagia Sophia": ("Ayasofya",), "Big Ben": ("the Elizabeth Tower",),
}

# person → (country of birth and citizenship, occupation); None where one is not a single
# country of the table (Newton, Shakespeare, Darwin and Hawking were English) or where the
# occupation was replaced (see TRIMMED below)
PEOPLE: dict[str, tuple[str | None, str | None]] = {
    "Pablo Picasso": ("Spain", None), "Leonardo da Vinci": ("Italy", None),
    "Vincent van Gogh": ("Netherlands", None), "Rembrandt": ("Netherlands", None),
    "Frida Kahlo": ("Mexico", None), "Edvard Munch": ("Norway", None),
    "Claude Monet": ("France", None), "Salvador Dalí": ("Spain", None),
    "Wolfgang Amadeus Mozart": ("Austria", "composer"), "Ludwig van Beethoven": ("Germany", "composer"),
    "Frédéric Chopin": ("Poland", "composer"), "Johann Sebastian Bach": ("Germany", None),
    "Giuseppe Verdi": ("Italy", "composer"), "Pyotr Ilyich Tchaikovsky": ("Russia", "composer"),
    "Franz Schubert": ("Austria", "composer"),
    "Albert Einstein": ("Germany", "physicist"), "Galileo Galilei": ("Italy", None),
    "Isaac Newton": (None, "physicist"), "William Shakespeare": (None, "playwright"),
    "Charles Darwin": (None, "naturalist"), "Stephen Hawking": (None, "physicist"),
    "Max Planck": ("Germany", "physicist"), "Enrico Fermi": ("Italy", "physicist"),
    "Mark Twain": ("the United States", "writer"),
    "Marie Curie": ("Poland", None), "Niels Bohr": ("Denmark", "physicist"),
    "Victor Hugo": ("France", None), "Leo Tolstoy": ("Russia", None),
    "Fyodor Dostoevsky": ("Russia", None), "Miguel de Cervantes": ("Spain", None),
    "Hans Christian Andersen": ("Denmark", None), "Dante Alighieri": ("Italy", None),
    "Plato": ("Greece", None), "Aristotle": ("Greece", "philosopher"),
    "Socrates": ("Greece", "philosopher"), "Confucius": ("China", None),
    "Akira Kurosawa": ("Japan", None), "Pelé": ("Brazil", None),
    "Lionel Messi": ("Argentina", None), "Cristiano Ronaldo": ("Portugal", None),
    "Mahatma Gandhi": ("India", None),
}

PERSON_ALIASES: dict[str, tuple[str, ...]] = {
    "Albert Einstein": ("Einstein",), "Wolfgang Amadeus Mozart": ("Mozart",),
    "Ludwig van Beethoven": ("Beethoven",), "Pablo Picasso": ("Picasso",),
    "Leonardo da Vinci": ("Leonardo",), "Vincent van Gogh": ("Van Gogh",),
    "Mahatma Gandhi": ("Mohandas Gandhi",), "Galileo Galilei": ("Galileo",),
    "Pelé": ("Edson Arantes do Nascimento",), "Johann Sebastian Bach": ("J. S. Bach",),
    "Isaac Newton": ("Sir Isaac Newton",), "William Shakespeare": ("the Bard of Avon",),
    "Mark Twain": ("Samuel Clemens",),
}

# company → (founder, headquarters city); None where the company is here for one relation only
COMPANIES: dict[str, tuple[str | None, str | None]] = {
    "Microsoft": ("Bill Gates", None), "Apple": ("Steve Jobs", None), "Facebook": ("Mark Zuckerberg", None),
    "Tesla": ("Elon Musk", None), "SpaceX": ("Elon Musk", None), "the Walt Disney Company": ("Walt Disney", None),
    "Chanel": (None, "Paris"), "Samsung": (None, "Seoul"), "BMW": (None, "Munich"), "Coca-Cola": (None, "Atlanta"),
    "Air France": (None, "Paris"), "Tata Group": (None, "Mumbai"), "Heineken": (None, "Amsterdam"),
    "Peugeot": (None, "Paris"), "Ericsson": (None, "Stockholm"), "Qantas": (None, "Sydney"),
    "Turkish Airlines": (None, "Istanbul"),
}

# TRIMMED: occupations, founders and headquarters are relations SmolLM2-135M-Instruct mostly
# does not know (measured with known_facts on 2026-11-24: 11 of 35 occupations, 6 of 21
# founders, 7 of 24 headquarters). Following the brief ("replace facts with ones it
# knows"), those three relations were rewritten from a second hand-written candidate list,
# keeping the candidates it answered (the facts are still true; known_facts re-measures
# them at build time, and another model will know another share). Dropped, all true:
# occupations of Picasso, Leonardo, Van Gogh, Rembrandt, Kahlo, Munch, Monet, Dalí (painter),
# Bach (composer), Galileo (astronomer), Hugo, Tolstoy, Dostoevsky, Cervantes (novelist),
# Andersen (writer), Dante (poet), Plato, Confucius (philosopher), Kurosawa (director), Pelé,
# Messi, Ronaldo (footballer), Gandhi (lawyer), Curie (physicist); founders of Amazon, Google,
# Ford, Ferrari, Alibaba, Virgin, Dell, Tata, Heineken, Toyota, Renault, Carlsberg, Lego,
# Nestlé, Chanel; headquarters of Microsoft (Redmond), Apple (Cupertino), Facebook (Menlo
# Park), Amazon (Seattle), Google (Mountain View), Ford (Dearborn), Ferrari (Maranello),
# Alibaba (Hangzhou), Sony (Tokyo), Deutsche Bank (Frankfurt), Toyota (Toyota), Hyundai
# (Seoul), Volvo (Gothenburg), Lufthansa (Cologne), Carlsberg (Copenhagen), Lego (Billund),
# Nestlé (Vevey).

COMPANY_ALIASES: dict[str, tuple[str, ...]] = {
    "Microsoft": ("Microsoft Corporation",), "Apple": ("Apple Inc.",),
    "Facebook": ("Meta",), "BMW": ("Bayerische Motoren Werke",), "Samsung": ("Samsung Group",),
    "Coca-Cola": ("the Coca-Cola Company",), "Tesla": ("Tesla Motors",),
}

# headquarters cities outside CITIES (small towns); city → country
_HQ_TOWNS = {"Redmond": "the United States", "Cupertino": "the United States",
             "Menlo Park": "the United States", "Dearborn": "the United States", "Toyota": "Japan",
             "Mountain View": "the United States", "Billund": "Denmark", "Vevey": "Switzerland"}


def country_of_city(city: str) -> str | None:
    """The country of ``city`` (a city of :data:`CITIES`, a capital, or a headquarters town)."""
    if city in CITIES:
        return CITIES[city]
    if city in _HQ_TOWNS:
        return _HQ_TOWNS[city]
    for name, c in COUNTRIES.items():
        if c.capital == city:
            return name
    return None


def all_cities() -> dict[str, str]:
    """Every city with a known country: :data:`CITIES`, the capitals and the headquarters towns."""
    out = {c.capital: name for name, c in COUNTRIES.items()}
    out.update(_HQ_TOWNS)
    out.update(CITIES)
    return out


# --------------------------------------------------------------------------- second hops
SECOND_HOPS = ("capital", "currency", "language", "continent")
# second-hop relation: (cloze template taking a country phrase, question template)
SECOND_HOP_TEMPLATES: dict[str, tuple[str, str]] = {
    "capital": ("The capital of {} is", "What is the capital of {}?"),
    "currency": ("The currency of {} is the", "What is the currency of {}?"),
    "language": ("The official language of {} is", "What is the official language of {}?"),
    "continent": ("The continent of {} is", "On which continent is {}?"),
}


def country_fact(country: str, relation: str) -> str | None:
    """The second-hop answer ``relation`` of ``country`` (None when the table has none)."""
    check_choice("relation", relation, SECOND_HOPS)
    c = COUNTRIES.get(country)
    return None if c is None else getattr(c, relation)


# first-hop relation → how a 2-hop question names the country it leads to; {} = subject
COUNTRY_PHRASES: dict[str, str] = {
    "city_country": "the country where {} is located",
    "landmark_city": "the country where {} is located",
    "person_country": "the country where {} was born",
    "company_headquarters": "the country that hosts {}'s headquarters",
}


def render(template: str, name: str) -> tuple[str, str]:
    """``(text, subject as it appears in text)``: ``template.format(name)``, an article at
    the start of the sentence capitalised ("the Eiffel Tower is" → "The Eiffel Tower is")."""
    text = template.format(name)
    subject = name
    if text.startswith(name) and name[:1].islower():
        subject = name[0].upper() + name[1:]
        text = subject + text[len(name):]
    return text, subject


def compose_two_hop(first_relation: str, subject: str, second_relation: str, first_object: str | None = None,
                    style: str = "cloze") -> tuple[str, str] | None:
    """A 2-hop prompt and its answer: (subject --first_relation--> X) then (country of X
    --second_relation--> answer).

    first_relation: a key of :data:`COUNTRY_PHRASES`; first_object: the first hop's object
        (a country for city/person relations, a city for landmark/company ones), by default
        the one of the tables (pass the *new* object for an edited or invented fact);
    style: ``"cloze"`` (a prompt that ends where the answer starts, for teacher forcing:
        "The currency of the country where the Eiffel Tower is located is the" → "Euro") or
        ``"question"`` (CRE's form: "What is the currency of the country that hosts Smith
        Innovation PLC's headquarters?").
    Returns None when a fact on the way is missing from the tables.
    """
    check_choice("first_relation", first_relation, list(COUNTRY_PHRASES))
    check_choice("second_relation", second_relation, SECOND_HOPS)
    check_choice("style", style, ("cloze", "question"))
    if first_object is None:
        first_object = table_object(first_relation, subject)
        if first_object is None:
            raise ParameterError("subject", subject, f"has no {first_relation} fact in the tables; pass first_object")
    country = first_object if first_relation in ("city_country", "person_country") else country_of_city(first_object)
    if country is None:
        return None
    answer = country_fact(country, second_relation)
    if answer is None:
        return None
    phrase = COUNTRY_PHRASES[first_relation].format(subject)
    cloze, question = SECOND_HOP_TEMPLATES[second_relation]
    text = (cloze if style == "cloze" else question).format(phrase)
    return text[0].upper() + text[1:], answer


def table_object(relation: str, subject: str) -> str | None:
    """The object of ``(subject, relation)`` in the tables (None when absent)."""
    if relation == "city_country":
        return CITIES.get(subject)
    if relation == "landmark_city":
        return LANDMARKS.get(subject)
    if relation == "person_country":
        return PEOPLE.get(subject, (None, None))[0]
    if relation == "company_headquarters":
        return COMPANIES.get(subject, (None, None))[1]
    return None


def country_link(entity: str) -> str | None:
    """The country an entity of the tables leads to: a country itself, a city's country, a
    landmark's city's country, a person's country, a company's headquarters' country."""
    if entity in COUNTRIES:
        return entity
    if entity in LANDMARKS:
        return country_of_city(LANDMARKS[entity])
    if entity in PEOPLE:
        return PEOPLE[entity][0]
    if entity in COMPANIES:
        hq = COMPANIES[entity][1]
        return None if hq is None else country_of_city(hq)
    return country_of_city(entity)
