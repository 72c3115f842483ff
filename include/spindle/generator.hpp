#pragma once
// generator: Python's generators (PEP 255, 342, 380), stackful.
//
// generator<Y, S, R> mirrors Python's Generator[YieldType, SendType, ReturnType]. Its body is a
// callable R(yielder<Y, S>&) that runs on a fiber of its own, so the yielder works from any depth
// of ordinary calls: a recursive function, a lambda handed to std::for_each, a visitor's virtual
// method, a C library's callback. Nothing is copied to yield: the consumer sees the very object
// the body yielded, until it resumes the generator.

#include <spindle/detail/config.hpp>
#include <spindle/detail/generator_state.hpp>
#include <spindle/fiber.hpp>
#include <spindle/stack.hpp>

#include <concepts>
#include <cstddef>
#include <exception>
#include <functional>
#include <iterator>
#include <memory>
#include <optional>
#include <ranges>
#include <type_traits>
#include <utility>

SPINDLE_EXPORTS_BEGIN

namespace spindle {

template <class Y, class S = void, class R = void>
class generator;

namespace detail {

template <class T>
inline constexpr bool is_generator = false;
template <class Y, class S, class R>
inline constexpr bool is_generator<generator<Y, S, R>> = true;

/// can_delegate says whether a generator<Y, S> can `yield from` a generator<Y2, S2>: it must be
/// able to yield what the other yields, and to pass on what is sent to it (when both take sends;
/// a value sent while delegating to a generator that takes none resumes it as next() does).
template <class Y, class Y2, class S, class S2>
concept can_delegate = ((std::is_void_v<Y> && std::is_void_v<Y2>) ||
                        (!std::is_void_v<Y> && !std::is_void_v<Y2> &&
                         std::convertible_to<yielded_reference<Y2>, Y>)) &&
                       (std::is_void_v<S> || std::is_void_v<S2> || std::convertible_to<S, S2>);

}  // namespace detail

/// yielder is the body's handle on its generator: calling it yields.
template <class Y, class S = void>
class yielder {
    static_assert(std::is_void_v<S> || std::is_object_v<S>,
                  "a generator's send type must be void or an object type");

public:
    /// result_type is what a yield returns: the value sent with send(), std::nullopt when resumed
    /// by next() or iteration; void when S is void.
    using result_type = detail::yield_result<S>;

    yielder(const yielder&) = delete;
    yielder& operator=(const yielder&) = delete;

    /// operator()(value) suspends the generator and hands the consumer a reference to value, valid
    /// until the consumer resumes the generator. An rvalue is not copied; an lvalue is copied
    /// once when Y is a value type (make Y a reference type to yield lvalues without a copy).
    result_type operator()(detail::yielded_object<Y>&& value)
        requires std::is_object_v<Y>
    {
        return suspend_with(std::addressof(value));
    }
    /// operator()(value), given an lvalue of a value type Y, yields a copy of it.
    result_type operator()(const detail::yielded_object<Y>& value)
        requires std::is_object_v<Y>
    {
        detail::yielded_object<Y> copy(value);
        return suspend_with(std::addressof(copy));
    }
    /// operator()(value), when Y is a reference type, yields a reference to value (no copy).
    result_type operator()(std::conditional_t<std::is_reference_v<Y>, Y, detail::not_a_parameter<2>> value)
        requires std::is_reference_v<Y>
    {
        return suspend_with(std::addressof(value));
    }
    /// operator()() yields no value, when Y is void: it only suspends.
    result_type operator()()
        requires std::is_void_v<Y>
    {
        return suspend_with(&detail::no_object);
    }

    /// from(sub) is Python's `yield from sub`: it yields what sub yields (without copying when
    /// the types match), forwards send(), raise() and close() to sub, and returns sub's result.
    /// A sub that has already finished yields nothing, and from() at once gives: its result if
    /// it returned one (also through close()); fiber_error if it has none (it was closed, or
    /// ended by an exception) and R2 is not void; nothing when R2 is void. (Python evaluates
    /// `yield from` of a finished generator to None; spindle's results are typed.)
    template <class Y2, class S2, class R2>
        requires detail::can_delegate<Y, Y2, S, S2>
    R2 from(generator<Y2, S2, R2>& sub) {
        delegate_to(sub);
        if constexpr (!std::is_void_v<R2>) {
            if constexpr (std::copy_constructible<R2>)
                return sub.result();
            else
                return std::move(sub.result());
        }
    }
    /// from(std::move(sub)) delegates to a temporary generator, as from(sub) does.
    template <class Y2, class S2, class R2>
        requires detail::can_delegate<Y, Y2, S, S2>
    R2 from(generator<Y2, S2, R2>&& sub) {
        delegate_to(sub);
        if constexpr (!std::is_void_v<R2>) return std::move(sub.result());
    }

