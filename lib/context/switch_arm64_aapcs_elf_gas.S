/* Context switch for AArch64, AAPCS64, ELF, GNU assembler: the out-of-line switch, the maker of
 * fresh contexts, and their entry trampoline.
 *
 * ABI rules relied on (Procedure Call Standard for the Arm 64-bit Architecture):
 *  - callee-saved: x19-x28, x29 (frame pointer), sp, and the low 64 bits of v8-v15 (d8-d15);
 *    x30 (lr) holds the return address.
 *  - everything else (x0-x18, the rest of the vector registers, NZCV) is caller-saved, so the
 *    call to the switch already spills what the caller keeps there.
 *  - sp is 16-byte aligned whenever it is used to access memory.
 *  - FPCR (rounding mode, flush-to-zero, trap enables) is left alone by a switch: it belongs to
 *    the thread, as across a C++20 coroutine's resume(); a fiber that wants its own gets it
 *    saved by the fiber layer (include/spindle/detail/context.hpp, save_fp_control()).
 *
 * A suspended context is its context_record (include/spindle/detail/fiber_control.hpp); the
 * inline switch in include/spindle/detail/context_arm64_aapcs.hpp writes and reads the same
 * record, so either switch can continue a context the other suspended:
 *    0  sp    8  continuation address    16  x29
 * This out-of-line switch also keeps the other callee-saved registers on its own stack, since
 * its callers expect them back (160 bytes):
 *    0 x19  8 x20  16 x21  24 x22  32 x23  40 x24  48 x25  56 x26  64 x27  72 x28
 *   80 d8  88 d9   96 d10 104 d11 112 d12 120 d13 128 d14 136 d15  144 x30  152 unused
 *
 * Branch Target Identification: entry points start with `bti c`, branch targets with `bti j`;
 * the object claims BTI and PAC compatibility in .note.gnu.property (it signs nothing).
 */

    .file "switch_arm64_aapcs_elf_gas.S"
    .text

/* void* spindle_context_switch(context_record* from (x0), context_record* to (x1),
 *                              void* arg (x2))  -> arg of the switch back (x0) */
    .globl spindle_context_switch
    .type  spindle_context_switch, %function
    .hidden spindle_context_switch
    .p2align 4
spindle_context_switch:
    .cfi_startproc
    hint    #34                 /* bti c */
    sub     sp, sp, #160
    stp     x19, x20, [sp, #0]
    stp     x21, x22, [sp, #16]
    stp     x23, x24, [sp, #32]
    stp     x25, x26, [sp, #48]
    stp     x27, x28, [sp, #64]
    stp     d8,  d9,  [sp, #80]
    stp     d10, d11, [sp, #96]
    stp     d12, d13, [sp, #112]
    stp     d14, d15, [sp, #128]
    str     x30, [sp, #144]
    adr     x9, .Lcontinue
    mov     x10, sp
    stp     x10, x9, [x0]       /* this context is now suspended */
    str     x29, [x0, #16]
    ldp     x10, x9, [x1]       /* the target's stack pointer and continuation */
    ldr     x29, [x1, #16]
    mov     sp, x10
    br      x9

.Lcontinue:                     /* someone resumed us; x2 holds their argument */
    hint    #36                 /* bti j */
    ldp     x19, x20, [sp, #0]
    ldp     x21, x22, [sp, #16]
    ldp     x23, x24, [sp, #32]
    ldp     x25, x26, [sp, #48]
    ldp     x27, x28, [sp, #64]
    ldp     d8,  d9,  [sp, #80]
    ldp     d10, d11, [sp, #96]
    ldp     d12, d13, [sp, #112]
    ldp     d14, d15, [sp, #128]
    ldr     x30, [sp, #144]
    add     sp, sp, #160
    mov     x0, x2
    ret
    .cfi_endproc
    .size spindle_context_switch, .-spindle_context_switch

/* void spindle_context_make(context_record* record (x0), void* stack_top (x1),
 *                           size_t stack_size (x2))
 * Fills the record of a fresh context: it continues in spindle_context_trampoline with sp at
 * the 16-byte aligned stack top and x29 zero. */
    .globl spindle_context_make
    .type  spindle_context_make, %function
    .hidden spindle_context_make
    .p2align 4
spindle_context_make:
    .cfi_startproc
    hint    #34                 /* bti c */
    and     x1, x1, #~15
    adr     x9, spindle_context_trampoline
    stp     x1, x9, [x0]
    str     xzr, [x0, #16]
    ret
    .cfi_endproc
    .size spindle_context_make, .-spindle_context_make

/* The first switch into a fresh context branches here with the start argument in x2 and sp at
 * the aligned stack top. lr is zeroed and declared undefined, so backtraces end here. */
    .type  spindle_context_trampoline, %function
    .p2align 4
spindle_context_trampoline:
    .cfi_startproc
    .cfi_undefined x30
    hint    #36                 /* bti j */
    mov     x30, #0
    mov     x0, x2
    ldr     x9, [x0]
    blr     x9
    brk     #0                  /* an entry function must never return */
    .cfi_endproc
    .size spindle_context_trampoline, .-spindle_context_trampoline

    .section .note.GNU-stack,"",%progbits

/* GNU_PROPERTY_AARCH64_FEATURE_1_AND = BTI | PAC */
    .section .note.gnu.property,"a"
    .p2align 3
    .long 4
    .long 16
    .long 5                      /* NT_GNU_PROPERTY_TYPE_0 */
    .asciz "GNU"
    .long 0xc0000000             /* GNU_PROPERTY_AARCH64_FEATURE_1_AND */
    .long 4
    .long 3                      /* BTI | PAC */
    .p2align 3
