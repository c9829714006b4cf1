"""Tiered execution for `jit`: a program's first calls run on the interpreter while Numba
compiles it off the caller's path; the compiled program takes over when it is ready.

Compilation happens in a worker process (`xform.backends.compile_worker`), so that Numba's
compiler, which is mostly Python, does not compete with the caller for the GIL; the worker
leaves the compiled code in the disk cache and a dispatcher thread here loads it. Without a
writable disk cache the dispatcher thread compiles in this process instead. One worker and
one dispatcher serve every program, in the order of their first calls, through a bounded
queue: a program that finds the queue full is queued again at a later call.

Faults cost one warning and some speed, never a result: a worker that dies (the program it
was compiling stays interpreted; the next program starts a new worker), a compile error, an
unsupported primitive. At exit the worker is killed, whatever it is compiling. After a fork
the child starts its own worker when it needs one, unless the fork happened while the
dispatcher thread was working in this process (generating source, loading compiled code): the
child may then hold half-imported modules or locks nobody will release, so its programs that
are not compiled yet stay interpreted, with one warning.
"""
from __future__ import annotations

import atexit
import contextlib
import os
import pickle
import queue
import subprocess
import sys
import threading

from xform.backends import interpreted
from xform.backends.codegen import Unsupported, generate
from xform.backends.numba import (CompiledProgram, argument_specs, cached_source, module_name,
                                  warn_once)
from xform.core import IR

QUEUE_SIZE = 256


class TieredProgram:
    """An IR served by the interpreter until its compiled program is ready."""

    def __init__(self, ir: IR):
        self.ir = ir
        self.run = None  # the compiled program's entry point, once installed
        self._compiled = None
        self._interpret = interpreted(ir)
        self._settled = threading.Event()  # compiled, or given up on
        self._queued_in = None  # the service generation it was queued in
        SERVICE.submit(self)

    def __call__(self, args) -> list:
        compiled = self._compiled
        if compiled is not None:
            return compiled(args)
        if self._queued_in != SERVICE.generation and not self._settled.is_set():
            SERVICE.submit(self)  # the queue was full, or a fork lost the queue
        return self._interpret(args)

    @property
    def compiled(self) -> bool:
        return self._compiled is not None

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the compiled program has taken over or compilation was given up;
        whether it has taken over."""
        self._settled.wait(timeout)
        return self.compiled

    def compile(self) -> None:
        """Compile (or load from the disk cache) now, in this thread."""
        if self._compiled is None:
            self.install(CompiledProgram(self.ir))

    def install(self, program) -> None:
        """Let the compiled `program` serve every later call."""
        program.compile()
        self.run = program.run
        self._compiled = program
        self._settled.set()

    def give_up(self) -> None:
        self._settled.set()


class _WorkerDied(RuntimeError):
    pass


class _Worker:
    """The compile worker process and the pipes to it."""

    def __init__(self):
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
        self.process = subprocess.Popen(
            [sys.executable, "-m", "xform.backends.compile_worker"], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)

    def compile(self, name: str, path: str, specs: list) -> tuple[bool, str]:
        try:
            pickle.dump((name, path, specs), self.process.stdin)
            self.process.stdin.flush()
            return pickle.load(self.process.stdout)
        except (OSError, EOFError, pickle.UnpicklingError) as exc:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=1)
            code = self.process.returncode
            raise _WorkerDied(f"the compile worker died (exit status {code})") from exc

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()


class CompileService:
    """The bounded queue, the dispatcher thread and the worker shared by all programs."""

    def __init__(self):
        self.generation = 0
        self._reset()

    def _reset(self):
        self.generation += 1
        self.queue: queue.Queue = queue.Queue(maxsize=QUEUE_SIZE)
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None
        self.worker: _Worker | None = None
        self.busy = threading.Lock()  # held while the dispatcher works in this process
        self.disabled = False  # forked amid the dispatcher's work: no compiling here
        self.closing = False

    def submit(self, program: TieredProgram) -> None:
        generation = self.generation
        if self.disabled:
            program.give_up()
            warn_once("jit: this process was forked while compiled code was being loaded; "
                      "programs not compiled yet run in the interpreter")
            return
        try:
            self.queue.put_nowait(program)
        except queue.Full:
            return
        program._queued_in = generation
        with self.lock:
            if self.thread is None:
                self.thread = threading.Thread(target=self._dispatch, name="xform-compile",
                                               daemon=True)
                self.thread.start()

    def worker_pid(self) -> int | None:
        """The worker process's id, if one is running (for tests that kill it)."""
        worker = self.worker
        return worker.process.pid if worker is not None else None

    def _dispatch(self):
        while True:
            program = self.queue.get()
            if program.compiled:
                continue
            try:
                with self.busy:
                    self._compile(program)
            except Exception as exc:
                program.give_up()
                if self.closing:  # the worker was killed at exit
                    return
                warn_once(f"jit: compiling {_describe(program.ir)} failed ({exc}); it runs in "
                          "the interpreter instead")

    def _compile(self, program: TieredProgram):
        try:
            source, consts, buffers = generated = generate(program.ir)
        except Unsupported as exc:
            program.give_up()
            warn_once(f"jit: {exc}; this program runs in the interpreter instead")
            return
        try:
            path = cached_source(source)
        except OSError:  # no disk cache to hand the compiled code over: compile here
            path = None
        if path is not None:
            worker = self.worker or self._start_worker()
            specs = argument_specs(consts, buffers, program.ir.in_avals)
            self.busy.release()  # a fork may happen while the worker compiles
            try:
                ok, message = worker.compile(module_name(source), path, specs)
            except _WorkerDied:
                self.worker = None
                raise
            finally:
                self.busy.acquire()
            if not ok:
                raise RuntimeError(message)
        program.install(CompiledProgram(program.ir, generated))

    def _start_worker(self) -> _Worker:
        self.worker = _Worker()
        return self.worker

    def after_fork_in_child(self):
        """Start afresh: the parent's dispatcher thread does not exist here, and its worker
        belongs to the parent (close this process's copies of the pipes to it)."""
        worker, interrupted = self.worker, self.busy.locked()
        if worker is not None:
            for pipe in (worker.process.stdin, worker.process.stdout):
                with contextlib.suppress(OSError):
                    pipe.close()
        self._reset()
        self.disabled = interrupted

    def shutdown(self):
        """Kill the worker (at exit: a pending compile is abandoned, not waited for)."""
        worker, self.worker, self.closing = self.worker, None, True
        if worker is not None:
            worker.kill()


def _describe(ir: IR) -> str:
    return f"a program of {len(ir.eqns)} equations"


SERVICE = CompileService()
atexit.register(SERVICE.shutdown)
os.register_at_fork(after_in_child=SERVICE.after_fork_in_child)
