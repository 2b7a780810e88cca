#include "vswitch/rcu.h"

void vs_rcu_synchronize(void) { synchronize_rcu(); }
