"""Say what a calendar event is for the PM: status meeting, review, leave, holiday ...

Rules are declared (``pmsync.config.meeting_rules`` holds the built-in table,
``pmsync.yaml`` the admin's) and compiled once into ``Rule`` values; ``classify``
walks them and the first rule whose every condition holds decides. Titles are
compared after Unicode NFKC normalisation and case folding, so full-width
letters, "Out Of Office" and "STATUSMEETING" read as a person would read them.
"""

from __future__ import annotations

import fnmatch
import functools
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from pmsync.config.meeting_rules import BUILTIN_RULES
from pmsync.config.meetings import ClassificationRule, HolidayCalendar, MeetingSettings

_WORDS = re.compile(r"[^\w*]+")
MEMORY = 100_000
"""Titles (or calendars) whose answers are remembered, per matcher."""


@functools.lru_cache(maxsize=65536)  # titles repeat: every occurrence of a series
def normalize(text: str) -> str:
    """Return ``text`` as classification compares it: NFKC, case-folded."""
    return unicodedata.normalize("NFKC", text).casefold()


def _ideographic(char: str) -> bool:
    # Japanese and Chinese have no spaces between words: match those phrases anywhere.
    return unicodedata.east_asian_width(char) in ("W", "F")


def _phrase_words(phrase: str) -> list[str]:
    words = [w for w in _WORDS.split(normalize(phrase)) if w]
    if not words:
        raise ValueError(f"{phrase!r} has no words to match")
    return words


def phrase_pattern(phrase: str) -> str:
    """Return the regular expression of a phrase (words on boundaries, ``*`` = letters)."""
    words = _phrase_words(phrase)
    body = r"[\W_]*".join(re.escape(w).replace(r"\*", r"\w*") for w in words)
    first, last = words[0][0], words[-1][-1]
    left = "" if first == "*" or _ideographic(first) else r"(?<!\w)"
    right = "" if last == "*" or _ideographic(last) else r"(?!\w)"
    return left + body + right


def phrase_pieces(phrase: str) -> tuple[str, ...]:
    """Return the text every match of the phrase contains: its words' letters between ``*``.

    ``phrase_pattern`` matches each piece literally in the folded title, so a
    title whose folded text lacks a piece cannot contain the phrase.
    """
    return tuple(piece for word in _phrase_words(phrase) for piece in word.split("*") if piece)


@dataclass(frozen=True, slots=True)
class TitleMatcher:
    """Phrases and ``re:`` expressions compiled into (at most) two patterns."""

    phrases: re.Pattern[str] | None
    expressions: re.Pattern[str] | None
    _seen: dict[str, bool] = field(default_factory=dict, compare=False, repr=False)
    """Answers by title: the occurrences of a series share theirs."""

    @classmethod
    def of(cls, patterns: Iterable[str]) -> TitleMatcher:
        """Compile ``patterns`` (phrases, or ``re:`` and an expression)."""
        phrases, expressions = [], []
        for pattern in patterns:
            if pattern.startswith("re:"):
                expressions.append(f"(?:{pattern[3:]})")
            else:
                phrases.append(phrase_pattern(pattern))
        return cls(
            re.compile("|".join(phrases)) if phrases else None,
            re.compile("|".join(expressions), re.IGNORECASE) if expressions else None,
        )

    def __bool__(self) -> bool:
        return self.phrases is not None or self.expressions is not None

    def search(self, title: str) -> bool:
        """Tell whether any phrase or expression occurs in ``title`` (answers remembered)."""
        found = self._seen.get(title)
        if found is None:
            found = self.matches(title)
            if len(self._seen) < MEMORY:
                self._seen[title] = found
        return found

    def matches(self, title: str) -> bool:
        """Tell whether any phrase or expression occurs in ``title``, remembering nothing."""
        return bool(
            (self.phrases is not None and self.phrases.search(normalize(title)))
            or (
                self.expressions is not None
                and self.expressions.search(unicodedata.normalize("NFKC", title))
            )
        )


def glob(value: str | None, patterns: Sequence[str]) -> bool:
    """Tell whether ``value`` matches any shell-style pattern, case-insensitively."""
    if value is None:
        return False
    folded = value.casefold()
    return any(fnmatch.fnmatchcase(folded, p.casefold()) for p in patterns)


