"""The built-in classification rules: what a status meeting is called around the world.

They are ordinary ``ClassificationRule`` values, so an admin's rule of the same
``name`` replaces one in place and ``disable_builtin`` removes one; the admin's
other rules are checked first. Order matters (the first match wins), and is
chosen for precision:

1. the calendar's own type (``outOfOffice``) says leave, whatever the title;
2. all-day events on a holiday calendar, then all-day events titled as a public
   holiday, are public holidays (before leave: "Public holiday" is not leave);
3. leave by title, unless the title is about leave (policy, planning, party);
4. steering committee before milestone review ("SteerCo milestone review" is a
   steering committee), milestone review before customer meeting, customer
   meeting before status meeting ("Customer call: status of the payroll
   migration" is a customer meeting);
5. status meeting last, by phrases that name a meeting, never ``status`` alone
   ("Status page outage post-mortem" is not one).

Meeting kinds skip titles that prepare for a meeting ("Prepare SteerCo deck").
Phrases are matched case-insensitively on word boundaries, words joined by any
separator or none ("status meeting" matches "Statusmeeting" and
"status-meeting"); ``*`` stands for letters ("*urlaub" matches "Jahresurlaub");
phrases in Japanese or Chinese match anywhere. An event no rule matches is
``other``.
"""

from __future__ import annotations

from pmsync.config.meetings import ClassificationRule

PREPARATION = [
    "prep",
    "prepare",
    "preparation",
    "pre-read",
    "deck",
    "slides",
    "write",
    "draft",
    "vorbereitung",
    "vorbereiten",
    "erstellen",
    "préparation",
    "préparer",
    "rédiger",
    "preparación",
    "preparar",
    "preparação",
    "preparazione",
    "preparare",
    "voorbereiding",
    "voorbereiden",
    "準備",
    "资料准备",
]
"""Work on a meeting is not the meeting."""

ABOUT_LEAVE = [
    "policy",
    "policies",
    "planning",
    "plan",
    "planner",
    "schedule",
    "calendar",
    "request",
    "approval",
    "review",
    "meeting",
    "sync",
    "party",
    "handover",
    "coverage",
    "discussion",
    "management",
    "tracking",
    "process",
    "workflow",
    "system",
    "tool",
    "planung",
    "richtlinie",
    "antrag",
    "übergabe",
    "besprechung",
    "feier",
    "réunion",
    "fête",
    "politique",
    "reunión",
    "fiesta",
    "política",
    "reunião",
    "festa",
    "riunione",
    "overleg",
    "feest",
    "beleid",
]
"""Words that make a leave word the topic of a meeting, not an absence."""

LEAVE = [
    # English
    "out of office", "ooo", "oof", "pto", "vacation", "holiday", "holidays", "annual leave",
    "sick leave", "sick day", "off sick", "parental leave", "maternity leave",
    "paternity leave", "medical leave", "on leave", "day off", "days off", "time off",
    # German
    "*urlaub", "ferien", "krank", "krankmeldung", "krankheit", "arbeitsunfähig", "elternzeit",
    "mutterschutz", "abwesend", "abwesenheit", "freier tag", "brückentag", "gleittag",
    "zeitausgleich",
    # French
    "congé", "congés", "vacances", "rtt", "absent", "absente", "absence", "arrêt maladie",
    "maladie", "jour de repos",
    # Spanish
    "vacaciones", "baja médica", "baja por enfermedad", "ausente", "ausencia", "día libre",
    "asuntos propios",
    # Portuguese
    "férias", "folga", "licença médica", "licença maternidade", "licença paternidade",
    "de licença", "atestado", "ausência",
    # Italian
    "ferie", "malattia", "permesso", "assente", "assenza",
    # Dutch
    "vakantie", "*verlof", "ziek", "vrije dag", "afwezig",
    # Japanese, Chinese
    "休暇", "有給", "有休", "年休", "夏休み", "冬休み", "病欠", "不在", "お休み",
    "休假", "请假", "年假", "病假",
]  # fmt: skip

PUBLIC_HOLIDAY = [
    "public holiday", "bank holiday", "national holiday", "federal holiday", "state holiday",
    "*feiertag", "jour férié", "férié", "día festivo", "festivo", "feriado", "festività",
    "giorno festivo", "festa nazionale", "feestdag", "nationale feestdag", "祝日", "国民の休日",
    "法定节假日", "公众假期",
]  # fmt: skip

STEERING_COMMITTEE = [
    "steering committee", "steering board", "steering group", "steering meeting",
    "steering call", "steering session", "steerco", "steer co",
    "lenkungsausschuss", "lenkungskreis", "lenkungsgremium", "steuerkreis", "steuerungskreis",
    "steuerungsausschuss", "steuerungsgremium",
    "comité de pilotage", "copil", "comité directeur", "comité stratégique", "comité de suivi",
    "comité directivo", "comité de dirección", "comité de seguimiento",
    "comitê diretivo", "comité diretivo", "comitê executivo", "comitê de direção",
    "comitê gestor", "comitê de acompanhamento",
    "comitato di pilotaggio", "comitato guida", "comitato direttivo", "comitato di indirizzo",
    "stuurgroep*", "stuurcommissie",
    "ステアリングコミッティ", "ステコミ", "運営委員会", "指导委员会",
]  # fmt: skip

