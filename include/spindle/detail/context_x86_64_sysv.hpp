#pragma once
// The x86-64 System V context switch, inline: the hot path of fiber::resume() and suspend().
//
// Why inline: an out-of-line switch must save all six callee-saved registers on every call and
// its `ret` lands where the return-stack predictor does not expect. Written as an asm statement
// that declares every other register clobbered, the switch lets the compiler save only what is
// live at the call site (and hoist that out of loops), and each call site gets its own indirect
// jump, which predicts well (the PhotonLibOS technique).
//
// ABI rules relied on (System V AMD64 psABI 3.2): rbx, rbp, r12-r15 are callee-saved, so the
// compiler spills what it keeps there once we declare them clobbered; rbp is saved by hand
// because it may be the frame pointer, which cannot be declared clobbered.
//
// The saved frame is the context_record (include/spindle/detail/fiber_control.hpp), shared with
// lib/context/switch_x86_64_sysv_elf_gas.S, so either switch can resume what the other saved:
//    0  rsp    8  continuation address    16  rbp
// Nothing is pushed on the stack, so the red zone below rsp is left alone.
//
// The floating-point control state (the MXCSR control bits and the x87 control word, which the
// psABI makes callee-saved) is not switched: it belongs to the thread, as it does across a C++20
// coroutine's resume(), which is a plain call. Code that changes it inside a fiber restores it
// before it suspends, as a function restores it before it returns; a fiber that wants its own
// asks for it (fp_control::own), and the fiber layer saves and loads it around that fiber's
// switches with save_fp_control()/load_fp_control() (context.hpp). Reading MXCSR (stmxcsr) costs
// about 2.4 ns on the project's machines, which made the state 4.6 ns of a 12.8 ns round trip
// (docs/context.md).

#if !defined(__x86_64__)
#error "context_x86_64_sysv.hpp is for x86-64 only"
#endif

// endbr64 (as bytes): the landing pad of the indirect jump under IBT. Only a translation unit
// compiled for IBT (-fcf-protection, __CET__ bit 0) can end up in a program that enforces it,
// since the linker ANDs the IBT property of all objects; elsewhere it would be a wasted no-op.
#if defined(__CET__) && (__CET__ & 1)
#define SPINDLE_ENDBR64 ".byte 0xf3, 0x0f, 0x1e, 0xfa\n\t"
#else
#define SPINDLE_ENDBR64
#endif

#if defined(__AVX512F__)
#define SPINDLE_AVX512_CLOBBERS                                                               \
    , "xmm16", "xmm17", "xmm18", "xmm19", "xmm20", "xmm21", "xmm22", "xmm23", "xmm24",       \
        "xmm25", "xmm26", "xmm27", "xmm28", "xmm29", "xmm30", "xmm31", "k1", "k2", "k3", "k4", \
        "k5", "k6", "k7"
#else
#define SPINDLE_AVX512_CLOBBERS
#endif

namespace spindle::detail {

struct context_record;

// SPINDLE_X86_64_SWITCH is the switch itself: store rip, rbp and rsp into *from, load the
// target's rbp and rsp, jump to its continuation.
#define SPINDLE_X86_64_SWITCH               \
    "leaq 1f(%%rip), %%rax\n\t"             \
    "movq %%rax, 8(%[from])\n\t"            \
    "movq %%rbp, 16(%[from])\n\t"           \
    "movq %%rsp, (%[from])\n\t"             \
    "movq 16(%[to]), %%rbp\n\t"             \
    "movq (%[to]), %%rsp\n\t"               \
    "jmpq *8(%[to])\n"                       \
    "1:\n\t" SPINDLE_ENDBR64

#define SPINDLE_X86_64_CLOBBERS                                                                \
    "rax", "rbx", "rcx", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "xmm0", "xmm1",  \
        "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11",       \
        "xmm12", "xmm13", "xmm14", "xmm15", "st", "st(1)", "st(2)", "st(3)", "st(4)", "st(5)", \
        "st(6)", "st(7)", "cc", "memory" SPINDLE_AVX512_CLOBBERS

// jump_context() saves the running context into *from and continues *to; it returns the `arg`
// of the jump that comes back. The argument travels in rdx, where the entry trampoline of a
// fresh context looks for its start argument (lib/context/switch_x86_64_sysv_elf_gas.S).
inline __attribute__((always_inline)) void* jump_context(context_record* from, context_record* to,
                                                         void* arg) noexcept {
    asm volatile(SPINDLE_X86_64_SWITCH
                 : [from] "+D"(from), [to] "+S"(to), "+d"(arg)
                 :
                 : SPINDLE_X86_64_CLOBBERS);
    return arg;
}

// jump_context() without an argument is the jump to a context that ignores it (one suspended by
// a jump that discards what it returns): rdx is only clobbered, so no register is set for it.
inline __attribute__((always_inline)) void jump_context(context_record* from,
                                                        context_record* to) noexcept {
    asm volatile(SPINDLE_X86_64_SWITCH
                 : [from] "+D"(from), [to] "+S"(to)
                 :
                 : "rdx", SPINDLE_X86_64_CLOBBERS);
}

#undef SPINDLE_X86_64_SWITCH
#undef SPINDLE_X86_64_CLOBBERS

}  // namespace spindle::detail
