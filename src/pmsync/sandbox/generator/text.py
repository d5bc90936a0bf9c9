"""Words the generator draws from: names, project themes, titles, hostile strings.

Kept apart from the logic so the story reads in one place and the pools can grow
without touching the timeline code. Every pool is a tuple: iteration order is part
of the generator's determinism.
"""

from __future__ import annotations

import random
import re

# (time zone, first names, last names); each name is (display, ascii) so ids,
# e-mails and logins stay ASCII while display names keep their accents and scripts.
Name = tuple[str, str]

REGIONS: tuple[tuple[str, tuple[Name, ...], tuple[Name, ...]], ...] = (
    (
        "America/Los_Angeles",
        (("Emily", "emily"), ("Jake", "jake"), ("Sofía", "sofia"), ("Marcus", "marcus")),
        (("Carter", "carter"), ("Nguyen", "nguyen"), ("Ramírez", "ramirez"), ("Kim", "kim")),
    ),
    (
        "Asia/Kolkata",
        (("Priya", "priya"), ("Arjun", "arjun"), ("Ananya", "ananya"), ("Rohan", "rohan")),
        (("Sharma", "sharma"), ("Iyer", "iyer"), ("Reddy", "reddy"), ("Banerjee", "banerjee")),
    ),
    (
        "Europe/Berlin",
        (("Jürgen", "juergen"), ("Anna", "anna"), ("Lukas", "lukas"), ("Lea", "lea")),
        (("Müller", "mueller"), ("Schäfer", "schaefer"), ("Weiß", "weiss"), ("Krüger", "krueger")),
    ),
    (
        "America/New_York",
        (("Olivia", "olivia"), ("Daniel", "daniel"), ("Aisha", "aisha"), ("Ben", "ben")),
        (("Johnson", "johnson"), ("O'Brien", "obrien"), ("Patel", "patel"), ("Rossi", "rossi")),
    ),
    (
        "Europe/Paris",
        (("Chloé", "chloe"), ("Élodie", "elodie"), ("Théo", "theo"), ("Hugo", "hugo")),
        (("Dubois", "dubois"), ("Lefèvre", "lefevre"), ("Martin", "martin"), ("Roux", "roux")),
    ),
    (
        "Asia/Tokyo",
        (("太郎", "taro"), ("花子", "hanako"), ("健", "ken"), ("由美", "yumi")),
        (("山田", "yamada"), ("佐藤", "sato"), ("鈴木", "suzuki"), ("高橋", "takahashi")),
    ),
    (
        "Europe/Warsaw",
        (("Łukasz", "lukasz"), ("Zofia", "zofia"), ("Michał", "michal"), ("Ewa", "ewa")),
        (
            ("Kowalski", "kowalski"),
            ("Wójcik", "wojcik"),
            ("Nowak", "nowak"),
            ("Dąbrowska", "dabrowska"),
        ),
    ),
    (
        "America/Sao_Paulo",
        (("João", "joao"), ("Beatriz", "beatriz"), ("Caio", "caio"), ("Luíza", "luiza")),
        (("Silva", "silva"), ("Gonçalves", "goncalves"), ("Araújo", "araujo"), ("Costa", "costa")),
    ),
    (
        "Asia/Shanghai",
        (("伟", "wei"), ("娜", "na"), ("磊", "lei"), ("静", "jing")),
        (("王", "wang"), ("李", "li"), ("张", "zhang"), ("刘", "liu")),
    ),
    (
        "Europe/London",
        (("Oliver", "oliver"), ("Amelia", "amelia"), ("Niamh", "niamh"), ("Callum", "callum")),
        (("Smith", "smith"), ("Davies", "davies"), ("Ó Briain", "obriain"), ("Evans", "evans")),
    ),
    (
        "Africa/Lagos",
        (("Chiamaka", "chiamaka"), ("Tunde", "tunde"), ("Ngozi", "ngozi"), ("Emeka", "emeka")),
        (("Okafor", "okafor"), ("Adeyemi", "adeyemi"), ("Eze", "eze"), ("Balogun", "balogun")),
    ),
    (
        "Australia/Sydney",
        (("Mia", "mia"), ("Jack", "jack"), ("Chloe", "chloe"), ("Liam", "liam")),
        (("Wilson", "wilson"), ("Thompson", "thompson"), ("Brown", "brown"), ("Taylor", "taylor")),
    ),
)
"""Region 0 is UTC-8 and region 1 UTC+5:30: the generator always staffs both."""

ODD_LOGINS = (
    "nightowl",
    "kernel-panic",
    "octo-dev",
    "zeroday42",
    "byte-smith",
    "tabs-not-spaces",
    "null-pointer",
    "rubber-duck",
    "coffee2code",
    "segfault-sam",
)

