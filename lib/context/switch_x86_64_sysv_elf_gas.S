/* Context switch for x86-64, System V ABI, ELF, GNU assembler: the out-of-line switch, the
 * maker of fresh contexts, and their entry trampoline.
 *
 * ABI rules relied on (System V AMD64 psABI, section 3.2):
 *  - callee-saved: rbx, rbp, r12, r13, r14, r15 (and rsp); everything else, including all
 *    xmm/ymm/zmm registers and the flags, is caller-saved, so a call to the switch already
 *    spills whatever the caller keeps in them.
 *  - the control bits of MXCSR (DAZ, exception masks, rounding, FZ) and the x87 control word
 *    are callee-saved too, but a switch leaves them alone: they belong to the thread, as across
 *    a C++20 coroutine's resume() (include/spindle/detail/context_x86_64_sysv.hpp says why; a
 *    fiber that wants its own gets them saved by the fiber layer).
 *  - rsp is 16-byte aligned just before a call; DF is clear on entry and return.
 *
 * A suspended context is its context_record (include/spindle/detail/fiber_control.hpp); the
 * inline switch in include/spindle/detail/context_x86_64_sysv.hpp writes and reads the same
 * record, so either switch can continue a context the other suspended:
 *    0  rsp    8  continuation address    16  rbp
 * The leaving side stores those three, loads the target's rbp and rsp and jumps to the
 * continuation. This out-of-line switch also keeps rbx and r12-r15 on its own stack, since
 * its callers expect them back; the inline one declares them clobbered instead.
 *
 * Intel CET: global entry points and every jump target start with endbr64, and the object
 * claims IBT in .note.gnu.property. It does not claim SHSTK: a shadow stack would need one
 * shadow stack per fiber, which spindle does not manage (docs/context.md).
 */

    .file "switch_x86_64_sysv_elf_gas.S"
    .text

/* void* spindle_context_switch(context_record* from (rdi),
 *                              context_record* to   (rsi),
 *                              void*           arg  (rdx))  -> arg of the switch back (rax) */
    .globl spindle_context_switch
    .type  spindle_context_switch, @function
    .hidden spindle_context_switch
    .align 16
spindle_context_switch:
    .cfi_startproc
    endbr64
    pushq   %rbx                /* the callee-saved registers our caller expects back */
    pushq   %r12
    pushq   %r13
    pushq   %r14
    pushq   %r15
    leaq    .Lcontinue(%rip), %rax
    movq    %rax, 8(%rdi)
    movq    %rbp, 16(%rdi)
    movq    %rsp, (%rdi)        /* this context is now suspended */
    movq    16(%rsi), %rbp
    movq    (%rsi), %rsp        /* on the target's stack */
    jmpq    *8(%rsi)

.Lcontinue:                     /* someone resumed us; rdx holds their argument */
    endbr64
    popq    %r15
    popq    %r14
    popq    %r13
    popq    %r12
    popq    %rbx
    movq    %rdx, %rax
    ret
    .cfi_endproc
    .size spindle_context_switch, .-spindle_context_switch

/* void spindle_context_make(context_record* record (rdi), void* stack_top (rsi),
 *                           size_t stack_size (rdx))
 * Fills the record of a fresh context: it continues in spindle_context_trampoline with rsp at
 * the 16-byte aligned stack top and rbp zero. */
    .globl spindle_context_make
    .type  spindle_context_make, @function
    .hidden spindle_context_make
    .align 16
spindle_context_make:
    .cfi_startproc
    endbr64
    andq    $-16, %rsi
    movq    %rsi, (%rdi)
    leaq    spindle_context_trampoline(%rip), %rax
    movq    %rax, 8(%rdi)
    movq    $0, 16(%rdi)
    ret
    .cfi_endproc
    .size spindle_context_make, .-spindle_context_make

/* The first switch into a fresh context jumps here with the start argument in rdx and rsp
 * 16-byte aligned. It calls the context_entry stored first in that argument. rip is declared
 * undefined so debuggers and unwinders stop here: a fiber's backtrace ends cleanly. */
    .type  spindle_context_trampoline, @function
    .align 16
spindle_context_trampoline:
    .cfi_startproc
    .cfi_undefined rip
    endbr64
    movq    %rdx, %rdi
    callq   *(%rdi)
    ud2                         /* an entry function must never return */
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
