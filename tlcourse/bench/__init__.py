"""``tlcourse bench``: every measurement of the course, one report.

Tooling on top of the house: it uses the adapters' public API (through
``tlcourse.contract.adapter``), and nothing in the core or the adapters imports
it.  Data flows one way: ``suite`` (the command) runs the parts, one module
each (``notebooks``, ``models``, ``data``, ``adversarial``, ``grading``,
``scaling``); they measure in fresh processes through ``harness`` and are
written up by ``report`` (benchmarks/RESULTS.*).  ``gpu`` (benchmarks/gpu_check.sh)
is the GPU runner's check, on the same harness.
"""
