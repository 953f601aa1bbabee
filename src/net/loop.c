/* loop.c — the event base of this process. Created by the worker at start
 * (src/server/worker.c); every module on the loop schedules through it. */
#include "net/loop.h"

struct event_base *ev_base;
