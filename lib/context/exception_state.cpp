// The C++ runtime's per-thread exception state, found once per thread, and the hook that runs
// at that moment (each thread's first switch).

#include "context/context.hpp"

#include <cxxabi.h>

#include <atomic>

namespace spindle::detail {
namespace {

std::atomic<void (*)() noexcept> first_switch_hook{nullptr};

}  // namespace

void set_first_switch_hook(void (*hook)() noexcept) noexcept {
    first_switch_hook.store(hook, std::memory_order_release);
}

exception_state* fetch_thread_exception_state() noexcept {
    if (auto* hook = first_switch_hook.load(std::memory_order_acquire)) hook();
    return switch_state().exceptions =
               reinterpret_cast<exception_state*>(abi::__cxa_get_globals());
}

}  // namespace spindle::detail
