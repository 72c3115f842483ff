/* Context switch for x86-64, System V ABI, ELF, GNU assembler.
 *
 * ABI rules relied on (System V AMD64 psABI, section 3.2):
 *  - callee-saved: rbx, rbp, r12, r13, r14, r15 (and rsp); everything else, including all
 *    xmm/ymm/zmm registers and the flags, is caller-saved, so a call to the switch already
 *    spills whatever the caller keeps in them.
 *  - the control bits of MXCSR (bits 6-15: DAZ, exception masks, rounding, FZ) and the x87
 *    control word are callee-saved; the MXCSR status flags (bits 0-5) are not.
 *  - rsp + 8 is 16-byte aligned at a function's entry (rsp is aligned just before the call).
 *  - DF is clear on entry and return; nothing here sets it.
 *
 * Saved frame, at the stored stack pointer (64 bytes):
 *    0  MXCSR (4 bytes)  4  x87 control word (2 bytes)  6  unused
 *    8  r15   16 r14   24 r13   32 r12   40 rbx   48 rbp
 *   56  return address (where the context continues)
 *
 * Why the control state costs little: saving MXCSR and the x87 control word is cheap, but
 * loading them (ldmxcsr, fldcw) stalls the pipeline. Every fiber of a thread almost always runs
 * with the same control state, so the switch compares the state it is leaving with the state
 * the target saved and reloads only a register whose control bits differ. The promise of the
 * ABI is kept in full; only the redundant reload is skipped.
 *
 * Intel CET: each global entry point starts with endbr64 and the object carries a
 * .note.gnu.property claiming IBT. It does not claim SHSTK: a shadow stack needs a shadow stack
 * per fiber, which this switch does not manage (see docs/context.md).
 */

    .file "switch_x86_64_sysv_elf_gas.S"
    .text

/* void* spindle_context_switch(void** save_sp  (rdi),
 *                              void*  target_sp (rsi),
 *                              void*  arg       (rdx))  -> arg of the switch back (rax) */
    .globl spindle_context_switch
    .type  spindle_context_switch, @function
    .hidden spindle_context_switch
    .align 16
spindle_context_switch:
    .cfi_startproc
    endbr64
    pushq   %rbp
    pushq   %rbx
    pushq   %r12
    pushq   %r13
    pushq   %r14
    pushq   %r15
    subq    $8, %rsp
    stmxcsr (%rsp)
    fnstcw  4(%rsp)
    movq    %rsp, %rcx          /* the frame we leave, kept to compare control state */
    movq    %rsp, (%rdi)
    movq    %rsi, %rsp          /* now on the target's stack */

    movl    (%rsp), %eax        /* MXCSR: reload only if a control bit differs */
    xorl    (%rcx), %eax
    testl   $0xffc0, %eax
    jnz     .Lreload_mxcsr
.Lmxcsr_done:
    movzwl  4(%rsp), %eax       /* x87 control word: reload only if it differs */
    cmpw    4(%rcx), %ax
    jne     .Lreload_x87
.Lx87_done:
    addq    $8, %rsp
    popq    %r15
    popq    %r14
    popq    %r13
    popq    %r12
    popq    %rbx
    popq    %rbp
    movq    %rdx, %rax          /* hand `arg` to the context we continue */
    ret

.Lreload_mxcsr:
    ldmxcsr (%rsp)
    jmp     .Lmxcsr_done
.Lreload_x87:
    fldcw   4(%rsp)
    jmp     .Lx87_done
    .cfi_endproc
    .size spindle_context_switch, .-spindle_context_switch

/* void* spindle_context_make(void* stack_top (rdi), size_t stack_size (rsi)) -> sp (rax)
 * Writes a frame that the switch will "return" into spindle_context_trampoline with rsp
 * 16-byte aligned, zeroed callee-saved registers, and the current control state. */
    .globl spindle_context_make
    .type  spindle_context_make, @function
    .hidden spindle_context_make
    .align 16
spindle_context_make:
    .cfi_startproc
    endbr64
    movq    %rdi, %rax
    andq    $-16, %rax
    subq    $64, %rax            /* after the switch pops 64 bytes, rsp is 16-aligned */
    stmxcsr (%rax)
    fnstcw  4(%rax)
    xorl    %ecx, %ecx
    movw    %cx, 6(%rax)
    movq    %rcx, 8(%rax)
    movq    %rcx, 16(%rax)
    movq    %rcx, 24(%rax)
    movq    %rcx, 32(%rax)
    movq    %rcx, 40(%rax)
    movq    %rcx, 48(%rax)
    leaq    spindle_context_trampoline(%rip), %rcx
    movq    %rcx, 56(%rax)
    ret
    .cfi_endproc
    .size spindle_context_make, .-spindle_context_make

/* The first switch into a fresh context lands here with the start argument in rax and rsp
 * 16-byte aligned. It calls the context_entry stored first in that argument. rip is declared
 * undefined so debuggers and unwinders stop here: the fiber's backtrace ends cleanly. */
    .type  spindle_context_trampoline, @function
    .align 16
spindle_context_trampoline:
    .cfi_startproc
    .cfi_undefined rip
    endbr64
    xorl    %ebp, %ebp
    movq    %rax, %rdi
    callq   *(%rdi)
    ud2                          /* an entry function must never return */
    .cfi_endproc
    .size spindle_context_trampoline, .-spindle_context_trampoline

    .section .note.GNU-stack,"",%progbits

/* GNU_PROPERTY_X86_FEATURE_1_AND = IBT: every indirect-branch target here starts with endbr64. */
    .section .note.gnu.property,"a"
    .p2align 3
    .long 4                      /* name size: "GNU\0" */
    .long 16                     /* descriptor size */
    .long 5                      /* NT_GNU_PROPERTY_TYPE_0 */
    .asciz "GNU"
    .long 0xc0000002             /* GNU_PROPERTY_X86_FEATURE_1_AND */
    .long 4                      /* property data size */
    .long 1                      /* GNU_PROPERTY_X86_FEATURE_1_IBT */
    .p2align 3
