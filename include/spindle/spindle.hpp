#pragma once
// The umbrella header: all of spindle.

#include <spindle/errors.hpp>
#include <spindle/fiber.hpp>
#include <spindle/generator.hpp>
#include <spindle/stack.hpp>
#include <spindle/scheduler.hpp>  // scheduler layer (issue 4)
#include <spindle/channel.hpp>    // scheduler layer (issue 4)
#include <spindle/sync.hpp>       // scheduler layer (issue 4)
