"""`tlcourse i18n todo|lint|put|messages`: the translation catalogs of the course's editions
and of the package's messages."""
from __future__ import annotations

import sys

from tlcourse.cli.checks import UsageError


def add_parser(sub):
    p = sub.add_parser("i18n", help="translation catalogs (i18n/<lang>/): what to translate, "
                                    "checks, and putting a translated cell in")
    actions = p.add_subparsers(dest="action", required=True)
    todo = actions.add_parser("todo", help="print the English of every cell missing or stale "
                                           "in LANG's catalog, a stale one's English then and "
                                           "its old translation beside (exit 1 when there is any)")
    lint = actions.add_parser("lint", help="check terms, code and numbers of LANG's catalog, "
                                           "the package's messages and the code comments "
                                           "(exit 1 on a finding)")
    messages = actions.add_parser("messages", help="bring tlcourse/locale/LANG/tlcourse.po up to "
                                                   "date with the package's marked messages and "
                                                   "the notebooks' options and test messages "
                                                   "(translations kept); then translate its "
                                                   "empty msgstr lines")
    for a in (todo, lint, messages):
        a.add_argument("lang", nargs="?", default=None,
                       help="a folder under i18n/; may be left out while there is only one")
    put = actions.add_parser("put", help="store the translation of one markdown cell, read "
                                         "from standard input")
    put.add_argument("lang")
    put.add_argument("notebook", help="<assignment>/<Notebook>, as `todo` names it")
    put.add_argument("cell_id")
    return p


def run(args) -> int:
    from tlcourse.course import i18n
    root = i18n.main_root(i18n.repo_root())
    known = i18n.languages(root)
    if args.lang is None and len(known) != 1:
        raise UsageError(f"`tlcourse i18n {args.action}` needs a language: one of "
                         f"{', '.join(known) or '(none yet: add a folder i18n/<lang>/)'}")
    try:
        lang = i18n.check_language(args.lang or known[0], root)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if args.action == "todo":
        return i18n.print_todo(root, lang)
    if args.action == "lint":
        from tlcourse.course import comments, message_catalog
        findings = (i18n.lint_all(root, lang) + message_catalog.problems(root, lang)
                    + [f"i18n/{lang}/{comments.CATALOG}: {text[:60]!r}: comment not translated"
                       for text in comments.missing(root, lang)])
        print("\n".join(findings + [f"{len(findings)} finding(s)."]))
        return 1 if findings else 0
    if args.action == "messages":
        from tlcourse.course import message_catalog
        entries, untranslated = message_catalog.update(root, lang)
        print(f"{message_catalog.catalog_file(lang)}: {entries} message(s), "
              f"{untranslated} to translate")
        return 0
    try:
        i18n.put(root, lang, args.notebook, args.cell_id, sys.stdin.read())
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return 0
