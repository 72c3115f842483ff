#pragma once
// The umbrella header: all of spindle.

#include <spindle/errors.hpp>
#include <spindle/fiber.hpp>
#include <spindle/stack.hpp>
