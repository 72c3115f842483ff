// Lazy sequences: Fibonacci numbers and squares, produced on demand and piped through
// std::views. The Python it ports:
//
//     def fibonacci():
//         a, b = 0, 1
//         while True:
//             yield a
//             a, b = b, a + b
//
//     print(list(takewhile(lambda n: n < 100, fibonacci())))
//     print([n * n for n in islice(count(1), 10)])
//     print(sum(n for n in takewhile(lambda n: n < 4_000_000, fibonacci()) if n % 2 == 0))
//
// Both generators are infinite; only the elements a view asks for are ever computed.

#include <spindle/generator.hpp>

#include <cstdint>
#include <cstdio>
#include <ranges>

using spindle::generator;
using spindle::yielder;

generator<std::uint64_t> fibonacci() {
    return generator<std::uint64_t>([](yielder<std::uint64_t>& yield) {
        std::uint64_t a = 0;
        std::uint64_t b = 1;
        for (;;) {
            yield(a);
            const std::uint64_t next = a + b;
            a = b;
            b = next;
        }
    });
}

generator<std::uint64_t> counting_from(std::uint64_t start) {
    return generator<std::uint64_t>([start](yielder<std::uint64_t>& yield) {
        for (std::uint64_t n = start;; ++n) yield(n);
    });
}

int main() {
    std::printf("fibonacci below 100:");
    for (std::uint64_t n : fibonacci() | std::views::take_while([](auto n) { return n < 100; }))
        std::printf(" %llu", static_cast<unsigned long long>(n));
    std::printf("\n");

    std::printf("first 10 squares:");
    for (std::uint64_t n : counting_from(1) | std::views::transform([](auto n) { return n * n; }) |
                               std::views::take(10))
        std::printf(" %llu", static_cast<unsigned long long>(n));
    std::printf("\n");

    // An lvalue generator pipes too; the view borrows it.
    auto numbers = fibonacci();
    std::uint64_t even_sum = 0;
    for (std::uint64_t n : numbers | std::views::take_while([](auto n) { return n < 4'000'000; }) |
                               std::views::filter([](auto n) { return n % 2 == 0; }))
        even_sum += n;
    std::printf("sum of even fibonacci below 4 million: %llu\n",
                static_cast<unsigned long long>(even_sum));
}
