"""Running pooling jobs: many files found, planned, pooled in parallel, resumably; pyramids.

Modules: :mod:`~poolcli.run.inputs` (finding the inputs), :mod:`~poolcli.run.plan` (the outputs
and the jobs), :mod:`~poolcli.run.job` (one job: read, pool, write, timed),
:mod:`~poolcli.run.records` (what a job reports), :mod:`~poolcli.run.workers` (running jobs here
or in worker processes, stopping), :mod:`~poolcli.run.distributed` (a Dask cluster),
:mod:`~poolcli.run.pyramid` (levels of one image).

The command line's pooling commands are wiring around this module; a Python user gets the same
runs with three calls::

    sources = expand_inputs(["photos/"], recursive=True)
    plan = make_plan(sources, Recipe("max", {"kernel_size": 2}), out_dir="small")
    plan.prepare()                                   # output folders, stale temporary files
    for job, record in run(plan.jobs, workers=4):    # records as the files finish
        ...

How it is organised, and why:

* **Inputs** (:func:`expand_inputs`): a file is itself; a folder stands for the image files
  directly in it, with ``recursive`` for those in its subfolders too; a pattern (``*``, ``?``,
  ``[...]``, and ``**`` for any depth) is expanded here, so a quoted pattern reaches past the
  shell's argument limit. An input that exists is never read as a pattern. Hidden files and
  folders are left out; the order is sorted, so every run sees the same list.
* **Outputs** (:func:`make_plan`): the name template beside each input, or under ``out_dir``
  mirroring the folder or pattern the input was found in. Two inputs mapping to one output is a
  :class:`PlanError` before anything starts: a rerun must not depend on which one finished first.
  A file found in a folder or by a pattern whose name is an output of this same run is taken for
  the output of an earlier run, not for an input, so rerunning on a folder never pools outputs.
* **Resume**: writes are atomic (:func:`poolcli.io.writing.write_picture`: a temporary file renamed
  when complete), so an output that exists is complete and ``skip_existing`` trusts it. A run
  that is killed outright (SIGKILL) can leave a temporary file; :meth:`Plan.prepare` removes
  those of the run's own outputs before it starts (two runs writing the same outputs at the same
  time are not supported).
* **Work** (:func:`run`): a :class:`Job` is plain data and :func:`run_job` reads, pools and writes
  it, timing each stage; a :class:`~poolcli.errors.PoolError` or :class:`OSError` becomes an error
  record, anything else is a bug and propagates with its traceback (also from a worker process
  or a Dask worker). Jobs run in this process (one worker), in worker processes with
  single-threaded pooling and encoding so the processes do not fight over the cores, or on a
  Dask ``distributed`` cluster. Worker processes are forked from this one on Linux when it runs
  no other thread (no second interpreter to start: 0.17 s less per run, measured), else started
  by the ``forkserver`` method (``spawn`` where there is none).
* **Stopping**: closing the iterator that :func:`run` returns (a ``break``, an exception such as
  ``KeyboardInterrupt``, or :class:`Terminated` from :func:`terminate_on_sigterm`) cancels what
  has not started and stops the worker processes with SIGTERM; each one unwinds the file it was
  writing, so no temporary file remains. A worker whose parent died (SIGKILL) notices and stops
  too. Dask tasks already running finish their file (atomically) on the cluster.

fsspec URLs (``s3://bucket/a.png``, ``memory://x``) work as inputs, patterns, folders and
``out_dir`` when fsspec is installed; a URL output is written in one ``pipe_file`` call (atomic on
object stores) and ``skip_existing`` trusts its existence.

Nothing here prints, and neither Typer nor Rich is imported; NumPy and Pillow are imported when
the first file is pooled.
"""
