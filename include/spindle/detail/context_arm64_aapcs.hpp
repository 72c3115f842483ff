#pragma once
// The AArch64 (AAPCS64) context switch, inline: the hot path of fiber::resume() and suspend().
//
// Why inline: see context_x86_64_sysv.hpp; the same reasoning holds. The asm statement declares
// x19-x28, d8-d15 (as v8-v15) and lr clobbered, so the compiler saves only what is live; x29 is
// saved by hand in the record because it may be the frame pointer, which cannot be declared clobbered.
//
// ABI rules relied on (AAPCS64): x19-x28, x29, sp and the low halves of v8-v15 are
// callee-saved; x0-x18 and the rest of the vector registers are not (x18, the platform
// register, is an ordinary temporary on Linux, so it is declared clobbered too). sp stays
// 16-byte aligned. There is no red zone on AArch64 Linux. FPCR is left alone: the floating-point
// control state belongs to the thread (context_x86_64_sysv.hpp says why).
//
// The saved frame is the context_record (include/spindle/detail/fiber_control.hpp), shared with
// lib/context/switch_arm64_aapcs_elf_gas.S, so either switch can resume what the other saved:
//    0  sp    8  continuation address    16  x29
// Nothing is pushed on the stack.

#if !defined(__aarch64__)
#error "context_arm64_aapcs.hpp is for AArch64 only"
#endif

namespace spindle::detail {

struct context_record;

#define SPINDLE_ARM64_SWITCH       \
    "adr x9, 1f\n\t"               \
    "mov x10, sp\n\t"              \
    "stp x10, x9, [%[from]]\n\t"   \
    "str x29, [%[from], #16]\n\t"  \
    "ldp x10, x9, [%[to]]\n\t"     \
    "ldr x29, [%[to], #16]\n\t"    \
    "mov sp, x10\n\t"              \
    "br x9\n"                       \
    "1:\n\t"                       \
    "hint #36\n\t" /* bti j: the landing pad of the indirect branch */

#define SPINDLE_ARM64_CLOBBERS                                                                  \
    "x3", "x4", "x5", "x6", "x7", "x8", "x9", "x10", "x11", "x12", "x13", "x14", "x15", "x16",  \
        "x17", "x18", "x19", "x20", "x21", "x22", "x23", "x24", "x25", "x26", "x27", "x28",    \
        "x30", "v0", "v1", "v2", "v3", "v4", "v5", "v6", "v7", "v8", "v9", "v10", "v11", "v12", \
        "v13", "v14", "v15", "v16", "v17", "v18", "v19", "v20", "v21", "v22", "v23", "v24",    \
        "v25", "v26", "v27", "v28", "v29", "v30", "v31", "cc", "memory"

// jump_context() saves the running context into *from and continues *to; it returns the `arg`
// of the jump that comes back. The argument travels in x2, where the entry trampoline of a
// fresh context looks for its start argument (lib/context/switch_arm64_aapcs_elf_gas.S).
inline __attribute__((always_inline)) void* jump_context(context_record* from, context_record* to,
                                                         void* arg) noexcept {
    register context_record* from_record asm("x0") = from;
    register context_record* to_record asm("x1") = to;
    register void* value asm("x2") = arg;
    asm volatile(SPINDLE_ARM64_SWITCH
                 : [from] "+r"(from_record), [to] "+r"(to_record), "+r"(value)
                 :
                 : SPINDLE_ARM64_CLOBBERS);
    return value;
}

// jump_context() without an argument is the jump to a context that ignores it: x2 is only
// clobbered, so no register is set for it.
inline __attribute__((always_inline)) void jump_context(context_record* from,
                                                        context_record* to) noexcept {
    register context_record* from_record asm("x0") = from;
    register context_record* to_record asm("x1") = to;
    asm volatile(SPINDLE_ARM64_SWITCH
                 : [from] "+r"(from_record), [to] "+r"(to_record)
                 :
                 : "x2", SPINDLE_ARM64_CLOBBERS);
}

#undef SPINDLE_ARM64_SWITCH
#undef SPINDLE_ARM64_CLOBBERS

}  // namespace spindle::detail
