#pragma once
// Thread-locals that stay right across a context switch.
//
// A compiler takes the thread pointer to be constant within a function: it may compute the
// address of a thread-local once and use it again after a call or an asm statement that switched
// contexts. GCC and clang do on AArch64 (the thread pointer register read is not volatile) and in
// x86-64 -fPIC code (`__tls_get_addr` is declared const), and libspindle.a is -fPIC code. Code
// after a switch may run on another thread (a task resumed by another worker, a fiber resumed
// by another std::thread), and would then read and write the variables of the thread it left.
//
// So spindle's own thread-locals are read through SPINDLE_THREAD_LOCAL_ADDRESS(): one asm
// volatile that reads the thread pointer register and adds the variable's offset in the static
// TLS block (the initial-exec model: the same offset on every thread, a link-time constant in an
// executable). An asm volatile runs again every time and is never moved across another one (the
// switch), so the address is always this thread's. It costs what the compiler's own access does
// (two instructions on x86-64 once linked into an executable, four on AArch64). The variables
// carry fixed assembler names (SPINDLE_THREAD_LOCAL_SYMBOL) so the asm can name them.
//
// Initial-exec needs room in the static TLS block: a shared library linked with libspindle.a
// and loaded with dlopen() takes a few words of glibc's surplus for it, as jemalloc's does.

#include <spindle/detail/config.hpp>

SPINDLE_EXPORTS_BEGIN

// SPINDLE_THREAD_LOCAL_SYMBOL(symbol) gives a thread-local the assembler name `symbol`.
#define SPINDLE_THREAD_LOCAL_SYMBOL(symbol) __asm__(symbol)

#if defined(__x86_64__) && defined(__ELF__)
// x86-64 System V ELF TLS: %fs:0 holds the thread pointer itself; sym@gottpoff is the GOT slot
// with the variable's offset from it (relaxed to an immediate in an executable).
#define SPINDLE_THREAD_LOCAL_ADDRESS(type, symbol)                                       \
    ([]() noexcept {                                                                   \
        type* spindle_address_;                                                        \
        __asm__ volatile("movq " symbol "@gottpoff(%%rip), %0\n\t"                     \
                         "addq %%fs:0, %0"                                             \
                         : "=r"(spindle_address_));                                    \
        return spindle_address_;                                                       \
    }())
// SPINDLE_THREAD_LOCAL_FLAG(symbol) tells whether the bool thread-local `symbol` is set: the
// offset's load and a compare of the byte at %fs:offset, its answer in the flags (one
// instruction fewer than the address and a load, on paths that test it once per operation).
// It reads memory the compiler does not see; the flags it tests are written in functions of
// their own, out of line (worker::enter(), leave(), become_shared()).
#define SPINDLE_THREAD_LOCAL_FLAG(symbol)                                                \
    ([]() noexcept {                                                                   \
        bool spindle_set_;                                                             \
        unsigned long spindle_offset_;                                                 \
        __asm__ volatile("movq " symbol "@gottpoff(%%rip), %1\n\t"                     \
                         "cmpb $0, %%fs:(%1)"                                          \
                         : "=@ccne"(spindle_set_), "=r"(spindle_offset_));             \
        return spindle_set_;                                                           \
    }())
#elif defined(__aarch64__) && defined(__ELF__)
// AArch64 ELF TLS (variant I): tpidr_el0 is the thread pointer; :gottprel: is the GOT slot with
// the variable's offset from it (relaxed to movz/movk in an executable).
#define SPINDLE_THREAD_LOCAL_ADDRESS(type, symbol)                                       \
    ([]() noexcept {                                                                   \
        type* spindle_address_;                                                        \
        unsigned long spindle_offset_;                                                 \
        __asm__ volatile("mrs %0, tpidr_el0\n\t"                                       \
                         "adrp %1, :gottprel:" symbol "\n\t"                           \
                         "ldr %1, [%1, #:gottprel_lo12:" symbol "]\n\t"                \
                         "add %0, %0, %1"                                              \
                         : "=&r"(spindle_address_), "=&r"(spindle_offset_));           \
        return spindle_address_;                                                       \
    }())
// SPINDLE_THREAD_LOCAL_FLAG(symbol): the address, then the byte.
#define SPINDLE_THREAD_LOCAL_FLAG(symbol) (*SPINDLE_THREAD_LOCAL_ADDRESS(bool, symbol))
#else
#error "spindle reads its thread-locals with x86-64 or AArch64 ELF assembly (thread_locals.hpp)"
#endif

SPINDLE_EXPORTS_END
