/* loop.h — the event base of this process (one per worker process). */
#ifndef SEALPOST_LOOP_H
#define SEALPOST_LOOP_H

struct event_base;
extern struct event_base *ev_base;

#endif