MILESTONE_REVIEW = [
    "milestone review", "milestone meeting", "milestone sign-off", "milestone check",
    "gate review", "phase gate", "stage gate", "quality gate review", "go/no-go",
    "release readiness", "release review",
    "meilenstein-review", "meilensteinbesprechung", "meilensteinabnahme", "meilensteintermin",
    "meilensteinsitzung", "phasenabnahme",
    "revue de jalon", "réunion de jalon", "point jalon", "jalon",
    "revisión de hito", "revisión del hito", "reunión de hito",
    "revisão de marco", "revisão do marco", "reunião de marco",
    "revisione della milestone", "revisione milestone", "riesame della milestone",
    "verifica milestone",
    "mijlpaalreview", "mijlpaalbespreking", "mijlpaaloverleg",
    "マイルストーンレビュー", "マイルストーン会議", "ゲートレビュー", "フェーズゲート",
    "里程碑评审",
]  # fmt: skip

CUSTOMER_MEETING = [
    "customer meeting", "customer call", "customer visit", "customer workshop",
    "customer review", "customer sync", "customer demo", "customer status", "customer update",
    "customer check-in", "customer presentation", "customer kick-off", "with the customer",
    "client meeting", "client call", "client visit", "client workshop",
    "client review", "client sync", "client demo", "client status", "client update",
    "client check-in", "with the client", "qbr", r"re:^\s*(customer|client|kunde)\s*:",
    r"re:\bcustomers?\b.{0,30}\b(meeting|call|sync|status|weekly|jour fixe|check-in)\b",
    "kundentermin", "kundenmeeting", "kundengespräch", "kundenbesprechung", "kundenworkshop",
    "kundenbesuch", "kundencall", "kundenpräsentation", "kunden-jour-fixe", "beim kunden",
    "mit dem kunden",
    "réunion client", "rendez-vous client", "rdv client", "point client", "visite client",
    "atelier client", "comité client", "avec le client",
    "reunión con el cliente", "reunión con cliente", "reunión cliente", "visita al cliente",
    "visita cliente", "llamada con el cliente", "con el cliente",
    "reunião com o cliente", "reunião com cliente", "reunião cliente", "visita ao cliente",
    "com o cliente",
    "riunione con il cliente", "riunione cliente", "incontro con il cliente",
    "incontro cliente", "call cliente", "con il cliente",
    "klantoverleg", "klantafspraak", "klantbezoek", "klantmeeting", "klantgesprek",
    "met de klant", "overleg met klant",
    "顧客", "お客様", "客先", "客户",
]  # fmt: skip

STATUS_MEETING = [
    "status meeting", "status call", "status update", "status sync", "status review",
    "status report", "status check", "status round", "weekly status", "daily status",
    "monthly status", "bi-weekly status", "biweekly status", "project status", "team status",
    "weekly sync", "weekly meeting", "progress meeting", "progress review", "progress update",
    "weekly check-in", "stand-up", "daily stand-up", "daily scrum", "daily sync",
    "daily meeting", r"re:^\s*daily\s*$",
    "jour fixe", "statusbesprechung", "statusrunde", "statustermin", "statusgespräch",
    "projektstatus", "wochenstatus", "wochenbesprechung", "regeltermin",
    "point hebdo", "point hebdomadaire", "réunion hebdo", "réunion hebdomadaire",
    "point d'avancement", "réunion d'avancement", "réunion de suivi", "point de suivi",
    "point projet", "point d'équipe", "réunion de statut",
    "reunión de seguimiento", "reunión de estado", "reunión semanal", "reunión de avance",
    "seguimiento semanal",
    "reunião de status", "reunião de acompanhamento", "reunião semanal",
    "reunião de andamento", "status semanal",
    "riunione di avanzamento", "riunione di stato", "stato avanzamento",
    "riunione settimanale", "punto settimanale", "allineamento settimanale",
    "statusoverleg", "voortgangsoverleg", "voortgangsgesprek", "weekoverleg",
    "wekelijks overleg", "projectoverleg", "teamoverleg",
    "定例", "進捗会議", "進捗確認", "進捗報告", "週次", "朝会",
    "周会", "例会", "进度会议", "站会",
]  # fmt: skip

BUILTIN_RULES: tuple[ClassificationRule, ...] = (
    ClassificationRule(name="out_of_office", kind="leave", event_types=["outOfOffice"]),
    ClassificationRule(
        name="holiday_calendar", kind="public_holiday", holiday_calendar=True, all_day=True
    ),
    ClassificationRule(
        name="holiday_title", kind="public_holiday", titles=PUBLIC_HOLIDAY, all_day=True
    ),
    ClassificationRule(name="leave_title", kind="leave", titles=LEAVE, not_titles=ABOUT_LEAVE),
    ClassificationRule(
        name="steering_committee",
        kind="steering_committee",
        titles=STEERING_COMMITTEE,
        not_titles=PREPARATION,
    ),
    ClassificationRule(
        name="milestone_review",
        kind="milestone_review",
        titles=MILESTONE_REVIEW,
        not_titles=PREPARATION,
    ),
    ClassificationRule(
        name="customer_meeting",
        kind="customer_meeting",
        titles=CUSTOMER_MEETING,
        not_titles=PREPARATION,
    ),
    ClassificationRule(
        name="status_meeting",
        kind="status_meeting",
        titles=STATUS_MEETING,
        not_titles=PREPARATION,
    ),
)
"""The built-in rules, in the order they are checked (after the admin's own)."""

BUILTIN_NAMES: tuple[str, ...] = tuple(rule.name or "" for rule in BUILTIN_RULES)
