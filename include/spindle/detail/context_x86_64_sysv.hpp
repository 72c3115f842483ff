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
// because it may be the frame pointer, which cannot be declared clobbered. The MXCSR control
// bits and the x87 control word are callee-saved as well.
//
// The saved frame is the context_record (include/spindle/detail/fiber_control.hpp), shared with
// lib/context/switch_x86_64_sysv_elf_gas.S, so either switch can resume what the other saved:
//    0  rsp    8  continuation address    16  rbp    24  MXCSR    28  x87 control word
// Nothing is pushed on the stack, so the red zone below rsp is left alone.
//
// The MXCSR/x87 promise: the leaving side stores both and loads the target's. Reloading only
// when they differ looks cheaper, but the comparison must read back what stmxcsr and fnstcw
// have just written, and that read waits for them: measured on the project's machines (AMD
// EPYC under KVM), compare-then-reload made the fiber round trip 16.5 ns, the unconditional
// reload 14.0 ns (docs/context.md has the figures and the command).

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

// jump_context() saves the running context into *from and continues *to; it returns the `arg`
// of the jump that comes back.
inline __attribute__((always_inline)) void* jump_context(context_record* from, context_record* to,
                                                         void* arg) noexcept {
    asm volatile(
        "leaq 1f(%%rip), %%rax\n\t"
        "movq %%rax, 8(%[from])\n\t"
        "movq %%rbp, 16(%[from])\n\t"
        "movq %%rsp, (%[from])\n\t"
        "stmxcsr 24(%[from])\n\t"
        "fnstcw 28(%[from])\n\t"
        "ldmxcsr 24(%[to])\n\t"
        "fldcw 28(%[to])\n\t"
        "movq 16(%[to]), %%rbp\n\t"
        "movq (%[to]), %%rsp\n\t"
        "jmpq *8(%[to])\n"
        "1:\n\t" SPINDLE_ENDBR64
        : [from] "+D"(from), [to] "+S"(to), "+d"(arg)
        :
        : "rax", "rbx", "rcx", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "xmm0",
          "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10",
          "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "st", "st(1)", "st(2)", "st(3)", "st(4)",
          "st(5)", "st(6)", "st(7)", "cc", "memory" SPINDLE_AVX512_CLOBBERS);
    return arg;
}

}  // namespace spindle::detail
