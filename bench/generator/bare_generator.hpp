#pragma once
// bare_generator: the floor row of the generator benchmarks. A generator of int on the least a
// stackful switch can do — save the stack pointer, the resume address and rbp, load the other
// side's — and nothing of what spindle guarantees: no exception state, no FP control state, no
// misuse checks, no unwinding, no nesting, no sanitizer hooks, a malloc'ed stack without a
// guard. What spindle's generator costs above this row is the price of those guarantees; what
// this row costs above C++20's stackless generator is the price of a stack switch itself.
//
// x86-64 System V only. The switch is an asm statement that declares every register but rsp and
// rbp clobbered (rbp it saves itself: the compiler may not list it), so the compiler keeps what
// it needs across the switch the way it does across a call, and the callee-saved registers are
// saved once by the enclosing function's prologue, not at each switch. It steps over the
// 128-byte red zone before pushing, since the function around it may keep data there.

#if defined(__x86_64__)
#define GENERATOR_BENCH_HAS_FLOOR 1

#include <cstddef>
#include <cstdlib>
#include <new>

namespace generator_bench {

// bare_switch() saves the running side's resume point on its stack and its stack pointer in
// *from_sp, then resumes the side whose stack pointer is to_sp.
[[gnu::always_inline]] inline void bare_switch(void** from_sp, void* to_sp) noexcept {
    void* from = from_sp;
    void* to = to_sp;
    asm volatile(
        "subq $128, %%rsp\n\t"
        "leaq 1f(%%rip), %%rax\n\t"
        "pushq %%rbp\n\t"
        "pushq %%rax\n\t"
        "movq %%rsp, (%0)\n\t"
        "movq %1, %%rsp\n\t"
        "popq %%rax\n\t"
        "popq %%rbp\n\t"
        "jmpq *%%rax\n"
        "1:\n\t"
        "addq $128, %%rsp\n\t"
        : "+D"(from), "+S"(to)
        :
        : "rax", "rbx", "rcx", "rdx", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15",
          "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9",
          "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "memory", "cc");
}

// bare_generator runs body(*this, argument) on a stack of its own; the body hands out values
// with yield(), the consumer takes them with next() and value().
class bare_generator {
public:
    using body_function = void (*)(bare_generator& self, const void* argument);

    bare_generator(body_function body, const void* argument) : body_(body), argument_(argument) {
        stack_ = static_cast<char*>(std::aligned_alloc(16, stack_size));
        if (!stack_) throw std::bad_alloc();
        // The first switch pops the entry's address and an rbp of 0, then jumps: the entry then
        // sees the stack pointer a call leaves (8 mod 16).
        void** top = reinterpret_cast<void**>(stack_ + stack_size - 8) - 2;
        top[0] = reinterpret_cast<void*>(&entry);
        top[1] = nullptr;
        body_sp_ = top;
        starting() = this;
    }
    // ~bare_generator() frees the stack; the body must have ended (no unwinding at the floor).
    ~bare_generator() { std::free(stack_); }
    bare_generator(const bare_generator&) = delete;
    bare_generator& operator=(const bare_generator&) = delete;

    // next() runs the body to its next yield (true) or its end (false). The first next() must
    // come before the thread makes another bare_generator (the entry finds its generator in a
    // thread-local the constructor sets): enough for the benchmarks, which use one at a time.
    bool next() noexcept {
        bare_switch(&caller_sp_, body_sp_);
        return !done_;
    }
    int value() const noexcept { return value_; }

    // yield() hands `v` to the consumer and waits until it asks for the next one.
    void yield(int v) noexcept {
        value_ = v;
        bare_switch(&body_sp_, caller_sp_);
    }

private:
    static constexpr std::size_t stack_size = 256 * 1024;

    // starting() is the generator whose body the entry is about to run: the first switch jumps
    // into entry() without arguments.
    static bare_generator*& starting() noexcept {
        thread_local bare_generator* generator = nullptr;
        return generator;
    }

    [[noreturn]] static void entry() noexcept {
        bare_generator* self = starting();
        self->body_(*self, self->argument_);
        self->done_ = true;
        void* unused = nullptr;
        bare_switch(&unused, self->caller_sp_);
        __builtin_unreachable();
    }

    body_function body_;
    const void* argument_;
    char* stack_ = nullptr;
    void* body_sp_ = nullptr;
    void* caller_sp_ = nullptr;
    int value_ = 0;
    bool done_ = false;
};

}  // namespace generator_bench

#endif
