// The context layer on its own: make, switch, argument passing, callee-saved state.

#include "context/context.hpp"

#include <doctest/doctest.h>

#include <sys/mman.h>

#include <cfenv>
#include <cstdint>
#include <vector>

#if defined(__x86_64__)
#include <xmmintrin.h>
#endif

using namespace spindle::detail;

namespace {

// test_stack is memory a context can run on, mapped for the test: the context layer needs
// nothing more (the stack layer's pool and guard are above it).
struct test_stack {
    static constexpr std::size_t size = 256 * 1024;
    void* memory = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                          -1, 0);

    test_stack() { REQUIRE(memory != MAP_FAILED); }
    ~test_stack() { ::munmap(memory, size); }
    test_stack(const test_stack&) = delete;
    test_stack& operator=(const test_stack&) = delete;
    std::byte* top() const noexcept { return static_cast<std::byte*>(memory) + size; }
};

}  // namespace

namespace {

struct ping_pong {
    context_entry entry;
    context_record main = {};
    context_record fiber = {};
    std::vector<std::intptr_t> seen = {};
};

[[noreturn]] void ping_pong_main(void* start) {
    auto* state = static_cast<ping_pong*>(start);
    void* arg = start;
    for (std::intptr_t i = 0;; ++i) {
        state->seen.push_back(i);
        arg = spindle_context_switch(&state->fiber, &state->main,
                                     reinterpret_cast<void*>(i * 10));
        (void)arg;
    }
}

}  // namespace

TEST_CASE("context: a fresh context runs its entry and passes arguments both ways") {
    test_stack stack;
    ping_pong state{.entry = &ping_pong_main};
    spindle_context_make(&state.fiber, stack.top(), test_stack::size);
    for (std::intptr_t i = 0; i < 5; ++i) {
        void* back = spindle_context_switch(&state.main, &state.fiber, &state);
        CHECK(reinterpret_cast<std::intptr_t>(back) == i * 10);
    }
    CHECK(state.seen == std::vector<std::intptr_t>{0, 1, 2, 3, 4});
    }

namespace {

struct aligned_probe {
    context_entry entry;
    context_record main = {};
    context_record fiber = {};
    std::uintptr_t frame_address = 0;
};

[[noreturn]] __attribute__((noinline)) void alignment_main(void* start) {
    auto* probe = static_cast<aligned_probe*>(start);
    alignas(16) volatile char local[16] = {};
    probe->frame_address = reinterpret_cast<std::uintptr_t>(&local[0]);
    spindle_context_switch(&probe->fiber, &probe->main, nullptr);
    __builtin_trap();
}

}  // namespace

TEST_CASE("context: a fresh context starts with the stack aligned as the ABI requires") {
    // Try several unaligned tops: make() must align whatever it is given.
    for (std::size_t skew : {0, 1, 8, 15}) {
        test_stack stack;
        aligned_probe probe{.entry = &alignment_main};
        spindle_context_make(&probe.fiber, stack.top() - 64 - skew, test_stack::size - 128);
        spindle_context_switch(&probe.main, &probe.fiber, &probe);
        CHECK(probe.frame_address % 16 == 0);
            }
}

namespace {

// fp_probe records the rounding mode a fiber saw each time it was resumed; the fiber sets its
// own (toward zero) before every switch back.
struct fp_probe {
    context_entry entry;
    context_record main = {};
    context_record fiber = {};
    int fiber_rounding = -1;
};

[[noreturn]] void fp_main(void* start) {
    auto* probe = static_cast<fp_probe*>(start);
    for (;;) {
        std::fesetround(FE_TOWARDZERO);  // MXCSR and the x87 control word; FPCR
        spindle_context_switch(&probe->fiber, &probe->main, nullptr);
        probe->fiber_rounding = std::fegetround();
    }
}

#if defined(__x86_64__)
unsigned x87_rounding() {
    unsigned short cw;
    asm volatile("fnstcw %0" : "=m"(cw));
    return (cw >> 10) & 3u;
}
#endif

}  // namespace

#if SPINDLE_CONTEXT_FCONTEXT
TEST_CASE("context: Boost.Context's switch keeps the FP control state per context") {
    // jump_fcontext saves and loads MXCSR and the x87 control word itself.
    REQUIRE(std::fegetround() == FE_TONEAREST);
    test_stack stack;
    fp_probe probe{.entry = &fp_main};
    spindle_context_make(&probe.fiber, stack.top(), test_stack::size);
    spindle_context_switch(&probe.main, &probe.fiber, &probe);
    CHECK(std::fegetround() == FE_TONEAREST);
    std::fesetround(FE_UPWARD);
    spindle_context_switch(&probe.main, &probe.fiber, &probe);
    CHECK(probe.fiber_rounding == FE_TOWARDZERO);
    CHECK(std::fegetround() == FE_UPWARD);
    std::fesetround(FE_TONEAREST);
}
#else
TEST_CASE("context: a switch leaves the FP control state to the thread") {
    // As across a C++20 coroutine's resume(): what one side sets, the other sees.
    REQUIRE(std::fegetround() == FE_TONEAREST);
    test_stack stack;
    fp_probe probe{.entry = &fp_main};
    spindle_context_make(&probe.fiber, stack.top(), test_stack::size);
    spindle_context_switch(&probe.main, &probe.fiber, &probe);
    CHECK(std::fegetround() == FE_TOWARDZERO);
#if defined(__x86_64__)
    CHECK((_mm_getcsr() & _MM_ROUND_MASK) == _MM_ROUND_TOWARD_ZERO);
    CHECK(x87_rounding() == 3u);  // toward zero
#endif
    std::fesetround(FE_UPWARD);
    spindle_context_switch(&probe.main, &probe.fiber, &probe);
    CHECK(probe.fiber_rounding == FE_UPWARD);
    std::fesetround(FE_TONEAREST);
}
#endif

TEST_CASE("context: save_fp_control and load_fp_control carry the FP control state") {
    REQUIRE(std::fegetround() == FE_TONEAREST);
    context_record upward;
    std::fesetround(FE_UPWARD);
    save_fp_control(upward);
    context_record nearest;
    std::fesetround(FE_TONEAREST);
    save_fp_control(nearest);
    load_fp_control(upward);
    CHECK(std::fegetround() == FE_UPWARD);
#if defined(__x86_64__)
    CHECK((_mm_getcsr() & _MM_ROUND_MASK) == _MM_ROUND_UP);
    CHECK(x87_rounding() == 2u);  // upward
#endif
    load_fp_control(nearest);
    CHECK(std::fegetround() == FE_TONEAREST);
}
