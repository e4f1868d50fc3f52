/*
 * trampoline.S - the code `pyspect alloc -p` runs in one thread of the
 * target to load the tracker (see inject.h).
 *
 * Layer: alloc (pyspect's side: these bytes are copied into the target,
 * never run in pyspect).  Position-independent: the data it reads are
 * addressed relative to the code, and pyspect copies code and data
 * together.  It leaves the interrupted code's stack (and its 128-byte red
 * zone) alone, saves the vector registers with XSAVE, calls dlopen() and
 * the library's pyspect_alloc_attach(), restores the vector registers,
 * the flags and every general register from what pyspect saved, and
 * jumps back to where the thread was.  Flags are restored before the
 * general registers, which are restored with moves only: a thread
 * stopped between a compare and its branch goes on as if nothing
 * happened.  x86-64 only.
 */
#include "alloc/inject.h"

#define RTLD_NOW 2
#define REG(i) (.Ltr + TR_DATA + TR_REGS + 8 * (i))(%rip)

    .section .rodata
    .globl alloc_trampoline
    .type alloc_trampoline, @object
    .p2align 6
alloc_trampoline:
.Ltr:
    sub     $TR_STACK_SKIP, %rsp
    and     $-64, %rsp
    sub     $TR_XSAVE_SIZE, %rsp
    /* XRSTOR refuses an area whose header is not zero. */
    xor     %eax, %eax
    lea     512(%rsp), %rdi
    mov     $64, %ecx
    rep stosb
    mov     $TR_XSAVE_MASK, %eax
    xor     %edx, %edx
    xsave64 (%rsp)
    mov     %rsp, %rbx
    /* r12: where the status goes, below the interrupted stack pointer. */
    mov     REG(TR_RSP), %r12
    sub     $TR_STATUS_AT, %r12
    movabs  $(TR_ST_TAG | TR_ST_RUNNING), %rax
    mov     %rax, (%r12)
    lea     (.Ltr + TR_DATA + TR_PATH)(%rip), %rdi
    mov     $RTLD_NOW, %esi
    call    *(.Ltr + TR_DATA + TR_DLOPEN)(%rip)
    test    %rax, %rax
    jz      1f
    mov     %rax, %rdi
    lea     (.Ltr + TR_DATA + TR_SYMBOL)(%rip), %rsi
    call    *(.Ltr + TR_DATA + TR_DLSYM)(%rip)
    test    %rax, %rax
    jz      1f
    lea     (.Ltr + TR_DATA + TR_CONFIG)(%rip), %rdi
    call    *%rax
    mov     %rax, (TR_STATUS_AT - TR_RESULT_AT)(%r12)
    movabs  $(TR_ST_TAG | TR_ST_DONE), %rax
    mov     %rax, (%r12)
    jmp     2f
1:
    movabs  $(TR_ST_TAG | TR_ST_FAILED), %rax
    mov     %rax, (%r12)
2:
    mov     %rbx, %rsp
    mov     $TR_XSAVE_MASK, %eax
    xor     %edx, %edx
    xrstor64 (%rsp)
    pushq   REG(TR_EFLAGS)
    popfq
    mov     REG(TR_RAX), %rax
    mov     REG(TR_RBX), %rbx
    mov     REG(TR_RCX), %rcx
    mov     REG(TR_RDX), %rdx
    mov     REG(TR_RSI), %rsi
    mov     REG(TR_RDI), %rdi
    mov     REG(TR_RBP), %rbp
    mov     REG(TR_R8), %r8
    mov     REG(TR_R9), %r9
    mov     REG(TR_R10), %r10
    mov     REG(TR_R11), %r11
    mov     REG(TR_R12), %r12
    mov     REG(TR_R13), %r13
    mov     REG(TR_R14), %r14
    mov     REG(TR_R15), %r15
    mov     REG(TR_RSP), %rsp
    jmp     *REG(TR_RIP)
    .org    .Ltr + TR_DATA
    .fill   TR_SIZE - TR_DATA, 1, 0
    .size alloc_trampoline, TR_SIZE

    .section .note.GNU-stack, "", @progbits
