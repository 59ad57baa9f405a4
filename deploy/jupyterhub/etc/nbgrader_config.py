"""nbgrader settings for every server on the course's JupyterHub (students' and instructors').

The spawner puts this folder on JUPYTER_CONFIG_PATH (on a multi-machine hub, copy
this file to /etc/jupyter/nbgrader_config.py in the user image).  The course
directory's own nbgrader_config.py still decides everything about the course
itself; this file only says which course and where the shared exchange is.
"""
import os

c = get_config()  # noqa: F821 - provided by nbgrader

c.CourseDirectory.course_id = "tlcourse"
# The shared exchange: a folder every server mounts at the same path (nbgrader's
# default /usr/local/share/nbgrader/exchange unless the hub says otherwise).
c.Exchange.root = os.environ.get("TLCOURSE_EXCHANGE", "/usr/local/share/nbgrader/exchange")
# nbgrader names a submission after the OS user; on a hub whose servers all run as
# one OS user (trial spawner, containers) that would be one name for everybody, so
# the hub tells each student's server who it serves (set for students only: an
# instructor's nbgrader commands must not be narrowed to one student).
if os.environ.get("TLCOURSE_STUDENT_ID"):
    c.CourseDirectory.student_id = os.environ["TLCOURSE_STUDENT_ID"]
