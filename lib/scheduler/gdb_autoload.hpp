#pragma once
// The gdb extension (share/gdb/spindle.py), embedded whole in a .debug_gdb_scripts section
// entry, so that gdb loads it from any program linked with spindle, installed or not, once the
// program is on gdb's auto-load safe path (docs/debugging.md). Entry kind 4 is inline Python:
// its first line names the script, the rest runs. The section is mergeable strings, so the
// linker keeps one copy however many objects carry it.
//
// Included by scheduler_registry.cpp alone: the entry must ride in the object of
// register_scheduler(), which every program with a scheduler links (an archive member that
// nothing references is left out of the link), and only once. The build defines SPINDLE_GDB_SCRIPT as the script's path (the option gdb_autoload, on by
// default); .incbin reads it when this file is assembled.

#if defined(SPINDLE_GDB_SCRIPT) && defined(__ELF__)
asm(".pushsection .debug_gdb_scripts, \"MS\", %progbits, 1\n"
    ".byte 4\n"
    ".ascii \"spindle.py\\n\"\n"
    ".incbin \"" SPINDLE_GDB_SCRIPT "\"\n"
    ".byte 0\n"
    ".popsection\n");
#endif
