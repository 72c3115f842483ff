# spindle's gdb extension: the tasks of a live process or a core file, and the backtrace of a
# suspended task without resuming it. See docs/debugging.md.
#
#   (gdb) source /usr/local/share/spindle/gdb/spindle.py   (or auto-loaded: docs/debugging.md)
#   (gdb) info spindle-tasks
#   (gdb) spindle-bt 2            # task 2 of the first scheduler that has one
#   (gdb) spindle-bt 2 3          # task 2 of scheduler 3
#
# It reads spindle's own records, which need their types: the program (or spindle) must be built
# with debug information (-g). It walks the process's list of schedulers
# (spindle::detail::live_schedulers, lib/scheduler/scheduler_registry.hpp) and each scheduler's
# unfinished tasks; the names of fields it reads are those of lib/scheduler/worker.hpp and
# task_record.hpp, and change with them.
#
# A suspended task's backtrace starts at the frame its switch saved (the context_record `park`:
# stack pointer, continuation address, frame pointer). A Python unwinder makes that frame the
# caller of the selected thread's innermost frame for as long as the command runs, and gdb
# unwinds from there with the debug information, as for any thread: nothing is written to the
# process, so a core file works as a live process does.

import gdb
import gdb.unwinder

_STATUS = ["created", "ready", "running", "waiting", "done"]


class SpindleError(gdb.GdbError):
    pass


def _registry():
    name = "spindle::detail::live_schedulers"
    try:
        return gdb.parse_and_eval("'%s'" % name)
    except gdb.error:
        pass
    # The variable has no debug information of its own (spindle built without -g), but its type
    # may be known from the program's: read it through a cast.
    try:
        return gdb.parse_and_eval("*(spindle::detail::scheduler_registry*)&'%s'" % name)
    except gdb.error as e:
        raise SpindleError(
            "spindle: cannot read %s (%s); is the program linked with spindle and built "
            "with debug information (-g)?" % (name, e))


def _schedulers():
    core = _registry()["schedulers"]["head"]
    while int(core) != 0:
        yield core
        core = core["registry_next"]


def _tasks(core):
    task = core["live"]["head"]
    while int(task) != 0:
        yield task
        task = task["live_next"]


def _string(pointer):
    if int(pointer) == 0:
        return None
    try:
        return pointer.string()
    except gdb.error:
        return "<unreadable>"


def _name(task):
    raw = bytes(gdb.selected_inferior().read_memory(task["name"].address, 32))
    return raw.split(b"\0", 1)[0].decode("utf-8", "replace")


def _status(task):
    value = int(task["status"])
    return _STATUS[value] if 0 <= value < len(_STATUS) else "status %d" % value


def _describe(task):
    text = "task %d" % int(task["id"])
    name = _name(task)
    if name:
        text += " '%s'" % name
    status = _status(task)
    if status == "ready" and not bool(task["started"]):
        state = "ready, not started"
    elif status == "waiting":
        if int(task["joining"]) != 0:
            state = "waiting on join of task %d" % int(task["joining"]["id"])
        else:
            state = "waiting on " + (_string(task["wait_reason"]) or "something unknown")
    else:
        state = status
    text += ": " + state
    site_file = _string(task["spawned_at"]["file"])
    if site_file:
        text += "; spawned at %s:%d" % (site_file, int(task["spawned_at"]["line"]))
    return text


class InfoSpindleTasks(gdb.Command):
    """List every unfinished task of every spindle scheduler: id, name, state, what it waits on
and where it was spawned. Usage: info spindle-tasks"""

    def __init__(self):
        super().__init__("info spindle-tasks", gdb.COMMAND_STATUS)

    def invoke(self, argument, from_tty):
        found = False
        for core in _schedulers():
            found = True
            count = int(core["live_count"])
            line = "scheduler %d: %d task%s" % (int(core["serial"]), count,
                                                "" if count == 1 else "s")
            running = _running(core)
            if running is not None:
                line += ", running" if running else ", not running"
            gdb.write(line + "\n")
            for task in _tasks(core):
                gdb.write("  " + _describe(task) + "\n")
        if not found:
            gdb.write("no spindle scheduler in this process\n")


def _running(core):
    """Whether the scheduler is in run(): its std::atomic<bool>, read through libstdc++'s
    layout (None when that is not the layout)."""
    try:
        return bool(core["running"]["_M_base"]["_M_i"])
    except gdb.error:
        return None


