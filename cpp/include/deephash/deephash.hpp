// Umbrella header of the deephash C++ core.
#pragma once
#include "deephash/errors.hpp"
#include "deephash/simd.hpp"
#include "deephash/hamming.hpp"
#include "deephash/parallel.hpp"
#include "deephash/topk.hpp"
#include "deephash/code_store.hpp"
#include "deephash/index_io.hpp"
#include "deephash/flat_index.hpp"
#include "deephash/substring_table.hpp"
#include "deephash/multi_index.hpp"
#include "deephash/weighted.hpp"