@dataclass(frozen=True, slots=True)
class EventFacts:
    """What classification looks at in one event."""

    title: str
    calendar_id: str
    source: str = ""
    event_type: str = "default"
    all_day: bool = False
    organizer: str | None = None
    """The organiser's login (an e-mail for calendars)."""
    attendees: tuple[str, ...] = ()
    organizer_person: str | None = None
    """The organiser's person id in ``pmsync.yaml``, when linking found one."""
    attendee_people: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Rule:
    """One compiled classification rule; ``None`` or empty conditions always hold."""

    name: str
    kind: str
    titles: TitleMatcher
    not_titles: TitleMatcher
    calendars: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    organizers: tuple[str, ...] = ()
    attendees: tuple[str, ...] = ()
    event_types: tuple[str, ...] = ()
    all_day: bool | None = None
    holiday_calendar: bool | None = None

    @classmethod
    def of(cls, rule: ClassificationRule, name: str) -> Rule:
        """Compile a configured rule, called ``name`` where it has no name of its own."""
        return cls(
            name=rule.name or name,
            kind=rule.kind,
            titles=TitleMatcher.of(rule.titles),
            not_titles=TitleMatcher.of(rule.not_titles),
            calendars=tuple(rule.calendars),
            sources=tuple(rule.sources),
            organizers=tuple(rule.organizers),
            attendees=tuple(rule.attendees),
            event_types=tuple(rule.event_types),
            all_day=rule.all_day,
            holiday_calendar=rule.holiday_calendar,
        )

    def matches(self, event: EventFacts, on_holiday_calendar: bool) -> bool:
        """Tell whether every condition of this rule holds for ``event``."""
        if self.all_day is not None and event.all_day != self.all_day:
            return False
        if self.holiday_calendar is not None and on_holiday_calendar != self.holiday_calendar:
            return False
        if self.event_types and event.event_type not in self.event_types:
            return False
        if self.sources and event.source not in self.sources:
            return False
        if self.calendars and not glob(event.calendar_id, self.calendars):
            return False
        if self.organizers and not _person_matches(
            event.organizer, event.organizer_person, self.organizers
        ):
            return False
        if self.attendees and not (
            any(_person_matches(login, None, self.attendees) for login in event.attendees)
            or any(person in self.attendees for person in event.attendee_people)
        ):
            return False
        if self.titles and not self.titles.search(event.title):
            return False
        return not (self.not_titles and self.not_titles.search(event.title))


def _person_matches(login: str | None, person: str | None, patterns: Sequence[str]) -> bool:
    return (person is not None and person in patterns) or glob(login, patterns)


@dataclass(frozen=True, slots=True)
class Classification:
    """An event's kind and the rule that decided it (``None``: no rule, so ``other``)."""

    kind: str
    rule: str | None


@dataclass(frozen=True)
class Classifier:
    """The rules in the order they are checked, and the holiday calendars."""

    rules: tuple[Rule, ...]
    holiday_calendars: tuple[HolidayCalendar, ...]
    _holiday_titles: tuple[TitleMatcher, ...] = ()
    _holiday_ids: dict[str, bool] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        matchers = tuple(TitleMatcher.of(c.titles) for c in self.holiday_calendars)
        object.__setattr__(self, "_holiday_titles", matchers)

    def on_holiday_calendar(self, calendar_id: str) -> bool:
        """Tell whether ``calendar_id`` is one of the holiday calendars."""
        found = self._holiday_ids.get(calendar_id)
        if found is None:
            found = any(glob(calendar_id, (c.calendar,)) for c in self.holiday_calendars)
            if len(self._holiday_ids) < MEMORY:
                self._holiday_ids[calendar_id] = found
        return found

    def holiday_calendar_for(self, calendar_id: str, title: str) -> HolidayCalendar | None:
        """Return the first holiday calendar entry whose calendar and titles fit, if any."""
        for entry, titles in zip(self.holiday_calendars, self._holiday_titles, strict=True):
            if glob(calendar_id, (entry.calendar,)) and (not titles or titles.search(title)):
                return entry
        return None

    def classify(self, event: EventFacts) -> Classification:
        """Return the kind the first matching rule gives ``event`` (``other`` if none)."""
        holiday = self.on_holiday_calendar(event.calendar_id)
        for rule in self.rules:
            if rule.matches(event, holiday):
                return Classification(rule.kind, rule.name)
        return Classification("other", None)


def build_classifier(settings: MeetingSettings | None = None) -> Classifier:
    """Compile the admin's rules, then the built-in ones (replaced, disabled or not)."""
    settings = settings or MeetingSettings()
    builtin_names = {rule.name for rule in BUILTIN_RULES} if settings.builtin_rules else set()
    replacing = {r.name: r for r in settings.rules if r.name in builtin_names}
    rules = [
        Rule.of(rule, f"rules[{index}]")
        for index, rule in enumerate(settings.rules)
        if rule.name not in builtin_names
    ]
    if settings.builtin_rules:
        for rule in BUILTIN_RULES:
            if rule.name not in settings.disable_builtin:
                rules.append(Rule.of(replacing.get(rule.name, rule), rule.name or ""))
    return Classifier(tuple(rules), settings.holiday_calendar_list())


@functools.cache
def _default() -> Classifier:
    return build_classifier()


def classify_title(
    title: str,
    *,
    all_day: bool = False,
    event_type: str = "default",
    calendar_id: str = "primary",
) -> str:
    """Return the kind the built-in rules give an event titled ``title``."""
    facts = EventFacts(title, calendar_id, event_type=event_type, all_day=all_day)
    return _default().classify(facts).kind