class _ParkedTaskUnwinder(gdb.unwinder.Unwinder):
    """Makes a suspended context the caller of the innermost frame, while armed."""

    def __init__(self):
        super().__init__("spindle-parked-task")
        self.registers = None  # {register name: value} of the parked context, when armed

    def __call__(self, pending_frame):
        if self.registers is None or pending_frame.level() != 0:
            return None
        names = _register_names(pending_frame.architecture())
        sp = pending_frame.read_register(names["sp"])
        pc = pending_frame.read_register(names["pc"])
        # gdb refuses a caller whose frame lies below its callee's (stacks grow down), and the
        # task's stack may lie anywhere: the innermost frame's id takes the parked stack
        # pointer, which is below every frame of the task's stack.
        parked_sp = gdb.Value(self.registers["sp"]).cast(sp.type)
        info = pending_frame.create_unwind_info(_FrameId(parked_sp, pc))
        for role, value in self.registers.items():
            register = names[role]
            info.add_saved_register(register, gdb.Value(value).cast(
                pending_frame.read_register(register).type))
        return info


class _FrameId:
    def __init__(self, sp, pc):
        self.sp = sp
        self.pc = pc


def _register_names(architecture):
    if "aarch64" in architecture.name():
        return {"sp": "sp", "pc": "pc", "fp": "x29"}
    return {"sp": "rsp", "pc": "rip", "fp": "rbp"}


_unwinder = _ParkedTaskUnwinder()
gdb.unwinder.register_unwinder(None, _unwinder, replace=True)


def _find_task(task_id, serial):
    for core in _schedulers():
        if serial is not None and int(core["serial"]) != serial:
            continue
        for task in _tasks(core):
            if int(task["id"]) == task_id:
                return task
    raise SpindleError("spindle: no unfinished task %d%s" % (
        task_id, "" if serial is None else " in scheduler %d" % serial))


class SpindleBacktrace(gdb.Command):
    """Print the backtrace of a suspended spindle task without resuming it.
Usage: spindle-bt TASK-ID [SCHEDULER]   (ids as info spindle-tasks shows them)"""

    def __init__(self):
        super().__init__("spindle-bt", gdb.COMMAND_STACK)

    def invoke(self, argument, from_tty):
        words = gdb.string_to_argv(argument)
        if not 1 <= len(words) <= 2:
            raise SpindleError("usage: spindle-bt TASK-ID [SCHEDULER]")
        task = _find_task(int(words[0]), int(words[1]) if len(words) == 2 else None)
        gdb.write(_describe(task) + "\n")
        status = _status(task)
        if status == "running":
            raise SpindleError("spindle: the task is running: its stack is its thread's "
                               "(thread apply all bt)")
        if not bool(task["started"]) or int(task["control"]) == 0:
            raise SpindleError("spindle: the task has not started: it has no stack yet")
        park = task["park"]
        if int(park["continuation"]) == 0:
            raise SpindleError("spindle: this context switch (Boost.Context) saves no frame "
                               "to start a backtrace from")
        if not gdb.selected_inferior().threads():
            raise SpindleError("spindle: no thread to unwind from; run or load a core first")
        _unwinder.registers = {"sp": int(park["sp"]), "pc": int(park["continuation"]),
                               "fp": int(park["frame_pointer"])}
        gdb.invalidate_cached_frames()
        try:
            _print_frames(gdb.newest_frame().older())
        finally:
            _unwinder.registers = None
            gdb.invalidate_cached_frames()


def _print_frames(frame, limit=64):
    index = 0
    while frame is not None and index < limit:
        function = frame.function()
        name = function.print_name if function else (frame.name() or "??")
        line = "#%-2d 0x%016x in %s" % (index, frame.pc(), name)
        sal = frame.find_sal()
        if sal.symtab is not None:
            line += " at %s:%d" % (sal.symtab.filename, sal.line)
        gdb.write(line + "\n")
        index += 1
        try:
            older = frame.older()
        except gdb.error as e:
            gdb.write("(unwinding stopped: %s)\n" % e)
            return
        if older is None and frame.unwind_stop_reason() not in (
                gdb.FRAME_UNWIND_NO_REASON, gdb.FRAME_UNWIND_OUTERMOST):
            gdb.write("(unwinding stopped: %s)\n" %
                      gdb.frame_stop_reason_string(frame.unwind_stop_reason()))
        frame = older
    if frame is not None:
        gdb.write("(more frames follow)\n")


InfoSpindleTasks()
SpindleBacktrace()
