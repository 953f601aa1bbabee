/* cmd_idle.c — IDLE (RFC 2177).
 *
 * While idling in a selected mailbox, changes reach the client at once:
 * an inotify instance watches the folder's new/ (deliveries) and cur/
 * (flag changes, expunges, moves by other sessions) from the event loop,
 * and every event starts a sync job (cheap: maildir_folder_changed()
 * first) whose updates are pushed as untagged responses. Events during a
 * sync are folded into one more sync. A slow poll (IMAP_IDLE_CHECK_SECS)
 * backs inotify up (lost events, network file systems); without inotify
 * (its per-user instance limit, fs.inotify.max_user_instances, reached) the
 * folder is polled every IMAP_IDLE_POLL_SECS instead. Idle cost: one
 * inotify fd with two watches, one timer, no wake-ups between changes but
 * the slow poll and the keepalive.
 *
 * "* OK Still here" every IMAP_IDLE_KEEPALIVE_SECS keeps NAT gateways from
 * dropping the connection; since that output counts as activity, IDLE
 * ends with BYE after imap_timeout without a word from the client (RFC 2177
 * clients re-IDLE every 29 minutes; RFC 3501 5.4: at least 30). */
#include "imap/imap_mailbox.h"
#include "net/loop.h"
#include "lib/util.h"

#include <errno.h>
#include <event2/event.h>
#include <string.h>
#include <sys/inotify.h>
#include <time.h>
#include <unistd.h>

/* Dovecot's imap_idle_notify_interval: keeps NAT and firewall state. */
#define IMAP_IDLE_KEEPALIVE_SECS 120
/* With inotify: a safety poll for changes whose events were lost. */
#define IMAP_IDLE_CHECK_SECS 60
/* Without inotify: how soon a change is noticed. */
#define IMAP_IDLE_POLL_SECS 5
/* inotify events read at once (each is at most NAME_MAX + 17 bytes). */
#define IMAP_IDLE_EVENT_BUF 4096

struct imap_idle_watch {
	struct imap_session *is;
	int ifd;                        /* inotify, or -1: polling */
	struct event *ev_inotify;
	struct event *ev_timer;
	time_t started, last_keepalive;
	bool pending;                   /* a change came during a sync */
};

void imap_idle_stop(struct imap_mailbox *mb)
{
	struct imap_idle_watch *w = mb->idle;

	if (w == NULL)
		return;
	if (w->ev_inotify != NULL)
		event_free(w->ev_inotify);
	if (w->ev_timer != NULL)
		event_free(w->ev_timer);
	if (w->ifd >= 0)
		close(w->ifd);
	free(w);
	mb->idle = NULL;
}

static void idle_synced(struct imap_session *is, void *ctx, int result, int err,
			const char *error);

/* Something may have changed: sync now, or after the sync under way. */
static void idle_kick(struct imap_idle_watch *w)
{
	struct imap_session *is = w->is;

	if (is->s.closing)
		return;
	if (is->sel->syncing || is->s.suspended > 0) {
		w->pending = true;
		return;
	}
	w->pending = false;
	imap_mailbox_sync(is, NULL, NULL, true, idle_synced);
}

static void idle_synced(struct imap_session *is, void *ctx, int result, int err,
			const char *error)
{
	if (is->s.closing || is->sel == NULL || is->sel->idle == NULL)
		return;
	if (is->sel->idle->pending)
		idle_kick(is->sel->idle);
}

static void on_inotify(evutil_socket_t fd, short what, void *arg)
{
	struct imap_idle_watch *w = arg;
	char buf[IMAP_IDLE_EVENT_BUF] __attribute__((aligned(8)));

	/* Which file changed does not matter: the sync finds out. */
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	idle_kick(w);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct imap_idle_watch *w = arg;
	struct imap_session *is = w->is;
	time_t now = time(NULL);

	if (is->s.closing)
		return;
	if (now - w->started >= (time_t)config->imap_timeout) {
		session_log(&is->s, LOG_LEVEL_INFO, "timeout after=%us idle=yes",
			    (unsigned)(now - w->started));
		imap_untagged(is, "BYE Disconnected for inactivity");
		session_close(&is->s);
		return;
	}
	if (now - w->last_keepalive >= IMAP_IDLE_KEEPALIVE_SECS) {
		imap_untagged(is, "OK Still here");
		w->last_keepalive = now;
	}
	idle_kick(w);
}

/* Pool thread: the inotify watches (inotify_add_watch looks paths up). */
static int watch_action(struct imap_session *is, void *ctx, const char **error_r)
{
	struct imap_idle_watch *w = ctx;
	const char *path = maildir_folder_path(is->sel->folder);
	const uint32_t mask = IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO |
		IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF;

	w->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	for (int i = 0; i < 2 && w->ifd >= 0; i++) {
		char *dir = xasprintf("%s/%s", path, i == 0 ? "new" : "cur");
		if (inotify_add_watch(w->ifd, dir, mask) < 0) {
			close(w->ifd);
			w->ifd = -1;
		}
		free(dir);
	}
	if (w->ifd < 0) {
		*error_r = errfmt("inotify: %s", strerror(errno));
		return -1;
	}
	return 0;
}

static void watch_ready(struct imap_session *is, void *ctx, int result, int err,
			const char *error)
{
	struct imap_idle_watch *w = ctx;
	struct timeval tick = { .tv_sec = IMAP_IDLE_POLL_SECS };

	if (is->s.closing || is->sel == NULL || is->line_handler == NULL) {
		if (w->ifd >= 0)
			close(w->ifd);
		free(w);
		return;
	}
	if (result < 0)
		session_log(&is->s, LOG_LEVEL_WARN, "idle polling=yes error=\"%s\"", error);
	if (w->ifd >= 0) {
		tick.tv_sec = IMAP_IDLE_CHECK_SECS;
		w->ev_inotify = event_new(ev_base, w->ifd, EV_READ | EV_PERSIST,
					  on_inotify, w);
		event_add(w->ev_inotify, NULL);
	}
	if ((uint64_t)tick.tv_sec > config->imap_timeout)
		tick.tv_sec = (time_t)config->imap_timeout;
	w->ev_timer = event_new(ev_base, -1, EV_PERSIST, on_timer, w);
	event_add(w->ev_timer, &tick);
	is->sel->idle = w;
	if (w->pending)
		idle_kick(w);
}

/* IDLE's cancel hook, and the end of a DONE: the watch goes. */
static void idle_cancel(struct imap_session *is)
{
	if (is->sel != NULL)
		imap_idle_stop(is->sel);
}

static void idle_line(struct imap_session *is, const char *line)
{
	is->line_handler = NULL;
	is->cancel = NULL;
	idle_cancel(is);
	if (str_ieq(line, "DONE"))
		imap_command_done(is, "OK", NULL, "Idle completed");
	else
		imap_command_bad(is, "Expected DONE");
}

void cmd_idle(struct imap_session *is, const struct imap_arg *args, size_t n)
{
	if (n != 0) {
		imap_command_bad(is, "IDLE takes no arguments");
		return;
	}
	is->line_handler = idle_line;
	is->cancel = idle_cancel;
	session_printf(&is->s, "+ idling\r\n");
	if (is->sel == NULL)
		return;                 /* authenticated state: nothing to watch */
	struct imap_idle_watch *w = xcalloc(1, sizeof(*w));
	w->is = is;
	w->ifd = -1;
	w->started = w->last_keepalive = time(NULL);
	/* The watch first, then a sync: nothing falls between the two. */
	imap_mailbox_sync(is, watch_action, w, true, watch_ready);
}