# (Jira key, project name, repository slug, milestone themes)
PROJECT_THEMES: tuple[tuple[str, str, str], ...] = (
    ("PAY", "Payments platform", "payments-api"),
    ("CRM", "CRM migration", "crm-sync"),
    ("MOB", "Mobile app relaunch", "mobile-app"),
    ("DWH", "Data warehouse", "dwh-pipelines"),
    ("IAM", "Identity & access management", "iam-service"),
    ("ERP", "ERP upgrade", "erp-upgrade"),
    ("WEB", "Website redesign", "website"),
    ("OBS", "Observability rollout", "observability"),
)

MILESTONE_THEMES = ("Foundations", "Integrations", "Beta", "Launch", "Hardening", "Scale-out")
COMPONENTS = ("API", "Web", "Mobile", "Data", "Infra", "Docs", "Security")
LABELS = ("backend", "frontend", "tech-debt", "security", "customer", "performance", "ux")
PRIORITIES = ("Highest", "High", "Medium", "Medium", "Medium", "Low", "Lowest")
GITHUB_LABELS = (
    "bug",
    "enhancement",
    "documentation",
    "good first issue",
    "needs-triage",
    "blocked",
    "dependencies",
    "priority: high",
)

VERBS = ("Add", "Fix", "Refactor", "Migrate", "Document", "Validate", "Speed up", "Remove")
OBJECTS = (
    "refund endpoint",
    "login page",
    "invoice export",
    "audit log",
    "retry queue",
    "password reset flow",
    "CSV import",
    "SSO callback",
    "search index",
    "webhook signature check",
    "currency rounding",
    "session timeout",
    "dashboard widgets",
    "rate limiter",
    "nightly batch job",
    "feature flags",
)
QUALIFIERS = (
    "",
    " for EU customers",
    " on mobile",
    " behind a feature flag",
    " (follow-up)",
    " in the admin UI",
    " for large accounts",
    " after the schema change",
)
EPIC_THEMES = (
    "Checkout redesign",
    "Customer self-service",
    "Platform hardening",
    "Reporting & analytics",
    "Partner integrations",
    "Compliance (GDPR, SOX)",
    "Performance programme",
    "Onboarding journey",
)

HOSTILE_TITLES = (
    "<script>alert(1)</script> in the release notes preview",
    '"; DROP TABLE work_item; --',
    "@channel the build is red again",
    "*bold* <!here> Slack mrkdwn leaks into titles",
    '<img src=x onerror="alert(document.cookie)"> avatar upload',
    "Robert'); DROP TABLE Students;-- in the customer name",
    "{{7*7}} ${jndi:ldap://127.0.0.1/a} template text in a field",
    "<@U024BE7LH> <!channel> & ampersands <b>tags</b>",
)
UNICODE_TITLES = (
    "Übersetzung der Zahlungsbestätigung prüfen",
    "Réconciliation des écritures comptables à l'échéance",
    "支払いリトライ処理の実装",
    "修复登录页面的编码问题",
    "🚀 Launch checklist for the beta 🎉",
    "Ñandú: búsqueda con eñes y acentos",
    "Łódź office VPN 🔐 keeps dropping",
    "Zeit\u00adzonen: Sommerzeit in São Paulo prüfen",
    "דוח סטטוס שבועי",  # noqa: RUF001 - right-to-left text on purpose
    "تحسين أداء صفحة الدفع",
    "Cafe\u0301 menu: combining accents vs. Café",
    "👩\u200d💻 pairing session notes",
)

WORKLOG_COMMENTS = ("", "", "Implementation", "Code review fixes", "Pairing", "Debugging CI")
COMMIT_CHORES = (
    "chore(deps): bump requests from 2.31.0 to 2.32.3",
    "docs: update README",
    "ci: cache dependencies",
    "style: apply formatter",
    "build: pin base image",
    "test: stabilise flaky integration test",
)
MEETINGS = (
    "Sprint planning",
    "Sprint review & demo",
    "Backlog refinement",
    "Architecture review",
    "Risk review",
    "Retrospective",
    "Vendor sync",
    "Security review",
)


_NOT_SLUG = re.compile(r"[^a-z0-9]+")


def work_title(rng: random.Random) -> str:
    """Return an ordinary work-item title."""
    return f"{rng.choice(VERBS)} {rng.choice(OBJECTS)}{rng.choice(QUALIFIERS)}"


def slug(text: str, limit: int = 40) -> str:
    """Return a branch-safe ASCII slug of ``text``."""
    return _NOT_SLUG.sub("-", text.lower()).strip("-")[:limit].strip("-") or "work"