    /// from(range) is Python's `yield from iterable` for any input range: it yields each element.
    /// A value sent meanwhile has nowhere to go and throws fiber_error here, as Python raises.
    template <std::ranges::input_range Range>
        requires(!std::is_void_v<Y> && !detail::is_generator<std::remove_cvref_t<Range>> &&
                 std::convertible_to<std::ranges::range_reference_t<Range>, Y>)
    void from(Range&& range) {
        check_inside_body();
        for (auto&& element : range) {
            if constexpr (std::is_void_v<S>) {
                (*this)(std::forward<decltype(element)>(element));
            } else if ((*this)(std::forward<decltype(element)>(element))) {
                detail::throw_generator_error(detail::generator_misuse::sent_to_range);
            }
        }
    }

private:
    template <class, class, class>
    friend class generator;

    explicit yielder(detail::generator_channel<Y, S>& channel) noexcept
        : channel_(&channel), control_(detail::fiber_access::control(channel.body)) {}

    /// body_control() is the generator's body fiber, after checking that it is the one running
    /// on `thread` (a yielder called from another fiber is refused).
    detail::fiber_control* body_control(detail::thread_switch_state& thread) const {
        detail::fiber_control* control = control_;
        if (thread.innermost != control) [[unlikely]]
            detail::throw_generator_error(detail::generator_misuse::yield_outside_body);
        return control;
    }

    void check_inside_body() const { (void)body_control(detail::switch_state()); }

    result_type suspend_with(detail::yielded_object<Y>* object) {
        detail::thread_switch_state& thread = detail::switch_state();
        return suspend_unchecked(object, body_control(thread), thread);
    }

    result_type suspend_unchecked(detail::yielded_object<Y>* object,
                                  detail::fiber_control* control,
                                  [[maybe_unused]] detail::thread_switch_state& thread) {
        detail::generator_channel<Y, S>& channel = *channel_;
        channel.yielded = object;
        // Inside the body (checked on the way in), so the fiber layer's checks would repeat.
#if SPINDLE_INLINE_FIBER_SWITCH
        detail::leave_fiber(control, thread);
#else
        detail::suspend_annotated(control);
#endif
        if (control->requests) [[unlikely]]
            detail::honour_generator_requests(channel, control);
        if constexpr (!std::is_void_v<S>) {
            if (channel.sent) return std::optional<S>(std::move(*std::exchange(channel.sent, nullptr)));
            return std::nullopt;
        }
    }

    /// delegate_to() runs PEP 380's expansion of `yield from sub` up to sub's end.
    template <class Y2, class S2, class R2>
    void delegate_to(generator<Y2, S2, R2>& sub) {
        check_inside_body();
        sub.advance();
        while (!sub.done()) {
            [[maybe_unused]] std::optional<detail::sent_value<S>> sent;
            try {
                // When the yield types differ, the conversion makes a temporary that lives
                // until this yield returns; when they match, sub's object is passed on.
                if constexpr (std::is_void_v<Y>) {
                    detail::thread_switch_state& thread = detail::switch_state();
                    suspend_unchecked(&detail::no_object, body_control(thread), thread);
                } else if constexpr (std::is_void_v<S>)
                    (*this)(sub.yielded());
                else
                    sent = (*this)(sub.yielded());
            } catch (const detail::forced_unwind&) {
                sub.close();
                throw;
            } catch (...) {
                sub.advance_raising(std::current_exception());
                continue;
            }
            if constexpr (!std::is_void_v<S> && !std::is_void_v<S2>) {
                if (sent) {
                    sub.advance_sending(std::move(*sent));
                    continue;
                }
            }
            sub.advance();
        }
    }

    detail::generator_channel<Y, S>* channel_;
    detail::fiber_control* control_;  // the body's fiber, which never changes (one load, not two)
};

/// generator is a move-only handle on a stackful generator; see the header comment.
template <class Y, class S, class R>
class generator {
    static_assert(std::is_void_v<R> || std::is_object_v<R>,
                  "a generator's return type must be void or an object type");
    using state_type = detail::generator_state<Y, S, R>;

public:
    /// value_type is the type of the values next() returns (void when Y is void).
    using value_type = std::remove_cvref_t<Y>;
    /// reference is what *it gives: the yielded object itself.
    using reference = std::conditional_t<std::is_reference_v<Y>, Y,
                                         std::add_lvalue_reference_t<detail::yielded_object<Y>>>;
    /// next_result is what next/send/raise return: the next value or std::nullopt at the end;
    /// when Y is void, true when the body suspended at a yield.
    using next_result = std::conditional_t<std::is_void_v<Y>, bool, std::optional<value_type>>;

    class iterator;

