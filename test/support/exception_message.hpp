#pragma once
// current_message(): what the exception being handled says, for tests of per-fiber exception
// state.

#include <exception>
#include <string>

namespace spindle_test {

// current_message() is what() of the exception std::current_exception() holds, or "" when
// there is none.
inline std::string current_message() {
    try {
        if (auto e = std::current_exception()) std::rethrow_exception(e);
    } catch (const std::exception& e) {
        return e.what();
    }
    return "";
}

}  // namespace spindle_test
