// The context layer's thread-locals, each with the assembler name its header gives it, so that
// the headers can read them afresh after a switch (spindle/detail/thread_locals.hpp).

#include "context/sanitizers.hpp"

#include <spindle/detail/context.hpp>

namespace spindle::detail {

constinit thread_local thread_switch_state this_thread_switch_state;
constinit thread_local sanitizer_context* asan_switched_from = nullptr;

}  // namespace spindle::detail
