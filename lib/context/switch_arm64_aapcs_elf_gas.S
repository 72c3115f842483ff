/* Context switch for AArch64, AAPCS64, ELF, GNU assembler.
 *
 * ABI rules relied on (Procedure Call Standard for the Arm 64-bit Architecture):
 *  - callee-saved: x19-x28, x29 (frame pointer), sp, and the low 64 bits of v8-v15 (d8-d15);
 *    x30 (lr) holds the return address and must come back with the caller's value.
 *  - everything else (x0-x18, the rest of the vector registers, NZCV) is caller-saved, so the
 *    call to the switch already spills what the caller keeps there. x18 is the platform register
 *    and is left alone.
 *  - sp must be 16-byte aligned whenever it is used to access memory.
 *  - FPCR: rounding mode and other control bits are callee-saved only across calls that are
 *    documented to change them; no switch changes them, so they are not saved.
 *
 * Saved frame, at the stored stack pointer (160 bytes, 16-byte aligned):
 *    0 x19  8 x20  16 x21  24 x22  32 x23  40 x24  48 x25  56 x26  64 x27  72 x28
 *   80 x29 88 x30 (where the context continues)
 *   96 d8 104 d9 112 d10 120 d11 128 d12 136 d13 144 d14 152 d15
 *
 * Branch Target Identification: entry points start with `bti c`; the object claims BTI and PAC
 * compatibility in .note.gnu.property (it signs nothing and never branches through lr with br).
 */

    .file "switch_arm64_aapcs_elf_gas.S"
    .text

/* void* spindle_context_switch(void** save_sp (x0), void* target_sp (x1), void* arg (x2))
 *   -> arg of the switch back (x0) */
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
    stp     x29, x30, [sp, #80]
    stp     d8,  d9,  [sp, #96]
    stp     d10, d11, [sp, #112]
    stp     d12, d13, [sp, #128]
    stp     d14, d15, [sp, #144]
    mov     x9, sp
    str     x9, [x0]
    mov     sp, x1              /* now on the target's stack */
    ldp     x19, x20, [sp, #0]
    ldp     x21, x22, [sp, #16]
    ldp     x23, x24, [sp, #32]
    ldp     x25, x26, [sp, #48]
    ldp     x27, x28, [sp, #64]
    ldp     x29, x30, [sp, #80]
    ldp     d8,  d9,  [sp, #96]
    ldp     d10, d11, [sp, #112]
    ldp     d12, d13, [sp, #128]
    ldp     d14, d15, [sp, #144]
    add     sp, sp, #160
    mov     x0, x2              /* hand `arg` to the context we continue */
    ret
    .cfi_endproc
    .size spindle_context_switch, .-spindle_context_switch

/* void* spindle_context_make(void* stack_top (x0), size_t stack_size (x1)) -> sp (x0)
 * Writes a zeroed frame whose x30 is the trampoline, 16-byte aligned. */
    .globl spindle_context_make
    .type  spindle_context_make, %function
    .hidden spindle_context_make
    .p2align 4
spindle_context_make:
    .cfi_startproc
    hint    #34                 /* bti c */
    and     x0, x0, #~15
    sub     x0, x0, #160
    stp     xzr, xzr, [x0, #0]
    stp     xzr, xzr, [x0, #16]
    stp     xzr, xzr, [x0, #32]
    stp     xzr, xzr, [x0, #48]
    stp     xzr, xzr, [x0, #64]
    adr     x9, spindle_context_trampoline
    stp     xzr, x9,  [x0, #80]
    stp     xzr, xzr, [x0, #96]
    stp     xzr, xzr, [x0, #112]
    stp     xzr, xzr, [x0, #128]
    stp     xzr, xzr, [x0, #144]
    ret
    .cfi_endproc
    .size spindle_context_make, .-spindle_context_make

/* The first switch into a fresh context returns here with the start argument in x0. x29 and
 * x30 are zero and lr is declared undefined, so backtraces end at this frame. */
    .type  spindle_context_trampoline, %function
    .p2align 4
spindle_context_trampoline:
    .cfi_startproc
    .cfi_undefined x30
    hint    #34                 /* bti c (reached by ret, which BTI does not check; harmless) */
    mov     x29, #0
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
