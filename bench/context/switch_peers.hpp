#pragma once
// The round trips the switch benchmarks compare: each peer starts a context that does nothing
// but switch back, and round_trip() switches into it and back once.

#include <spindle/fiber.hpp>

#include <boost/context/detail/fcontext.hpp>
#include <boost/context/fiber.hpp>
#include <boost/context/pooled_fixedsize_stack.hpp>

#include <ucontext.h>

#include <cstdlib>
#include <memory>

namespace switch_bench {

constexpr std::size_t peer_stack_size = 64 * 1024;

// spindle_fiber: fiber::resume() + fiber::suspend(), the whole public API path.
class spindle_fiber {
public:
    spindle_fiber() : fiber_([] {
        for (;;) spindle::fiber::suspend();
    }) {}
    void round_trip() { fiber_.resume(); }

private:
    spindle::fiber fiber_;
};

// boost_fcontext: Boost.Context's raw jump_fcontext, both ways; the floor the issue sets.
class boost_fcontext {
public:
    boost_fcontext() : stack_(std::malloc(peer_stack_size)) {
        namespace fc = boost::context::detail;
        context_ = fc::make_fcontext(static_cast<char*>(stack_) + peer_stack_size,
                                     peer_stack_size, &bounce);
        context_ = fc::jump_fcontext(context_, nullptr).fctx;
    }
    ~boost_fcontext() { std::free(stack_); }  // the context never finishes; its stack is inert
    void round_trip() { context_ = boost::context::detail::jump_fcontext(context_, nullptr).fctx; }

private:
    static void bounce(boost::context::detail::transfer_t transfer) {
        for (;;) transfer = boost::context::detail::jump_fcontext(transfer.fctx, nullptr);
    }
    void* stack_;
    boost::context::detail::fcontext_t context_;
};

// boost_context_fiber: boost::context::fiber, Boost's typed API over the same jump.
class boost_context_fiber {
public:
    boost_context_fiber()
        : fiber_([](boost::context::fiber&& caller) {
              for (;;) caller = std::move(caller).resume();
              return std::move(caller);
          }) {
        fiber_ = std::move(fiber_).resume();
    }
    void round_trip() { fiber_ = std::move(fiber_).resume(); }

private:
    boost::context::fiber fiber_;
};

// ucontext: glibc's swapcontext, which also saves and restores the signal mask (a system call).
class ucontext {
public:
    ucontext() : stack_(std::malloc(peer_stack_size)) {
        getcontext(&peer_);
        peer_.uc_stack.ss_sp = stack_;
        peer_.uc_stack.ss_size = peer_stack_size;
        peer_.uc_link = nullptr;
        self_ = this;
        makecontext(&peer_, &bounce, 0);
    }
    ~ucontext() { std::free(stack_); }
    void round_trip() {
        self_ = this;
        swapcontext(&caller_, &peer_);
    }

private:
    static void bounce() {
        for (;;) swapcontext(&self_->peer_, &self_->caller_);
    }
    static inline ucontext* self_ = nullptr;
    void* stack_;
    ucontext_t caller_{};
    ucontext_t peer_{};
};

// spindle_create: a fiber made, run to completion once, and destroyed; stacks come from the pool.
inline void spindle_create() {
    spindle::fiber f([] {});
    f.resume();
}

// boost_context_create: the same with boost::context::fiber on its pooled stack allocator.
class boost_context_create {
public:
    void once() {
        boost::context::fiber f(std::allocator_arg, pool_,
                                [](boost::context::fiber&& caller) { return std::move(caller); });
        f = std::move(f).resume();
    }

private:
    boost::context::pooled_fixedsize_stack pool_{256 * 1024};
};

}  // namespace switch_bench
