#pragma once
// deadline_after(): the one place a timed wait turns "for this long" into "until then".

#include <spindle/detail/config.hpp>

#include <chrono>

SPINDLE_EXPORTS_BEGIN

namespace spindle::detail {

// deadline_after() is now + duration on the steady clock, rounded up to its tick and saturated
// to its range: a duration too long to add (duration::max(), hours::max()) gives
// time_point::max(), a deadline that never passes, and one too far negative gives
// time_point::min(), one that has passed. Plain now + duration overflows there (undefined
// behaviour, in practice a deadline in the past).
template <class Rep, class Period>
std::chrono::steady_clock::time_point deadline_after(
    const std::chrono::duration<Rep, Period>& duration) {
    using clock = std::chrono::steady_clock;
    // The range check is made in floating point, which cannot overflow; the margin of a second
    // absorbs its rounding (the saturated deadline is ~292 years from the clock's epoch anyway).
    using wide = std::chrono::duration<long double>;
    const clock::time_point now = clock::now();
    const wide wanted = duration;
    const wide since_epoch = now.time_since_epoch();
    const wide margin = std::chrono::seconds(1);
    if (wanted >= wide(clock::duration::max()) - since_epoch - margin)
        return clock::time_point::max();
    if (wanted <= wide(clock::duration::min()) - since_epoch + margin)
        return clock::time_point::min();
    return now + std::chrono::ceil<clock::duration>(duration);
}

}  // namespace spindle::detail

SPINDLE_EXPORTS_END
