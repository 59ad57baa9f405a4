"""`tlcourse hub`: the course on JupyterHub on this machine (a trial; 127.0.0.1 by default)."""
from __future__ import annotations

import ipaddress
import re
import sys
from pathlib import Path

from tlcourse.cli.checks import UsageError, int_in_range

# JupyterHub user names that are also safe folder and nbgrader student ids.
USER_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]{0,31}")


def add_parser(sub):
    p = sub.add_parser("hub", help="start JupyterHub for the course: students' servers, the "
                                   "formgrader as a service, a shared exchange (Ctrl+C stops it)")
    p.add_argument("--ip", default="127.0.0.1",
                   help="address the hub listens on (default 127.0.0.1; 0.0.0.0 = every interface)")
    p.add_argument("--port", type=int, default=8000, help="the hub's public port (default 8000)")
    p.add_argument("--students", default="student1,student2",
                   help="comma-separated student user names (default student1,student2)")
    p.add_argument("--instructors", default="instructor",
                   help="comma-separated instructor user names (default instructor)")
    p.add_argument("--state", default=None,
                   help="folder for the hub's database, homes and exchange (default hub-state/)")
    return p


def user_names(value: str, option: str) -> tuple:
    names = tuple(n.strip() for n in value.split(",") if n.strip())
    if not names:
        raise UsageError(f"{option} {value!r} names nobody; give user names such as alice,bob")
    for name in names:
        if not USER_NAME.fullmatch(name):
            raise UsageError(f"{option}: {name!r} is not a user name: use lower-case letters, "
                             "digits, '.', '_' or '-', starting with a letter or digit")
    return names


def run(args) -> int:
    from tlcourse.course import hub
    from tlcourse.course.build import repo_root

    try:
        ipaddress.ip_address(args.ip)
    except ValueError:
        raise UsageError(f"--ip {args.ip!r} is not an IP address; give e.g. 127.0.0.1") from None
    int_in_range(args.port, "--port", 1, 65535)
    students = user_names(args.students, "--students")
    instructors = user_names(args.instructors, "--instructors")
    both = sorted(set(students) & set(instructors))
    if both:
        raise UsageError(f"{', '.join(both)} cannot be both a student and an instructor")
    course = repo_root()
    state = Path(args.state).resolve() if args.state else course / "hub-state"
    try:
        hub.main(hub.HubSettings(state=state, course=course, students=students,
                                 instructors=instructors, ip=args.ip, port=args.port))
    except hub.HubError as exc:
        print(f"tlcourse hub: {exc}", file=sys.stderr)
        return 1
    return 0
