#pragma once
// stackless_generator: the fastest C++20 stackless generator the language allows, as the peer
// spindle's generator is measured against.
//
// Minimal on purpose: the promise keeps a pointer to the yielded object (no copy), the iterator
// is a bare coroutine handle, and nothing checks misuse. What it cannot do is what the deep
// benchmark is about: a coroutine suspends only its own frame, so a recursive generator has to
// re-yield every element of every level below it (C++23's std::generator fixes that with
// elements_of; C++20 has nothing of the kind).

#include <coroutine>
#include <exception>
#include <iterator>
#include <memory>
#include <utility>

namespace generator_bench {

template <class T>
class stackless_generator {
public:
    struct promise_type {
        const T* current = nullptr;

        stackless_generator get_return_object() noexcept {
            return stackless_generator(std::coroutine_handle<promise_type>::from_promise(*this));
        }
        std::suspend_always initial_suspend() noexcept { return {}; }
        std::suspend_always final_suspend() noexcept { return {}; }
        // A temporary in a co_yield expression lives in the frame until the coroutine resumes.
        std::suspend_always yield_value(const T& value) noexcept {
            current = std::addressof(value);
            return {};
        }
        void return_void() noexcept {}
        void unhandled_exception() { throw; }
    };

    class iterator {
    public:
        using value_type = T;
        using difference_type = std::ptrdiff_t;

        iterator() noexcept = default;
        explicit iterator(std::coroutine_handle<promise_type> h) noexcept : handle_(h) {}
        const T& operator*() const noexcept { return *handle_.promise().current; }
        iterator& operator++() {
            handle_.resume();
            return *this;
        }
        void operator++(int) { ++*this; }
        friend bool operator==(const iterator& it, std::default_sentinel_t) noexcept {
            return it.handle_.done();
        }

    private:
        std::coroutine_handle<promise_type> handle_;
    };

    stackless_generator(stackless_generator&& other) noexcept
        : handle_(std::exchange(other.handle_, nullptr)) {}
    stackless_generator& operator=(stackless_generator&&) = delete;
    ~stackless_generator() {
        if (handle_) handle_.destroy();
    }

    iterator begin() {
        handle_.resume();
        return iterator(handle_);
    }
    std::default_sentinel_t end() const noexcept { return {}; }

private:
    explicit stackless_generator(std::coroutine_handle<promise_type> h) noexcept : handle_(h) {}
    std::coroutine_handle<promise_type> handle_;
};

}  // namespace generator_bench
