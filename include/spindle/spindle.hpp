#pragma once
// The umbrella header: all of spindle, layer by layer from the bottom.

#include <spindle/detail/config.hpp>
#include <spindle/errors.hpp>
#include <spindle/stack.hpp>
#include <spindle/fiber.hpp>
#include <spindle/generator.hpp>
#include <spindle/scheduler.hpp>
#include <spindle/debug.hpp>
#include <spindle/trace.hpp>
#include <spindle/timeout.hpp>
#include <spindle/task_group.hpp>
#include <spindle/task_local.hpp>
#include <spindle/channel.hpp>
#include <spindle/select.hpp>
#include <spindle/sync.hpp>
#include <spindle/future.hpp>
#include <spindle/io.hpp>
