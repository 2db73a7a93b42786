// SPDX-License-Identifier: Apache-2.0
// dnft: every solver (the models of dnft::solver and dnft::stochastic_solver) and the
// classifier-free-guidance wrapper.
#pragma once

#include "dnft/concepts/solver.hpp"
#include "dnft/solvers/ddim.hpp"
#include "dnft/solvers/dpm_solver.hpp"
#include "dnft/solvers/euler.hpp"
#include "dnft/solvers/flow_sde.hpp"
#include "dnft/solvers/guidance.hpp"
#include "dnft/solvers/heun.hpp"
#include "dnft/solvers/trajectory.hpp"