    /// generator(body, options, fp) makes a generator that runs body(yielder) on a fiber with
    /// the given stack. Nothing runs yet (lazy start). `fp` says whether the body keeps
    /// floating-point control state of its own (see fp_control).
    template <class F>
        requires(!std::same_as<std::remove_cvref_t<F>, generator> &&
                 std::invocable<std::decay_t<F>&, yielder<Y, S>&> &&
                 (std::is_void_v<R> ||
                  std::convertible_to<std::invoke_result_t<std::decay_t<F>&, yielder<Y, S>&>, R>))
    explicit generator(F&& body, stack_options options = {}, fp_control fp = fp_control::thread) {
        using frame_type = detail::generator_frame<Y, S, R, std::decay_t<F>>;
        detail::fiber_control* control = detail::create_fiber_with<frame_type>(
            options, fp, frame_operations<std::decay_t<F>>, std::forward<F>(body));
        auto* frame = static_cast<frame_type*>(detail::body_storage(control));
        detail::fiber_access::adopt(frame->state.body, control);
        state_ = &frame->state;
        detail::label_generator_body(*state_);
    }

    /// generator(other) takes other's generator, leaving other empty (and done()).
    generator(generator&& other) noexcept : state_(std::exchange(other.state_, nullptr)) {}
    /// operator=() closes the generator this one held, as the destructor does.
    generator& operator=(generator&& other) noexcept {
        if (this != &other) {
            release();
            state_ = std::exchange(other.state_, nullptr);
        }
        return *this;
    }
    /// ~generator() closes a suspended generator: the body unwinds from its yield.
    ~generator() { release(); }

    /// next() is Python's next(g): it runs the body to its next yield and moves the yielded
    /// object out (copies it, for a reference Y); std::nullopt once the body has finished.
    /// next/send/raise/close throw fiber_error while the generator is running: from inside its
    /// own body (or a generator or task that body runs), or from another task while one is
    /// parked inside the body (Python: "generator already executing").
    next_result next() {
        advance();
        return take();
    }

    /// send() is Python's g.send(value): the suspended yield returns value. Throws fiber_error
    /// when the generator has not started (prime it with next()).
    next_result send(detail::sent_value<S> value)
        requires(!std::is_void_v<S>)
    {
        advance_sending(std::move(value));
        return take();
    }

    /// raise() is Python's g.throw(e): e is thrown from the suspended yield. A generator that has
    /// not started never runs (e is thrown from here and the generator is finished); a finished
    /// one throws e from here.
    next_result raise(std::exception_ptr e) {
        advance_raising(std::move(e));
        return take();
    }
    /// raise(e) is raise(std::make_exception_ptr(e)).
    template <class E>
        requires(!std::same_as<std::remove_cvref_t<E>, std::exception_ptr>)
    next_result raise(E e) {
        return raise(std::make_exception_ptr(std::move(e)));
    }

    /// close() is Python's g.close(): a suspended body unwinds from its yield (destructors run).
    /// Throws fiber_error if the body caught the unwinding and yielded again; the generator then
    /// stays suspended at that yield, and a later next/send/raise resumes it there normally (as
    /// CPython does after "generator ignored GeneratorExit"), a later close() unwinds it again.
    /// An exception the body throws while unwinding propagates. Idempotent.
    void close() {
        if (state_) detail::close_generator(*state_);
    }

    /// done() tells whether the body has finished (returned, thrown, or been closed).
    bool done() const noexcept { return !state_ || state_->finished; }

    /// result() is the body's return value; fiber_error until the body has returned.
    std::add_lvalue_reference_t<R> result()
        requires(!std::is_void_v<R>)
    {
        if (!state_ || !state_->result.value) [[unlikely]]
            detail::throw_generator_error(detail::generator_misuse::result_unavailable);
        return *state_->result.value;
    }

    /// begin() runs the body to its next yield, as next() does, and returns an iterator on the
    /// yielded object.
    iterator begin()
        requires(!std::is_void_v<Y>)
    {
        advance();
        return iterator(this);
    }
    /// end() is the sentinel an iterator equals once the body has finished.
    std::default_sentinel_t end() const noexcept
        requires(!std::is_void_v<Y>)
    {
        return {};
    }

private:
    template <class, class>
    friend class yielder;

    /// advance() resumes the body unless the generator is finished or empty; a finished one
    /// goes down resume_generator()'s slow path (its fiber is done), which lets it be.
    void advance() {
        if (state_) [[likely]]
            detail::resume_generator(*state_);
    }

    void advance_sending(detail::sent_value<S>&& value) {
        if (done()) return;
        if (!detail::generator_started(*state_)) [[unlikely]]
            detail::throw_generator_error(detail::generator_misuse::send_before_start);
        state_->sent = std::addressof(value);
        struct forget_sent {
            state_type& state;
            ~forget_sent() { state.sent = nullptr; }
        } forget{*state_};
        detail::resume_generator(*state_);
    }

