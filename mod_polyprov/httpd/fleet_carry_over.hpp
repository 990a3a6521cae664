// shmcb lives in memory that a restart frees and allocates anew, so the
// fleet would be forgotten at every graceful restart (logrotate makes one a
// day on Debian). The parent process copies the fleet's entries out before
// the old segment goes and puts them into the new one. Entries written by
// old-generation children after the copy (their last requests) are lost.
#pragma once

#include "httpd.h"

#include "fleet_config.hpp"

namespace polyprov::glue {

// Registers, on `pconf`, the copy of `store`'s entries made when this
// configuration generation ends.
void carry_over_at_restart(FleetConfig& config, FleetStore& store, server_rec* s, apr_pool_t* pconf);

// Puts back what the previous generation copied; returns how many entries.
std::size_t restore_carried_over(FleetConfig& config, FleetStore& store, server_rec* s, apr_pool_t* ptemp);

}  // namespace polyprov::glue
