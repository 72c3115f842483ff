// The Boost.Context backend: the same two functions as the hand-written assembly, on top of
// Boost's fcontext (jump_fcontext / make_fcontext). Selected with `-Dcontext=boost`.
//
// fcontext hands the resumed side the stack pointer of the context that jumped to it, instead
// of storing it where the jumper asked. So every jump carries a small handoff record on the
// jumper's stack that says where its stack pointer belongs; the side that wakes up stores it.

#include "context/context.hpp"

#include <boost/context/detail/fcontext.hpp>

namespace spindle::detail {
namespace {

namespace fc = boost::context::detail;

struct handoff {
    void** save_sp;
    void* arg;
};

void* finish_jump(fc::transfer_t transfer) noexcept {
    auto* from = static_cast<handoff*>(transfer.data);
    *from->save_sp = transfer.fctx;
    return from->arg;
}

[[noreturn]] void boost_trampoline(fc::transfer_t transfer) noexcept {
    void* start = finish_jump(transfer);
    (*static_cast<context_entry*>(start))(start);
    __builtin_trap();  // an entry function must never return
}

}  // namespace

extern "C" void spindle_context_make(context_record* record, void* stack_top,
                                     std::size_t stack_size) noexcept {
    record->sp = fc::make_fcontext(stack_top, stack_size, &boost_trampoline);
}

extern "C" void* spindle_context_switch(context_record* from, context_record* to,
                                        void* arg) noexcept {
    handoff self{&from->sp, arg};
    return finish_jump(fc::jump_fcontext(to->sp, &self));
}

}  // namespace spindle::detail