    void advance_raising(std::exception_ptr e) {
        if (!e) [[unlikely]]
            detail::throw_generator_error(detail::generator_misuse::raise_without_exception);
        if (done()) std::rethrow_exception(std::move(e));
        if (!detail::generator_started(*state_)) {
            detail::close_generator(*state_);
            std::rethrow_exception(std::move(e));
        }
        // Checked before the exception is left for the yield, which must not find it later.
        if (detail::generator_running(*state_)) [[unlikely]]
            detail::refuse_running_generator(*state_);
        state_->pending_raise = std::move(e);
        detail::fiber_access::control(state_->body)->requests |= detail::raise_request;
        detail::resume_generator(*state_);
    }

    /// yielded() is the object the suspended body yielded, for the consumer to take.
    detail::yielded_reference<Y> yielded() const noexcept {
        return static_cast<detail::yielded_reference<Y>>(*state_->yielded);
    }

    next_result take() {
        if constexpr (std::is_void_v<Y>) {
            return !done();
        } else {
            if (done()) return std::nullopt;
            return next_result(std::in_place, yielded());
        }
    }

    void release() noexcept {
        if (state_) detail::release_generator_state(std::exchange(state_, nullptr));
    }

    /// frame_operations runs the body of a generator_frame on its fiber and destroys the body
    /// callable when the body ends; the state stays for the generator.
    template <class Body>
    static constexpr detail::body_operations frame_operations{
        [](void* storage) {
            auto* frame = static_cast<detail::generator_frame<Y, S, R, Body>*>(storage);
            state_type& state = frame->state;
            detail::finish_marker<Y, S> finish{state};
            yielder<Y, S> yield(state);
            if constexpr (std::is_void_v<R>)
                std::invoke(frame->run, yield);
            else
                state.result.value.emplace(std::invoke(frame->run, yield));
        },
        [](void* storage) noexcept {
            static_cast<detail::generator_frame<Y, S, R, Body>*>(storage)->run.~Body();
        },
    };

    state_type* state_ = nullptr;
};

/// generator::iterator is the input iterator begin() returns; *it is the yielded object itself.
/// It refers to the generator object that made it: moving that object invalidates it.
template <class Y, class S, class R>
class generator<Y, S, R>::iterator {
public:
    using iterator_concept = std::input_iterator_tag;  ///< an input iterator: one pass
    using value_type = generator::value_type;          ///< what the body yields, unqualified
    using difference_type = std::ptrdiff_t;            ///< required of an iterator; unused
    using reference = generator::reference;            ///< what *it gives

    /// iterator() makes an iterator that equals end().
    iterator() noexcept = default;

    /// operator*() is the object the body yielded, valid until the generator is resumed. Throws
    /// fiber_error when the iterator equals end() (the body has finished, so there is no object)
    /// or was default-constructed: always, since the check folds into the loop's own end test.
    reference operator*() const {
        return static_cast<reference>(*checked_yielded());
    }
    /// operator->() is the address of the object the body yielded; fiber_error as operator*().
    std::add_pointer_t<reference> operator->() const { return checked_yielded(); }
    /// operator++() runs the body to its next yield.
    iterator& operator++() {
        generator_->advance();
        return *this;
    }
    /// operator++(int) is ++it (an input iterator keeps no copy of the old position).
    void operator++(int) { ++*this; }

    /// operator==(it, default_sentinel) tells whether the body has finished. It tests the
    /// yielded pointer, which is null exactly when the last resume did not stop at a yield (the
    /// body finished), the test the resume has just made.
    friend bool operator==(const iterator& it, std::default_sentinel_t) noexcept {
        return it.at_end();
    }

private:
    friend class generator;
    explicit iterator(generator* owner) noexcept : generator_(owner) {}

    bool at_end() const noexcept {
        return !generator_ || !generator_->state_ || !generator_->state_->yielded;
    }

    /// checked_yielded() tests the yielded pointer, which the body's end clears, rather than
    /// done(): the resume before it tested the same pointer, so once inlined the compiler drops
    /// this test (the flat loop's instruction count is unchanged; testing done() cost 9 more
    /// per element). Whether the generator was moved from is not tested: that cost 8 more.
    detail::yielded_object<Y>* checked_yielded() const {
        detail::yielded_object<Y>* object = nullptr;
        if (generator_) [[likely]]
            object = generator_->state_->yielded;
        if (!object) [[unlikely]]
            detail::throw_generator_error(detail::generator_misuse::dereferenced_end);
        return object;
    }

    generator* generator_ = nullptr;
};

}  // namespace spindle

SPINDLE_EXPORTS_END
