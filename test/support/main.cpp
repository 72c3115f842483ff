// doctest's own crash handler would replace spindle's stack-overflow handler, which the tests
// check in child processes; a crash still fails the run through the exit status.
#define DOCTEST_CONFIG_NO_POSIX_SIGNALS
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
