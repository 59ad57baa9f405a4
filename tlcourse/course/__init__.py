"""Running the course: build the student and solution notebooks (``build``),
execute them (``run``), autograde a class with nbgrader (``grade``), open
JupyterLab on it (``lab``).  Instructor tooling on top of the core; nothing in the
core or the adapters imports it."""
